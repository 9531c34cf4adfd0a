"""OpenQASM 2.0 reader and writer, checked against gate matrices written here from the textbook.

The reference builds the full unitary of a circuit by applying each op's matrix, taken from the
table below (never from lretjax.gates), to the identity. Unitaries are compared up to a global
phase, which no density matrix can see.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lretjax import Circuit, Param
from lretjax.errors import CircuitError, ParameterError, QasmError
from lretjax.io import dump_qasm, dumps_qasm, load_qasm, loads_qasm, qasm2

DATA = Path(__file__).parent / "data" / "qasm"
SHARED_NAM = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "nam"
HEAD = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'

# --- reference matrices (textbook forms, wire order: first listed qubit = high bit) -----------

I2 = np.eye(2, dtype=complex)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]])
Z = np.diag([1.0 + 0j, -1.0])
H = np.array([[1, 1], [1, -1]], dtype=complex) / math.sqrt(2)
S = np.diag([1, 1j])
T = np.diag([1, np.exp(1j * math.pi / 4)])
SX = np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]) / 2


def u3(theta, phi, lam):
    return np.array(
        [
            [math.cos(theta / 2), -np.exp(1j * lam) * math.sin(theta / 2)],
            [np.exp(1j * phi) * math.sin(theta / 2), np.exp(1j * (phi + lam)) * math.cos(theta / 2)],
        ]
    )


def rx(t):
    return math.cos(t / 2) * I2 - 1j * math.sin(t / 2) * X


def ry(t):
    return math.cos(t / 2) * I2 - 1j * math.sin(t / 2) * Y


def rz(t):
    return np.diag([np.exp(-0.5j * t), np.exp(0.5j * t)])


def phase(t):
    return np.diag([1, np.exp(1j * t)])


def ctrl(u, k=1):
    d = u.shape[0]
    out = np.eye(2**k * d, dtype=complex)
    out[-d:, -d:] = u
    return out


SWAP = np.eye(4)[[0, 2, 1, 3]].astype(complex)
ISWAP = np.array([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]])


def pauli_rot(p, t):
    return math.cos(t / 2) * np.eye(len(p)) - 1j * math.sin(t / 2) * p


REF = {
    "id": lambda: I2, "x": lambda: X, "y": lambda: Y, "z": lambda: Z, "h": lambda: H,
    "s": lambda: S, "sdg": lambda: S.conj().T, "t": lambda: T, "tdg": lambda: T.conj().T,
    "sx": lambda: SX, "sxdg": lambda: SX.conj().T, "rx": rx, "ry": ry, "rz": rz, "p": phase,
    "u2": lambda a, b: u3(math.pi / 2, a, b), "u3": u3,
    "cx": lambda: ctrl(X), "cy": lambda: ctrl(Y), "cz": lambda: ctrl(Z), "ch": lambda: ctrl(H),
    "swap": lambda: SWAP, "iswap": lambda: ISWAP,
    "crx": lambda t: ctrl(rx(t)), "cry": lambda t: ctrl(ry(t)), "crz": lambda t: ctrl(rz(t)),
    "cp": lambda t: ctrl(phase(t)),
    "rxx": lambda t: pauli_rot(np.kron(X, X), t), "ryy": lambda t: pauli_rot(np.kron(Y, Y), t),
    "rzz": lambda t: pauli_rot(np.kron(Z, Z), t),
    "ccx": lambda: ctrl(X, 2), "cswap": lambda: ctrl(SWAP),
}


def apply(U, m, wires, n):
    """m (on ``wires``) times the 2^n x 2^n matrix U."""
    k = len(wires)
    t = U.reshape((2,) * n + (2**n,))
    t = np.tensordot(m.reshape((2,) * (2 * k)), t, axes=(list(range(k, 2 * k)), list(wires)))
    return np.moveaxis(t, list(range(k)), list(wires)).reshape(2**n, 2**n)


def op_matrix(op):
    if op.kind == "unitary":
        return np.asarray(op.params[0], dtype=complex)
    assert op.kind == "gate", op
    return REF[op.name](*[float(p) for p in op.params])


def unitary(circuit):
    n = circuit.num_wires
    U = np.eye(2**n, dtype=complex)
    for op in circuit.ops:
        U = apply(U, op_matrix(op), op.wires, n)
    return U


def from_list(n, gates):
    """Reference unitary of [(matrix, wires), ...] applied in order."""
    U = np.eye(2**n, dtype=complex)
    for m, w in gates:
        U = apply(U, np.asarray(m, dtype=complex), w, n)
    return U


def assert_same_up_to_phase(A, B, atol=1e-10):
    i = np.unravel_index(np.argmax(np.abs(A)), A.shape)
    assert abs(B[i]) > 1e-6, "matrices differ in support"
    ph = B[i] / A[i]
    assert abs(abs(ph) - 1) < atol
    np.testing.assert_allclose(A * ph, B, atol=atol, rtol=0)


# --- the Nam benchmark files --------------------------------------------------------------------

_LINE = re.compile(r"^(\w+)(?:\((.*)\))?\s+(.*);$")


def nam_reference(text):
    """Parse the simple Nam format independently (one gate per line) into (n, unitary-or-None, ops)."""
    n, ops = None, []
    for line in text.splitlines():
        line = line.split("//")[0].strip()
        if not line or line.startswith(("OPENQASM", "include")):
            continue
        if line.startswith("qreg"):
            n = int(re.search(r"\[(\d+)\]", line).group(1))
            continue
        name, params, args = _LINE.match(line).groups()
        wires = [int(w) for w in re.findall(r"q\[(\d+)\]", args)]
        vals = [eval(p, {"pi": math.pi}) for p in params.split(",")] if params else []
        ops.append((name, vals, wires))
    return n, ops


@pytest.mark.parametrize("name", ["tof_3", "barenco_tof_3", "mod5_4"])
def test_nam_copies_match_an_independent_reading(name):
    path = DATA / f"{name}.qasm"
    c = load_qasm(path)
    n, ops = nam_reference(path.read_text())
    assert c.num_wires == n
    assert [(op.wires) for op in c.ops] == [tuple(w) for _, _, w in ops]
    expect = from_list(n, [(REF[g](*v), w) for g, v, w in ops])
    assert_same_up_to_phase(expect, unitary(c))
    assert_same_up_to_phase(expect, unitary(loads_qasm(dumps_qasm(c))))


@pytest.mark.skipif(not SHARED_NAM.is_dir(), reason="../shared/benchmarks/nam not present")
def test_every_shared_nam_file_parses():
    files = sorted(SHARED_NAM.glob("*.qasm"))
    assert len(files) >= 30
    for f in files:
        c = load_qasm(f)
        n, ops = nam_reference(f.read_text())
        assert c.num_wires == n, f
        assert len(c.ops) == len(ops), f
        assert {op.name for op in c.ops} <= {"h", "x", "rz", "cx"}, f
        for op, (_, vals, wires) in zip(c.ops, ops, strict=True):
            assert op.wires == tuple(wires)
            assert [float(p) for p in op.params] == pytest.approx(vals, abs=1e-15)


# --- every qelib1 gate ----------------------------------------------------------------------------

A, B, C, D = 0.37, -1.21, 2.05, 0.66


def _body(n, gates):
    return lambda: from_list(n, gates)


# rccx and rc3x are relative-phase gates defined only by their qelib1 bodies; transcribe those.
def _rccx():
    u1 = lambda t: phase(t)  # noqa: E731
    g = [(u3(math.pi / 2, 0, math.pi), [2]), (u1(math.pi / 4), [2]), (ctrl(X), [1, 2]),
         (u1(-math.pi / 4), [2]), (ctrl(X), [0, 2]), (u1(math.pi / 4), [2]), (ctrl(X), [1, 2]),
         (u1(-math.pi / 4), [2]), (u3(math.pi / 2, 0, math.pi), [2])]
    return from_list(3, g)


def _rc3x():
    h, cx, u1 = u3(math.pi / 2, 0, math.pi), ctrl(X), phase
    q = math.pi / 4
    g = [(h, [3]), (u1(q), [3]), (cx, [2, 3]), (u1(-q), [3]), (h, [3]), (cx, [0, 3]), (u1(q), [3]),
         (cx, [1, 3]), (u1(-q), [3]), (cx, [0, 3]), (u1(q), [3]), (cx, [1, 3]), (u1(-q), [3]),
         (h, [3]), (u1(q), [3]), (cx, [2, 3]), (u1(-q), [3]), (h, [3])]
    return from_list(4, g)


QELIB1_CASES = {
    "U(A,B,C)": (1, lambda: u3(A, B, C)), "CX": (2, lambda: ctrl(X)),
    "u3(A,B,C)": (1, lambda: u3(A, B, C)), "u2(A,B)": (1, lambda: u3(math.pi / 2, A, B)),
    "u1(A)": (1, lambda: phase(A)), "cx": (2, lambda: ctrl(X)), "id": (1, lambda: I2),
    "u0(A)": (1, lambda: I2), "u(A,B,C)": (1, lambda: u3(A, B, C)), "p(A)": (1, lambda: phase(A)),
    "x": (1, lambda: X), "y": (1, lambda: Y), "z": (1, lambda: Z), "h": (1, lambda: H),
    "s": (1, lambda: S), "sdg": (1, lambda: S.conj().T), "t": (1, lambda: T),
    "tdg": (1, lambda: T.conj().T), "rx(A)": (1, lambda: rx(A)), "ry(A)": (1, lambda: ry(A)),
    "rz(A)": (1, lambda: rz(A)), "sx": (1, lambda: SX), "sxdg": (1, lambda: SX.conj().T),
    "cz": (2, lambda: ctrl(Z)), "cy": (2, lambda: ctrl(Y)), "swap": (2, lambda: SWAP),
    "ch": (2, lambda: ctrl(H)), "ccx": (3, lambda: ctrl(X, 2)), "cswap": (3, lambda: ctrl(SWAP)),
    "crx(A)": (2, lambda: ctrl(rx(A))), "cry(A)": (2, lambda: ctrl(ry(A))),
    "crz(A)": (2, lambda: ctrl(rz(A))), "cu1(A)": (2, lambda: ctrl(phase(A))),
    "cp(A)": (2, lambda: ctrl(phase(A))), "cu3(A,B,C)": (2, lambda: ctrl(u3(A, B, C))),
    "csx": (2, lambda: ctrl(SX)), "cu(A,B,C,D)": (2, lambda: ctrl(np.exp(1j * D) * u3(A, B, C))),
    "rxx(A)": (2, lambda: pauli_rot(np.kron(X, X), A)), "rzz(A)": (2, lambda: pauli_rot(np.kron(Z, Z), A)),
    "rccx": (3, _rccx), "rc3x": (4, _rc3x), "c3x": (4, lambda: ctrl(X, 3)),
    "c3sqrtx": (4, lambda: ctrl(SX, 3)), "c4x": (5, lambda: ctrl(X, 4)),
}


def _qelib1_program(call, k, n, order):
    values = {"A": repr(A), "B": repr(B), "C": repr(C), "D": repr(D)}
    fill = lambda m: "(" + re.sub("[ABCD]", lambda v: values[v.group()], m[1]) + ")"  # noqa: E731
    text = re.sub(r"\((.*)\)", fill, call)
    return HEAD + f"qreg q[{n}];\n{text} {', '.join(f'q[{w}]' for w in order)};\n"


@pytest.mark.parametrize("call", list(QELIB1_CASES))
def test_every_qelib1_gate_matches_its_matrix(call):
    k, ref = QELIB1_CASES[call]
    # Put the gate's qubits on scrambled wires of a larger register to exercise wire order too.
    n = k + 1
    order = list(range(n))[::-1][:k] if k > 1 else [1]
    c = loads_qasm(_qelib1_program(call, k, n, order))
    assert_same_up_to_phase(from_list(n, [(ref(), order)]), unitary(c))


def test_qelib1_mappings_use_lretjax_gates():
    names = lambda src: [op.name for op in loads_qasm(HEAD + "qreg q[2];\n" + src).ops]  # noqa: E731
    assert names("u1(0.1) q[0]; rz(0.1) q[0]; cu1(0.2) q[0],q[1]; u(1,2,3) q[0]; U(1,2,3) q[1];") == [
        "p", "rz", "cp", "u3", "u3"]
    assert names("u0(5) q[0]; id q[1]; CX q[0],q[1];") == ["id", "id", "cx"]


def test_builtins_need_no_include():
    c = loads_qasm("OPENQASM 2.0; qreg q[2]; U(0.1, 0.2, 0.3) q[0]; CX q[0], q[1];")
    assert_same_up_to_phase(from_list(2, [(u3(0.1, 0.2, 0.3), [0]), (ctrl(X), [0, 1])]), unitary(c))
    with pytest.raises(QasmError, match=r"unknown gate 'h'.*include"):
        loads_qasm("OPENQASM 2.0; qreg q[1]; h q[0];")


# --- registers, broadcasting, definitions, expressions -----------------------------------------------


def test_registers_flatten_in_declaration_order():
    c = loads_qasm(HEAD + "qreg a[2];\ncreg m[3];\nqreg b[3];\nx b[1];\nh a[1];\ncx b[2], a[0];\n")
    assert c.num_wires == 5
    assert [(op.name, op.wires) for op in c.ops] == [("x", (3,)), ("h", (1,)), ("cx", (4, 0))]


def test_broadcasting():
    src = "qreg a[3];\nqreg b[3];\nqreg r[1];\nh a;\ncx a, b;\ncx r[0], b;\nrzz(0.5) b, r[0];\n"
    c = loads_qasm(HEAD + src)
    got = [(op.name, op.wires) for op in c.ops]
    assert got == (
        [("h", (0,)), ("h", (1,)), ("h", (2,))]
        + [("cx", (0, 3)), ("cx", (1, 4)), ("cx", (2, 5))]
        + [("cx", (6, 3)), ("cx", (6, 4)), ("cx", (6, 5))]
        + [("rzz", (3, 6)), ("rzz", (4, 6)), ("rzz", (5, 6))]
    )
    # A user gate broadcasts the same way, and barriers are dropped.
    c = loads_qasm(HEAD + "qreg a[2];\nqreg b[2];\ngate g x, y { cz x, y; }\ng a, b;\nbarrier a, b[0];\n")
    assert [(op.name, op.wires) for op in c.ops] == [("cz", (0, 2)), ("cz", (1, 3))]


def test_custom_gates_with_expressions_and_nesting():
    a, b = 0.3, -1.7
    src = HEAD + f"""qreg q[2];
