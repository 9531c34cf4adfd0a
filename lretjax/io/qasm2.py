"""OpenQASM 2.0 reader and writer.

The reader is a hand-written tokenizer and recursive-descent parser for the language of
Cross et al., "Open Quantum Assembly Language" (2017), with ``qelib1.inc`` built in. Registers
are flattened in declaration order (``qreg a[2]; qreg b[3];`` gives ``b[0]`` wire 2), so
``q[i]`` is wire ``i`` and wire 0 is the most significant bit, as everywhere in lretjax.
qelib1 gates that lretjax knows become those gates (``u1`` -> ``p``, ``rz`` -> ``rz``: they
differ by a global phase, invisible in a density matrix); the rest become exact ``unitary``
ops or are expanded from their qelib1 definitions. User ``gate`` definitions are expanded at
the call site. Every problem in the text raises :class:`~lretjax.errors.QasmError` carrying
the line, column and file.

    >>> from lretjax.io import qasm2
    >>> c = qasm2.loads('OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; h q[0]; cx q[0], q[1];')
    >>> print(qasm2.dumps(c).splitlines()[-1])
    cx q[0], q[1];
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..circuit import CHANNEL, GATE, KRAUS, UNITARY, Circuit, Op, Param
from ..errors import CircuitError, LretError, ParameterError, QasmError

__all__ = ["loads", "load", "dumps", "dump", "parse", "Program"]

# A program can address at most this many qubits or bits; broadcasting over a register
# creates one op per qubit, so this also bounds the work a short text can ask for.
MAX_BITS = 1 << 16
# Nested gate definitions can multiply a short text into very many ops; stop well before memory does.
MAX_OPS = 10_000_000
# Deepest nesting of parentheses / unary signs in an expression (recursion guard).
_MAX_DEPTH = 64
_RESERVED = frozenset({"OPENQASM", "include", "qreg", "creg", "gate", "opaque", "barrier", "measure",
                       "reset", "if", "pi", "U", "CX", "sin", "cos", "tan", "exp", "ln", "sqrt"})

# --------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------

ID, REAL, INT, STRING, SYM, EOF = "identifier", "real", "integer", "string", "symbol", "end of input"


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int
    col: int

    def describe(self) -> str:
        return "end of input" if self.kind == EOF else repr(self.text)


_LEXEME = re.compile(
    r"(?P<space>[ \t\r\f\v]+)|(?P<newline>\n)|(?P<comment>//[^\n]*)"
    r"|(?P<id>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<num>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r'|(?P<string>"[^"\n]*")'
    r"|(?P<sym>->|==|[;,()\[\]{}+\-*/^])",
    re.ASCII,
)


def tokenize(text: str, source: str | None = None) -> list[Token]:
    """Split QASM text into tokens; comments (``//`` to end of line) and whitespace are dropped."""
    out: list[Token] = []
    pos, line, line_start, n = 0, 1, 0, len(text)
    match = _LEXEME.match
    while pos < n:
        m = match(text, pos)
        col = pos - line_start + 1
        if m is None:
            ch = text[pos]
            msg = "unterminated string" if ch == '"' else f"unexpected character {ch!r}"
            raise QasmError(msg, line=line, column=col, source=source)
        kind, lexeme, end = m.lastgroup, m.group(), m.end()
        if kind == "newline":
            line, line_start = line + 1, end
        elif kind == "id":
            out.append(Token(ID, lexeme, line, col))
        elif kind == "num":
            if end < n and (text[end].isalnum() or text[end] in "_."):
                raise QasmError(f"malformed number {text[pos:end + 1]!r}", line=line, column=col,
                                source=source)
            is_int = lexeme.isdigit()
            out.append(Token(INT if is_int else REAL, lexeme, line, col))
        elif kind == "string":
            out.append(Token(STRING, lexeme[1:-1], line, col))
        elif kind == "sym":
            out.append(Token(SYM, lexeme, line, col))
        pos = end
    out.append(Token(EOF, "", line, pos - line_start + 1))
    return out


# --------------------------------------------------------------------------------------------
# Parameter expressions: a tiny AST evaluated in an environment of gate parameters
# --------------------------------------------------------------------------------------------

_FUNCS: dict[str, Callable[[float], float]] = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "exp": math.exp, "ln": math.log, "sqrt": math.sqrt,
}


@dataclass(frozen=True)
class Num:
    value: float
    tok: Token


@dataclass(frozen=True)
class Name:
    name: str
    tok: Token


@dataclass(frozen=True)
class Unary:
    op: str
    arg: object
    tok: Token


@dataclass(frozen=True)
class Binary:
    op: str
    left: object
    right: object
    tok: Token


@dataclass(frozen=True)
class Call:
    func: str
    arg: object
    tok: Token


def _names(expr) -> list[Name]:
    if isinstance(expr, Name):
        return [expr]
    if isinstance(expr, Unary | Call):
        return _names(expr.arg)
    if isinstance(expr, Binary):
        return _names(expr.left) + _names(expr.right)
    return []


# --------------------------------------------------------------------------------------------
# Gate definitions
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BodyOp:
    """One statement inside a gate body: a call on the definition's qubit arguments."""

    name: str
    tok: Token
    params: tuple
    qubits: tuple[str, ...]


@dataclass
class GateDef:
    name: str
    params: tuple[str, ...]
    qubits: tuple[str, ...]
    body: tuple[BodyOp, ...] | None  # None for opaque gates
    tok: Token | None = None  # None for the built-ins U and CX
    library: bool = False  # defined by qelib1.inc
    native: Callable[[tuple[float, ...], tuple[int, ...]], list] | None = field(default=None, repr=False)


