"""Rewrite gates into smaller ones: three-wire gates into one- and two-wire gates, SWAP into CX."""

from __future__ import annotations

from ..circuit import Circuit, Op, _from_trusted
from ..errors import CircuitError
from ._rules import make_op


def _ccx(a: int, b: int, t: int) -> list[Op]:
    """Toffoli in 6 CX and 7 T/T-dagger (Nielsen and Chuang, fig. 4.9)."""
    g = [("h", t), ("cx", b, t), ("tdg", t), ("cx", a, t), ("t", t), ("cx", b, t), ("tdg", t),
         ("cx", a, t), ("t", b), ("t", t), ("h", t), ("cx", a, b), ("t", a), ("tdg", b), ("cx", a, b)]
    return [make_op(x[0], x[1:]) for x in g]


def decompose_multi_wire(circuit: Circuit) -> Circuit:
    """Rewrite CCX and CSWAP into one- and two-wire gates; other ops on 3+ wires are an error."""
    out: list[Op] = []
    for op in circuit.ops:
        if len(op.wires) <= 2:
            out.append(op)
        elif op.kind == "gate" and op.name == "ccx":
            out.extend(_ccx(*op.wires))
        elif op.kind == "gate" and op.name == "cswap":
            c, a, b = op.wires
            out.append(make_op("cx", (b, a)))
            out.extend(_ccx(c, a, b))
            out.append(make_op("cx", (b, a)))
        else:
            raise CircuitError(
                f"{op!r} acts on {len(op.wires)} wires; routing needs ops on at most two wires "
                "(decompose it first)"
            )
    return _from_trusted(circuit.num_wires, tuple(out))


def decompose_swaps(circuit: Circuit) -> Circuit:
    """Rewrite every SWAP as three CX (the form hardware runs)."""
    out: list[Op] = []
    for op in circuit.ops:
        if op.kind == "gate" and op.name == "swap":
            a, b = op.wires
            out += [make_op("cx", (a, b)), make_op("cx", (b, a)), make_op("cx", (a, b))]
        else:
            out.append(op)
    return _from_trusted(circuit.num_wires, tuple(out))
