"""What the Qiskit and Cirq front doors share: truncation settings, and the classical bits of a
run (the circuit to simulate for them, how sampling and readout error act on them).

Measurements, resets and classical feed-forward are lowered by ``lretjax.dynamic.lower``, as for
``lretjax.classical``: a measurement whose bit is read and whose wire something disturbs later
is copied onto a fresh ancilla wire by a CNOT (the deferred-measurement principle, exact), and a
conditioned op becomes the op controlled by the wires holding its bits. When only the bits are
wanted, ops after the last measurement are dropped first: no bit can see them. Sampling happens
on the host from the exact joint distribution of the wires holding the bits, with a NumPy
generator the caller seeds (as Aer and Cirq do).

    >>> from lretjax import Circuit
    >>> low = for_bits(Circuit(1, cregs={"c": 2}).h(0).measure(0, 0).h(0).measure(0, 1).x(0))
    >>> low.circuit.num_wires, low.bit_wires    # bit 0 moved to an ancilla; the x is dropped
    (2, (1, 0))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .circuit import MEASURE, Circuit
from .dynamic import Lowered, lower
from .engine.step import check_settings
from .errors import ResourceError, SimulationConfigError
from .measure import expval, probabilities
from .observables import PauliSum
from .simulate import DEFAULT_MAX_RANK, REPRESENTATIONS, simulate
from .state import LowRankState

__all__ = ["DEFAULT_MAX_RANK", "Truncation", "state_metadata", "pauli_values", "for_bits", "sample_bits",
           "without_ancillas", "check_shots", "make_rng"]

# Bits are sampled from the joint table of the wires holding them: 2^k outcomes.
MAX_BIT_WIRES = 24


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


def for_bits(circuit: Circuit) -> Lowered:
    """The lowering of ``circuit`` when only its classical bits are read: ops after its last
    measurement are dropped first (no bit can see them, and a measured wire they touch would
    otherwise cost an ancilla)."""
    last = max((i for i, op in enumerate(circuit.ops) if op.kind == MEASURE), default=-1)
    kept = Circuit(circuit.num_wires, circuit.ops[:last + 1], cregs=circuit.cregs)
    return lower(kept, post_measurement=False)


def sample_bits(state: LowRankState, lowered: Lowered, shots: int, rng: np.random.Generator,
                confusions: Sequence[tuple[Sequence[int], np.ndarray]] = ()) -> np.ndarray:
    """``shots`` rows of every classical bit of a run (uint8, column j = bit j; a bit never
    written reads 0), drawn with ``rng`` from the exact joint distribution of the wires holding
    them in ``state``, the final state of ``lowered.circuit``.

    Readout errors that ``lowered`` leaves to the reader then flip each bit on its own, and
    ``confusions`` act in order: ``(bits, C)`` sends the value t of those bits (the first the
    high bit) to m with probability ``C[t, m]`` (a multi-bit confusion, as Cirq's
    ``confusion_map``).
    """
    out = np.zeros((int(shots), len(lowered.bit_wires)), dtype=np.uint8)
    wires = tuple(dict.fromkeys(w for w in lowered.bit_wires if w is not None))
    if len(wires) > MAX_BIT_WIRES:
        raise ResourceError(f"{len(wires)} wires hold measured bits: sampling needs their joint table of "
                            f"2^{len(wires)} outcomes (at most {MAX_BIT_WIRES} wires)")
    if wires:
        p = np.clip(np.asarray(probabilities(state, wires), dtype=np.float64), 0.0, None)
        drawn = rng.choice(p.size, size=int(shots), p=p / p.sum())
        k = len(wires)
        for b, w in enumerate(lowered.bit_wires):
            if w is not None:
                out[:, b] = (drawn >> (k - 1 - wires.index(w))) & 1
    for b, c in lowered.confusions:
        c = np.asarray(c, dtype=np.float64)
        t = out[:, b].astype(np.int64)
        out[:, b] = np.where(rng.random(int(shots)) < c[t, 1 - t], 1 - t, t)
    for bits, c in confusions:
        _confuse(out, [int(b) for b in bits], np.asarray(c, dtype=np.float64), rng)
    return out


def _confuse(out: np.ndarray, bits: list[int], c: np.ndarray, rng: np.random.Generator) -> None:
    """Replace the value of ``bits`` in each row by a draw from its row of ``c`` (in place)."""
    k = len(bits)
    t = np.zeros(out.shape[0], dtype=np.int64)
    for b in bits:
        t = (t << 1) | out[:, b]
    cdf = np.cumsum(c / c.sum(axis=1, keepdims=True), axis=1)[t]
    m = np.minimum((rng.random(out.shape[0])[:, None] >= cdf).sum(axis=1), 2**k - 1)
    for j, b in enumerate(bits):
        out[:, b] = (m >> (k - 1 - j)) & 1


def without_ancillas(state: LowRankState, num_wires: int) -> LowRankState:
    """The state of the first ``num_wires`` wires, the ancillas after them (which hold classical
    bits) traced out: L (2^(n+a), w) regrouped as (2^n, 2^a w), or a dense rho partially traced."""
    a = state.num_wires - num_wires
    if a == 0:
        return state
    d = 2**num_wires
    if state.rho is not None:
        rho = jnp.einsum("iaja->ij", state.rho.reshape(d, 2**a, d, 2**a))
        return LowRankState(None, state.discarded, state.rank, num_wires, rho=rho)
    L = state.L if state.layout is None else state.layout.placement.gather(state).L
    L = L.reshape(d, 2**a, -1).transpose(0, 2, 1).reshape(d, -1)  # nonzero columns stay first
    return LowRankState(L, state.discarded, state.rank * 2**a, num_wires)


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
