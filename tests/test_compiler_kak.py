"""Two-wire KAK resynthesis: CX classes, rebuilt blocks and what the pass must leave alone.

Every unitary here comes from tests/dense.py (matrices written from their definitions) or from
plain NumPy products built in this file, never from lretjax's gate matrices.
"""

from __future__ import annotations

import math

import dense
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import expm

from lretjax import Circuit, Param
from lretjax.compiler import analyze, cancel_and_merge, fuse_single_wire
from lretjax.compiler.kak import (
    kak,
    layers_matrix,
    num_cx,
    resynthesize_two_wire,
    synthesize,
    two_wire_blocks,
)
from lretjax.compiler.pipeline import LEVEL_PASSES, fixed_point

X, Y, Z, I2 = dense.X, dense.Y, dense.Z, dense.I2
CX = dense.ctrl(X)
CX10 = dense.swap_matrix() @ CX @ dense.swap_matrix()


def haar(rng, d: int) -> np.ndarray:
    """Haar-random unitary: QR of a complex Gaussian matrix with the phases of R's diagonal fixed."""
    q, r = np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))
    return q * (np.diag(r) / np.abs(np.diag(r)))


def local(rng) -> np.ndarray:
    return np.kron(haar(rng, 2), haar(rng, 2))


def unitary(circuit: Circuit) -> np.ndarray:
    n = circuit.num_wires
    u = np.eye(2**n, dtype=complex)
    for op in circuit.ops:
        u = dense.embed(dense.op_kraus(op)[0], op.wires, n) @ u
    return u


