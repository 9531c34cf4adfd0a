"""Depolarizing channels on one wire merged across the one-wire gates between them
(``engine.schedule._merge_tail``), and, in traced runs, moved forward past ops on other wires to
where they merge (``engine.commute``): fewer channel steps, every wire's ops in their order, and
the same state and gradients as the independent dense reference, eager and traced."""

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


def _hea(n: int, layers: int, angles=None) -> lj.Circuit:
    """The noisy VQE's ansatz (benchmarks/bench_vqe.py): RY, RZ, each followed by depolarizing,
    and noise on each wire of a CZ (what moves into the next layer in a traced run)."""
    c, k = lj.Circuit(n), 0
    for layer in range(layers):
        for w in range(n):
            a = (0.3 + 0.2 * k, 0.1 - 0.3 * k) if angles is None else (angles[k], angles[k + 1])
            c = c.ry(a[0], w).depolarizing(0.05, w).rz(a[1], w).depolarizing(0.02 + 0.01 * w, w)
            k += 2
        for a in range(layer % 2, n - 1, 2):
            c = c.cz(a, a + 1).depolarizing(0.03, a).depolarizing(0.04, a + 1)
    return c


def _spans(s) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in zip(s.op_index, s.last, strict=True)]


def test_each_wire_of_a_layer_is_one_channel_step():
    c = _hea(3, 1)  # ry dep rz dep on wires 0, 1, 2; cz(0, 1) dep0 dep1 (the cz folds into neither)
    assert _spans(build(c)) == [(0, 3), (4, 7), (8, 11), (12, 12), (13, 13), (14, 14)]
    assert build(c, fold=False).num_steps == len(c.ops)


def _merge_cases():
    c = lj.Circuit(2).h(0).h(1)
    yield "adjacent", c.depolarizing(0.1, 0).depolarizing(0.2, 0), [(2, 3)]
    yield "across gates", c.depolarizing(0.1, 0).s(0).rx(0.4, 0).depolarizing(0.3, 0), [(2, 5)]
    # An op on another wire, a two-wire gate or another channel between: no merge.
    yield "other wire", c.depolarizing(0.1, 0).x(1).depolarizing(0.2, 0), []
    yield "two-wire gate", c.depolarizing(0.1, 0).cz(0, 1).depolarizing(0.2, 0), []
    yield "other channel", c.depolarizing(0.1, 0).amplitude_damping(0.2, 0).depolarizing(0.2, 0), []
    yield "user matrix", c.depolarizing(0.1, 0).unitary(np.eye(2), [0]).depolarizing(0.2, 0), []
    # Three in a row, and full depolarizing (lambda = -1/3) composing with a weak one.
    yield "three", c.depolarizing(0.1, 0).y(0).depolarizing(0.75, 0).t(0).depolarizing(1.0, 0), [(2, 6)]


MERGE_CASES = list(_merge_cases())


@pytest.mark.parametrize("name, circuit, merged", MERGE_CASES, ids=[c[0] for c in MERGE_CASES])
def test_merged_steps_equal_the_dense_reference(name, circuit, merged):
    s = build(circuit)
    assert [span for span in _spans(s) if span[1] > span[0] and span[0] >= 2] == merged
    rho = dense.evolve(circuit)
    st = lj.simulate(circuit, max_rank=4, representation="low-rank")
    np.testing.assert_allclose(np.asarray(lj.to_density_matrix(st)), rho, atol=1e-12)


def test_a_traced_probability_stays_its_own_channel():
    c = lj.Circuit(1).depolarizing(0.1, 0).depolarizing(0.2, 0)
    seen = []

    def steps(p):  # the probability is traced here: its value is not known while building
        seen.append(build(lj.Circuit(1).depolarizing(0.1, 0).depolarizing(p, 0)).num_steps)
        return 0

    jax.jit(steps)(0.2)
    assert seen == [2] and build(c).num_steps == 1


def test_a_noisy_ansatz_merged_equals_the_reference_eager_and_traced():
    c = _hea(4, 2)
    assert build(c).num_channels < sum(op.is_channel for op in c.ops)
    rho = dense.evolve(c)
    st = lj.simulate(c, max_rank=16, representation="low-rank")
    np.testing.assert_allclose(np.asarray(lj.to_density_matrix(st)), rho, atol=1e-12)
    traced = jax.jit(lambda c: lj.simulate(c, max_rank=16, representation="low-rank").L)(c)
    np.testing.assert_allclose(np.asarray(traced) @ np.asarray(traced).conj().T, rho, atol=1e-12)
    # Truncated: the reported discarded weight still bounds the trace distance to the exact state.
    st = lj.simulate(c, max_rank=4, epsilon=1e-3, representation="low-rank")
    assert dense.trace_distance(np.asarray(lj.to_density_matrix(st)), rho) <= float(st.discarded) + 1e-12


