"""Cancellation of inverse pairs and merging of rotations, across the gates they commute with.

Each gate looks forward along its wires for a partner (its inverse, or a rotation about the
same axis on the same wires), passing over every gate it commutes with (``_rules.commute``:
diagonal gates through CX controls, X-type gates through CX targets, ...). Channels, user
matrices and unknown gates commute with nothing, so no gate ever moves across noise.
"""

from __future__ import annotations

from ..circuit import Circuit, Op, _from_trusted
from ._rules import (
    ONE_WIRE_FAMILY,
    PERIOD,
    SELF_INVERSE,
    SYMMETRIC,
    TWO_WIRE_FAMILY,
    add_angles,
    angle_of,
    commute,
    is_zero_angle,
    one_wire_op,
    two_wire_op,
)

# How far along a wire a gate may travel looking for its partner; bounds the pass to
# O(ops * window) on long circuits while catching every pair that sits within reach.
WINDOW = 256


def _family(op: Op):
    if op.kind != "gate":
        return None
    if len(op.wires) == 1:
        return ONE_WIRE_FAMILY.get(op.name)
    return TWO_WIRE_FAMILY.get(op.name)


def _same_wires(a: Op, b: Op, symmetric: bool) -> bool:
    if a.wires == b.wires:
        return True
    if symmetric:
        return sorted(a.wires) == sorted(b.wires)
    return False


def _self_inverse_pair(a: Op, b: Op) -> bool:
    if a.kind != "gate" or b.kind != "gate" or a.name != b.name or a.name not in SELF_INVERSE:
        return False
    if a.wires == b.wires:
        return True
    if a.name in SYMMETRIC:
        return sorted(a.wires) == sorted(b.wires)
    if a.name == "ccx":
        return a.wires[2] == b.wires[2] and sorted(a.wires[:2]) == sorted(b.wires[:2])
    if a.name == "cswap":
        return a.wires[0] == b.wires[0] and sorted(a.wires[1:]) == sorted(b.wires[1:])
    return False


def combine(a: Op, b: Op):
    """``a`` then ``b`` as ops (up to global phase): ``()`` if they cancel, None if they don't pair."""
    if _self_inverse_pair(a, b):
        return ()
    fa, fb = _family(a), _family(b)
    if fa is None or fa != fb:
        return None
    symmetric = a.name in SYMMETRIC and b.name in SYMMETRIC
    if not _same_wires(a, b, symmetric):
        return None
    total = add_angles(angle_of(a), angle_of(b))
    if total is None:
        return None
    if is_zero_angle(total, PERIOD[fa]):
        return ()
    if len(a.wires) == 1:
        return (one_wire_op(fa, total, b.wires[0], (a.name, b.name)),)
    return (two_wire_op(fa, total, b.wires),)


def _pairable(op: Op) -> bool:
    return op.kind == "gate" and (op.name in SELF_INVERSE or _family(op) is not None)


def cancel_and_merge(circuit: Circuit, *, window: int = WINDOW) -> Circuit:
    """Cancel inverse pairs and merge same-axis rotations, commuting gates past each other.

    Merged angles are sums of the original parameters (jnp expressions when traced); a pair is
    dropped as the identity only when its summed angle is concrete.
    """
    ops: list[Op | None] = list(circuit.ops)
    on_wire: dict[int, list[int]] = {}
    where: list[dict[int, int]] = []
    for i, op in enumerate(ops):
        pos = {}
        for w in op.wires:
            seq = on_wire.setdefault(w, [])
            pos[w] = len(seq)
            seq.append(i)
        where.append(pos)

    for i in range(len(ops)):
        g = ops[i]
        if g is None or not _pairable(g):
            continue
        stop = None
        for w in g.wires:
            seq, k, steps, found = on_wire[w], where[i][w] + 1, 0, None
            while k < len(seq) and steps < window:
                j = seq[k]
                h = ops[j]
                k += 1
                if h is None:
                    continue
                steps += 1
                if combine(g, h) is not None:
                    found = j
                    break
                if not commute(g, h):
                    break
            if found is None or (stop is not None and found != stop):
                stop = None
                break
            stop = found
        if stop is None:
            continue
        merged = combine(g, ops[stop])
        ops[i] = None
        ops[stop] = merged[0] if merged else None
    return _from_trusted(circuit.num_wires, tuple(op for op in ops if op is not None))


def remove_identities(circuit: Circuit) -> Circuit:
    """Drop ``id`` gates and rotations whose concrete angle is 0 modulo their period."""
    kept = []
    for op in circuit.ops:
        if op.kind == "gate":
            if op.name == "id":
                continue
            fam = _family(op)
            if fam is not None and op.params and is_zero_angle(op.params[0], PERIOD[fam]):
                continue
        kept.append(op)
    return _from_trusted(circuit.num_wires, tuple(kept))
