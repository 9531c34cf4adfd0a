"""``ops.channel_truncate``: a channel and truncation from the (d r)^2 block Lw^dagger Lw, checked
against the dense density matrix sum_i K_i rho K_i^dagger (NumPy, ``dense.py``)."""

import dense
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lretjax.ops import channel_truncate
from lretjax.ops.channel import wires_back, wires_last

N = 5


def _factor(rng, n, r):
    return rng.normal(size=(2**n, r)) + 1j * rng.normal(size=(2**n, r))


def _dense_channel(L, kraus, wires, n):
    rho = L @ L.conj().T
    return sum(dense.embed(k, wires, n) @ rho @ dense.embed(k, wires, n).conj().T for k in kraus)


@pytest.mark.parametrize("wires", [(0,), (4,), (2,), (1, 3), (3, 1), (4, 0, 2)])
@pytest.mark.parametrize("m,r", [(1, 3), (2, 1), (4, 2), (3, 4)])
def test_untruncated_equals_dense(wires, m, r):
    rng = np.random.default_rng(hash((wires, m, r)) % 2**32)
    kraus = dense.random_kraus(rng, 2 ** len(wires), m)
    L = _factor(rng, N, r)
    want = _dense_channel(L, kraus, wires, N)
    t = channel_truncate(jnp.asarray(L), kraus, wires, N, max_rank=m * r)
    got = np.asarray(t.L) @ np.asarray(t.L).conj().T
    np.testing.assert_allclose(got, want, atol=1e-10)
    assert abs(float(t.trace) - np.trace(want).real) < 1e-10
    assert float(t.discarded) < 1e-10
    assert int(t.rank) == np.linalg.matrix_rank(want, tol=1e-9)


@pytest.mark.parametrize("wires", [(1,), (0, 4)])
@pytest.mark.parametrize("cap,eps", [(2, 0.0), (3, 0.0), (8, 1e-2), (16, 1e-2)])
def test_truncation_keeps_the_leading_eigenspace(wires, cap, eps):
    rng = np.random.default_rng(7)
    kraus = dense.random_kraus(rng, 2 ** len(wires), 4)
    L = _factor(rng, N, 3)
    want = _dense_channel(L, kraus, wires, N)
    lam, u = np.linalg.eigh(want)
    lam, u = lam[::-1], u[:, ::-1]
    t = channel_truncate(jnp.asarray(L), kraus, wires, N, max_rank=cap, epsilon=eps)
    k = int(t.rank)
    assert k <= cap
    best = (u[:, :k] * lam[:k]) @ u[:, :k].conj().T  # the optimal rank-k approximation
    got = np.asarray(t.L) @ np.asarray(t.L).conj().T
    np.testing.assert_allclose(got, best, atol=1e-10)
    np.testing.assert_allclose(float(t.discarded), lam[k:].sum(), atol=1e-10)
    assert dense.trace_distance(got, want) <= float(t.discarded) + 1e-12
    if int(t.wanted) <= cap:  # the cap did not bind: the epsilon rule decided
        assert lam[k:].sum() <= eps * lam.sum() + 1e-12
    else:
        assert k == cap


def test_wider_than_tall_diagonalises_rho():
    rng = np.random.default_rng(3)
    n, wires = 3, (0, 2)
    kraus = dense.random_kraus(rng, 4, 16)
    L = _factor(rng, n, 4)  # 64 stacked columns > 8 rows
    want = _dense_channel(L, kraus, wires, n)
    t = channel_truncate(jnp.asarray(L), kraus, wires, n, max_rank=64)
    assert t.L.shape == (8, 8)
    np.testing.assert_allclose(np.asarray(t.L) @ np.asarray(t.L).conj().T, want, atol=1e-10)


def test_wires_last_round_trip():
    L = jnp.asarray(_factor(np.random.default_rng(0), N, 2))
    for wires in [(0,), (3, 1), (4, 2, 0)]:
        Lw = wires_last(L, wires, N)
        assert Lw.shape == (2 ** (N - len(wires)), 2 ** len(wires) * 2)
        np.testing.assert_array_equal(np.asarray(wires_back(Lw, wires, N)), np.asarray(L))


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(11)
    kraus = dense.random_kraus(rng, 2, 4)
    L0 = _factor(rng, N, 2)
    z = dense.embed(np.diag([1.0, -1.0]), (3,), N)
    direction = _factor(rng, N, 2)

    def f(s):
        t = channel_truncate(jnp.asarray(L0) + s * direction, kraus, (1,), N, max_rank=3)
        return jnp.real(jnp.trace(t.L.conj().T @ z @ t.L))

    g = jax.grad(f)(0.0)
    h = 1e-6
    fd = (f(h) - f(-h)) / (2 * h)
    assert np.isfinite(g) and abs(g - fd) < 1e-7 * max(1.0, abs(fd))


