"""A bound Qiskit circuit turned into what lretjax runs: idle qubits dropped, noise inserted,
measurements placed on wires.

Qubits that no instruction touches stay in |0> (a device-sized circuit from ``transpile`` has
mostly such qubits), so only the touched ones are simulated, as Aer does. Bit order is converted
by :mod:`lretjax.io.qiskit`: Qiskit qubit ``active[i]`` is lretjax wire ``i``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..circuit import Circuit
from ..errors import (
    CircuitError,
    LretError,
    NoiseError,
    ObservableError,
    ParameterError,
    SimulationConfigError,
)
from ..frontdoor import defer, outcome_probabilities, sample_outcomes, with_noise
from ..io.qiskit import from_qiskit
from ..noise.model import NoiseModel

# A global phase is invisible in a density matrix.
_IGNORED = frozenset({"barrier", "delay", "global_phase"})


class NoiseSource:
    """The noise of a backend or primitive: an Aer ``NoiseModel`` (read exactly, through
    :mod:`lretjax.noise.qiskit`, on the qubits each circuit uses), a lretjax ``NoiseModel``
    (applied on the circuit's full width, wire i = qubit i), or none."""

    def __init__(self, noise_model=None):
        self._dict = None
        self._model: NoiseModel | None = None
        self._cache: dict[tuple, NoiseModel] = {}
        if noise_model is None:
            self.label = "ideal"
        elif isinstance(noise_model, NoiseModel):
            self._model = noise_model
            self.label = noise_model.source or "lretjax"
        elif hasattr(noise_model, "to_dict"):
            self._dict = noise_model.to_dict()
            self.label = "qiskit-aer"
        else:
            raise NoiseError(f"noise_model must be a qiskit_aer.noise.NoiseModel or a lretjax.NoiseModel, "
                             f"got {type(noise_model).__name__}")

    @property
    def full_width(self) -> bool:
        """Whether circuits must keep every qubit (a lretjax model's rules name full-width wires)."""
        return self._model is not None

    def model(self, active: Sequence[int], num_qubits: int) -> NoiseModel | None:
        """The lretjax model for a circuit on ``num_qubits`` qubits of which ``active`` are simulated."""
        if self._model is not None:
            return self._model
        if self._dict is None:
            return None
        key = tuple(active)
        if key not in self._cache:
            self._cache[key] = NoiseModel.from_qiskit_dict(self._dict, qubits=list(active))
        return self._cache[key]


@dataclass(frozen=True)
class Prepared:
    """A Qiskit circuit ready for ``lretjax.simulate``.

    Attributes:
      circuit: the noisy lretjax circuit (measurement ancillas, if any, are its last wires).
      qubits: the Qiskit qubit of each of the circuit's first ``len(qubits)`` wires.
      records: wire holding each measurement's outcome, in program order.
      clbits: classical bit each measurement writes (a later one overwrites an earlier one).
      confusion: (records, 2, 2) readout confusion matrices of the measured qubits.
      ancillas: wires added for measurements that later ops would disturb.
    """

    circuit: Circuit
    qubits: tuple[int, ...]
    records: tuple[int, ...] = ()
    clbits: tuple[int, ...] = ()
    confusion: np.ndarray | None = None
    ancillas: int = 0


def check_circuit(qc, what: str = "circuit"):
    """CircuitError/ParameterError for anything lretjax cannot run, before any work."""
    from qiskit import QuantumCircuit

    if not isinstance(qc, QuantumCircuit):
        raise CircuitError(f"{what} must be a qiskit.QuantumCircuit, got {type(qc).__name__}")
    if qc.num_qubits < 1:
        raise CircuitError(f"{what} {qc.name!r} has no qubits")
    for inst in qc.data:
        if inst.operation.name in ("if_else", "while_loop", "for_loop", "switch_case", "box"):
            raise CircuitError(f"{what} {qc.name!r}: classical control flow ({inst.operation.name}) "
                               "has no lretjax form")
    return qc


def prepare(qc, noise: NoiseSource, *, measure: bool) -> Prepared:
    """``qc`` (all parameters bound) as a lretjax circuit with its noise and measurement records.

    ``measure=False`` (Estimator) refuses circuits that measure, since a measurement would make
    the final state random; ``measure=True`` places every ``measure`` as a record.
    """
    check_circuit(qc)
    if qc.parameters:
        names = sorted(p.name for p in qc.parameters)
        raise ParameterError(f"circuit {qc.name!r} has unbound parameters {names}; give values")
    gates, events = [], []  # events: (qubit, clbit, number of gates before it)
    for inst in qc.data:
        name = inst.operation.name
        if name in _IGNORED:
            continue
        qubits = [qc.find_bit(q).index for q in inst.qubits]
        if name == "measure":
            if not measure:
                raise CircuitError(f"circuit {qc.name!r} measures qubit {qubits[0]}: an Estimator circuit "
                                   "must end without measurements (remove_final_measurements())")
            events.append((qubits[0], qc.find_bit(inst.clbits[0]).index, len(gates)))
            continue
        gates.append((inst.operation, qubits))
    n = qc.num_qubits
    if noise.full_width:
        active = list(range(n))
    else:
        active = sorted({q for _, qs in gates for q in qs} | {e[0] for e in events}) or [0]
    index = {q: i for i, q in enumerate(active)}
    circuit = from_qiskit(_compact(gates, index, len(active)))
    model = noise.model(active, n)
    positions = [e[2] for e in events]
    circuit, positions = with_noise(circuit, positions, None if model is None else model.apply)
    if not measure or not events:
        return Prepared(circuit, tuple(active))
    measured = defer(circuit, [(index[q], p) for (q, _, _), p in zip(events, positions, strict=True)])
    wires = [index[q] for q, _, _ in events]
    confusion = (np.tile(np.eye(2), (len(wires), 1, 1)) if model is None
                 else np.asarray(model.readout_confusion(wires), dtype=np.float64))
    return Prepared(measured.circuit, tuple(active), measured.records, tuple(e[1] for e in events),
                    confusion, measured.ancillas)


def _compact(gates, index: dict[int, int], width: int):
    """A QuantumCircuit of ``gates`` on ``width`` qubits, qubit q moved to ``index[q]``."""
    from qiskit import QuantumCircuit

    out = QuantumCircuit(width)
    for op, qubits in gates:
        out.append(op, [index[q] for q in qubits], [])
    return out


def sample_clbits(prep: Prepared, state, shots: int, num_clbits: int, rng) -> np.ndarray:
    """(shots, num_clbits) classical bits as read out, clbit i in column i; readout error applied."""
    clbits = np.zeros((shots, num_clbits), dtype=np.uint8)
    if not prep.records:
        return clbits
    confusions = [((i,), prep.confusion[i]) for i in range(len(prep.records))]
    bits = sample_outcomes(outcome_probabilities(state, prep.records, confusions), shots, rng)
    for i, c in enumerate(prep.clbits):
        clbits[:, c] = bits[:, i]  # a later measurement into the same clbit overwrites
    return clbits


def check_values(circuit, values, i: int) -> None:
    """ParameterError unless ``values`` coerce to a BindingsArray for ``circuit``'s parameters."""
    from collections.abc import Mapping

    from qiskit.primitives.containers import BindingsArray

    if values is None:
        return
    if not isinstance(values, (BindingsArray, Mapping)):
        values = {tuple(circuit.parameters): values}
    try:
        BindingsArray.coerce(values)
    except (ValueError, TypeError) as e:
        raise ParameterError(f"pub {i}: parameter values do not fit the circuit's parameters "
                             f"{[p.name for p in circuit.parameters]}: {e}") from e


def typed_pub_error(e: Exception, i: int) -> LretError:
    """What Qiskit's PUB validation refused, as the lretjax error it is, naming the PUB."""
    text = f"pub {i}: {e}"
    low = str(e).lower()
    if "parameter" in low:
        return ParameterError(text)
    if "shots" in low or "precision" in low:
        return SimulationConfigError(text)
    if "observable" in low:
        return ObservableError(text)
    return CircuitError(text)
