"""OpenQASM 3 reader (a subset) and writer.

The subset covers what circuit files and Qiskit's ``qasm3.dumps`` hold for gate-model circuits:
``OPENQASM 3.0;``, ``include "stdgates.inc";``, ``qubit[n] q;`` / ``bit[n] c;`` (and the legacy
``qreg``/``creg``), gate calls with parameter expressions (``pi``, ``tau``, ``euler``, ``+ - * / **``,
``sin cos tan exp ln sqrt arcsin arccos arctan``), ``gate`` definitions (expanded at the call
site), ``input float theta;`` declarations, ``measure`` (both spellings), ``reset``, ``barrier`` and
``gphase`` (a global phase: dropped). Loops, branches, subroutines, classical arithmetic,
``ctrl @``/``inv @`` modifiers, timing and pulse-level statements are not read: they raise
:class:`~lretjax.errors.QasmError` with the line and column.

``input float theta;`` becomes the symbol ``lretjax.Param("theta")``: the circuit is built once
and bound later (``circuit.bind({"theta": 0.3})``, or ``simulate(circuit, params)`` under
``jit``/``grad``). A parameter must stay affine in one input (``2*theta + pi/2``), which is what
a lretjax symbol can hold. Registers are flattened in declaration order, ``q[i]`` is wire ``i``
and wire 0 is the most significant bit, as in :mod:`lretjax.io.qasm2`.

    >>> from lretjax.io import qasm3
    >>> c = qasm3.loads('OPENQASM 3.0; include "stdgates.inc"; input float t; qubit[2] q; '
    ...                 'rx(2*t) q[0]; cx q[0], q[1];')
    >>> c.parameters, c.ops[0]
    (('t',), rx(2*t)[0])
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..circuit import CHANNEL, GATE, KRAUS, UNITARY, Circuit, Op, Param
from ..errors import CircuitError, LretError, ParameterError, QasmError
from ..gates import GATES, canonical_name

__all__ = ["loads", "load", "parse", "dumps", "dump", "Program"]

MAX_BITS = 1 << 16
MAX_OPS = 10_000_000
_MAX_DEPTH = 64

ID, NUM, STRING, SYM, EOF = "identifier", "number", "string", "symbol", "end of input"

_LEXEME = re.compile(
    r"(?P<space>[ \t\r\f\v]+)|(?P<newline>\n)|(?P<comment>//[^\n]*)|(?P<block>/\*.*?\*/)"
    r"|(?P<id>[A-Za-z_\u03c0\u03c4\u2107][A-Za-z0-9_]*)"
    r"|(?P<num>(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r'|(?P<string>"[^"\n]*")'
    r"|(?P<sym>->|\*\*|==|[;,()\[\]{}+\-*/^=:@$])",
    re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int
    col: int

    def describe(self) -> str:
        return "end of input" if self.kind == EOF else repr(self.text)


def tokenize(text: str, source: str | None = None) -> list[Token]:
    """QASM 3 text as tokens; ``//`` and ``/* */`` comments and whitespace dropped."""
    out: list[Token] = []
    pos, line, line_start, n = 0, 1, 0, len(text)
    while pos < n:
        m = _LEXEME.match(text, pos)
        col = pos - line_start + 1
        if m is None:
            ch = text[pos]
            msg = "unterminated string" if ch == '"' else f"unexpected character {ch!r}"
            if text.startswith("/*", pos):
                msg = "unterminated comment"
            raise QasmError(msg, line=line, column=col, source=source)
        kind, lexeme, end = m.lastgroup, m.group(), m.end()
        if kind in ("newline", "block"):
            if kind == "newline":
                line, line_start = line + 1, end
            else:
                breaks = lexeme.count("\n")
                if breaks:
                    line, line_start = line + breaks, pos + lexeme.rindex("\n") + 1
        elif kind == "id":
            out.append(Token(ID, lexeme, line, col))
        elif kind == "num":
            if end < n and (text[end].isalpha() or text[end] == "_"):
                raise QasmError(f"malformed number or unsupported unit {text[pos:end + 2]!r}",
                                line=line, column=col, source=source)
            out.append(Token(NUM, lexeme.replace("_", ""), line, col))
        elif kind == "string":
            out.append(Token(STRING, lexeme[1:-1], line, col))
        elif kind == "sym":
            out.append(Token(SYM, lexeme, line, col))
        pos = end
    out.append(Token(EOF, "", line, pos - line_start + 1))
    return out


