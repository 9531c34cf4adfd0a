"""What compiling costs users, and what the engine's eager path costs against its jitted one.

    python benchmarks/bench_engine.py                 # every part the machine can run
    python benchmarks/bench_engine.py --parts readme grad
    python benchmarks/bench_engine.py --parts gpu     # on a GPU machine

Parts (each case in a fresh subprocess, so "cold" is what a new process pays):

- ``readme``: the README's main job (examples/circuits/random_brickwork_10.qasm, depolarizing
  1e-3 after every gate, max_rank 64, epsilon 1e-6: simulate, probabilities, two expectation
  values, 1000 shots). First call with an empty compilation cache, first call with the cache
  filled by a previous process, and warm (second call in a process); the whole ``lretjax run``
  command's wall time both ways; Qiskit Aer's density-matrix method on the same circuit and
  noise in the same run (first and warm). The trace distance to the exact state and the
  discarded weight are printed beside them.
- ``grad``: ``grad.expval_fn`` forward and ``jax.grad`` compile (lower + compile) and run times,
  n = 16, the LRET paper family at depth 10 and 40, depolarizing 1e-3 after every gate.
- ``sharded``: first call of ``simulate_sharded`` on 8 simulated CPU devices against the first
  call of one-device ``simulate`` (both in fresh processes), an 8-wire noisy circuit.
- ``widths``: the eager widths, the paper family at n = 14, depth 8, depolarizing 1e-3 after
  every gate, epsilon 1e-4, max_rank 512 (float32): first call and warm with the eager width
  grid (``engine.loop.grid_width``) against the policy it replaced (powers of two with a
  doubling of headroom), each in a fresh process, with the widths each run compiled; and the
  grid with every channel's whole Gram block against the half block of an orthogonal factor
  (``ops.channel.orthogonal_block``).
- ``dense``: the dense representation from the start, the paper family at n = 12, depth 8,
  depolarizing 1e-3 (complex64): first call and warm with the low-rank path's quick-compile
  options (``engine.loop.CPU_COMPILER_OPTIONS``) and with XLA's defaults (what dense segments
  use), each in a fresh process, and Aer's density-matrix method (single precision) on the same
  circuit in the same run.
- ``threads``: the eager one-thread LAPACK limit (``engine.threads``) on and off, on the paper
  family at n = 12 (epsilon 1e-4) and n = 14 (tolerance 2e-2), and a jitted ``expval_fn``
  forward and backprop gradient (12 wires, depth 6, max_rank 32) with ``OPENBLAS_NUM_THREADS=1``
  and without, each in a fresh process (first call and warm), beside Aer on the n = 12 circuit.
- ``fold``: the same three cases and a circuit with noise on its two-wire gates only, with gates
  folded into channels and fused into runs and without (``engine.build(fold=, fuse=)``), each in
  a fresh process with ``OPENBLAS_NUM_THREADS=1``, beside Aer on the n = 12 circuit.
- ``gpu``: the paper family at depth 10 on one GPU at (n, r) = (16, 64), (20, 64), (24, 16):
  eager warm, jitted warm, eager cold (fresh process), with one copy pass of L measured in the
  same process.

Writes benchmarks/results/engine_<machine>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
README_QASM = ROOT / "examples" / "circuits" / "random_brickwork_10.qasm"
README_ARGS = ["--noise", "depolarizing=0.001", "--max-rank", "64", "--epsilon", "1e-6",
               "--expval", "Z0 Z1", "--expval", "ZZZZZZZZZZ", "--shots", "1000"]


# ------------------------------------------------------------------------------- the workers


def first_and_warm(fn, repeats: int = 3) -> tuple[float, float, object]:
    """Seconds of ``fn``'s first call, the best of ``repeats`` further calls, and the first result."""
    t = time.perf_counter()
    result = fn()
    first = time.perf_counter() - t
    warm = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - t)
    return first, min(warm), result


def _readme_circuit():
    from lretjax.cli import gate_noise_model
    from lretjax.io.qasm2 import load

    return gate_noise_model([("depolarizing", 1e-3)]).apply(load(README_QASM))


