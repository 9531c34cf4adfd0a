"""A channel followed by truncation, without stacking the m Kraus copies of L.

The stacked factor S = [K_1 L | ... | K_m L] is linear in L's row blocks on the channel's wires.
Write Lw for L with those k wires moved next to the rank axis, as a (2^(n-k), d r) matrix
(d = 2^k; column (b, p) holds rank column p of the rows whose channel bits are b). Then

  G = S^dagger S,   G_(i p),(j q) = sum_bc (K_i^dagger K_j)_bc M_(b p),(c q),   M = Lw^dagger Lw,
  S V = Lw W,       W_(b p),(a q) = sum_i (K_i)_ab V_(i p),q,

so the Gram matrix costs one (d r)^2 product over 2^(n-k) rows instead of an (m r)^2 one over
2^n rows (8x fewer operations for a one-wire depolarizing channel, 64x for a two-wire one), the
kept factor one (d r) x (d k) product, and S is never held in memory: a channel needs L, Lw and the
new factor rather than m + 1 copies of L. The eigenproblem is unchanged (G is exactly S^dagger S),
so results equal ``truncate(apply_channel(...))`` to round-off.

After every truncation L = S V has orthogonal columns (L^dagger L = V^dagger G V is diagonal), and
gates keep them so. For a one-wire channel M = [[A, B], [B^dagger, D]] then has A + D diagonal,
so ``orthogonal_block`` forms only A = L_0^dagger L_0 and B = L_0^dagger L_1 and takes D's
off-diagonal from -A and its diagonal from L_1's column norms: half the products of the Gram
block, equal to it up to the round-off by which L's columns fail to be orthogonal.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float, Int

from .apply import apply_channel
from .inner import sq_norm
from .truncate import gram, select, truncate

_HIGHEST = jax.lax.Precision.HIGHEST


def wires_last(L: Complex[Array, "rows r"], wires: Sequence[int], num_wires: int) -> Array:
    """L as the (2^(n-k), 2^k r) matrix Lw: the channel's wires moved next to the rank axis."""
    k, r = len(wires), L.shape[-1]
    rest = [w for w in range(num_wires) if w not in wires]
    t = L.reshape((2,) * num_wires + (r,))
    t = jnp.transpose(t, rest + list(wires) + [num_wires])
    return t.reshape(2 ** (num_wires - k), 2**k * r)


def wires_back(Lw: Array, wires: Sequence[int], num_wires: int) -> Array:
    """Inverse of ``wires_last`` for a factor of any width: (2^(n-k), 2^k c) -> (2^n, c)."""
    k = len(wires)
    c = Lw.shape[-1] // 2**k
    rest = [w for w in range(num_wires) if w not in wires]
    order = rest + list(wires) + [num_wires]
    t = Lw.reshape((2,) * num_wires + (c,))
    inverse = [order.index(a) for a in range(num_wires + 1)]
    return jnp.transpose(t, inverse).reshape(2**num_wires, c)


def orthogonal_block(Lw: Complex[Array, "rows 2r"]) -> Complex[Array, "2r 2r"]:
    """M = Lw^dagger Lw for a one-wire channel on an L whose columns are orthogonal (module
    docstring): two of the four r x r products, D from -A off the diagonal and L_1's column norms
    on it. Linear in the rows' contributions, so shards may sum it like ``gram``."""
    r = Lw.shape[-1] // 2
    L0, L1 = Lw[:, :r], Lw[:, r:]
    A = jnp.matmul(L0.conj().T, L0, precision=_HIGHEST)
    B = jnp.matmul(L0.conj().T, L1, precision=_HIGHEST)
    norms = jnp.sum(jnp.abs(L1) ** 2, axis=0).astype(Lw.dtype)
    D = jnp.diag(norms + jnp.diagonal(A)) - A
    return jnp.block([[A, B], [B.conj().T, D]])


def channel_gram(
    Lw: Array, kraus: Complex[Array, "m d d"], psum: Callable[[Array], Array] | None = None, *,
    orthogonal: bool = False,
) -> Complex[Array, "mr mr"]:
    """G = S^dagger S of the stacked factor, from Lw; ``psum`` sums the block over row shards.
    ``orthogonal``: L's columns are orthogonal, so a one-wire channel's block needs half the
    products (``orthogonal_block``)."""
    M = orthogonal_block(Lw) if orthogonal and kraus.shape[-1] == 2 else gram(Lw)
    if psum is not None:
        M = psum(M)
    return gram_of_stack(M, kraus)


def gram_of_stack(M: Complex[Array, "dr dr"], kraus: Complex[Array, "m d d"]) -> Complex[Array, "mr mr"]:
    """G = S^dagger S from the block M = Lw^dagger Lw (summed over every row of L)."""
    m, d, _ = kraus.shape
    r = M.shape[-1] // d
    kraus = kraus.astype(M.dtype)
    C = jnp.einsum("iab,jac->ijbc", kraus.conj(), kraus, precision=_HIGHEST)  # K_i^dagger K_j
    G = jnp.einsum("ijbc,bpcq->ipjq", C, M.reshape(d, r, d, r), precision=_HIGHEST)
    G = G.reshape(m * r, m * r)
    return 0.5 * (G + G.conj().T)  # exactly Hermitian, as eigh assumes


