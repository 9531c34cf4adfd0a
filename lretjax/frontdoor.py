"""What the Qiskit and Cirq front doors share: truncation settings, and measurement records (where
each outcome sits at the end of a run, how readout error and sampling act on it).

lretjax reads every wire at the end of a run. A measurement that something later could disturb
(a gate, a channel or another measurement of its qubit) is first copied onto a fresh ancilla wire
by a CNOT: the deferred-measurement principle, exact for circuits without classical feed-forward,
at the cost of one wire per such measurement. Ops after the last measurement are dropped when
sampling, since no record can see them. Sampling happens on the host from the exact outcome
distribution, with a NumPy generator the caller seeds (as Aer and Cirq do).

    >>> from lretjax import Circuit
    >>> m = defer(Circuit(1).h(0), [(0, 1), (0, 1)])   # measure wire 0 twice after the H
    >>> m.circuit.num_wires, m.records                  # the first record moved to an ancilla
    (2, (1, 0))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .circuit import Circuit, Op
from .engine.step import check_settings
from .errors import ResourceError, SimulationConfigError
from .measure import expval, probabilities
from .observables import PauliSum
from .simulate import DEFAULT_MAX_RANK, REPRESENTATIONS, simulate

# Records are sampled from their joint table of 2^R outcomes.
MAX_RECORDS = 24


@dataclass(frozen=True)
class Truncation:
    """How a front door runs ``lretjax.simulate``: the truncation knobs, checked when built.

    Attributes:
      max_rank: cap on the rank of L; ``None`` means 2^n (no cap: exact unless ``epsilon`` or
        ``tolerance`` says otherwise).
      epsilon: per channel, drop the smallest eigenvalues summing to at most epsilon * trace.
      tolerance: instead of epsilon, a total budget for the discarded weight.
      representation: ``"auto"``, ``"low-rank"`` or ``"dense"`` (see ``lretjax.simulate``).
    """

    max_rank: int | None = DEFAULT_MAX_RANK
    epsilon: float = 0.0
    tolerance: float | None = None
    representation: str = "auto"

    def __post_init__(self):
        check_settings(1 if self.max_rank is None else self.max_rank, self.epsilon, self.tolerance)
        if self.representation not in REPRESENTATIONS:
            raise SimulationConfigError(
                f"representation must be one of {REPRESENTATIONS}, got {self.representation!r}")

    def simulate(self, circuit: Circuit, initial_state=None):
        """The final LowRankState of ``circuit`` (bound) under these settings."""
        rank = 2**circuit.num_wires if self.max_rank is None else self.max_rank
        return simulate(circuit, max_rank=rank, epsilon=self.epsilon, tolerance=self.tolerance,
                        representation=self.representation, initial_state=initial_state)

    def metadata(self) -> dict:
        """The settings, for result metadata."""
        return {"max_rank": self.max_rank, "epsilon": self.epsilon, "tolerance": self.tolerance,
                "representation": self.representation}


def state_metadata(state) -> dict:
    """What truncation did to one run: the discarded weight (a bound on the trace distance to
    the exact state), the final rank and the representation."""
    return {"discarded": float(state.discarded), "rank": int(state.rank),
            "final_representation": state.representation}


def pauli_values(state, labels: Sequence[str]) -> np.ndarray:
    """<P> for each Pauli label (wire 0 first), in one call: one-hot coefficient rows over the
    same static strings, so a sweep compiles the readout once."""
    if not labels:
        return np.zeros(0)
    paulis = tuple(labels)
    vals = jax.vmap(lambda c: expval(state, PauliSum(paulis, c)))(jnp.eye(len(paulis)))
    return np.asarray(vals, dtype=np.float64)


@dataclass(frozen=True)
class Measured:
    """A circuit whose measurement outcomes all sit on wires at its end.

    Attributes:
      circuit: the circuit to simulate (ancilla wires, if any, come after the original ones).
      records: the wire holding each measurement's outcome, in measurement order.
      ancillas: wires added (the last ones) to hold outcomes that later ops would disturb.
    """

    circuit: Circuit
    records: tuple[int, ...]
    ancillas: int = 0


def with_noise(circuit: Circuit, positions: Sequence[int],
               noise: Callable[[Circuit], Circuit] | None) -> tuple[Circuit, tuple[int, ...]]:
    """``noise`` applied between measurements, so their positions stay known in the noisy circuit.

    ``positions[i]`` is the number of ops before measurement i (non-decreasing). A noise model's
    gate rules act op by op, so this equals applying it to the whole circuit; its idle rules see
    each measurement as the end of a layer.
    """
    if noise is None:
        return circuit, tuple(positions)
    cuts = [0, *positions, len(circuit.ops)]
    ops: list[Op] = []
    moved = []
    for k in range(len(cuts) - 1):
        if k:
            moved.append(len(ops))
        part = circuit.ops[cuts[k]:cuts[k + 1]]
        if part:
            ops.extend(noise(Circuit(circuit.num_wires, part)).ops)
    return Circuit(circuit.num_wires, ops), tuple(moved)


def defer(circuit: Circuit, events: Sequence[tuple[int, int]]) -> Measured:
    """The circuit to sample, and the wire of each record, for measurements ``(wire, position)``
    (at least one; positions count the ops before each measurement, non-decreasing).

    A measurement followed by an op on its wire, or by another measurement of it, is copied onto
    a new ancilla wire right where it happens; the others are read from their own wire. Ops after
    the last measurement are dropped.
    """
    events = [(int(w), int(p)) for w, p in events]
    last = max((p for _, p in events), default=0)
    ops = circuit.ops[:last]
    n = circuit.num_wires
    later_use: list[bool] = []
    for i, (w, p) in enumerate(events):
        touched = any(w in op.wires for op in ops[p:])
        again = any(w2 == w for w2, _ in events[i + 1:])
        later_use.append(touched or again)
    records: list[int] = []
    out: list = []
    cursor, ancilla = 0, n
    for (w, p), copy in zip(events, later_use, strict=True):
        out.extend(ops[cursor:p])
        cursor = p
        if copy:
            out.append(("cx", [w, ancilla]))
            records.append(ancilla)
            ancilla += 1
        else:
            records.append(w)
    out.extend(ops[cursor:])
    return Measured(Circuit(ancilla, out), tuple(records), ancilla - n)


def outcome_probabilities(state, records: Sequence[int],
                          confusions: Sequence[tuple[Sequence[int], np.ndarray]] = ()) -> np.ndarray:
    """Normalised probabilities of the records' joint outcomes (first record = high bit).

    ``confusions`` are applied in order: ``(indices, C)`` sends the true outcome t of the records
    at ``indices`` to the read outcome m with probability ``C[t, m]`` (a 2^k x 2^k row-stochastic
    matrix; a 2x2 per-record readout error, a bit flip, or a multi-record confusion).
    """
    k = len(records)
    if k > MAX_RECORDS:
        raise ResourceError(f"{k} measurement records: sampling needs their joint table of 2^{k} "
                            f"outcomes (at most {MAX_RECORDS} records)")
    p = np.clip(np.asarray(probabilities(state, tuple(records)), dtype=np.float64), 0.0, None)
    p = p.reshape((2,) * k)
    for indices, c in confusions:
        idx = [int(i) for i in indices]
        c = np.asarray(c, dtype=np.float64)
        t = np.moveaxis(p, idx, list(range(len(idx))))
        shape = t.shape
        t = (c.T @ t.reshape(2 ** len(idx), -1)).reshape(shape)
        p = np.moveaxis(t, list(range(len(idx))), idx)
    p = p.reshape(-1)
    return p / p.sum()


def sample_outcomes(probs: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """``shots`` rows of record bits (uint8, first record first) drawn from ``probs``."""
    k = int(round(np.log2(probs.size)))
    idx = rng.choice(probs.size, size=int(shots), p=probs)
    return ((idx[:, None] >> np.arange(k - 1, -1, -1)) & 1).astype(np.uint8)


def check_shots(shots, what: str = "shots") -> int:
    """A positive integer number of shots, else SimulationConfigError."""
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise SimulationConfigError(f"{what} must be a positive integer, got {shots!r}")
    return int(shots)


def make_rng(seed) -> np.random.Generator:
    """A NumPy generator from an int seed, None (fresh entropy), a generator (used as is) or a
    legacy ``RandomState`` (Cirq's seeds; a generator is seeded from it)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, np.random.RandomState):
        return np.random.default_rng(seed.randint(2**31))
    if seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        return np.random.default_rng(seed)
    raise SimulationConfigError(f"seed must be a non-negative integer, None or a numpy Generator, "
                                f"got {seed!r}")
