"""``lretjax.cirq.Simulator``: a Cirq simulator (samples, expectation values, final states) on
lretjax's low-rank density matrix.

Cirq's noise is honoured as ``cirq.DensityMatrixSimulator`` honours it: the simulator's ``noise``
(a ``cirq.NoiseModel`` or anything ``cirq.NoiseModel.from_noise_model_like`` takes) is applied to
the resolved circuit moment by moment, and channels already in the circuit (``with_noise``, the
standard channels, ``cirq.MixedUnitaryChannel``, ``cirq.KrausChannel``) are converted exactly by
:mod:`lretjax.io.cirq`. Qubits keep Cirq's big-endian order.

Measurements, resets and classical control (``with_classical_controls`` on a measurement key,
``cirq.KeyCondition`` or ``cirq.BitMaskKeyCondition``) are lowered by ``lretjax.dynamic.lower``
(deferred measurement, exact). For samples, every measurement is a record, with ``invert_mask``
and ``confusion_map`` applied as Cirq applies them: inversion then confusion when Cirq samples
terminal measurements from the final state, confusion then inversion when it simulates
measurements one by one (mid-circuit measurements, classical control). For final states and
expectation values a measurement is the dephasing channel it is on average, and an op
controlled by its outcome acts on each branch as Cirq's would: the state returned is the
mixture over outcomes, not one collapsed branch, and ``measurements`` is empty.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import cirq
import numpy as np
from cirq.sim.simulator import split_into_matching_protocol_then_general

from ..circuit import CHANNEL, MEASURE, Circuit, Condition, Op
from ..dynamic import Lowered, lower
from ..errors import CircuitError, NoiseError, ObservableError, ParameterError, SimulationConfigError
from ..frontdoor import (
    DEFAULT_MAX_RANK,
    Truncation,
    for_bits,
    make_rng,
    pauli_values,
    sample_bits,
    state_metadata,
    without_ancillas,
)
from ..io.cirq import from_cirq
from ..measure import to_density_matrix
from ..state import LowRankState

_FLIP = np.array([[0.0, 1.0], [1.0, 0.0]])
# Conditions lretjax lowers (BitMaskKeyCondition is newer than some supported Cirq releases).
_CONDITIONS = tuple(c for c in (cirq.KeyCondition, getattr(cirq, "BitMaskKeyCondition", None)) if c)


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
    circuit: Circuit  # the static circuit to simulate: the qubits' wires, then the ancillas
    qubits: tuple
    lowered: Lowered
    keys: tuple[tuple[str, tuple[int, ...]], ...] = ()  # (key, its bits) per measurement, in order
    confusions: tuple = ()  # (bits, C): confusions applied to the sampled bits

    @property
    def ancillas(self) -> int:
        return self.lowered.ancillas


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
        bits = sample_bits(state, prep.lowered, repetitions, self._rng, prep.confusions).astype(np.int8)
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
            state = self._final(prep, initial_state)
            table = dict(zip(labels, pauli_values(state, labels), strict=True))
            yield [float(sum(c * table[p] for p, c in t.items())) for t in terms]

    # -- cirq.SimulatesFinalState -----------------------------------------------------------------

    def simulate_sweep_iter(
        self, program: cirq.AbstractCircuit, params: cirq.Sweepable,
        qubit_order: cirq.QubitOrderOrList = cirq.QubitOrder.DEFAULT, initial_state: Any = None,
    ) -> Iterator[LowRankTrialResult]:
        for resolver in cirq.to_resolvers(params):
            prep = self._prepare(program, resolver, qubit_order, sampling=False)
            state = self._final(prep, initial_state)
            yield LowRankTrialResult(resolver, state, {q: i for i, q in enumerate(prep.qubits)})

    # -- conversion -------------------------------------------------------------------------------

    def _final(self, prep: _Prepared, initial_state) -> LowRankState:
        """The final state on the circuit's qubits (ancillas holding controlling bits traced out)."""
        initial = _with_ancillas(_initial(initial_state, prep.qubits), prep.ancillas)
        return without_ancillas(self.settings.simulate(prep.circuit, initial), len(prep.qubits))

    def _prepare(self, program, resolver, qubit_order, *, sampling: bool) -> _Prepared:
        """Resolve, add noise, convert, lower. Sampling: every measurement writes bits. Final
        states: a measurement dephases its qubits, and writes bits only if a condition reads them."""
        if not isinstance(program, cirq.AbstractCircuit):
            raise CircuitError(f"expected a cirq.Circuit, got {type(program).__name__}")
        resolved = cirq.resolve_parameters(program, resolver)
        if cirq.is_parameterized(resolved):
            names = sorted(str(s) for s in cirq.parameter_names(resolved))
            raise ParameterError(f"the circuit has unresolved parameters {names}; give a resolver or sweep")
        # Cirq samples terminal measurements from the final state (inverting, then confusing)
        # and simulates the others one by one (confusing, then inverting): see _readout.
        terminal = sampling and _all_terminal(resolved)
        resolved = cirq.unroll_circuit_op(resolved, deep=True, tags_to_check=None)
        if qubit_order is None:
            qubits = tuple(sorted(resolved.all_qubits()))
        else:
            qubits = tuple(cirq.QubitOrder.as_qubit_order(qubit_order).order_for(resolved.all_qubits()))
        bad = [q for q in qubits if q.dimension != 2]
        if bad:
            raise CircuitError(f"lretjax simulates qubits only; {bad} have other dimensions")
        if not qubits:
            raise CircuitError("the circuit has no qubits")
        moments = resolved if self.noise is cirq.NO_NOISE else self.noise.noisy_moments(
            resolved, sorted(resolved.all_qubits()))
        ops = [op for moment in moments for op in cirq.flatten_to_ops(moment)]
        circuit, keys, confusions = _convert(ops, qubits, sampling=sampling, terminal=terminal)
        lowered = for_bits(circuit) if sampling else lower(circuit)
        return _Prepared(lowered.circuit, qubits, lowered, keys, confusions)


