"""Results read from the low-rank state, against the dense reference in tests/dense.py."""

import dense
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import scipy.stats

from lretjax import (
    Circuit,
    LowRankState,
    PauliSum,
    ResourceError,
    counts,
    dense_observable,
    expval,
    fidelity,
    probabilities,
    purity,
    sample,
    simulate,
    to_density_matrix,
)

TOL = 1e-10
N = 4


def _circuit(seed: int, n: int = N, noise: float = 0.15) -> Circuit:
    rng = np.random.default_rng(seed)
    c = Circuit(n)
    for layer in range(2):
        for w in range(n):
            c = c.u3(*rng.uniform(-np.pi, np.pi, 3), w)
        for w in range(layer % 2, n - 1, 2):
            c = c.cx(w, w + 1)
        for w in range(n if layer == 0 else 0):  # one noisy layer already gives full rank
            c = c.depolarizing(noise * rng.uniform(0.5, 1), w)
    return c.amplitude_damping(0.2, 0)


@pytest.fixture(scope="module")
def noisy():
    c = _circuit(0)
    state = simulate(c, max_rank=2**N)
    return state, dense.evolve(c)


def test_to_density_matrix(noisy):
    state, rho = noisy
    np.testing.assert_allclose(np.asarray(to_density_matrix(state)), rho, atol=TOL, rtol=0)


def test_to_density_matrix_refuses_large_states():
    big = LowRankState(jnp.zeros((2**15, 1), complex).at[0, 0].set(1), jnp.zeros(()), jnp.ones((), int), 15)
    with pytest.raises(ResourceError, match="15"):
        to_density_matrix(big)


@pytest.mark.parametrize("wires", [None, [0], [3], [2, 0], [1, 3, 0], [3, 2, 1, 0], (0, 1, 2, 3)])
def test_probabilities_wire_subsets_and_order(noisy, wires):
    state, rho = noisy
    want = dense.marginal(rho, list(range(N)) if wires is None else list(wires), N)
    got = np.asarray(probabilities(state, wires))
    np.testing.assert_allclose(got, want, atol=TOL, rtol=0)


def test_probabilities_wire_order_on_a_basis_state():
    state = simulate(Circuit(3).x(0))  # |100>
    np.testing.assert_allclose(np.asarray(probabilities(state)), np.eye(8)[4], atol=0)
    np.testing.assert_allclose(np.asarray(probabilities(state, [2, 0])), [0, 1, 0, 0], atol=0)
    np.testing.assert_allclose(np.asarray(probabilities(state, [0, 2])), [0, 0, 1, 0], atol=0)


@pytest.mark.parametrize("pauli", ["ZZZZ", "XIYZ", "IIII", "yxzi", "ZIIX"])
def test_expval_dense_strings(noisy, pauli):
    state, rho = noisy
    np.testing.assert_allclose(float(expval(state, pauli)), dense.expval(rho, pauli.upper()), atol=TOL)


@pytest.mark.parametrize(
    "sparse,full",
    [("Z0 X3", "ZIIX"), ("X1*Y2", "IXYI"), ("Y3", "IIIY"), ("z2 z0", "ZIZI"), ("X1@Z3", "IXIZ")],
)
def test_expval_sparse_strings(noisy, sparse, full):
    state, rho = noisy
    np.testing.assert_allclose(float(expval(state, sparse)), dense.expval(rho, full), atol=TOL)


def test_expval_weighted_sums(noisy):
    state, rho = noisy
    want = 0.5 * dense.expval(rho, "ZZII") - 1.2 * dense.expval(rho, "XIXI") + 0.3 * dense.expval(rho, "IIIY")
    spellings = [
        {"ZZII": 0.5, "XIXI": -1.2, "IIIY": 0.3},
        {"Z0 Z1": 0.5, "X0 X2": -1.2, "Y3": 0.3},
        [(0.5, "ZZII"), (-1.2, "XIXI"), (0.3, "IIIY")],
        [("ZZII", 0.5), ("XIXI", -1.2), ("IIIY", 0.3)],
        PauliSum(("ZZII", "XIXI", "IIIY"), jnp.array([0.5, -1.2, 0.3])),
    ]
    for obs in spellings:
        np.testing.assert_allclose(float(expval(state, obs)), want, atol=TOL)


def test_expval_traced_coefficients(noisy):
    state, rho = noisy
    f = jax.jit(lambda a, b: expval(state, {"ZIZI": a, "IYIX": b}))
    want = 2.0 * dense.expval(rho, "ZIZI") - 0.7 * dense.expval(rho, "IYIX")
    np.testing.assert_allclose(float(f(2.0, -0.7)), want, atol=TOL)
    g = jax.grad(lambda a: expval(state, {"ZIZI": a, "IYIX": 1.0}))(1.0)
    np.testing.assert_allclose(float(g), dense.expval(rho, "ZIZI"), atol=TOL)


