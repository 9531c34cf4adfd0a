"""lretjax against the dense NumPy density-matrix reference on the LRET paper's noisy circuits.

    python benchmarks/bench_core.py            # n = 8..14
    python benchmarks/bench_core.py --quick    # n = 6..8, seconds

Prints a table (time, final rank, discarded weight, trace distance where the reference ran) and
writes benchmarks/results/core_<machine>.json. Times are medians of repeated runs after a warm-up
(the warm-up compiles); the compile time is reported separately.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import jax

sys.path.insert(0, str(Path(__file__).parent))
from families import lret_paper_circuit, with_gate_noise  # noqa: E402

import lretjax as lj  # noqa: E402
from lretjax import reference  # noqa: E402


def _time(fn, repeats: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        jax.block_until_ready(out)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def run(sizes, depth, p, epsilon, max_rank, dense_max, repeats, save=lambda rows: None) -> list[dict]:
    rows = []
    for n in sizes:
        circuit = with_gate_noise(lret_paper_circuit(n, depth, seed=n), "depolarizing", p)

        def lret(circuit=circuit):
            return lj.simulate(circuit, max_rank=max_rank, epsilon=epsilon)

        t0 = time.perf_counter()
        jax.block_until_ready(lret())
        first = time.perf_counter() - t0
        t_lret, state = _time(lret, repeats)
        row = {
            "n": n, "depth": depth, "p": p, "epsilon": epsilon, "max_rank": max_rank,
            "ops": len(circuit.ops), "rank": int(state.rank), "discarded": float(state.discarded),
            "lret_seconds": t_lret, "lret_compile_seconds": max(first - t_lret, 0.0),
            "dense_seconds": None, "trace_distance": None, "speedup": None,
        }
        if n <= dense_max:
            t_dense, rho = _time(lambda c=circuit: reference.simulate_dense(c), 1)
            row["dense_seconds"] = t_dense
            row["speedup"] = t_dense / t_lret
            row["trace_distance"] = float(reference.trace_distance(rho, lj.to_density_matrix(state)))
        rows.append(row)
        _print_row(row)
        save(rows)  # after every row, so a run stopped at a large n keeps what it measured
    return rows


def _fmt(x, spec):
    return "-" if x is None else format(x, spec)


def _print_row(r):
    cells = [
        f"{r['n']:>3}", f"{r['ops']:>6}", f"{r['rank']:>5}", f"{r['discarded']:>10.2e}",
        _fmt(r["trace_distance"], ">10.2e"), f"{r['lret_seconds']:>9.3f}",
        f"{r['lret_compile_seconds']:>9.2f}", _fmt(r["dense_seconds"], ">9.3f"), _fmt(r["speedup"], ">8.1f"),
    ]
    print(" ".join(cells), flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="numbers of wires (default 8..14)")
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--p", type=float, default=1e-3)
    ap.add_argument("--epsilon", type=float, default=1e-4)
    ap.add_argument("--max-rank", type=int, default=512)
    ap.add_argument("--dense-max", type=int, default=12, help="largest n for the dense reference")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--x64", action="store_true")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    if a.x64:
        jax.config.update("jax_enable_x64", True)
    sizes = a.sizes or (range(6, 9) if a.quick else range(8, 15))
    print(f"{'n':>3} {'ops':>6} {'rank':>5} {'discarded':>10} {'tr.dist':>10} {'lret s':>9} "
          f"{'compile s':>9} {'dense s':>9} {'speedup':>8}")
    meta = {
        "machine": platform.node(), "processor": platform.processor() or platform.machine(),
        "jax": jax.__version__, "device": str(jax.devices()[0]), "x64": bool(a.x64),
        "command": " ".join(["python", "benchmarks/bench_core.py", *(argv or sys.argv[1:])]),
    }
    out = Path(a.out or Path(__file__).parent / "results" / f"core_{platform.node() or 'machine'}.json")
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(rows):
        out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))

    run(sizes, a.depth, a.p, a.epsilon, a.max_rank, a.dense_max, a.repeats, save)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