def worker_readme(spec: dict) -> dict:
    """The README job's work, timed twice in this process (first call, then warm)."""
    t0 = time.perf_counter()
    import jax

    import lretjax as lj

    if spec.get("cache"):
        lj.enable_compilation_cache(spec["cache"])
    t_import = time.perf_counter() - t0

    def job():
        circuit = _readme_circuit()
        representation = spec.get("representation", "auto")
        state = lj.simulate(circuit, max_rank=64, epsilon=1e-6, representation=representation)
        probs = lj.probabilities(state)
        vals = [lj.expval(state, o) for o in ("Z0 Z1", "ZZZZZZZZZZ")]
        bits = lj.sample(state, 1000, jax.random.key(0))
        jax.block_until_ready((probs, vals, bits))
        return state

    first, warm, state = first_and_warm(job)
    out = {"import_s": t_import, "first_s": first, "warm_s": warm, "rank": int(state.rank),
           "discarded": float(state.discarded), "dtype": str(state.dtype),
           "representation": state.representation}
    if spec.get("exact"):
        from lretjax import reference

        rho = reference.simulate_dense(_readme_circuit())
        out["trace_distance"] = float(reference.trace_distance(rho, lj.to_density_matrix(state)))
    return out


def aer_readme(precision: str):
    """Aer's density-matrix method on the README job as an Aer user writes it: the QASM file and
    a NoiseModel with depolarizing errors after every gate (one-wire errors on each wire of a
    CZ). Qiskit's depolarizing_error(lam) is lretjax's depolarizing(3 lam / 4)."""
    from qiskit import QuantumCircuit
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import NoiseModel, depolarizing_error

    qc = QuantumCircuit.from_qasm_file(str(README_QASM))
    qc.remove_final_measurements()
    qc.save_density_matrix()
    one = depolarizing_error(4 * 1e-3 / 3, 1)
    model = NoiseModel()
    model.add_all_qubit_quantum_error(one, ["rx", "ry", "rz"])
    model.add_all_qubit_quantum_error(one.tensor(one), ["cz"])
    sim = AerSimulator(method="density_matrix", noise_model=model, precision=precision)
    return lambda: sim.run(qc, shots=1).result()


def worker_aer(spec: dict) -> dict:
    out = {}
    for precision in ("double", "single"):
        first, warm, _ = first_and_warm(aer_readme(precision))
        out[precision] = {"first_s": first, "warm_s": warm}
    return out


def worker_grad(spec: dict) -> dict:
    import jax
    import jax.numpy as jnp

    sys.path.insert(0, str(HERE))
    from families import lret_paper_circuit, paper_angles, with_gate_noise

    from lretjax.grad import expval_fn

    n, depth, rank = spec["n"], spec["depth"], spec["max_rank"]
    circuit = with_gate_noise(lret_paper_circuit(n, depth, symbolic=True), "depolarizing", 1e-3)
    x = jnp.asarray(paper_angles(n, depth))
    f = expval_fn(circuit, {"Z0": 1.0, "Z1 Z2": 0.5}, max_rank=rank, checkpoint=spec.get("remat", False))
    out = {"ops": len(circuit.ops), "params": int(x.shape[0])}
    for name, fn in (("forward", jax.jit(f)), ("grad", jax.jit(jax.grad(f)))):
        t = time.perf_counter()
        compiled = fn.lower(x).compile()
        out[f"{name}_compile_s"] = time.perf_counter() - t
        if spec.get("run", True):
            jax.block_until_ready(compiled(x))
            t = time.perf_counter()
            jax.block_until_ready(compiled(x))
            out[f"{name}_run_s"] = time.perf_counter() - t
    out["compile_s"] = out["forward_compile_s"] + out["grad_compile_s"]
    return out


def _sharded_circuit():
    sys.path.insert(0, str(HERE))
    from families import lret_paper_circuit, with_gate_noise

    return with_gate_noise(lret_paper_circuit(8, 3), "depolarizing", 1e-2)


def worker_sharded(spec: dict) -> dict:
    import jax

    import lretjax as lj
    from lretjax import distributed as dist

    circuit = _sharded_circuit()
    t = time.perf_counter()
    if spec["devices"] > 1:
        st = dist.simulate_sharded(circuit, mesh=dist.make_mesh(spec["devices"]), max_rank=16)
    else:
        st = lj.simulate(circuit, max_rank=16)
    val = lj.expval(st, "Z0 Z1")
    jax.block_until_ready(val)
    return {"first_s": time.perf_counter() - t, "ops": len(circuit.ops), "devices": jax.device_count(),
            "expval": float(val), "discarded": float(st.discarded)}