def _hermitian(rng, d):
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    return a + a.conj().T


@pytest.mark.parametrize("wires", [[2], [3, 1], [0, 3], [2, 0, 3], [0, 1, 2, 3]])
def test_expval_dense_observable(noisy, wires):
    state, rho = noisy
    h = _hermitian(np.random.default_rng(len(wires) + wires[0]), 2 ** len(wires))
    want = float(np.real(np.trace(dense.embed(h, wires, N) @ rho)))
    got = float(expval(state, dense_observable(h, wires)))
    np.testing.assert_allclose(got, want, atol=1e-9, rtol=0)


def test_sample_statistics(noisy):
    state, rho = noisy
    shots = 20000
    key = jax.random.PRNGKey(1)
    bits = np.asarray(sample(state, shots, key))
    assert bits.shape == (shots, N) and set(np.unique(bits)) <= {0, 1}
    idx = bits @ (2 ** np.arange(N - 1, -1, -1))
    observed = np.bincount(idx, minlength=2**N)
    expected = shots * np.real(np.diag(rho))
    chi2 = np.sum((observed - expected) ** 2 / expected)
    # Fixed key: deterministic. The bound fails a correct sampler with probability 1e-6.
    assert chi2 < scipy.stats.chi2.ppf(1 - 1e-6, 2**N - 1)
    np.testing.assert_array_equal(np.asarray(sample(state, shots, key)), bits)
    assert not np.array_equal(np.asarray(sample(state, shots, jax.random.PRNGKey(2))), bits)


def test_sample_wire_subset(noisy):
    state, rho = noisy
    shots = 20000
    bits = np.asarray(sample(state, shots, jax.random.PRNGKey(3), wires=[3, 1]))
    assert bits.shape == (shots, 2)
    observed = np.bincount(bits @ np.array([2, 1]), minlength=4)
    expected = shots * dense.marginal(rho, [3, 1], N)
    assert np.sum((observed - expected) ** 2 / expected) < scipy.stats.chi2.ppf(1 - 1e-6, 3)


def test_sample_and_counts_on_basis_state():
    state = simulate(Circuit(3).x(0).x(2))  # |101>
    bits = np.asarray(sample(state, 50, jax.random.PRNGKey(0)))
    np.testing.assert_array_equal(bits, np.tile([1, 0, 1], (50, 1)))
    assert counts(bits) == {"101": 50}
    sub = np.asarray(sample(state, 10, jax.random.PRNGKey(0), wires=[1, 2]))
    assert counts(sub) == {"01": 10}


def test_counts_histogram(noisy):
    state, _ = noisy
    bits = np.asarray(sample(state, 3000, jax.random.PRNGKey(4)))
    table = counts(bits)
    assert sum(table.values()) == 3000
    assert list(table.values()) == sorted(table.values(), reverse=True)
    for key, num in table.items():
        assert len(key) == N
        assert num == int(np.sum(np.all(bits == np.array([int(b) for b in key]), axis=1)))


def test_purity(noisy):
    state, rho = noisy
    np.testing.assert_allclose(float(purity(state)), float(np.real(np.trace(rho @ rho))), atol=TOL)
    assert float(purity(state)) < 0.9  # really mixed
    np.testing.assert_allclose(float(purity(simulate(Circuit(2).h(0).cx(0, 1)))), 1.0, atol=TOL)


def test_fidelity_with_pure_vector(noisy):
    state, rho = noisy
    psi = dense.random_state(np.random.default_rng(5), N)
    np.testing.assert_allclose(float(fidelity(state, psi)), float(np.real(psi.conj() @ rho @ psi)), atol=TOL)


def _uhlmann(rho, sigma):
    s = scipy.linalg.sqrtm(rho)
    return float(np.real(np.trace(scipy.linalg.sqrtm(s @ sigma @ s))) ** 2)


def test_fidelity_with_low_rank_state(noisy):
    state, rho = noisy
    c2 = _circuit(1)
    other = simulate(c2, max_rank=2**N)
    sigma = dense.evolve(c2)
    # Full-rank states keep sqrtm well conditioned, so the reference is accurate.
    assert np.min(np.linalg.eigvalsh(rho)) > 1e-6 and np.min(np.linalg.eigvalsh(sigma)) > 1e-6
    want = _uhlmann(rho, sigma)
    np.testing.assert_allclose(float(fidelity(state, other)), want, atol=1e-9)
    np.testing.assert_allclose(float(fidelity(other, state)), want, atol=1e-9)
    np.testing.assert_allclose(float(fidelity(state, state)), float(np.real(np.trace(rho))) ** 2, atol=1e-9)


