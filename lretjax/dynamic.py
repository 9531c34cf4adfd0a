"""Dynamic circuits lowered to static ones: measurements, resets and classical feed-forward as
ops the engine already runs.

``lower`` is a pure function Circuit -> Circuit plus a record of where each classical bit lives
at the end (the deferred-measurement principle, exact for every classical bit jointly):

- a reset is its Kraus channel (it already is one in the IR);
- a measurement whose bit nothing reads (overwritten before any condition or the end) is the
  dephasing channel on its wire, or nothing at all when no later op disturbs the wire;
- a measurement whose bit is read (by a condition, or at the end) is copied by a CNOT onto a
  fresh ancilla wire, which then holds the bit, classically: no noise ever reaches it. When no
  later op disturbs the measured wire (a later measurement does not), the bit is read from
  the wire itself and costs nothing;
- a readout error (a measurement's 2x2 confusion ``C[true, read]``) is a classical channel on
  the bit's ancilla, so conditions see the bit as read, as on hardware and in Aer;
- an op conditioned on bits is the op controlled by the wires that hold them: a unitary
  ``(1 - P) + P (x) U`` or a channel with Kraus set ``{P (x) K_i} + {(1 - P) (x) I}``, where ``P``
  projects the control wires on the outcomes that satisfy the condition. Bits never written
  read 0, so conditions on them are decided here.

The joint distribution of all classical bits is the marginal of the final state over the
wires in ``bit_wires`` (``lretjax.classical`` reads it).

    >>> from lretjax import Circuit
    >>> c = Circuit(2, cregs={"c": 1}).h(0).measure(0, 0).x(0).c_if("c", 1, "x", 1)
    >>> low = lower(c)
    >>> low.circuit.num_wires, low.bit_wires     # the bit moved to ancilla wire 2
    (3, (2,))
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .circuit import CHANNEL, KRAUS, MEASURE, UNITARY, Circuit, Condition, Op

__all__ = ["Lowered", "lower", "is_mid_circuit"]


@dataclass(frozen=True)
class Lowered:
    """A dynamic circuit lowered to a static one.

    Attributes:
      circuit: the static circuit to simulate: the original wires first, then the ancillas.
      bit_wires: for each classical bit, the wire holding its final value (None: never
        written, it reads 0).
      num_wires: wires of the original circuit (the others are ancillas holding bits).
      cregs: the original circuit's classical registers.
      confusions: ``(bit, C)`` readout errors left to the readers: those of bits read only at
        the end from a wire nothing disturbs afterwards (no ancilla needed for them).
    """

    circuit: Circuit
    bit_wires: tuple[int | None, ...]
    num_wires: int
    cregs: tuple[tuple[str, int], ...]
    confusions: tuple = ()

    @property
    def ancillas(self) -> int:
        return self.circuit.num_wires - self.num_wires

    def register_bits(self, name: str) -> tuple[int, ...]:
        """The bits of register ``name``, least significant first."""
        return Circuit(1, cregs=self.cregs).register_bits(name)


def is_mid_circuit(ops) -> bool:
    """Whether ops need classical bits during the run: a condition, or a measured wire that a
    later op (other than another measurement) acts on. Otherwise every measurement can be
    read at the end, which the static front doors do."""
    measured: set[int] = set()
    for op in ops:
        if op.condition is not None:
            return True
        if op.kind == MEASURE:
            measured.add(op.wires[0])
        elif measured.intersection(op.wires):
            return True
    return False


def _concrete(*xs) -> bool:
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(xs))


def _analyse(ops, num_bits: int):
    """For each measurement (by op index): is its bit read later, by a condition, is its wire
    disturbed later."""
    state = ["end"] * num_bits  # going backwards: the end reads every bit
    disturbed: set[int] = set()
    used: dict[int, bool] = {}
    moved: dict[int, bool] = {}
    conditioned: dict[int, bool] = {}
    for i in range(len(ops) - 1, -1, -1):
        op = ops[i]
        if op.kind == MEASURE:
            (q,), (c,) = op.wires, op.clbits
            used[i] = state[c] != "overwritten"
            conditioned[i] = state[c] == "read"
            moved[i] = q in disturbed
            state[c] = "overwritten"
            continue
        disturbed.update(op.wires)
        if op.condition is not None:
            for b in op.condition.bits:
                state[b] = "read"
    return used, moved, conditioned


def _projector(condition: Condition, sources) -> tuple[tuple[int, ...], np.ndarray] | bool:
    """The control wires and the 0/1 diagonal of P over their outcomes (first wire = high bit),
    or True/False when the condition is decided without any wire (bits never written)."""
    want: dict[int, int] = {}
    constant_ok = True
    for k, b in enumerate(condition.bits):
        v = (condition.value >> k) & 1
        w = sources[b]
        if w is None:
            constant_ok &= v == 0
        elif want.setdefault(w, v) != v:
            constant_ok = False  # one wire holds two bits that must differ: never equal
    if not constant_ok:
        return not condition.equal
    if not want:
        return condition.equal
    wires = tuple(want)
    k = len(wires)
    idx = np.arange(2**k)
    match = np.ones(2**k, dtype=bool)
    for j, w in enumerate(wires):
        match &= ((idx >> (k - 1 - j)) & 1) == want[w]
    p = match if condition.equal else ~match
    if p.all():
        return True
    return wires, p.astype(float)


def _controlled(op: Op, wires: tuple[int, ...], p: np.ndarray) -> Op:
    """``op`` acting where the control wires' outcomes have p = 1."""
    all_wires = wires + op.wires
    if op.kind in (CHANNEL, KRAUS):
        ks = op.kraus()
        xp = np if _concrete(ks) else jnp
        ks = xp.asarray(np.asarray(ks) if xp is np else ks)
        d = ks.shape[-1]
        on = [xp.kron(xp.diag(p), k) for k in ks]
        off = xp.kron(xp.diag(1.0 - p), xp.eye(d))
        return Op("kraus", all_wires, (xp.stack([*on, off]).astype(complex),), KRAUS, checked=True)
    u = op.matrix()
    xp = np if _concrete(u) else jnp
    u = np.asarray(u, dtype=complex) if xp is np else u
    d = u.shape[-1]
    m = xp.kron(xp.diag(1.0 - p), xp.eye(d)) + xp.kron(xp.diag(p), u)
    return Op("unitary", all_wires, (m,), UNITARY, checked=True)


