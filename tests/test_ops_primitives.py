"""The apply_matrix / apply_kraus primitives: jaxpr names, values, vmap and grad against NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lretjax.ops import apply_channel, apply_matrix
from lretjax.ops.primitives import apply_kraus_prim, apply_matrix_prim


def ref_apply(L, u, wires, n):
    k = len(wires)
    t = L.reshape((2,) * n + (L.shape[1],))
    out = np.tensordot(u.reshape((2,) * 2 * k), t, axes=(list(range(k, 2 * k)), list(wires)))
    return np.moveaxis(out, list(range(k)), list(wires)).reshape(L.shape)


def crand(rng, *shape):
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


WIRES = [(0,), (3,), (2, 0), (1, 3, 4), (4, 0, 2, 1), (0, 1, 2, 3, 4), (5, 4, 3, 2, 1, 0)]


@pytest.mark.parametrize("wires", WIRES)
def test_apply_matrix_matches_numpy(wires):
    rng = np.random.default_rng(len(wires))
    n, r = 6, 3
    L, u = crand(rng, 2**n, r), crand(rng, 2 ** len(wires), 2 ** len(wires))
    got = jax.jit(lambda L, u: apply_matrix_prim(L, u, wires, n))(L, u)
    np.testing.assert_allclose(got, ref_apply(L, u, wires, n), atol=1e-12)


def test_complex64_precision():
    rng = np.random.default_rng(3)
    n, wires = 5, (4, 1, 2)
    L, u = crand(rng, 2**n, 2), crand(rng, 8, 8)
    L32, u32 = jnp.asarray(L, jnp.complex64), jnp.asarray(u, jnp.complex64)
    got = np.asarray(apply_matrix_prim(L32, u32, wires, n))
    ref = ref_apply(L, u, wires, n)
    assert got.dtype == np.complex64
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 1e-6


def test_named_in_jaxpr():
    L, u, K = jnp.ones((8, 1), complex), jnp.eye(2, dtype=complex), jnp.ones((2, 2, 2), complex)
    text = str(jax.make_jaxpr(lambda L: apply_channel(apply_matrix(L, u, [1], 3), K, [2], 3))(L))
    assert "apply_matrix[" in text and "apply_kraus[" in text


def test_apply_kraus_stacks_columns():
    rng = np.random.default_rng(4)
    n, r, wires = 4, 2, (2, 0)
    L, K = crand(rng, 2**n, r), crand(rng, 3, 4, 4)
    got = apply_kraus_prim(L, K, wires, n)
    ref = np.concatenate([ref_apply(L, K[i], wires, n) for i in range(3)], axis=1)
    np.testing.assert_allclose(got, ref, atol=1e-12)


def test_vmap_over_L_and_over_matrix():
    rng = np.random.default_rng(5)
    n, wires = 4, (3, 1)
    Ls, us = crand(rng, 3, 2**n, 2), crand(rng, 3, 4, 4)
    got = jax.vmap(lambda L: apply_matrix_prim(L, us[0], wires, n))(Ls)
    np.testing.assert_allclose(got, [ref_apply(L, us[0], wires, n) for L in Ls], atol=1e-12)
    got = jax.vmap(lambda u: apply_matrix_prim(Ls[0], u, wires, n))(us)
    np.testing.assert_allclose(got, [ref_apply(Ls[0], u, wires, n) for u in us], atol=1e-12)
    got = jax.vmap(lambda L, u: apply_matrix_prim(L, u, wires, n), in_axes=(0, 0))(Ls, us)
    ref = [ref_apply(L, u, wires, n) for L, u in zip(Ls, us, strict=True)]
    np.testing.assert_allclose(got, ref, atol=1e-12)
    K = crand(rng, 2, 4, 4)
    got = jax.vmap(lambda L: apply_kraus_prim(L, K, wires, n))(Ls)
    ref = [np.concatenate([ref_apply(L, K[i], wires, n) for i in range(2)], axis=1) for L in Ls]
    np.testing.assert_allclose(got, ref, atol=1e-12)


def _loss_ref(L, u, wires, n, w):
    out = ref_apply(L, u, wires, n)
    return float(np.sum(w * np.abs(out) ** 2))


def test_grad_wrt_L_and_matrix_matches_finite_differences():
    rng = np.random.default_rng(6)
    n, wires = 4, (2, 0)
    L, u = crand(rng, 2**n, 2), crand(rng, 4, 4)
    w = rng.random((2**n, 2))

    def loss(L, u):
        return jnp.sum(w * jnp.abs(apply_matrix_prim(L, u, wires, n)) ** 2)

    gL, gu = jax.grad(loss, argnums=(0, 1))(L, u)
    h = 1e-6
    for (i, j) in [(0, 0), (5, 1), (13, 0)]:
        for step in (h, 1j * h):
            Lp, Lm = L.copy(), L.copy()
            Lp[i, j] += step
            Lm[i, j] -= step
            fd = (_loss_ref(Lp, u, wires, n, w) - _loss_ref(Lm, u, wires, n, w)) / (2 * h)
            # JAX's gradient of a real loss in a complex input z = x + iy is df/dx - i df/dy.
            expect = np.real(gL[i, j]) if step == h else -np.imag(gL[i, j])
            assert abs(fd - expect) < 1e-6
    for (a, b) in [(0, 0), (1, 3), (3, 2)]:
        up, um = u.copy(), u.copy()
        up[a, b] += h
        um[a, b] -= h
        fd = (_loss_ref(L, up, wires, n, w) - _loss_ref(L, um, wires, n, w)) / (2 * h)
        assert abs(fd - np.real(gu[a, b])) < 1e-6


def test_grad_through_kraus_wrt_L():
    rng = np.random.default_rng(8)
    n, wires = 3, (1,)
    L, K = crand(rng, 2**n, 2), crand(rng, 2, 2, 2)

    def loss_np(L):
        out = np.concatenate([ref_apply(L, K[i], wires, n) for i in range(2)], axis=1)
        return float(np.sum(np.abs(out) ** 2 * np.arange(1, 5)))

    g = jax.grad(lambda L: jnp.sum(jnp.abs(apply_kraus_prim(L, K, wires, n)) ** 2 * jnp.arange(1, 5)))(L)
    h = 1e-6
    Lp, Lm = L.copy(), L.copy()
    Lp[3, 1] += h
    Lm[3, 1] -= h
    assert abs((loss_np(Lp) - loss_np(Lm)) / (2 * h) - np.real(g[3, 1])) < 1e-6
    gk = jax.grad(lambda K: jnp.sum(jnp.abs(apply_kraus_prim(L, K, wires, n)) ** 2))(K)
    Kp, Km = K.copy(), K.copy()
    Kp[1, 0, 1] += h
    Km[1, 0, 1] -= h

    def lk(K):
        return float(sum(np.sum(np.abs(ref_apply(L, K[i], wires, n)) ** 2) for i in range(2)))

    assert abs((lk(Kp) - lk(Km)) / (2 * h) - np.real(gk[1, 0, 1])) < 1e-6


def test_rejects_bad_input():
    L = jnp.ones((8, 1), complex)
    with pytest.raises(ValueError, match="distinct"):
        apply_matrix_prim(L, jnp.eye(4), (1, 1), 3)
    with pytest.raises(ValueError, match="must be 4 x 4"):
        apply_matrix_prim(L, jnp.eye(2), (0, 1), 3)
