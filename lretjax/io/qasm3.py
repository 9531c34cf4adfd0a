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
from dataclasses import replace as _replace

from ..circuit import MEASURE, UNITARY, Circuit, Condition, Op, Param
from ..dynamic import is_mid_circuit
from ..errors import LretError, QasmError
from ..gates import GATES, canonical_name
from . import _qasm
from ._qasm import EOF, ID, INT, REAL, STRING, SYM, Token

__all__ = ["loads", "load", "parse", "dumps", "dump", "Program"]

MAX_BITS = 1 << 16
MAX_OPS = 10_000_000

DIALECT = _qasm.Dialect(
    name="OpenQASM 3",
    lexeme=re.compile(
        r"(?P<space>[ \t\r\f\v]+)|(?P<newline>\n)|(?P<comment>//[^\n]*)|(?P<block>/\*.*?\*/)"
        r"|(?P<id>[A-Za-z_\u03c0\u03c4\u2107][A-Za-z0-9_]*)"
        r"|(?P<num>(?:[0-9][0-9_]*\.?[0-9_]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
        r'|(?P<string>"[^"\n]*")'
        r"|(?P<sym>->|\*\*|==|!=|[;,()\[\]{}+\-*/^=:@$!])",
        re.DOTALL,
    ),
    bad_after_number=lambda ch: ch.isalpha() or ch == "_",
    malformed="malformed number or unsupported unit {text}",
    malformed_extra=2,
    funcs={**_qasm.FUNCS, "arcsin": math.asin, "arccos": math.acos, "arctan": math.atan},
    consts={"pi": math.pi, "\u03c0": math.pi, "tau": 2 * math.pi, "\u03c4": 2 * math.pi,
            "euler": math.e, "\u2107": math.e},
    power=("**", "^"),
)


def tokenize(text: str, source: str | None = None) -> list[Token]:
    """QASM 3 text as tokens; ``//`` and ``/* */`` comments and whitespace dropped."""
    return _qasm.tokenize(text, source, DIALECT)


_UNSUPPORTED = {
    "for": "for loops", "while": "while loops", "else": "else without if",
    "def": "subroutines", "ctrl": "ctrl @ modifiers", "negctrl": "negctrl @ modifiers",
    "inv": "inv @ modifiers", "pow": "pow @ modifiers", "delay": "delay", "box": "box",
    "defcal": "defcal", "cal": "cal blocks", "extern": "extern", "let": "let aliases",
    "switch": "switch", "break": "break", "continue": "continue", "return": "return",
    "output": "output declarations", "opaque": "opaque gates",
}
_CLASSICAL_TYPES = {"int", "uint", "float", "angle", "bool", "complex", "duration", "stretch", "const"}

# stdgates.inc names (and the built-ins U, CX) -> lretjax gates, from the gate specs; other
# spellings go through the gates' aliases.
_STD = {name: g.name for g in GATES.values() for name in g.qasm3}


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