def _np_u3(theta: float, phi: float, lam: float) -> np.ndarray:
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return np.array(
        [[c, -np.exp(1j * lam) * s], [np.exp(1j * phi) * s, np.exp(1j * (phi + lam)) * c]], dtype=complex
    )


def _np_controlled(u: np.ndarray, num_controls: int) -> np.ndarray:
    d = u.shape[0]
    out = np.eye(2**num_controls * d, dtype=complex)
    out[-d:, -d:] = u
    return out


_X = np.array([[0, 1], [1, 0]], dtype=complex)
_SX = 0.5 * np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]])


def _gate(name: str, keep: int | None = None):
    """Emit lretjax gate ``name`` with the first ``keep`` parameters (all when None)."""

    def emit(params, wires):
        return [(name, list(wires), list(params if keep is None else params[:keep]))]

    return emit


def _matrix(fn: Callable[..., np.ndarray]):
    """Emit an exact ``unitary`` op (for qelib1 gates lretjax has no name for)."""

    def emit(params, wires):
        return [Op("unitary", tuple(wires), (fn(*params),), UNITARY)]

    return emit


# qelib1 gates that become one lretjax op. Gates absent here (rccx, rc3x) are expanded from
# their qelib1 bodies, which define them (relative phases included).
_NATIVE = {
    "U": _gate("u3"), "CX": _gate("cx"),
    "u3": _gate("u3"), "u2": _gate("u2"), "u1": _gate("p"), "u": _gate("u3"), "p": _gate("p"),
    "cx": _gate("cx"), "id": _gate("id"), "u0": _gate("id", keep=0),
    **{g: _gate(g) for g in ("x", "y", "z", "h", "s", "sdg", "t", "tdg", "rx", "ry", "rz", "sx", "sxdg",
                             "cz", "cy", "swap", "ch", "ccx", "cswap", "crx", "cry", "crz", "cp",
                             "rxx", "rzz")},
    "cu1": _gate("cp"),
    "cu3": _matrix(lambda t, p, lam: _np_controlled(_np_u3(t, p, lam), 1)),
    "cu": _matrix(lambda t, p, lam, g: _np_controlled(np.exp(1j * g) * _np_u3(t, p, lam), 1)),
    "csx": _matrix(lambda: _np_controlled(_SX, 1)),
    "c3x": _matrix(lambda: _np_controlled(_X, 3)),
    "c3sqrtx": _matrix(lambda: _np_controlled(_SX, 3)),
    "c4x": _matrix(lambda: _np_controlled(_X, 4)),
}

# Qiskit's qelib1.inc (gate signatures and the bodies of gates not mapped natively). Bodies of
# natively mapped gates are kept short: they are never expanded.
QELIB1 = """
gate u3(theta,phi,lambda) q { U(theta,phi,lambda) q; }
gate u2(phi,lambda) q { U(pi/2,phi,lambda) q; }
gate u1(lambda) q { U(0,0,lambda) q; }
gate cx c,t { CX c,t; }
gate id a { U(0,0,0) a; }
gate u0(gamma) q { U(0,0,0) q; }
gate u(theta,phi,lambda) q { U(theta,phi,lambda) q; }
gate p(lambda) q { U(0,0,lambda) q; }
gate x a { u3(pi,0,pi) a; }
gate y a { u3(pi,pi/2,pi/2) a; }
gate z a { u1(pi) a; }
gate h a { u2(0,pi) a; }
gate s a { u1(pi/2) a; }
gate sdg a { u1(-pi/2) a; }
gate t a { u1(pi/4) a; }
gate tdg a { u1(-pi/4) a; }
gate rx(theta) a { u3(theta,-pi/2,pi/2) a; }
gate ry(theta) a { u3(theta,0,0) a; }
gate rz(phi) a { u1(phi) a; }
gate sx a { sdg a; h a; sdg a; }
gate sxdg a { s a; h a; s a; }
gate cz a,b { h b; cx a,b; h b; }
gate cy a,b { sdg b; cx a,b; s b; }
gate swap a,b { cx a,b; cx b,a; cx a,b; }
gate ch a,b { h b; sdg b; cx a,b; h b; t b; cx a,b; t b; h b; s b; x b; s a; }
gate ccx a,b,c { h c; cx b,c; tdg c; cx a,c; t c; cx b,c; tdg c; cx a,c; t b; t c; h c;
                 cx a,b; t a; tdg b; cx a,b; }
gate cswap a,b,c { cx c,b; ccx a,b,c; cx c,b; }
gate crx(lambda) a,b { u1(pi/2) b; cx a,b; u3(-lambda/2,0,0) b; cx a,b; u3(lambda/2,-pi/2,0) b; }
gate cry(lambda) a,b { ry(lambda/2) b; cx a,b; ry(-lambda/2) b; cx a,b; }
gate crz(lambda) a,b { rz(lambda/2) b; cx a,b; rz(-lambda/2) b; cx a,b; }
gate cu1(lambda) a,b { u1(lambda/2) a; cx a,b; u1(-lambda/2) b; cx a,b; u1(lambda/2) b; }
gate cp(lambda) a,b { p(lambda/2) a; cx a,b; p(-lambda/2) b; cx a,b; p(lambda/2) b; }
gate cu3(theta,phi,lambda) c,t { u1((lambda+phi)/2) c; u1((lambda-phi)/2) t; cx c,t;
                                 u3(-theta/2,0,-(phi+lambda)/2) t; cx c,t; u3(theta/2,phi,0) t; }
gate csx a,b { h b; cu1(pi/2) a,b; h b; }
gate cu(theta,phi,lambda,gamma) c,t { p(gamma) c; p((lambda+phi)/2) c; p((lambda-phi)/2) t; cx c,t;
                                      u(-theta/2,0,-(phi+lambda)/2) t; cx c,t; u(theta/2,phi,0) t; }
gate rxx(theta) a,b { u3(pi/2,theta,0) a; h b; cx a,b; u1(-theta) b; cx a,b; h b; u2(-pi,pi-theta) a; }
gate rzz(theta) a,b { cx a,b; u1(theta) b; cx a,b; }
gate rccx a,b,c { u2(0,pi) c; u1(pi/4) c; cx b,c; u1(-pi/4) c; cx a,c; u1(pi/4) c; cx b,c;
                  u1(-pi/4) c; u2(0,pi) c; }
gate rc3x a,b,c,d { u2(0,pi) d; u1(pi/4) d; cx c,d; u1(-pi/4) d; u2(0,pi) d; cx a,d; u1(pi/4) d;
                    cx b,d; u1(-pi/4) d; cx a,d; u1(pi/4) d; cx b,d; u1(-pi/4) d; u2(0,pi) d;
                    u1(pi/4) d; cx c,d; u1(-pi/4) d; u2(0,pi) d; }
gate c3x a,b,c,d { h d; cu1(pi/8) a,d; h d; }
gate c3sqrtx a,b,c,d { h d; cu1(pi/8) a,d; h d; }
gate c4x a,b,c,d,e { h e; cu1(pi/2) d,e; h e; }
"""


