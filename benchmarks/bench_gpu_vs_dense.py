"""On one GPU: lretjax against an exact density-matrix simulation in JAX, then lretjax alone to n = 24+.

The dense reference evolves vec(rho) (4^n amplitudes, complex64) with the same fast one-pass
primitive lretjax uses for L: a gate U on wires W is U on W and conj(U) on the column wires n + W,
a channel its superoperator sum_k K_k (x) conj(K_k) on W + (n + W); one compiled step per op
shape, so it runs at memory bandwidth: the strongest dense baseline we know how to write in JAX.
(PennyLane ``default.mixed`` is not installed on the GPU machines, which have no internet.)

Circuits: the LRET paper family (``families.py``), depolarizing p after every gate, depth D.
For n <= ``--td-max`` the trace distance of lretjax's state to the dense one is computed on the
GPU; beyond, the Frobenius distance. Writes benchmarks/results/gpu_vs_dense_<device>.json.

    PYTHONPATH=. python benchmarks/bench_gpu_vs_dense.py --dense 12 14 16 --lret 12 14 16 20 24
"""

from __future__ import annotations

import argparse
import functools
import json
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import lretjax
from lretjax.ops import apply_matrix

sys.path.insert(0, str(Path(__file__).parent))
from families import lret_paper_circuit, with_gate_noise  # noqa: E402


@functools.partial(jax.jit, static_argnames=("wires", "n2"), donate_argnums=0)
def _dense_step(v, m, *, wires, n2):
    return apply_matrix(v, m, wires, n2)


def dense_run(circuit: lretjax.Circuit):
    """vec(rho) of the circuit's final state (row bits first), complex64, on the default device."""
    n = circuit.num_wires
    v = jnp.zeros((4**n, 1), jnp.complex64).at[0, 0].set(1)
    for op in circuit.ops:
        w = tuple(op.wires) + tuple(n + x for x in op.wires)
        if op.is_channel:
            k = np.asarray(op.kraus())
            m = sum(np.kron(a, a.conj()) for a in k)
        else:
            u = np.asarray(op.matrix())
            m = np.kron(u, u.conj())
        v = _dense_step(v, jnp.asarray(m, jnp.complex64), wires=w, n2=2 * n)
    return v


def timed(fn, repeats: int):
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn())
        ts.append(time.perf_counter() - t0)
    return (float(np.median(ts)) if ts else first), first, out


def distances(L, v, n: int, td: bool) -> dict:
    rho_d = v.reshape(2**n, 2**n)
    diff = jnp.matmul(L, L.conj().T, precision=jax.lax.Precision.HIGHEST) - rho_d
    out = {"frobenius": float(jnp.linalg.norm(diff))}
    if td:
        out["trace_distance"] = float(0.5 * jnp.sum(jnp.abs(jnp.linalg.eigvalsh(diff))))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dense", type=int, nargs="*", default=[12, 14, 16])
    ap.add_argument("--lret", type=int, nargs="*", default=[12, 14, 16, 20, 24])
    ap.add_argument("--depth", type=int, default=12)
    ap.add_argument("--p", type=float, default=1e-3)
    ap.add_argument("--max-rank", type=int, default=64)
    ap.add_argument("--epsilon", type=float, default=1e-4)
    ap.add_argument("--td-max", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    dev = jax.devices()[0]
    name = getattr(dev, "device_kind", dev.platform).replace(" ", "_")
    meta = {"device": name, "jax": jax.__version__, "python": platform.python_version(),
            "command": " ".join(["benchmarks/bench_gpu_vs_dense.py", *(argv or sys.argv[1:])]),
            "args": vars(a)}
    out = Path(a.out or Path(__file__).parent / "results" / f"gpu_vs_dense_{name}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    print(f"{'n':>3} {'ops':>5} {'dense s':>9} {'lretjax s':>10} {'speed-up':>9} {'rank':>5} "
          f"{'discarded':>10} {'trace dist':>11} {'frobenius':>10}", flush=True)
    for n in sorted(set(a.dense) | set(a.lret)):
        c = with_gate_noise(lret_paper_circuit(n, a.depth, seed=n), "depolarizing", a.p)
        row = {"n": n, "ops": len(c.ops), "depth": a.depth, "p": a.p}
        if n in a.lret:
            t, first, st = timed(lambda c=c: lretjax.simulate(c, max_rank=a.max_rank,
                                                              epsilon=a.epsilon), a.repeats)
            row.update(lretjax_s=t, lretjax_first_s=first, rank=int(st.rank),
                       discarded=float(st.discarded))
        if n in a.dense:
            t, first, v = timed(lambda c=c: dense_run(c), a.repeats)
            row.update(dense_s=t, dense_first_s=first)
            if "lretjax_s" in row:
                row["speedup_vs_dense"] = t / row["lretjax_s"]
                row.update(distances(st.L.astype(jnp.complex64), v, n, n <= a.td_max))
            del v
        rows.append(row)
        def f(k, spec, row=row):
            return format(row[k], spec) if k in row else "-"

        print(f"{n:>3} {row['ops']:>5} {f('dense_s', '9.3f'):>9} {f('lretjax_s', '10.3f'):>10} "
              f"{f('speedup_vs_dense', '9.1f'):>9} {f('rank', 'd'):>5} {f('discarded', '10.1e'):>10} "
              f"{f('trace_distance', '11.1e'):>11} {f('frobenius', '10.1e'):>10}", flush=True)
        out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
