"""Rotation merging through CX networks by phase polynomials (Nam, Ross, Su, Childs, Maslov 2018).

Every wire carries an affine parity of path variables: CX(c, t) adds the control's parity to
the target's, X and Y flip its constant, SWAP exchanges two wires, diagonal gates leave values
alone, and any other gate gives its wires fresh variables (the sum-over-paths picture). A Z
rotation contributes a phase that depends only on the parity of its wire, so two Z rotations
(or RZZ, on the parity of its pair) whose parities match are one term of the phase polynomial:
the later is removed and its angle added to the earlier, with the sign of the constants.
Channels end every term (no rotation ever merges across noise).
"""

from __future__ import annotations

from ..circuit import Circuit, Op, _from_trusted
from ._rules import (
    PERIOD,
    add_angles,
    angle_of,
    is_zero_angle,
    make_op,
    one_wire_op,
    scale_angle,
)

_Z_TERMS = frozenset({"z", "s", "sdg", "t", "tdg", "rz", "p"})
_DIAGONAL_KEEP = frozenset({"id", "cz", "crz", "cp"})


def merge_phases(circuit: Circuit) -> Circuit:
    """Merge Z rotations (and RZZ) that act on the same parity anywhere in a CX/X/diagonal region."""
    n = circuit.num_wires
    mask = [1 << w for w in range(n)]
    const = [0] * n
    fresh = n
    ops: list[Op | None] = list(circuit.ops)
    table: dict[int, tuple[int, int]] = {}  # parity mask -> (index of the term's op, its sign)

    for i, op in enumerate(circuit.ops):
        name = op.name if op.kind == "gate" else None
        if op.is_channel:
            table.clear()
            for w in op.wires:
                mask[w], const[w], fresh = 1 << fresh, 0, fresh + 1
            continue
        if name in _Z_TERMS or name == "rzz":
            if name == "rzz":
                a, b = op.wires
                m, c = mask[a] ^ mask[b], const[a] ^ const[b]
            else:
                m, c = mask[op.wires[0]], const[op.wires[0]]
            sign = -1 if c else 1
            if m in table:
                j, sj = table[m]
                rep = ops[j]
                total = add_angles(angle_of(rep), scale_angle(angle_of(op), sj * sign))
                if total is not None:
                    ops[i] = None
                    if is_zero_angle(total, PERIOD["Z"]):
                        ops[j] = None
                        del table[m]
                    elif rep.name == "rzz":
                        ops[j] = make_op("rzz", rep.wires, (total,))
                    else:
                        names = (rep.name, op.name) if op.name != "rzz" else (rep.name, "rz")
                        ops[j] = one_wire_op("Z", total, rep.wires[0], names)
                    continue
            else:
                table[m] = (i, sign)
            continue
        if name == "cx":
            c, t = op.wires
            mask[t] ^= mask[c]
            const[t] ^= const[c]
        elif name in ("x", "y"):
            const[op.wires[0]] ^= 1
        elif name == "swap":
            a, b = op.wires
            mask[a], mask[b] = mask[b], mask[a]
            const[a], const[b] = const[b], const[a]
        elif name in _DIAGONAL_KEEP:
            pass
        else:
            for w in op.wires:
                mask[w], const[w], fresh = 1 << fresh, 0, fresh + 1
    return _from_trusted(circuit.num_wires, tuple(op for op in ops if op is not None))
