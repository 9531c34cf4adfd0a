"""Cirq circuits to and from lretjax circuits (Cirq is imported only when these run).

Cirq orders qubits big-endian, as lretjax does, so no bit reordering happens here: the
qubits of a Cirq circuit, sorted (or in the ``qubit_order`` given), are wires 0, 1, ...
Common gates map by name (``cirq.H`` -> ``h``, ``cirq.rx(t)`` -> ``rx``, ``cirq.X**0.5`` -> ``sx``),
and so do the channels whose Kraus sets match lretjax's (``depolarize``, ``amplitude_damp``,
``phase_damp``, ``bit_flip``, ``phase_flip``); any other unitary operation becomes an exact
``unitary`` op, any other channel an exact ``kraus`` op. Sympy symbols in rotation angles
(affine in one symbol) become :class:`~lretjax.Param`, and back.

    >>> import cirq
    >>> from lretjax.io.cirq import from_cirq
    >>> a, b = cirq.LineQubit.range(2)
    >>> [op.name for op in from_cirq(cirq.Circuit(cirq.H(a), cirq.CNOT(a, b))).ops]
    ['h', 'cx']
"""

from __future__ import annotations

import math

import numpy as np

from ..circuit import CHANNEL, GATE, KRAUS, UNITARY, Circuit, Op, Param
from ..errors import CircuitError, ParameterError

__all__ = ["from_cirq", "to_cirq"]


def _exact(op, what: str = "matrix") -> np.ndarray:
    """An op's matrix or Kraus set in complex128, whatever the process's x64 setting: a
    complex64 matrix is unitary only to 1e-7, which the other side would reject or carry."""
    import jax

    with jax.enable_x64(True):
        return np.asarray(op.matrix() if what == "matrix" else op.kraus(), dtype=complex)


def _require_cirq():
    try:
        import cirq
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError("this needs Cirq: pip install 'lretjax[cirq]'") from None
    return cirq


def _angle(value, where: str, scale: float = 1.0):
    """float(value) * scale, or a Param for an affine sympy expression of one symbol."""
    import sympy

    if isinstance(value, sympy.Basic) and value.free_symbols:
        syms = list(value.free_symbols)
        if len(syms) > 1:
            raise ParameterError(f"{where}: angle {value} depends on several symbols; "
                                 "lretjax keeps one affine symbol per slot")
        (s,) = syms
        poly = sympy.Poly(sympy.expand(value), s)
        if poly.degree() > 1:
            raise ParameterError(f"{where}: angle {value} is not affine in {s}")
        coeff = float(poly.coeff_monomial(s)) * scale
        offset = float(poly.coeff_monomial(1)) * scale
        return Param(str(s), coeff, offset)
    return float(value) * scale


def _named(cirq, gate, where: str):
    """(lretjax name, params) for gates with a lretjax name, else None."""
    fixed = [
        (cirq.I, "id"), (cirq.X, "x"), (cirq.Y, "y"), (cirq.Z, "z"), (cirq.H, "h"), (cirq.S, "s"),
        (cirq.S**-1, "sdg"), (cirq.T, "t"), (cirq.T**-1, "tdg"), (cirq.X**0.5, "sx"),
        (cirq.X**-0.5, "sxdg"), (cirq.CNOT, "cx"), (cirq.CZ, "cz"), (cirq.SWAP, "swap"),
        (cirq.ISWAP, "iswap"), (cirq.CCX, "ccx"), (cirq.CSWAP, "cswap"),
    ]
    for g, name in fixed:
        if gate == g:
            return name, []
    if isinstance(gate, (cirq.Rx, cirq.Ry, cirq.Rz)):
        name = {cirq.Rx: "rx", cirq.Ry: "ry", cirq.Rz: "rz"}[type(gate)]
        return name, [_angle(gate._rads, where)]
    if isinstance(gate, cirq.ZPowGate) and gate.global_shift == 0:
        return "p", [_angle(gate.exponent, where, math.pi)]  # Z**t = diag(1, e^{i pi t})
    if isinstance(gate, cirq.CZPowGate) and gate.global_shift == 0:
        return "cp", [_angle(gate.exponent, where, math.pi)]
    return None


def _channel(cirq, gate):
    """(lretjax channel, params) for Cirq channels with the same Kraus convention, else None."""
    if isinstance(gate, cirq.DepolarizingChannel) and gate.num_qubits() == 1:
        return "depolarizing", [float(gate.p)]  # p/3 on each of X, Y, Z, as PennyLane
    if isinstance(gate, cirq.AmplitudeDampingChannel):
        return "amplitude_damping", [float(gate.gamma)]
    if isinstance(gate, cirq.PhaseDampingChannel):
        return "phase_damping", [float(gate.gamma)]
    if isinstance(gate, cirq.BitFlipChannel):
        return "bit_flip", [float(gate.p)]
    if isinstance(gate, cirq.PhaseFlipChannel):
        return "phase_flip", [float(gate.p)]
    return None


