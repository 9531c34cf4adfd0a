"""Truncation: keep the leading eigen-directions of rho = L L^dagger through the small Gram matrix."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float, Int

_HIGHEST = jax.lax.Precision.HIGHEST


class TruncationResult(NamedTuple):
    """The truncated factor and what it cost.

    Attributes:
      L: (dim, k) factor with orthogonal columns, sorted by decreasing norm; dropped columns are zero.
      discarded: sum of the dropped eigenvalues of rho (the trace-norm error of this step).
      rank: number of nonzero columns kept.
      wanted: eigenvalues the epsilon rule alone would keep (> k means the rank cap bit).
    """

    L: Complex[Array, "dim k"]
    discarded: Float[Array, ""]
    rank: Int[Array, ""]
    wanted: Int[Array, ""]


def gram(L: Complex[Array, "dim rank"]) -> Complex[Array, "rank rank"]:
    """G = L^dagger L, whose nonzero eigenvalues are those of rho = L L^dagger."""
    return jnp.matmul(L.conj().T, L, precision=_HIGHEST)


def truncate(L: Complex[Array, "dim rank"], max_rank: int, epsilon: float | Array = 0.0) -> TruncationResult:
    """Keep at most ``max_rank`` eigen-directions, dropping the smallest whose sum is <= epsilon * trace.

    Eigenvalues at round-off level (below 10 machine epsilons of the largest) are dropped too, and
    counted in ``discarded``: they are noise of the Gram eigensolver, not rank.
    The output has the static width min(rank(L), max_rank) so shapes stay fixed under jit.
    """
    width = L.shape[1]
    k = min(width, max_rank)
    lam, v = jnp.linalg.eigh(gram(L))
    lam, v = jnp.clip(lam[::-1], 0.0), v[:, ::-1]  # descending
    trace = jnp.sum(lam)
    tail = jnp.cumsum(lam[::-1])[::-1]  # tail[i] = sum of lam[i:]
    floor = 10 * jnp.finfo(lam.dtype).eps * lam[0]
    wanted_mask = (tail > epsilon * trace) & (lam > floor)
    keep = wanted_mask & (jnp.arange(width) < k)
    discarded = jnp.sum(jnp.where(keep, 0.0, lam))
    Lk = jnp.matmul(L, v[:, :k], precision=_HIGHEST) * keep[:k].astype(L.dtype)
    return TruncationResult(Lk, discarded, jnp.sum(keep), jnp.sum(wanted_mask))
