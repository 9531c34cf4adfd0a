"""``lretjax.cirq.Simulator``: a Cirq simulator (samples, expectation values, final states) on
lretjax's low-rank density matrix.

Cirq's noise is honoured as ``cirq.DensityMatrixSimulator`` honours it: the simulator's ``noise``
(a ``cirq.NoiseModel`` or anything ``cirq.NoiseModel.from_noise_model_like`` takes) is applied to
the resolved circuit moment by moment, and channels already in the circuit (``with_noise``, the
standard channels, ``cirq.MixedUnitaryChannel``, ``cirq.KrausChannel``) are converted exactly by
:mod:`lretjax.io.cirq`. Qubits keep Cirq's big-endian order.

Measurements: for samples, every measurement is a record (mid-circuit ones are deferred onto
ancilla wires, :mod:`lretjax.frontdoor`), with ``invert_mask`` and ``confusion_map`` applied
as Cirq applies them. For final states and expectation values a measurement is the dephasing
channel it is on average: the state returned is the mixture over outcomes, not one collapsed
branch, and ``measurements`` is empty.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import cirq
import numpy as np

from ..circuit import Circuit
from ..errors import CircuitError, NoiseError, ObservableError, ParameterError, SimulationConfigError
from ..frontdoor import (
    DEFAULT_MAX_RANK,
    Truncation,
    defer,
    make_rng,
    outcome_probabilities,
    pauli_values,
    sample_outcomes,
    state_metadata,
)
from ..io.cirq import from_cirq
from ..measure import to_density_matrix
from ..state import LowRankState

_FLIP = np.array([[0.0, 1.0], [1.0, 0.0]])


@dataclass(frozen=True)
class FinalState:
    """The final simulator state of a trial: the lretjax state and Cirq's qubit map."""

    state: LowRankState
    qubit_map: dict


class LowRankTrialResult(cirq.SimulationTrialResult):
    """A final state of :class:`Simulator`: the low-rank state (``final_state``), and the dense
    density matrix for small n (``final_density_matrix``, as ``cirq.DensityMatrixTrialResult``)."""

    def __init__(self, params: cirq.ParamResolver, state: LowRankState, qubit_map: dict):
        super().__init__(params=params, measurements={}, final_simulator_state=FinalState(state, qubit_map))
        self._rho: np.ndarray | None = None

    @property
    def final_state(self) -> LowRankState:
        """The lretjax state: rho = L L^dagger (or rho itself when the run went dense)."""
        return self._final_simulator_state.state

    @property
    def final_density_matrix(self) -> np.ndarray:
        """rho as a 2^n x 2^n NumPy array, rows in Cirq's order (ResourceError above 14 qubits)."""
        if self._rho is None:
            self._rho = np.asarray(to_density_matrix(self.final_state))
        return self._rho

    @property
    def discarded(self) -> float:
        """Weight truncation dropped: a bound on the trace distance to the exact final state."""
        return float(self.final_state.discarded)

    @property
    def metadata(self) -> dict:
        """Discarded weight, rank and representation of the final state."""
        return state_metadata(self.final_state)

    def _value_equality_values_(self) -> Any:
        return self.params, tuple(self.qubit_map.items()), self.final_density_matrix.tolist()

    def __str__(self) -> str:
        return f"LowRankTrialResult(rank={int(self.final_state.rank)}, discarded={self.discarded:.3g})"


@dataclass(frozen=True)
class _Prepared:
    circuit: Circuit
    qubits: tuple
    records: tuple[int, ...] = ()
    keys: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (key, record indices) per measurement
    confusions: tuple = ()