# --------------------------------------------------------------------------------------------
# The parser
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Program:
    """A parsed program: the circuit, its registers and the measurements it asked for.

    Attributes:
      circuit: the unitary part, as a lretjax Circuit (wires flattened in declaration order).
      qregs: register name -> (first wire, size).
      cregs: register name -> (first bit, size).
      measurements: (wire, classical bit) pairs in program order; they all come after the
        last gate on their wire (lretjax measures at the end).
    """

    circuit: Circuit
    qregs: dict[str, tuple[int, int]]
    cregs: dict[str, tuple[int, int]]
    measurements: tuple[tuple[int, int], ...]


class _Parser:
    def __init__(self, text: str, source: str | None):
        self.source = source
        self.toks = tokenize(text, source)
        self.pos = 0
        self.gates: dict[str, GateDef] = {
            "U": GateDef("U", ("theta", "phi", "lambda"), ("q",), (), library=True, native=_NATIVE["U"]),
            "CX": GateDef("CX", (), ("c", "t"), (), library=True, native=_NATIVE["CX"]),
        }
        self.qregs: dict[str, tuple[int, int, Token]] = {}
        self.cregs: dict[str, tuple[int, int, Token]] = {}
        self.num_qubits = 0
        self.num_bits = 0
        self.ops: list = []
        self.measured: dict[int, Token] = {}
        self.measurements: list[tuple[int, int]] = []
        self.included = False

    # -- token helpers --------------------------------------------------------------------------

    def err(self, msg: str, tok: Token) -> QasmError:
        return QasmError(msg, line=tok.line, column=tok.col, source=self.source)

    @property
    def tok(self) -> Token:
        return self.toks[self.pos]

    def next(self) -> Token:
        t = self.toks[self.pos]
        if t.kind != EOF:
            self.pos += 1
        return t

    def at(self, text: str) -> bool:
        t = self.tok
        return t.kind in (SYM, ID) and t.text == text

    def expect(self, text: str, what: str | None = None) -> Token:
        t = self.tok
        if t.kind in (SYM, ID) and t.text == text:
            return self.next()
        if text == ";" and self.pos:
            # Point just past the previous token: that is where the ';' belongs.
            prev = self.toks[self.pos - 1]
            width = len(prev.text) + 2 * (prev.kind == STRING)
            end = Token(prev.kind, prev.text, prev.line, prev.col + width)
            raise self.err(f"missing ';' after {prev.describe()} (found {t.describe()})", end)
        raise self.err(f"expected {what or repr(text)}, found {t.describe()}", t)

    def expect_kind(self, kind: str, what: str) -> Token:
        t = self.tok
        if t.kind != kind:
            raise self.err(f"expected {what}, found {t.describe()}", t)
        return self.next()

    def expect_int(self, what: str) -> tuple[int, Token]:
        t = self.expect_kind(INT, what)
        if len(t.text.lstrip("0")) > 9:
            raise self.err(f"{what} {t.text} is too large", t)
        return int(t.text), t

    # -- program ----------------------------------------------------------------------------------

    def parse_program(self) -> Program:
        t = self.tok
        if not (t.kind == ID and t.text == "OPENQASM"):
            raise self.err(f"a program must start with 'OPENQASM 2.0;', found {t.describe()}", t)
        self.next()
        v = self.tok
        if v.kind not in (REAL, INT):
            raise self.err(f"expected a version number after OPENQASM, found {v.describe()}", v)
        self.next()
        if v.text not in ("2.0", "2"):
            raise self.err(f"unsupported OpenQASM version {v.text}: only OpenQASM 2.0 can be read", v)
        self.expect(";")
        while self.tok.kind != EOF:
            self.statement()
        if self.num_qubits == 0:
            raise self.err("the program declares no qubits (add 'qreg q[n];')", self.tok)
        try:
            circuit = Circuit(self.num_qubits, self.ops)
        except LretError as e:  # every op was checked already; this is a safety net
            raise self.err(f"invalid circuit: {e}", self.tok) from None
        return Program(
            circuit,
            {k: (o, s) for k, (o, s, _) in self.qregs.items()},
            {k: (o, s) for k, (o, s, _) in self.cregs.items()},
            tuple(self.measurements),
        )

    def statement(self) -> None:
        t = self.tok
        if t.kind != ID:
            raise self.err(f"expected a statement, found {t.describe()}", t)
        kw = t.text
        if kw == "include":
            self.include()
        elif kw in ("qreg", "creg"):
            self.register(kw)
        elif kw == "gate":
            self.gate_decl()
        elif kw == "opaque":
            self.opaque_decl()
        elif kw == "barrier":
            self.next()
            self.arg_list()  # arguments are checked, then the barrier is dropped
            self.expect(";")
        elif kw == "measure":
            self.measure()
        elif kw == "reset":
            raise self.err("reset is not supported: lretjax evolves one state from |0...0> and "
                           "measures only at the end", t)
        elif kw == "if":
            raise self.err("classically controlled operations ('if') are not supported", t)
        elif kw == "OPENQASM":
            raise self.err("'OPENQASM' may appear only once, at the start", t)
        else:
            self.gate_call()

    def include(self) -> None:
        kw = self.next()
        f = self.expect_kind(STRING, 'a file name in double quotes, e.g. "qelib1.inc"')
        self.expect(";")
        if f.text != "qelib1.inc":
            raise self.err(f"cannot include {f.text!r}: only \"qelib1.inc\" is available (built in)", f)
        if self.included:
            return
        self.included = True
        lib = _Parser(QELIB1, "qelib1.inc")
        while lib.tok.kind != EOF:
            lib.gate_decl()
        for name, g in lib.gates.items():
            if name in ("U", "CX"):
                continue
            if name in self.gates:
                raise self.err(f"qelib1.inc defines gate {name!r}, already defined at line "
                               f"{self.gates[name].tok.line}", kw)
            g.native = _NATIVE.get(name)
            self.gates[name] = g

    def register(self, kw: str) -> None:
        self.next()
        name = self.expect_kind(ID, "a register name")
        self._not_reserved(name, "a register")
        self.expect("[")
        size, st = self.expect_int("a register size")
        self.expect("]")
        self.expect(";")
        if name.text in self.qregs or name.text in self.cregs:
            prev = (self.qregs.get(name.text) or self.cregs[name.text])[2]
            raise self.err(f"register {name.text!r} is already declared at line {prev.line}", name)
        if name.text in self.gates:
            raise self.err(f"{name.text!r} is a gate name and cannot name a register", name)
        if size < 1:
            unit = "qubit" if kw == "qreg" else "bit"
            raise self.err(f"register {name.text!r} must have at least one {unit}", st)
        if kw == "qreg":
            if self.num_qubits + size > MAX_BITS:
                raise self.err(f"too many qubits: more than {MAX_BITS} in all", st)
            self.qregs[name.text] = (self.num_qubits, size, name)
            self.num_qubits += size
        else:
            if self.num_bits + size > MAX_BITS:
                raise self.err(f"too many classical bits: more than {MAX_BITS} in all", st)
            self.cregs[name.text] = (self.num_bits, size, name)
            self.num_bits += size

    # -- gate declarations ------------------------------------------------------------------------

    def _decl_head(self, kw: str) -> tuple[Token, tuple[str, ...], tuple[str, ...]]:
        self.next()
        name = self.expect_kind(ID, f"a gate name after '{kw}'")
        self._not_reserved(name, "a gate")
        if name.text in self.gates:
            prev = self.gates[name.text]
            where = " in qelib1.inc" if prev.library else f" at line {prev.tok.line}"
            raise self.err(f"gate {name.text!r} is already defined{where}", name)
        if name.text in self.qregs or name.text in self.cregs:
            raise self.err(f"{name.text!r} is a register name and cannot name a gate", name)
        params: list[str] = []
        seen: dict[str, Token] = {}
        if self.at("("):
            self.next()
            if not self.at(")"):
                params.append(self._formal(seen, "parameter").text)
                while self.at(","):
                    self.next()
                    params.append(self._formal(seen, "parameter").text)
            self.expect(")", "')' closing the parameter list")
        qubits = [self._formal(seen, "qubit argument").text]
        while self.at(","):
            self.next()
            qubits.append(self._formal(seen, "qubit argument").text)
        return name, tuple(params), tuple(qubits)

    def _formal(self, seen: dict[str, Token], what: str) -> Token:
        t = self.expect_kind(ID, f"a {what} name")
        if t.text in seen:
            raise self.err(f"{what} name {t.text!r} is used twice in this declaration", t)
        self._not_reserved(t, f"a {what}")
        seen[t.text] = t
        return t

    def _not_reserved(self, t: Token, what: str) -> None:
        if t.text in _RESERVED:
            raise self.err(f"{t.text!r} is a reserved word and cannot name {what}", t)

    def gate_decl(self) -> None:
        kw = self.expect("gate")
        self.pos -= 1
        name, params, qubits = self._decl_head(kw.text)
        self.expect("{", "'{' opening the gate body")
        body: list[BodyOp] = []
        while not self.at("}"):
            t = self.tok
            if t.kind == EOF:
                raise self.err(f"missing '}}' closing the body of gate {name.text!r}", t)
            if t.kind != ID:
                raise self.err(f"expected a gate call in the body of {name.text!r}, found {t.describe()}", t)
            if t.text == "barrier":
                self.next()
                self._body_args(qubits)
                self.expect(";")
                continue
            if t.text in ("measure", "reset", "if", "qreg", "creg", "gate", "opaque", "include"):
                raise self.err(f"'{t.text}' is not allowed inside a gate body", t)
            self.next()
            g = self._lookup_gate(t)
            exprs = self._call_params(t, g)
            for e in exprs:
                for nm in _names(e):
                    if nm.name not in params:
                        hint = " (it is a qubit argument)" if nm.name in qubits else ""
                        raise self.err(f"unknown parameter {nm.name!r} in the body of gate "
                                       f"{name.text!r}{hint}", nm.tok)
            args = self._body_args(qubits)
            self._check_arity(t, g, len(args))
            names = [a.text for a in args]
            for i, a in enumerate(args):
                if a.text in names[:i]:
                    raise self.err(f"qubit argument {a.text!r} repeated in a call to {t.text!r}", a)
            self.expect(";")
            body.append(BodyOp(t.text, t, tuple(exprs), tuple(names)))
        self.next()
        self.gates[name.text] = GateDef(name.text, params, qubits, tuple(body), name,
                                        library=self.source == "qelib1.inc")

    def _body_args(self, qubits: tuple[str, ...]) -> list[Token]:
        args = [self.expect_kind(ID, "a qubit argument")]
        while self.at(","):
            self.next()
            args.append(self.expect_kind(ID, "a qubit argument"))
        for a in args:
            if a.text not in qubits:
                raise self.err(f"unknown qubit argument {a.text!r} (this gate's qubits: "
                               f"{', '.join(qubits)})", a)
        if self.at("["):
            raise self.err("qubits inside a gate body cannot be indexed", self.tok)
        return args

    def opaque_decl(self) -> None:
        kw = self.tok
        name, params, qubits = self._decl_head(kw.text)
        self.expect(";")
        self.gates[name.text] = GateDef(name.text, params, qubits, None, name)

    # -- gate calls ---------------------------------------------------------------------------------

    def _lookup_gate(self, t: Token) -> GateDef:
        g = self.gates.get(t.text)
        if g is None:
            hint = ""
            if not self.included and t.text in _NATIVE:
                hint = ' (add include "qelib1.inc";)'
            elif t.text in self.qregs or t.text in self.cregs:
                hint = " (it is a register)"
            raise self.err(f"unknown gate {t.text!r}{hint}", t)
        return g

    def _call_params(self, t: Token, g: GateDef) -> list:
        exprs = []
        if self.at("("):
            self.next()
            if not self.at(")"):
                exprs.append(self.expr())
                while self.at(","):
                    self.next()
                    exprs.append(self.expr())
            self.expect(")", "')' closing the parameter list")
        if len(exprs) != len(g.params):
            raise self.err(f"gate {t.text!r} takes {len(g.params)} parameter(s), got {len(exprs)}", t)
        return exprs

    def _check_arity(self, t: Token, g: GateDef, n: int) -> None:
        if n != len(g.qubits):
            raise self.err(f"gate {t.text!r} acts on {len(g.qubits)} qubit(s), got {n}", t)

    def gate_call(self) -> None:
        t = self.next()
        g = self._lookup_gate(t)
        exprs = self._call_params(t, g)
        args = self.arg_list()
        self.expect(";")
        self._check_arity(t, g, len(args))
        if g.body is None:
            raise self.err(f"gate {t.text!r} is opaque: it has no definition to simulate", t)
        values = tuple(self.eval(e, {}, t) for e in exprs)
        for wires in self._broadcast(t, args):
            for w in wires:
                if w in self.measured:
                    m = self.measured[w]
                    raise self.err(
                        f"mid-circuit measurement is not supported: qubit {self._qname(w)} is used by "
                        f"{t.text!r} after its measurement at line {m.line}; lretjax measures at the end",
                        t,
                    )
            self.expand(g, values, wires, t)

    def expand(self, g: GateDef, values: tuple[float, ...], wires: tuple[int, ...], site: Token) -> None:
        if g.native is not None:
            if len(self.ops) >= MAX_OPS:
                raise self.err(f"the program expands to more than {MAX_OPS} operations", site)
            self.ops.extend(g.native(values, wires))
            return
        env = dict(zip(g.params, values, strict=True))
        qmap = dict(zip(g.qubits, wires, strict=True))
        for b in g.body:
            sub = self.gates[b.name] if b.name in self.gates else None
            if sub is None or sub.body is None:  # opaque inside a definition
                raise self.err(f"gate {g.name!r} calls opaque gate {b.name!r}, which cannot be simulated",
                               site)
            vals = tuple(self.eval(e, env, site, inside=g) for e in b.params)
            self.expand(sub, vals, tuple(qmap[q] for q in b.qubits), site)

    def _qname(self, w: int) -> str:
        for name, (off, size, _) in self.qregs.items():
            if off <= w < off + size:
                return f"{name}[{w - off}]"
        return str(w)

    def arg_list(self) -> list[tuple[Token, list[int], bool]]:
        args = [self.argument()]
        while self.at(","):
            self.next()
            args.append(self.argument())
        return args

    def argument(self, classical: bool = False) -> tuple[Token, list[int], bool]:
        """A register (all its wires, whole=True) or one indexed element of it."""
        name = self.expect_kind(ID, "a classical bit or register" if classical else "a qubit or register")
        regs, other = (self.cregs, self.qregs) if classical else (self.qregs, self.cregs)
        if name.text not in regs:
            if name.text in other:
                kind = "quantum" if classical else "classical"
                raise self.err(f"{name.text!r} is a {kind} register; expected a "
                               f"{'classical' if classical else 'quantum'} one", name)
            raise self.err(f"undeclared register {name.text!r}", name)
        off, size, _ = regs[name.text]
        if self.at("["):
            self.next()
            idx, it = self.expect_int("an index")
            self.expect("]")
            if idx >= size:
                raise self.err(f"index {idx} is out of range for register {name.text!r} of size {size}", it)
            return name, [off + idx], False
        return name, list(range(off, off + size)), True

    def _broadcast(self, t: Token, args: list[tuple[Token, list[int], bool]]) -> list[tuple[int, ...]]:
        """QASM 2 broadcasting: whole registers (all the same size) advance together, single
        qubits repeat."""
        regs = [(tok, w) for tok, w, whole in args if whole]
        if not regs:
            calls = [tuple(w[0] for _, w, _ in args)]
        else:
            sizes = {len(w) for _, w in regs}
            if len(sizes) > 1:
                detail = ", ".join(f"{tok.text}[{len(w)}]" for tok, w in regs)
                raise self.err(f"registers of different sizes in one {t.text!r} call: {detail}", t)
            n = sizes.pop()
            calls = [tuple(w[j] if whole else w[0] for _, w, whole in args) for j in range(n)]
        for wires in calls:
            if len(set(wires)) != len(wires):
                dup = next(w for i, w in enumerate(wires) if w in wires[:i])
                raise self.err(f"qubit {self._qname(dup)} is used twice in one {t.text!r} call", t)
        return calls

    def measure(self) -> None:
        kw = self.next()
        qtok, qs, qreg = self.argument()
        self.expect("->", "'->'")
        ctok, cs, creg = self.argument(classical=True)
        self.expect(";")
        if qreg != creg:
            raise self.err("measure needs a qubit and a bit, or two registers of the same size", kw)
        if len(qs) != len(cs):
            raise self.err(f"cannot measure register {qtok.text!r} of size {len(qs)} into "
                           f"register {ctok.text!r} of size {len(cs)}", kw)
        for q, c in zip(qs, cs, strict=True):
            self.measured.setdefault(q, kw)
            self.measurements.append((q, c))

    # -- expressions ----------------------------------------------------------------------------

    def expr(self, depth: int = 0):
        left = self.term(depth)
        while self.at("+") or self.at("-"):
            op = self.next()
            left = Binary(op.text, left, self.term(depth), op)
        return left

    def term(self, depth: int):
        left = self.unary(depth)
        while self.at("*") or self.at("/"):
            op = self.next()
            left = Binary(op.text, left, self.unary(depth), op)
        return left

    def unary(self, depth: int):
        if depth > _MAX_DEPTH:
            raise self.err("expression is nested too deeply", self.tok)
        if self.at("-") or self.at("+"):
            op = self.next()
            arg = self.unary(depth + 1)
            return Unary(op.text, arg, op) if op.text == "-" else arg
        return self.power(depth)

    def power(self, depth: int):
        base = self.atom(depth)
        if self.at("^"):
            op = self.next()
            return Binary("^", base, self.unary(depth + 1), op)  # right-associative
        return base

    def atom(self, depth: int):
        t = self.tok
        if t.kind in (REAL, INT):
            self.next()
            return Num(float(t.text), t)
        if t.kind == SYM and t.text == "(":
            self.next()
            e = self.expr(depth + 1)
            self.expect(")", "')'")
            return e
        if t.kind == ID:
            self.next()
            if t.text == "pi":
                return Num(math.pi, t)
            if t.text in _FUNCS:
                self.expect("(", f"'(' after {t.text}")
                arg = self.expr(depth + 1)
                self.expect(")", "')'")
                return Call(t.text, arg, t)
            return Name(t.text, t)
        raise self.err(f"expected an expression, found {t.describe()}", t)

    def eval(self, e, env: dict[str, float], site: Token, inside: GateDef | None = None) -> float:
        """Value of an expression. At the top level a failure points at the operator; inside an
        expanded definition it points at the call site and names the definition."""
        try:
            return _evaluate(e, env)
        except _EvalFailure as f:
            if inside is None:
                raise self.err(f.message, f.tok) from None
            where = "qelib1.inc" if inside.library else f"line {inside.tok.line}"
            raise self.err(f"{f.message} (in the body of gate {inside.name!r}, {where})", site) from None