# --------------------------------------------------------------------------------------------
# Values: a float, or a Param (affine in one input)
# --------------------------------------------------------------------------------------------


class _NotAffine(Exception):
    pass


def _add(a, b):
    if isinstance(a, Param) and isinstance(b, Param):
        if a.name != b.name:
            raise _NotAffine(f"{a!r} + {b!r} mixes two inputs")
        return Param(a.name, a.coeff + b.coeff, a.offset + b.offset)
    return a + b if not isinstance(b, Param) else b + a


def _mul(a, b):
    if isinstance(a, Param) and isinstance(b, Param):
        raise _NotAffine(f"{a!r} * {b!r} is not affine")
    return a * b if not isinstance(b, Param) else b * a


def _div(a, b):
    if isinstance(b, Param):
        raise _NotAffine(f"dividing by the input {b.name!r} is not affine")
    if b == 0:
        raise ZeroDivisionError
    return a / b


_FUNCS = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "exp": math.exp, "ln": math.log,
    "sqrt": math.sqrt, "arcsin": math.asin, "arccos": math.acos, "arctan": math.atan,
}
_CONSTS = {"pi": math.pi, "\u03c0": math.pi, "tau": 2 * math.pi, "\u03c4": 2 * math.pi,
           "euler": math.e, "\u2107": math.e}
_UNSUPPORTED = {
    "for": "for loops", "while": "while loops", "if": "if statements", "else": "if statements",
    "def": "subroutines", "ctrl": "ctrl @ modifiers", "negctrl": "negctrl @ modifiers",
    "inv": "inv @ modifiers", "pow": "pow @ modifiers", "delay": "delay", "box": "box",
    "defcal": "defcal", "cal": "cal blocks", "extern": "extern", "let": "let aliases",
    "switch": "switch", "break": "break", "continue": "continue", "return": "return",
    "output": "output declarations", "opaque": "opaque gates",
}
_CLASSICAL_TYPES = {"int", "uint", "float", "angle", "bool", "complex", "duration", "stretch", "const"}

# stdgates.inc names (and the OpenQASM 3 built-in U) that are not lretjax canonical names.
_STD = {"U": "u3", "CX": "cx", "phase": "p", "cphase": "cp", "u1": "p", "u": "u3"}


def _cu(theta, phi, lam, gamma) -> np.ndarray:
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    u = np.array([[c, -np.exp(1j * lam) * s], [np.exp(1j * phi) * s, np.exp(1j * (phi + lam)) * c]])
    m = np.eye(4, dtype=complex)
    m[2:, 2:] = np.exp(1j * gamma) * u
    return m


@dataclass(frozen=True)
class _GateDef:
    name: str
    params: tuple[str, ...]
    qubits: tuple[str, ...]
    body: tuple  # ((name token, [param exprs], [qubit name tokens]), ...)
    tok: Token


@dataclass(frozen=True)
class Program:
    """A parsed OpenQASM 3 program.

    Attributes:
      circuit: the circuit; ``input float`` names are its symbolic parameters.
      inputs: the declared input names, in order.
      qregs / cregs: register name -> (first index, size).
      measurements: (wire, bit) pairs in program order.
    """

    circuit: Circuit
    inputs: tuple[str, ...]
    qregs: dict[str, tuple[int, int]]
    cregs: dict[str, tuple[int, int]]
    measurements: tuple[tuple[int, int], ...]


