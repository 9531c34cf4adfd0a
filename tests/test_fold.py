"""Gates folded into the channel right after them, and concrete gates fused into runs
(``engine.build``): the same state as running the ops apart, against the independent dense
reference, eager and traced, with gradients."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(Path(__file__).parent))
import dense  # noqa: E402

import lretjax as lj  # noqa: E402
from lretjax.engine import build  # noqa: E402
from lretjax.grad import expval_fn  # noqa: E402


def _cases():
    rng = np.random.default_rng(3)
    u = dense.random_unitary(rng, 2)
    k3 = dense.random_kraus(rng, 2, 3)
    k4 = dense.random_kraus(rng, 4, 3)
    c = lj.Circuit(3).h(0).h(1).h(2)
    yield "same wire", c.ry(0.7, 1).depolarizing(0.1, 1), [3]
    # A one-wire gate on the second wire of a two-wire channel: embedded at position 1.
    yield "subset", c.rx(0.4, 0).depolarizing2(0.2, 1, 0), [3]
    # A two-wire gate whose wires the channel lists the other way round.
    yield "permuted", c.cnot(2, 0).depolarizing2(0.2, 0, 2), [3]
    # A user's matrices stay steps of their own (a bad one is then named by the health checks).
    yield "user matrices", c.unitary(u, [1]).kraus(k3, [1]).x(0).kraus(k4, [0, 2]), []
    yield "other wire", c.rz(0.3, 0).amplitude_damping(0.3, 2), []
    # Only the gate right before a channel folds; a channel on part of a gate's wires takes none.
    yield "chain", c.rz(0.3, 0).s(0).phase_damping(0.2, 0).cz(0, 1).bit_flip(0.1, 1), [4]


CASES = list(_cases())


@pytest.mark.parametrize("name, circuit, folded", CASES, ids=[c[0] for c in CASES])
def test_folded_steps_equal_the_dense_reference(name, circuit, folded):
    s = build(circuit, fuse=False)
    assert [int(s.op_index[i]) for i in np.flatnonzero(s.folded)] == folded
    assert s.num_steps == len(circuit.ops) - len(folded)
    assert not build(circuit, fold=False, fuse=False).folded.any()
    rho = dense.evolve(circuit)
    st = lj.simulate(circuit, max_rank=8, representation="low-rank", record=True)
    L = np.asarray(st.L)
    np.testing.assert_allclose(L @ L.conj().T, rho, atol=1e-12)
    channels = [i for i, op in enumerate(circuit.ops) if op.is_channel]
    assert list(np.asarray(st.history.op)) == channels  # records name the channels, not the gates
    traced = jax.jit(lambda c: lj.simulate(c, max_rank=8, representation="low-rank").L)(circuit)
    np.testing.assert_allclose(np.asarray(traced) @ np.asarray(traced).conj().T, rho, atol=1e-12)


@pytest.mark.parametrize("method", ["backprop", "adjoint", "parameter-shift"])
def test_gradient_through_folded_steps(method):
    t = [lj.Param(f"t{i}") for i in range(3)]
    c = (lj.Circuit(2).ry(t[0], 0).depolarizing(0.05, 0).cnot(0, 1).depolarizing2(0.02, 0, 1)
         .rx(t[1], 1).amplitude_damping(0.1, 1).rz(t[2], 1).phase_damping(0.1, 1).ry(0.3, 1))
    x = np.array([0.4, -1.1, 0.8])
    assert build(c, params=x).folded.sum() == 4
    f = expval_fn(c, "Z0 X1", diff_method=method, max_rank=16)
    value, grad = jax.value_and_grad(f)(x)

    def ref(p):
        rho = dense.evolve(c, p)
        return dense.expval(rho, "ZX")

    h = 1e-6
    fd = [(ref(x + h * e) - ref(x - h * e)) / (2 * h) for e in np.eye(3)]
    np.testing.assert_allclose(value, ref(x), atol=1e-12)
    np.testing.assert_allclose(grad, fd, atol=1e-8)


def test_steps_know_their_first_instruction_across_swaps():
    """A sharded plan interleaves swaps; a fold never crosses one, and each step names the plan
    step it begins with (``simulate_sharded`` takes the layout of its checkpoints from it)."""
    from lretjax.engine.schedule import Apply, Swap

    c = lj.Circuit(4).ry(0.3, 3).depolarizing(0.1, 3).rx(0.2, 0).depolarizing(0.1, 0).h(1)
    plan = [Apply(0, (2,)), Apply(1, (2,)), Swap(0, 1), Apply(2, (1,)), Swap(0, 2), Apply(3, (1,)),
            Apply(4, (1,))]
    s = build(c, plan, num_global=1, fuse=False)
    assert list(s.instruction) == [0, 2, 3, 4, 5, 6]
    assert list(s.folded) == [True, False, False, False, False, False]
    assert list(s.op_index) == [0, -1, 2, -1, 3, 4]


def test_runs_of_concrete_gates_fuse_and_fold():
    """Back-to-back gates on at most two wires become one step, and a run whose wires a channel
    holds folds into it; a gate that folds into its own channel does not join a run."""
    c = (lj.Circuit(3).h(0).h(1).h(2).ry(0.7, 1).depolarizing(0.1, 1)  # (h0 h1) h2 (ry1 dep1)
         .rz(0.2, 0).cnot(0, 1).s(1).depolarizing2(0.05, 0, 1)  # (rz0 cx01 s1 dep2_01)
         .x(2).cz(2, 1).swap(1, 2).bit_flip(0.2, 0))  # (x2 cz21 swap12) bit_flip0
    s = build(c)
    assert [(int(a), int(b)) for a, b in zip(s.op_index, s.last, strict=True)] == [
        (0, 1), (2, 2), (3, 4), (5, 8), (9, 11), (12, 12)]
    assert list(s.folded) == [False, False, True, True, False, False]
    assert build(c, fuse=False).num_steps == 11  # the two folds only
    st = lj.simulate(c, max_rank=8, representation="low-rank", record=True)
    L = np.asarray(st.L)
    np.testing.assert_allclose(L @ L.conj().T, dense.evolve(c), atol=1e-12)
    assert list(np.asarray(st.history.op)) == [4, 8, 12]


def test_symbolic_and_traced_gates_do_not_fuse():
    """A gate whose matrix depends on a symbol or a traced value is built per name, never
    multiplied out here: runs form only of concrete gates."""
    c = lj.Circuit(2).h(1).ry(lj.Param("t"), 0)
    assert build(c, params=np.array([0.4])).num_steps == 2
    assert build(c.bind([0.4])).num_steps == 1
    seen = []

    def steps(circuit):  # the circuit's leaves are traced here
        seen.append(build(circuit).num_steps)
        return 0

    jax.jit(steps)(c.bind([0.4]))
    assert seen == [2]
