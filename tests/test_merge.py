"""Depolarizing channels on one wire merged across the one-wire gates between them
(``engine.schedule._merge_tail``): one channel step, one truncation, against the independent
dense reference, eager and traced, with gradients by every method."""

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
from lretjax.engine import build  # noqa: E402
from lretjax.grad import expval_fn  # noqa: E402


def _hea(n: int, layers: int, angles=None) -> lj.Circuit:
    """The noisy VQE's ansatz (benchmarks/bench_vqe.py): RY, RZ, each followed by depolarizing."""
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


@pytest.mark.parametrize("method", ["backprop", "adjoint", "parameter-shift"])
def test_gradient_through_merged_steps(method):
    n, layers = 3, 2
    names = [lj.Param(f"t{i}") for i in range(2 * n * layers)]
    c = _hea(n, layers, names)
    x = np.linspace(-0.9, 1.2, len(names))
    assert build(c, params=x).num_channels < sum(op.is_channel for op in c.ops)
    f = expval_fn(c, "Z0 X1 Y2", diff_method=method, max_rank=8)
    value, grad = jax.value_and_grad(f)(jnp.asarray(x))

    def ref(p):
        return dense.expval(dense.evolve(c, p), "ZXY")

    h = 1e-6
    fd = [(ref(x + h * e) - ref(x - h * e)) / (2 * h) for e in np.eye(len(x))]
    np.testing.assert_allclose(value, ref(x), atol=1e-12)
    np.testing.assert_allclose(grad, fd, atol=1e-8)