class Simulator(cirq.SimulatesSamples, cirq.SimulatesExpectationValues, cirq.SimulatesFinalState):
    """Cirq's simulator interfaces on lretjax.

    Args:
      noise: a ``cirq.NoiseModel`` (or a channel, applied after every moment), as for
        ``cirq.DensityMatrixSimulator``.
      seed: int seed, ``numpy`` Generator/RandomState or None, for sampling.
      max_rank, epsilon, tolerance, representation: lretjax's truncation settings
        (``max_rank=None``: no cap, exact).
    """

    def __init__(self, *, noise: cirq.NOISE_MODEL_LIKE = None, seed=None,
                 max_rank: int | None = DEFAULT_MAX_RANK, epsilon: float = 0.0,
                 tolerance: float | None = None, representation: str = "auto"):
        try:
            self.noise = cirq.NoiseModel.from_noise_model_like(noise)
        except (TypeError, ValueError) as e:
            raise NoiseError(f"noise: {e}") from None
        self._rng = make_rng(seed)
        self.settings = Truncation(max_rank, epsilon, tolerance, representation)

    # -- cirq.SimulatesSamples --------------------------------------------------------------------

    def _run(self, circuit: cirq.AbstractCircuit, param_resolver: cirq.ParamResolver,
             repetitions: int) -> dict[str, np.ndarray]:
        prep = self._prepare(circuit, param_resolver, None, sampling=True)
        state = self.settings.simulate(prep.circuit)
        probs = outcome_probabilities(state, prep.records, prep.confusions)
        bits = sample_outcomes(probs, repetitions, self._rng).astype(np.int8)
        out: dict[str, list] = {}
        for key, idx in prep.keys:
            out.setdefault(key, []).append(bits[:, list(idx)])
        return {k: np.stack(v, axis=1) for k, v in out.items()}

    # -- cirq.SimulatesExpectationValues ----------------------------------------------------------

    def simulate_expectation_values_sweep_iter(
        self, program: cirq.AbstractCircuit, observables, params: cirq.Sweepable,
        qubit_order: cirq.QubitOrderOrList = cirq.QubitOrder.DEFAULT, initial_state: Any = None,
        permit_terminal_measurements: bool = False,
    ) -> Iterator[list[float]]:
        if not permit_terminal_measurements and program.are_any_measurements_terminal():
            raise CircuitError("the circuit has terminal measurements, which would skew expectation "
                               "values; pass permit_terminal_measurements=True to allow them")
        pslist = _pauli_sums(observables)
        for resolver in cirq.to_resolvers(params):
            prep = self._prepare(program, resolver, qubit_order, sampling=False)
            index = {q: i for i, q in enumerate(prep.qubits)}
            terms = [_terms(ps, index, len(prep.qubits)) for ps in pslist]
            labels = sorted({p for t in terms for p in t})
            state = self.settings.simulate(prep.circuit, _initial(initial_state, prep.qubits))
            table = dict(zip(labels, pauli_values(state, labels), strict=True))
            yield [float(sum(c * table[p] for p, c in t.items())) for t in terms]

    # -- cirq.SimulatesFinalState -----------------------------------------------------------------

    def simulate_sweep_iter(
        self, program: cirq.AbstractCircuit, params: cirq.Sweepable,
        qubit_order: cirq.QubitOrderOrList = cirq.QubitOrder.DEFAULT, initial_state: Any = None,
    ) -> Iterator[LowRankTrialResult]:
        for resolver in cirq.to_resolvers(params):
            prep = self._prepare(program, resolver, qubit_order, sampling=False)
            state = self.settings.simulate(prep.circuit, _initial(initial_state, prep.qubits))
            yield LowRankTrialResult(resolver, state, {q: i for i, q in enumerate(prep.qubits)})

    # -- conversion -------------------------------------------------------------------------------

    def _prepare(self, program, resolver, qubit_order, *, sampling: bool) -> _Prepared:
        """Resolve, add noise, convert; measurements become records (sampling) or dephasing."""
        if not isinstance(program, cirq.AbstractCircuit):
            raise CircuitError(f"expected a cirq.Circuit, got {type(program).__name__}")
        resolved = cirq.resolve_parameters(program, resolver)
        if cirq.is_parameterized(resolved):
            names = sorted(str(s) for s in cirq.parameter_names(resolved))
            raise ParameterError(f"the circuit has unresolved parameters {names}; give a resolver or sweep")
        resolved = cirq.unroll_circuit_op(resolved, deep=True, tags_to_check=None)
        if qubit_order is None:
            qubits = tuple(sorted(resolved.all_qubits()))
        else:
            qubits = tuple(cirq.QubitOrder.as_qubit_order(qubit_order).order_for(resolved.all_qubits()))
        bad = [q for q in qubits if q.dimension != 2]
        if bad:
            raise CircuitError(f"lretjax simulates qubits only; {bad} have other dimensions")
        moments = resolved if self.noise is cirq.NO_NOISE else self.noise.noisy_moments(
            resolved, sorted(resolved.all_qubits()))
        ops, events = [], []  # events: (measurement op, number of ops before it)
        for moment in moments:
            for op in cirq.flatten_to_ops(moment):
                if cirq.control_keys(op):
                    raise CircuitError(f"{op}: classically controlled operations have no lretjax form")
                if not op.qubits and cirq.has_unitary(op):
                    continue  # a global phase: invisible in a density matrix
                if not cirq.is_measurement(op):
                    ops.append(op)
                elif not isinstance(op.gate, cirq.MeasurementGate):
                    raise CircuitError(f"{op}: only computational-basis measurements (cirq.measure) "
                                       "are supported; rotate Pauli measurements to Z first")
                elif sampling:
                    events.append((op, len(ops)))
                else:
                    ops.extend(cirq.phase_damp(1.0).on(q) for q in op.qubits)  # the average outcome
        if not qubits:
            raise CircuitError("the circuit has no qubits")
        circuit = from_cirq(cirq.Circuit.from_moments(*[cirq.Moment([op]) for op in ops]), qubit_order=qubits)
        if not sampling:
            return _Prepared(circuit, qubits)
        index = {q: i for i, q in enumerate(qubits)}
        flat = [(index[q], pos) for op, pos in events for q in op.qubits]
        measured = defer(circuit, flat)
        keys, confusions, start, sizes = [], [], 0, {}
        for op, _ in events:
            idx = tuple(range(start, start + len(op.qubits)))
            start += len(op.qubits)
            key = cirq.measurement_key_name(op)
            if sizes.setdefault(key, len(idx)) != len(idx):
                raise CircuitError(f"measurement key {key!r} is used for {sizes[key]} and for {len(idx)} "
                                   "qubits; a repeated key must measure as many qubits each time")
            keys.append((key, idx))
            confusions += [((idx[i],), _FLIP) for i, inv in enumerate(op.gate.full_invert_mask()) if inv]
            confusions += [(tuple(idx[i] for i in where), np.asarray(m, dtype=np.float64))
                           for where, m in op.gate.confusion_map.items()]
        return _Prepared(measured.circuit, qubits, measured.records, tuple(keys), tuple(confusions))


