"""OpenQASM 3 reader/writer: unitaries against Qiskit's own QASM 3 importer, inputs bound later,
errors with line and column."""

import dense
import numpy as np
import pytest

from lretjax import Circuit, Param, simulate
from lretjax.errors import QasmError
from lretjax.io import qasm3

PROGRAM = """OPENQASM 3.0;
include "stdgates.inc";
input float[64] theta;
input float phi;
// a user gate with a global phase, expanded at the call site
gate my(a, b) x, y { rx(a / 2) x; cx x, y; rz(-b + pi) y; gphase(a); }
qubit[3] q;
bit[3] c;
/* block
   comment */
h q;
my(theta, 2 * phi + 0.1) q[0], q[2];
U(0.1, 0.2, 0.3) q[1];
cu(0.1, 0.2, 0.3, 0.4) q[1], q[2];
cp(theta) q[0], q[1];
sx q[2];
barrier q;
c = measure q;
measure q[1] -> c[1];
"""


def _unitary(circuit):
    n = circuit.num_wires
    u = np.eye(2**n, dtype=complex)
    for op in circuit.ops:
        u = dense.embed(dense.op_kraus(op)[0], op.wires, n) @ u
    return u


def _qiskit_unitary(qc):
    from qiskit.quantum_info import Operator

    n = qc.num_qubits
    u = Operator(qc).data.reshape([2] * (2 * n))
    rev = list(range(n))[::-1]  # Qiskit: q[0] is the low bit
    return u.transpose(rev + [n + i for i in rev]).reshape(2**n, 2**n)


def _equal_up_to_phase(a, b):
    i = np.unravel_index(np.argmax(abs(b)), b.shape)
    ph = a[i] / b[i]
    assert abs(abs(ph) - 1) < 1e-10
    np.testing.assert_allclose(a, ph * b, atol=1e-10)


def test_inputs_stay_symbols_and_bind_later():
    prog = qasm3.parse(PROGRAM, "p.qasm")
    assert prog.inputs == ("theta", "phi") and prog.circuit.parameters == ("theta", "phi")
    assert prog.measurements == ((0, 0), (1, 1), (2, 2), (1, 1))
    rz = [op for op in prog.circuit.ops if op.name == "rz"][0]
    assert rz.params[0].name == "phi" and rz.params[0].coeff == -2.0
    assert rz.params[0].offset == pytest.approx(np.pi - 0.1, abs=1e-15)
    # Bound later (circuit.bind), bound at load (inputs=...), or given to simulate: one circuit.
    values = {"theta": 0.3, "phi": 0.7}
    a = prog.circuit.bind(values)
    b = qasm3.loads(PROGRAM, inputs=values)
    np.testing.assert_allclose(_unitary(a), _unitary(b), atol=1e-12)
    s1 = simulate(prog.circuit, values)
    psi = _unitary(a)[:, 0]
    np.testing.assert_allclose(np.asarray(s1.L @ s1.L.conj().T), np.outer(psi, psi.conj()), atol=1e-10)


def test_matches_qiskit_qasm3_importer():
    pytest.importorskip("qiskit_qasm3_import")
    from qiskit import qasm3 as qk_qasm3

    values = {"theta": 0.3, "phi": 0.7}
    qc = qk_qasm3.loads(PROGRAM)
    qc = qc.assign_parameters({p: values[p.name] for p in qc.parameters})
    qc.remove_final_measurements()
    _equal_up_to_phase(_unitary(qasm3.loads(PROGRAM, inputs=values)), _qiskit_unitary(qc))


def test_writer_round_trip_and_qiskit_reads_it():
    rng = np.random.default_rng(3)
    c = (Circuit(3).h(0).cx(0, 2).rx(0.3, 1).ecr(1, 2).iswap(0, 1).u2(0.2, 0.4, 2).ryy(0.5, 0, 2)
         .rxx(0.2, 1, 0).rzz(0.3, 0, 1).ccx(2, 1, 0).p(0.3, 1).cp(0.2, 0, 1).sxdg(2).u3(0.1, 0.2, 0.3, 0)
         .unitary(dense.random_unitary(rng, 4), [2, 0]))
    text = qasm3.dumps(c)
    _equal_up_to_phase(_unitary(qasm3.loads(text)), _unitary(c))
    sym = Circuit(2).rx(2 * Param("a") + 1, 0).rz(Param("b") - 0.5, 1).cx(0, 1)
    back = qasm3.loads(qasm3.dumps(sym))
    assert back.parameters == ("a", "b")
    assert back.ops[0].params[0] == Param("a", 2.0, 1.0) and back.ops[1].params[0] == Param("b", 1.0, -0.5)
    pytest.importorskip("qiskit_qasm3_import")
    from qiskit import qasm3 as qk_qasm3

    _equal_up_to_phase(_qiskit_unitary(qk_qasm3.loads(text)), _unitary(c))


def test_writer_refuses_channels():
    c = Circuit(1).h(0).depolarizing(0.1, 0)
    with pytest.raises(Exception, match="channels"):
        qasm3.dumps(c)
    assert "depolarizing" not in qasm3.dumps(c, skip_channels=True)


@pytest.mark.parametrize("text, where, words", [
    ("OPENQASM 3.0;\nqubit[2] q;\nfor int i in [0:1] { h q[0]; }\n", ":3:1:", "for loops"),
    ("OPENQASM 3.0;\nqubit[2] q;\nrx(t) q[0];\n", ":3:4:", "unknown name 't'"),
    ("OPENQASM 3.0;\ninput float t;\nqubit[2] q;\nrx(sin(t)) q[0];\n", ":4:4:", "not affine"),
    ("OPENQASM 3.0;\ninput float t;\nqubit[2] q;\nrx(t * t) q[0];\n", ":4:6:", "not affine"),
    ("OPENQASM 3.0;\nqubit[2] q;\nfoo q[0];\n", ":3:1:", "unknown gate 'foo'"),
    ("OPENQASM 3.0;\nqubit[2] q;\nh q[2];\n", ":3:5:", "out of range"),
    ("OPENQASM 3.0;\nqubit[2] q\nh q[1];\n", ":2:11:", "missing ';'"),
    ("OPENQASM 2.0;\nqreg q[1];\n", ":1:10:", "qasm2"),
    ("OPENQASM 3.0;\nqubit[2] q;\nctrl @ x q[0], q[1];\n", ":3:1:", "ctrl @"),
    ("OPENQASM 3.0;\nqubit[2] q;\ncx q[0], q[0];\n", ":3:1:", "twice"),
    ("OPENQASM 3.0;\ninclude \"other.inc\";\n", ":2:9:", "stdgates.inc"),
])
def test_errors_carry_line_and_column(text, where, words):
    with pytest.raises(QasmError) as e:
        qasm3.loads(text, source="bad.qasm")
    msg = str(e.value)
    assert msg.startswith("bad.qasm" + where) and words in msg
    assert e.value.line == int(where.split(":")[1])