def _all_terminal(circuit) -> bool:
    """Whether ``cirq.DensityMatrixSimulator.run`` samples every measurement of ``circuit`` from
    its final state: its own split into a prefix without measurement keys and a rest made of
    measurements only."""
    _, rest = split_into_matching_protocol_then_general(
        circuit, lambda op: not cirq.measurement_keys_touched(op))
    return all(isinstance(op.gate, cirq.MeasurementGate) for op in rest.all_operations())


def _convert(ops, qubits, *, sampling: bool, terminal: bool):
    """The dynamic lretjax circuit of flat Cirq ``ops`` (one classical bit per measured qubit
    per measurement), the (key, bits) of each measurement, and the confusions left to sampling."""
    index = {q: i for i, q in enumerate(qubits)}
    plain: list = []  # the ops from_cirq converts, in order
    items: list = []  # ("op", Condition | None) or ("measure", op, measurement number)
    keys: list[tuple[str, tuple[int, ...]]] = []
    seen: dict[str, list[int]] = {}  # key -> its measurements so far
    read: set[int] = set()  # measurements whose bits a condition reads
    nbits = 0
    for op in ops:
        if cirq.is_measurement(op):
            if cirq.control_keys(op):
                raise CircuitError(f"{op}: a classically controlled measurement has no lretjax form")
            if not isinstance(op.gate, cirq.MeasurementGate):
                raise CircuitError(f"{op}: only computational-basis measurements (cirq.measure) "
                                   "are supported; rotate Pauli measurements to Z first")
            key = cirq.measurement_key_name(op)
            size = len(op.qubits)
            if seen.get(key) and len(keys[seen[key][0]][1]) != size:
                raise CircuitError(f"measurement key {key!r} is used for {len(keys[seen[key][0]][1])} and "
                                   f"for {size} qubits; a repeated key must measure as many qubits each time")
            seen.setdefault(key, []).append(len(keys))
            keys.append((key, tuple(range(nbits, nbits + size))))
            nbits += size
            items.append(("measure", op, len(keys) - 1))
            continue
        condition = None
        if cirq.control_keys(op):
            if not isinstance(op, cirq.ClassicallyControlledOperation):
                raise CircuitError(f"{op}: classical control other than with_classical_controls has no "
                                   "lretjax form")
            condition = _condition(op, seen, keys, read)
            if condition is False:
                continue  # never acts
            op = op.without_classical_controls()
            condition = None if condition is True else condition
        if not op.qubits and cirq.has_unitary(op):
            continue  # a global phase: invisible in a density matrix
        plain.append(op)
        items.append(("op", condition))
    converted = iter(from_cirq(cirq.Circuit.from_moments(*[cirq.Moment([op]) for op in plain]),
                               qubit_order=qubits).ops if plain else ())
    out: list[Op] = []
    confusions: list = []
    for item in items:
        if item[0] == "op":
            lop = next(converted)
            out.append(lop if item[1] is None else replace(lop, condition=item[1], checked=False))
            continue
        _, op, k = item
        wires = [index[q] for q in op.qubits]
        bits = keys[k][1]
        if sampling or k in read:
            per_bit, post = _readout(op, terminal)
            if post and k in read:
                raise CircuitError(f"{op}: a multi-qubit confusion_map on a key that controls operations "
                                   "has no lretjax form")
            for w, b, c in zip(wires, bits, per_bit, strict=True):
                out.append(Op(MEASURE, (w,), () if c is None else (c,), MEASURE, clbits=(b,)))
            confusions += [(tuple(bits[i] for i in idx), m) for idx, m in post]
        if not sampling:  # the average outcome: the qubits dephased
            out.extend(Op("phase_damping", (w,), (1.0,), CHANNEL) for w in wires)
    cregs = {"bits": nbits} if nbits else None
    return Circuit(len(qubits), out, cregs=cregs), tuple(keys), tuple(confusions)


