"""Pallas block kernel in interpret mode against a plain NumPy reference."""

import jax.numpy as jnp
import numpy as np
import pytest

from lretjax.kernels import apply_block, block_layout


def ref_apply(L, u, wires, n):
    k = len(wires)
    t = L.reshape((2,) * n + (L.shape[1],))
    out = np.tensordot(u.reshape((2,) * 2 * k), t, axes=(list(range(k, 2 * k)), list(wires)))
    return np.moveaxis(out, list(range(k)), list(wires)).reshape(L.shape)


CASES = [
    (4, 2, (1,)),  # one middle wire
    (5, 3, (4, 0)),  # highest-stride and lowest-stride wire, unsorted, odd rank
    (6, 4, (2, 5, 0)),  # three scattered wires
    (5, 1, (0, 1)),  # high-stride block, rank 1
    (6, 2, (5, 4)),  # fast-varying block, reversed order
]


@pytest.mark.parametrize("n,r,wires", CASES)
@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-6), (np.float64, 1e-12)])
def test_apply_block_matches_numpy(n, r, wires, dtype, tol):
    rng = np.random.default_rng(len(wires) * 10 + n)
    L = rng.normal(size=(2**n, r)) + 1j * rng.normal(size=(2**n, r))
    d = 2 ** len(wires)
    u = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    a, b = apply_block(
        jnp.asarray(L.real, dtype), jnp.asarray(L.imag, dtype), jnp.asarray(u.real, dtype),
        jnp.asarray(u.imag, dtype), wires=wires, num_wires=n, interpret=True,
    )
    assert a.dtype == dtype
    got = np.asarray(a, np.float64) + 1j * np.asarray(b, np.float64)
    ref = ref_apply(L, u, wires, n)
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < tol


def test_small_tile_covers_every_element():
    """A tiny tile budget makes many programs; every amplitude must still be written once."""
    rng = np.random.default_rng(7)
    n, r, wires = 6, 2, (3, 1)
    L = rng.normal(size=(2**n, r)) + 1j * rng.normal(size=(2**n, r))
    u = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    a, b = apply_block(jnp.asarray(L.real), jnp.asarray(L.imag), jnp.asarray(u.real), jnp.asarray(u.imag),
                       wires=wires, num_wires=n, interpret=True, tile=2)
    got = np.asarray(a) + 1j * np.asarray(b)
    np.testing.assert_allclose(got, ref_apply(L, u, wires, n), atol=1e-12)


def test_layout_tiles_innermost_gap_first():
    view, block, counts = block_layout((0,), 4, 8, tile=16)
    assert view == (1, 2, 64) and block == (1, 2, 16) and counts == [1, 4]
    view, block, counts = block_layout((3,), 4, 2, tile=16)
    assert view == (8, 2, 2) and block == (8, 2, 2) and counts == [1, 1]


def test_rejects_bad_wires():
    x = jnp.zeros((8, 1))
    u = jnp.eye(2)
    with pytest.raises(ValueError, match="distinct"):
        apply_block(x, x, jnp.eye(4), jnp.eye(4), wires=(1, 1), num_wires=3, interpret=True)
    with pytest.raises(ValueError, match="rows"):
        apply_block(x, x, u, u, wires=(0,), num_wires=4, interpret=True)
