"""lretjax as a drop-in for ``cirq.DensityMatrixSimulator``: teleportation with classically
controlled corrections and depolarizing noise, simulated by ``lretjax.cirq.Simulator`` beside
Cirq.

    python examples/cirq_noisy_teleport.py            # 20,000 repetitions
    python examples/cirq_noisy_teleport.py --quick    # 2,000

Prints the teleported qubit's Bloch vector from both simulators' final density matrices (the
measurement outcomes averaged over, by deferring them in Cirq), their largest difference, and
both simulators' frequency of reading 1 on the teleported qubit after undoing the prepared state.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)


def circuit(cirq, noisy: bool):
    a, b, c = cirq.LineQubit.range(3)
    prep = [cirq.rx(0.7)(a), cirq.rz(0.3)(a)]
    ops = [*prep, cirq.H(b), cirq.CNOT(b, c), cirq.CNOT(a, b), cirq.H(a),
           cirq.measure(a, key="ma"), cirq.measure(b, key="mb"),
           cirq.X(c).with_classical_controls("mb"), cirq.Z(c).with_classical_controls("ma")]
    body = cirq.Circuit(ops)
    if noisy:
        body = body.with_noise(cirq.depolarize(0.01))
    undo = cirq.Circuit([cirq.rz(-0.3)(c), cirq.rx(-0.7)(c), cirq.measure(c, key="out")])
    return body, body + undo, c


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    import cirq

    import lretjax.cirq as lc

    reps = 2000 if a.quick else 20000
    body, sampled, target = circuit(cirq, noisy=True)
    ours = lc.Simulator(seed=5)
    rho = ours.simulate(body).final_density_matrix
    deferred = cirq.defer_measurements(body)  # Cirq's final state averages over the outcomes this way
    ref = cirq.DensityMatrixSimulator(dtype=np.complex128).simulate(deferred).final_density_matrix
    paulis = [np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1, -1])]

    def bloch(r, qubits):
        """The target qubit's Bloch vector from a density matrix over ``qubits`` (sorted)."""
        k = len(qubits)
        red = cirq.partial_trace(np.asarray(r).reshape((2,) * (2 * k)), [qubits.index(target)])
        return np.array([np.trace(red @ p).real for p in paulis])

    ours_b = bloch(rho, sorted(body.all_qubits()))
    ref_b = bloch(ref, sorted(deferred.all_qubits()))
    f1 = ours.run(sampled, repetitions=reps).measurements["out"].mean()
    f2 = cirq.DensityMatrixSimulator(seed=5).run(sampled, repetitions=reps).measurements["out"].mean()
    print("teleported Bloch vector: lretjax", np.round(ours_b, 12), " Cirq", np.round(ref_b, 12))
    print(f"largest difference = {np.max(np.abs(ours_b - ref_b)):.2e}")
    print(f"P(out = 1) over {reps} repetitions: lretjax {f1:.4f}, Cirq {f2:.4f}")
    return {"ours": ours_b, "ref": ref_b, "f_ours": f1, "f_cirq": f2}


if __name__ == "__main__":
    main()