def phase_distance(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - e^{i phi} b| with phi aligning the largest entry of b."""
    k = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    ph = a[k] / b[k]
    return float(np.max(np.abs(a - ph / abs(ph) * b)))


def cx_count(circuit: Circuit) -> int:
    return sum(len(op.wires) == 2 for op in circuit.ops)


def one_wire(c: Circuit, rng, wire: int) -> Circuit:
    """A Haar-random one-wire gate as a user matrix."""
    return c.unitary(haar(rng, 2), [wire])


def layered(rng, pairs, a: int = 0, b: int = 1, n: int = 2, pad: bool = False) -> Circuit:
    """Random locals on (a, b) between the given CXs; ``pad`` adds CX (RZ x RX) CX, a local
    product that costs 2 CX, after the first layer."""
    c = one_wire(one_wire(Circuit(n), rng, a), rng, b)
    if pad:
        t, s = rng.uniform(-3, 3, 2)
        c = c.cx(a, b).rz(float(t), a).rx(float(s), b).cx(a, b)
    for ctl, tgt in pairs:
        c = c.cx(ctl, tgt)
        c = one_wire(one_wire(c, rng, a), rng, b)
    return c


# -- the invariants and the decomposition, on matrices -------------------------------------------


@pytest.mark.parametrize(
    "matrix, expected",
    [
        (np.eye(4), 0),
        (np.kron(dense.u3(0.3, 0.2, 0.1), dense.pauli_exp(0.7, X)), 0),
        (CX, 1),
        (CX10, 1),
        (dense.ctrl(Z), 1),
        (dense.GATES["ecr"](), 1),
        (dense.ctrl(dense.GATES["h"]()), 1),
        (dense.GATES["iswap"](), 2),
        (dense.pauli_exp(0.3, np.kron(Z, Z)), 2),
        (dense.ctrl(dense.pauli_exp(0.9, Y)), 2),
        (dense.ctrl(dense.pauli_exp(math.pi, Z)), 1),  # CRZ(pi) = CZ up to a phase on the control
        (dense.swap_matrix(), 3),
        (CX @ CX10, 2),
    ],
)
def test_num_cx_named(matrix, expected):
    assert num_cx(matrix) == expected
    layers = synthesize(matrix, expected)
    assert layers is not None
    assert sum(layer[0] == "CX" for layer in layers) == expected
    assert phase_distance(layers_matrix(layers), np.asarray(matrix, dtype=complex)) < 1e-10
    if expected:
        assert synthesize(matrix, expected - 1) is None


def _class_matrix(rng, k: int) -> np.ndarray:
    """Haar locals between k CXs (random directions): exactly k CX with probability 1."""
    u = local(rng)
    for _ in range(k):
        u = local(rng) @ (CX if rng.random() < 0.5 else CX10) @ u
    return u


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_kak_and_synthesis_of_each_class(k):
    rng = np.random.default_rng(10 + k)
    for _ in range(20):
        u = _class_matrix(rng, k) if k < 3 else haar(rng, 4)
        assert num_cx(u) == k
        dec = kak(u)
        assert phase_distance(dec.matrix(), u) < 1e-12
        for m in (dec.a1, dec.b1, dec.a2, dec.b2):
            assert np.allclose(m.conj().T @ m, I2, atol=1e-12)
        layers = synthesize(u, k)
        assert sum(layer[0] == "CX" for layer in layers) == k
        assert phase_distance(layers_matrix(layers), u) < 1e-10
        # The synthesized layers, rebuilt here from plain NumPy, equal u.
        m = np.eye(4, dtype=complex)
        for layer in layers:
            g = np.kron(layer[1], layer[2]) if layer[0] == "L" else (CX if layer[1] == 0 else CX10)
            m = g @ m
        assert phase_distance(m, u) < 1e-10


def test_two_cx_class_with_special_coordinates():
    # exp(i(a XX + c ZZ)) for several (a, c), including boundary values of the Weyl chamber
    rng = np.random.default_rng(3)
    xx, yy, zz = np.kron(X, X), np.kron(Y, Y), np.kron(Z, Z)
    for a, b, c in [(0.3, 0, 0.7), (math.pi / 4, math.pi / 4, 0), (0, 0.2, -0.2), (0.5, 0.5, 0)]:
        core = expm(1j * (a * xx + b * yy + c * zz))
        u = local(rng) @ core @ local(rng)
        assert num_cx(u) == 2
        assert phase_distance(layers_matrix(synthesize(u, 2)), u) < 1e-10


# -- blocks --------------------------------------------------------------------------------------


def test_two_wire_blocks_are_maximal_and_closed_by_other_ops():
    c = (Circuit(3).h(0).cx(0, 1).t(1).cx(1, 0).rz(0.3, 0)  # block (0, 1): ops 0-4
         .cx(1, 2)  # closes it, opens (1, 2)
         .x(2).depolarizing(0.1, 2)  # channel closes (1, 2)
         .cx(1, 2).h(1))  # a new block on (1, 2)
    blocks = two_wire_blocks(c)
    assert [(b.wires, b.ops, b.cost) for b in blocks] == [
        ((0, 1), [0, 1, 2, 3, 4], 2),
        ((1, 2), [5, 6], 1),
        ((1, 2), [8, 9], 1),
    ]


def test_pending_one_wire_gates_join_the_next_block():
    c = Circuit(3).h(0).cx(1, 2).s(1).cx(0, 1).swap(0, 1)
    blocks = two_wire_blocks(c)
    assert [(b.wires, b.ops, b.cost) for b in blocks] == [((1, 2), [1, 2], 1), ((0, 1), [0, 3, 4], 4)]
    out = resynthesize_two_wire(c)
    assert phase_distance(unitary(out), unitary(c)) < 1e-10
    # the (1, 2) CX stays; CX then SWAP is in the class of iSWAP, 2 CX instead of 4
    assert cx_count(out) == 1 + 2


# -- the pass ------------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_pass_reaches_the_minimum_for_each_class(k):
    rng = np.random.default_rng(20 + k)
    for trial in range(6):
        pairs = [((0, 1) if rng.random() < 0.5 else (1, 0)) for _ in range(k)]
        c = layered(rng, pairs, pad=True)  # k + 2 CX spent on a k-CX unitary
        if trial % 2:
            c = c.cx(0, 1).cx(1, 0).cx(0, 1).cx(1, 0).cx(0, 1).cx(1, 0)  # two SWAPs, 6 CX more
        out = resynthesize_two_wire(c)
        assert cx_count(out) == k
        assert phase_distance(unitary(out), unitary(c)) < 1e-10


def test_pass_leaves_blocks_at_their_minimum_alone():
    rng = np.random.default_rng(5)
    for k in (1, 2, 3):
        c = layered(rng, [(0, 1)] * k)
        assert resynthesize_two_wire(c) is c
    c = Circuit(2).swap(0, 1)
    assert resynthesize_two_wire(c) is c


def test_four_cx_haar_block_becomes_three():
    rng = np.random.default_rng(6)
    c = layered(rng, [(0, 1), (1, 0), (0, 1), (1, 0), (0, 1)])
    out = resynthesize_two_wire(c)
    assert cx_count(out) == 3
    assert {op.name for op in out.ops} <= {"cx", "u3"}
    assert phase_distance(unitary(out), unitary(c)) < 1e-10


def test_blocks_on_several_pairs_of_a_wider_circuit():
    rng = np.random.default_rng(7)
    c = layered(rng, [(0, 1), (1, 0)], 0, 1, n=4, pad=True)
    c = c.compose(layered(rng, [(2, 3)], 2, 3, n=4, pad=True))
    c = c.cx(1, 2).compose(layered(rng, [(3, 0), (0, 3), (3, 0)], 3, 0, n=4, pad=True))
    out = resynthesize_two_wire(c)
    assert cx_count(out) == 2 + 1 + 1 + 3
    assert phase_distance(unitary(out), unitary(c)) < 1e-10


def test_symbolic_blocks_are_left_untouched():
    theta = Param("theta")
    c = Circuit(2).cx(0, 1).rz(theta, 1).cx(0, 1).rz(0.3, 0).cx(0, 1).cx(0, 1)
    out = resynthesize_two_wire(c)
    assert out.ops[:2] == c.ops[:2]
    # the concrete run after the symbol (CX, RZ on the control, CX, CX: 3 CX for RZ . CX) is rebuilt
    assert cx_count(out) == 2
    for value in (0.4, -1.3):
        assert phase_distance(unitary(out.bind([value])), unitary(c.bind([value]))) < 1e-10
    only_symbolic = Circuit(2).cx(0, 1).rz(theta, 1).cx(0, 1).rz(2 * theta, 1).cx(0, 1)
    assert resynthesize_two_wire(only_symbolic) is only_symbolic


def test_traced_blocks_are_left_untouched():
    seen = []

    @jax.jit
    def f(t):
        c = Circuit(2).cx(0, 1).rz(t, 1).cx(0, 1).cx(1, 0).cx(0, 1).cx(1, 0)
        out = resynthesize_two_wire(c)
        seen.append([(op.name, op.wires) for op in out.ops])
        return jnp.real(out.ops[1].params[0])

    assert f(jnp.asarray(0.25)) == pytest.approx(0.25)
    # the traced rz ends the runs beside it and stays in place; the concrete run after it
    # (4 CX making SWAP . CX, which needs 2) is rebuilt
    assert seen[0][:2] == [("cx", (0, 1)), ("rz", (1,))]
    assert sum(len(w) == 2 for _, w in seen[0][2:]) == 2


def test_channels_stay_in_place():
    rng = np.random.default_rng(8)
    c = layered(rng, [(0, 1)], pad=True).depolarizing(0.05, 0)
    c = c.compose(layered(rng, [(1, 0), (0, 1)], pad=True)).amplitude_damping(0.1, 1)
    c = c.compose(layered(rng, [], pad=True))
    out = resynthesize_two_wire(c)
    assert cx_count(out) == 1 + 2 + 0
    chan = [i for i, op in enumerate(out.ops) if op.is_channel]
    orig = [i for i, op in enumerate(c.ops) if op.is_channel]
    assert [out.ops[i] for i in chan] == [c.ops[i] for i in orig]
    # each segment between channels is equal up to phase, so no gate crossed a channel
    bounds_in = zip([-1, *orig], [*orig, len(c.ops)], strict=True)
    bounds_out = zip([-1, *chan], [*chan, len(out.ops)], strict=True)
    for (s0, e0), (s1, e1) in zip(bounds_in, bounds_out, strict=True):
        a, b = Circuit(2, out.ops[s1 + 1 : e1]), Circuit(2, c.ops[s0 + 1 : e0])
        assert phase_distance(unitary(a), unitary(b)) < 1e-10
    rho_in = dense.density(dense.random_state(rng, 2), 2)
    assert np.max(np.abs(dense.evolve(out, initial=rho_in) - dense.evolve(c, initial=rho_in))) < 1e-10


def test_user_matrix_on_two_wires_ends_a_run():
    rng = np.random.default_rng(9)
    c = Circuit(2).cx(0, 1).unitary(haar(rng, 4), [0, 1]).cx(0, 1)
    assert [b.ops for b in two_wire_blocks(c)] == [[0], [2]]
    assert resynthesize_two_wire(c) is c


def _nam_style(rng, n: int, size: int) -> Circuit:
    """Random h, x, rz (Clifford+T angles), cx circuits, as in the Nam benchmark suite."""
    c = Circuit(n)
    for _ in range(size):
        r = rng.random()
        if r < 0.45:
            c = c.cx(*[int(w) for w in rng.choice(n, 2, replace=False)])
        elif r < 0.65:
            c = c.h(int(rng.integers(n)))
        elif r < 0.75:
            c = c.x(int(rng.integers(n)))
        else:
            angle = float(rng.choice([math.pi / 4, -math.pi / 4, math.pi / 2, math.pi]))
            c = c.rz(angle, int(rng.integers(n)))
    return c


@pytest.mark.parametrize("seed", range(4))
def test_nam_style_cx_count_never_grows(seed):
    rng = np.random.default_rng(seed)
    c = _nam_style(rng, 3 if seed % 2 else 4, 80)
    level3 = fixed_point(c, LEVEL_PASSES[3])
    out = cancel_and_merge(fuse_single_wire(resynthesize_two_wire(level3)))
    assert analyze(out).two_wire <= analyze(level3).two_wire <= analyze(c).two_wire
    assert phase_distance(unitary(out), unitary(c)) < 1e-10
    direct = resynthesize_two_wire(c)
    assert cx_count(direct) <= cx_count(c)
    assert phase_distance(unitary(direct), unitary(c)) < 1e-10


def test_x64_off_still_exact():
    # the block unitaries are computed in complex128 whatever the process setting
    rng = np.random.default_rng(11)
    c = layered(rng, [(0, 1), (1, 0)], pad=True)
    with jax.enable_x64(False):
        out = resynthesize_two_wire(c)
    assert cx_count(out) == 2
    assert phase_distance(unitary(out), unitary(c)) < 1e-10


def _weighted_cx(circuit: Circuit) -> int:
    cost = {"cx": 1, "cy": 1, "cz": 1, "ch": 1, "ecr": 1, "swap": 3}
    return sum(cost.get(op.name, 2) for op in circuit.ops if len(op.wires) == 2)


@pytest.mark.parametrize("seed", range(3))
def test_mixed_gate_sets_stay_equal_and_never_cost_more(seed):
    rng = np.random.default_rng(100 + seed)
    two = ("cx", "cy", "cz", "ch", "swap", "iswap", "ecr")
    two_p = ("crx", "cry", "crz", "cp", "rxx", "ryy", "rzz")
    one = ("h", "x", "y", "s", "t", "sx", "sdg")
    one_p = ("rx", "ry", "rz", "p")
    angles = (math.pi, math.pi / 2, -math.pi / 4, 0.3, 1.7)
    c = Circuit(3)
    for _ in range(40):
        r = rng.random()
        w2 = [int(w) for w in rng.choice(3, 2, replace=False)]
        if r < 0.3:
            c = c.add(str(rng.choice(two)), w2)
        elif r < 0.5:
            c = c.add(str(rng.choice(two_p)), w2, float(rng.choice(angles)))
        elif r < 0.75:
            c = c.add(str(rng.choice(one)), [w2[0]])
        else:
            c = c.add(str(rng.choice(one_p)), [w2[0]], float(rng.choice(angles)))
    out = resynthesize_two_wire(c)
    assert _weighted_cx(out) <= _weighted_cx(c)
    assert phase_distance(unitary(out), unitary(c)) < 1e-10