def test_vmap_over_factors():
    rng = np.random.default_rng(5)
    kraus = dense.random_kraus(rng, 2, 4)
    Ls = np.stack([_factor(rng, N, 2) for _ in range(3)])
    out = jax.vmap(lambda L: channel_truncate(L, kraus, (2,), N, max_rank=8).L)(jnp.asarray(Ls))
    for L, got in zip(Ls, np.asarray(out), strict=True):
        np.testing.assert_allclose(got @ got.conj().T, _dense_channel(L, kraus, (2,), N), atol=1e-10)


def test_round_off_eigenvalues_do_not_spend_the_epsilon_budget():
    """complex64: hundreds of eigenvalues below the round-off floor (10 eps lam_max = 1.2e-6) once
    summed to more than epsilon * trace, so real eigenvalues under the budget were kept and the
    rank grew 4x. The budget now covers the eigenvalues above the floor; both kinds are discarded."""
    from lretjax.ops.truncate import keep_mask

    real = np.array([1.0, 0.5, 0.25, 2e-5, 2e-5, 2e-5], np.float32)  # the last three sum to 6e-5
    noise = np.full(500, 1e-6, np.float32)  # below the floor; together 5e-4
    lam = jnp.asarray(np.concatenate([real, noise]))
    keep, wanted, rank = keep_mask(lam, lam.shape[0], 1e-4)
    np.testing.assert_array_equal(np.asarray(keep)[:6], [True, True, True, False, False, False])
    assert not np.any(np.asarray(keep)[6:]) and int(wanted) == 3 and int(rank) == 3
    keep, _, _ = keep_mask(lam, lam.shape[0], 1e-5)  # a budget below 6e-5: the real ones stay
    assert int(np.sum(np.asarray(keep))) == 6
    # A static width with room keeps the round-off directions too (roundoff=True), outside the rank.
    keep, wanted, rank = keep_mask(lam, 300, 1e-4, roundoff=True)
    np.testing.assert_array_equal(np.asarray(keep)[:6], [True, True, True, False, False, False])
    assert int(np.sum(np.asarray(keep))) == 297 and int(wanted) == 3 and int(rank) == 3


@pytest.mark.parametrize("wire", [0, 2, 4])
@pytest.mark.parametrize("r", [1, 3, 6])
def test_orthogonal_block_equals_the_full_gram(wire, r):
    """On a factor with orthogonal columns (what every truncation leaves), the half-product Gram
    block of a one-wire channel equals S^dagger S computed from the stacked factor itself."""
    from lretjax.ops.channel import channel_gram

    rng = np.random.default_rng(10 * wire + r)
    Q, _ = np.linalg.qr(_factor(rng, N, r))
    L = Q * rng.uniform(0.1, 1.0, size=r)  # orthogonal, unequal norms
    kraus = dense.random_kraus(rng, 2, 4)
    S = np.concatenate([dense.embed(k, (wire,), N) @ L for k in kraus], axis=1)
    Lw = wires_last(jnp.asarray(L), (wire,), N)
    got = channel_gram(Lw, jnp.asarray(kraus), orthogonal=True)
    np.testing.assert_allclose(np.asarray(got), S.conj().T @ S, atol=1e-12)
    # and it is a different function off that set: the flag is a promise about L, not a no-op
    skew = jnp.asarray(_factor(rng, N, r))
    Lw = wires_last(skew, (wire,), N)
    if r > 1:
        assert not np.allclose(channel_gram(Lw, kraus, orthogonal=True), channel_gram(Lw, kraus))


def test_simulate_from_a_wide_initial_factor_uses_the_full_gram():
    """A caller's factor with non-orthogonal columns takes the full Gram block: the channel keeps
    the leading 4 eigen-directions of the exact output (6 wires, rank 3 -> 12 stacked columns cut
    to 4 on the Gram route). Untruncated, any Gram matrix would give the same rho
    (S V V^dagger S^dagger = S S^dagger for a complete V), so only a cut can tell a wrong block."""
    import lretjax as lj
    from lretjax.reference import simulate_dense

    n, k = 6, 4
    rng = np.random.default_rng(5)
    L = _factor(rng, n, 3)
    L /= np.linalg.norm(L)
    c = lj.Circuit(n).h(0).cx(0, 1).add("depolarizing", [1], 0.2)
    st = lj.simulate(c, initial_state=jnp.asarray(L), max_rank=k)
    lam, u = np.linalg.eigh(simulate_dense(c, initial_state=L @ L.conj().T))
    want = (u[:, -k:] * lam[-k:]) @ u[:, -k:].conj().T
    np.testing.assert_allclose(np.asarray(lj.to_density_matrix(st)), want, atol=1e-10)
