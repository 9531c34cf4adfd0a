"""A bound Qiskit circuit turned into what lretjax runs: idle qubits dropped, noise inserted,
measurements, resets and ``if_test`` blocks lowered to a static circuit (``lretjax.dynamic``).

Qubits that no instruction touches stay in |0> (a device-sized circuit from ``transpile`` has
mostly such qubits), so only the touched ones are simulated, as Aer does. Bit order is converted
by :mod:`lretjax.io.qiskit`: Qiskit qubit ``active[i]`` is lretjax wire ``i``, clbit ``j`` is
lretjax bit ``j``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..circuit import MEASURE, Circuit
from ..dynamic import Lowered
from ..errors import (
    CircuitError,
    LretError,
    NoiseError,
    ObservableError,
    ParameterError,
    SimulationConfigError,
)
from ..frontdoor import for_bits
from ..io.qiskit import from_qiskit
from ..noise.model import NoiseModel

# A global phase is invisible in a density matrix.
_IGNORED = frozenset({"barrier", "delay", "global_phase"})
_UNSUPPORTED_FLOW = ("while_loop", "for_loop", "switch_case", "box")


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
            # Errors on measure must fit the one-qubit measurement: read them here, so a model that
            # cannot apply is refused at the front door (the rest is read per circuit's qubits).
            NoiseModel.from_qiskit_dict({**self._dict, "errors": [
                e for e in self._dict.get("errors", []) if MEASURE in e.get("operations", ())]})
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
        if self._model is not None or self._dict is None:
            return self._model
        key = tuple(active)
        if key not in self._cache:
            self._cache[key] = NoiseModel.from_qiskit_dict(self._dict, qubits=list(active))
        return self._cache[key]

    def apply(self, circuit: Circuit, active: Sequence[int], num_qubits: int) -> Circuit:
        """``circuit`` (wire i = qubit ``active[i]``) with this noise: the model's channels after
        gates and resets, Aer's quantum errors on ``measure`` right before each measurement, and
        its readout errors on measurements (``NoiseModel.apply``)."""
        model = self.model(active, num_qubits)
        return circuit if model is None else model.apply(circuit)


@dataclass(frozen=True)
class Prepared:
    """A Qiskit circuit ready for ``lretjax.simulate``.

    Attributes:
      circuit: the noisy static lretjax circuit (measurement ancillas, if any, are its last wires).
      qubits: the Qiskit qubit of each of the circuit's first ``len(qubits)`` wires.
      lowered: where each classical bit (clbit j = bit j) ends up (None for the Estimator).
    """

    circuit: Circuit
    qubits: tuple[int, ...]
    lowered: Lowered | None = None

    @property
    def ancillas(self) -> int:
        """Wires added to hold measured bits that later ops would disturb."""
        return 0 if self.lowered is None else self.lowered.ancillas


def check_circuit(qc, what: str = "circuit", *, control_flow: bool = True):
    """CircuitError/ParameterError for anything lretjax cannot run, before any work.

    ``if_test`` blocks (``if_else``) are classical feed-forward, which the backend and the
    Sampler run (``control_flow``); loops, ``switch`` and ``box`` have no lretjax form.
    """
    from qiskit import QuantumCircuit

    if not isinstance(qc, QuantumCircuit):
        raise CircuitError(f"{what} must be a qiskit.QuantumCircuit, got {type(qc).__name__}")
    if qc.num_qubits < 1:
        raise CircuitError(f"{what} {qc.name!r} has no qubits")
    refused = _UNSUPPORTED_FLOW if control_flow else (*_UNSUPPORTED_FLOW, "if_else")
    for inst in qc.data:
        if inst.operation.name in refused:
            raise CircuitError(f"{what} {qc.name!r}: classical control flow ({inst.operation.name}) "
                               f"has no lretjax form{'' if control_flow else ' in an Estimator circuit'}")
    return qc


def prepare(qc, noise: NoiseSource, *, measure: bool) -> Prepared:
    """``qc`` (all parameters bound) as a lretjax circuit with its noise and classical bits.

    ``measure=False`` (Estimator) refuses circuits that measure, since a measurement would make
    the final state random; ``measure=True`` lowers measurements, resets and ``if_test`` blocks
    (``lretjax.dynamic.lower``) so that the bits' joint distribution is exact.
    """
    check_circuit(qc, control_flow=measure)
    if qc.parameters:
        names = sorted(p.name for p in qc.parameters)
        raise ParameterError(f"circuit {qc.name!r} has unbound parameters {names}; give values")
    kept = []
    for inst in qc.data:
        name = inst.operation.name
        if name in _IGNORED:
            continue
        if name == "measure" and not measure:
            q = qc.find_bit(inst.qubits[0]).index
            raise CircuitError(f"circuit {qc.name!r} measures qubit {q}: an Estimator circuit "
                               "must end without measurements (remove_final_measurements())")
        kept.append((inst, [qc.find_bit(q).index for q in inst.qubits]))
    n = qc.num_qubits
    if noise.full_width:
        active = list(range(n))
    else:
        active = sorted({q for _, qs in kept for q in qs}) or [0]
    index = {q: i for i, q in enumerate(active)}
    circuit = noise.apply(from_qiskit(_compact(qc, kept, index, len(active)), measure=measure), active, n)
    if not measure:
        return Prepared(circuit, tuple(active))
    lowered = for_bits(circuit)
    return Prepared(lowered.circuit, tuple(active), lowered)


def _compact(qc, kept, index: dict[int, int], width: int):
    """A QuantumCircuit of the ``kept`` instructions on ``width`` qubits, qubit q moved to
    ``index[q]``; the classical bits and registers stay those of ``qc``."""
    from qiskit import QuantumCircuit

    out = QuantumCircuit(width)
    out.add_bits(qc.clbits)
    for reg in qc.cregs:
        out.add_register(reg)
    for inst, qubits in kept:
        out.append(inst.operation, [index[q] for q in qubits], inst.clbits)
    return out


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
