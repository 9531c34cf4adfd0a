"""The Pallas Gram kernel in interpret mode against NumPy."""

import jax.numpy as jnp
import numpy as np
import pytest

from lretjax.kernels import gram_layout, gram_planes


def rand_factor(rows, cols, seed, dtype=np.complex64):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(rows, cols)) + 1j * rng.normal(size=(rows, cols))).astype(dtype)


def ref_gram(X):
    X = X.astype(np.complex128)
    return X.conj().T @ X


@pytest.mark.parametrize(
    "rows,cols,programs,block_rows",
    [
        (256, 16, 4, 64),  # several runs of several sub-blocks
        (4096, 32, 1024, 256),  # more runs wanted than rows allow: one sub-block each
        (1024, 128, 2, 128),  # two 64 x 64 output tiles per side
        (2**13, 64, 16, 256),
    ],
)
def test_gram_planes_matches_numpy(rows, cols, programs, block_rows):
    X = rand_factor(rows, cols, rows + cols)
    gr, gi = gram_planes(jnp.asarray(X.real), jnp.asarray(X.imag), interpret=True,
                         programs=programs, block_rows=block_rows)
    got = np.asarray(gr, np.float64) + 1j * np.asarray(gi, np.float64)
    ref = ref_gram(X)
    # float32 accumulation of `rows` products: relative error ~ sqrt(rows) * 6e-8 at worst
    assert np.max(np.abs(got - ref)) / np.max(np.abs(ref)) < 1e-6


def test_layout_covers_rows_and_tiles_wide_outputs():
    runs, run, sub, tile = gram_layout(2**20, 128)
    assert runs * run == 2**20 and run % sub == 0 and tile == 64
    assert gram_layout(2**20, 16)[3] == 16


@pytest.mark.parametrize("shape", [(256, 8), (256, 24), (24, 16), (8, 16)])
def test_layout_rejects_shapes_the_kernel_cannot_tile(shape):
    with pytest.raises(ValueError, match="gram kernel"):
        gram_layout(*shape)
