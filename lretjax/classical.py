"""Running dynamic circuits and reading their classical bits: register distributions, counts,
per-shot memory (with an explicit ``jax.random`` key) and expectation values conditioned on
an outcome.

``run`` applies the noise model to the dynamic circuit (so measurement and reset noise land
where the physical ops are), lowers it (``lretjax.dynamic.lower``: one ancilla wire per
measurement whose bit is read and whose wire is disturbed afterwards) and simulates it. The
joint distribution of the classical bits is the exact marginal of the final state over the
wires holding them.

    >>> import jax
    >>> from lretjax import Circuit
    >>> from lretjax import classical
    >>> c = Circuit(2, cregs={"c": 2}).h(0).measure(0, 0).c_if("c", 1, "x", 1).measure(1, 1)
    >>> res = classical.run(c)
    >>> classical.register_probabilities(res)["c"].round(6).tolist()   # c = 0b00 or 0b11
    [0.5, 0.0, 0.0, 0.5]
    >>> sorted(classical.counts(res, 100, jax.random.key(0)))
    ['00', '11']
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .circuit import Circuit
from .dynamic import Lowered, lower
from .errors import ClassicalError, ResourceError
from .measure import expval, probabilities, sample
from .observables import PauliSum, as_observable
from .simulate import simulate
from .state import LowRankState

__all__ = ["DynamicResult", "run", "bit_probabilities", "register_probabilities", "memory", "counts",
           "conditional_expval"]

# The joint table of the wires holding bits has 2^k entries.
MAX_BIT_WIRES = 24


@dataclass(frozen=True)
class DynamicResult:
    """The final state of a lowered dynamic circuit and where its classical bits live.

    Attributes:
      state: the LowRankState of ``lowered.circuit`` (original wires, then the ancillas).
      lowered: the lowering record (``bit_wires``, registers).
    """

    state: LowRankState
    lowered: Lowered

    @property
    def cregs(self) -> tuple[tuple[str, int], ...]:
        return self.lowered.cregs

    @property
    def num_clbits(self) -> int:
        return len(self.lowered.bit_wires)


def run(circuit: Circuit, params=None, *, noise=None, max_rank: int | None = None, epsilon: float = 0.0,
        **options) -> DynamicResult:
    """Simulate a dynamic (or static) circuit: noise model applied, then lowered, then simulated.

    Args:
      circuit: the circuit, with its classical registers.
      params: values of its symbols (bound before lowering: conditions build matrices).
      noise: a ``NoiseModel`` (its readout errors become the measurements' confusions, so
        conditions see the bits as read).
      max_rank: cap on the rank; None means 2^(wires of the lowered circuit), i.e. no cap.
      epsilon: truncation threshold, as in ``lretjax.simulate``.
      **options: passed on to ``lretjax.simulate`` (tolerance, representation, checks, ...).
    """
    if not isinstance(circuit, Circuit):
        raise ClassicalError(f"run expects a lretjax.Circuit, got {type(circuit).__name__}")
    if params is not None:
        circuit = circuit.bind(params)
    circuit.check_bound()
    if noise is not None:
        circuit = noise.apply(circuit)
    low = lower(circuit)
    rank = 2**low.circuit.num_wires if max_rank is None else max_rank
    state = simulate(low.circuit, max_rank=rank, epsilon=epsilon, **options)
    return DynamicResult(state, low)


def _check(result) -> DynamicResult:
    if not isinstance(result, DynamicResult):
        raise ClassicalError(f"expected a lretjax.classical.DynamicResult (from classical.run), "
                             f"got {type(result).__name__}")
    if not result.lowered.bit_wires:
        raise ClassicalError("the circuit declares no classical bits")
    return result


def _wire_table(result: DynamicResult):
    """(distinct wires holding bits, normalised probabilities over them, for each bit its
    column in that table or -1 when it is constant 0)."""
    wires = tuple(dict.fromkeys(w for w in result.lowered.bit_wires if w is not None))
    if len(wires) > MAX_BIT_WIRES:
        raise ResourceError(f"{len(wires)} wires hold classical bits: their joint table has 2^{len(wires)} "
                            f"entries (at most {MAX_BIT_WIRES} wires)")
    cols = [wires.index(w) if w is not None else -1 for w in result.lowered.bit_wires]
    if not wires:
        return wires, np.ones(1), cols
    p = np.clip(np.asarray(probabilities(result.state, wires), dtype=np.float64), 0.0, None)
    return wires, p / p.sum(), cols


def _values(k: int, cols: Sequence[int], bits: Sequence[int]) -> np.ndarray:
    """For each outcome of the k wires, the integer that ``bits`` read (bits[0] least significant)."""
    idx = np.arange(2**k)
    v = np.zeros(2**k, dtype=np.int64)
    for j, b in enumerate(bits):
        col = cols[b]
        if col >= 0:
            v |= ((idx >> (k - 1 - col)) & 1) << j
    return v


def _table(result: DynamicResult, bits: Sequence[int]) -> np.ndarray:
    """Distribution of ``bits`` (index sum bit_j 2^j), readout errors left to the readers applied."""
    wires, p, cols = _wire_table(result)
    t = np.bincount(_values(len(wires), cols, bits), weights=p, minlength=2 ** len(bits))
    confusions = dict(result.lowered.confusions)
    k = len(bits)
    t = t.reshape((2,) * k) if k else t
    for j, b in enumerate(bits):
        if b in confusions:
            c = np.asarray(confusions[b], dtype=np.float64)
            ax = k - 1 - j
            t = np.moveaxis(np.tensordot(c, np.moveaxis(t, ax, 0), axes=([0], [0])), 0, ax)
    return t.reshape(-1)


def bit_probabilities(result: DynamicResult, bits: Sequence[int] | None = None) -> np.ndarray:
    """Joint distribution of classical ``bits`` (all by default), index ``sum_j bit_j 2^j``
    (Qiskit's order: ``bits[0]`` is the least significant)."""
    result = _check(result)
    bits = tuple(range(result.num_clbits)) if bits is None else tuple(int(b) for b in bits)
    if len(bits) > MAX_BIT_WIRES or any(not 0 <= b < result.num_clbits for b in bits):
        raise ClassicalError(f"bits {list(bits)}: each must be a declared bit (0..{result.num_clbits - 1}), "
                             f"at most {MAX_BIT_WIRES} of them")
    return _table(result, bits)


def register_probabilities(result: DynamicResult, register: str | None = None):
    """Distribution of each classical register's value (dict name -> array of 2^size), or of
    one register when ``register`` names it."""
    result = _check(result)
    names = [r for r, _ in result.cregs] if register is None else [register]
    out = {name: _table(result, result.lowered.register_bits(name)) for name in names}
    return out if register is None else out[register]


def memory(result: DynamicResult, shots: int, key: jax.Array) -> np.ndarray:
    """Per-shot classical bits, shape (shots, num_clbits), column j = bit j, drawn with ``key``
    from the exact joint distribution (``lretjax.sample`` on the wires holding the bits)."""
    result = _check(result)
    wires, _, cols = _wire_table(result)
    out = np.zeros((int(shots), result.num_clbits), dtype=np.uint8)
    if not wires:
        if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
            raise ClassicalError(f"shots must be a positive integer, got {shots!r}")
        return out
    key, flips = jax.random.split(key)
    drawn = np.asarray(sample(result.state, shots, key, wires), dtype=np.uint8)
    for b, col in enumerate(cols):
        if col >= 0:
            out[:, b] = drawn[:, col]
    for b, c in result.lowered.confusions:  # readout errors left to the reader
        c = np.asarray(c, dtype=np.float64)
        u = np.asarray(jax.random.uniform(jax.random.fold_in(flips, b), (int(shots),)))
        t = out[:, b]
        out[:, b] = np.where(u < c[t, 1 - t], 1 - t, t)
    return out


def bitstrings(result: DynamicResult, bits: np.ndarray) -> list[str]:
    """Memory rows as Qiskit writes them: registers in reverse declaration order separated by
    spaces, each with its highest bit first."""
    parts = []
    start = 0
    for _, size in result.cregs:
        parts.append((start, size))
        start += size
    rows = []
    for row in np.asarray(bits):
        rows.append(" ".join("".join(str(int(row[s + i])) for i in range(n - 1, -1, -1))
                             for s, n in reversed(parts)))
    return rows


def counts(result: DynamicResult, shots: int, key: jax.Array) -> dict[str, int]:
    """Histogram of ``shots`` draws as Qiskit keys (``"c1 c0"``, highest bit first), most frequent first."""
    rows = bitstrings(result, memory(result, shots, key))
    keys, num = np.unique(np.asarray(rows), return_counts=True)
    order = np.argsort(-num, kind="stable")
    return {str(keys[i]): int(num[i]) for i in order}


def conditional_expval(result: DynamicResult, observable, register: str | Sequence[int], value: int):
    """<O> conditioned on the classical ``register`` (a name, or bits least significant first)
    reading ``value``: Tr(O P rho) / Tr(P rho), ``P`` projecting the bits' wires on that value.

    ``observable`` is a Pauli observable (any spelling ``lretjax.expval`` takes) on the
    circuit's original wires. Returns NaN when the outcome has probability 0.
    """
    result = _check(result)
    low = result.lowered
    bits = low.register_bits(register) if isinstance(register, str) else tuple(int(b) for b in register)
    left = dict(low.confusions)
    if any(b in left for b in bits):
        raise ClassicalError("conditional_expval: these bits carry a readout error applied after the run; "
                             "condition on bits measured without one")
    if not 0 <= int(value) < 2 ** len(bits):
        raise ClassicalError(f"value {value!r} does not fit {len(bits)} bit(s)")
    n_total = low.circuit.num_wires
    obs = as_observable(observable, low.num_wires)
    if not isinstance(obs, PauliSum):
        raise ClassicalError("conditional_expval takes Pauli observables")
    # The projector as a Pauli sum over the bits' wires: prod (I + s Z) / 2, s = +1 for 0.
    want: dict[int, int] = {}
    for j, b in enumerate(bits):
        w, v = low.bit_wires[b], (int(value) >> j) & 1
        if w is None:
            if v:
                return jnp.nan
            continue
        if want.setdefault(w, v) != v:
            return jnp.nan
    terms = {"I" * n_total: 1.0}
    for w, v in want.items():
        nxt = {}
        for s, c in terms.items():
            nxt[s] = nxt.get(s, 0.0) + c / 2
            z = s[:w] + "Z" + s[w + 1:]
            nxt[z] = nxt.get(z, 0.0) + (c / 2 if v == 0 else -c / 2)
        terms = nxt
    proj_strings = tuple(terms)
    proj = PauliSum(proj_strings, jnp.asarray([terms[s] for s in proj_strings]))
    prob = expval(result.state, proj)
    pad = "I" * (n_total - low.num_wires)
    for p in obs.paulis:
        clash = [w for w in want if w < low.num_wires and p[w] != "I"]
        if clash:
            raise ClassicalError(f"the observable acts on wire(s) {clash}, which hold the conditioning "
                                 "bits themselves (nothing disturbed them after their measurement)")
    strings, coeffs = [], []
    for p, c in zip(obs.paulis, obs.coeffs, strict=True):
        for s, t in terms.items():
            letters = [a if a != "I" else b for a, b in zip(p + pad, s, strict=True)]
            strings.append("".join(letters))
            coeffs.append(c * t)
    num = expval(result.state, PauliSum(tuple(strings), jnp.stack(coeffs)))
    return jnp.where(prob > 0, num / jnp.where(prob > 0, prob, 1.0), jnp.nan)
