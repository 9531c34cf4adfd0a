"""Qiskit circuits to and from lretjax circuits (Qiskit is imported only when these run).

Bit order is converted here and nowhere else, as in :mod:`lretjax.noise.qiskit`: Qiskit qubit
``q[i]`` is lretjax wire ``i`` and named gates keep their meaning wire for wire (``cx`` on
``[c, t]``). Only matrices change: a Qiskit matrix on qubits ``(q0, q1, ...)`` has ``q0`` as its
least significant bit, so it is the lretjax matrix on wires ``(..., q1, q0)``. Probabilities
therefore come out indexed with ``q[0]`` as the most significant bit, the reverse of Qiskit's
bitstrings.

Symbolic parameters cross both ways: a Qiskit ``Parameter`` (or an affine expression of one,
``2*theta + 1``) becomes a :class:`~lretjax.Param`, and back.

    >>> from qiskit import QuantumCircuit
    >>> from lretjax.io.qiskit import from_qiskit
    >>> qc = QuantumCircuit(2); _ = qc.h(0); _ = qc.cx(0, 1)
    >>> [op.name for op in from_qiskit(qc).ops]
    ['h', 'cx']
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..circuit import CHANNEL, GATE, KRAUS, MEASURE, UNITARY, Circuit, Condition, Op, Param, concrete_value
from ..dynamic import is_mid_circuit
from ..errors import CircuitError, ClassicalError, ParameterError
from ..gates import GATES

__all__ = ["from_qiskit", "to_qiskit"]

# Qiskit instruction name -> lretjax gate, for gates whose matrices agree (up to a global phase,
# invisible in a density matrix) with qubits mapped wire for wire; lretjax gate -> QuantumCircuit
# method with the same parameter order. Both from the gate specs.
_FROM = {name: g.name for g in GATES.values() for name in g.qiskit}
_TO = {g.name: g.qiskit[0] for g in GATES.values() if g.qiskit}
_SKIP = frozenset({"barrier", "delay"})


def _exact(op, what: str = "matrix") -> np.ndarray:
    """An op's matrix or Kraus set in complex128, whatever the process's x64 setting: a
    complex64 matrix is unitary only to 1e-7, which the other side would reject or carry."""
    import jax

    with jax.enable_x64(True):
        return np.asarray(op.matrix() if what == "matrix" else op.kraus(), dtype=complex)


def _require_qiskit():
    try:
        import qiskit
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError("this needs Qiskit: pip install 'lretjax[qiskit]'") from None
    return qiskit


def _param_from_qiskit(value, where: str):
    """A float, or a Param for an affine expression of one Qiskit Parameter."""
    from qiskit.circuit import ParameterExpression

    if not isinstance(value, ParameterExpression):
        return float(value)
    params = list(value.parameters)
    if not params:
        return float(value)
    if len(params) > 1:
        raise ParameterError(f"{where}: parameter {value} depends on several symbols; lretjax keeps "
                             "one affine symbol per slot (bind the others first)")
    (p,) = params
    at = [complex(value.bind({p: x})) for x in (0.0, 1.0, 2.0)]
    offset, coeff = at[0].real, (at[1] - at[0]).real
    if any(abs(z.imag) > 1e-12 for z in at) or abs(at[2].real - (offset + 2 * coeff)) > 1e-9:
        raise ParameterError(f"{where}: parameter {value} is not affine in {p.name} "
                             "(lretjax symbols are coeff * name + offset)")
    return Param(p.name, coeff, offset)


def _kraus_of(op, where: str) -> np.ndarray:
    """Stacked Kraus operators (Qiskit order) of an Aer ``QuantumError`` or a ``kraus`` instruction."""
    from qiskit.quantum_info import Kraus

    try:
        # Aer wraps a QuantumError appended to a circuit in a QuantumChannelInstruction.
        error = getattr(op, "_quantum_error", op)
        channel = error.to_quantumchannel() if hasattr(error, "to_quantumchannel") else op.params
        ks = Kraus(channel).data
    except Exception as e:
        raise CircuitError(f"{where}: cannot read its Kraus operators ({e})") from None
    return np.stack([np.asarray(k, dtype=complex) for k in ks])


def _cregs(qc) -> tuple[tuple[str, int], ...]:
    """Qiskit's classical registers when they tile its bits in order, else one register 'c'."""
    regs, covered = [], []
    for reg in qc.cregs:
        regs.append((reg.name, reg.size))
        covered.extend(qc.find_bit(b).index for b in reg)
    if covered == list(range(qc.num_clbits)):
        return tuple(regs)
    return (("c", qc.num_clbits),) if qc.num_clbits else ()


