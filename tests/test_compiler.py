"""Compiler passes: every result checked against a plain NumPy unitary of the original circuit."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_compiler_reference import phase_distance, unitary

from lretjax import Circuit, CircuitError, Param, expval, simulate
from lretjax.compiler import (
    analyze,
    cancel_and_merge,
    compile,
    fuse_single_wire,
    merge_phases,
    remove_identities,
    u3_angles,
)
from lretjax.compiler.decompose import decompose_multi_wire, decompose_swaps

ANGLES = (math.pi / 4, -math.pi / 4, math.pi / 2, 0.3, -0.3, 0.7)
ONE = ("h", "x", "y", "z", "s", "sdg", "t", "tdg", "sx", "sxdg")
ONE_P = ("rx", "ry", "rz", "p")
TWO = ("cx", "cy", "cz", "ch", "swap")
TWO_P = ("crx", "cry", "crz", "cp", "rzz", "rxx", "ryy")


def random_circuit(rng, n: int, size: int, *, three=True) -> Circuit:
    """Random gates from a small pool with repeated angles, so pairs to cancel and merge occur."""
    c = Circuit(n)
    for _ in range(size):
        r = rng.random()
        if r < 0.3:
            c = c.add(str(rng.choice(ONE)), [int(rng.integers(n))])
        elif r < 0.55:
            c = c.add(str(rng.choice(ONE_P)), [int(rng.integers(n))], float(rng.choice(ANGLES)))
        elif r < 0.8:
            w = rng.choice(n, 2, replace=False)
            c = c.add("cx" if rng.random() < 0.6 else str(rng.choice(TWO)), [int(x) for x in w])
        elif r < 0.95 or not three:
            w = rng.choice(n, 2, replace=False)
            c = c.add(str(rng.choice(TWO_P)), [int(x) for x in w], float(rng.choice(ANGLES)))
        else:
            w = rng.choice(n, 3, replace=False)
            c = c.add(str(rng.choice(("ccx", "cswap"))), [int(x) for x in w])
    return c


def assert_equivalent(a: Circuit, b: Circuit, atol=1e-10):
    assert phase_distance(unitary(a), unitary(b)) < atol


# -- cancellation and merging -------------------------------------------------------------------


@pytest.mark.parametrize(
    "circuit",
    [
        Circuit(1).h(0).h(0),
        Circuit(1).x(0).x(0),
        Circuit(1).s(0).sdg(0),
        Circuit(1).tdg(0).t(0),
        Circuit(1).sx(0).sxdg(0),
        Circuit(2).cx(0, 1).cx(0, 1),
        Circuit(2).cz(0, 1).cz(1, 0),
        Circuit(2).swap(0, 1).swap(1, 0),
        Circuit(3).ccx(0, 1, 2).ccx(1, 0, 2),
        Circuit(1).t(0).t(0).t(0).t(0).t(0).t(0).t(0).t(0),
        Circuit(1).rx(0.3, 0).rx(-0.3, 0),
        Circuit(2).rzz(0.4, 0, 1).rzz(-0.4, 1, 0),
        Circuit(2).crz(2 * math.pi, 0, 1).crz(2 * math.pi, 0, 1),
    ],
)
def test_inverse_pairs_cancel(circuit):
    assert compile(circuit, level=1).ops == ()
    assert phase_distance(unitary(circuit), np.eye(2**circuit.num_wires)) < 1e-10


@pytest.mark.parametrize(
    "circuit, left",
    [
        (Circuit(2).t(0).cx(0, 1).tdg(0), ["cx"]),  # diagonal through a CX control
        (Circuit(2).x(1).cx(0, 1).x(1), ["cx"]),  # X through a CX target
        (Circuit(2).cx(0, 1).rz(0.3, 0).cx(0, 1), ["rz"]),  # CX pair around a control-side Z
        (Circuit(3).cx(0, 2).cx(1, 2).cx(0, 2), ["cx"]),  # CXs sharing a target commute
        (Circuit(3).cx(0, 1).cx(0, 2).cx(0, 1), ["cx"]),  # CXs sharing a control commute
        (Circuit(2).rz(0.1, 0).cz(0, 1).rz(0.2, 0), ["rz", "cz"]),
        (Circuit(2).cx(0, 1).h(1).cx(0, 1), ["cx", "h", "cx"]),  # H blocks
        (Circuit(2).cx(0, 1).rz(0.3, 1).cx(0, 1), ["cx", "rz", "cx"]),  # Z on the target blocks
        (Circuit(2).cx(0, 1).cx(1, 0), ["cx", "cx"]),
    ],
)
def test_commutation(circuit, left):
    out = cancel_and_merge(circuit)
    assert sorted(op.name for op in out.ops) == sorted(left)
    assert_equivalent(out, circuit)


def test_channels_are_barriers():
    c = Circuit(2).h(0).depolarizing(0.1, 0).h(0).rz(0.1, 1).phase_damping(0.2, 1).rz(0.2, 1)
    c = c.cx(0, 1).bit_flip(0.1, 0).cx(0, 1)
    for level in range(4):
        out = compile(c, level=level)
        assert [op.name for op in out.ops] == [op.name for op in c.ops]


def test_merged_angles_and_names():
    out = cancel_and_merge(Circuit(1).t(0).t(0))
    assert [op.name for op in out.ops] == ["s"]
    out = cancel_and_merge(Circuit(1).rz(0.25, 0).t(0))
    assert [op.name for op in out.ops] == ["rz"]
    assert np.isclose(float(out.ops[0].params[0]), 0.25 + math.pi / 4)
    out = cancel_and_merge(Circuit(2).crz(0.5, 0, 1).crz(0.25, 0, 1))
    assert out.ops[0].name == "crz" and np.isclose(float(out.ops[0].params[0]), 0.75)
    # crz(2 pi) is Z on the control, not the identity: kept.
    assert len(remove_identities(Circuit(2).crz(2 * math.pi, 0, 1)).ops) == 1
    assert len(remove_identities(Circuit(2).crz(4 * math.pi, 0, 1)).ops) == 0


def test_remove_identities():
    c = Circuit(2).id(0).rz(0.0, 0).rx(2 * math.pi, 1).p(-2 * math.pi, 0).rzz(0.0, 0, 1).ry(0.1, 1)
    out = remove_identities(c)
    assert [op.name for op in out.ops] == ["ry"]
    assert_equivalent(out, c)
    # A symbol is never an identity, even with a zero value ahead.
    assert len(remove_identities(Circuit(1).rz(Param("a"), 0)).ops) == 1


def test_symbols_merge_affinely_and_bind():
    a, b = Param("a"), Param("b")
    c = Circuit(2).rz(a, 0).cx(0, 1).rz(2 * a + 0.1, 0).rz(b, 0).rx(0.2, 1).rx(b, 1)
    out = compile(c, level=2)
    assert out.parameters == ("a", "b")
    assert len(out.ops) < len(c.ops)
    vals = [0.37, -1.1]
    assert_equivalent(out.bind(vals), c.bind(vals))
    # Cancelling symbols keeps the slot so bind still takes the same vector.
    z = compile(Circuit(1).rz(a, 0).rz(-a, 0).h(0), level=3)
    assert z.parameters == ("a",)


# -- phase polynomials --------------------------------------------------------------------------


def test_phase_merging_through_cx_network():
    c = Circuit(3).rz(0.3, 2).cx(0, 2).cx(1, 2).cx(0, 2).cx(1, 2).rz(0.4, 2)
    out = merge_phases(c)
    assert [op.name for op in out.ops] == ["rz", "cx", "cx", "cx", "cx"]
    assert np.isclose(float(out.ops[0].params[0]), 0.7)
    assert_equivalent(out, c)
    assert [op.name for op in compile(c, level=2).ops] == ["rz"]


def test_phase_merging_signs_and_rzz():
    c = Circuit(1).rz(0.3, 0).x(0).rz(0.5, 0)
    out = merge_phases(c)
    assert [op.name for op in out.ops] == ["rz", "x"]
    assert np.isclose(float(out.ops[0].params[0]), -0.2)
    assert_equivalent(out, c)
    c = Circuit(2).rzz(0.3, 0, 1).h(0).h(0).cx(0, 1).rz(0.2, 1).cx(0, 1)
    out = merge_phases(c)
    assert sum(op.name in ("rz", "rzz") for op in out.ops) == 2  # H gives fresh variables
    c = Circuit(2).rzz(0.3, 0, 1).cx(0, 1).rz(0.2, 1).cx(0, 1)
    out = merge_phases(c)
    assert [op.name for op in out.ops] == ["rzz", "cx", "cx"]
    assert_equivalent(out, c)


def test_phase_merging_stops_at_channels():
    c = Circuit(2).rz(0.3, 0).depolarizing(0.1, 1).rz(0.2, 0)
    assert len(merge_phases(c).ops) == 3


# -- U3 fusion ----------------------------------------------------------------------------------


@pytest.mark.parametrize("as_array", [jnp.asarray, np.asarray])  # NumPy stays NumPy (KAK pass)
@pytest.mark.parametrize("seed", range(4))
def test_u3_angles_reconstruct(seed, as_array):
    rng = np.random.default_rng(seed)
    from test_compiler_reference import MATRICES

    cases = [np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))[0],
             np.diag(np.exp(1j * rng.normal(size=2))),
             np.array([[0, np.exp(0.3j)], [np.exp(-1.1j), 0]])]
    for u in cases:
        angles = u3_angles(as_array(u))
        assert all(isinstance(x, jax.Array) != (as_array is np.asarray) for x in angles)
        t, p, lam = (float(x) for x in angles)
        assert phase_distance(MATRICES["u3"](t, p, lam), u) < 1e-10


@pytest.mark.parametrize("seed", range(4))
def test_zyz_keeps_the_phase_and_synthesis_is_exact(seed):
    from test_compiler_reference import MATRICES

    from lretjax.compiler import unitary_gates, zyz

    rng = np.random.default_rng(seed)
    for u in [np.linalg.qr(rng.normal(size=(2, 2)) + 1j * rng.normal(size=(2, 2)))[0],
              np.diag(np.exp(1j * rng.normal(size=2))), np.array([[0, np.exp(0.3j)], [np.exp(-1.1j), 0]])]:
        t, p, lam, gamma = (float(x) for x in zyz(u))
        np.testing.assert_allclose(np.exp(1j * gamma) * MATRICES["u3"](t, p, lam), u, atol=1e-12)
    u = np.linalg.qr(rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8)))[0]
    ops = unitary_gates(u, (2, 0, 1))
    assert {op.name for op in ops} <= {"u3", "cx", "ccx", "x", "p", "crz", "cry"}
    got = Circuit(3, ops)
    want = Circuit(3).unitary(u, [2, 0, 1])
    assert phase_distance(unitary(got), unitary(want)) < 1e-9


def test_fuse_single_wire():
    c = Circuit(2).h(0).rz(0.3, 0).sx(0).cx(0, 1).t(1).ry(0.2, 1).h(0).x(0).x(0).h(0)
    out = fuse_single_wire(c)
    assert [op.name for op in out.ops] == ["u3", "cx", "u3"]  # h x x h dropped
    assert_equivalent(out, c)


# -- random circuits at every level -------------------------------------------------------------


@pytest.mark.parametrize("seed", range(12))
def test_random_circuits_every_level(seed):
    rng = np.random.default_rng(seed)
    c = random_circuit(rng, 4, 60)
    u = unitary(c)
    for level in range(4):
        out = compile(c, level=level)
        assert phase_distance(unitary(out), u) < 1e-10, level
        assert len(out.ops) <= len(c.ops)


def test_levels_reduce_cx_rz_networks():
    rng = np.random.default_rng(7)
    c = Circuit(4)
    for _ in range(120):
        r = rng.random()
        w = int(rng.integers(4))
        if r < 0.45:
            a, b = rng.choice(4, 2, replace=False)
            c = c.cx(int(a), int(b))
        elif r < 0.9:
            c = c.rz(float(rng.choice(ANGLES)), w)
        elif r < 0.95:
            c = c.h(w)
        else:
            c = c.x(w)
    u = unitary(c)
    sizes = []
    for level in range(4):
        out = compile(c, level=level)
        assert phase_distance(unitary(out), u) < 1e-10
        sizes.append(len(out.ops))
    assert sizes[0] > sizes[1] > sizes[2] >= sizes[3]


def test_decompositions():
    c = Circuit(3).ccx(0, 1, 2).cswap(2, 0, 1).swap(0, 2)
    d = decompose_swaps(decompose_multi_wire(c))
    assert all(len(op.wires) <= 2 for op in d.ops) and "swap" not in analyze(d).by_name
    assert_equivalent(d, c)
    with pytest.raises(CircuitError, match="3 wires"):
        decompose_multi_wire(Circuit(3).unitary(np.eye(8), [0, 1, 2]))


def test_nam_tof3_from_qasm():
    qasm2 = pytest.importorskip("lretjax.io.qasm2")
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "nam" / "tof_3.qasm"
    if not path.exists():
        pytest.skip("Nam suite not present")
    c = qasm2.load(str(path))
    out = compile(c, level=3)
    assert len(out.ops) < 0.8 * len(c.ops)
    assert_equivalent(out, c)


# -- jit and grad -------------------------------------------------------------------------------


def _variational():
    a, b, g = Param("a"), Param("b"), Param("g")
    return (
        Circuit(3).h(0).rz(a, 0).rz(b, 0).cx(0, 1).rx(g, 2).rx(a, 2).cx(0, 1).cx(1, 2)
        .rz(0.0, 1).rzz(b, 0, 2).cx(0, 2).rz(g, 2).cx(0, 2).ry(a, 1).ry(0.4, 1).h(2)
    )


def test_jit_and_grad_through_compile():
    c = _variational()
    obs = {"ZZI": 0.7, "XIX": -0.4, "IYZ": 0.3}

    def original(p):
        return expval(simulate(c.bind(p)), obs)

    sizes = []

    def compiled(p):
        out = compile(c.bind(p), level=3)
        sizes.append(len(out.ops))
        return expval(simulate(out), obs)

    p = jnp.array([0.3, -0.7, 1.1])
    v0, g0 = jax.jit(jax.value_and_grad(original))(p)
    v1, g1 = jax.jit(jax.value_and_grad(compiled))(p)
    assert sizes[0] < len(c.ops)  # merges happened on tracers
    assert np.isclose(v0, v1, atol=1e-10)
    assert np.allclose(g0, g1, atol=1e-10)
    assert np.all(np.isfinite(g1))

    # Independent check: central differences of the NumPy reference.
    def ref_value(v):
        psi = unitary(c.bind(v))[:, 0]
        z = np.diag([1, -1])
        x = np.array([[0, 1], [1, 0]])
        y = np.array([[0, -1j], [1j, 0]])
        i2 = np.eye(2)
        o = 0.7 * np.kron(np.kron(z, z), i2) - 0.4 * np.kron(np.kron(x, i2), x) + 0.3 * np.kron(
            np.kron(i2, y), z
        )
        return float(np.real(psi.conj() @ o @ psi))

    assert np.isclose(v1, ref_value(np.array(p)), atol=1e-10)
    eps = 1e-6
    fd = [(ref_value(np.array(p) + eps * e) - ref_value(np.array(p) - eps * e)) / (2 * eps)
          for e in np.eye(3)]
    assert np.allclose(g1, fd, atol=1e-7)


def test_traced_zero_angle_kept():
    def f(t):
        out = compile(Circuit(1).rz(t, 0).h(0), level=1)
        assert len(out.ops) == 2
        return expval(simulate(out), "X")

    assert np.isclose(jax.jit(f)(0.0), 1.0)


# -- analysis and errors ------------------------------------------------------------------------


def test_analyze():
    c = Circuit(3).h(0).cx(0, 1).rz(0.1, 2).ccx(0, 1, 2).depolarizing(0.1, 2).unitary(np.eye(2), 1)
    s = analyze(c)
    assert s.num_ops == 6 and s.num_gates == 5 and s.num_channels == 1
    assert s.two_wire == 1 and s.multi_wire == 1
    assert s.depth == 4  # h, cx, ccx, depolarizing on wire 2
    assert s.by_name["cx"] == 1 and s.by_kind == {"gate": 4, "channel": 1, "unitary": 1}


@pytest.mark.parametrize("level", [4, -1, "3", True, None, 2.0])
def test_unknown_level(level):
    with pytest.raises(CircuitError, match="level"):
        compile(Circuit(1).h(0), level=level)


def test_not_a_circuit():
    with pytest.raises(CircuitError, match="Circuit"):
        compile([("h", [0])], level=1)
