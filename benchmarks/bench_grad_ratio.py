"""Gradient / forward for backprop and the adjoint alone: bench_grad.py's circuit without its slow columns.

    python benchmarks/bench_grad_ratio.py --params 16 64 256      # a GPU: seconds, not half an hour

bench_grad.py also times parameter-shift and a finite-difference loop, which at P = 256 take most
of an hour; this keeps its circuit (``hea``: 10 wires, depolarizing 1e-3, max_rank 32) and its
timing (median of repeats after a compiling call) for the two reverse-mode methods, and the peer
in the same run where it is installed and P <= --pennylane-max: PennyLane ``default.mixed`` with
jax backprop (``bench_grad.pennylane_run``). "compile s" is each function's first call in this
process (compile plus one run), not a fresh process's.
Writes benchmarks/results/grad_ratio_<device>.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_grad import _time, hea, observable, pennylane_run  # noqa: E402
from results_io import device_tag, write_result  # noqa: E402

from lretjax.grad import expval_fn  # noqa: E402


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--wires", type=int, default=10)
    ap.add_argument("--max-rank", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pennylane-max", type=int, default=64, help="largest P run with PennyLane")
    a = ap.parse_args(argv)
    rows = []
    print(f"{'P':>4} {'ops':>5} {'fwd s':>8} {'backprop/fwd':>13} {'adjoint/fwd':>12} "
          f"{'compile s (fwd, bp, adj)':>26} {'PennyLane s':>12} {'PL/backprop':>12}")
    for P in a.params:
        c, obs = hea(a.wires, P, 1e-3), observable(a.wires)
        x = jnp.asarray(np.random.default_rng(P).uniform(-np.pi, np.pi, P))
        row = {"n": a.wires, "P": P, "ops": len(c.ops), "max_rank": a.max_rank}
        fwd = jax.jit(expval_fn(c, obs, max_rank=a.max_rank))
        row["forward_compile_s"], row["forward_s"] = _time(lambda fwd=fwd, x=x: fwd(x), a.repeats)
        for name, kw in (("backprop", {}), ("adjoint", {"diff_method": "adjoint"})):
            g = jax.jit(jax.grad(expval_fn(c, obs, max_rank=a.max_rank, **kw)))
            row[f"{name}_compile_s"], row[f"{name}_s"] = _time(lambda g=g, x=x: g(x), a.repeats)
            row[f"{name}_ratio"] = row[f"{name}_s"] / row["forward_s"]
        pl = pennylane_run(c, obs, x, a.repeats) if P <= a.pennylane_max else {"error": "not run"}
        row["pennylane_s"] = pl.get("s")
        row["pennylane_over_backprop"] = None if "s" not in pl else pl["s"] / row["backprop_s"]
        if "error" in pl:
            row["pennylane_error"] = pl["error"]
        rows.append(row)
        compile_s = " ".join(f"{row[k + '_compile_s']:8.1f}" for k in ("forward", "backprop", "adjoint"))
        peer = ("-", "-") if row["pennylane_s"] is None else (
            f"{row['pennylane_s']:.4f}", f"{row['pennylane_over_backprop']:.2f}")
        print(f"{P:4d} {row['ops']:5d} {row['forward_s']:8.4f} {row['backprop_ratio']:13.2f} "
              f"{row['adjoint_ratio']:12.2f} {compile_s} {peer[0]:>12} {peer[1]:>12}", flush=True)
    result = {"meta": {"jax": jax.__version__, "device": str(jax.devices()[0]),
                       "device_kind": jax.devices()[0].device_kind,
                       "command": " ".join(["python", "benchmarks/bench_grad_ratio.py",
                                            *(argv or sys.argv[1:])]),
                       "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "goal_ratio": 3.0},
              "rows": rows}
    write_result(f"grad_ratio_{device_tag()}.json", result)
    return result


if __name__ == "__main__":
    main()
