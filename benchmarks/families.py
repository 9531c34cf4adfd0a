"""Circuit families shared by the benchmark scripts."""

from __future__ import annotations

import numpy as np

from lretjax import Circuit, NoiseModel


def lret_paper_circuit(num_wires: int, depth: int, seed: int = 0) -> Circuit:
    """Chen, Farquhar & Parrish (npj QI 7:61, 2021): per layer, a random RX/RY/RZ on every wire,
    then CZ on a brickwork of neighbouring pairs (offset alternating by layer)."""
    rng = np.random.default_rng(seed)
    c = Circuit(num_wires)
    for layer in range(depth):
        for w in range(num_wires):
            c = c.add(("rx", "ry", "rz")[rng.integers(3)], [w], float(rng.uniform(0, 2 * np.pi)))
        for w in range(layer % 2, num_wires - 1, 2):
            c = c.cz(w, w + 1)
    return c


def with_gate_noise(circuit: Circuit, channel: str, p: float) -> Circuit:
    """The paper's noise: a one-wire ``channel(p)`` after every gate on each wire it touched."""
    return NoiseModel().gate_noise(channel, p).apply(circuit)