class _Parser:
    def __init__(self, text: str, source: str | None):
        self.source = source
        self.toks = tokenize(text, source)
        self.pos = 0
        self.qregs: dict[str, tuple[int, int]] = {}
        self.cregs: dict[str, tuple[int, int]] = {}
        self.inputs: dict[str, Param] = {}
        self.gates: dict[str, _GateDef] = {}
        self.nq = self.nb = 0
        self.ops: list = []
        self.measurements: list[tuple[int, int]] = []

    # -- helpers ----------------------------------------------------------------------------------

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
        return self.tok.kind in (SYM, ID) and self.tok.text == text

    def expect(self, text: str) -> Token:
        if self.at(text):
            return self.next()
        t = self.tok
        if text == ";" and self.pos:
            prev = self.toks[self.pos - 1]
            end = Token(prev.kind, prev.text, prev.line, prev.col + len(prev.text))
            raise self.err(f"missing ';' after {prev.describe()} (found {t.describe()})", end)
        raise self.err(f"expected {text!r}, found {t.describe()}", t)

    def ident(self, what: str) -> Token:
        if self.tok.kind != ID:
            raise self.err(f"expected {what}, found {self.tok.describe()}", self.tok)
        return self.next()

    def integer(self, what: str) -> int:
        t = self.tok
        if t.kind != NUM or not t.text.isdigit():
            raise self.err(f"expected {what} (an integer), found {t.describe()}", t)
        self.next()
        if len(t.text.lstrip("0")) > 9:
            raise self.err(f"{what} {t.text} is too large", t)
        return int(t.text)

    # -- program ----------------------------------------------------------------------------------

    def program(self) -> Program:
        if self.at("OPENQASM"):
            self.next()
            v = self.tok
            if v.kind != NUM:
                raise self.err(f"expected a version number after OPENQASM, found {v.describe()}", v)
            self.next()
            if v.text.split(".")[0] != "3":
                hint = " (use lretjax.io.qasm2 for OpenQASM 2)" if v.text.startswith("2") else ""
                raise self.err(f"unsupported OpenQASM version {v.text}: this reader reads 3{hint}", v)
            self.expect(";")
        while self.tok.kind != EOF:
            self.statement()
        if self.nq == 0:
            raise self.err("the program declares no qubits (add 'qubit[n] q;')", self.tok)
        try:
            circuit = Circuit(self.nq, self.ops)
        except LretError as e:  # pragma: no cover - ops are checked one by one as they are made
            raise QasmError(str(e), source=self.source) from None
        return Program(circuit, tuple(self.inputs), dict(self.qregs), dict(self.cregs),
                       tuple(self.measurements))

    def statement(self) -> None:
        t = self.tok
        if t.kind == SYM and t.text == "@":
            raise self.err("annotations (@...) are not supported", t)
        if t.kind != ID:
            raise self.err(f"expected a statement, found {t.describe()}", t)
        word = t.text
        if word in _UNSUPPORTED:
            raise self.err(f"{_UNSUPPORTED[word]} are not supported by this OpenQASM 3 reader", t)
        if word == "OPENQASM":
            raise self.err("OPENQASM must be the first statement", t)
        if word == "include":
            self.next()
            f = self.tok
            if f.kind != STRING:
                raise self.err(f"expected a file name string after include, found {f.describe()}", f)
            self.next()
            if f.text != "stdgates.inc":
                raise self.err(f"cannot include {f.text!r}: only \"stdgates.inc\" is built in", f)
            self.expect(";")
        elif word in ("qubit", "qreg"):
            self.declare(self.qregs, "qubit")
        elif word in ("bit", "creg"):
            self.declare(self.cregs, "bit")
        elif word == "input":
            self.input_decl()
        elif word in _CLASSICAL_TYPES:
            raise self.err(f"classical variables ({word}) are not supported; declare parameters as "
                           f"'input float name;'", t)
        elif word == "gate":
            self.gate_def()
        elif word == "measure":
            self.next()
            qs = self.qubit_arg()
            bits = None
            if self.at("->"):
                self.next()
                bits = self.bit_arg()
            self.expect(";")
            self.record_measure(qs, bits, t)
        elif word == "barrier":
            while not self.at(";") and self.tok.kind != EOF:
                self.next()
            self.expect(";")
        elif word == "reset":
            self.next()
            for w in self.qubit_arg():
                self.emit(("reset", [w], []), t)
            self.expect(";")
        elif word == "gphase":
            self.next()
            self.expect("(")
            self.value(self.expr(0), {})
            self.expect(")")
            self.expect(";")
        elif self.toks[self.pos + 1].kind == SYM and self.toks[self.pos + 1].text in ("=", "["):
            self.assign_measure()
        else:
            self.call()

    def declare(self, table: dict, kind: str) -> None:
        legacy = self.next().text in ("qreg", "creg")
        size = 1
        if legacy:
            name = self.ident(f"a {kind} register name")
            self.expect("[")
            size = self.integer("register size")
            self.expect("]")
        else:
            if self.at("["):
                self.next()
                size = self.integer("register size")
                self.expect("]")
            name = self.ident(f"a {kind} register name")
        if size < 1:
            raise self.err(f"register {name.text!r} must have at least one {kind}", name)
        if name.text in self.qregs or name.text in self.cregs or name.text in self.inputs:
            raise self.err(f"{name.text!r} is already declared", name)
        total = (self.nq if kind == "qubit" else self.nb) + size
        if total > MAX_BITS:
            raise self.err(f"more than {MAX_BITS} {kind}s declared", name)
        if kind == "qubit":
            table[name.text] = (self.nq, size)
            self.nq = total
        else:
            table[name.text] = (self.nb, size)
            self.nb = total
        self.expect(";")

    def input_decl(self) -> None:
        self.next()
        ty = self.ident("a type after 'input'")
        if ty.text not in ("float", "angle"):
            raise self.err(f"input {ty.text}: only 'input float name;' (or angle) parameters are "
                           "supported", ty)
        if self.at("["):  # float[64]: the width does not matter to lretjax
            self.next()
            self.integer("a type width")
            self.expect("]")
        name = self.ident("an input name")
        if name.text in self.inputs or name.text in self.qregs or name.text in self.cregs:
            raise self.err(f"{name.text!r} is already declared", name)
        self.inputs[name.text] = Param(name.text)
        self.expect(";")

    def gate_def(self) -> None:
        kw = self.next()
        name = self.ident("a gate name")
        if name.text in self.gates:
            raise self.err(f"gate {name.text!r} is already defined", name)
        params: list[str] = []
        if self.at("("):
            self.next()
            while not self.at(")"):
                params.append(self.ident("a parameter name").text)
                if not self.at(")"):
                    self.expect(",")
            self.next()
        qubits = [self.ident("a qubit argument").text]
        while self.at(","):
            self.next()
            qubits.append(self.ident("a qubit argument").text)
        if len(set(qubits)) != len(qubits) or len(set(params)) != len(params):
            raise self.err(f"gate {name.text!r} repeats an argument name", name)
        self.expect("{")
        body = []
        while not self.at("}"):
            t = self.tok
            if t.kind == EOF:
                raise self.err(f"gate {name.text!r}: missing '}}' (definition opened here)", kw)
            if t.kind == ID and t.text in _UNSUPPORTED:
                raise self.err(f"{_UNSUPPORTED[t.text]} are not supported by this OpenQASM 3 reader", t)
            if t.kind == ID and t.text == "barrier":
                while not self.at(";"):
                    self.next()
                self.next()
                continue
            g = self.ident("a gate call")
            args = self.call_params() if self.at("(") else []
            if g.text == "gphase":  # a global phase: parsed, then dropped
                self.expect(";")
                body.append((g, args, []))
                continue
            qs = [self.ident("a qubit argument")]
            while self.at(","):
                self.next()
                qs.append(self.ident("a qubit argument"))
            self.expect(";")
            for q in qs:
                if q.text not in qubits:
                    raise self.err(f"unknown qubit {q.text!r} in the body of gate {name.text!r}", q)
            if g.text != "gphase" and g.text not in self.gates and not self.known(g.text):
                raise self.err(f"unknown gate {g.text!r} in the body of gate {name.text!r}", g)
            body.append((g, args, [q.text for q in qs]))
        self.next()
        self.gates[name.text] = _GateDef(name.text, tuple(params), tuple(qubits), tuple(body), name)

    @staticmethod
    def known(name: str) -> bool:
        return _STD.get(name, canonical_name(name)) in GATES or name == "cu"

    def call_params(self) -> list:
        self.expect("(")
        args = []
        while not self.at(")"):
            args.append(self.expr(0))
            if not self.at(")"):
                self.expect(",")
        self.next()
        return args

    def reg_index(self, table: dict, kind: str) -> list[int]:
        name = self.ident(f"a {kind} register")
        if name.text not in table:
            raise self.err(f"unknown {kind} register {name.text!r}", name)
        start, size = table[name.text]
        if self.at("["):
            self.next()
            it = self.tok
            i = self.integer("an index")
            self.expect("]")
            if not 0 <= i < size:
                raise self.err(f"index {i} out of range for {name.text}[{size}]", it)
            return [start + i]
        return list(range(start, start + size))

    def qubit_arg(self) -> list[int]:
        if self.at("$"):
            raise self.err("physical qubits ($n) are not supported; declare 'qubit[n] q;'", self.tok)
        return self.reg_index(self.qregs, "qubit")

    def bit_arg(self) -> list[int]:
        return self.reg_index(self.cregs, "bit")

    def record_measure(self, qs: list[int], bits: list[int] | None, tok: Token) -> None:
        if bits is not None and len(bits) != len(qs):
            raise self.err(f"measure: {len(qs)} qubit(s) into {len(bits)} bit(s)", tok)
        self.measurements.extend(zip(qs, bits if bits is not None else [-1] * len(qs), strict=True))

    def assign_measure(self) -> None:
        t = self.tok
        bits = self.bit_arg()
        self.expect("=")
        if not self.at("measure"):
            raise self.err("only 'bit = measure qubit;' assignments are supported", self.tok)
        self.next()
        qs = self.qubit_arg()
        self.expect(";")
        self.record_measure(qs, bits, t)

    def call(self) -> None:
        g = self.next()
        args = self.call_params() if self.at("(") else []
        if self.at("@"):
            raise self.err("gate modifiers (@) are not supported", self.tok)
        regs = [self.qubit_arg()]
        while self.at(","):
            self.next()
            regs.append(self.qubit_arg())
        self.expect(";")
        values = [self.value(a, {}) for a in args]
        width = {len(r) for r in regs if len(r) > 1}
        if len(width) > 1:
            raise self.err(f"{g.text}: registers of different sizes in one call", g)
        k = width.pop() if width else 1
        for i in range(k):
            wires = [r[i] if len(r) > 1 else r[0] for r in regs]
            self.apply(g, values, wires, g, depth=0)

    def apply(self, g: Token, values: list, wires: list[int], site: Token, depth: int) -> None:
        name = g.text
        if len(set(wires)) != len(wires):
            raise self.err(f"{name}: a qubit appears twice in {wires}", site)
        if name in self.gates:
            d = self.gates[name]
            if len(values) != len(d.params) or len(wires) != len(d.qubits):
                raise self.err(f"gate {name!r} takes {len(d.params)} parameter(s) and {len(d.qubits)} "
                               f"qubit(s), got {len(values)} and {len(wires)}", g)
            if depth > _MAX_DEPTH:
                raise self.err(f"gate {name!r} is defined recursively or nested too deeply", site)
            env = dict(zip(d.params, values, strict=True))
            qmap = dict(zip(d.qubits, wires, strict=True))
            for bg, bargs, bqs in d.body:
                vals = [self.value(a, env, inside=d, site=site) for a in bargs]
                if bg.text == "gphase":
                    continue
                self.apply(bg, vals, [qmap[q] for q in bqs], site, depth + 1)
            return
        if name == "cu":
            if len(values) != 4 or len(wires) != 2:
                raise self.err("cu takes 4 parameters and 2 qubits", g)
            if any(isinstance(v, Param) for v in values):
                raise self.err("cu with an input parameter has no lretjax gate; bind it first", g)
            self.emit(Op("unitary", tuple(wires), (_cu(*values),), UNITARY), site)
            return
        key = _STD.get(name, canonical_name(name))
        if key not in GATES:
            raise self.err(f"unknown gate {name!r} (not in stdgates.inc, lretjax's gates or a "
                           "gate definition above)", g)
        self.emit((key, wires, values), site)

    def emit(self, op, site: Token) -> None:
        if len(self.ops) >= MAX_OPS:
            raise self.err(f"the program expands to more than {MAX_OPS} operations", site)
        try:
            self.ops.append(Circuit(self.nq, [op]).ops[0])
        except LretError as e:
            raise self.err(str(e), site) from None

    # -- expressions: evaluated to a float or an affine Param ---------------------------------------

    def expr(self, depth: int):
        left = self.term(depth)
        while self.at("+") or self.at("-"):
            op = self.next()
            left = ("bin", op, left, self.term(depth))
        return left

    def term(self, depth: int):
        left = self.unary(depth)
        while self.at("*") or self.at("/"):
            op = self.next()
            left = ("bin", op, left, self.unary(depth))
        return left

    def unary(self, depth: int):
        if depth > _MAX_DEPTH:
            raise self.err("expression is nested too deeply", self.tok)
        if self.at("-") or self.at("+"):
            op = self.next()
            arg = self.unary(depth + 1)
            return ("neg", op, arg) if op.text == "-" else arg
        base = self.atom(depth)
        if self.at("**") or self.at("^"):
            op = self.next()
            return ("bin", op, base, self.unary(depth + 1))
        return base

    def atom(self, depth: int):
        t = self.tok
        if t.kind == NUM:
            self.next()
            return ("num", t, float(t.text))
        if self.at("("):
            self.next()
            e = self.expr(depth + 1)
            self.expect(")")
            return e
        if t.kind == ID:
            self.next()
            if t.text in _CONSTS:
                return ("num", t, _CONSTS[t.text])
            if t.text in _FUNCS:
                self.expect("(")
                arg = self.expr(depth + 1)
                self.expect(")")
                return ("call", t, arg)
            return ("name", t)
        raise self.err(f"expected an expression, found {t.describe()}", t)

    def value(self, e, env: Mapping, inside: _GateDef | None = None, site: Token | None = None):
        try:
            return self._eval(e, env)
        except _Failure as f:
            if inside is None:
                raise self.err(f.message, f.tok) from None
            raise self.err(f"{f.message} (in the body of gate {inside.name!r}, line {inside.tok.line})",
                           site) from None

    def _eval(self, e, env: Mapping):
        kind, tok = e[0], e[1]
        if kind == "num":
            return e[2]
        if kind == "name":
            if tok.text in env:
                return env[tok.text]
            if tok.text in self.inputs:
                return self.inputs[tok.text]
            raise _Failure(f"unknown name {tok.text!r} (declare it with 'input float {tok.text};')", tok)
        if kind == "neg":
            return -self._eval(e[2], env)
        if kind == "call":
            x = self._eval(e[2], env)
            if isinstance(x, Param):
                raise _Failure(f"{tok.text}({x!r}) is not affine in input {x.name!r}; lretjax symbols "
                               "are coeff * name + offset", tok)
            try:
                return float(_FUNCS[tok.text](x))
            except (ValueError, OverflowError):
                raise _Failure(f"{tok.text}({x!r}) is undefined or overflows", tok) from None
        a, b = self._eval(e[2], env), self._eval(e[3], env)
        op = tok.text
        try:
            if op == "+":
                v = _add(a, b)
            elif op == "-":
                v = _add(a, -b)
            elif op == "*":
                v = _mul(a, b)
            elif op == "/":
                v = _div(a, b)
            else:
                if isinstance(a, Param) or isinstance(b, Param):
                    raise _NotAffine(f"{a!r} {op} {b!r} is not affine")
                v = math.pow(a, b)
        except _NotAffine as x:
            raise _Failure(f"{x}; lretjax symbols are coeff * name + offset", tok) from None
        except ZeroDivisionError:
            raise _Failure("division by zero in a parameter expression", tok) from None
        except (ValueError, OverflowError):
            raise _Failure(f"{a!r} {op} {b!r} is undefined or overflows", tok) from None
        if not isinstance(v, Param) and not math.isfinite(v):
            raise _Failure(f"{a!r} {op} {b!r} is not finite", tok)
        return v


