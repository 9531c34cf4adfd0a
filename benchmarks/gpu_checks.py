"""GPU checks behind docs/performance.md's defect notes and Gram measurements (device tool).

    PYTHONPATH=. python3 benchmarks/gpu_checks.py gates 32 64    # big-L gates vs a column-chunked run
    PYTHONPATH=. python3 benchmarks/gpu_checks.py nan 8          # Gram-route channel steps in x64: NaN?
    PYTHONPATH=. python3 benchmarks/gpu_checks.py gram           # Gram product forms vs one read of L
    PYTHONPATH=. python3 benchmarks/gpu_checks.py gramk          # the Pallas Gram kernel, its settings
    PYTHONPATH=. python3 benchmarks/gpu_checks.py steps 20 64    # where an engine step's time goes

``gates``: n = 24 (env NW), r from the command line, complex64. Each gate runs on the whole L and on
8-column chunks (2^27 entries, a size known to be right); prints the largest difference and the
norm ratio. ``nan``: the LRET paper circuit (depth 2, depolarizing 1e-3), untruncated, every channel
through the Gram route (the sharded path's), stopping at the first NaN to test eigh variants; then
``simulate_sharded`` on one device against ``simulate``. ``gram``: L^dagger L as XLA's dot, as a
batch of row chunks (einsum, batched matmul) and as one real product of [Re | Im]. ``gramk``: the
Pallas kernel ``kernels.gram_planes`` over its settings, from planes and from a complex L (with the
split), against XLA's dot; then a truncated channel (n = 24, r = 16) with either Gram.
``steps n r``: one copy of L; a gate alone and inside the engine's loop (64 gates); a depolarizing
channel inside the loop (32 channels) and its parts alone (move the wire, Gram block, eigensolve,
kept factor, move back); the Gram block and the factor as real products of [Re | Im] at HIGHEST,
3xTF32 and 6xBF16, with their error against float64. Times in ms and in copies of L.
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

    from lretjax.ops import gram

    plain = jax.jit(gram)
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


def check_gram_kernel():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_gpu import copy_time, rand_state, timeit
    from lretjax.kernels import gram_planes

    from lretjax.noise.channels import depolarizing
    from lretjax.ops import channel, gram
    from lretjax.ops.inner import sq_norm

    def pallas_gram(L):  # the kernel needs float planes: XLA writes them out first
        return jax.lax.complex(*gram_planes(jnp.real(L), jnp.imag(L)))

    xla = jax.jit(gram)
    split = jax.jit(pallas_gram)
    for n, c in ((24, 16), (23, 32), (23, 64), (22, 128), (21, 256)):
        re, im = rand_state(n, c)
        read = copy_time(re, im)[0] / 2
        L = jax.lax.complex(re, im)
        ref = xla(L)

        def err(g, ref=ref):
            return float(jnp.max(jnp.abs(g - ref)) / jnp.max(jnp.abs(ref)))

        row = [f"n={n} c={c}: xla {read / timeit(xla, L):.2f}",
               f"split+kernel {read / timeit(split, L):.2f} (err {err(split(L)):.1e})"]
        if c <= 32:  # XLA's reduction of the broadcast products (c^2 products per row)
            red = jax.jit(lambda L: jnp.sum(L.conj()[:, :, None] * L[:, None, :], axis=0))
            row.append(f"xla reduce {read / timeit(red, L):.2f} (err {err(red(L)):.1e})")
        best = None
        settings = [("ieee", 4, 256, 1024)] + [
            (alg, warps, sub, progs) for alg in ("ieee", "tf32x3") for warps in (4, 8)
            for sub in (128, 256) for progs in (512, 2048)]
        for alg, warps, sub, progs in settings:
            f = jax.jit(lambda a, b, alg=alg, w=warps, s=sub, p=progs: gram_planes(
                a, b, algorithm=alg, num_warps=w, block_rows=s, programs=p))
            try:
                t = timeit(f, re, im)
            except Exception as e:  # noqa: BLE001 - report the setting that fails
                print(f"  {alg} w{warps} s{sub} p{progs}: {type(e).__name__}: {str(e)[:200]}",
                      flush=True)
                continue
            gr, gi = f(re, im)
            e = err(jax.lax.complex(gr, gi))
            if best is None or t < best[0]:
                best = (t, f"{alg} w{warps} s{sub} p{progs}", e)
            if (alg, warps, sub, progs) == settings[0]:
                row.append(f"kernel default {read / t:.2f} (err {e:.1e})")
        if best is None:
            print("; ".join(row) + "; no kernel setting ran", flush=True)
            continue
        row.append(f"best kernel {read / best[0]:.2f} [{best[1]}] (err {best[2]:.1e})")
        print("; ".join(row), " (fractions of one read at copy bandwidth)", flush=True)
        del L, re, im

    n, r = 24, 16
    re, im = rand_state(n, r)
    L = jax.lax.complex(re, im)
    L = L / jnp.sqrt(sq_norm(L))
    K = depolarizing(1e-3).astype(jnp.complex64)
    t_copy = copy_time(re, im)[0]
    for w in (0, n // 2, n - 1):
        outs = {}
        for name, g in (("pallas", pallas_gram), ("xla", gram)):
            saved, channel.gram = channel.gram, g  # channel_gram's product, swapped for this run
            try:
                f = jax.jit(lambda L, K, w=w: channel.channel_truncate(L, K, (w,), n, 4 * r))
                outs[name] = (timeit(f, L, K), f(L, K))
            finally:
                channel.gram = saved
        (tp, rp), (tx, rx) = outs["pallas"], outs["xla"]
        Gp, Gx = xla(rp.L), xla(rx.L)  # the kept factors agree up to a unitary: compare L^dagger L
        print(f"channel n={n} r={r} wire {w}: kernel Gram {tp * 1e3:.2f} ms ({tp / t_copy:.2f} copies), "
              f"XLA Gram {tx * 1e3:.2f} ms ({tx / t_copy:.2f} copies), ratio {tx / tp:.2f}; "
              f"|eig diff| {float(jnp.max(jnp.abs(jnp.linalg.eigvalsh(Gp) - jnp.linalg.eigvalsh(Gx)))):.1e}, "
              f"discarded {float(rp.discarded):.2e} vs {float(rx.discarded):.2e}", flush=True)
    del L, re, im


def check_steps(n, r):
    """Where the time of the engine's steps goes (module docstring, ``steps``)."""
    from lretjax import Circuit
    from lretjax.engine import ONE_DEVICE, build
    from lretjax.engine.loop import run_steps
    from lretjax.engine.step import Settings, start_carry
    from lretjax.ops import apply_matrix
    from lretjax.ops.channel import channel_factor, channel_gram, wires_back, wires_last
    from lretjax.ops.eigh import safe_eigh

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_gpu import timeit as timed

    rng = np.random.default_rng(0)
    L = jax.random.normal(jax.random.PRNGKey(0), (2**n, r), dtype=jnp.complex64) / np.sqrt(2.0**n * r)
    copy = timed(jax.jit(lambda x: x * jnp.complex64(1.0001)), L)
    out = {"n": n, "r": r, "copy_ms": copy * 1e3}

    def report(name, t, per=1):
        out[name + "_ms"] = t / per * 1e3
        print(f"{name:>28}: {t / per * 1e3:9.3f} ms = {t / per / copy:6.2f} copies", flush=True)

    report("copy", copy)
    w = n // 2
    u = jnp.asarray(rand_u(1, 7))
    report("gate alone", timed(jax.jit(lambda x: apply_matrix(x, u, (w,), n)), L))

    def loop_of(circuit, steps):
        sch = build(circuit, wires="static")
        settings = Settings(r, r)
        carry = start_carry(L, 0.0, r)
        eps, one = jnp.float32(1e-4), jnp.float32(1.0)
        f = jax.jit(lambda c: run_steps(c, sch.program, sch.tables, settings, ONE_DEVICE.coll, eps, one, 0,
                                        steps).L)
        return f, carry

    gates = Circuit(n)
    for _ in range(64):
        gates = gates.rx(float(rng.uniform(0, 6)), int(rng.integers(n)))
    f, carry = loop_of(gates, 64)
    report("gate in loop", timed(f, carry, reps=3), 64)
    chans = Circuit(n)
    for _ in range(32):
        chans = chans.depolarizing(1e-3, int(rng.integers(n)))
    f, carry = loop_of(chans, 32)
    report("channel in loop", timed(f, carry, reps=3), 32)

    kraus = jnp.asarray(Circuit(1).depolarizing(1e-3, 0).ops[0].kraus(), jnp.complex64)
    Lw = jax.jit(lambda x: wires_last(x, (w,), n))(L)
    report("move wire", timed(jax.jit(lambda x: wires_last(x, (w,), n)), L))
    report("Gram block", timed(jax.jit(lambda x: channel_gram(x, kraus)), Lw))
    G = jax.jit(lambda x: channel_gram(x, kraus))(Lw)
    report("eigh (4r)", timed(jax.jit(safe_eigh), G))
    V = jnp.linalg.eigh(G)[1][:, -r:]
    report("kept factor", timed(jax.jit(lambda x, v: channel_factor(x, kraus, v)), Lw, V))
    F = jax.jit(lambda x, v: channel_factor(x, kraus, v))(Lw, V)
    report("move back", timed(jax.jit(lambda x: wires_back(x, (w,), n)), F))

    # Real forms: X = [Re | Im] (rows, 2c); X^T X holds Re/Im of Lw^dagger Lw; one product.
    X = jnp.concatenate([jnp.real(Lw), jnp.imag(Lw)], axis=1)
    ref = np.asarray(jnp.matmul(X.T.astype(jnp.float64), X.astype(jnp.float64))) if n <= 22 else None
    Wc = jnp.asarray(rng.normal(size=(Lw.shape[1], Lw.shape[1])), jnp.float32)
    Wr = jnp.block([[Wc, Wc * 0.5], [-Wc * 0.5, Wc]])
    presets = {"HIGHEST": HI, "TF32x3": jax.lax.DotAlgorithmPreset.TF32_TF32_F32_X3,
               "BF16x6": jax.lax.DotAlgorithmPreset.BF16_BF16_F32_X6}
    for name, prec in presets.items():
        try:
            gram_f = jax.jit(lambda x, prec=prec: jax.lax.dot_general(x, x, (((0,), (0,)), ((), ())),
                                                                      precision=prec))
            fac_f = jax.jit(lambda x, m, prec=prec: jax.lax.dot(x, m, precision=prec))
            report(f"real Gram {name}", timed(gram_f, X))
            report(f"real factor {name}", timed(fac_f, X, Wr))
            if ref is not None:
                err = float(np.max(np.abs(np.asarray(gram_f(X), np.float64) - ref)) / np.max(np.abs(ref)))
                out[f"real_gram_{name}_relerr"] = err
                print(f"{'':>28}  Gram relative error vs float64: {err:.1e}", flush=True)
        except Exception as e:  # an algorithm this backend lacks
            print(f"{name}: {type(e).__name__}: {str(e)[:200]}", flush=True)
    return out


if __name__ == "__main__":
    print(jax.devices(), jax.__version__, flush=True)
    what, rest = sys.argv[1], [int(x) for x in sys.argv[2:]]
    if what == "gates":
        check_gates(rest or [32, 64])
    elif what == "nan":
        check_nan(rest[0] if rest else 8)
    elif what == "gram":
        check_gram()
    elif what == "gramk":
        check_gram_kernel()
    elif what == "steps":
        import json

        res = [check_steps(n, r) for n, r in zip(rest[::2], rest[1::2], strict=True)]
        if os.environ.get("OUT"):
            with open(os.path.join(os.environ["OUT"], "steps.json"), "w") as f:
                json.dump({"device": str(jax.devices()[0]), "jax": jax.__version__, "rows": res}, f, indent=1)
    else:
        raise SystemExit(f"unknown check {what!r}: gates, nan, gram, gramk or steps")
