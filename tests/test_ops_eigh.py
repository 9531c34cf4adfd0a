"""The eigensolver behind truncation: the CUDA form (a shifted eigh) against NumPy, on CPU."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lretjax.ops.eigh import _shifted_eigh, eigh, given_eigh, safe_eigh


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


def degenerate_hermitian(rng, width, multiplicities):
    """A random Hermitian matrix whose eigenvalues come in groups of the given multiplicities
    (exactly equal inside a group, zeros included), in a random basis."""
    lam = np.concatenate([np.full(m, float(x)) for m, x in
                          zip(multiplicities, rng.uniform(-1, 1, len(multiplicities)), strict=True)])
    lam = np.concatenate([lam, np.zeros(width - lam.size)])
    q, _ = np.linalg.qr(rng.normal(size=(width, width)) + 1j * rng.normal(size=(width, width)))
    a = (q * lam) @ q.conj().T
    return 0.5 * (a + a.conj().T)


@pytest.mark.parametrize("width,multiplicities", [(6, [1, 1, 1, 1, 1, 1]), (8, [3, 1, 2]), (12, [4, 4, 1])])
def test_given_eigh_differentiates_as_safe_eigh(width, multiplicities):
    # given_eigh is the adjoint sweep's stand-in for safe_eigh: fed safe_eigh's own result, its
    # forward value and its JVP must be safe_eigh's, degenerate groups and zero rows included.
    rng = np.random.default_rng(width)
    a = jnp.asarray(degenerate_hermitian(rng, width, multiplicities))
    da = jnp.asarray(rng.normal(size=(width, width)) + 1j * rng.normal(size=(width, width)))
    lam, v = safe_eigh(a)
    want, dwant = jax.jvp(safe_eigh, (a,), (da,))
    got, dgot = jax.jvp(lambda x: given_eigh(x, lam, v), (a,), (da,))
    for x, y in zip(got + dgot, want + dwant, strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=1e-12)
    # lam and v are data: no derivative flows into them
    g = jax.grad(lambda l, u: jnp.sum(jnp.real(given_eigh(a, l, u)[1])) + jnp.sum(given_eigh(a, l, u)[0]),
                 argnums=(0, 1))(lam, v)
    assert all(np.all(np.asarray(x) == 0) for x in g)
