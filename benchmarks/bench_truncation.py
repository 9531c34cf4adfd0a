"""What one channel's truncation costs, and which eigensolver route is cheapest, on this device.

    python benchmarks/bench_truncation.py            # n = 16, r = 16..128 (GPU) or n = 12 (CPU)
    python benchmarks/bench_truncation.py --n 14 --ranks 32 64

One depolarizing(1e-3) channel on a middle wire of an L with orthogonal columns and a decaying
spectrum (the state after a truncation), max_rank = r, so the step maps L to an L of the same
width. Timed inside a ``fori_loop`` of 32 channels, so per-call dispatch is not counted:

- ``step``: the whole channel step as ``simulate`` runs it (wires last, Gram block, eigensolve,
  selection, kept factor, wires back);
- ``gram``, ``factor``: its two products over L alone;
- ``eigh_qr``, ``eigh_jacobi``, ``eigh_topk``: the (4r x 4r) eigensolve alone, by the QR (default),
  Jacobi and top-k (``subset_by_index``) routes of ``jax.lax.linalg.eigh``;
- ``rayleigh_ritz``: two steps of subspace iteration from the previous kept directions plus 16,
  then an eigensolve of that size (a warm-started alternative to the full eigensolve).

One copy pass of L is measured in the same run. Writes benchmarks/results/truncation_<device>.json.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_gpu import copy_time  # noqa: E402
from results_io import device_tag, write_result  # noqa: E402

from lretjax.noise.channels import depolarizing  # noqa: E402
from lretjax.ops.channel import channel_factor, channel_gram, wires_back, wires_last  # noqa: E402
from lretjax.ops.truncate import select  # noqa: E402

CHANNELS = 32  # per timed loop
HIGHEST = jax.lax.Precision.HIGHEST


def state(n: int, r: int, seed: int = 0):
    """Orthogonal columns with a geometric spectrum: L = Q diag(s), s_j^2 ~ 0.8^j."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((2**n, r)) + 1j * rng.standard_normal((2**n, r))
    q, _ = np.linalg.qr(a)
    s2 = 0.8 ** np.arange(r)
    return jnp.asarray(q * np.sqrt(s2 / s2.sum()), dtype=jnp.complex64)


def looped(body):
    """``body`` applied CHANNELS times in one compiled loop (its output feeds its input)."""
    return jax.jit(lambda x: jax.lax.fori_loop(0, CHANNELS, lambda i, y: body(y), x))


def per_call(f, x, reps: int = 5) -> float:
    jax.block_until_ready(f(x))
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(f(x))
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)) / CHANNELS


def _jitter(G, y):
    # Feed the loop: a result-dependent change far below round-off, so nothing is hoisted.
    return G + (1e-30 * jnp.real(y.ravel()[0])).astype(G.dtype)


def rayleigh_ritz(G, k: int, extra: int = 16, steps: int = 2):
    """Leading k eigenpairs of G from the first k + extra coordinate directions (the old kept ones)."""
    X = jnp.eye(G.shape[0], k + extra, dtype=G.dtype)
    for _ in range(steps):
        X, _ = jnp.linalg.qr(jnp.matmul(G, X, precision=HIGHEST))
    H = jnp.matmul(X.conj().T, jnp.matmul(G, X, precision=HIGHEST), precision=HIGHEST)
    lam, w = jnp.linalg.eigh(0.5 * (H + H.conj().T))
    return lam, jnp.matmul(X, w, precision=HIGHEST)


def row(n: int, r: int) -> dict:
    L = state(n, r)
    kraus = jnp.asarray(depolarizing(1e-3), dtype=L.dtype)
    wire = (n // 2,)
    Lw = wires_last(L, wire, n)
    G = channel_gram(Lw, kraus)
    impl = jax.lax.linalg.EighImplementation
    size = G.shape[0]

    def step(x):
        xw = wires_last(x, wire, n)
        sel = select(channel_gram(xw, kraus), r, 1e-4)
        return wires_back(channel_factor(xw, kraus, sel.vectors), wire, n)

    def eigh_with(**kw):
        return looped(lambda g: _jitter(G, jax.lax.linalg.eigh(g, **kw)[0]))

    out = {"n": n, "r": r, "gram_size": size}
    out["step_s"] = per_call(looped(step), L)
    out["gram_s"] = per_call(looped(lambda x: x + 0 * channel_gram(wires_last(x, wire, n), kraus)[0, 0]), L)
    V = jnp.eye(size, r, dtype=L.dtype)
    out["factor_s"] = per_call(looped(lambda x: wires_back(channel_factor(wires_last(x, wire, n), kraus, V),
                                                           wire, n)), L)
    out["eigh_qr_s"] = per_call(eigh_with(), G)
    if jax.default_backend() == "gpu":
        out["eigh_jacobi_s"] = per_call(eigh_with(implementation=impl.JACOBI), G)
    try:
        out["eigh_topk_s"] = per_call(eigh_with(subset_by_index=(size - r, size)), G)
    except Exception as e:  # not every backend implements a subset
        out["eigh_topk_s"] = None
        out["eigh_topk_error"] = str(e).splitlines()[0][:200]
    out["rayleigh_ritz_s"] = per_call(looped(lambda g: _jitter(G, rayleigh_ritz(g, r)[0])), G)
    lam = np.linalg.eigvalsh(np.asarray(G, np.complex128))[::-1]
    lam_rr = np.sort(np.asarray(rayleigh_ritz(G.astype(jnp.complex128) if jax.config.jax_enable_x64 else G,
                                              r)[0]))[::-1][:r]
    out["rayleigh_ritz_kept_weight_rel_err"] = float(abs(lam_rr.sum() - lam[:r].sum()) / lam.sum())
    out["copy_pass_s"] = copy_time(jnp.real(L), jnp.imag(L))[0]
    out["step_passes"] = out["step_s"] / out["copy_pass_s"]
    return out


def _ms(v) -> str:
    return "      -" if v is None else f"{v * 1e3:7.3f}"


def main(argv=None) -> dict:
    gpu = jax.default_backend() == "gpu"
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16 if gpu else 12)
    ap.add_argument("--ranks", type=int, nargs="+", default=[16, 32, 64, 128])
    a = ap.parse_args(argv)
    rows = []
    print(f"one depolarizing channel's truncation, n = {a.n}, {jax.devices()[0].device_kind}, ms per channel")
    print("    r  size   step  gram  factor  eigh_qr  jacobi   top-k     RR  copy pass  step passes")
    for r in a.ranks:
        x = row(a.n, r)
        rows.append(x)
        cells = " ".join(_ms(x.get(k)) for k in ("step_s", "gram_s", "factor_s", "eigh_qr_s", "eigh_jacobi_s",
                                                 "eigh_topk_s", "rayleigh_ritz_s", "copy_pass_s"))
        print(f"  {r:3d} {x['gram_size']:5d} {cells} {x['step_passes']:8.1f}")
    command = " ".join(["python", "benchmarks/bench_truncation.py", *(argv or sys.argv[1:])])
    meta = {"device": jax.devices()[0].device_kind, "jax": jax.__version__, "machine": platform.node(),
            "command": command}
    res = {"meta": meta, "rows": rows, "goal_step_s": 5e-4}
    write_result(f"truncation_{device_tag()}.json", res)
    return res


if __name__ == "__main__":
    main()
