"""GPU checks behind docs/performance.md's defect notes and Gram measurements (device tool).

    PYTHONPATH=. python3 benchmarks/gpu_checks.py gates 32 64    # big-L gates vs a column-chunked run
    PYTHONPATH=. python3 benchmarks/gpu_checks.py nan 8          # Gram-route channel steps in x64: NaN?
    PYTHONPATH=. python3 benchmarks/gpu_checks.py gram           # Gram product forms vs one read of L

``gates``: n = 24 (env NW), r from the command line, complex64. Each gate runs on the whole L and on
8-column chunks (2^27 entries, a size known to be right); prints the largest difference and the
norm ratio. ``nan``: the LRET paper circuit (depth 2, depolarizing 1e-3), untruncated, every channel
through the Gram route (the sharded path's), stopping at the first NaN to test eigh variants; then
``simulate_sharded`` on one device against ``simulate``. ``gram``: L^dagger L as XLA's dot, as a
batch of row chunks (einsum, batched matmul) and as one real product of [Re | Im].
"""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

HI = jax.lax.Precision.HIGHEST


def rand_u(k, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(2**k, 2**k)) + 1j * rng.normal(size=(2**k, 2**k))
    q, _ = np.linalg.qr(a)
    return q.astype(np.complex64)


def check_gates(ranks):
    from lretjax.ops.primitives import apply_matrix_prim

    n = int(os.environ.get("NW", 24))
    f = jax.jit(apply_matrix_prim, static_argnums=(2, 3))
    cz = np.diag([1, 1, 1, -1]).astype(np.complex64)
    for r in ranks:
        L = jax.random.normal(jax.random.PRNGKey(r), (2**n, r), dtype=jnp.complex64)
        cases = [("cz", cz, (0, 1)), ("cz", cz, (n // 2 - 1, n // 2)), ("cz", cz, (n - 2, n - 1)),
                 ("u2", rand_u(2, 1), (0, 1)), ("u2", rand_u(2, 2), (n - 1, 5)),
                 ("u1", rand_u(1, 3), (0,)), ("u1", rand_u(1, 4), (n - 1,)),
                 ("u3", rand_u(3, 5), (0, 1, 2)), ("u3", rand_u(3, 6), (3, n - 2, n - 1))]
        for name, u, w in cases:
            out = f(L, u, w, n)
            ref = jnp.concatenate([f(L[:, i:i + 8], u, w, n) for i in range(0, r, 8)], axis=1)
            err = float(jnp.max(jnp.abs(out - ref)))
            n0 = np.sum(np.asarray(jnp.sum(jnp.abs(L) ** 2, axis=0), dtype=np.float64))
            n1 = np.sum(np.asarray(jnp.sum(jnp.abs(out) ** 2, axis=0), dtype=np.float64))
            print(f"r={r} {name} wires={w}: max|out-ref|={err:.3e} norm ratio={n1 / n0:.8f}", flush=True)
            del out, ref
        del L


def _eigh_report(G):
    """Which eigh variants of G come back finite (the cuSOLVER NaN hunt)."""
    real_embed = jnp.block([[jnp.real(G), -jnp.imag(G)], [jnp.imag(G), jnp.real(G)]])
    variants = {"G": G, "G+1e-12I": G + 1e-12 * jnp.eye(G.shape[0]), "complex64": G.astype(jnp.complex64),
                "real embedding": real_embed}
    for name, a in variants.items():
        lam, v = jnp.linalg.eigh(a)
        print(f"  eigh({name}): NaN eigenvalues {bool(jnp.any(jnp.isnan(lam)))}, "
              f"NaN vectors {bool(jnp.any(jnp.isnan(v)))}", flush=True)
    print("  numpy eigenvalue range", np.linalg.eigvalsh(np.asarray(G))[[0, -1]], flush=True)


def check_nan(n):
    jax.config.update("jax_enable_x64", True)
    import lretjax
    from lretjax import distributed as dist
    from lretjax.ops.apply import apply_matrix
    from lretjax.ops.channel import channel_gram, channel_truncate, wires_last

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from families import lret_paper_circuit

    base = lret_paper_circuit(n, 2, 0)
    ops, per = [], len(base.ops) // 2
    for i, op in enumerate(base.ops):
        ops.append(op)
        if (i + 1) % per == 0:
            ops.extend(("depolarizing", [w], [1e-3]) for w in range(n))
    c = lretjax.Circuit(n, ops)

    def step(L, K, wires):
        return channel_truncate(L, K, wires, n, 2**n, 0.0, psum=lambda x: x, dim=2**n)

    step = jax.jit(step, static_argnums=2)
    L = jnp.zeros((2**n, 2**n), jnp.complex128).at[0, 0].set(1.0)
    for j, op in enumerate(c.ops):
        if not op.is_channel:
            L = apply_matrix(L, op.matrix(), op.wires, n)
            continue
        t = step(L, op.kraus(), tuple(op.wires))
        if bool(jnp.any(jnp.isnan(t.L))):
            print("NaN at op", j, op.name, op.wires, flush=True)
            _eigh_report(channel_gram(wires_last(L, op.wires, n), jnp.asarray(op.kraus())))
            np.savez(os.path.join(os.environ.get("OUT", "/tmp"), "nan_case.npz"), L=np.asarray(L),
                     K=np.asarray(op.kraus()), wires=np.asarray(op.wires))
            break
        L = t.L
    else:
        print("no NaN in", len(c.ops), "ops", flush=True)

    mesh = dist.make_mesh(1, devices=jax.devices()[:1])
    obs = {f"Z{i} Z{i + 1}": 1.0 for i in range(n - 1)} | {f"X{i}": 0.5 for i in range(n)}
    want = float(lretjax.expval(lretjax.simulate(c, max_rank=2**n), obs))
    for seg in (1, 8):
        st = dist.simulate_sharded(c, mesh=mesh, max_rank=2**n, segment_channels=seg)
        print(f"simulate_sharded segment_channels={seg}: NaN {bool(jnp.any(jnp.isnan(st.L)))}, "
              f"|<H> - simulate| {abs(float(dist.expval(st, obs)) - want):.2e}", flush=True)


def _gram_forms(B):
    def einsum(L):
        c = L.reshape(B, L.shape[0] // B, L.shape[1])
        return jnp.einsum("bic,bid->cd", c.conj(), c, precision=HI)

    def bmm(L):
        c = L.reshape(B, L.shape[0] // B, L.shape[1])
        return jnp.sum(jnp.matmul(jnp.swapaxes(c.conj(), 1, 2), c, precision=HI), axis=0)

    def real(L):
        # G = (Xr^T Xr + Xi^T Xi) + i (Xr^T Xi - Xi^T Xr), from one real product of [Xr | Xi]
        r = L.shape[1]
        x = jnp.concatenate([jnp.real(L), jnp.imag(L)], axis=1).reshape(B, L.shape[0] // B, 2 * r)
        g = jnp.sum(jnp.matmul(jnp.swapaxes(x, 1, 2), x, precision=HI), axis=0)
        return jax.lax.complex(g[:r, :r] + g[r:, r:], g[:r, r:] - g[r:, :r])

    return {"einsum": jax.jit(einsum), "bmm": jax.jit(bmm), "real": jax.jit(real)}


def check_gram():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_gpu import copy_time, rand_state, timeit

    plain = jax.jit(lambda L: jnp.matmul(L.conj().T, L, precision=HI))
    for n, r in ((24, 16), (24, 32), (23, 64), (22, 128)):
        re, im = rand_state(n, r)
        read = copy_time(re, im)[0] / 2  # a copy reads and writes L once each
        L = jax.lax.complex(re, im)
        del re, im
        ref = plain(L)
        row = [f"n={n} r={r}: plain dot {read / timeit(plain, L):.2f}"]
        for B in (256, 1024, 4096):
            for name, f in _gram_forms(B).items():
                err = float(jnp.max(jnp.abs(f(L) - ref)) / jnp.max(jnp.abs(ref)))
                row.append(f"{name}{B} {read / timeit(f, L):.2f} (err {err:.1e})")
        print("; ".join(row), " (fractions of one read of L at copy bandwidth)", flush=True)
        del L


if __name__ == "__main__":
    print(jax.devices(), jax.__version__, flush=True)
    what, rest = sys.argv[1], [int(x) for x in sys.argv[2:]]
    if what == "gates":
        check_gates(rest or [32, 64])
    elif what == "nan":
        check_nan(rest[0] if rest else 8)
    elif what == "gram":
        check_gram()
    else:
        raise SystemExit(f"unknown check {what!r}: gates, nan or gram")
