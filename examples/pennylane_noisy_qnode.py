"""The PennyLane device ``lretjax.mixed`` beside ``default.mixed``: a QNode with PennyLane's own
noise model (``qml.add_noise``), a mid-circuit measurement feeding a conditioned gate, an exact
expectation value and its gradient, and finite-shot probabilities.

    python examples/pennylane_noisy_qnode.py            # 20,000 shots
    python examples/pennylane_noisy_qnode.py --quick    # 2,000

Prints both devices' <Z0 Z2>, its gradient, and their probabilities of wires (0, 2) from shots.
"""

from __future__ import annotations

import argparse

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    import pennylane as qml

    shots = 2000 if a.quick else 20000
    fcond = qml.noise.op_in(["RX", "RY", "CNOT"])
    noise = qml.NoiseModel({fcond: qml.noise.partial_wires(qml.DepolarizingChannel, 0.02)})

    def body(theta):
        qml.RX(theta, wires=0)
        qml.RY(0.4, wires=1)
        qml.CNOT(wires=[0, 1])
        m = qml.measure(1)
        qml.cond(m, qml.RX)(0.9, wires=2)
        qml.CNOT(wires=[0, 2])

    out = {}
    for name in ("lretjax.mixed", "default.mixed"):
        dev = qml.device(name, wires=3)

        @qml.qnode(dev, interface="jax")
        def energy(theta):
            body(theta)
            return qml.expval(qml.Z(0) @ qml.Z(2))

        @qml.set_shots(shots)
        @qml.qnode(dev, interface="jax")
        def probs(theta):
            body(theta)
            return qml.probs(wires=[0, 2])

        energy, probs = qml.add_noise(energy, noise), qml.add_noise(probs, noise)
        theta = jax.numpy.asarray(0.7)
        out[name] = (float(energy(theta)), float(jax.grad(energy)(theta)), np.asarray(probs(theta)))
        e, g, p = out[name]
        print(f"{name:>14}: <Z0 Z2> = {e:.12f}, d/dtheta = {g:.12f}, probs({shots} shots) = {np.round(p, 4)}")
    return out


if __name__ == "__main__":
    main()
