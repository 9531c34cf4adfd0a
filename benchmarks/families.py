"""Circuit families shared by the benchmark scripts."""

from __future__ import annotations

import numpy as np

from lretjax import Circuit, NoiseModel, Param


def lret_paper_circuit(num_wires: int, depth: int, seed: int = 0, symbolic: bool = False) -> Circuit:
    """Chen, Farquhar & Parrish (npj QI 7:61, 2021): per layer, a random RX/RY/RZ on every wire,
    then CZ on a brickwork of neighbouring pairs (offset alternating by layer).

    ``symbolic``: every angle a ``Param`` (t0, t1, ...), for gradients; the random angles are
    then the values ``paper_angles`` returns."""
    rng = np.random.default_rng(seed)
    c = Circuit(num_wires)
    k = 0
    for layer in range(depth):
        for w in range(num_wires):
            name, angle = ("rx", "ry", "rz")[rng.integers(3)], float(rng.uniform(0, 2 * np.pi))
            c = c.add(name, [w], Param(f"t{k}") if symbolic else angle)
            k += 1
        for w in range(layer % 2, num_wires - 1, 2):
            c = c.cz(w, w + 1)
    return c


def paper_angles(num_wires: int, depth: int, seed: int = 0) -> np.ndarray:
    """The angles ``lret_paper_circuit`` draws, in parameter order."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(depth):
        for _ in range(num_wires):
            rng.integers(3)
            out.append(rng.uniform(0, 2 * np.pi))
    return np.asarray(out)


def with_gate_noise(circuit: Circuit, channel: str, p: float) -> Circuit:
    """The paper's noise: a one-wire ``channel(p)`` after every gate on each wire it touched."""
    return NoiseModel().gate_noise(channel, p).apply(circuit)
