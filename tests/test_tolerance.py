"""``tolerance=tau``: the final state's discarded weight, and so its trace distance to the exact
state, stays within tau, on 20 random noisy circuits against the dense reference."""

import dense
import jax
import numpy as np
import pytest
from test_engine_paths import reference_evolve

import lretjax
from lretjax import Circuit, simulate
from lretjax.errors import SimulationConfigError
from lretjax.grad import expval_fn


def noisy(seed: int) -> Circuit:
    """Random rotations, CZ brickwork and a channel after every rotation (strengths vary)."""
    rng = np.random.default_rng(seed)
    n = 4 + seed % 5
    c = Circuit(n)
    channels = ("depolarizing", "amplitude_damping", "phase_damping", "bit_flip")
    for layer in range(4):
        for w in range(n):
            c = c.add(("rx", "ry", "rz")[rng.integers(3)], [w], float(rng.uniform(0, 2 * np.pi)))
            c = c.add(channels[rng.integers(len(channels))], [w], float(rng.uniform(0.002, 0.05)))
        for w in range(layer % 2, n - 1, 2):
            c = c.cz(w, w + 1)
    return c


@pytest.mark.parametrize("seed", range(20))
def test_final_trace_distance_within_tolerance(seed):
    c = noisy(seed)
    n = c.num_wires
    exact = reference_evolve(c)
    for tau in (1e-2, 1e-3):
        state = simulate(c, max_rank=2**n, tolerance=tau, representation="low-rank")
        L = np.asarray(state.L)
        d = float(state.discarded)
        assert d <= tau
        assert dense.trace_distance(L @ L.conj().T, exact) <= tau
        assert dense.trace_distance(L @ L.conj().T, exact) <= d + 1e-12
        if seed % 5 == 0:  # the traced path spends the budget the same way
            traced = jax.jit(lambda c=c, tau=tau: simulate(c, max_rank=2**n, tolerance=tau))()
            np.testing.assert_allclose(float(traced.discarded), d, atol=1e-12)


def test_the_budget_is_spent_not_wasted():
    # A loose budget lets the rank stay lower than a tight one.
    c = noisy(3)
    loose = simulate(c, max_rank=2**c.num_wires, tolerance=1e-2, representation="low-rank")
    tight = simulate(c, max_rank=2**c.num_wires, tolerance=1e-3, representation="low-rank")
    assert int(loose.rank) < int(tight.rank)
    assert float(loose.discarded) > float(tight.discarded)


def test_tolerance_settings_are_checked():
    c = Circuit(1).h(0).depolarizing(0.1, 0)
    with pytest.raises(SimulationConfigError, match="either epsilon"):
        simulate(c, epsilon=1e-3, tolerance=1e-3)
    with pytest.raises(SimulationConfigError, match="tolerance must lie"):
        simulate(c, tolerance=1.5)
    with pytest.raises(SimulationConfigError, match="tolerance must be a number"):
        expval_fn(Circuit(1).rx(lretjax.Param("t"), 0), "Z", tolerance="small")


def test_a_total_budget_pays_for_what_falls_under_the_round_off_floor():
    """In float32 eigenvalues under 10 machine epsilons of the largest are dropped whatever the
    budget; with a total tolerance they are charged to it, so the whole drop stays within it."""
    import jax.numpy as jnp

    from lretjax.ops.truncate import keep_mask

    lam = jnp.asarray([1.0] + [1e-3] * 5 + [5e-5, 5e-5] + [1e-7] * 1000, jnp.float32)  # 1e-4 under
    budget = 1.4e-4 / float(jnp.sum(lam))  # as a fraction of the trace
    for spend, kept_small in ((False, 0), (True, 2)):
        keep, _, _ = keep_mask(lam, lam.shape[0], budget, spend_floor=spend)
        assert int(jnp.sum(keep[6:8])) == kept_small
        dropped = float(jnp.sum(jnp.where(keep, 0.0, lam)))
        assert (dropped <= 1.4e-4 * (1 + 1e-5)) == spend


def test_a_tolerance_the_rank_cap_breaks_is_reported():
    c = noisy(2)
    with pytest.warns(RuntimeWarning, match="exceeds tolerance"):
        state = simulate(c, max_rank=1, tolerance=1e-3, representation="low-rank")
    assert float(state.discarded) > 1e-3