def worker_gpu(spec: dict) -> dict:
    import jax

    sys.path.insert(0, str(HERE))
    from bench_gpu import copy_time, rand_state
    from families import lret_paper_circuit, with_gate_noise

    import lretjax as lj

    n, r = spec["n"], spec["r"]
    circuit = with_gate_noise(lret_paper_circuit(n, 10), "depolarizing", 1e-3)

    def eager():
        return jax.block_until_ready(lj.simulate(circuit, max_rank=r, epsilon=1e-4).L)

    jitted = jax.jit(lambda: lj.simulate(circuit, max_rank=r, epsilon=1e-4).L)
    cold, warm, _ = first_and_warm(eager, repeats=2)
    _, jit_s, _ = first_and_warm(lambda: jax.block_until_ready(jitted()), repeats=2)
    copy_s, bandwidth = copy_time(*rand_state(n, r))
    return {"n": n, "r": r, "ops": len(circuit.ops), "cold_s": cold, "eager_s": warm, "jit_s": jit_s,
            "eager_over_jit": warm / jit_s, "copy_pass_s": copy_s, "copy_GBps": bandwidth / 1e9,
            "passes_per_op": warm / (len(circuit.ops) * copy_s), "device": str(jax.devices()[0])}


def worker_widths(spec: dict) -> dict:
    import jax

    sys.path.insert(0, str(HERE))
    from families import lret_paper_circuit, with_gate_noise

    import lretjax as lj
    from lretjax.engine import loop

    if spec["policy"] == "powers of two":  # the policy the grid replaced
        loop.GRID_STEPS, loop.HEADROOM = 1, 2.0
    if spec.get("full_gram"):  # every channel forms its whole Gram block (as before orthogonal_block)
        from lretjax.ops import channel

        channel.orthogonal_block = channel.gram
    widths = []
    segment = loop._segment

    def spy(*args, **kwargs):
        widths.append(kwargs["settings"].width)
        return segment(*args, **kwargs)

    loop._segment = spy
    n = spec["n"]
    circuit = with_gate_noise(lret_paper_circuit(n, 8, seed=n), "depolarizing", 1e-3)

    def job():
        widths.clear()
        state = lj.simulate(circuit, max_rank=512, epsilon=1e-4, representation="low-rank")
        jax.block_until_ready(state.L)
        return state

    first, warm, state = first_and_warm(job, repeats=2)
    policy = spec["policy"] + (", full Gram" if spec.get("full_gram") else "")
    return {"policy": policy, "n": n, "ops": len(circuit.ops), "first_s": first, "warm_s": warm,
            "rank": int(state.rank), "width": int(state.L.shape[1]), "widths": list(widths),
            "discarded": float(state.discarded)}


def _paper_circuit(n: int = 12, depth: int = 8, symbolic: bool = False):
    """The paper family with depolarizing 1e-3 after every gate, seeded as the density-matrix
    benchmark seeds it (seed = n)."""
    sys.path.insert(0, str(HERE))
    from families import lret_paper_circuit, with_gate_noise

    return with_gate_noise(lret_paper_circuit(n, depth, seed=n, symbolic=symbolic), "depolarizing", 1e-3)


def _two_wire_noise_circuit(n: int = 12, depth: int = 8):
    """A hardware-efficient layer (RY and RZ on every wire, a CNOT chain) with two-wire
    depolarizing 1e-3 after each CNOT only: the single-wire gates run back to back, noiseless."""
    import numpy as np

    import lretjax as lj

    rng = np.random.default_rng(n)
    c = lj.Circuit(n)
    for _ in range(depth):
        for w in range(n):
            c = c.ry(float(rng.uniform(0, 2 * np.pi)), w).rz(float(rng.uniform(0, 2 * np.pi)), w)
        for w in range(n - 1):
            c = c.cnot(w, w + 1).depolarizing2(1e-3, w, w + 1)
    return c


def worker_dense(spec: dict) -> dict:
    import jax

    import lretjax as lj
    from lretjax.engine import loop

    if spec["options"] == "quick-compile":  # what dense segments used before
        loop._segment_other = loop._segment_cpu
    circuit = _paper_circuit()
    first, warm, _ = first_and_warm(
        lambda: jax.block_until_ready(lj.simulate(circuit, representation="dense").rho), repeats=1)
    return {"options": spec["options"], "first_s": first, "warm_s": warm}