def _pauli_sums(observables) -> list:
    items = observables if isinstance(observables, list) else [observables]
    try:
        return [cirq.PauliSum.wrap(o) for o in items]
    except (TypeError, ValueError) as e:
        raise ObservableError(f"observables must be Pauli strings or sums: {e}") from None


def _terms(ps, index: dict, n: int) -> dict[str, float]:
    """A ``cirq.PauliSum`` as {lretjax label: real coefficient} over the simulated qubits."""
    out: dict[str, float] = {}
    for term in ps:
        coeff = complex(term.coefficient)
        if abs(coeff.imag) > 1e-10:
            raise ObservableError(f"observable term {term} has a complex coefficient: observables "
                                  "must be Hermitian")
        label = ["I"] * n
        for q, pauli in term.items():
            if q not in index:
                raise ObservableError(f"observable term {term} acts on {q}, which is not in the circuit")
            label[index[q]] = str(pauli)
        key = "".join(label)
        out[key] = out.get(key, 0.0) + coeff.real
    return out


def _initial(initial_state, qubits: Sequence):
    """lretjax's initial state from Cirq's spellings: None or a basis index (big-endian), a state
    vector, a density matrix, or a LowRankState."""
    n = len(qubits)
    if initial_state is None or isinstance(initial_state, LowRankState):
        return initial_state
    if isinstance(initial_state, (int, np.integer)) and not isinstance(initial_state, bool):
        if not 0 <= initial_state < 2**n:
            raise SimulationConfigError(f"initial_state {initial_state} is not a basis index of {n} qubits")
        vec = np.zeros(2**n, dtype=complex)
        vec[int(initial_state)] = 1.0
        return vec
    arr = np.asarray(initial_state)
    if arr.shape == (2**n,):
        return arr
    if arr.shape == (2**n, 2**n):
        lam, vec = np.linalg.eigh((arr + arr.conj().T) / 2)
        keep = lam > 1e-12 * max(lam.max(), 1.0)
        return vec[:, keep] * np.sqrt(lam[keep])
    raise SimulationConfigError(f"initial_state must be a basis index, a state vector of length {2**n}, a "
                                f"{2**n}x{2**n} density matrix or a LowRankState; got shape {arr.shape}")