class _EvalFailure(Exception):
    def __init__(self, message: str, tok: Token):
        super().__init__(message)
        self.message, self.tok = message, tok


def _evaluate(e, env: dict[str, float]) -> float:
    if isinstance(e, Num):
        if not math.isfinite(e.value):
            raise _EvalFailure("number is too large", e.tok)
        return e.value
    if isinstance(e, Name):
        if e.name not in env:
            raise _EvalFailure(f"unknown parameter {e.name!r} (outside a gate body only numbers, pi "
                               "and sin, cos, tan, exp, ln, sqrt may appear)", e.tok)
        return env[e.name]
    if isinstance(e, Unary):
        return -_evaluate(e.arg, env)
    if isinstance(e, Call):
        x = _evaluate(e.arg, env)
        try:
            v = _FUNCS[e.func](x)
        except (OverflowError, ValueError):
            raise _EvalFailure(f"{e.func}({x!r}) is undefined or overflows", e.tok) from None
        if not math.isfinite(v):
            raise _EvalFailure(f"{e.func}({x!r}) is not finite", e.tok)
        return v
    a, b = _evaluate(e.left, env), _evaluate(e.right, env)
    try:
        if e.op == "+":
            v = a + b
        elif e.op == "-":
            v = a - b
        elif e.op == "*":
            v = a * b
        elif e.op == "/":
            v = a / b
        else:
            v = math.pow(a, b)
    except ZeroDivisionError:
        raise _EvalFailure("division by zero in a parameter expression", e.tok) from None
    except (OverflowError, ValueError):
        raise _EvalFailure(f"{a!r} {e.op} {b!r} is undefined or overflows", e.tok) from None
    if not math.isfinite(v):
        raise _EvalFailure(f"{a!r} {e.op} {b!r} is not finite", e.tok)
    return v


