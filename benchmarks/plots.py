"""PNG plots of the vs-peers results: time vs n, distortion vs rank, accuracy vs time.

    python benchmarks/plots.py benchmarks/results/vs_density_matrix_M.json \
        benchmarks/results/vs_trajectories_M.json

Each figure goes next to its JSON file, named after it (``<stem>_time_vs_n.png``, ...).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _legend(ax, size: int) -> None:
    """A legend if anything was drawn (matplotlib warns on an empty one)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=size)


def _save(fig, meta: dict, path: Path, suffix: str) -> Path:
    """Caption the figure with the run's machine and command, write it next to the JSON, close it."""
    import matplotlib.pyplot as plt

    fig.suptitle(_caption(meta), fontsize=7)
    fig.tight_layout()
    out = path.with_name(path.stem + suffix + ".png")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _caption(meta: dict) -> str:
    load = meta.get("loadavg_start", [float("nan")])[0]
    return f"{meta.get('machine')} ({meta.get('cores')} cores, load {load:.1f}) - {meta.get('command')}"


def density_matrix_plots(path: Path) -> list[Path]:
    """Time vs n (lretjax per epsilon and each exact peer) and distortion vs final rank."""
    plt = _plt()
    data = json.loads(path.read_text())
    rows, meta = data["rows"], data["meta"]
    out = []
    noises = sorted({r["noise"] for r in rows})
    fig, axes = plt.subplots(1, len(noises), figsize=(5 * len(noises), 4), squeeze=False)
    for ax, noise in zip(axes[0], noises, strict=False):
        sel = [r for r in rows if r["noise"] == noise]
        for eps in sorted({r["epsilon"] for r in sel if r.get("epsilon") is not None}):
            pts = [(r["n"], r["lretjax"]["seconds"]) for r in sel
                   if r["epsilon"] == eps and r["lretjax"].get("status") == "ok"]
            if pts:
                ax.plot(*zip(*pts, strict=False), "o-", label=f"lretjax eps={eps:g}")
        peers = sorted({p for r in sel for p in r["peers"]})
        for peer in peers:
            pts = sorted({(r["n"], r["peers"][peer]["seconds"]) for r in sel
                          if r["peers"].get(peer, {}).get("status") == "ok"})
            if pts:
                ax.plot(*zip(*pts, strict=False), "s--", label=peer)
        ax.set(yscale="log", xlabel="qubits n", ylabel="wall time (s)", title=noise)
        _legend(ax, 7)
    out.append(_save(fig, meta, path, "_time_vs_n"))

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for noise in noises:
        pts = [(r["lretjax"]["rank"], r["trace_distance"] if r["trace_distance"] is not None
                else r["lretjax"]["discarded"], r["trace_distance"] is not None)
               for r in rows if r["noise"] == noise and r["lretjax"].get("status") == "ok"]
        exact = [(k, d) for k, d, e in pts if e and d > 0]
        bound = [(k, d) for k, d, e in pts if not e and d > 0]
        line = None
        if exact:
            (line,) = ax.plot(*zip(*exact, strict=False), "o", label=f"{noise}: trace distance")
        color = line.get_color() if line else None
        if bound:
            ax.plot(*zip(*bound, strict=False), "^", mfc="none", color=color,
                    label=f"{noise}: discarded (bound)")
        floor = [(r["lretjax"]["rank"], r["trace_distance_floor"]) for r in rows
                 if r["noise"] == noise and (r.get("trace_distance_floor") or 0) > 0]
        if floor:
            ax.plot(*zip(*floor, strict=False), "_", ms=12, color=color,
                    label=f"{noise}: floor (best state of that rank)")
    ax.set(xscale="log", yscale="log", xlabel="final rank", ylabel="distortion to the exact state")
    _legend(ax, 7)
    out.append(_save(fig, meta, path, "_distortion_vs_rank"))
    return out


def trajectories_plot(path: Path) -> list[Path]:
    """Error vs time: lretjax points (bound), trajectory lines err = std / sqrt(shots(t))."""
    plt = _plt()
    data = json.loads(path.read_text())
    rows, meta = data["rows"], data["meta"]
    sizes = sorted({r["n"] for r in rows})
    fig, axes = plt.subplots(2, len(sizes), figsize=(4.5 * len(sizes), 7), squeeze=False)
    for col, n in enumerate(sizes):
        for row_i, what in enumerate(("zz", "fidelity")):
            ax = axes[row_i][col]
            for r in (r for r in rows if r["n"] == n and r["status"] == "ok"):
                if r["error_kind"] == "bound" and r[f"{what}_error"] > 0:
                    ax.plot([r["seconds"]], [r[f"{what}_error"]], "o", label=f"{r['tool']} (bound)")
                    continue
                if r["error_kind"] == "bound":
                    continue
                std, shots = r.get(f"{what}_std"), r["shots"]
                secs = r.get(f"{what}_seconds") or r["seconds"]  # qsim times the two separately
                if not std or not math.isfinite(std):
                    continue
                ts = [secs * k for k in (0.05, 0.1, 0.3, 1, 3, 10, 30, 100)]
                ax.plot(ts, [std / math.sqrt(shots * t / secs) for t in ts], "--",
                        label=f"{r['tool']} (1-sigma, extrapolated)")
                ax.plot([secs], [r[f"{what}_error"]], "s", color=ax.lines[-1].get_color())
            ax.set(xscale="log", yscale="log", xlabel="seconds", ylabel=f"error of {what}",
                   title=f"n = {n}")
            _legend(ax, 6)
    return [_save(fig, meta, path, "_accuracy_vs_time")]


def plot(path) -> list[Path]:
    path = Path(path)
    if path.name.startswith("vs_density_matrix"):
        return density_matrix_plots(path)
    if path.name.startswith("vs_trajectories"):
        return trajectories_plot(path)
    raise ValueError(f"{path}: not a vs_density_matrix / vs_trajectories result")


if __name__ == "__main__":
    for p in sys.argv[1:]:
        for png in plot(p):
            print(f"wrote {png}")
