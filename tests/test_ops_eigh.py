"""The eigensolver behind truncation: the CUDA form (a shifted eigh) against NumPy, on CPU."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lretjax.ops.eigh import _shifted_eigh, eigh


def padded_gram(rng, width, rank):
    """A PSD Gram matrix that is zero outside a few rows, as an untruncated padded factor gives."""
    x = rng.normal(size=(rank, rank)) + 1j * rng.normal(size=(rank, rank))
    g = np.zeros((width, width), complex)
    idx = rng.choice(width, rank, replace=False)
    g[np.ix_(idx, idx)] = x @ x.conj().T / np.trace(x @ x.conj().T).real
    return g


def projector(v, lam, cut):
    keep = v[:, lam > cut]
    return keep @ keep.conj().T


@pytest.mark.parametrize("width,rank", [(1024, 4), (64, 8), (16, 16)])
def test_shifted_eigh_matches_numpy(width, rank):
    g = padded_gram(np.random.default_rng(width), width, rank)
    jacobi = jax.default_backend() == "gpu"  # what eigh runs there; CPU has only the QR solver
    lam, v = jax.jit(functools.partial(_shifted_eigh, jacobi=jacobi))(jnp.asarray(g))
    lam, v = np.asarray(lam), np.asarray(v)
    ref_lam, ref_v = np.linalg.eigh(g)
    assert np.all(np.isfinite(lam)) and np.all(np.isfinite(v))
    np.testing.assert_allclose(lam, ref_lam, atol=1e-12)
    np.testing.assert_allclose(v @ np.diag(lam) @ v.conj().T, g, atol=1e-12)
    # the eigenspace of the nonzero eigenvalues is the same subspace
    cut = 1e-9 * ref_lam[-1]
    np.testing.assert_allclose(projector(v, lam, cut), projector(ref_v, ref_lam, cut), atol=1e-10)


@pytest.mark.skipif(jax.default_backend() == "gpu",
                    reason="on CUDA eigh is the shifted solver, checked by test_shifted_eigh_matches_numpy")
def test_eigh_off_cuda_is_jnp_eigh():
    g = jnp.asarray(padded_gram(np.random.default_rng(1), 32, 5))
    for got, ref in zip(jax.jit(eigh)(g), jnp.linalg.eigh(g), strict=True):
        np.testing.assert_array_equal(got, ref)


def test_shifted_eigh_of_zero_matrix():
    lam, v = _shifted_eigh(jnp.zeros((4, 4), jnp.complex128))
    np.testing.assert_allclose(lam, 0.0, atol=1e-300)
    np.testing.assert_allclose(np.asarray(v) @ np.asarray(v).conj().T, np.eye(4), atol=1e-12)