def worker_dense_aer(spec: dict) -> dict:
    from bench_vs_density_matrix import peer_density_matrix

    run_aer, _ = peer_density_matrix("aer", _paper_circuit(), os.cpu_count(), single=True)
    first, warm, _ = first_and_warm(run_aer, repeats=1)
    return {"options": "Aer", "first_s": first, "warm_s": warm}


THREAD_CASES = {"eager n=12 epsilon 1e-4": dict(n=12, epsilon=1e-4, max_rank=512),
                "eager n=14 tolerance 2e-2": dict(n=14, tolerance=2e-2, max_rank=2**14)}
# Folding and fusing matter where gates run back to back (noise on two-wire gates only).
FOLD_CASES = {"eager n=14 two-wire noise epsilon 1e-4": dict(n=14, epsilon=1e-4, max_rank=32)}


def worker_threads(spec: dict) -> dict:
    """One case with the eager LAPACK limit on or off (off: the limit is a no-op), or a jitted
    ``expval_fn`` forward and backprop value-and-gradient (its thread count is the process's)."""
    import jax

    import lretjax as lj
    from lretjax.engine import loop

    if not spec["limit"]:
        loop.lapack_limit = lambda platform: (lambda eig_size: contextlib.nullcontext())
    sys.path.insert(0, str(HERE))
    from toggles import one_step_per_op, steps

    if not spec.get("fold", True):
        one_step_per_op()
    if spec["case"] in THREAD_CASES or spec["case"] in FOLD_CASES:
        kw = dict({**THREAD_CASES, **FOLD_CASES}[spec["case"]])
        n = kw.pop("n")
        circuit = _paper_circuit(n) if spec["case"] in THREAD_CASES else _two_wire_noise_circuit(n)
        first, warm, _ = first_and_warm(lambda: jax.block_until_ready(lj.simulate(circuit, **kw).L),
                                        repeats=2)
        return {"case": spec["case"], "limit": spec["limit"], "fold": spec.get("fold", True),
                "steps": steps(circuit), "ops": len(circuit.ops), "first_s": first, "warm_s": warm}
    import jax.numpy as jnp

    from lretjax.grad import expval_fn

    sys.path.insert(0, str(HERE))
    from families import paper_angles

    f = expval_fn(_paper_circuit(12, 6, symbolic=True), "Z0 Z1", max_rank=32, epsilon=1e-5)
    x = jnp.asarray(paper_angles(12, 6, seed=12), jnp.float32)
    forward, value_grad = jax.jit(f), jax.jit(jax.value_and_grad(f))
    first, warm, _ = first_and_warm(lambda: jax.block_until_ready(forward(x)), repeats=3)
    gfirst, gwarm, _ = first_and_warm(lambda: jax.block_until_ready(value_grad(x)), repeats=3)
    return {"case": spec["case"], "limit": spec["limit"], "fold": spec.get("fold", True),
            "first_s": first, "warm_s": warm, "grad_first_s": gfirst, "grad_warm_s": gwarm}


WORKERS = {"readme": worker_readme, "widths": worker_widths, "dense": worker_dense, "threads": worker_threads,
           "dense_aer": worker_dense_aer, "aer": worker_aer, "grad": worker_grad,
           "sharded": worker_sharded, "gpu": worker_gpu}


def worker(spec: dict) -> None:
    out = WORKERS[spec["kind"]](spec)
    with open(spec["result"], "w") as f:
        json.dump(out, f)