def parse(text: str, source: str | None = None) -> Program:
    """Parse an OpenQASM 2.0 program into a :class:`Program` (circuit, registers, measurements)."""
    if not isinstance(text, str):
        raise QasmError(f"expected the program as a str, got {type(text).__name__}", source=source)
    try:
        return _Parser(text, source).parse_program()
    except RecursionError:
        raise QasmError("program is nested too deeply", source=source) from None


def loads(text: str, source: str | None = None) -> Circuit:
    """Read an OpenQASM 2.0 program from a string; ``source`` names it in error messages."""
    return parse(text, source).circuit


def load(path: str | os.PathLike) -> Circuit:
    """Read an OpenQASM 2.0 file."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise QasmError(f"cannot read {path!r}: {e}", source=path) from None
    return loads(text, source=path)


# --------------------------------------------------------------------------------------------
# The writer
# --------------------------------------------------------------------------------------------

# lretjax gate -> qelib1 gate with the same matrix up to a global phase and the same
# parameter order. u1/cu1 rather than p/cp: they are in every qelib1 version.
_WRITE_NAMES = {
    **{g: g for g in ("id", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg", "rx", "ry", "rz",
                      "u2", "u3", "cx", "cy", "cz", "ch", "swap", "crx", "cry", "crz", "rxx", "rzz",
                      "ccx", "cswap")},
    "p": "u1",
    "cp": "cu1",
}

# Gates with no qelib1 name, written as a definition at the top of the file.
_WRITE_DEFS = {
    "iswap": "gate iswap a,b { s a; s b; h a; cx a,b; cx b,a; h b; }",
    "ryy": "gate ryy(theta) a,b { rx(pi/2) a; rx(pi/2) b; cx a,b; rz(theta) b; cx a,b; "
           "rx(-pi/2) a; rx(-pi/2) b; }",
}


def _fmt(p, where: str) -> str:
    if isinstance(p, Param):
        raise ParameterError(
            f"cannot write {where}: parameter {p!r} is an unbound symbol; bind the circuit first "
            f"(circuit.bind(...))"
        )
    try:
        v = float(p)
    except Exception:
        raise CircuitError(f"cannot write {where}: parameter {p!r} is not a concrete number "
                           "(writing must happen outside jit)") from None
    if not math.isfinite(v):
        raise CircuitError(f"cannot write {where}: parameter {v} is not finite")
    s = repr(v)
    if "e" in s and "." not in s:  # QASM 2 reals need a decimal point before the exponent
        s = s.replace("e", ".0e")
    return s


def _wires(ws) -> str:
    return ", ".join(f"q[{w}]" for w in ws)


def zyz(u: np.ndarray) -> tuple[float, float, float, float]:
    """(theta, phi, lam, gamma) with u = exp(i gamma) U3(theta, phi, lam) for a 2x2 unitary u."""
    u = np.asarray(u, dtype=complex)
    alpha = np.angle(np.linalg.det(u)) / 2
    su = u * np.exp(-1j * alpha)
    a, b = su[0, 0], su[1, 0]
    theta = 2 * math.atan2(abs(b), abs(a))
    arg_a, arg_b = float(np.angle(a)), float(np.angle(b))
    phi, lam = arg_b - arg_a, -arg_a - arg_b
    return theta, phi, lam, float(alpha + arg_a)


def _sqrt2x2(u: np.ndarray) -> np.ndarray:
    """A unitary square root of a 2x2 unitary (Cayley-Hamilton: (u + s I) / sqrt(tr u + 2 s))."""
    s0 = np.sqrt(np.linalg.det(u) + 0j)
    tr = np.trace(u)
    s = max((s0, -s0), key=lambda x: abs(tr + 2 * x))
    return (u + s * np.eye(2)) / np.sqrt(tr + 2 * s)


def _mc_u(u: np.ndarray, controls: list[int], target: int, out: list[str]) -> None:
    """Lines applying u on ``target`` when every control is 1, exact including u's phase."""
    if not controls:
        theta, phi, lam, _ = zyz(u)  # a global phase: invisible
        out.append(f"u3({theta!r},{phi!r},{lam!r}) q[{target}];")
    elif len(controls) == 1:
        c = controls[0]
        if np.allclose(u, _X, atol=1e-14):
            out.append(f"cx q[{c}], q[{target}];")
            return
        theta, phi, lam, gamma = zyz(u)
        out.append(f"cu3({theta!r},{phi!r},{lam!r}) q[{c}], q[{target}];")
        if abs(gamma) > 1e-14:
            out.append(f"u1({gamma!r}) q[{c}];")
    elif len(controls) == 2 and np.allclose(u, _X, atol=1e-14):
        out.append(f"ccx q[{controls[0]}], q[{controls[1]}], q[{target}];")
    else:
        # Barenco et al. (1995) lemma 7.5: C^m(u) from C(v), C(v^dagger), C^{m-1}(X), C^{m-1}(v).
        v = _sqrt2x2(u)
        *rest, last = controls
        _mc_u(v, [last], target, out)
        _mc_u(_X, rest, last, out)
        _mc_u(v.conj().T, [last], target, out)
        _mc_u(_X, rest, last, out)
        _mc_u(v, rest, target, out)


