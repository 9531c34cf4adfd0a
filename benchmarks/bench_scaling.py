"""Strong and weak scaling of row-sharded simulation over 1, 2, 4, 8 devices.

Strong scaling: one circuit of n wires on 1, 2, 4, 8 devices. Weak scaling: n + log2(devices)
wires, so every device holds the same 2^n x r block. For each run: median time after a warm-up
(compilation excluded), all_to_all swaps, bytes moved by swaps and Gram psums, and the largest
deviation of <H> from single-device ``lretjax.simulate`` (correctness, where that fits).
Writes benchmarks/results/scaling_<machine>.json.

    python benchmarks/bench_scaling.py --quick        # CPU: 8 simulated devices
    python benchmarks/bench_scaling.py --wires 24     # GPUs: real devices

On CPU the simulated devices share the host's cores: times show overhead, not speed-up; the
correctness column and the communication volume are what the CPU run checks.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import jax

if "--no-sim-devices" not in sys.argv:
    # Before the backend starts: 8 simulated CPU devices (no effect on GPU devices).
    jax.config.update("jax_num_cpu_devices", 8)

import numpy as np  # noqa: E402

import lretjax  # noqa: E402
from lretjax import distributed as dist  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from families import lret_paper_circuit  # noqa: E402


def noisy_circuit(n: int, depth: int, p: float, seed: int = 0) -> lretjax.Circuit:
    """The LRET paper family with a depolarizing channel on every wire after every layer."""
    base = lret_paper_circuit(n, depth, seed)
    ops, per_layer = [], len(base.ops) // depth if depth else 0
    for i, op in enumerate(base.ops):
        ops.append(op)
        if per_layer and (i + 1) % per_layer == 0:
            ops.extend(("depolarizing", [w], [p]) for w in range(n))
    return lretjax.Circuit(n, ops)


def observable(n: int) -> dict:
    return {f"Z{i} Z{i + 1}": 1.0 for i in range(n - 1)} | {f"X{i}": 0.5 for i in range(n)}


def timed(fn, repeats: int):
    t0 = time.perf_counter()
    out = fn()
    jax.block_until_ready(out.L)  # warm-up: compilation
    first = time.perf_counter() - t0
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        jax.block_until_ready(out.L)
        ts.append(time.perf_counter() - t0)
    t = float(np.median(ts)) if ts else first
    return t, first, out


def single_device_expval(n, depth, p, max_rank) -> float:
    """<H> from plain ``lretjax.simulate`` on one device, the same circuit and cap."""
    return float(lretjax.expval(lretjax.simulate(noisy_circuit(n, depth, p), max_rank=max_rank),
                                observable(n)))


def run_one(n, devices, depth, p, max_rank, repeats, check_max, single=None):
    c = noisy_circuit(n, depth, p)
    mesh = dist.make_mesh(devices, devices=jax.devices()[:devices])
    t, first, st = timed(lambda: dist.simulate_sharded(c, mesh=mesh, max_rank=max_rank), repeats)
    row = {"wires": n, "devices": devices, "time_s": t, "first_run_s": first, "swaps": st.swaps,
           "comm_bytes": st.comm_bytes, "rank": int(st.rank), "discarded": float(st.discarded)}
    if single is not None:
        # Same cap on both sides: equal up to round-off unless a cut falls inside a cluster of
        # near-equal eigenvalues, in which case both stay within their discarded weight.
        row["expval_vs_single_device"] = abs(float(dist.expval(st, observable(n))) - single)
    if n <= check_max:
        # A binding cap may cut inside a cluster of equal eigenvalues (depolarizing noise makes
        # them) and an epsilon cut may fall on a round-off borderline; either way both results are
        # valid truncations within the bound but not equal. Compare untruncated states instead.
        sharded = dist.simulate_sharded(c, mesh=mesh, max_rank=2**n)
        ref = lretjax.simulate(c, max_rank=2**n)
        h = observable(n)
        row["expval_error"] = abs(float(dist.expval(sharded, h)) - float(lretjax.expval(ref, h)))
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat (CI, CPU)")
    ap.add_argument("--wires", type=int, default=14, help="n for strong scaling")
    ap.add_argument("--weak-wires", type=int, default=None,
                    help="n on one device for weak scaling, n + log2(d) on d (default: --wires)")
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--p", type=float, default=1e-3)
    ap.add_argument("--max-rank", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--check-max", type=int, default=10,
                    help="largest n checked (untruncated) against simulate")
    ap.add_argument("--x64", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-sim-devices", action="store_true", help="do not simulate 8 CPU devices")
    ap.add_argument("--kinds", nargs="+", default=["strong", "weak"], choices=["strong", "weak"])
    ap.add_argument("--single-max", type=int, default=30,
                    help="largest n compared with plain lretjax.simulate at the same max_rank")
    a = ap.parse_args(argv)
    if a.quick:
        a.wires, a.depth, a.max_rank, a.repeats, a.check_max = 6, 2, 8, 1, 8
    if a.x64:
        jax.config.update("jax_enable_x64", True)
    counts = [d for d in (1, 2, 4, 8) if d <= jax.device_count()]
    dev = jax.devices()[0]
    machine = f"{dev.platform}-{getattr(dev, 'device_kind', 'device')}".replace(" ", "_").lower()
    meta = {"machine": machine, "host": platform.node(), "jax": jax.__version__,
            "devices": jax.device_count(), "args": vars(a)}
    out = Path(a.out or Path(__file__).parent / "results" / f"scaling_{machine}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    earlier = []
    if out.exists():  # keep the other kind's rows from an earlier run on the same machine
        old = json.loads(out.read_text())
        if old.get("meta", {}).get("machine") == machine:
            earlier = [r for r in old["rows"] if r["kind"] not in a.kinds]
            meta["args_earlier"] = old["meta"].get("args")

    def save(rows):  # after every row, so a run cut short keeps what it measured
        rows = earlier + rows
        summary = {
            "strong_scaling_speedup": {str(r["devices"]): r["efficiency"] * r["devices"]
                                       for r in rows if r["kind"] == "strong"},
            "weak_scaling_efficiency": {str(r["devices"]): r["efficiency"]
                                        for r in rows if r["kind"] == "weak"},
        }
        out.write_text(json.dumps({"meta": meta, **summary, "rows": rows}, indent=2))
        return summary

    rows = []
    singles: dict[int, float] = {}
    done: dict[tuple[int, int], dict] = {}
    for kind in a.kinds:
        base = None
        for d in counts:
            n = a.wires if kind == "strong" else (a.weak_wires or a.wires) + d.bit_length() - 1
            if (n, d) in done:  # weak scaling's d-device run is often a strong-scaling one
                r = dict(done[n, d])
            else:
                if n <= a.single_max and n not in singles:
                    singles[n] = single_device_expval(n, a.depth, a.p, a.max_rank)
                r = run_one(n, d, a.depth, a.p, a.max_rank, a.repeats, a.check_max, singles.get(n))
                done[n, d] = r
            base = base or r["time_s"]
            # Strong: T1 / (d Td); weak: T1 / Td (ideal 1 in both).
            r["efficiency"] = base / (d * r["time_s"]) if kind == "strong" else base / r["time_s"]
            r["kind"] = kind
            rows.append(r)
            err = f"{r['expval_error']:.1e}" if "expval_error" in r else "-"
            vs1 = f"{r['expval_vs_single_device']:.1e}" if "expval_vs_single_device" in r else "-"
            print(f"{kind:>6} n={n:>2} devices={d} time={r['time_s']:.4f}s "
                  f"(first {r['first_run_s']:.1f}s) eff={r['efficiency']:.2f} swaps={r['swaps']:>3} "
                  f"comm={r['comm_bytes'] / 2**20:9.3f} MiB |d<H>| exact={err} vs-1-device={vs1} "
                  f"discarded={r['discarded']:.1e}", flush=True)
            summary = save(rows)
    print(json.dumps(summary))
    print(f"wrote {out}")
    bad = [r for r in rows if r.get("expval_error", 0) > (1e-10 if a.x64 else 1e-4)]
    if bad:
        raise SystemExit(f"sharded results differ from simulate: {bad}")


if __name__ == "__main__":
    main()