def run(spec: dict, env: dict | None = None, timeout: float = 1800) -> dict:
    """``spec`` in a fresh Python process; its result, with the process's wall time."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps({**spec, "result": path})],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, cwd=ROOT)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        os.unlink(path)
        raise RuntimeError(f"{spec['kind']} worker failed:\n{proc.stderr[-3000:]}")
    with open(path) as f:
        out = json.load(f)
    os.unlink(path)
    out["process_s"] = wall
    return out


def cli_wall(cache: str | None, exact: bool = True) -> float:
    """Wall time of the README's ``lretjax run`` command in a fresh process; ``exact=False`` leaves
    out its ``--exact`` (the NumPy dense reference it is compared with)."""
    args = [sys.executable, "-m", "lretjax", "run", str(README_QASM), *README_ARGS, "--json"]
    args += ["--exact"] if exact else []
    args += ["--cache-dir", cache] if cache else ["--no-cache"]
    t = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return time.perf_counter() - t


# ------------------------------------------------------------------------------------ parts


def part_readme() -> dict:
    with tempfile.TemporaryDirectory() as cache:
        empty = run({"kind": "readme", "cache": cache, "exact": True})
        filled = run({"kind": "readme", "cache": cache})
    with tempfile.TemporaryDirectory() as cache:
        low = run({"kind": "readme", "cache": cache, "exact": True, "representation": "low-rank"})
    with tempfile.TemporaryDirectory() as cache:
        cli_empty, cli_filled = cli_wall(cache), cli_wall(cache)
    with tempfile.TemporaryDirectory() as cache:
        bare_empty, bare_filled = cli_wall(cache, exact=False), cli_wall(cache, exact=False)
    aer = run({"kind": "aer"})
    return {"first_empty_cache_s": empty["first_s"], "first_filled_cache_s": filled["first_s"],
            "warm_s": empty["warm_s"], "import_s": empty["import_s"],
            "process_empty_cache_s": empty["process_s"], "process_filled_cache_s": filled["process_s"],
            "cli_empty_cache_s": cli_empty, "cli_filled_cache_s": cli_filled,
            "cli_without_exact_empty_cache_s": bare_empty, "cli_without_exact_filled_cache_s": bare_filled,
            "rank": empty["rank"], "discarded": empty["discarded"], "representation": empty["representation"],
            "trace_distance": empty["trace_distance"], "dtype": empty["dtype"],
            "aer_first_s": aer["double"]["first_s"], "aer_warm_s": aer["double"]["warm_s"],
            "aer_single_warm_s": aer["single"]["warm_s"],
            "warm_over_aer": empty["warm_s"] / aer["double"]["warm_s"],
            "low_rank": {k: low[k] for k in ("first_s", "warm_s", "rank", "discarded", "trace_distance")},
            "goals": {"first_empty_cache_s": 3.0, "first_filled_cache_s": 1.0, "warm_s": 0.3}}


def part_grad(max_rank: int) -> dict:
    # Depth 40 is compiled only: its backprop stores every step's factors (tens of GB at n = 16).
    rows = [run({"kind": "grad", "n": 16, "depth": d, "max_rank": max_rank, "run": d == 10},
                env={"JAX_PLATFORMS": "cpu"}) | {"depth": d} for d in (10, 40)]
    return {"rows": rows, "depth40_over_depth10": rows[1]["compile_s"] / rows[0]["compile_s"],
            "max_rank": max_rank, "goals": {"compile_s": 10.0, "depth40_over_depth10": 1.5}}


def part_sharded() -> dict:
    env = {"JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    sharded = run({"kind": "sharded", "devices": 8}, env=env)
    single = run({"kind": "sharded", "devices": 1}, env=env)
    return {"sharded_first_s": sharded["first_s"], "single_first_s": single["first_s"],
            "ratio": sharded["first_s"] / single["first_s"], "ops": sharded["ops"],
            "expval_sharded": sharded["expval"], "expval_single": single["expval"], "goals": {"ratio": 3.0}}


def part_widths() -> dict:
    cases = [("grid", False), ("grid", True), ("powers of two", True)]
    rows = [run({"kind": "widths", "n": 14, "policy": p, "full_gram": full}, env={"JAX_PLATFORMS": "cpu"})
            for p, full in cases]
    return {"rows": rows, "warm_speedup": rows[2]["warm_s"] / rows[1]["warm_s"],
            "first_speedup": rows[2]["first_s"] / rows[1]["first_s"],
            "half_gram_warm_speedup": rows[1]["warm_s"] / rows[0]["warm_s"]}


def part_dense() -> dict:
    env = {"JAX_PLATFORMS": "cpu"}
    rows = [run({"kind": "dense", "options": o}, env=env) for o in ("XLA defaults", "quick-compile")]
    aer = run({"kind": "dense_aer"}, env=env)
    return {"rows": rows + [aer], "over_aer_warm": rows[0]["warm_s"] / aer["warm_s"]}


def part_threads() -> dict:
    """Eager runs with the LAPACK limit on and off, a jitted gradient with OPENBLAS_NUM_THREADS=1
    and without, each in a fresh process; Aer on the n = 12 circuit in the same run."""
    env = {"JAX_PLATFORMS": "cpu"}
    rows = [run({"kind": "threads", "case": case, "limit": limit}, env=env)
            for case in THREAD_CASES for limit in (False, True)]
    rows += [run({"kind": "threads", "case": "jitted expval_fn n=12 depth 6 r=32", "limit": one},
                 env={**env, **({"OPENBLAS_NUM_THREADS": "1"} if one else {})}) for one in (False, True)]
    aer = run({"kind": "dense_aer"}, env=env)
    return {"rows": rows, "aer_n12": aer}


def part_fold() -> dict:
    """The cases of ``part_threads`` and a circuit with noise on its two-wire gates only, with
    gates folded into channels and fused into runs and without (``engine.build(fold=, fuse=)``),
    each in a fresh process, the LAPACK limit on."""
    env = {"JAX_PLATFORMS": "cpu", "OPENBLAS_NUM_THREADS": "1"}
    cases = [*THREAD_CASES, *FOLD_CASES, "jitted expval_fn n=12 depth 6 r=32"]
    rows = [run({"kind": "threads", "case": case, "limit": True, "fold": fold}, env=env)
            for case in cases for fold in (False, True)]
    return {"rows": rows, "aer_n12": run({"kind": "dense_aer"}, env=env)}


def part_gpu() -> dict:
    rows = [run({"kind": "gpu", "n": n, "r": r}) for n, r in ((16, 64), (20, 64), (24, 16))]
    return {"rows": rows, "goals": {"eager_over_jit": 1.5, "cold_s": 10.0}}


def _print(results: dict) -> None:
    if "readme" in results:
        r = results["readme"]
        print("\nREADME main job (10 wires, 268 ops), seconds")
        print(f"  first call, empty cache   {r['first_empty_cache_s']:7.2f}   (goal <= 3)")
        print(f"  first call, filled cache  {r['first_filled_cache_s']:7.2f}   (goal <= 1)")
        print(f"  warm                      {r['warm_s']:7.3f}   (goal <= 0.3)   Aer warm "
              f"{r['aer_warm_s']:.3f} (single precision {r['aer_single_warm_s']:.3f}), first "
              f"{r['aer_first_s']:.3f}")
        lo = r["low_rank"]
        print(f"  low-rank throughout: first {lo['first_s']:.2f}, warm {lo['warm_s']:.3f}, "
              f"rank {lo['rank']}, discarded {lo['discarded']:.3e} >= trace distance "
              f"{lo['trace_distance']:.3e}")
        print(f"  lretjax run (the README command, --exact), whole process: empty cache "
              f"{r['cli_empty_cache_s']:.2f}, filled {r['cli_filled_cache_s']:.2f} "
              f"(import {r['import_s']:.2f})")
        print(f"  the same without --exact: empty cache {r['cli_without_exact_empty_cache_s']:.2f}, "
              f"filled {r['cli_without_exact_filled_cache_s']:.2f}")
        print(f"  {r['representation']} at the end, rank {r['rank']}, discarded {r['discarded']:.3e} >= "
              f"trace distance {r['trace_distance']:.3e} ({r['dtype']})")
    if "grad" in results:
        g = results["grad"]
        print(f"\ngrad.expval_fn, n = 16, max_rank {g['max_rank']}, CPU, seconds")
        print("  depth   ops  fwd compile  grad compile  total (goal <= 10)  fwd run  grad run")
        for row in g["rows"]:
            runs = (f"{row['forward_run_s']:8.2f} {row['grad_run_s']:9.2f}" if "grad_run_s" in row
                    else "  (compiled only)")
            print(f"  {row['depth']:5d} {row['ops']:5d} {row['forward_compile_s']:12.2f} "
                  f"{row['grad_compile_s']:13.2f} {row['compile_s']:19.2f} {runs}")
        print(f"  depth 40 / depth 10 compile: {g['depth40_over_depth10']:.2f} (goal <= 1.5)")
    if "sharded" in results:
        s = results["sharded"]
        print(f"\nsharded first call, 8 CPU devices, {s['ops']} ops: {s['sharded_first_s']:.2f} s; "
              f"one device {s['single_first_s']:.2f} s; ratio {s['ratio']:.2f} (goal <= 3)")
    if "widths" in results:
        w = results["widths"]
        print("\neager widths, paper family n = 14, depth 8, epsilon 1e-4, seconds")
        print("  policy                      first    warm  rank  width  discarded  widths compiled")
        for row in w["rows"]:
            print(f"  {row['policy']:25s} {row['first_s']:7.2f} {row['warm_s']:7.2f} {row['rank']:5d} "
                  f"{row['width']:6d} {row['discarded']:10.3e}  {row['widths']}")
        print(f"  grid over powers of two (both full Gram): warm {w['warm_speedup']:.2f}x, "
              f"first call {w['first_speedup']:.2f}x; half Gram block over full: warm "
              f"{w['half_gram_warm_speedup']:.2f}x")
    if "dense" in results:
        print("\ndense representation, paper family n = 12, depth 8, complex64, seconds")
        for row in results["dense"]["rows"]:
            print(f"  {row['options']:15s} first {row['first_s']:7.2f}  warm {row['warm_s']:7.2f}")
        print(f"  lretjax (XLA defaults) / Aer, warm: {results['dense']['over_aer_warm']:.2f}")
    if "threads" in results:
        t = results["threads"]
        print("\nLAPACK threads (limit: the eager one-thread limit; jitted: OPENBLAS_NUM_THREADS=1), seconds")
        for row in t["rows"]:
            grad = (f"  value+grad first {row['grad_first_s']:6.2f} warm {row['grad_warm_s']:6.2f}"
                    if "grad_warm_s" in row else "")
            print(f"  {row['case']:36s} limit {str(row['limit']):5s} first {row['first_s']:6.2f} "
                  f"warm {row['warm_s']:6.2f}{grad}")
        aer = t["aer_n12"]
        print(f"  Aer, the n = 12 circuit: first {aer['first_s']:.2f}  warm {aer['warm_s']:.2f}")
    if "fold" in results:
        print("\ngates folded into channels and fused into runs (OPENBLAS_NUM_THREADS=1), seconds")
        for row in results["fold"]["rows"]:
            grad = (f"  value+grad first {row['grad_first_s']:6.2f} warm {row['grad_warm_s']:6.2f}"
                    if "grad_warm_s" in row else "")
            steps = f" {row['steps']}/{row['ops']} steps" if "steps" in row else ""
            print(f"  {row['case']:36s} fold {str(row['fold']):5s}{steps} first {row['first_s']:6.2f} "
                  f"warm {row['warm_s']:6.2f}{grad}")
        aer = results["fold"]["aer_n12"]
        print(f"  Aer, the n = 12 paper circuit: first {aer['first_s']:.2f}  warm {aer['warm_s']:.2f}")
    if "gpu" in results:
        print("\nGPU, paper family depth 10, epsilon 1e-4")
        print("   n   r   ops  cold s  eager s  jit s  eager/jit  copy pass ms  passes/op")
        for row in results["gpu"]["rows"]:
            print(f"  {row['n']:2d} {row['r']:3d} {row['ops']:5d} {row['cold_s']:7.2f} {row['eager_s']:8.3f} "
                  f"{row['jit_s']:6.3f} {row['eager_over_jit']:10.2f} {row['copy_pass_s'] * 1e3:13.3f} "
                  f"{row['passes_per_op']:10.1f}")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", nargs="+",
                    choices=("readme", "grad", "sharded", "widths", "dense", "threads", "fold", "gpu"))
    ap.add_argument("--grad-max-rank", type=int, default=16)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", help="JSON path (default benchmarks/results/engine_<machine>.json)")
    a = ap.parse_args(argv)
    if a.worker:
        worker(json.loads(a.worker))
        return {}
    import jax

    gpu = jax.default_backend() == "gpu"
    parts = a.parts or (["gpu"] if gpu else ["readme", "grad", "sharded"])
    meta = {"machine": platform.node(), "cores": os.cpu_count(), "python": platform.python_version(),
            "jax": jax.__version__, "backend": jax.default_backend(),
            "loadavg_start": list(os.getloadavg()), "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": " ".join(["python", "benchmarks/bench_engine.py", *(argv or sys.argv[1:])])}
    results: dict = {"meta": meta}
    for part in parts:
        results[part] = {"readme": part_readme, "sharded": part_sharded, "gpu": part_gpu,
                         "widths": part_widths, "dense": part_dense, "threads": part_threads,
                         "fold": part_fold, "grad": lambda: part_grad(a.grad_max_rank)}[part]()
        _print({part: results[part]})
    meta["loadavg_end"] = list(os.getloadavg())
    tag = jax.devices()[0].device_kind.replace(" ", "_") if gpu else (platform.node() or "machine")
    out = Path(a.out or HERE / "results" / f"engine_{tag}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    for d in filter(None, [os.environ.get("OUT")]):
        Path(d, out.name).write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")
    return results


if __name__ == "__main__":
    main()
