"""Gate statistics of a circuit: counts by name and kind, depth, two-wire count."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..circuit import Circuit


@dataclass(frozen=True)
class CircuitStats:
    """What ``analyze`` reports about a circuit.

    Attributes:
      num_wires: wires of the circuit.
      num_ops: every op, gates and channels together.
      num_gates: unitary ops (named gates and user unitaries).
      num_channels: noise ops (named channels and user Kraus sets).
      two_wire: unitary ops on exactly two wires.
      multi_wire: unitary ops on three or more wires.
      depth: layers of ops when every op waits for the ops before it on its wires.
      by_name: op count per name (``"cx"``, ``"rz"``, ``"unitary"``, ``"depolarizing"``, ...).
      by_kind: op count per kind (``"gate"``, ``"channel"``, ``"unitary"``, ``"kraus"``).
    """

    num_wires: int
    num_ops: int
    num_gates: int
    num_channels: int
    two_wire: int
    multi_wire: int
    depth: int
    by_name: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)


def analyze(circuit: Circuit) -> CircuitStats:
    """Count the ops of ``circuit`` by name and kind and measure its depth."""
    level = [0] * circuit.num_wires
    names: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    two = multi = gates = 0
    for op in circuit.ops:
        names[op.name] += 1
        kinds[op.kind] += 1
        if not op.is_channel:
            gates += 1
            two += len(op.wires) == 2
            multi += len(op.wires) > 2
        d = 1 + max(level[w] for w in op.wires)
        for w in op.wires:
            level[w] = d
    return CircuitStats(
        num_wires=circuit.num_wires,
        num_ops=len(circuit.ops),
        num_gates=gates,
        num_channels=len(circuit.ops) - gates,
        two_wire=two,
        multi_wire=multi,
        depth=max(level, default=0),
        by_name=dict(names),
        by_kind=dict(kinds),
    )