def _random(n: int, seed: int) -> lj.Circuit:
    """Gates on one to three wires, depolarizing and other channels, a user's unitary and Kraus
    set, in no pattern."""
    rng = np.random.default_rng(seed)
    c = lj.Circuit(n)
    for _ in range(40):
        w = [int(x) for x in rng.choice(n, size=3, replace=False)]
        pick = rng.integers(12)
        if pick == 0:
            c = c.cz(w[0], w[1])
        elif pick == 1:
            c = c.ccx(*w)
        elif pick == 2:
            c = c.amplitude_damping(0.1, w[0])
        elif pick == 3:
            c = c.depolarizing2(0.05, w[0], w[1])
        elif pick == 4:
            c = c.unitary(dense.random_unitary(rng, 4), (w[0], w[1]))
        elif pick == 5:
            c = c.kraus(dense.random_kraus(rng, 2, 3), (w[0],))
        elif pick < 9:
            c = c.rx(float(rng.uniform(0, 3)), w[0])
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


# Circuits in which commuting moves channels (each case asserts that it does): the ansatz, random
# circuits, and noise moving past a user's matrices.
MOVING = [_hea(5, 3), _random(4, 4), _random(5, 2), _random(6, 4), _past_user_matrices()]


@pytest.mark.parametrize("circuit", MOVING)
def test_commuting_keeps_every_wires_order_and_saves_channels(circuit):
    """The order is a permutation with each wire's ops in their order: the circuit's dependency
    graph is unchanged, so the circuits are equal as channels."""
    order = commuted(circuit)
    assert sorted(ins.index for ins in order) == list(range(len(circuit.ops)))
    assert _per_wire(circuit, order) == _per_wire(circuit, [Apply(i, ()) for i in range(len(circuit.ops))])
    assert all(ins.local_wires == circuit.ops[ins.index].wires for ins in order)
    assert build(circuit, order).num_channels < build(circuit).num_channels


def test_the_cz_layers_noise_merges_into_the_next_layer():
    c = _hea(6, 3)
    plain, moved = build(c), build(c, commuted(c))
    # The noise of the first CZ layer (3 CZs, 6 channels) and the second (2 CZs, 4) merges into the
    # next layer's steps; wires 0 and 5, idle in the second CZ layer, merge their second and third
    # layers' rotations into one step (2); the last CZ layer's noise has nothing after it.
    assert plain.num_channels - moved.num_channels == 6 + 4 + 2
    i = next(k for k, ins in enumerate(commuted(c)) if c.ops[ins.index].name == "cz")
    assert c.ops[commuted(c)[i + 1].index].name == "cz"  # the CZs now follow each other
    # past a user's unitary and Kraus set on other wires, two channels fewer
    u = _past_user_matrices()
    assert build(u, commuted(u)).num_channels == build(u).num_channels - 2


@pytest.mark.parametrize("circuit", MOVING[1:])
def test_traced_runs_with_moved_channels_equal_the_dense_reference(circuit):
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
    c = _hea(3, 2)
    lj.simulate(c, max_rank=8)
    jax.jit(lambda c: lj.simulate(c, max_rank=8, record=True).L)(c)
    jax.jit(lambda c: lj.simulate(c, max_rank=8, representation="low-rank").L)(c)
    assert seen == [False, False, True]


@pytest.mark.parametrize("method", ["backprop", "adjoint", "parameter-shift"])
def test_gradient_through_merged_and_moved_steps(method):
    n, layers = 3, 3
    names = [lj.Param(f"t{i}") for i in range(2 * n * layers)]
    c = _hea(n, layers, names)
    x = np.linspace(-0.9, 1.2, len(names))
    merged = build(c, params=x).num_channels
    assert build(c, commuted(c), params=x).num_channels < merged < sum(op.is_channel for op in c.ops)
    f = expval_fn(c, "Z0 X1 Y2", diff_method=method, max_rank=8)
    value, grad = jax.value_and_grad(f)(jnp.asarray(x))

    def ref(p):
        return dense.expval(dense.evolve(c, p), "ZXY")

    h = 1e-6
    fd = [(ref(x + h * e) - ref(x - h * e)) / (2 * h) for e in np.eye(len(x))]
    np.testing.assert_allclose(value, ref(x), atol=1e-12)
    np.testing.assert_allclose(grad, fd, atol=1e-8)
