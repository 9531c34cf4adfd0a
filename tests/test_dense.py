"""The dense representation (lretjax.engine.dense): rho itself, exact, read by every reader.

Against the independent dense reference of this suite, on the random circuits of
test_engine_paths (every gate and channel), forced dense from the start, and switched to dense
part-way by the cost model.
"""

import dense
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_engine_paths import build, flat_values, recipe, reference_evolve

import lretjax
from lretjax import Circuit, simulate
from lretjax.engine import dense as engine_dense
from lretjax.errors import SimulationConfigError

TOL = 1e-10
CASES = range(0, 30, 3)


@pytest.mark.parametrize("i", CASES)
def test_dense_from_the_start_equals_the_reference(i):
    n, ops, _ = recipe(i)
    c = build(n, ops)
    exact = reference_evolve(c)
    state = simulate(c, representation="dense")
    assert state.representation == "dense" and state.L is None
    np.testing.assert_allclose(np.asarray(lretjax.to_density_matrix(state)), exact, atol=TOL, rtol=0)
    run = jax.jit(lambda v: simulate(build(n, ops, v), representation="dense"))
    traced = run(jnp.asarray(flat_values(ops)))
    np.testing.assert_allclose(np.asarray(traced.rho), exact, atol=TOL, rtol=0)
    # Every reader on rho, against the reference's numbers.
    p = "".join("ZXYI"[(i + w) % 4] for w in range(n))
    np.testing.assert_allclose(float(lretjax.expval(state, p)), dense.expval(exact, p), atol=TOL)
    np.testing.assert_allclose(np.asarray(lretjax.probabilities(state)), np.real(np.diag(exact)), atol=TOL)
    wires = (n - 1, 0)
    np.testing.assert_allclose(np.asarray(lretjax.probabilities(state, wires)),
                               dense.marginal(exact, wires, n), atol=TOL)
    np.testing.assert_allclose(float(lretjax.purity(state)), np.real(np.trace(exact @ exact)), atol=TOL)
    np.testing.assert_allclose(float(state.trace()), 1.0, atol=TOL)
    obs = lretjax.dense_observable(np.diag([1.0, -2.0, 0.5, 3.0]).astype(complex), (0, n - 1))
    want = np.real(np.trace(dense.embed(obs.matrix, obs.wires, n) @ exact))
    np.testing.assert_allclose(float(lretjax.expval(state, obs)), want, atol=TOL)


def test_fidelity_and_samples_on_rho():
    n, ops, _ = recipe(3)
    c = build(n, ops)
    rho_state = simulate(c, representation="dense")
    low = simulate(c, representation="low-rank", max_rank=2**n)
    assert low.representation == "low-rank"
    # F(rho, rho) = (Tr rho)^2 = 1, whichever representation each side holds.
    for a, b in ((rho_state, low), (low, rho_state), (rho_state, rho_state)):
        np.testing.assert_allclose(float(lretjax.fidelity(a, b)), 1.0, atol=1e-8)
    psi = dense.random_state(np.random.default_rng(0), n)
    exact = reference_evolve(c)
    np.testing.assert_allclose(float(lretjax.fidelity(rho_state, psi)), np.real(psi.conj() @ exact @ psi),
                               atol=TOL)
    bits = np.asarray(lretjax.sample(rho_state, 20000, jax.random.key(1)))
    p = np.real(np.diag(exact))
    freq = np.bincount(bits @ (1 << np.arange(n - 1, -1, -1)), minlength=p.size) / bits.shape[0]
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / bits.shape[0]) + 1e-9)


def test_auto_switches_part_way_and_stays_exact(monkeypatch):
    # Any saving counts: the cost model then moves this small circuit to rho at its first widening.
    monkeypatch.setattr(engine_dense, "MIN_SAVING", 0.0)
    rng = np.random.default_rng(5)
    n = 6
    c = Circuit(n)
    for layer in range(4):
        for w in range(n):
            c = c.ry(float(rng.uniform(0, 3)), w).depolarizing(0.05, w)
        for w in range(layer % 2, n - 1, 2):
            c = c.cz(w, w + 1)
    exact = reference_evolve(c)
    state = simulate(c, max_rank=64, epsilon=1e-6)
    assert state.representation == "dense"
    assert dense.trace_distance(np.asarray(state.rho), exact) <= float(state.discarded) + TOL
    low = simulate(c, max_rank=64, epsilon=1e-6, representation="low-rank")
    assert low.representation == "low-rank" and low.L is not None


def test_prefer_dense_follows_the_costs():
    # A wide factor on few wires: rho is cheaper; a narrow one on many wires: L is.
    from lretjax.engine import build as build_schedule

    c = Circuit(10)
    for w in range(10):
        c = c.rx(0.3, w).depolarizing(0.01, w)
    s = build_schedule(c)
    assert engine_dense.prefer_dense(s, 0, 64, jnp.complex64, min_saving=0.0)
    assert not engine_dense.prefer_dense(s, 0, 2, jnp.complex64, min_saving=0.0)
    assert not engine_dense.prefer_dense(s, 0, 64, jnp.complex64, available=2**20, min_saving=0.0)


def test_representation_settings_are_checked():
    c = Circuit(2).h(0).depolarizing(0.1, 0)
    with pytest.raises(SimulationConfigError, match="representation must be one of"):
        simulate(c, representation="sparse")
    with pytest.raises(SimulationConfigError, match="does not record"):
        simulate(c, representation="dense", record=True)