def _condition(qc, cond, where: str) -> Condition:
    """A Qiskit condition ``(Clbit, v)`` or ``(ClassicalRegister, v)`` as a lretjax Condition."""
    from qiskit.circuit import ClassicalRegister, Clbit

    if isinstance(cond, tuple) and len(cond) == 2:
        target, value = cond
        if isinstance(target, Clbit):
            return Condition((qc.find_bit(target).index,), int(value))
        if isinstance(target, ClassicalRegister):
            return Condition(tuple(qc.find_bit(b).index for b in target), int(value))
    raise ClassicalError(f"{where}: condition {cond!r} is not a bit or register compared with a "
                         "value, which is what lretjax conditions on")


def _convert(qc, data, qmap, cmap, cond: Condition | None, ops: list, path: str) -> None:
    """Append the lretjax ops of Qiskit instructions ``data``; ``qmap``/``cmap`` map the
    instructions' bits (a block's own) to the outer circuit's indices."""
    from qiskit.circuit import ClassicalRegister, Clbit

    for idx, inst in enumerate(data):
        op = inst.operation
        name = op.name
        qubits = [qmap[q] for q in inst.qubits]
        where = f"Qiskit instruction {path}{idx} ({name} on qubits {qubits})"
        if name in ("while_loop", "for_loop", "switch_case", "box") or getattr(op, "condition", None) \
                is not None and name != "if_else":
            raise ClassicalError(f"{where}: classical control flow other than if/else has no lretjax form")
        if name == "if_else":
            if cond is not None:
                raise ClassicalError(f"{where}: nested if/else has no lretjax form (one condition per op)")
            target, value = op.condition
            if isinstance(target, Clbit):
                target = cmap[target]
            elif isinstance(target, ClassicalRegister):
                pass
            else:
                raise ClassicalError(f"{where}: condition {op.condition!r} is not a bit or register "
                                     "compared with a value")
            c = _condition(qc, (target, value), where)
            for k, block in enumerate(op.blocks):
                if block is None:
                    continue
                bq = dict(zip(block.qubits, [qmap[q] for q in inst.qubits], strict=True))
                bc = dict(zip(block.clbits, [cmap[b] for b in inst.clbits], strict=True))
                _convert(qc, block.data, bq, bc, c if k == 0 else replace(c, equal=False), ops,
                         f"{path}{idx}.{k}.")
            continue
        if name in _SKIP:
            continue
        if name == "measure":
            if cond is not None:
                raise ClassicalError(f"{where}: a conditional measurement has no lretjax form")
            bit = qc.find_bit(cmap[inst.clbits[0]]).index
            ops.append(Op(MEASURE, (qubits[0],), (), MEASURE, clbits=(bit,)))
            continue
        new: list = []
        _instruction(op, name, qubits, where, new)
        for o in new:
            if cond is not None:
                o = Circuit(qc.num_qubits, [o]).ops[0] if not isinstance(o, Op) else o
                o = replace(o, condition=cond, checked=False)
            ops.append(o)


def from_qiskit(qc, *, measure: bool | None = None) -> Circuit:
    """The lretjax circuit of a Qiskit ``QuantumCircuit`` (q[i] -> wire i).

    Standard gates map by name; any other unitary instruction becomes an exact ``unitary`` op
    (its Qiskit matrix, reordered); Aer ``QuantumError`` and ``kraus`` instructions become
    exact ``kraus`` ops; ``reset`` becomes the reset channel; ``barrier`` and ``delay`` are
    dropped. ``if_test`` blocks (``if_else`` on a bit or a register value, with its else)
    become conditioned ops; the circuit keeps Qiskit's classical registers.

    ``measure``: keep measurements as ops writing classical bits (True), drop them as the
    static front doors do, which read every wire at the end (False), or keep them only when
    the circuit is dynamic (None: a condition, or a measured qubit used again).
    """
    qiskit = _require_qiskit()
    if not isinstance(qc, qiskit.QuantumCircuit):
        raise CircuitError(f"from_qiskit expects a qiskit.QuantumCircuit, got {type(qc).__name__}")
    if qc.num_qubits < 1:
        raise CircuitError("the Qiskit circuit has no qubits")
    ops: list = []
    _convert(qc, qc.data, {q: qc.find_bit(q).index for q in qc.qubits}, {b: b for b in qc.clbits}, None,
             ops, "")
    cregs = _cregs(qc)
    built = Circuit(qc.num_qubits, ops, cregs=cregs)
    keep = is_mid_circuit(built.ops) if measure is None else measure
    if not keep:
        if is_mid_circuit(built.ops):
            raise ClassicalError("the Qiskit circuit is dynamic (mid-circuit measurement or if/else); "
                                 "convert it with measure=True or None")
        built = Circuit(qc.num_qubits, [o for o in built.ops if o.kind != MEASURE])
    return built


