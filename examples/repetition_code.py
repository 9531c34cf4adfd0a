"""A 3-qubit bit-flip repetition code: syndrome cycles with ancilla reset and feed-forward, under
the noise of a Qiskit fake device (FakeManilaV2: gate, reset and readout errors), simulated
exactly with mid-circuit measurement (lretjax.classical).

    python examples/repetition_code.py            # 3 cycles
    python examples/repetition_code.py --quick    # 1 cycle
"""

from __future__ import annotations

import argparse

import jax

from lretjax import Circuit, NoiseModel, classical

jax.config.update("jax_enable_x64", True)


def cycle_circuit(cycles: int, flip: float) -> Circuit:
    """Data wires 0-2 (encoded |000>, then a coherent flip of wire 1), ancillas 3-4; after each
    syndrome measurement the ancillas are reset; the last syndrome drives the correction."""
    regs = {f"s{k}": 2 for k in range(cycles)} | {"data": 3}
    c = Circuit(5, cregs=regs).rx(flip, 1)
    for k in range(cycles):
        c = c.cx(0, 3).cx(1, 3).cx(1, 4).cx(2, 4)
        c = c.measure(3, (f"s{k}", 0)).measure(4, (f"s{k}", 1)).reset(3).reset(4)
    last = f"s{cycles - 1}"
    c = c.c_if(last, 1, "x", 0).c_if(last, 3, "x", 1).c_if(last, 2, "x", 2)
    for w in range(3):
        c = c.measure(w, ("data", w))
    return c


def device_noise() -> NoiseModel:
    try:
        from qiskit_ibm_runtime.fake_provider import FakeManilaV2

        return NoiseModel.from_backend(FakeManilaV2(), qubits=[0, 1, 2, 3, 4])
    except ImportError:  # without Qiskit: a generic model of the same kind
        return (NoiseModel().gate_noise("depolarizing", 1e-3).gate_noise("depolarizing2", 1e-2, gates=["cx"])
                .readout_error(0.02, 0.04))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="one cycle instead of three")
    ap.add_argument("--flip", type=float, default=0.6, help="angle of the coherent error on wire 1")
    args = ap.parse_args(argv)
    cycles = 1 if args.quick else 3
    circuit = cycle_circuit(cycles, args.flip)
    model = device_noise()
    for label, noise in (("ideal", None), ("device noise", model)):
        res = classical.run(circuit, noise=noise, representation="dense")
        probs = classical.register_probabilities(res)
        ok = probs["data"][0]
        print(f"{label}: {cycles} cycle(s), {res.lowered.circuit.num_wires} wires after lowering, "
              f"P(data = 000 after correction) = {ok:.6f}")
        for k in range(cycles):
            p = probs[f"s{k}"]
            print(f"  syndrome s{k}: " + ", ".join(f"{v:02b}: {p[v]:.4f}" for v in range(4)))
        top = list(classical.counts(res, 1000, jax.random.key(0)).items())[:3]
        print(f"  most frequent of 1000 shots: {top}")


if __name__ == "__main__":
    main()