gate inner(t) x {{ rz(t/2) x; ry(-t) x; }}
gate outer(a, b) x, y {{
  inner(a*b) x;          // nested definition
  cx x, y;
  inner(sin(a)^2 + ln(exp(b)) - cos(b)*tan(a)) y;
  u3(sqrt(4)*pi/3, -a, 1.5e-1) y;
  barrier x, y;
}}
outer({a}, {b}) q[1], q[0];
"""
    c = loads_qasm(src)
    t1 = a * b
    t2 = math.sin(a) ** 2 + b - math.cos(b) * math.tan(a)
    expect = from_list(2, [
        (rz(t1 / 2), [1]), (ry(-t1), [1]), (ctrl(X), [1, 0]),
        (rz(t2 / 2), [0]), (ry(-t2), [0]), (u3(2 * math.pi / 3, -a, 0.15), [0]),
    ])
    assert_same_up_to_phase(expect, unitary(c))


@pytest.mark.parametrize(
    "expr, value",
    [
        ("1+2*3", 7.0), ("(1+2)*3", 9.0), ("6/2/3", 1.0), ("2-3-4", -5.0), ("-2^2", -4.0),
        ("2^3^2", 512.0), ("-(-pi)", math.pi), ("1.5e2", 150.0), (".5E-1", 0.05), ("3.", 3.0),
        ("2*-pi/4", -math.pi / 2), ("sqrt(2)*cos(pi/4)", 1.0), ("exp(ln(3))", 3.0), ("+1", 1.0),
        ("pi*-0.250000", -math.pi / 4), ("1e3", 1000.0), ("tan(pi/4)", 1.0), ("sin(pi/6)", 0.5),
    ],
)
def test_expression_values(expr, value):
    c = loads_qasm(HEAD + f"qreg q[1];\nrz({expr}) q[0];\n")
    assert float(c.ops[0].params[0]) == pytest.approx(value, rel=1e-14, abs=1e-14)


def test_measurements_at_the_end_are_recorded():
    prog = qasm2.parse(HEAD + "qreg q[3];\ncreg c[3];\nh q[0];\nmeasure q[0] -> c[2];\nx q[1];\n"
                       "barrier q;\nmeasure q -> c;\n")
    assert [(op.name, op.wires) for op in prog.circuit.ops] == [("h", (0,)), ("x", (1,))]
    assert prog.measurements == ((0, 2), (0, 0), (1, 1), (2, 2))
    assert prog.qregs == {"q": (0, 3)} and prog.cregs == {"c": (0, 3)}


def test_opaque_declaration_is_fine_until_used():
    c = loads_qasm(HEAD + "qreg q[1];\nopaque magic(a) x;\nh q[0];\n")
    assert len(c.ops) == 1
    with pytest.raises(QasmError, match="opaque") as e:
        loads_qasm(HEAD + "qreg q[1];\nopaque magic(a) x;\nmagic(1) q[0];\n")
    assert (e.value.line, e.value.column) == (5, 1)


# --- errors carry line and column -------------------------------------------------------------------

BAD = [
    # (program, line, column, words in the message)
    ("OPENQASM 2.0;\nqreg q[1];\nfoo q[0];\n", 3, 1, "unknown gate 'foo'"),
    (HEAD + "qreg q[2];\nrx(0.1, 0.2) q[0];\n", 4, 1, "takes 1 parameter"),
    (HEAD + "qreg q[2];\ncx q[0];\n", 4, 1, "acts on 2 qubit"),
    (HEAD + "qreg q[2];\nh r[0];\n", 4, 3, "undeclared register 'r'"),
    (HEAD + "qreg q[2];\nh q[2];\n", 4, 5, "out of range"),
    (HEAD + "qreg q[2];\ncx q[1], q[1];\n", 4, 1, "used twice"),
    (HEAD + "qreg q[2];\nh q[0]\nx q[1];\n", 4, 7, "missing ';'"),
    (HEAD + "qreg q[2];\nrz(1 + * 2) q[0];\n", 4, 8, "expected an expression"),
    ("OPENQASM 3.0;\nqreg q[1];\n", 1, 10, "version 3.0"),
    ("qreg q[1];\n", 1, 1, "must start with 'OPENQASM 2.0;'"),
    (HEAD + "qreg q[1];\nrz(1/0) q[0];\n", 4, 5, "division by zero"),
    (HEAD + "qreg q[1];\nrz(theta) q[0];\n", 4, 4, "unknown parameter 'theta'"),
    (HEAD + "qreg q[1];\nrz(ln(-1)) q[0];\n", 4, 4, "ln(-1.0)"),
    # dynamic circuits (issue 24) read measure/reset/if; what stays unsupported names its line
    (HEAD + "qreg q[1];\ncreg c[2];\nif (c[0]==1) x q[0];\n", 5, 6, "compares a whole register"),
    (HEAD + "qreg q[1];\ncreg c[1];\nif (c==1) measure q[0] -> c[0];\n", 5, 11, "'measure' inside if"),
    (HEAD + "qreg q[1];\ncreg c[1];\nif (c==2) x q[0];\n", 5, 8, "does not fit"),
    (HEAD + "qreg q[2];\nqreg q[3];\n", 4, 6, "already declared"),
    (HEAD + "qreg a[2];\nqreg b[3];\ncx a, b;\n", 5, 1, "different sizes"),
    (HEAD + "gate g(t) a { rx(s) a; }\n", 3, 18, "unknown parameter 's'"),
    (HEAD + "gate g a { h b; }\n", 3, 14, "unknown qubit argument 'b'"),
    (HEAD + "gate h a { x a; }\n", 3, 6, "already defined in qelib1.inc"),
    (HEAD + "qreg q[1];\nh q[0]; $\n", 4, 9, "unexpected character '$'"),
    ('OPENQASM 2.0;\ninclude "other.inc";\n', 2, 9, "only \"qelib1.inc\""),
    (HEAD + "qreg q[2];\ngate g(t) a { rx(1/t) a; }\ng(0) q[0];\n", 5, 1, "division by zero"),
    (HEAD + "qreg q[1];\ncreg c[1];\nh c[0];\n", 5, 3, "classical register"),
    (HEAD + "qreg q[1];\nrz(1e999) q[0];\n", 4, 4, "too large"),
    (HEAD + "qreg q[1];\nrz(1e) q[0];\n", 4, 4, "malformed number"),
    (HEAD + "gate g a {\n  h a;\n", 5, 1, "missing '}'"),
    ("OPENQASM 2.0;\n", 2, 1, "declares no qubits"),
    (HEAD + "qreg q[1];\nrz(" + "(" * 300 + "1" + ")" * 300 + ") q[0];\n", 4, None, "nested too deeply"),
]


@pytest.mark.parametrize("text, line, col, words", BAD)
def test_errors_point_at_the_problem(text, line, col, words):
    with pytest.raises(QasmError) as e:
        loads_qasm(text)
    assert words in str(e.value)
    assert e.value.line == line
    if col is not None:
        assert e.value.column == col
        assert str(e.value).startswith(f"<qasm>:{line}:{col}: ")


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.qasm"
    path.write_text(HEAD + "qreg q[1];\nh q[3];\n")
    with pytest.raises(QasmError) as e:
        load_qasm(path)
    assert e.value.source == str(path)
    assert str(e.value).startswith(f"{path}:4:5: ")
    with pytest.raises(QasmError, match="cannot read"):
        load_qasm(tmp_path / "missing.qasm")


# --- writer -----------------------------------------------------------------------------------------


NUM_WIRES = {g: 2 for g in ("cx", "cy", "cz", "ch", "swap", "iswap", "crx", "cry", "crz", "cp", "rxx",
                             "ryy", "rzz")} | {"ccx": 3, "cswap": 3}
NUM_PARAMS = {"rx": 1, "ry": 1, "rz": 1, "p": 1, "u2": 2, "u3": 3, "crx": 1, "cry": 1, "crz": 1, "cp": 1,
              "rxx": 1, "ryy": 1, "rzz": 1}


def _random_circuit(rng, n, depth):
    """Random circuit over every gate of the reference table, with random user unitaries."""
    names = sorted(REF)
    c = Circuit(n)
    for _ in range(depth):
        if rng.random() < 0.15:
            k = int(rng.integers(1, min(n, 3) + 1))
            z = rng.normal(size=(2**k, 2**k)) + 1j * rng.normal(size=(2**k, 2**k))
            q, r = np.linalg.qr(z)
            u = q * (np.diag(r) / np.abs(np.diag(r)))
            c = c.unitary(u, [int(w) for w in rng.permutation(n)[:k]])
            continue
        name = names[int(rng.integers(len(names)))]
        spec = NUM_WIRES.get(name, 1)
        nparams = NUM_PARAMS.get(name, 0)
        wires = [int(w) for w in rng.permutation(n)[:spec]]
        params = [float(x) for x in rng.uniform(-4, 4, size=nparams)]
        c = c.add(name, wires, *params)
    return c


@pytest.mark.parametrize("seed", range(6))
def test_round_trip_keeps_the_unitary(seed):
    rng = np.random.default_rng(seed)
    c = _random_circuit(rng, 4, 30)
    text = dumps_qasm(c)
    back = loads_qasm(text)
    assert back.num_wires == 4
    assert_same_up_to_phase(unitary(c), unitary(back), atol=1e-10)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_unitary_ops_are_decomposed_exactly(k):
    rng = np.random.default_rng(10 + k)
    z = rng.normal(size=(2**k, 2**k)) + 1j * rng.normal(size=(2**k, 2**k))
    u = np.linalg.qr(z)[0]
    wires = [2, 0, 3][:k]
    c = Circuit(4).unitary(u, wires)
    back = loads_qasm(dumps_qasm(c))
    assert all(op.kind == "gate" or op.wires for op in back.ops)
    assert_same_up_to_phase(from_list(4, [(u, wires)]), unitary(back), atol=1e-10)


def test_writer_text_and_full_precision(tmp_path):
    theta = 0.1 + 1e-17 * 3 + 2 ** -40
    c = Circuit(3).h(0).cx(0, 2).rz(theta, 1).p(-1e-7, 2).iswap(1, 2).ryy(2.5, 0, 1).cp(1e22, 0, 1)
    text = dumps_qasm(c)
    lines = text.splitlines()
    assert lines[:2] == ["OPENQASM 2.0;", 'include "qelib1.inc";']
    assert "qreg q[3];" in lines
    assert f"rz({theta!r}) q[1];" in lines
    assert "u1(-1.0e-07) q[2];" in lines
    assert "cu1(1.0e+22) q[0], q[1];" in lines
    assert sum(line.startswith("gate iswap") for line in lines) == 1
    back = loads_qasm(text)
    assert float(back.ops[2].params[0]) == theta
    assert float(back.ops[3].params[0]) == -1e-7
    path = tmp_path / "c.qasm"
    dump_qasm(c, path)
    assert path.read_text() == text


def test_writer_refuses_channels_and_unbound_symbols():
    c = Circuit(2).h(0).depolarizing(0.1, 1).cx(0, 1)
    with pytest.raises(CircuitError, match=r"op 1 \(depolarizing on wires \[1\]\).*skip_channels"):
        dumps_qasm(c)
    assert [op.name for op in loads_qasm(dumps_qasm(c, skip_channels=True)).ops] == ["h", "cx"]
    k = Circuit(1).kraus([np.sqrt(0.5) * np.eye(2), np.sqrt(0.5) * X], 0)
    with pytest.raises(CircuitError, match="kraus"):
        dumps_qasm(k)
    p = Circuit(1).rx(2 * Param("theta"), 0)
    with pytest.raises(ParameterError, match="theta"):
        dumps_qasm(p)
    assert "rx(0.6) q[0];" in dumps_qasm(p.bind([0.3]))


def test_qiskit_reads_what_we_write_and_agrees_with_our_reader():
    qiskit = pytest.importorskip("qiskit")
    from qiskit.quantum_info import Operator

    rng = np.random.default_rng(99)
    c = _random_circuit(rng, 3, 25)
    qc = qiskit.qasm2.loads(dumps_qasm(c), custom_instructions=qiskit.qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    # Qiskit is little-endian: its qubit 0 is our least significant wire, so reverse.
    theirs = Operator(qc.reverse_bits()).data
    assert_same_up_to_phase(unitary(c), theirs, atol=1e-10)
    # Qiskit reads u0(gamma) as a delay of gamma pulses and wants an integer; leave it out.
    src = HEAD + "qreg q[5];\n" + "\n".join(
        _qelib1_program(call, k, 5, list(range(k)))[len(HEAD):].splitlines()[-1]
        for call, (k, _) in QELIB1_CASES.items()
        if not call.startswith("u0")
    )
    qc = qiskit.qasm2.loads(src, custom_instructions=qiskit.qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
    assert_same_up_to_phase(Operator(qc.reverse_bits()).data, unitary(loads_qasm(src)), atol=1e-10)


# --- nothing but QasmError, whatever the input ---------------------------------------------------

VALID = HEAD + """qreg q[3];
creg c[3];
gate g(a, b) x, y { rx(a*2 - b) x; cu1(-pi/4) x, y; }
h q[0];
g(0.5, sin(pi/3)^2) q[1], q[2];
cx q[0], q[2];
u3(1e-3, .2, -3.) q;
measure q -> c;
"""

_ALPHABET = st.sampled_from(list("qcregatx0123456789[](){};,.+-*/^\"-> \n\t_eEpiOPENQASM") + [
    "qreg", "creg", "gate", "measure", "->", "OPENQASM 2.0;", "include", '"qelib1.inc"', "pi", "barrier",
    "opaque", "if", "reset", "U", "CX", "sin(", "//", "\u00e9", "\x00", "1e999", "q[0]", "q[99]",
])


def _only_qasm_errors(text):
    try:
        loads_qasm(text)
    except QasmError as e:
        assert e.line is None or e.line >= 1
        assert e.column is None or e.column >= 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ALPHABET, max_size=60).map("".join) | st.text(max_size=80))
def test_random_text_raises_only_qasm_errors(text):
    _only_qasm_errors(text)
    _only_qasm_errors(HEAD + text)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_programs_raise_only_qasm_errors(data):
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text)))
        j = data.draw(st.integers(i, min(len(text), i + 8)))
        piece = data.draw(_ALPHABET | st.just(""))
        text = text[:i] + piece + text[j:]
    _only_qasm_errors(text)


def test_the_valid_fuzz_seed_parses():
    c = loads_qasm(VALID)
    assert c.num_wires == 3 and len(c.ops) == 1 + 2 + 1 + 3


def test_every_gate_is_written_and_read_back():
    rng = np.random.default_rng(7)
    c = Circuit(3)
    for name in sorted(REF):
        params = [float(x) for x in rng.uniform(-3, 3, size=NUM_PARAMS.get(name, 0))]
        c = c.add(name, [2, 0, 1][: NUM_WIRES.get(name, 1)], *params)
    back = loads_qasm(dumps_qasm(c))
    assert_same_up_to_phase(unitary(c), unitary(back), atol=1e-10)


def test_gates_without_a_qelib1_name_are_written_by_matrix(monkeypatch):
    # A gate added to lretjax later has no entry in the writer's table: it is decomposed.
    monkeypatch.delitem(qasm2._WRITE_NAMES, "ch")
    monkeypatch.delitem(qasm2._WRITE_NAMES, "crx")
    c = Circuit(3).ch(2, 0).crx(0.7, 0, 1)
    text = dumps_qasm(c)
    assert "ch " not in text and "crx" not in text
    assert_same_up_to_phase(unitary(c), unitary(loads_qasm(text)), atol=1e-10)
