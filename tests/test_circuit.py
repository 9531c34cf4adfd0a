"""The circuit IR: immutability, construction, parameters, repr, compose and the pytree contract."""

import dense
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lretjax import Circuit, CircuitError, Op, Param, probabilities, simulate


def _example():
    t = Param("theta")
    u = dense.random_unitary(np.random.default_rng(0), 4)
    ks = dense.random_kraus(np.random.default_rng(1), 2, 3)
    return (
        Circuit(3).h(0).rx(2 * t + 1, 1).cx(0, 1).depolarizing(0.1, 2)
        .unitary(u, [2, 0]).kraus(ks, 1).u3(0.1, t, 0.3, 2)
    )


def test_immutable():
    c = Circuit(2).h(0)
    with pytest.raises(AttributeError, match="immutable"):
        c.num_wires = 3
    with pytest.raises(AttributeError):
        c.ops = ()
    with pytest.raises(AttributeError):
        c.ops[0].name = "x"
    d = c.x(1)
    assert len(c) == 1 and len(d) == 2
    assert [op.name for op in d] == ["h", "x"]
    assert isinstance(c.ops, tuple)


def test_user_matrices_are_copied():
    """Mutating the caller's array after building must not change the circuit."""
    u = np.eye(2, dtype=complex)
    ks = np.stack([np.eye(2, dtype=complex)])
    cu = Circuit(1).unitary(u, 0)
    ck = Circuit(1).kraus(ks, 0)
    u[:] = [[0, 1], [1, 0]]
    ks[0] = [[0, 1], [1, 0]]
    np.testing.assert_allclose(np.asarray(probabilities(simulate(cu))), [1, 0], atol=1e-12)
    np.testing.assert_allclose(np.asarray(probabilities(simulate(ck))), [1, 0], atol=1e-12)


def test_ops_fields_and_kinds():
    c = _example()
    kinds = [op.kind for op in c.ops]
    assert kinds == ["gate", "gate", "gate", "channel", "unitary", "kraus", "gate"]
    assert c.ops[2] .wires == (0, 1) and c.ops[4].wires == (2, 0)
    assert [op.num_kraus for op in c.ops] == [1, 1, 1, 4, 1, 3, 1]
    assert c.num_channels == 2
    assert [op.is_channel for op in c.ops] == [False, False, False, True, False, True, False]
    with pytest.raises(CircuitError, match="channel, not a unitary"):
        c.ops[3].matrix()
    np.testing.assert_allclose(np.asarray(c.ops[0].kraus())[0], dense.GATES["h"](), atol=1e-14)


def test_construction_from_lists():
    ops = [("h", [0]), ("rx", [1], [0.3]), {"name": "cnot", "wires": [0, 1]},
           Op("ry", (1,), (0.2,)), ("depolarize", 1, [0.1])]
    c = Circuit(2, ops)
    assert [op.name for op in c.ops] == ["h", "rx", "cx", "ry", "depolarizing"]
    assert c.ops[4].wires == (1,)
    with pytest.raises(CircuitError, match="wire 2 is out of range"):
        Circuit(2, [("h", [2])])
    with pytest.raises(CircuitError, match=r"\(name, wires\)"):
        Circuit(2, [("h",)])
    with pytest.raises(CircuitError, match="at least one wire"):
        Circuit(0)
    with pytest.raises(CircuitError, match="num_wires must be an integer"):
        Circuit(2.0)


def test_aliases_and_case():
    c = Circuit(3).add("CNOT", [0, 1]).add("Toffoli", [0, 1, 2]).add("u1", [0], 0.2).cnot(1, 2)
    assert [op.name for op in c.ops] == ["cx", "ccx", "p", "cx"]


def test_parameters_and_affine_symbols():
    a, b = Param("a"), Param("b")
    c = Circuit(2).rx(b, 0).ry(3 * a - 1, 1).rz(-b / 2 + 0.25, 0).crx(1 - a, 0, 1)
    assert c.parameters == ("b", "a") and c.num_parameters == 2
    bound = c.bind({"a": 2.0, "b": 0.5})
    vals = [float(op.params[0]) for op in bound.ops]
    np.testing.assert_allclose(vals, [0.5, 5.0, 0.0, -1.0], atol=1e-15)
    np.testing.assert_allclose([float(op.params[0]) for op in c.bind([0.5, 2.0]).ops], vals, atol=1e-15)
    assert repr(3 * a - 1) == "3*a-1" and repr(-b / 2 + 0.25) == "-0.5*b+0.25" and repr(a) == "a"
    assert c.parameters == ("b", "a")  # bind returned a new circuit


def test_repr():
    r = repr(_example())
    assert r.startswith("Circuit(3, [h[0], rx(2*theta+1)[1], cx[0, 1], depolarizing(0.1)[2]")
    assert "unitary[2, 0]" in r and "kraus[1]" in r and "u3(0.1, theta, 0.3)[2]" in r
    long = Circuit(1)
    for _ in range(20):
        long = long.x(0)
    assert repr(long).endswith("... (8 more)])")


def test_compose():
    a = Circuit(2).h(0)
    b = Circuit(2).cx(0, 1).depolarizing(0.1, 1)
    ab = a.compose(b)
    assert [op.name for op in ab.ops] == ["h", "cx", "depolarizing"]
    assert [op.name for op in (a + b).ops] == ["h", "cx", "depolarizing"]
    assert len(a) == 1 and len(b) == 2
    with pytest.raises(CircuitError, match="cannot compose a 3-wire circuit after a 2-wire one"):
        a.compose(Circuit(3))


def test_pytree_round_trip():
    c = _example()
    leaves, treedef = jax.tree_util.tree_flatten(c)
    # Numeric parameters and user matrices are leaves; symbols and structure are static.
    assert len(leaves) == 5
    assert not any(isinstance(x, Param) for x in leaves)
    back = jax.tree_util.tree_unflatten(treedef, leaves)
    assert repr(back) == repr(c) and back.parameters == c.parameters
    for o, p in zip(c.ops, back.ops, strict=True):
        assert (o.name, o.wires, o.kind) == (p.name, p.wires, p.kind)
        for x, y in zip(o.params, p.params, strict=True):
            if isinstance(x, Param):
                assert x == y
            else:
                np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert jax.tree_util.tree_structure(c.bind([0.3])) != treedef  # symbols became leaves
    doubled = jax.tree_util.tree_map(lambda x: 2 * x if np.ndim(x) == 0 else x, c)
    assert float(doubled.ops[3].params[0]) == pytest.approx(0.2)


def test_circuit_through_jit_and_structure_hashing():
    """Two circuits of one structure share a compilation; their values are leaves."""
    traces = []

    @jax.jit
    def run(circ):
        traces.append(1)
        return probabilities(simulate(circ, max_rank=4))

    p1 = run(Circuit(2).ry(0.3, 0).cx(0, 1).depolarizing(0.1, 1))
    p2 = run(Circuit(2).ry(1.1, 0).cx(0, 1).depolarizing(0.2, 1))
    assert len(traces) == 1
    assert not np.allclose(np.asarray(p1), np.asarray(p2))
    run(Circuit(2).ry(1.1, 1).cx(0, 1).depolarizing(0.2, 1))
    assert len(traces) == 2


def test_traced_parameters_skip_concrete_checks():
    @jax.jit
    def f(t):
        c = Circuit(1).rx(t, 0)
        assert "<traced>" in repr(c)
        return probabilities(simulate(c))[1]

    np.testing.assert_allclose(float(f(jnp.pi / 3)), np.sin(np.pi / 6) ** 2, atol=1e-12)
