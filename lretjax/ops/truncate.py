"""Truncation: keep the leading eigen-directions of rho = L L^dagger through the small Gram matrix."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float, Int

from .eigh import given_eigh, psd_factor, safe_eigh

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


def truncate(L: Complex[Array, "dim rank"], max_rank: int, epsilon: float | Array = 0.0, *,
             roundoff: bool = False, spend_floor: bool = False) -> TruncationResult:
    """Keep at most ``max_rank`` eigen-directions, dropping the smallest whose sum is <= epsilon * trace.

    Eigenvalues at round-off level (below 10 machine epsilons of the largest) are dropped too,
    outside the epsilon budget, and counted in ``discarded``: they are noise of the Gram
    eigensolver, not rank. A cut never splits a cluster of equal eigenvalues (common right after a
    channel) unless the rank cap forces it, so the kept state does not depend on the eigensolver's
    arbitrary basis inside the cluster. ``roundoff=True`` keeps the round-off directions the
    width has room for, and ``spend_floor=True`` charges them to the budget (see ``keep_mask``).
    The output has the static width min(width, max_rank, dim) so shapes stay fixed under jit.
    """
    dim, width = L.shape
    k = min(width, max_rank, dim)
    if width <= dim:
        sel = select(gram(L), k, epsilon, roundoff=roundoff, spend_floor=spend_floor)
        return TruncationResult(jnp.matmul(L, sel.vectors, precision=_HIGHEST), sel.discarded,
                                sel.rank, sel.wanted)
    # More columns than rows: the dim x dim matrix rho = L L^dagger is the smaller problem.
    rho = jnp.matmul(L, L.conj().T, precision=_HIGHEST)
    lam, u = safe_eigh(rho)
    lam, u = jnp.clip(lam[::-1], 0.0), u[:, ::-1]
    keep, wanted, rank = keep_mask(lam, k, epsilon, roundoff, spend_floor)
    discarded = jnp.sum(jnp.where(keep, 0.0, lam))
    # Column i of the new factor is sqrt(lam_i) u_i, with the exact derivative of rho_k.
    return TruncationResult(psd_factor(rho, lam, u, keep[:k]), discarded, rank, wanted)


class Selection(NamedTuple):
    """The kept eigen-directions of a Gram matrix.

    Attributes:
      vectors: (width, k) eigenvectors by decreasing eigenvalue; dropped columns are zero.
      discarded, rank, wanted: as in ``TruncationResult``.
      eig: the eigendecomposition of G it cut (eigenvalues ascending, eigenvectors), which
        ``select(..., eig=)`` takes back to redo the cut without solving again.
    """

    vectors: Complex[Array, "width k"]
    discarded: Float[Array, ""]
    rank: Int[Array, ""]
    wanted: Int[Array, ""]
    eig: tuple[Float[Array, " width"], Complex[Array, "width width"]]


def select(G: Complex[Array, "width width"], k: int, epsilon=0.0, *, roundoff: bool = False,
           eig: tuple[Array, Array] | None = None, spend_floor: bool = False) -> Selection:
    """Diagonalise the Gram matrix G and keep at most k leading directions (the truncation rule).

    ``eig``: G's eigendecomposition as an earlier ``Selection.eig`` gave it, used instead of
    solving again (the derivative in G stays that of ``safe_eigh``: ``ops.eigh.given_eigh``).
    """
    # finite gradient at degenerate eigenvalues
    eig = safe_eigh(G) if eig is None else given_eigh(G, *eig)
    lam, v = jnp.clip(eig[0][::-1], 0.0), eig[1][:, ::-1]  # descending
    keep, wanted, rank = keep_mask(lam, k, epsilon, roundoff, spend_floor)
    discarded = jnp.sum(jnp.where(keep, 0.0, lam))
    return Selection(v[:, :k] * keep[:k].astype(v.dtype), discarded, rank, wanted, eig)


def keep_mask(lam, k: int, epsilon, roundoff: bool = False, spend_floor: bool = False):
    """Which of the descending eigenvalues ``lam`` to keep, how many epsilon alone would keep,
    and the rank (kept eigenvalues above the round-off floor).

    ``roundoff=True`` (a static width, as under tracing, where a column costs the same kept or
    not) also keeps the directions below the floor that fit in the k columns: they carry no
    weight, but their derivative need not vanish (a channel at strength exactly 0 opens new
    directions at first order), so gradients there stay exact.

    ``spend_floor=True`` (a total ``tolerance``, whose promise is the sum of everything dropped)
    charges the weight below the floor to the epsilon budget: in complex64 the floor is 1.2e-6 of
    the largest eigenvalue, and over hundreds of channels at ranks in the hundreds what fell
    under it reached 1.1e-3 beyond a tolerance of 1e-3 (n = 14, docs/benchmarks.md)."""
    n = lam.shape[0]
    trace = jnp.sum(lam)
    eps = jnp.finfo(lam.dtype).eps
    floor = 10 * eps * lam[0]
    above = lam > floor
    # The epsilon budget is spent on eigenvalues above the round-off floor only: in complex64 the
    # hundreds of round-off eigenvalues of a wide Gram matrix summed to most of the budget, so
    # nothing real could be dropped and the rank grew 4x (docs/benchmarks.md). Both are counted in
    # ``discarded``.
    tail = jnp.cumsum(jnp.where(above, lam, 0.0)[::-1])[::-1]  # tail[i] = sum of real lam[i:]
    budget = epsilon * trace
    if spend_floor:
        budget = budget - jnp.sum(jnp.where(above, 0.0, lam))
    wanted = (tail > budget) & above
    # Extend the cut to the whole cluster of eigenvalues equal (to round-off) to the last one kept.
    last = lam[jnp.maximum(jnp.sum(wanted) - 1, 0)]
    wanted = wanted | ((lam >= last - 100 * eps * lam[0]) & above)
    fits = jnp.arange(n) < k
    keep = (wanted | ~above) & fits if roundoff else wanted & fits
    return keep, jnp.sum(wanted), jnp.sum(keep & above)