def _instruction(op, name: str, qubits: list[int], where: str, ops: list) -> None:
    """Append the lretjax op of one unitary, channel or reset instruction."""
    if name == "reset":
        ops.append(("reset", qubits, []))
        return
    if name in _FROM:
        params = [_param_from_qiskit(v, where) for v in op.params]
        ops.append((_FROM[name], qubits, params))
        return
    if name in ("kraus", "quantum_channel") or type(op).__name__ == "QuantumError":
        ops.append(Op("kraus", tuple(reversed(qubits)), (_kraus_of(op, where),), KRAUS))
        return
    if getattr(op, "is_parameterized", lambda: False)():
        raise ParameterError(f"{where}: a symbolic {name!r} has no lretjax gate; bind it first")
    try:
        from qiskit.quantum_info import Operator

        m = Operator(op).data
    except Exception as e:
        raise CircuitError(f"{where}: cannot convert ({e})") from None
    ops.append(Op("unitary", tuple(reversed(qubits)), (np.asarray(m, dtype=complex),), UNITARY))


def _param_to_qiskit(p, table: dict, where: str):
    if isinstance(p, Param):
        from qiskit.circuit import Parameter

        sym = table.setdefault(p.name, Parameter(p.name))
        return sym * p.coeff + p.offset if (p.coeff, p.offset) != (1.0, 0.0) else sym
    return concrete_value(p, where, action="convert")


def to_qiskit(circuit: Circuit, *, skip_channels: bool = False):
    """A Qiskit ``QuantumCircuit`` of a lretjax circuit (wire i -> q[i]).

    Symbols become Qiskit ``Parameter``s of the same name. User unitaries become
    ``UnitaryGate``s. Channels become Aer ``QuantumError`` instructions (exact Kraus sets,
    simulated by ``AerSimulator``) when qiskit-aer is installed; otherwise, or with
    ``skip_channels=True``, they raise CircuitError or are dropped.
    """
    _require_qiskit()
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import UnitaryGate

    if not isinstance(circuit, Circuit):
        raise CircuitError(f"to_qiskit expects a lretjax Circuit, got {type(circuit).__name__}")
    qc = QuantumCircuit(circuit.num_wires)
    table: dict = {}
    for idx, op in enumerate(circuit.ops):
        where = f"op {idx} ({op.name} on wires {list(op.wires)})"
        rev = list(reversed(op.wires))
        if op.kind in (CHANNEL, KRAUS):
            if skip_channels:
                continue
            try:
                from qiskit.quantum_info import Kraus
                from qiskit_aer.noise import QuantumError
            except ImportError:
                raise CircuitError(f"cannot convert {where}: channels need qiskit-aer "
                                   "(or pass skip_channels=True to drop them)") from None
            ks = list(_exact(op, "kraus"))
            qc.append(QuantumError(Kraus(ks)), rev)
            continue
        if op.kind == UNITARY:
            try:
                m = np.asarray(op.params[0], dtype=complex)
            except Exception:
                raise CircuitError(f"cannot convert {where}: its matrix is not concrete") from None
            qc.append(UnitaryGate(m, check_input=False), rev)
            continue
        if op.kind != GATE:
            raise CircuitError(f"cannot convert {where}: unknown op kind {op.kind!r}")
        params = [_param_to_qiskit(p, table, where) for p in op.params]
        method = _TO.get(op.name)
        if op.name == "u2":  # Qiskit's u2 is deprecated: U(pi/2, phi, lam) is the same matrix
            qc.u(math.pi / 2, params[0], params[1], op.wires[0])
        elif method is not None and hasattr(qc, method):
            getattr(qc, method)(*params, *op.wires)
        elif any(isinstance(p, Param) for p in op.params):
            raise ParameterError(f"cannot convert {where}: a symbolic {op.name!r} has no Qiskit gate")
        else:
            qc.append(UnitaryGate(_exact(op), check_input=False), rev)
    return qc