def _unitary_lines(m: np.ndarray, wires: tuple[int, ...]) -> list[str]:
    """qelib1 lines for a k-wire unitary, equal up to a global phase.

    Givens eliminations in Gray-code order, so each two-level rotation acts on basis states
    that differ in one bit: a multi-controlled single-qubit gate.
    """
    k = len(wires)
    if k == 1:
        out: list[str] = []
        _mc_u(m, [], wires[0], out)
        return out
    d = 2**k
    gray = [i ^ (i >> 1) for i in range(d)]
    w = np.asarray(m, dtype=complex)[np.ix_(gray, gray)].copy()
    steps: list[tuple[int, np.ndarray]] = []  # (i, g): W <- G_i W with g on rows (i-1, i)
    for c in range(d - 1):
        for r in range(d - 1, c, -1):
            x, y = w[r - 1, c], w[r, c]
            if abs(y) < 1e-15:
                continue
            nrm = math.hypot(abs(x), abs(y))
            g = np.array([[np.conj(x), np.conj(y)], [-y, x]]) / nrm
            w[[r - 1, r], :] = g @ w[[r - 1, r], :]
            steps.append((r, g))
    # Now w is diagonal: W = G_last ... G_1 M, so M = G_1^dagger ... G_last^dagger diag(w).
    phases = np.diag(w)
    factors: list[tuple[int, np.ndarray]] = []
    for i in range(1, d):
        ph = phases[i] / phases[0]
        if abs(ph - 1) > 1e-15:
            factors.append((i, np.diag([1, ph])))
    factors += [(r, g.conj().T) for r, g in reversed(steps)]
    out = []
    # M = G_1^dagger ... G_last^dagger D: D acts first, G_1^dagger last, which is ``factors``' order.
    for i, g in factors:
        a, b = gray[i - 1], gray[i]
        bit = (a ^ b).bit_length() - 1  # index bit from the least significant end
        t = k - 1 - bit  # position among ``wires`` (wire 0 is the most significant)
        if a >> bit & 1:  # rows ordered (|1>, |0>) on the target: swap to (|0>, |1>)
            g = _X @ g @ _X
        ctrl_pos = [j for j in range(k) if j != t]
        flips = [wires[j] for j in ctrl_pos if not (a >> (k - 1 - j)) & 1]
        out += [f"x q[{f}];" for f in flips]
        _mc_u(g, [wires[j] for j in ctrl_pos], wires[t], out)
        out += [f"x q[{f}];" for f in flips]
    return out


