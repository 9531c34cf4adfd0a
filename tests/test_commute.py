"""Depolarizing channels moved forward to where they merge (``engine.commute``), as traced runs
order their steps: the same dependency order on every wire, fewer channel steps, and the same
state and gradients as the independent dense reference."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(Path(__file__).parent))
import dense  # noqa: E402

import lretjax as lj  # noqa: E402
from lretjax.engine import Apply, build  # noqa: E402
from lretjax.engine.commute import commuted  # noqa: E402
from lretjax.grad import expval_fn  # noqa: E402


def _ansatz(n: int, layers: int, angles=None) -> lj.Circuit:
    """The noisy VQE's ansatz (benchmarks/bench_vqe.py), noise after every gate, on each wire of
    a CZ: the CZ layer's noise is what moves into the next layer."""
    c, k = lj.Circuit(n), 0
    for layer in range(layers):
        for w in range(n):
            a = (0.3 + 0.2 * k, 0.1 - 0.3 * k) if angles is None else (angles[k], angles[k + 1])
            c = c.ry(a[0], w).depolarizing(0.05, w).rz(a[1], w).depolarizing(0.02 + 0.01 * w, w)
            k += 2
        for a in range(layer % 2, n - 1, 2):
            c = c.cz(a, a + 1).depolarizing(0.03, a).depolarizing(0.04, a + 1)
    return c


def _random(n: int, seed: int) -> lj.Circuit:
    """Gates on one to three wires, depolarizing and other channels, a user's unitary and Kraus
    set, in no pattern."""
    rng = np.random.default_rng(seed)
    c = lj.Circuit(n)
    for _ in range(30):
        w = [int(x) for x in rng.choice(n, size=3, replace=False)]
        pick = rng.integers(9)
        if pick == 0:
            c = c.cz(w[0], w[1])
        elif pick == 1:
            c = c.ccx(*w)
        elif pick == 2:
            c = c.amplitude_damping(0.1, w[0])
        elif pick == 3:
            c = c.depolarizing2(0.05, w[0], w[1])
        elif pick == 4:
            c = c.rx(float(rng.uniform(0, 3)), w[0])
        elif pick == 5:
            c = c.unitary(dense.random_unitary(rng, 4), (w[0], w[1]))
        elif pick == 6:
            c = c.kraus(dense.random_kraus(rng, 2, 3), (w[0],))
        else:
            c = c.depolarizing(float(rng.uniform(0, 0.1)), w[0])
    return c


def _past_user_matrices(seed: int = 0) -> lj.Circuit:
    """Noise on wire 0 with a user's unitary and Kraus set on other wires between it and the next
    noise on wire 0: it moves past them."""
    rng = np.random.default_rng(seed)
    c = lj.Circuit(3).h(0).cx(0, 1).depolarizing(0.05, 0)
    c = c.unitary(dense.random_unitary(rng, 4), (1, 2)).kraus(dense.random_kraus(rng, 2, 3), (2,))
    c = c.ry(0.4, 0).depolarizing(0.03, 0).cz(0, 2).depolarizing(0.02, 0)
    c = c.unitary(dense.random_unitary(rng, 2), (1,)).rz(0.7, 0).depolarizing(0.04, 0)
    return c


def _per_wire(circuit: lj.Circuit, order) -> dict[int, list[int]]:
    seq: dict[int, list[int]] = {w: [] for w in range(circuit.num_wires)}
    for ins in order:
        for w in circuit.ops[ins.index].wires:
            seq[w].append(ins.index)
    return seq


@pytest.mark.parametrize("circuit", [_ansatz(5, 3), _random(5, 1), _random(6, 2), _random(4, 3),
                                     _past_user_matrices()])
def test_every_wire_keeps_its_order(circuit):
    """The order is a permutation with each wire's ops in their order: the circuit's dependency
    graph is unchanged, so the circuits are equal as channels."""
    order = commuted(circuit)
    assert sorted(ins.index for ins in order) == list(range(len(circuit.ops)))
    assert _per_wire(circuit, order) == _per_wire(circuit, [Apply(i, ()) for i in range(len(circuit.ops))])
    assert all(ins.local_wires == circuit.ops[ins.index].wires for ins in order)


def test_the_cz_layers_noise_merges_into_the_next_layer():
    c = _ansatz(6, 3)
    plain, moved = build(c), build(c, commuted(c))
    # The noise of the first CZ layer (3 CZs, 6 channels) and the second (2 CZs, 4) merges into the
    # next layer's steps; wires 0 and 5, idle in the second CZ layer, merge their second and third
    # layers' rotations into one step (2); the last CZ layer's noise has nothing after it.
    assert plain.num_channels - moved.num_channels == 6 + 4 + 2
    i = next(k for k, ins in enumerate(commuted(c)) if c.ops[ins.index].name == "cz")
    assert c.ops[commuted(c)[i + 1].index].name == "cz"  # the CZs now follow each other


def test_channels_move_past_a_users_matrices_on_other_wires():
    c = _past_user_matrices()
    assert build(c, commuted(c)).num_channels == build(c).num_channels - 2


@pytest.mark.parametrize("circuit", [_ansatz(4, 3), _random(5, 1), _random(6, 2), _past_user_matrices()])
def test_traced_runs_equal_the_dense_reference(circuit):
    rho = dense.evolve(circuit)
    L = jax.jit(lambda c: lj.simulate(c, max_rank=64, representation="low-rank").L)(circuit)
    np.testing.assert_allclose(np.asarray(L) @ np.asarray(L).conj().T, rho, atol=1e-12)
    st = jax.jit(lambda c: lj.simulate(c, max_rank=6, epsilon=1e-3, representation="low-rank"))(circuit)
    assert dense.trace_distance(np.asarray(lj.to_density_matrix(st)), rho) <= float(st.discarded) + 1e-12


def test_only_traced_runs_without_a_record_move_channels(monkeypatch):
    seen = []
    real = sys.modules["lretjax.simulate"].build

    def spy(circuit, instructions=None, **kwargs):
        seen.append(instructions is not None)
        return real(circuit, instructions, **kwargs)

    monkeypatch.setattr(sys.modules["lretjax.simulate"], "build", spy)
    c = _ansatz(3, 2)
    lj.simulate(c, max_rank=8)
    jax.jit(lambda c: lj.simulate(c, max_rank=8, record=True).L)(c)
    jax.jit(lambda c: lj.simulate(c, max_rank=8, representation="low-rank").L)(c)
    assert seen == [False, False, True]


@pytest.mark.parametrize("method", ["backprop", "adjoint", "parameter-shift"])
def test_gradient_through_moved_channels(method):
    n, layers = 3, 3
    names = [lj.Param(f"t{i}") for i in range(2 * n * layers)]
    c = _ansatz(n, layers, names)
    x = np.linspace(-0.9, 1.2, len(names))
    assert build(c, commuted(c), params=x).num_channels < build(c, params=x).num_channels
    f = expval_fn(c, "Z0 X1 Y2", diff_method=method, max_rank=8)
    value, grad = jax.value_and_grad(f)(jnp.asarray(x))

    def ref(p):
        return dense.expval(dense.evolve(c, p), "ZXY")

    h = 1e-6
    fd = [(ref(x + h * e) - ref(x - h * e)) / (2 * h) for e in np.eye(len(x))]
    np.testing.assert_allclose(value, ref(x), atol=1e-12)
    np.testing.assert_allclose(grad, fd, atol=1e-8)
