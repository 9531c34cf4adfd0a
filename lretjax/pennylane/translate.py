"""PennyLane operations and observables as lretjax ops and observables.

Named gates and channels map to the lretjax registries (same conventions: OpenQASM 3 /
PennyLane), so the simulator sees their structure; any other operator with a matrix becomes a
``unitary`` op and any other channel a ``kraus`` op. Parameters pass through untouched, so JAX
tracers from a QNode under ``jax.jit``/``jax.grad`` reach the simulation.

Mid-circuit measurements (``qml.measure``) become lretjax ``measure`` ops, one classical bit
each (``reset=True`` adds the ``reset`` channel), and ``qml.cond`` becomes ``c_if`` on those
bits: the circuit is a lretjax dynamic circuit (docs/dynamic.md), lowered by
``lretjax.dynamic.lower``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import numpy as np
import pennylane as qml

from ..circuit import Circuit, Param
from ..errors import CircuitError, ClassicalError, ObservableError
from ..gates import canonical_name
from ..observables import DenseObservable, PauliSum, dense_observable

# PennyLane operations the device runs as lretjax gates: each name is a gate's name or alias
# (case aside), so the gate specs map it; parameters in the same order and convention
# (tests/test_pennylane_device.py compares every entry's matrix or Kraus set with PennyLane's).
PENNYLANE_GATES = (
    "Identity", "Hadamard", "PauliX", "PauliY", "PauliZ", "S", "T", "SX", "RX", "RY", "RZ", "PhaseShift",
    "U1", "U2", "U3", "CNOT", "CY", "CZ", "CH", "SWAP", "ISWAP", "ECR", "CRX", "CRY", "CRZ",
    "ControlledPhaseShift", "IsingXX", "IsingYY", "IsingZZ", "Toffoli", "CSWAP",
)
GATE_NAMES: dict[str, str] = {name: canonical_name(name) for name in PENNYLANE_GATES}
CHANNEL_NAMES: dict[str, str] = {
    "DepolarizingChannel": "depolarizing", "AmplitudeDamping": "amplitude_damping",
    "PhaseDamping": "phase_damping", "BitFlip": "bit_flip", "PhaseFlip": "phase_flip",
    "ResetError": "reset_error", "GeneralizedAmplitudeDamping": "generalized_amplitude_damping",
}
# Operators with no effect on rho.
IGNORED = {"Snapshot", "GlobalPhase", "Barrier"}


def supports_operation(op: qml.operation.Operator) -> bool:
    """True when the device runs ``op`` without decomposing it."""
    if isinstance(op, qml.ops.MidMeasure):
        return True
    if isinstance(op, qml.ops.Conditional):
        return supports_operation(op.base)
    if op.name in GATE_NAMES or op.name in CHANNEL_NAMES or op.name in IGNORED:
        return True
    if isinstance(op, qml.operation.Channel):
        return op.has_kraus if hasattr(op, "has_kraus") else True
    return bool(op.has_matrix) and len(op.wires) > 0


def _matrix(op) -> jnp.ndarray:
    return jnp.asarray(qml.matrix(op, wire_order=op.wires))


def add_operation(
    circuit: Circuit, op: qml.operation.Operator, index: Callable, params: tuple | None = None
) -> Circuit:
    """``circuit`` with ``op`` appended; ``index`` maps PennyLane wire labels to integers.

    ``params`` replaces ``op.data`` (symbols for the parameter-shift path)."""
    if op.name in IGNORED:
        return circuit
    data = tuple(op.data) if params is None else params
    wires = [index(w) for w in op.wires]
    if op.name in GATE_NAMES:
        return circuit.add(GATE_NAMES[op.name], wires, *data)
    if op.name in CHANNEL_NAMES:
        return circuit.add(CHANNEL_NAMES[op.name], wires, *data)
    if any(isinstance(p, Param) for p in data):
        raise CircuitError(f"{op.name} has no lretjax shift rule")
    if isinstance(op, qml.operation.Channel):
        return circuit.kraus(jnp.stack([jnp.asarray(k) for k in op.kraus_matrices()]), wires)
    if op.has_matrix and wires:
        return circuit.unitary(_matrix(op), wires)
    raise CircuitError(
        f"lretjax.mixed cannot run {op.name} on wires {list(op.wires)}: it has no matrix, Kraus "
        "matrices or decomposition into supported operations"
    )


def add_measurement(circuit: Circuit, op, index: Callable, bit: int) -> Circuit:
    """``circuit`` with the mid-circuit measurement ``op`` (a ``MidMeasure``) into classical ``bit``."""
    wire = index(op.wires[0])
    if op.postselect is not None:
        raise ClassicalError(
            f"qml.measure({op.wires[0]!r}, postselect={op.postselect}): lretjax.mixed does not "
            "postselect; condition on the outcome with qml.cond, or read it with qml.probs(op=m)"
        )
    circuit = circuit.measure(wire, bit)
    return circuit.add("reset", [wire]) if op.reset else circuit


def add_conditional(
    circuit: Circuit, op, index: Callable, bits: dict, params: tuple | None = None
) -> Circuit:
    """``circuit`` with ``qml.cond``'s op (a ``Conditional``) as ``c_if`` ops on the classical bits
    (``bits`` maps a mid-circuit measurement's ``meas_uid`` to its bit).

    lretjax conditions are a register value (== or !=); PennyLane's are any function of the
    measured values. A function true on one outcome is ``==``, false on one is ``!=``, and
    otherwise the op is appended once for each outcome where it is true: the outcomes are
    disjoint, so at most one of the copies acts."""
    mv = op.meas_val
    targets = tuple(bits[m.meas_uid] for m in mv.measurements)
    if len(set(targets)) != len(targets):
        raise ClassicalError(f"qml.cond on {op.base.name}: its condition reads one measurement twice")
    true = [branch for branch, value in mv.items() if value]
    false = [branch for branch, value in mv.items() if not value]
    inner = add_operation(Circuit(circuit.num_wires), op.base, index, params).ops

    def value(branch) -> int:  # bits[0] is the least significant bit of a lretjax condition
        return sum(int(b) << j for j, b in enumerate(branch))

    if not false:
        return circuit.compose(Circuit(circuit.num_wires, inner))
    if len(false) == 1 and len(true) > 1:
        conditions = [(value(false[0]), False)]
    else:
        conditions = [(value(branch), True) for branch in true]
    for v, equal in conditions:
        for inner_op in inner:
            circuit = circuit.c_if(targets, v, inner_op, equal=equal)
    return circuit


def observable(obs: qml.operation.Operator, index: Callable, num_wires: int) -> PauliSum | DenseObservable:
    """A PauliSum when PennyLane knows the Pauli expansion, else a dense matrix on its wires."""
    rep = obs.pauli_rep
    if rep is not None:
        paulis, coeffs = [], []
        for word, c in rep.items():
            letters = ["I"] * num_wires
            for w, p in word.items():
                letters[index(w)] = p
            paulis.append("".join(letters))
            coeffs.append(qml.math.real(c))
        if not paulis:
            return PauliSum(("I" * num_wires,), jnp.zeros((1,)))
        return PauliSum(tuple(paulis), jnp.stack([jnp.asarray(c) for c in coeffs]))
    if not obs.has_matrix:
        raise ObservableError(f"lretjax.mixed cannot measure {obs}: it has no matrix or Pauli expansion")
    wires = tuple(index(w) for w in obs.wires)
    m = _matrix(obs)
    if qml.math.is_abstract(m):
        return DenseObservable(m, wires)
    return dense_observable(np.asarray(m), wires)


def squared(obs: qml.operation.Operator) -> qml.operation.Operator:
    """O @ O as an operator (for the variance), Pauli-expanded when possible."""
    rep = obs.pauli_rep
    if rep is not None:
        return (rep @ rep).operation()
    return qml.Hermitian(_matrix(obs) @ _matrix(obs), wires=obs.wires)