def _readout(op, terminal: bool):
    """The 2x2 confusion (``C[true, read]``, or None) of each measured bit, and the multi-bit
    confusions ``(local indices, C)`` left to sampling, from ``invert_mask`` and ``confusion_map``
    in Cirq's order: inversion then confusion for terminal samples, the reverse otherwise."""
    gate = op.gate
    n = len(op.qubits)
    mask = gate.full_invert_mask()
    cmap = [(tuple(int(i) for i in idx), np.asarray(m, dtype=np.float64))
            for idx, m in gate.confusion_map.items()]
    flips = [((i,), _FLIP) for i in range(n) if mask[i]]
    if all(len(idx) == 1 for idx, _ in cmap):
        per_bit = []
        for i in range(n):
            mats = [m for idx, m in (flips + cmap if terminal else cmap + flips) if idx == (i,)]
            per_bit.append(None if not mats else mats[0] if len(mats) == 1 else mats[0] @ mats[1])
        return per_bit, []
    if not terminal:
        used: set[int] = set()
        for idx, _ in cmap:
            if used & set(idx):
                raise CircuitError(f"{op}: confusion_map entries that share qubits, in a circuit Cirq "
                                   "simulates measurement by measurement, have no lretjax form")
            used |= set(idx)
    return [None] * n, (flips + cmap if terminal else cmap + flips)


def _condition(op, seen: dict, keys: list, read: set) -> Condition | bool:
    """The lretjax condition of a classically controlled op (all of Cirq's conditions must hold),
    or True/False when it is decided without any bit; marks the measurements it reads."""
    parts = []  # (bits, value, equal) each, bits[0] the least significant
    for cond in op.classical_controls:
        if not isinstance(cond, _CONDITIONS):
            raise CircuitError(f"{op}: condition {cond} has no lretjax form (conditions on one "
                               "measurement key, cirq.KeyCondition or cirq.BitMaskKeyCondition, do)")
        key = str(cond.key)
        if key not in seen:
            raise CircuitError(f"{op}: measurement key {key!r} is not measured before it")
        try:
            k = seen[key][cond.index]
        except IndexError:
            raise CircuitError(f"{op}: measurement {cond.index} of key {key!r} does not exist") from None
        read.add(k)
        bits = keys[k][1][::-1]  # Cirq reads a key big-endian: its last qubit is the low bit
        if isinstance(cond, cirq.KeyCondition):
            parts.append((bits, 0, False))
            continue
        mask = (1 << len(bits)) - 1
        if cond.bitmask is not None:
            mask &= int(cond.bitmask)
        target = int(cond.target_value)
        if target & ~mask:
            parts.append(((), 0, not cond.equal_target))  # (value & mask) never equals target
            continue
        where = [j for j in range(len(bits)) if mask >> j & 1]
        value = sum(((target >> j) & 1) << i for i, j in enumerate(where))
        parts.append((tuple(bits[j] for j in where), value, bool(cond.equal_target)))
    fixed: dict[int, int] = {}
    ne = []
    for bits, value, equal in parts:
        if not bits:
            if equal != (value == 0):  # a condition on no bits: 0 == value (or !=)
                return False
            continue
        if equal:
            for j, b in enumerate(bits):
                if fixed.setdefault(b, (value >> j) & 1) != (value >> j) & 1:
                    return False
        else:
            ne.append((bits, value))
    if ne and (fixed or len(ne) > 1):
        raise CircuitError(f"{op}: several conditions, one of them an inequality, have no lretjax form "
                           "(lretjax conditions an op on one comparison)")
    if ne:
        (bits, value), = ne
        return Condition(bits, value, equal=False)
    if not fixed:
        return True
    return Condition(tuple(fixed), sum(v << j for j, v in enumerate(fixed.values())))


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


def _with_ancillas(initial, ancillas: int):
    """An initial state (None, a vector, a factor L or a LowRankState) with ``ancillas`` wires in
    |0> after its own."""
    if initial is None or not ancillas:
        return initial
    zero = np.zeros((2**ancillas, 1))
    zero[0] = 1.0
    if isinstance(initial, LowRankState):
        if initial.rho is not None:
            return LowRankState(None, initial.discarded, initial.rank, initial.num_wires + ancillas,
                                rho=np.kron(np.asarray(initial.rho), zero @ zero.T))
        initial = initial if initial.layout is None else initial.layout.placement.gather(initial)
        initial = np.asarray(initial.L)
    arr = np.asarray(initial)
    return np.kron(arr, zero[:, 0]) if arr.ndim == 1 else np.kron(arr, zero)


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
