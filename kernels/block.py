"""Pallas kernel: apply one dense 2^k x 2^k block matrix to L, in one pass over memory.

L (2^n, r) is given as two float arrays (real, imaginary): Pallas takes no complex dtypes.
Viewed as (2,)*n + (r,), the block's k wires split the flat index into gaps:
``(g0, 2, g1, 2, ..., 2, gk)``. One program loads, for a tile of the gap dimensions, all 2^k
amplitudes of each column (2^k strided sub-tiles), multiplies them by the block matrix in registers
and writes them back once. So a block of many gates costs one read and one write of L.

The same kernel serves blocks on fast-varying wires (the 2^k sub-tiles are neighbours: one
contiguous slab) and blocks whose wires include high-stride wires (the sub-tiles are far apart; each
is still a contiguous run along the innermost gap, so loads stay coalesced). Tiles are filled from
the innermost gap outwards so every load is as contiguous as the layout allows.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

# Amplitudes per sub-tile: 2^k sub-tiles of this many floats, real and imaginary, live in
# registers together, so wide blocks get smaller tiles.
_TILE_ELEMS = {1: 2048, 2: 1024, 3: 512, 4: 256, 5: 256, 6: 128}


def _pow2_divisor(n: int, cap: int) -> int:
    """Largest power of two dividing ``n`` and at most ``cap``."""
    t = 1
    while t * 2 <= cap and n % (t * 2) == 0:
        t *= 2
    return t


def block_layout(wires: Sequence[int], num_wires: int, rank: int, tile: int | None = None):
    """View shape, block shape and grid decomposition for a block on sorted ``wires``."""
    s = sorted(wires)
    k = len(s)
    gaps = [2 ** s[0]]
    gaps += [2 ** (b - a - 1) for a, b in zip(s[:-1], s[1:], strict=True)]
    gaps.append(2 ** (num_wires - 1 - s[-1]) * rank)
    budget = tile or _TILE_ELEMS.get(k, 128)
    tiles = [1] * (k + 1)
    for j in range(k, -1, -1):  # innermost gap first: contiguous loads
        tiles[j] = _pow2_divisor(gaps[j], budget)
        budget //= tiles[j]
    view, block = [], []
    for j in range(k + 1):
        view.append(gaps[j])
        block.append(tiles[j])
        if j < k:
            view.append(2)
            block.append(2)
    counts = [g // t for g, t in zip(gaps, tiles, strict=True)]
    return tuple(view), tuple(block), counts


def _index_map(counts):
    k = len(counts) - 1

    def index_map(i):
        idx = []
        rem = i
        for c in reversed(counts):
            idx.append(rem % c)
            rem = rem // c
        idx = idx[::-1]
        out = []
        for j in range(k + 1):
            out.append(idx[j])
            if j < k:
                out.append(0)
        return tuple(out)

    return index_map


def _block_kernel(k, ure_ref, uim_ref, xr_ref, xi_ref, or_ref, oi_ref):
    d = 2**k

    def where(b):
        idx = []
        for j in range(k):
            idx.append(slice(None))
            idx.append((b >> (k - 1 - j)) & 1)
        idx.append(slice(None))
        return tuple(idx)

    xr = [xr_ref[where(b)] for b in range(d)]
    xi = [xi_ref[where(b)] for b in range(d)]
    for a in range(d):
        acc_r = acc_i = None
        for b in range(d):
            u_r = ure_ref[a, b]
            u_i = uim_ref[a, b]
            tr = u_r * xr[b] - u_i * xi[b]
            ti = u_r * xi[b] + u_i * xr[b]
            acc_r = tr if acc_r is None else acc_r + tr
            acc_i = ti if acc_i is None else acc_i + ti
        or_ref[where(a)] = acc_r
        oi_ref[where(a)] = acc_i


def sort_block(u_re, u_im, wires: Sequence[int]):
    """Permute a block matrix given on ``wires`` (first = high bit) to ascending wire order."""
    k = len(wires)
    perm = sorted(range(k), key=lambda j: wires[j])
    if perm == list(range(k)):
        return u_re, u_im
    axes = perm + [k + p for p in perm]

    def fix(u):
        return jnp.transpose(u.reshape((2,) * (2 * k)), axes).reshape(2**k, 2**k)

    return fix(u_re), fix(u_im)


@functools.partial(jax.jit, static_argnames=("wires", "num_wires", "interpret", "tile", "num_warps"))
def apply_block(
    re: jax.Array,
    im: jax.Array,
    u_re: jax.Array,
    u_im: jax.Array,
    *,
    wires: tuple[int, ...],
    num_wires: int,
    interpret: bool = False,
    tile: int | None = None,
    num_warps: int = 4,
):
    """(re + i im) <- U (re + i im) with U = u_re + i u_im on ``wires``; returns (re, im).

    ``re``/``im`` have shape (2^n, r); U's first wire is the high bit of its index.
    """
    k = len(wires)
    if len(set(wires)) != k or not 1 <= k <= 6:
        raise ValueError(f"apply_block: need 1..6 distinct wires, got {wires}")
    dim, rank = re.shape
    if dim != 2**num_wires:
        raise ValueError(f"apply_block: L has {dim} rows, expected 2^{num_wires}")
    u_re, u_im = sort_block(u_re.astype(re.dtype), u_im.astype(re.dtype), wires)
    view, block, counts = block_layout(wires, num_wires, rank, tile)
    grid = (math.prod(counts),)
    x_spec = pl.BlockSpec(block, _index_map(counts))
    u_spec = pl.BlockSpec((2**k, 2**k), lambda i: (0, 0))
    kwargs = {}
    if not interpret:
        from jax.experimental.pallas import triton as pltriton

        kwargs["compiler_params"] = pltriton.CompilerParams(num_warps=num_warps, num_stages=1)
    out_shape = jax.ShapeDtypeStruct(view, re.dtype)
    out_r, out_i = pl.pallas_call(
        functools.partial(_block_kernel, k),
        out_shape=(out_shape, out_shape),
        grid=grid,
        in_specs=[u_spec, u_spec, x_spec, x_spec],
        out_specs=(x_spec, x_spec),
        interpret=interpret,
        **kwargs,
    )(u_re, u_im, re.reshape(view), im.reshape(view))
    return out_r.reshape(dim, rank), out_i.reshape(dim, rank)