def _readout(confusion) -> np.ndarray:
    """Kraus operators of a classical readout error C[true, read] on a bit's wire."""
    xp = np if _concrete(confusion) else jnp
    c = xp.asarray(confusion, dtype=float)
    ks = []
    for t in range(2):
        for m in range(2):
            e = np.zeros((2, 2))
            e[m, t] = 1.0
            ks.append(xp.sqrt(xp.clip(c[t, m], 0.0, None)) * e)
    return xp.stack(ks).astype(complex)


def _undisturbed(ops) -> list[int]:
    """Measured wires that nothing acts on after their last measurement."""
    last: dict[int, bool] = {}
    for op in ops:
        if op.kind == MEASURE:
            last[op.wires[0]] = True
        else:
            for w in op.wires:
                if w in last:
                    last[w] = False
    return [w for w, clean in last.items() if clean]


def lower(circuit: Circuit, *, post_measurement: bool = True) -> Lowered:
    """The static circuit that a dynamic ``circuit`` is, and where each classical bit ends up.

    A circuit without measurements or conditions comes back unchanged (no bits).

    ``post_measurement``: a measured wire that nothing acts on afterwards keeps its coherences
    through the lowering (its bit is read from the wire itself, or the measurement dropped);
    with True (the default) it is dephased at the end, so the final state is the state after
    the measurements (what follows them on that wire is diagonal, so the end is the same as right
    after). False when only the classical bits are read: their distribution is the same either
    way, and the dephasing channels cost a truncation each.
    """
    if not isinstance(circuit, Circuit):
        from .errors import CircuitError

        raise CircuitError(f"lower expects a lretjax.Circuit, got {type(circuit).__name__}")
    n, ops = circuit.num_wires, circuit.ops
    used, moved, conditioned = _analyse(ops, circuit.num_clbits)
    confusions: dict[int, object] = {}
    sources: list[int | None] = [None] * circuit.num_clbits
    out: list[Op] = []
    ancilla = n
    for i, op in enumerate(ops):
        if op.kind == MEASURE:
            (q,), (c,) = op.wires, op.clbits
            noisy = bool(op.params)
            if not used[i]:
                if moved[i]:
                    out.append(Op("phase_flip", (q,), (0.5,), CHANNEL, checked=True))
                continue
            confusions.pop(c, None)
            if noisy and not moved[i] and not conditioned[i]:
                sources[c] = q  # read at the end only: the reader applies the readout error
                confusions[c] = op.params[0]
            elif moved[i] or noisy:
                out.append(Op("cx", (q, ancilla), (), checked=True))
                if noisy:
                    out.append(Op("kraus", (ancilla,), (_readout(op.params[0]),), KRAUS, checked=True))
                sources[c] = ancilla
                ancilla += 1
            else:
                sources[c] = q
            continue
        if op.condition is None:
            out.append(op)
            continue
        plain = Op(op.name, op.wires, op.params, op.kind, checked=True)
        ctrl = _projector(op.condition, sources)
        if ctrl is True:
            out.append(plain)
        elif ctrl is not False:
            out.append(_controlled(plain, *ctrl))
    if post_measurement:
        out += [Op("phase_flip", (w,), (0.5,), CHANNEL, checked=True) for w in _undisturbed(ops)]
    return Lowered(Circuit(ancilla, out), tuple(sources), n, circuit.cregs, tuple(confusions.items()))