def channel_factor(Lw: Array, kraus: Complex[Array, "m d d"], V: Complex[Array, "mr k"]) -> Array:
    """S V in the layout of Lw, a (2^(n-k), d k) matrix (``wires_back`` restores row order)."""
    m, d, _ = kraus.shape
    r, k = Lw.shape[-1] // d, V.shape[-1]
    W = jnp.einsum("iab,ipq->bpaq", kraus.astype(Lw.dtype), V.reshape(m, r, k), precision=_HIGHEST)
    return jnp.matmul(Lw, W.reshape(d * r, d * k), precision=_HIGHEST)


def channel_unfactor(Lw: Array, kraus: Complex[Array, "m d d"], V: Complex[Array, "mr k"]) -> Array:
    """The inverse of ``channel_factor`` up to the truncation: Lw_new W^dagger = sum_i K_i^dagger S_i
    with S = L_new V^dagger, the stacked factor as far as the kept directions V carry it.

    Exact when nothing was dropped (S V V^dagger = S and sum_i K_i^dagger K_i = I); otherwise off
    by at most sqrt(discarded weight) in Frobenius norm (both maps are contractions)."""
    m, d, _ = kraus.shape
    k = V.shape[-1]
    W = jnp.einsum("iab,ipq->bpaq", kraus.astype(Lw.dtype), V.reshape(m, -1, k), precision=_HIGHEST)
    W = W.reshape(-1, d * k)
    return jnp.matmul(Lw, W.conj().T, precision=_HIGHEST)


def chunk_window(wires: Sequence[int], num_wires: int, chunks: int) -> tuple[int, int]:
    """(p, t): L's rows split into 2^t <= ``chunks`` blocks along wires p .. p + t - 1, which hold
    none of ``wires``, so each block holds every channel wire. t is as large as such a run of
    free wires allows."""
    for t in range(chunks.bit_length() - 1, 0, -1):
        for p in range(num_wires - t + 1):
            if not any(p <= w < p + t for w in wires):
                return p, t
    return 0, 0


def _blocks(L: Array, wires: Sequence[int], num_wires: int, chunks: int):
    """(view, block, local wires, wires per block): L as (2^p, 2^t, rest) with block c = view[:, c]
    an L of n - t wires, the channel's wires renumbered (``chunk_window``)."""
    p, t = chunk_window(wires, num_wires, chunks)
    view = L.reshape(2**p, 2**t, -1)
    local = tuple(w if w < p else w - t for w in wires)

    def block(c):
        return jax.lax.dynamic_index_in_dim(view, c, axis=1, keepdims=False).reshape(-1, L.shape[-1])

    return view, block, local, num_wires - t


def chunked_gram(L: Complex[Array, "rows r"], wires: Sequence[int], num_wires: int, chunks: int) -> Array:
    """M = Lw^dagger Lw (as ``gram(wires_last(L, ...))``), summed over up to ``chunks`` row blocks
    of L: only one block's moved copy exists at a time."""
    view, block, local, nb = _blocks(L, wires, num_wires, chunks)
    zero = jnp.zeros((2 ** len(wires) * L.shape[-1],) * 2, L.dtype)
    return jax.lax.fori_loop(0, view.shape[1], lambda c, M: M + gram(wires_last(block(c), local, nb)), zero)


def stacks_wide(num_kraus: int, shape) -> bool:
    """More stacked columns than rows: then rho itself (dim x dim) is the smaller eigenproblem."""
    return num_kraus * shape[-1] > shape[0]


class ChannelResult(NamedTuple):
    """A channel's truncated factor (as ``TruncationResult``) and Tr G = Tr(sum K_i rho K_i^dagger)."""

    L: Complex[Array, "dim k"]
    discarded: Float[Array, ""]
    rank: Int[Array, ""]
    wanted: Int[Array, ""]
    trace: Float[Array, ""]


def channel_truncate(
    L: Complex[Array, "rows r"], kraus: Complex[Array, "m d d"], wires: Sequence[int],
    num_wires: int, max_rank: int, epsilon=0.0, *, psum=None, dim: int | None = None,
) -> ChannelResult:
    """``truncate(apply_channel(L, kraus, wires), max_rank, epsilon)`` without the stacked copies.

    ``L`` may be one row shard (``num_wires`` local wires, the channel's among them) with ``psum``
    summing over shards and ``dim`` the full row count. The output width is min(m r, max_rank, dim).
    """
    kraus = jnp.asarray(kraus).astype(L.dtype)
    m = kraus.shape[0]
    if psum is None and stacks_wide(m, L.shape):
        # More stacked columns than rows: ``truncate`` diagonalises rho itself, the smaller problem.
        S = apply_channel(L, kraus, wires, num_wires)
        t = truncate(S, max_rank, epsilon)
        return ChannelResult(t.L, t.discarded, t.rank, t.wanted, sq_norm(S))
    Lw = wires_last(L, wires, num_wires)
    G = channel_gram(Lw, kraus, psum)
    k = min(m * L.shape[-1], max_rank, L.shape[0] if dim is None else dim)
    sel = select(G, k, epsilon)
    out = wires_back(channel_factor(Lw, kraus, sel.vectors), wires, num_wires)
    trace = jnp.real(jnp.trace(G))
    return ChannelResult(out, sel.discarded, sel.rank, sel.wanted, trace)