def test_fidelity_rank_deficient_states():
    a = simulate(Circuit(3).h(0).cx(0, 1).depolarizing(0.2, 1), max_rank=8)
    b = simulate(Circuit(3).ry(0.4, 0).cx(0, 1).amplitude_damping(0.3, 0).rx(0.2, 2), max_rank=8)
    rho = dense.evolve(Circuit(3).h(0).cx(0, 1).depolarizing(0.2, 1))
    sigma = dense.evolve(Circuit(3).ry(0.4, 0).cx(0, 1).amplitude_damping(0.3, 0).rx(0.2, 2))
    assert np.sum(np.linalg.eigvalsh(sigma) > 1e-12) == 2  # sqrtm is ill-conditioned here
    # Uhlmann through factors rho = A A^dagger of the dense matrices: F = ||A^dagger B||_*^2.
    ra = dense_factor(rho)
    rb = dense_factor(sigma)
    want = float(np.sum(np.linalg.svd(ra.conj().T @ rb, compute_uv=False)) ** 2)
    np.testing.assert_allclose(float(fidelity(a, b)), want, atol=1e-10)


def dense_factor(rho):
    lam, v = np.linalg.eigh(rho)
    keep = lam > 1e-12
    return v[:, keep] * np.sqrt(lam[keep])


@pytest.mark.parametrize("spelling,full", [("X3 Z0", "ZIIX"), ("ziix", "ZIIX"), ("Y1*Z2", "IYZI")])
def test_pauli_sum_accepts_every_string_spelling(noisy, spelling, full):
    state, rho = noisy
    got = float(expval(state, PauliSum((spelling,), jnp.array([0.5]))))
    np.testing.assert_allclose(got, 0.5 * dense.expval(rho, full), atol=TOL)


def test_truncated_state_results():
    """Not renormalised: probabilities sum to 1 - discarded; samples come from the normalised law."""
    c = Circuit(2).h(0).depolarizing(0.3, 0).cx(0, 1).depolarizing(0.3, 1)
    state = simulate(c, max_rank=1)
    d = float(state.discarded)
    assert d > 0.1
    p = np.asarray(probabilities(state))
    np.testing.assert_allclose(p.sum(), 1 - d, atol=TOL)
    np.testing.assert_allclose(float(purity(state)), np.sum(p) ** 2, atol=TOL)  # rank 1
    bits = np.asarray(sample(state, 4000, jax.random.PRNGKey(0)))
    observed = np.bincount(bits @ np.array([2, 1]), minlength=4)
    expected = 4000 * p / p.sum()
    mask = expected > 0
    assert np.all(observed[~mask] == 0)
    dof = max(int(mask.sum()) - 1, 1)
    chi2 = np.sum((observed[mask] - expected[mask]) ** 2 / expected[mask])
    assert chi2 < scipy.stats.chi2.ppf(1 - 1e-6, dof)
    # The exact state is within `discarded` in trace distance.
    assert dense.trace_distance(np.asarray(to_density_matrix(state)), dense.evolve(c)) <= d + 1e-12


def _partial_trace(rho, wires, n):
    others = [w for w in range(n) if w not in wires]
    axes = [*wires, *others, *(n + w for w in wires), *(n + w for w in others)]
    t = rho.reshape((2,) * (2 * n)).transpose(axes)
    k = len(wires)
    return np.einsum("ajbj->ab", t.reshape(2**k, 2 ** (n - k), 2**k, 2 ** (n - k)))


@pytest.mark.parametrize("representation", ["low-rank", "dense"])
@pytest.mark.parametrize("wires", [(0,), (2, 0), (3, 1, 2), (0, 1, 2, 3)])
def test_reduced_density_matrix_and_purity(wires, representation):
    from lretjax.measure import reduced_density_matrix

    c = _circuit(0)
    state = simulate(c, max_rank=2**N, representation=representation)
    want = _partial_trace(dense.evolve(c), list(wires), N)
    np.testing.assert_allclose(np.asarray(reduced_density_matrix(state, wires)), want, atol=TOL, rtol=0)
    np.testing.assert_allclose(float(purity(state, wires)), np.sum(np.abs(want) ** 2), atol=TOL)


@pytest.mark.parametrize("representation", ["low-rank", "dense"])
def test_rotated_state_is_u_rho_u_dagger(representation):
    from lretjax.measure import rotated

    c = _circuit(1)
    state = simulate(c, max_rank=2**N, representation=representation)
    rng = np.random.default_rng(5)
    u2 = scipy.stats.unitary_group.rvs(4, random_state=rng)
    h = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
    out = rotated(state, [(h, [1]), (u2, [3, 0])])
    want = dense.evolve(c.unitary(h, [1]).unitary(u2, [3, 0]))
    np.testing.assert_allclose(np.asarray(to_density_matrix(out)), want, atol=TOL, rtol=0)
    assert out.representation == state.representation
