"""Exact (untruncated) noisy circuits: lretjax against Qiskit Aer's density-matrix method, in one run.

    python benchmarks/bench_exact.py            # the four circuits of the issue
    python benchmarks/bench_exact.py --quick    # smaller sizes (seconds)

Every circuit carries one-wire depolarizing noise (p = 1e-3) on each wire after every gate, built
for Aer as its users do (a NoiseModel on the gates; depolarizing_error(4p/3) is lretjax's
depolarizing(p)). lretjax runs in x64 with max_rank = 2^n and epsilon = 0: nothing is truncated,
and ``representation="auto"`` goes on with rho itself where that is cheaper. Aer runs in double
precision. Each side runs in its own subprocess: first call (compilation included) and the best of
two warm calls; the density matrices are compared entry by entry. Writes
benchmarks/results/exact_<machine>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
P = 1e-3


def qft(n: int):
    """H and controlled phases down the register, then the swaps that reverse it."""
    from lretjax import Circuit

    c = Circuit(n)
    for i in range(n):
        c = c.h(i)
        for j in range(i + 1, n):
            c = c.cp(np.pi / 2 ** (j - i), j, i)
    for i in range(n // 2):
        c = c.swap(i, n - 1 - i)
    return c


def brickwork(n: int, depth: int = 8, seed: int = 0):
    sys.path.insert(0, str(HERE))
    from families import lret_paper_circuit

    return lret_paper_circuit(n, depth, seed)


def ghz(n: int):
    from lretjax import Circuit

    c = Circuit(n).h(0)
    for i in range(n - 1):
        c = c.cx(i, i + 1)
    return c


def hea(n: int, layers: int = 3, seed: int = 1):
    """Hardware-efficient ansatz: RY, RZ on every wire, then a CX ladder, per layer."""
    from lretjax import Circuit

    rng = np.random.default_rng(seed)
    c = Circuit(n)
    for _ in range(layers):
        for w in range(n):
            c = c.ry(float(rng.uniform(0, np.pi)), w).rz(float(rng.uniform(0, 2 * np.pi)), w)
        for w in range(n - 1):
            c = c.cx(w, w + 1)
    return c


CASES = {"qft10": (qft, 10), "brickwork10": (brickwork, 10), "ghz12": (ghz, 12), "hea14": (hea, 14)}
QUICK = {"qft6": (qft, 6), "brickwork8": (brickwork, 8), "ghz8": (ghz, 8), "hea8": (hea, 8)}


def circuit_of(name: str):
    fn, n = {**CASES, **QUICK}[name]
    return fn(n)


def worker(spec: dict) -> None:
    name, tool = spec["case"], spec["tool"]
    gates = circuit_of(name)
    n = gates.num_wires
    if tool == "lretjax":
        import jax

        jax.config.update("jax_enable_x64", True)
        import lretjax as lj

        noisy = lj.NoiseModel().gate_noise("depolarizing", P).apply(gates)

        def run():
            st = lj.simulate(noisy, max_rank=2**n, epsilon=0.0)
            return st, np.asarray(lj.to_density_matrix(st))
    else:
        from qiskit_aer import AerSimulator
        from qiskit_aer.noise import NoiseModel, depolarizing_error

        from lretjax.io.qiskit import to_qiskit

        qc = to_qiskit(gates)
        qc.save_density_matrix()
        one = depolarizing_error(4 * P / 3, 1)
        model = NoiseModel()
        names_1 = sorted({op.name for op in gates.ops if len(op.wires) == 1})
        names_2 = sorted({op.name for op in gates.ops if len(op.wires) == 2})
        model.add_all_qubit_quantum_error(one, names_1)
        model.add_all_qubit_quantum_error(one.tensor(one), names_2)
        sim = AerSimulator(method="density_matrix", noise_model=model, precision="double")

        def run():
            rho = np.asarray(sim.run(qc, shots=1).result().data()["density_matrix"])
            axes = list(range(n))[::-1]  # Qiskit's qubit 0 is the low bit
            t = rho.reshape((2,) * (2 * n)).transpose(axes + [n + a for a in axes])
            return None, t.reshape(2**n, 2**n)

    t = time.perf_counter()
    state, rho = run()
    first = time.perf_counter() - t
    warm = []
    for _ in range(2):
        t = time.perf_counter()
        state, rho = run()
        warm.append(time.perf_counter() - t)
    np.save(spec["rho"], rho)
    out = {"first_s": first, "warm_s": min(warm), "ops": len(gates.ops)}
    if state is not None:
        out["representation"] = state.representation
    with open(spec["result"], "w") as f:
        json.dump(out, f)


def run_case(name: str, tool: str, tmp: str) -> tuple[dict, np.ndarray]:
    rho_path = os.path.join(tmp, f"{name}_{tool}.npy")
    res_path = os.path.join(tmp, f"{name}_{tool}.json")
    spec = {"case": name, "tool": tool, "rho": rho_path, "result": res_path}
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "JAX_PLATFORMS": "cpu"}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True,
                          text=True, timeout=3600, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} {tool}: {proc.stderr[-2000:]}")
    with open(res_path) as f:
        out = json.load(f)
    out["process_s"] = time.perf_counter() - t
    return out, np.load(rho_path)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cases", nargs="+")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    if a.worker:
        worker(json.loads(a.worker))
        return {}
    names = a.cases or list(QUICK if a.quick else CASES)
    meta = {"machine": platform.node(), "cores": os.cpu_count(), "loadavg_start": list(os.getloadavg()),
            "command": " ".join(["python", "benchmarks/bench_exact.py", *(argv or sys.argv[1:])]),
            "noise": f"depolarizing {P} after every gate", "lretjax": "x64, max_rank 2^n, epsilon 0",
            "aer": "density_matrix, double"}
    rows = []
    print(f"{'case':>12} {'ops':>4} {'lretjax first':>14} {'warm':>8} {'Aer first':>10} {'warm':>8} "
          f"{'ratio warm':>10} {'max |diff|':>10}  representation")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            lr, rho_lr = run_case(name, "lretjax", tmp)
            aer, rho_aer = run_case(name, "aer", tmp)
            diff = float(np.max(np.abs(rho_lr - rho_aer)))
            row = {"case": name, "lretjax": lr, "aer": aer, "ratio_warm": lr["warm_s"] / aer["warm_s"],
                   "ratio_first": lr["first_s"] / aer["first_s"], "max_abs_diff": diff}
            rows.append(row)
            print(f"{name:>12} {lr['ops']:4d} {lr['first_s']:14.2f} {lr['warm_s']:8.2f} "
                  f"{aer['first_s']:10.2f} {aer['warm_s']:8.2f} {row['ratio_warm']:10.2f} {diff:10.1e}  "
                  f"{lr.get('representation')}")
    meta["loadavg_end"] = list(os.getloadavg())
    tag = f"{platform.node() or 'machine'}{'_quick' if a.quick else ''}"
    out = Path(a.out or HERE / "results" / f"exact_{tag}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {out}")
    return {"meta": meta, "rows": rows}


if __name__ == "__main__":
    main()
