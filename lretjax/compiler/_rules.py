"""Gate facts the passes share: commutation bases per wire, rotation families, angle arithmetic.

Angles may be numbers, concrete arrays, tracers or ``Param`` symbols. Arithmetic on them
never calls ``float`` on a tracer; a result is "concrete" only when every input was.
"""

from __future__ import annotations

import math
import numbers

import jax
import numpy as np

from ..circuit import GATE, Op, Param

_Z, _X, _Y = "Z", "X", "Y"
_ALL = frozenset((_Z, _X, _Y))
_NONE: frozenset = frozenset()

# For every gate, per wire, the Pauli bases in which it is block diagonal on that wire.
# Two ops commute when on every shared wire these sets intersect: each is then a sum of
# projectors on that wire's common basis times operators on disjoint wires.
BASES: dict[str, tuple[frozenset, ...]] = {
    "id": (_ALL,),
    **{g: (frozenset(_Z),) for g in ("z", "s", "sdg", "t", "tdg", "rz", "p")},
    **{g: (frozenset(_X),) for g in ("x", "sx", "sxdg", "rx")},
    **{g: (frozenset(_Y),) for g in ("y", "ry")},
    "cx": (frozenset(_Z), frozenset(_X)),
    "crx": (frozenset(_Z), frozenset(_X)),
    "cy": (frozenset(_Z), frozenset(_Y)),
    "cry": (frozenset(_Z), frozenset(_Y)),
    "ch": (frozenset(_Z), _NONE),
    **{g: (frozenset(_Z), frozenset(_Z)) for g in ("cz", "crz", "cp", "rzz")},
    "rxx": (frozenset(_X), frozenset(_X)),
    "ryy": (frozenset(_Y), frozenset(_Y)),
    "ccx": (frozenset(_Z), frozenset(_Z), frozenset(_X)),
    "cswap": (frozenset(_Z), _NONE, _NONE),
}


def wire_bases(op: Op) -> tuple[frozenset, ...]:
    """Per-wire commuting bases; empty sets (a barrier) for channels, user matrices, H, U3, SWAP."""
    if op.kind == GATE and op.name in BASES:
        return BASES[op.name]
    return (_NONE,) * len(op.wires)


def commute(a: Op, b: Op) -> bool:
    """Sufficient test that ``a`` and ``b`` commute (False when unsure)."""
    shared = set(a.wires) & set(b.wires)
    if not shared:
        return True
    ba, bb = wire_bases(a), wire_bases(b)
    for w in shared:
        if not ba[a.wires.index(w)] & bb[b.wires.index(w)]:
            return False
    return True


# One-wire rotation families, equal up to global phase: the angle of each named member.
_Z_NAMED = {"z": math.pi, "s": math.pi / 2, "sdg": -math.pi / 2, "t": math.pi / 4, "tdg": -math.pi / 4}
_X_NAMED = {"x": math.pi, "sx": math.pi / 2, "sxdg": -math.pi / 2}
_Y_NAMED = {"y": math.pi}
ONE_WIRE_FAMILY = {
    **{g: "Z" for g in (*_Z_NAMED, "rz", "p")},
    **{g: "X" for g in (*_X_NAMED, "rx")},
    **{g: "Y" for g in (*_Y_NAMED, "ry")},
}
_NAMED = {"Z": _Z_NAMED, "X": _X_NAMED, "Y": _Y_NAMED}
_ROTATION = {"Z": "rz", "X": "rx", "Y": "ry"}

# Two-wire rotations that add exactly (controlled ones) or up to global phase; symmetric ones
# may meet with their wires in either order. cz is cp(pi) exactly.
TWO_WIRE_FAMILY = {"cp": "cp", "cz": "cp", "crz": "crz", "crx": "crx", "cry": "cry",
                   "rzz": "rzz", "rxx": "rxx", "ryy": "ryy"}
SYMMETRIC = frozenset({"cp", "cz", "rzz", "rxx", "ryy", "swap"})
# Period of the angle after which the gate is the identity (up to global phase).
PERIOD = {"Z": 2 * math.pi, "X": 2 * math.pi, "Y": 2 * math.pi, "cp": 2 * math.pi,
          "rzz": 2 * math.pi, "rxx": 2 * math.pi, "ryy": 2 * math.pi,
          "crz": 4 * math.pi, "crx": 4 * math.pi, "cry": 4 * math.pi}
# Self-inverse gates; ccx may swap its controls and cswap its targets.
SELF_INVERSE = frozenset({"h", "cx", "cy", "ch", "swap", "ccx", "cswap"})


def is_concrete(x) -> bool:
    """A number or concrete array (not a tracer, not a symbol)."""
    return not isinstance(x, (jax.core.Tracer, Param))


def angle_of(op: Op):
    """The rotation angle of a family member (named members have a fixed angle)."""
    if op.params:
        return op.params[0]
    if op.name == "cz":
        return math.pi
    return _NAMED[ONE_WIRE_FAMILY[op.name]][op.name]


def add_angles(a, b):
    """``a + b`` for numbers, arrays, tracers and same-name symbols; None when not expressible."""
    pa, pb = isinstance(a, Param), isinstance(b, Param)
    if pa and pb:
        if a.name != b.name:
            return None
        return Param(a.name, a.coeff + b.coeff, a.offset + b.offset)
    if pa or pb:
        sym, num = (a, b) if pa else (b, a)
        if isinstance(num, jax.core.Tracer):
            return None
        return Param(sym.name, sym.coeff, sym.offset + float(np.asarray(num)))
    return a + b


def scale_angle(a, sign: int):
    return a if sign == 1 else -a


def is_zero_angle(a, period: float, atol: float = 1e-12) -> bool:
    """True only for a concrete angle that is 0 modulo ``period``."""
    if not is_concrete(a):
        return False
    v = float(np.asarray(a)) % period
    return min(v, period - v) <= atol


def _named_for(family: str, angle) -> str | None:
    if not isinstance(angle, numbers.Real) and not (is_concrete(angle) and np.ndim(angle) == 0):
        return None
    v = float(np.asarray(angle)) % (2 * math.pi)
    for name, a in _NAMED[family].items():
        if abs((v - a) % (2 * math.pi)) < 1e-12 or abs((v - a) % (2 * math.pi) - 2 * math.pi) < 1e-12:
            return name
    return None


def one_wire_op(family: str, angle, wire: int, names: tuple[str, ...]) -> Op:
    """The family member for ``angle``: a rotation if any input was one, else a named gate if it fits."""
    rot = _ROTATION[family]
    if family == "Z" and "rz" not in names and "p" in names:
        rot = "p"
    if all(n in _NAMED[family] for n in names):
        named = _named_for(family, angle)
        if named is not None:
            return Op(named, (wire,), (), GATE, checked=True)
        if family == "Z":
            rot = "p"
    return Op(rot, (wire,), (angle,), GATE, checked=True)


def two_wire_op(family: str, angle, wires: tuple[int, ...]) -> Op:
    if family == "cp" and is_concrete(angle) and is_zero_angle(add_angles(angle, -math.pi), 2 * math.pi):
        return Op("cz", wires, (), GATE, checked=True)
    return Op(family, wires, (angle,), GATE, checked=True)


def make_op(name: str, wires, params=()) -> Op:
    return Op(name, tuple(wires), tuple(params), GATE, checked=True)
