"""Pallas kernel: the Gram matrix G = X^dagger X of a tall complex matrix, in one read of X.

Truncation diagonalises G = L^dagger L (or, after a channel, the Gram matrix of L with the
channel's wires moved next to the rank axis). X is tall and thin: 2^23 rows by 32 columns is
typical. cuBLAS treats that as a matrix product with a huge contraction dimension and reaches a
fifth of the read bandwidth (docs/performance.md). Here each program owns a contiguous run of rows,
walks it in sub-blocks of ``block_rows``, accumulates the c x c partial products in registers and
writes them once; XLA then sums the few hundred partials.

X arrives as two float planes (real, imaginary), since Pallas takes no complex dtypes:

  Re G = R^T R + I^T I,    Im G = R^T I - I^T R.

Wide X (c > ``TILE``) is split into T x T output tiles, each its own program column, so the
accumulators stay in registers. ``algorithm`` picks the dot's arithmetic: ``"ieee"`` is exact
float32 on the CUDA cores, ``"tf32x3"`` splits each operand into two TF32 halves and runs three
tensor-core products, accurate to about float32 round-off.

Measured on an H100 it beats XLA's dot only from float planes and only at c <= 32; splitting a
complex L into planes first costs more than it saves, so the simulator does not call it
(docs/performance.md, section 4). It is the Gram step of a simulator that keeps L split.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

from .block import _pow2_divisor

TILE = 64  # widest output tile: the two T x T float32 accumulators stay in registers
MIN_COLS = 16  # Triton's dot needs every dimension >= 16
SUB_ELEMS = 4096  # floats per plane ref per sub-block: 256 x 32 overflowed shared memory
_PROGRAMS = 1024  # row runs: several per SM on an H100 (132 SMs), few partials to sum

_ALGORITHMS = {
    "ieee": jax.lax.Precision.HIGHEST,
    "tf32x3": jax.lax.DotAlgorithmPreset.TF32_TF32_F32_X3,
}


def gram_layout(rows: int, cols: int, block_rows: int = 256, programs: int = _PROGRAMS):
    """(row runs, rows per run, rows per sub-block, output tile) for an X of this shape.

    Raises ValueError for shapes the kernel does not take (columns not a power of two >= 16, or
    rows not divisible into runs of whole sub-blocks); use XLA's product for those.
    """
    if cols < MIN_COLS or cols & (cols - 1):
        raise ValueError(f"gram kernel: need a power of two >= {MIN_COLS} columns, got {cols}")
    # Each program holds a sub-block of every plane it reads in registers: bound it at SUB_ELEMS.
    sub = _pow2_divisor(rows, min(block_rows, max(SUB_ELEMS // min(cols, TILE), MIN_COLS)))
    if sub < MIN_COLS:
        raise ValueError(f"gram kernel: {rows} rows have no power-of-two block of >= {MIN_COLS}")
    runs = _pow2_divisor(rows // sub, programs)
    return runs, rows // runs, sub, min(cols, TILE)


def _dot_t(a, b, precision):
    """a^T b, contracting the row axis, accumulated in float32."""
    return jax.lax.dot_general(a, b, (((0,), (0,)), ((), ())), precision=precision,
                               preferred_element_type=jnp.float32)


def _gram_kernel(sub, precision, r_i, i_i, r_j, i_j, gr_ref, gi_ref):
    """One row run and one output tile. Each tile's planes are loaded by their own refs even on the
    diagonal: one load feeding both operands of a dot made Triton convert layouts through shared
    memory, 3x slower on an H100 (docs/performance.md)."""

    def body(s, acc):
        rows = pl.ds(pl.multiple_of(s * sub, sub), sub)
        a_r, a_i, b_r, b_i = r_i[rows, :], i_i[rows, :], r_j[rows, :], i_j[rows, :]
        return (acc[0] + _dot_t(a_r, b_r, precision) + _dot_t(a_i, b_i, precision),
                acc[1] + _dot_t(a_r, b_i, precision) - _dot_t(a_i, b_r, precision))

    zero = jnp.zeros(gr_ref.shape[1:], jnp.float32)
    re, im = jax.lax.fori_loop(0, r_i.shape[0] // sub, body, (zero, zero))
    gr_ref[0, :, :] = re
    gi_ref[0, :, :] = im


@functools.partial(
    jax.jit, static_argnames=("interpret", "block_rows", "programs", "algorithm", "num_warps")
)
def gram_planes(
    re: jax.Array,
    im: jax.Array,
    *,
    interpret: bool = False,
    block_rows: int = 256,
    programs: int = _PROGRAMS,
    algorithm: str = "ieee",
    num_warps: int = 4,
) -> tuple[jax.Array, jax.Array]:
    """(Re G, Im G) for G = X^dagger X with X = re + i im, both (rows, c) float32.

    Accumulates in float32 whatever the input dtype (Triton has no fast float64 dot), so callers
    use it for complex64 factors only.
    """
    if re.shape != im.shape or re.ndim != 2:
        raise ValueError(f"gram_planes: need two equal 2-d planes, got {re.shape} and {im.shape}")
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"gram_planes: algorithm must be one of {sorted(_ALGORITHMS)}")
    rows, cols = re.shape
    runs, run, sub, tile = gram_layout(rows, cols, block_rows, programs)
    tiles = cols // tile
    spec_i = pl.BlockSpec((run, tile), lambda p, i, j: (p, i))
    spec_j = pl.BlockSpec((run, tile), lambda p, i, j: (p, j))
    out_spec = pl.BlockSpec((1, tile, tile), lambda p, i, j: (p, i, j))
    out_shape = jax.ShapeDtypeStruct((runs, cols, cols), jnp.float32)
    kwargs = {}
    if not interpret:
        from jax.experimental.pallas import triton as pltriton

        kwargs["compiler_params"] = pltriton.CompilerParams(num_warps=num_warps, num_stages=2)
    gr, gi = pl.pallas_call(
        functools.partial(_gram_kernel, sub, _ALGORITHMS[algorithm]),
        out_shape=(out_shape, out_shape),
        grid=(runs, tiles, tiles),
        in_specs=[spec_i, spec_i, spec_j, spec_j],
        out_specs=(out_spec, out_spec),
        interpret=interpret,
        **kwargs,
    )(*(a.astype(jnp.float32) for a in (re, im, re, im)))
    return jnp.sum(gr, axis=0), jnp.sum(gi, axis=0)
