"""The fusion pass: same operator as the original circuit, fewer ops, traceable and differentiable."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lretjax
from lretjax.compiler.fuse import fuse_blocks
from lretjax.reference import simulate_dense


def dense_unitary_circuit(circuit):
    """The circuit's unitary by applying each op's matrix to the identity, plainly in NumPy."""
    n = circuit.num_wires
    state = np.eye(2**n, dtype=complex).reshape((2,) * n + (2**n,))
    for op in circuit.ops:
        k = len(op.wires)
        u = np.asarray(op.matrix()).reshape((2,) * 2 * k)
        state = np.tensordot(u, state, axes=(list(range(k, 2 * k)), list(op.wires)))
        state = np.moveaxis(state, list(range(k)), list(op.wires))
    return state.reshape(2**n, 2**n)


def random_circuit(n, depth, seed):
    rng = np.random.default_rng(seed)
    c = lretjax.Circuit(n)
    for _ in range(depth):
        a, b = rng.choice(n, 2, replace=False)
        c = c.rx(float(rng.random()), int(a)).cx(int(a), int(b)).ry(float(rng.random()), int(b))
        if rng.random() < 0.3:
            c = c.cz(int(b), int((b + 1) % n))
    return c


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_fused_circuit_is_same_unitary(k):
    c = random_circuit(5, 12, seed=k)
    f = fuse_blocks(c, max_wires=k)
    assert len(f.ops) <= len(c.ops)
    assert all(len(op.wires) <= max(k, 2) for op in f.ops)
    np.testing.assert_allclose(dense_unitary_circuit(f), dense_unitary_circuit(c), atol=1e-12)


def test_fusion_reduces_ops_and_respects_channels():
    c = lretjax.Circuit(3).h(0).cx(0, 1).rz(0.3, 1).depolarizing(0.1, 1).ry(0.2, 1).cx(1, 2).x(0)
    f = fuse_blocks(c, max_wires=2)
    names = [op.name for op in f.ops]
    assert names.count("depolarizing") == 1
    i = names.index("depolarizing")
    # Nothing on wire 1 crosses the channel: ops before it on wire 1 stay before, after stay after.
    assert all(1 not in op.wires or j < i for j, op in enumerate(f.ops[:i]))
    assert f.ops[0].kind == "unitary" and f.ops[0].wires == (0, 1)
    rho = simulate_dense(c)
    np.testing.assert_allclose(simulate_dense(f), rho, atol=1e-12)


def test_fuse_traces_and_differentiates():
    def expval(theta):
        c = lretjax.Circuit(2).rx(theta, 0).cx(0, 1).ry(2 * theta, 1)
        f = fuse_blocks(c, max_wires=2)
        assert len(f.ops) == 1
        L = lretjax.simulate(f, max_rank=4).L
        return jnp.real(jnp.sum(jnp.abs(L[:2]) ** 2))  # P(wire 0 = 0)

    theta = 0.37
    g = jax.grad(expval)(theta)
    # P(wire 0 = 0) = cos^2(theta / 2): the CX and RY do not change wire 0's marginal.
    np.testing.assert_allclose(expval(theta), np.cos(theta / 2) ** 2, atol=1e-12)
    np.testing.assert_allclose(g, -np.sin(theta) / 2, atol=1e-10)
    assert np.isfinite(jax.jit(expval)(theta))


def test_rejects_bad_block_size():
    with pytest.raises(ValueError, match="max_wires"):
        fuse_blocks(lretjax.Circuit(1).h(0), max_wires=0)