class _Failure(Exception):
    def __init__(self, message: str, tok: Token):
        super().__init__(message)
        self.message, self.tok = message, tok


def parse(text: str, source: str | None = None) -> Program:
    """Parse an OpenQASM 3 program into a :class:`Program`."""
    if not isinstance(text, str):
        raise QasmError(f"expected the program as a str, got {type(text).__name__}", source=source)
    try:
        return _Parser(text, source).program()
    except RecursionError:
        raise QasmError("program is nested too deeply", source=source) from None


def loads(text: str, source: str | None = None, inputs: Mapping[str, float] | None = None) -> Circuit:
    """Read an OpenQASM 3 program; ``inputs`` binds its ``input float`` parameters now
    (otherwise they stay symbols, bound later with ``circuit.bind``)."""
    circuit = parse(text, source).circuit
    return circuit.bind(dict(inputs)) if inputs is not None else circuit


def load(path: str | os.PathLike, inputs: Mapping[str, float] | None = None) -> Circuit:
    """Read an OpenQASM 3 file (see :func:`loads`)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise QasmError(f"cannot read {path!r}: {e}", source=path) from None
    return loads(text, source=path, inputs=inputs)


# --------------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------------

_STDGATES = {"x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "rx", "ry", "rz", "p", "cx", "cy", "cz",
             "cp", "crx", "cry", "crz", "ch", "swap", "ccx", "cswap", "id", "u2", "u3"}
_DEFS = {
    "sxdg": "gate sxdg a { s a; h a; s a; }",
    "rxx": "gate rxx(theta) a, b { h a; h b; cx a, b; rz(theta) b; cx a, b; h a; h b; }",
    "ryy": "gate ryy(theta) a, b { rx(pi/2) a; rx(pi/2) b; cx a, b; rz(theta) b; cx a, b; "
           "rx(-pi/2) a; rx(-pi/2) b; }",
    "rzz": "gate rzz(theta) a, b { cx a, b; rz(theta) b; cx a, b; }",
    "iswap": "gate iswap a, b { s a; s b; h a; cx a, b; cx b, a; h b; }",
    "ecr": "gate ecr a, b { s a; sx b; cx a, b; x a; }",
}


def _fmt(p, where: str) -> str:
    if isinstance(p, Param):
        s = p.name if p.coeff == 1.0 else f"{p.coeff!r}*{p.name}"
        return s if p.offset == 0.0 else f"{s} + {p.offset!r}" if p.offset > 0 else f"{s} - {-p.offset!r}"
    try:
        v = float(p)
    except Exception:
        raise CircuitError(f"cannot write {where}: parameter is not a concrete number") from None
    if not math.isfinite(v):
        raise CircuitError(f"cannot write {where}: parameter {v} is not finite")
    return repr(v)


def dumps(circuit: Circuit, *, skip_channels: bool = False) -> str:
    """Write a circuit as OpenQASM 3 (stdgates.inc; symbols as ``input float``).

    User unitaries are decomposed as in the QASM 2 writer (exact up to a global phase).
    Channels have no OpenQASM 3 form: CircuitError, unless ``skip_channels=True`` drops them.
    """
    from . import qasm2

    if not isinstance(circuit, Circuit):
        raise CircuitError(f"dumps expects a lretjax Circuit, got {type(circuit).__name__}")
    defs: dict[str, str] = {}
    body: list[str] = []
    for idx, op in enumerate(circuit.ops):
        where = f"op {idx} ({op.name} on wires {list(op.wires)})"
        qs = ", ".join(f"q[{w}]" for w in op.wires)
        if op.kind in (CHANNEL, KRAUS):
            if skip_channels:
                continue
            raise CircuitError(f"cannot write {where}: channels have no OpenQASM 3 form "
                               "(pass skip_channels=True to drop them)")
        if op.kind == GATE and (op.name in _STDGATES or op.name in _DEFS):
            if op.name in _DEFS:
                defs[op.name] = _DEFS[op.name]
            ps = f"({', '.join(_fmt(p, where) for p in op.params)})" if op.params else ""
            body.append(f"{op.name}{ps} {qs};")
            continue
        if any(isinstance(p, Param) for p in op.params):
            raise ParameterError(f"cannot write {where}: a symbolic {op.name!r} has no OpenQASM 3 form")
        m = np.asarray(op.params[0] if op.kind == UNITARY else op.matrix(), dtype=complex)
        for line in qasm2._unitary_lines(m, op.wires):
            if line.startswith(("u3(", "cu3(", "u1(")):  # qelib1 names -> stdgates / built-in U
                line = "U" + line[2:] if line.startswith("u3(") else line
                if line.startswith("cu3("):
                    line = "cu(" + line[4:].replace(")", ", 0.0)", 1)
                elif line.startswith("u1("):
                    line = "p" + line[2:]
            body.append(line)
    names = list(circuit.parameters)
    head = ["OPENQASM 3.0;", 'include "stdgates.inc";', *[f"input float {n};" for n in names],
            *defs.values(), f"qubit[{circuit.num_wires}] q;"]
    return "\n".join(head + body) + "\n"


def dump(circuit: Circuit, path: str | os.PathLike, *, skip_channels: bool = False) -> None:
    """Write a circuit to an OpenQASM 3 file."""
    text = dumps(circuit, skip_channels=skip_channels)
    with open(os.fspath(path), "w", encoding="utf-8") as f:
        f.write(text)