def from_cirq(circuit, qubit_order=None) -> Circuit:
    """The lretjax circuit of a ``cirq.Circuit``; wire i is the i-th qubit of ``qubit_order``
    (default: the circuit's qubits, sorted). Measurements are dropped (lretjax measures at the end).
    """
    cirq = _require_cirq()
    if not isinstance(circuit, cirq.AbstractCircuit):
        raise CircuitError(f"from_cirq expects a cirq.Circuit, got {type(circuit).__name__}")
    qubits = list(qubit_order) if qubit_order is not None else sorted(circuit.all_qubits())
    if not qubits:
        raise CircuitError("the Cirq circuit has no qubits")
    index = {q: i for i, q in enumerate(qubits)}
    ops: list = []
    for k, op in enumerate(circuit.all_operations()):
        missing = [q for q in op.qubits if q not in index]
        if missing:
            raise CircuitError(f"Cirq operation {k} ({op}) acts on {missing}, not in qubit_order")
        wires = [index[q] for q in op.qubits]
        where = f"Cirq operation {k} ({op})"
        if cirq.is_measurement(op):
            continue
        gate = op.gate
        if gate is not None:
            if isinstance(gate, cirq.ResetChannel):
                ops.append(("reset", wires, []))
                continue
            channel = _channel(cirq, gate)
            if channel is not None:
                ops.append((channel[0], wires, channel[1]))
                continue
            named = _named(cirq, gate, where)
            if named is not None:
                ops.append((named[0], wires, named[1]))
                continue
        if cirq.is_parameterized(op):
            raise ParameterError(f"{where}: a symbolic operation with no lretjax gate; resolve it first")
        if cirq.has_unitary(op):
            ops.append(Op("unitary", tuple(wires), (np.asarray(cirq.unitary(op), dtype=complex),), UNITARY))
        elif cirq.has_kraus(op):
            ks = np.stack([np.asarray(k, dtype=complex) for k in cirq.kraus(op)])
            ops.append(Op("kraus", tuple(wires), (ks,), KRAUS))
        else:
            raise CircuitError(f"{where}: neither a unitary nor a channel")
    return Circuit(len(qubits), ops)


def _sym(p, where: str, scale: float = 1.0):
    """A float, or a sympy expression for a Param, times ``scale``."""
    if isinstance(p, Param):
        import sympy

        return (p.coeff * sympy.Symbol(p.name) + p.offset) * scale
    try:
        return float(p) * scale
    except Exception:
        raise CircuitError(f"cannot convert {where}: parameter is not a concrete number "
                           "(conversion must happen outside jit)") from None


def to_cirq(circuit: Circuit, qubits=None):
    """A ``cirq.Circuit`` of a lretjax circuit on ``qubits`` (default ``cirq.LineQubit.range(n)``).

    Channels become ``cirq.KrausChannel`` (exact), user unitaries ``cirq.MatrixGate``; symbols
    become sympy symbols of the same name (rotations and phases only).
    """
    cirq = _require_cirq()
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"to_cirq expects a lretjax Circuit, got {type(circuit).__name__}")
    qs = list(qubits) if qubits is not None else cirq.LineQubit.range(circuit.num_wires)
    if len(qs) != circuit.num_wires:
        raise CircuitError(f"to_cirq: {len(qs)} qubits given for {circuit.num_wires} wires")
    fixed = {
        "id": cirq.I, "x": cirq.X, "y": cirq.Y, "z": cirq.Z, "h": cirq.H, "s": cirq.S, "sdg": cirq.S**-1,
        "t": cirq.T, "tdg": cirq.T**-1, "sx": cirq.X**0.5, "sxdg": cirq.X**-0.5, "cx": cirq.CNOT,
        "cz": cirq.CZ, "swap": cirq.SWAP, "iswap": cirq.ISWAP, "ccx": cirq.CCX, "cswap": cirq.CSWAP,
    }
    rotations = {"rx": cirq.rx, "ry": cirq.ry, "rz": cirq.rz}
    out = []
    for idx, op in enumerate(circuit.ops):
        where = f"op {idx} ({op.name} on wires {list(op.wires)})"
        on = [qs[w] for w in op.wires]
        if op.kind in (CHANNEL, KRAUS):
            ks = list(_exact(op, "kraus"))
            out.append(cirq.KrausChannel(ks).on(*on))
        elif op.kind == UNITARY:
            out.append(cirq.MatrixGate(np.asarray(op.params[0], dtype=complex)).on(*on))
        elif op.kind != GATE:
            raise CircuitError(f"cannot convert {where}: unknown op kind {op.kind!r}")
        elif op.name in fixed:
            out.append(fixed[op.name].on(*on))
        elif op.name in rotations:
            out.append(rotations[op.name](_sym(op.params[0], where)).on(*on))
        elif op.name in ("p", "cp"):
            g = cirq.ZPowGate if op.name == "p" else cirq.CZPowGate
            out.append(g(exponent=_sym(op.params[0], where, 1 / math.pi)).on(*on))
        elif any(isinstance(p, Param) for p in op.params):
            raise ParameterError(f"cannot convert {where}: a symbolic {op.name!r} has no Cirq gate here")
        else:
            out.append(cirq.MatrixGate(_exact(op)).on(*on))
    return cirq.Circuit(out)