class _Parser(_qasm.Cursor):
    dialect = DIALECT

    def __init__(self, text: str, source: str | None):
        super().__init__(text, source)
        self.qregs: dict[str, tuple[int, int]] = {}
        self.cregs: dict[str, tuple[int, int]] = {}
        self.inputs: dict[str, Param] = {}
        self.gates: dict[str, _GateDef] = {}
        self.nq = self.nb = 0
        self.ops: list = []
        self.measurements: list[tuple[int, int]] = []
        self.cond: Condition | None = None  # while reading the body of an if/else

    # -- helpers ----------------------------------------------------------------------------------

    def ident(self, what: str) -> Token:
        return self.expect_kind(ID, what)

    def integer(self, what: str) -> int:
        t = self.tok
        if t.kind != INT:
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
            if v.kind not in (INT, REAL):
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
        cregs = [(k, s) for k, (_, s) in self.cregs.items()]
        try:
            circuit = Circuit(self.nq, self.ops, cregs=cregs)
            if not is_mid_circuit(circuit.ops):  # every measurement at the end: read as before
                circuit = Circuit(self.nq, [o for o in circuit.ops if o.kind != MEASURE], cregs=cregs)
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
        if self.cond is not None:
            nxt = self.toks[self.pos + 1]
            if word == "measure" or (nxt.kind == SYM and nxt.text == "=") or word == "if":
                what = "if" if word == "if" else "measure"
                raise self.err(f"{what} inside if/else is not supported (conditioned gates and resets "
                               "are)", t)
            if word in ("qubit", "qreg", "bit", "creg", "input", "gate", "include", *_CLASSICAL_TYPES):
                raise self.err(f"'{word}' inside if/else is not supported", t)
        if word == "if":
            self.if_stmt()
            return
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
            self.eval(self.expr(0), {})
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
        for q, b in zip(qs, bits or (), strict=False):
            self.ops.append(Op(MEASURE, (q,), (), MEASURE, checked=True, clbits=(b,)))

    def if_stmt(self) -> None:
        """``if (cond) body [else body]``; cond: ``b``, ``!b``, ``b == v``, ``b != v`` or
        ``reg == k`` / ``reg != k``; a body is one statement or a ``{ ... }`` block of gate
        calls and resets."""
        kw = self.next()
        self.expect("(", "'(' after if")
        negate = False
        if self.at("!"):
            self.next()
            negate = True
        t = self.tok
        if t.kind != ID or t.text not in self.cregs:
            raise self.err(f"if: expected a declared bit or bit register, found {t.describe()}", t)
        bits = self.bit_arg()
        if self.at("==") or self.at("!="):
            equal = self.next().text == "=="
            vt = self.tok
            if vt.kind == ID and vt.text in ("true", "false"):
                self.next()
                value = int(vt.text == "true")
            else:
                value = self.integer("a value")
        elif self.at(")"):
            if len(bits) != 1:
                raise self.err("if: a register needs a comparison (c == k)", t)
            equal, value, vt = True, 1, t
        else:
            raise self.err(f"if: only bit and register comparisons with == or != are supported, found "
                           f"{self.tok.describe()}", self.tok)
        self.expect(")", "')' closing the condition")
        if value >= 2 ** len(bits):
            raise self.err(f"if: value {value} does not fit {len(bits)} bit(s)", vt)
        cond = Condition(tuple(bits), value, equal != negate)
        self.branch(cond)
        if self.at("else"):
            self.next()
            self.branch(_replace(cond, equal=not cond.equal))
        del kw

    def branch(self, cond: Condition) -> None:
        self.cond = cond
        try:
            if self.at("{"):
                self.next()
                while not self.at("}"):
                    if self.tok.kind == EOF:
                        raise self.err("missing '}' closing an if/else block", self.tok)
                    self.statement()
                self.next()
            else:
                self.statement()
        finally:
            self.cond = None

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
        values = [self.eval(a, {}) for a in args]
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
            if depth > _qasm.MAX_DEPTH:
                raise self.err(f"gate {name!r} is defined recursively or nested too deeply", site)
            env = dict(zip(d.params, values, strict=True))
            qmap = dict(zip(d.qubits, wires, strict=True))
            for bg, bargs, bqs in d.body:
                vals = [self.eval(a, env, inside=d, site=site) for a in bargs]
                if bg.text == "gphase":
                    continue
                self.apply(bg, vals, [qmap[q] for q in bqs], site, depth + 1)
            return
        if name == "cu":
            if len(values) != 4 or len(wires) != 2:
                raise self.err("cu takes 4 parameters and 2 qubits", g)
            if any(isinstance(v, Param) for v in values):
                raise self.err("cu with an input parameter has no lretjax gate; bind it first", g)
            self.emit(Op("unitary", tuple(wires), (_qasm.cu(*values),), UNITARY), site)
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
            built = Circuit(self.nq, [op]).ops[0]
        except LretError as e:
            raise self.err(str(e), site) from None
        if self.cond is not None:
            built = _replace(built, condition=self.cond, checked=False)
        self.ops.append(built)

    # -- expressions: evaluated to a float or an affine Param ---------------------------------------

    def eval(self, e, env: Mapping, inside: _GateDef | None = None, site: Token | None = None):
        def lookup(name: _qasm.Name):
            if name.name in env:
                return env[name.name]
            if name.name in self.inputs:
                return self.inputs[name.name]
            n = name.name
            raise _qasm.EvalFailure(f"unknown name {n!r} (declare it with 'input float {n};')", name.tok)

        where = None if inside is None else (inside.name, f"line {inside.tok.line}")
        return self.value(e, lookup, site, where)


def parse(text: str, source: str | None = None) -> Program:
    """Parse an OpenQASM 3 program into a :class:`Program`."""
    return _qasm.parse_guarded(lambda: _Parser(text, source).program(), text, source)


def loads(text: str, source: str | None = None, inputs: Mapping[str, float] | None = None) -> Circuit:
    """Read an OpenQASM 3 program; ``inputs`` binds its ``input float`` parameters now
    (otherwise they stay symbols, bound later with ``circuit.bind``)."""
    circuit = parse(text, source).circuit
    return circuit.bind(dict(inputs)) if inputs is not None else circuit


def load(path: str | os.PathLike, inputs: Mapping[str, float] | None = None) -> Circuit:
    """Read an OpenQASM 3 file (see :func:`loads`)."""
    path = os.fspath(path)
    return loads(_qasm.read_text(path), source=path, inputs=inputs)


# --------------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------------

# lretjax gate -> stdgates.inc gate with the same matrix up to a global phase and the same
# parameter order (from the gate specs). Gates with none are defined at the top of the file
# (``_qasm.DEFINITIONS``) or written as exact stdgates gates.
_WRITE_NAMES = {g.name: g.qasm3[0] for g in GATES.values() if g.qasm3}

_WRITER = _qasm.Writer(
    dialect="OpenQASM 3",
    names=_WRITE_NAMES,
    header=("OPENQASM 3.0;", 'include "stdgates.inc";'),
    register="qubit[{n}] q;",
    param_sep=", ",
    symbols=True,
    number=repr,
    creg="bit[{size}] {name};",
    bit_conditions=True,
)


def dumps(circuit: Circuit, *, skip_channels: bool = False) -> str:
    """Write a circuit as OpenQASM 3 (stdgates.inc; symbols as ``input float``).

    User unitaries are decomposed into stdgates gates (exact up to a global phase), as in the
    QASM 2 writer. Channels have no OpenQASM 3 form: CircuitError, unless
    ``skip_channels=True`` drops them.
    """
    return _WRITER.dumps(circuit, skip_channels=skip_channels)


def dump(circuit: Circuit, path: str | os.PathLike, *, skip_channels: bool = False) -> None:
    """Write a circuit to an OpenQASM 3 file."""
    _WRITER.dump(circuit, os.fspath(path), skip_channels=skip_channels)
