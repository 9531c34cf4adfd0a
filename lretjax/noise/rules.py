"""Noise rules as data: which channel follows which gates, and which lands on idle wires.

``NoiseModel`` holds tuples of these; the Qiskit reader builds them too, so they sit below both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from ..channels import CHANNELS
from ..circuit import MEASURE

KRAUS = "kraus"

# Ops other than gates that a rule may name, with their widths: a channel follows a reset and
# precedes a measurement (where Qiskit Aer applies its quantum errors on them).
NAMED_OPS = {"reset": 1, MEASURE: 1}


def is_named_op(op) -> bool:
    """A reset or a measurement: an op that only rules naming it (``NAMED_OPS``) touch."""
    return op.kind == MEASURE or (op.kind == "channel" and op.name in NAMED_OPS)


def _concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _fmt(p) -> str:
    if isinstance(p, (np.ndarray, jax.Array)) and np.ndim(p) > 0:
        return f"<{'x'.join(map(str, np.shape(p)))} array>"
    try:
        return f"{float(p):.4g}"
    except (TypeError, jax.errors.ConcretizationTypeError):
        return "<traced>"


@dataclass(frozen=True, eq=False)
class GateNoise:
    """Attach ``channel(*params)`` after matching gates (before a matching measurement).

    Attributes:
      channel: a name in ``CHANNELS``, or ``"kraus"`` with ``params = (stacked (m, d, d) Kraus,)``.
      params: channel parameters (numbers or traced arrays).
      gates: canonical gate names it follows; ``None`` means every gate (and user unitary).
        ``"reset"`` and ``"measure"`` (``NAMED_OPS``) name those ops, which no other rule touches.
      gate_wires: if set, only gates acting on exactly these wires, in this order (Qiskit's
        per-qubit errors); the channel then acts on the gate's wires.
      wires: if set, a one-wire channel lands only on these of the gate's wires, and a wider
        channel only follows gates all of whose wires are in it.
      fallback: apply only where no per-wire rule (one with ``gate_wires``) for this gate
        matched: Qiskit's all-qubit errors, which its per-qubit errors override.
    """

    channel: str
    params: tuple[Any, ...]
    gates: tuple[str, ...] | None = None
    gate_wires: tuple[int, ...] | None = None
    wires: frozenset[int] | None = None
    fallback: bool = False

    @property
    def channel_wires(self) -> int:
        if self.channel == KRAUS:
            return int(round(math.log2(np.shape(self.params[0])[-1])))
        return CHANNELS[self.channel].num_wires

    def placements(self, op) -> list[tuple[int, ...]]:
        """Wire tuples on which this rule puts its channel at ``op``: after it, or before it for a
        measurement (empty if it does not match)."""
        if is_named_op(op):  # Qiskit's errors on resets and measurements
            if self.gates is None or op.name not in self.gates:
                return []
        elif op.kind not in ("gate", "unitary"):
            return []
        elif self.gates is not None and (op.kind != "gate" or op.name not in self.gates):
            return []
        if self.gate_wires is not None and tuple(op.wires) != self.gate_wires:
            return []
        k = self.channel_wires
        if k == 1:
            return [(w,) for w in op.wires if self.wires is None or w in self.wires]
        if k == len(op.wires) and (self.wires is None or set(op.wires) <= self.wires):
            return [tuple(op.wires)]
        if k < len(op.wires) and self.gate_wires is not None:
            # A Qiskit error on fewer qubits than its gate acts on the gate's leading qubits.
            return [tuple(op.wires[:k])]
        return []

    def __repr__(self) -> str:
        what = "every gate" if self.gates is None else "/".join(g for g in self.gates if g != MEASURE)
        if self.gates is not None and MEASURE in self.gates:
            what = f"after {what}, before measure" if what else "before measure"
        else:
            what = f"after {what}"
        if self.gate_wires is not None:
            what += f"{list(self.gate_wires)}"
        if self.wires is not None:
            what += f" on wires {sorted(self.wires)}"
        if self.fallback:
            what += " (unless a specific rule matched)"
        return f"{what}: {_channel_repr(self.channel, self.params)}"


@dataclass(frozen=True, eq=False)
class IdleNoise:
    """Attach ``channel(*params)`` to each wire (of ``wires``, or all) left idle in a moment."""

    channel: str
    params: tuple[Any, ...]
    wires: frozenset[int] | None = None

    def __repr__(self) -> str:
        where = "any wire" if self.wires is None else f"wires {sorted(self.wires)}"
        return f"idle {where}: {_channel_repr(self.channel, self.params)}"


def _channel_repr(channel: str, params) -> str:
    if channel == KRAUS:
        k = np.shape(params[0])
        return f"kraus({k[0]} operators on {int(round(math.log2(k[-1])))} wire(s))"
    return f"{channel}({', '.join(_fmt(p) for p in params)})" if params else channel
