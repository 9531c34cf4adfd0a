"""Results read from a low-rank state without forming the 2^n x 2^n density matrix.

Every reader has one code path for every layout: the per-block computation lives in
``lretjax.readout`` and runs through the state's placement (directly on one device, inside
``shard_map`` on a mesh, per process under MPI), which sums the blocks' contributions.

The state is not renormalised after truncation, so probabilities sum to ``trace = 1 - discarded``
and expectation values are those of the truncated state; both are within ``discarded`` of exact.
``sample`` draws from the normalised distribution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from . import readout
from .engine.collectives import ONE_DEVICE
from .errors import CircuitError, ObservableError, ResourceError
from .observables import DenseObservable, as_observable
from .state import LowRankState, check_wires

MAX_DENSE_WIRES = 14


def _where(state: LowRankState):
    """(placement, perm, number of global bits) of the state's rows."""
    if state.layout is None:
        return ONE_DEVICE, state.perm, 0
    return state.layout.placement, state.layout.perm, state.layout.num_global


def _check_state(state) -> LowRankState:
    if not isinstance(state, LowRankState):
        raise CircuitError(f"expected a lretjax.LowRankState, got {type(state).__name__}")
    return state


def probabilities(state: LowRankState, wires: Sequence[int] | None = None) -> Float[Array, " outcomes"]:
    """Outcome probabilities of measuring ``wires`` (all by default), index with the first wire high."""
    state = _check_state(state)
    n = state.num_wires
    if state.rho is not None:
        wires = tuple(range(n)) if wires is None else check_wires(wires, n)
        return ONE_DEVICE.read(readout.dense_marginal, state.rho, wires, n)
    placement, perm, g = _where(state)
    if wires is None and g == 0 and perm == tuple(range(n)):
        return placement.read(readout.rows, state.L)
    wires = tuple(range(n)) if wires is None else check_wires(wires, n)
    if len(wires) == n and g:
        # The full table is as large as the state's rows: keep it sharded and reorder globally.
        return placement.full_table(state, wires)
    return placement.read(readout.marginal, state.L, wires, perm, g)


def expval(state: LowRankState, observable) -> Float[Array, ""]:
    """<O> = Tr(L^dagger O L) for a Pauli string, a weighted Pauli sum or a small dense matrix."""
    state = _check_state(state)
    obs = as_observable(observable, state.num_wires)
    if state.rho is not None:
        return ONE_DEVICE.read(readout.dense_expval, state.rho, obs, state.num_wires)
    if isinstance(obs, DenseObservable):
        state = _localize(state, obs.wires)
    placement, perm, g = _where(state)
    return placement.read(readout.expval, state.L, obs, perm, g)


def _localize(state: LowRankState, wires: Sequence[int]) -> LowRankState:
    """The state with ``wires`` on local row bits (a sharded layout swaps them in)."""
    placement, perm, g = _where(state)
    if all(perm[w] >= g for w in wires):
        return state
    if len(wires) > state.num_wires - g:
        raise ObservableError(
            f"a dense observable on {len(wires)} wires does not fit the {state.num_wires - g} "
            "local wires of each shard"
        )
    return placement.localize(state, wires)


def sample(
    state: LowRankState, shots: int, key: jax.Array, wires: Sequence[int] | None = None
) -> Int[Array, "shots wires"]:
    """Draw ``shots`` measurement outcomes as bits (one column per wire, first wire first)."""
    state = _check_state(state)
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise CircuitError(f"shots must be a positive integer, got {shots!r}")
    n = state.num_wires
    wires = tuple(range(n)) if wires is None else check_wires(wires, n)
    if state.rho is not None:
        return ONE_DEVICE.read(readout.dense_sample, state.rho, int(shots), key, wires, n)
    placement, perm, g = _where(state)
    if g:
        if state.batched:
            raise CircuitError("sample takes one state; index the batch with state_at(state, i)")
        if n > 30:
            raise CircuitError("sharded sampling indexes rows with int32: at most 30 wires")
    return placement.read(readout.sample, state.L, int(shots), key, wires, perm, g)


def counts(bits) -> dict[str, int]:
    """Histogram of sampled bit rows as {'0101': count}, most frequent first."""
    arr = np.asarray(bits)
    keys, num = np.unique(arr, axis=0, return_counts=True)
    table = {"".join(str(int(b)) for b in row): int(c) for row, c in zip(keys, num, strict=False)}
    return dict(sorted(table.items(), key=lambda kv: -kv[1]))


def purity(state: LowRankState, wires: Sequence[int] | None = None) -> Float[Array, ""]:
    """Tr(rho^2) = ||L^dagger L||_F^2 (of the stored, unrenormalised state), or of the reduced
    state on ``wires`` (at most 14 of them)."""
    state = _check_state(state)
    if wires is not None and sorted(check_wires(wires, state.num_wires)) != list(range(state.num_wires)):
        return ONE_DEVICE.read(readout.dense_purity, reduced_density_matrix(state, wires))
    if state.rho is not None:
        return ONE_DEVICE.read(readout.dense_purity, state.rho)
    return _where(state)[0].read(readout.purity, state.L)


