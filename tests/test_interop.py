"""Qiskit and Cirq conversions: unitaries against the peers' own, channels against their
density-matrix simulators, symbols both ways."""

import dense
import numpy as np
import pytest

from lretjax import Circuit, Param, probabilities, simulate

QUBIT1 = ["id", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg"]
ROT1 = ["rx", "ry", "rz", "p"]
FIXED2 = ["cx", "cy", "cz", "ch", "swap", "iswap", "ecr"]
ROT2 = ["crx", "cry", "crz", "cp", "rxx", "ryy", "rzz"]


def _unitary(circuit):
    n = circuit.num_wires
    u = np.eye(2**n, dtype=complex)
    for op in circuit.ops:
        u = dense.embed(dense.op_kraus(op)[0], op.wires, n) @ u
    return u


def _equal_up_to_phase(a, b):
    i = np.unravel_index(np.argmax(abs(b)), b.shape)
    ph = a[i] / b[i]
    assert abs(abs(ph) - 1) < 1e-10
    np.testing.assert_allclose(a, ph * b, atol=1e-10)


def _mixed_circuit():
    rng = np.random.default_rng(7)
    return (Circuit(3).h(0).cx(0, 2).rx(0.3, 1).ecr(1, 2).iswap(0, 1).u2(0.2, 0.4, 2).ryy(0.5, 0, 2)
            .ccx(2, 1, 0).p(0.3, 1).cp(0.2, 0, 1).sxdg(2).cswap(1, 0, 2).u3(0.1, 0.2, 0.3, 1)
            .unitary(dense.random_unitary(rng, 4), [2, 0])
            .id(0).y(1).z(2).s(0).t(1).sdg(2).tdg(0).sx(1).x(2).cy(0, 1).ch(1, 2).swap(0, 2)
            .crx(0.1, 0, 1).cry(0.2, 1, 2).crz(0.3, 2, 0).rxx(0.4, 0, 1).rzz(0.5, 1, 2).rz(0.6, 0).ry(0.7, 1))


# -- Qiskit -----------------------------------------------------------------------------------------


def _qiskit_unitary(qc):
    from qiskit.quantum_info import Operator

    n = qc.num_qubits
    u = Operator(qc).data.reshape([2] * (2 * n))
    rev = list(range(n))[::-1]  # Qiskit: q[0] is the low bit; lretjax: wire 0 is the high bit
    return u.transpose(rev + [n + i for i in rev]).reshape(2**n, 2**n)


def test_from_qiskit_every_standard_gate():
    pytest.importorskip("qiskit")
    from qiskit import QuantumCircuit

    from lretjax.io.qiskit import from_qiskit

    qc = QuantumCircuit(3)
    for i, g in enumerate(QUBIT1):
        getattr(qc, g)(i % 3)
    for i, g in enumerate(ROT1):
        getattr(qc, g)(0.3 + i, (i + 1) % 3)
    for i, g in enumerate(FIXED2):
        getattr(qc, g)(i % 3, (i + 2) % 3)
    for i, g in enumerate(ROT2):
        getattr(qc, g)(0.2 + i, (i + 2) % 3, i % 3)
    qc.u(0.1, 0.2, 0.3, 2)
    qc.ccx(2, 0, 1)
    qc.cswap(1, 2, 0)
    qc.mcx([0, 2], 1)  # no lretjax name: an exact unitary op
    qc.cu(0.1, 0.2, 0.3, 0.4, 1, 0)
    qc.barrier()
    c = from_qiskit(qc)
    assert c.num_wires == 3 and [op.name for op in c.ops][:3] == ["id", "x", "y"]
    _equal_up_to_phase(_unitary(c), _qiskit_unitary(qc))


def test_to_qiskit_and_back():
    pytest.importorskip("qiskit")
    from lretjax.io.qiskit import from_qiskit, to_qiskit

    c = _mixed_circuit()
    qc = to_qiskit(c)
    _equal_up_to_phase(_qiskit_unitary(qc), _unitary(c))
    _equal_up_to_phase(_unitary(from_qiskit(qc)), _unitary(c))


def test_qiskit_parameters_and_bit_order():
    pytest.importorskip("qiskit")
    from qiskit import QuantumCircuit
    from qiskit.circuit import Parameter

    from lretjax.io.qiskit import from_qiskit, to_qiskit

    th = Parameter("th")
    qc = QuantumCircuit(2)
    qc.rx(2 * th + 1, 0)
    qc.rz(th, 1)
    qc.x(1)
    c = from_qiskit(qc)
    assert c.parameters == ("th",) and c.ops[0].params[0] == Param("th", 2.0, 1.0)
    back = to_qiskit(c)
    assert [p.name for p in back.parameters] == ["th"]
    bound = back.assign_parameters({back.parameters[0]: 0.4})
    _equal_up_to_phase(_qiskit_unitary(bound), _unitary(c.bind({"th": 0.4})))
    # x on q[1] only: lretjax wire 1 is the low bit, so |01> = index 1.
    p = np.asarray(probabilities(simulate(from_qiskit(QuantumCircuit(2).compose(qc.assign_parameters(
        {th: -0.5}))))))
    assert p[1] + p[3] == pytest.approx(1.0, abs=1e-12) and p[1] == pytest.approx(1.0, abs=1e-12)


def test_to_qiskit_channels_match_aer_density_matrix():
    pytest.importorskip("qiskit_aer")
    from qiskit_aer import AerSimulator

    from lretjax.io.qiskit import to_qiskit

    c = Circuit(2).h(0).cx(0, 1).depolarizing(0.1, 0).amplitude_damping(0.3, 1).ry(0.4, 1)
    qc = to_qiskit(c)
    qc.save_density_matrix()
    rho_q = np.asarray(AerSimulator(method="density_matrix").run(qc).result().data()["density_matrix"])
    n = 2
    rev = list(range(n))[::-1]
    rho_q = rho_q.reshape([2] * 4).transpose(rev + [n + i for i in rev]).reshape(4, 4)
    np.testing.assert_allclose(rho_q, dense.evolve(c), atol=1e-10)
    from lretjax.io.qiskit import from_qiskit

    qc.data.pop()  # the save instruction
    back = from_qiskit(qc)
    assert [op.kind for op in back.ops] == ["gate", "gate", "kraus", "kraus", "gate"]
    np.testing.assert_allclose(dense.evolve(back), dense.evolve(c), atol=1e-10)


# -- Cirq -------------------------------------------------------------------------------------------


def test_from_cirq_gates_and_unknown_ones():
    cirq = pytest.importorskip("cirq")
    from lretjax.io.cirq import from_cirq

    q = cirq.LineQubit.range(3)
    cc = cirq.Circuit(
        cirq.H(q[0]), cirq.S(q[1]) ** -1, cirq.X(q[2]) ** 0.5, cirq.CNOT(q[2], q[0]), cirq.rx(0.3)(q[1]),
        cirq.Z(q[0]) ** 0.3, cirq.CZ(q[0], q[2]) ** 0.7, cirq.ISWAP(q[0], q[1]), cirq.CCX(q[2], q[1], q[0]),
        cirq.FSimGate(0.2, 0.3)(q[1], q[2]), cirq.Y(q[0]) ** 0.37, cirq.T(q[1]) ** -1,
        cirq.measure(*q),
    )
    c = from_cirq(cc)
    assert [op.name for op in c.ops] == ["h", "sdg", "sx", "cx", "rx", "p", "cp", "iswap", "ccx",
                                         "unitary", "unitary", "tdg"]
    _equal_up_to_phase(_unitary(c), cirq.unitary(cirq.drop_terminal_measurements(cc)))


def test_to_cirq_and_back_with_symbols():
    cirq = pytest.importorskip("cirq")
    import sympy

    from lretjax.io.cirq import from_cirq, to_cirq

    c = _mixed_circuit()
    _equal_up_to_phase(cirq.unitary(to_cirq(c)), _unitary(c))
    _equal_up_to_phase(_unitary(from_cirq(to_cirq(c))), _unitary(c))
    t = sympy.Symbol("t")
    q = cirq.LineQubit.range(2)
    cc = cirq.Circuit(cirq.rx(2 * t + 1)(q[0]), cirq.Z(q[1]) ** (t / 2))
    sym = from_cirq(cc)
    assert sym.ops[0].params[0] == Param("t", 2.0, 1.0)
    assert sym.ops[1].params[0].coeff == pytest.approx(np.pi / 2)
    resolved = cirq.resolve_parameters(to_cirq(sym), {"t": 0.6})
    _equal_up_to_phase(cirq.unitary(resolved), _unitary(sym.bind({"t": 0.6})))


def test_cirq_channels_match_its_density_matrix_simulator():
    cirq = pytest.importorskip("cirq")
    from lretjax.io.cirq import from_cirq, to_cirq

    c = Circuit(2).h(0).depolarizing(0.1, 0).cx(0, 1).amplitude_damping(0.2, 1).phase_damping(0.3, 0)
    rho = cirq.DensityMatrixSimulator(dtype=np.complex128).simulate(to_cirq(c)).final_density_matrix
    np.testing.assert_allclose(rho, dense.evolve(c), atol=1e-10)
    q = cirq.LineQubit.range(2)
    cc = cirq.Circuit(cirq.H(q[0]), cirq.depolarize(0.2)(q[0]), cirq.CNOT(q[0], q[1]),
                      cirq.amplitude_damp(0.3)(q[1]))
    cc += [cirq.phase_damp(0.25)(a) for a in q] + [cirq.bit_flip(0.1)(q[0]), cirq.phase_flip(0.2)(q[1])]
    cc.append(cirq.asymmetric_depolarize(0.1, 0.05, 0.02)(q[0]))  # no lretjax name: a kraus op
    rho_c = cirq.DensityMatrixSimulator(dtype=np.complex128).simulate(cc).final_density_matrix
    back = from_cirq(cc)
    assert [op.name for op in back.ops if op.is_channel] == [
        "depolarizing", "amplitude_damping", "phase_damping", "phase_damping", "bit_flip", "phase_flip",
        "kraus"]
    np.testing.assert_allclose(dense.evolve(back), rho_c, atol=1e-10)
