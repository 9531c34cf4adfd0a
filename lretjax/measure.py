"""Results read from a low-rank state without forming the 2^n x 2^n density matrix.

The state is not renormalised after truncation, so probabilities sum to ``trace = 1 - discarded``
and expectation values are those of the truncated state; both are within ``discarded`` of exact.
``sample`` draws from the normalised distribution.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .errors import CircuitError, ObservableError, ResourceError
from .observables import DenseObservable, PauliSum, as_observable
from .ops import apply_matrix, apply_pauli, gram
from .ops.inner import real_inner, sq_norm
from .state import LowRankState, check_wires

MAX_DENSE_WIRES = 14


def _sharded(state):
    """The distributed module if ``state`` is a ShardedState (imported only then), else None."""
    if isinstance(state, LowRankState):
        return None
    from . import distributed

    return distributed if isinstance(state, distributed.ShardedState) else None


def probabilities(state: LowRankState, wires: Sequence[int] | None = None) -> Float[Array, " outcomes"]:
    """Outcome probabilities of measuring ``wires`` (all by default), index with the first wire high."""
    if (d := _sharded(state)) is not None:
        return d.probabilities(state, wires)
    n = state.num_wires
    p = jnp.sum(jnp.abs(state.L) ** 2, axis=1)
    if wires is None:
        return p
    wires = check_wires(wires, n)
    t = p.reshape((2,) * n)
    others = tuple(w for w in range(n) if w not in wires)
    t = jnp.sum(t, axis=others) if others else t
    # Remaining axes are in increasing wire order; reorder to the order asked for.
    order = sorted(wires)
    t = jnp.transpose(t, [order.index(w) for w in wires])
    return t.reshape(-1)


def expval(state: LowRankState, observable) -> Float[Array, ""]:
    """<O> = Tr(L^dagger O L) for a Pauli string, a weighted Pauli sum or a small dense matrix."""
    if (d := _sharded(state)) is not None:
        return d.expval(state, observable)
    n = state.num_wires
    obs = as_observable(observable, n)
    L = state.L
    if isinstance(obs, DenseObservable):
        ol = apply_matrix(L, obs.matrix.astype(L.dtype), obs.wires, n)
        return real_inner(L, ol)
    assert isinstance(obs, PauliSum)
    vals = jnp.stack([real_inner(L, apply_pauli(L, p, n)) for p in obs.paulis])
    return jnp.sum(obs.coeffs.astype(vals.dtype) * vals)


def sample(
    state: LowRankState, shots: int, key: jax.Array, wires: Sequence[int] | None = None
) -> Int[Array, "shots wires"]:
    """Draw ``shots`` measurement outcomes as bits (one column per wire, first wire first)."""
    if (d := _sharded(state)) is not None:
        return d.sample(state, shots, key, wires)
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise CircuitError(f"shots must be a positive integer, got {shots!r}")
    wires = tuple(range(state.num_wires)) if wires is None else check_wires(wires, state.num_wires)
    p = probabilities(state, wires)
    idx = jax.random.choice(key, p.shape[0], shape=(int(shots),), p=p / jnp.sum(p))
    k = len(wires)
    return (idx[:, None] >> jnp.arange(k - 1, -1, -1)) & 1


def counts(bits) -> dict[str, int]:
    """Histogram of sampled bit rows as {'0101': count}, most frequent first."""
    arr = np.asarray(bits)
    keys, num = np.unique(arr, axis=0, return_counts=True)
    table = {"".join(str(int(b)) for b in row): int(c) for row, c in zip(keys, num, strict=False)}
    return dict(sorted(table.items(), key=lambda kv: -kv[1]))


def purity(state: LowRankState) -> Float[Array, ""]:
    """Tr(rho^2) = ||L^dagger L||_F^2 (of the stored, unrenormalised state)."""
    if (d := _sharded(state)) is not None:
        return d.purity(state)
    g = gram(state.L)
    return sq_norm(g)


def fidelity(state: LowRankState, other) -> Float[Array, ""]:
    """Uhlmann fidelity F = (Tr sqrt(sqrt(rho) sigma sqrt(rho)))^2.

    ``other`` is a LowRankState (F = ||L_rho^dagger L_sigma||_*^2, nuclear norm of an r x r'
    matrix) or a pure state vector psi (F = <psi|rho|psi>).
    """
    if isinstance(other, LowRankState):
        if other.num_wires != state.num_wires:
            raise CircuitError(f"fidelity between {state.num_wires} and {other.num_wires} wires")
        m = jnp.matmul(state.L.conj().T, other.L.astype(state.L.dtype), precision="highest")
        return jnp.sum(jnp.linalg.svd(m, compute_uv=False)) ** 2
    psi = jnp.asarray(other)
    if psi.shape != (state.dim,):
        raise ObservableError(
            f"fidelity needs a LowRankState or a state vector of length {state.dim}, got shape {psi.shape}"
        )
    amp = jnp.matmul(psi.conj().astype(state.L.dtype), state.L, precision="highest")
    return sq_norm(amp)


def to_density_matrix(state: LowRankState) -> jnp.ndarray:
    """The dense rho = L L^dagger, for at most 14 wires (4^14 entries)."""
    if state.num_wires > MAX_DENSE_WIRES:
        raise ResourceError(
            f"to_density_matrix is limited to {MAX_DENSE_WIRES} wires (4^n entries); this state has "
            f"{state.num_wires}. Use probabilities, expval or fidelity, which never form rho."
        )
    return jnp.matmul(state.L, state.L.conj().T, precision="highest")