def trace(state: LowRankState) -> Float[Array, ""]:
    """Tr(rho) = ||L||_F^2 = 1 - discarded up to round-off."""
    return _check_state(state).trace()


def fidelity(state: LowRankState, other) -> Float[Array, ""]:
    """Uhlmann fidelity F = (Tr sqrt(sqrt(rho) sigma sqrt(rho)))^2.

    ``other`` is a LowRankState (F = ||L_rho^dagger L_sigma||_*^2, nuclear norm of an r x r'
    matrix) or a pure state vector psi (F = <psi|rho|psi>).
    """
    state = _check_state(state)
    placement, perm, g = _where(state)
    if isinstance(other, LowRankState) and (state.rho is not None or other.rho is not None):
        if other.num_wires != state.num_wires:
            raise CircuitError(f"fidelity between {state.num_wires} and {other.num_wires} wires")
        a, b = _factor(state), _factor(other)
        m = jnp.matmul(a.conj().T, b.astype(a.dtype), precision="highest")
        return jnp.sum(jnp.linalg.svd(m, compute_uv=False)) ** 2
    if state.rho is not None:
        psi = jnp.asarray(other)
        if psi.shape != (state.dim,):
            raise ObservableError(f"fidelity needs a LowRankState or a state vector of length "
                                  f"{state.dim}, got shape {psi.shape}")
        return ONE_DEVICE.read(readout.dense_amplitude, state.rho, rows=(psi,))
    if isinstance(other, LowRankState):
        if other.num_wires != state.num_wires:
            raise CircuitError(f"fidelity between {state.num_wires} and {other.num_wires} wires")
        if other.layout != state.layout:
            raise CircuitError(
                "fidelity needs both states in the same layout (same placement and wire order); "
                "gather sharded states first (lretjax.distributed.gather)"
            )
        m = placement.read(readout.overlap, state.L, rows=(other.L,))
        return jnp.sum(jnp.linalg.svd(m, compute_uv=False)) ** 2
    psi = jnp.asarray(other)
    if psi.shape != (state.dim,):
        raise ObservableError(
            f"fidelity needs a LowRankState or a state vector of length {state.dim}, got shape {psi.shape}"
        )
    return placement.read(readout.amplitude, state.L, rows=(placement.physical(psi, perm),))


def _factor(state: LowRankState):
    """A factor of rho in wire order: L (gathered), or a root of a dense rho."""
    if state.rho is not None:
        return ONE_DEVICE.read(readout.dense_root, state.rho)
    return state.L if state.layout is None else state.layout.placement.gather(state).L


def reduced_density_matrix(state: LowRankState, wires: Sequence[int]) -> jnp.ndarray:
    """rho on ``wires`` (in that order, the first the high bit): the partial trace over the other
    wires, for at most 14 wires. Formed from L's blocks as A A^dagger, never from rho."""
    state = _check_state(state)
    n = state.num_wires
    wires = check_wires(wires, n)
    if len(wires) > MAX_DENSE_WIRES:
        raise ResourceError(
            f"reduced_density_matrix is limited to {MAX_DENSE_WIRES} wires (4^k entries), got {len(wires)}"
        )
    if state.rho is not None:
        return ONE_DEVICE.read(readout.dense_reduced, state.rho, wires, n)
    placement, perm, g = _where(state)
    if len(wires) > n - g:  # more wires than a shard holds: read the gathered factor
        state = placement.gather(state)
    state = _localize(state, wires)
    placement, perm, g = _where(state)
    return placement.read(readout.reduced, state.L, wires, perm, g)


def rotated(state: LowRankState, rotations: Sequence[tuple]) -> LowRankState:
    """The state after the unitaries ``rotations`` ((matrix, wires) pairs, applied in order).

    Measuring an observable in its eigenbasis reads the state rotated by its diagonalizing
    gates. A sharded state is gathered first (the rotations are a reader's, not a run's).
    """
    state = _check_state(state)
    n = state.num_wires
    wires = tuple(check_wires(w, n) for _, w in rotations)
    if not wires:
        return state
    if state.rho is not None:
        mats = [jnp.asarray(u, state.rho.dtype) for u, _ in rotations]
        return replace(state, rho=ONE_DEVICE.read(readout.dense_rotate, state.rho, mats, wires, n))
    if state.layout is not None:
        state = state.layout.placement.gather(state)
    mats = [jnp.asarray(u, state.L.dtype) for u, _ in rotations]
    return replace(state, L=ONE_DEVICE.read(readout.rotate, state.L, mats, wires, n))


def to_density_matrix(state: LowRankState) -> jnp.ndarray:
    """The dense rho = L L^dagger, for at most 14 wires (4^14 entries)."""
    state = _check_state(state)
    if state.rho is not None:
        return state.rho
    if state.num_wires > MAX_DENSE_WIRES:
        raise ResourceError(
            f"to_density_matrix is limited to {MAX_DENSE_WIRES} wires (4^n entries); this state has "
            f"{state.num_wires}. Use probabilities, expval or fidelity, which never form rho."
        )
    L = state.L if state.layout is None else state.layout.placement.gather(state).L
    return jnp.matmul(L, L.conj().T, precision="highest")
