"""GPU benchmark of the gate kernels: bandwidth of one gate pass, gates per pass on qsim's circuits.

Run on a CUDA machine from the repository root:  PYTHONPATH=. python3 benchmarks/bench_gpu.py
Prints a table and writes benchmarks/results/gpu_<device>.json (and $OUT/ when set).

1. One- and two-wire gate passes on L (n=24, r=16, complex64) on the lowest, middle and highest
   wire indices, as a fraction of the measured copy bandwidth (the roofline of one pass).
2. Gate-pass efficiency on qsim's random-circuit family (depth 20; n=28 r=1 and n=24 r=16):
   (gates x time of one roofline pass) / wall time  ->  ``gates_per_pass``.
3. The same circuits in plain XLA (gate by gate, elementwise arithmetic, no Pallas): the ratio gained.
4. The Gram matrix L^dagger L (XLA dot) against the time to read L once.
5. One depolarizing channel with truncation (n=24, r=16): ``ops.channel_truncate`` (Gram from
   the (2r)^2 block, no stacked copies) against stacking then truncating, in copies of L.

BENCH_SECTIONS=channel runs section 5 alone (written to gpu_<device>_channel.json).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from lretjax.circuit import Circuit
from lretjax.compiler.fuse import fuse_blocks
from lretjax.kernels import apply_block
from lretjax.noise.channels import depolarizing
from lretjax.ops import apply_channel, channel_truncate, truncate
from lretjax.ops.primitives import _matrix_elementwise, apply_matrix_prim

T0 = time.time()
BUDGET_S = float(os.environ.get("BENCH_BUDGET_S", "420"))


def timeit(f, *args, reps=10):
    out = f(*args)
    jax.block_until_ready(out)
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(f(*args))
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def rand_state(n, r, key=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(key))
    re = jax.random.normal(k1, (2**n, r), jnp.float32)
    im = jax.random.normal(k2, (2**n, r), jnp.float32)
    return re, im


def copy_time(re, im):
    """One read and one write of L: the roofline of a gate pass (best of three ways to copy it)."""
    s = jnp.float32(1.0001)
    L = jax.lax.complex(re, im)
    flat = jnp.concatenate([re.ravel(), im.ravel()])
    t = min(
        timeit(jax.jit(lambda a, b, s: (a * s, b * s)), re, im, s),
        timeit(jax.jit(lambda x, s: x * s), L, s.astype(L.dtype)),
        timeit(jax.jit(lambda x, s: x * s), flat, s),
    )
    return t, 2 * (re.nbytes + im.nbytes) / t


def save(res, name):
    text = json.dumps(res, indent=1, default=str)
    for d in ("benchmarks/results", os.environ.get("OUT")):
        if d:
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"gpu_{name}.json"), "w") as fh:
                fh.write(text)


def rand_unitary(d, rng):
    q, r = np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))
    return q * (np.diag(r) / np.abs(np.diag(r)))


# -- qsim's random circuit family (Google's supremacy circuits: sqrt(X|Y|W) layers, fSim couplers) --

_SX = np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]) / 2
_SY = np.array([[1 + 1j, -1 - 1j], [1 + 1j, 1 + 1j]]) / 2
_W = (np.array([[0, 1], [1, 0]]) + np.array([[0, -1j], [1j, 0]])) / np.sqrt(2)


def _sqrt_unitary(u):
    w, v = np.linalg.eig(u)
    return v @ np.diag(np.sqrt(w.astype(complex))) @ np.linalg.inv(v)


ONE_Q = [_sqrt_unitary(np.array([[0, 1], [1, 0]], complex)),
         _sqrt_unitary(np.array([[0, -1j], [1j, 0]])),
         _sqrt_unitary(_W)]


def fsim(theta, phi):
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[1, 0, 0, 0], [0, c, -1j * s, 0], [0, -1j * s, c, 0], [0, 0, 0, np.exp(-1j * phi)]])


def qsim_circuit(rows, cols, depth, seed=0):
    """Cycles of random sqrt(X|Y|W) on every qubit, then fSim(pi/2, pi/6) on pattern ABCDCDAB."""
    rng = np.random.default_rng(seed)
    n = rows * cols
    q = lambda i, j: i * cols + j  # noqa: E731
    pats = {
        "A": [(q(i, j), q(i, j + 1)) for i in range(rows) for j in range(0, cols - 1, 2)],
        "B": [(q(i, j), q(i, j + 1)) for i in range(rows) for j in range(1, cols - 1, 2)],
        "C": [(q(i, j), q(i + 1, j)) for i in range(0, rows - 1, 2) for j in range(cols)],
        "D": [(q(i, j), q(i + 1, j)) for i in range(1, rows - 1, 2) for j in range(cols)],
    }
    order = "ABCDCDAB"
    fs = fsim(np.pi / 2, np.pi / 6)
    ops = []
    prev = [-1] * n
    for cyc in range(depth):
        for w in range(n):
            g = rng.choice([i for i in range(3) if i != prev[w]])
            prev[w] = g
            ops.append(("unitary", (w,), ONE_Q[g]))
        for a, b in pats[order[cyc % 8]]:
            ops.append(("unitary", (a, b), fs))
    for w in range(n):
        ops.append(("unitary", (w,), ONE_Q[(prev[w] + 1) % 3]))
    c = Circuit(n)
    for _, wires, u in ops:
        c = c.unitary(u, wires)
    return c


def blocks_of(circuit):
    return [(tuple(op.wires), np.asarray(op.matrix(), np.complex64)) for op in circuit.ops]


def run_pallas(blocks, n):
    wires = [w for w, _ in blocks]

    @jax.jit
    def f(re, im, mats):
        for w, (ur, ui) in zip(wires, mats, strict=True):
            re, im = apply_block(re, im, ur, ui, wires=w, num_wires=n)
        return re, im

    mats = [(jnp.asarray(u.real), jnp.asarray(u.imag)) for _, u in blocks]
    return f, mats


def run_xla(blocks, n):
    wires = [w for w, _ in blocks]

    @jax.jit
    def f(L, mats):
        for w, u in zip(wires, mats, strict=True):
            L = _matrix_elementwise(L, u, wires=w, num_wires=n)
        return L

    return f, [jnp.asarray(u) for _, u in blocks]


def check_against_xla(blocks, n, re, im):
    """Relative error of the Pallas result against XLA on the same blocks (complex64)."""
    fp, mp = run_pallas(blocks, n)
    fx, mx = run_xla(blocks, n)
    a, b = fp(re, im, mp)
    ref = fx(jax.lax.complex(re, im), mx)
    got = jax.lax.complex(a, b)
    return float(jnp.linalg.norm(got - ref) / jnp.linalg.norm(ref))


def channel_section(res, n=24, r=16, p=1e-3):
    """Section 5: a truncated one-wire depolarizing channel, two ways, in units of one copy of L."""
    re, im = rand_state(n, r)
    t_copy, _ = copy_time(re, im)
    L = jax.lax.complex(re, im)
    K = jnp.asarray(depolarizing(p), L.dtype)
    rows = []
    for label, w in (("lowest", n - 1), ("middle", n // 2), ("highest", 0)):
        new = jax.jit(lambda L, K, w=w: channel_truncate(L, K, (w,), n, r).L)
        old = jax.jit(lambda L, K, w=w: truncate(apply_channel(L, K, (w,), n), r).L)
        t_new, t_old = timeit(new, L, K, reps=5), timeit(old, L, K, reps=5)
        a, b = np.asarray(new(L, K)), np.asarray(old(L, K))
        err = float(np.linalg.norm(a @ a.conj().T[:, :64] - b @ b.conj().T[:, :64])
                    / np.linalg.norm(b @ b.conj().T[:, :64]))
        row = {"wire": label, "wire_id": w, "gram_route_s": t_new, "stacked_s": t_old,
               "gram_route_copies": t_new / t_copy, "stacked_copies": t_old / t_copy,
               "speedup": t_old / t_new, "rel_err_rho_block": err}
        rows.append(row)
        print(f"channel n={n} r={r} wire {label:8s}: Gram route {t_new * 1e3:.2f} ms "
              f"({t_new / t_copy:.1f} copies of L), stacked {t_old * 1e3:.2f} ms "
              f"({t_old / t_copy:.1f} copies), x{t_old / t_new:.2f}; rho block rel err {err:.1e}",
              flush=True)
    res["channel"] = {"n": n, "r": r, "copy_s": t_copy, "rows": rows}


def main():
    dev = jax.devices()[0]
    name = dev.device_kind.replace(" ", "_")
    print(f"device {dev.device_kind}, jax {jax.__version__}, python {platform.python_version()}", flush=True)
    res = {"device": dev.device_kind, "jax": jax.__version__, "command": " ".join(sys.argv),
           "dtype": "complex64 (split float32 real/imag in the kernels)"}
    rng = np.random.default_rng(1)

    if os.environ.get("BENCH_SECTIONS") == "channel":
        channel_section(res)
        save(res, name + "_channel")
        return
    only_qsim = os.environ.get("BENCH_ONLY_QSIM")  # e.g. "4x7x1": one circuit (rows x cols x rank)
    if only_qsim:
        name += "_" + only_qsim
    # 0. correctness on the GPU against float64 NumPy (fresh random data, every k) ---------------
    res["check"] = []
    # k = 5 and 6 pass the same check (1.2e-7 for k = 5) but Triton takes minutes to compile them.
    check_k = tuple(int(k) for k in os.environ.get("BENCH_CHECK_K", "1,2,3,4").split(","))
    for k in () if only_qsim else check_k:
        n, r = 14, 4
        wires = tuple(int(w) for w in rng.choice(n, size=k, replace=False))
        Lr = rng.normal(size=(2**n, r)) + 1j * rng.normal(size=(2**n, r))
        u = rand_unitary(2**k, rng)
        t = Lr.reshape((2,) * n + (r,))
        ref = np.tensordot(u.reshape((2,) * 2 * k), t, axes=(list(range(k, 2 * k)), list(wires)))
        ref = np.moveaxis(ref, list(range(k)), list(wires)).reshape(Lr.shape)
        tc = time.time()
        a, b = apply_block(jnp.asarray(Lr.real, jnp.float32), jnp.asarray(Lr.imag, jnp.float32),
                           jnp.asarray(u.real, jnp.float32), jnp.asarray(u.imag, jnp.float32),
                           wires=wires, num_wires=n)
        got = np.asarray(a) + 1j * np.asarray(b)
        p = np.asarray(jax.jit(lambda L, u, w=wires, n=n: apply_matrix_prim(L, u, w, n))(
            jnp.asarray(Lr, jnp.complex64), jnp.asarray(u, jnp.complex64)))
        e1 = float(np.linalg.norm(got - ref) / np.linalg.norm(ref))
        e2 = float(np.linalg.norm(p - ref) / np.linalg.norm(ref))
        res["check"].append({"k": k, "wires": list(wires), "kernel_rel_err": e1, "primitive_rel_err": e2,
                             "compile_s": time.time() - tc})
        print(f"check k={k} wires={wires}: kernel {e1:.1e}, primitive {e2:.1e} (vs float64 NumPy), "
              f"first call {time.time() - tc:.1f} s", flush=True)

    # 1. single gate passes ---------------------------------------------------------------------
    n, r = (20, 1) if only_qsim else (24, 16)
    re, im = rand_state(n, r)
    t_copy, bw = copy_time(re, im)
    res["copy"] = {"n": n, "r": r, "seconds": t_copy, "bytes_per_s": bw}
    print(f"copy n={n} r={r}: {t_copy * 1e3:.3f} ms, {bw / 1e12:.3f} TB/s", flush=True)
    L = jax.lax.complex(re, im)
    rows = []
    for k in () if only_qsim else (1, 2):
        for label, wires in (("lowest", tuple(range(k))), ("middle", tuple(range(n // 2, n // 2 + k))),
                             ("highest", tuple(range(n - k, n)))):
            u = rand_unitary(2**k, rng).astype(np.complex64)
            ur, ui = jnp.asarray(u.real), jnp.asarray(u.imag)
            best = None
            variants = {}
            sweep = [(None, 4), (None, 8)]
            for tile, warps in sweep:
                if True:
                    f = jax.jit(lambda a, b, c, d, w=wires, t=tile, nw=warps, n=n: apply_block(
                        a, b, c, d, wires=w, num_wires=n, tile=t, num_warps=nw))
                    try:
                        t = timeit(f, re, im, ur, ui)
                    except Exception as e:  # a variant that does not compile is reported, not fatal
                        variants[f"tile={tile},warps={warps}"] = f"failed: {type(e).__name__}: {e}"[:300]
                        continue
                    variants[f"tile={tile},warps={warps}"] = t_copy / t
                    if best is None or t < best[0]:
                        best = (t, tile, warps)
            fx = jax.jit(lambda L, u, w=wires: _matrix_elementwise(L, u, wires=w, num_wires=n))
            t_xla = timeit(fx, L, jnp.asarray(u))
            fp = jax.jit(lambda L, u, w=wires: apply_matrix_prim(L, u, w, n))
            t_prim = timeit(fp, L, jnp.asarray(u))
            err = check_against_xla([(wires, u)], n, re, im)
            row = {"k": k, "wires": label, "wire_ids": list(wires), "pallas_fraction": t_copy / best[0],
                   "pallas_best_tile": best[1], "pallas_best_warps": best[2], "variants": variants,
                   "xla_fraction": t_copy / t_xla, "primitive_fraction": t_copy / t_prim, "rel_err": err}
            rows.append(row)
            print(f"  {k}-wire {label:8s} pallas {row['pallas_fraction']:.3f}  xla {row['xla_fraction']:.3f}"
                  f"  primitive(complex in/out) {row['primitive_fraction']:.3f}  err {err:.1e}", flush=True)
    res["gate_pass"] = rows
    save(res, name)
    del L, re, im

    # 4. Gram matrix ----------------------------------------------------------------------------
    res["gram"] = []
    for n, r in () if only_qsim else ((24, 16), (22, 64), (20, 256)):
        re, im = rand_state(n, r)
        L = jax.lax.complex(re, im)
        t_pass, bw = copy_time(re, im)
        g = jax.jit(lambda L: jnp.matmul(L.conj().T, L, precision=jax.lax.Precision.HIGHEST))
        t = timeit(g, L)
        t_read = L.nbytes / bw
        res["gram"].append({"n": n, "r": r, "seconds": t, "read_roofline_fraction": t_read / t,
                            "tflops": 8 * L.shape[0] * r * r / t / 1e12})
        print(f"gram n={n} r={r}: {t * 1e3:.3f} ms, {t_read / t:.2f} of one read of L at copy bandwidth, "
              f"{8 * L.shape[0] * r * r / t / 1e12:.1f} TFLOP/s", flush=True)
        del L, re, im
    save(res, name)

    # 2./3. qsim circuits -----------------------------------------------------------------------
    res["gates_per_pass"] = {}
    res["circuits"] = []
    ks_env = tuple(int(k) for k in os.environ.get("BENCH_BLOCK_K", "4,3").split(","))
    plan = [(4, 6, 16, ks_env[:1]), (4, 7, 1, ks_env[:1])] + [(4, 6, 16, ks_env[1:])] * (len(ks_env) > 1)
    if only_qsim:
        a, b, c = (int(x) for x in only_qsim.split("x"))
        plan = [(a, b, c, ks_env)]
    for (rows_, cols, r, ks) in plan:
        if time.time() - T0 > BUDGET_S:
            print(f"qsim {rows_}x{cols} k={ks}: skipped (time budget)", flush=True)
            continue
        n = rows_ * cols
        circ = qsim_circuit(rows_, cols, 20)
        gates = len(circ.ops)
        re, im = rand_state(n, r, key=n)
        norm = jnp.sqrt(jnp.sum(re**2 + im**2))
        re, im = re / norm, im / norm
        t_pass, bw = copy_time(re, im)
        fx, mx = run_xla(blocks_of(circ), n)
        L = jax.lax.complex(re, im)
        t_xla = timeit(fx, L, mx, reps=3)
        entry = {"n": n, "r": r, "depth": 20, "gates": gates, "t_roofline_pass_s": t_pass,
                 "copy_bytes_per_s": bw, "xla_unfused_s": t_xla,
                 "xla_unfused_gates_per_pass": gates * t_pass / t_xla, "pallas": {}}
        print(f"qsim n={n} r={r}: {gates} gates, roofline pass {t_pass * 1e3:.3f} ms; plain XLA "
              f"{t_xla * 1e3:.1f} ms = {entry['xla_unfused_gates_per_pass']:.2f} gates/pass", flush=True)
        del L
        for k in ks:
            if time.time() - T0 > BUDGET_S:
                print(f"  k={k}: skipped (time budget)", flush=True)
                continue
            fused = fuse_blocks(circ, max_wires=k)
            blocks = blocks_of(fused)
            tc = time.time()
            fp, mp = run_pallas(blocks, n)
            try:
                t = timeit(fp, re, im, mp, reps=3)
            except Exception as e:
                entry["pallas"][k] = f"failed: {type(e).__name__}: {e}"[:500]
                print(f"  k={k}: failed {e}"[:500], flush=True)
                continue
            compile_s = time.time() - tc
            fxk, mxk = run_xla(blocks, n)
            t_xf = timeit(fxk, jax.lax.complex(re, im), mxk, reps=3)
            err = check_against_xla(blocks, n, re, im) if n <= 24 else None
            gpp = gates * t_pass / t
            entry["pallas"][k] = {"blocks": len(blocks), "seconds": t, "gates_per_pass": gpp,
                                  "passes_at_roofline": t / t_pass, "gain_vs_xla_unfused": t_xla / t,
                                  "xla_fused_seconds": t_xf, "gain_vs_xla_fused": t_xf / t,
                                  "compile_and_first_s": compile_s, "rel_err_vs_xla": err}
            print(f"  k={k}: {len(blocks)} blocks, {t * 1e3:.1f} ms = {gpp:.2f} gates/pass "
                  f"({t / t_pass:.1f} roofline passes); x{t_xla / t:.2f} vs plain XLA, "
                  f"x{t_xf / t:.2f} vs XLA on the same blocks; err {err}", flush=True)
        ok = {k: v for k, v in entry["pallas"].items() if isinstance(v, dict)}
        if ok:
            kb = max(ok, key=lambda k: ok[k]["gates_per_pass"])
            entry["best_k"] = kb
            key = f"n{n}_r{r}"
            res["gates_per_pass"][key] = max(res["gates_per_pass"].get(key, 0.0), ok[kb]["gates_per_pass"])
        res["circuits"].append(entry)
        save(res, name)
        del re, im

    res["elapsed_s"] = time.time() - T0
    save(res, name)
    print(f"\ngates_per_pass: {res['gates_per_pass']}  (goal >= 8; qsim on an A100 ~5)")


if __name__ == "__main__":
    main()