def dumps(circuit: Circuit, *, skip_channels: bool = False) -> str:
    """Write a circuit as an OpenQASM 2.0 program (qelib1 gates; one ``qreg q[n]``).

    Gates with no qelib1 name (iswap, ryy) get a ``gate`` definition at the top; user unitaries
    are decomposed into qelib1 gates (exact up to a global phase). Channels have no QASM 2 form:
    they raise CircuitError unless ``skip_channels=True`` drops them.
    """
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"dumps expects a lretjax Circuit, got {type(circuit).__name__}")
    defs: dict[str, str] = {}
    body: list[str] = []
    for idx, op in enumerate(circuit.ops):
        where = f"op {idx} ({op.name} on wires {list(op.wires)})"
        if op.kind in (CHANNEL, KRAUS):
            if skip_channels:
                continue
            raise CircuitError(
                f"cannot write {where}: channels have no OpenQASM 2 form "
                "(pass skip_channels=True to drop them)"
            )
        if op.kind == UNITARY:
            try:
                m = np.asarray(op.params[0], dtype=complex)
            except Exception:
                raise CircuitError(f"cannot write {where}: its matrix is not concrete") from None
            body += _unitary_lines(m, op.wires)
            continue
        if op.kind != GATE:
            raise CircuitError(f"cannot write {where}: unknown op kind {op.kind!r}")
        params = [_fmt(p, where) for p in op.params]
        ps = f"({','.join(params)})" if params else ""
        if op.name in _WRITE_NAMES:
            body.append(f"{_WRITE_NAMES[op.name]}{ps} {_wires(op.wires)};")
        elif op.name in _WRITE_DEFS:
            defs[op.name] = _WRITE_DEFS[op.name]
            body.append(f"{op.name}{ps} {_wires(op.wires)};")
        else:  # a gate added to lretjax after this writer: write its matrix
            body += _unitary_lines(np.asarray(op.matrix(), dtype=complex), op.wires)
    head = ["OPENQASM 2.0;", 'include "qelib1.inc";', *defs.values(), f"qreg q[{circuit.num_wires}];"]
    return "\n".join(head + body) + "\n"


def dump(circuit: Circuit, path: str | os.PathLike, *, skip_channels: bool = False) -> None:
    """Write a circuit to an OpenQASM 2.0 file."""
    text = dumps(circuit, skip_channels=skip_channels)
    with open(os.fspath(path), "w", encoding="utf-8") as f:
        f.write(text)
