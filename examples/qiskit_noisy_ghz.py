"""lretjax as a drop-in for Qiskit Aer's density-matrix method: a noisy GHZ circuit on a fake
device's noise, sampled through ``LretBackend`` and estimated through ``EstimatorV2``, beside Aer.

    python examples/qiskit_noisy_ghz.py            # 5 qubits of FakeManilaV2
    python examples/qiskit_noisy_ghz.py --quick    # 3 qubits, fewer shots

Prints the counts of both simulators, their total variation distance, the expectation value of
Z...Z from lretjax's EstimatorV2 and from Aer's exact density matrix, and lretjax's discarded
weight (a bound on its trace distance to the exact state).
"""

from __future__ import annotations

import argparse

import jax

jax.config.update("jax_enable_x64", True)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    from qiskit import QuantumCircuit, transpile
    from qiskit.quantum_info import SparsePauliOp
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import NoiseModel
    from qiskit_ibm_runtime.fake_provider import FakeManilaV2

    from lretjax.qiskit import EstimatorV2, LretBackend

    n, shots = (3, 2000) if a.quick else (5, 20000)
    device = FakeManilaV2()
    ghz = QuantumCircuit(n)
    ghz.h(0)
    for q in range(n - 1):
        ghz.cx(q, q + 1)
    measured = ghz.copy()
    measured.measure_all()

    backend = LretBackend.from_backend(device, max_rank=None)
    job = backend.run(transpile(measured, backend, seed_transpiler=1), shots=shots, seed_simulator=3)
    ours = job.result()
    aer = AerSimulator(method="density_matrix", noise_model=NoiseModel.from_backend(device))
    theirs = aer.run(transpile(measured, aer, seed_transpiler=1), shots=shots, seed_simulator=3).result()
    c1, c2 = ours.get_counts(), theirs.get_counts()
    tvd = 0.5 * sum(abs(c1.get(k, 0) - c2.get(k, 0)) for k in set(c1) | set(c2)) / shots

    zz = SparsePauliOp("Z" * n)
    laid_out = transpile(ghz, backend, seed_transpiler=1)
    estimator = EstimatorV2(noise_model=NoiseModel.from_backend(device), max_rank=None)
    value = estimator.run([(laid_out, zz.apply_layout(laid_out.layout))]).result()[0]
    exact = laid_out.copy()
    exact.save_density_matrix()
    rho = aer.run(transpile(exact, aer, optimization_level=0)).result().data()["density_matrix"]
    aer_zz = float(rho.expectation_value(zz.apply_layout(laid_out.layout)).real)

    top = sorted(c1, key=c1.get, reverse=True)[:4]
    print(f"{n}-qubit GHZ, FakeManilaV2 noise, {shots} shots")
    print("lretjax counts:", {k: c1[k] for k in top})
    print("Aer counts:    ", {k: c2.get(k, 0) for k in top})
    print(f"total variation distance = {tvd:.4f}")
    print(f"<Z...Z>: lretjax EstimatorV2 = {float(value.data.evs):.12f}, Aer density matrix = {aer_zz:.12f}")
    print(f"lretjax discarded weight = {ours.results[0].metadata['discarded']:.3e}")
    return {"tvd": tvd, "evs": float(value.data.evs), "aer_evs": aer_zz}


if __name__ == "__main__":
    main()
