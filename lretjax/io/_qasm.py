"""What OpenQASM 2 and 3 share: the lexer, the token cursor, parameter expressions, the writer.

``lretjax.io.qasm2`` and ``lretjax.io.qasm3`` differ in their lexical details (a ``Dialect``),
their statements and their gate libraries; the rest is written once here. Expressions parse
to a small AST and evaluate to a float or, in OpenQASM 3 where ``input float`` names are
symbols, to a ``Param`` affine in one input. The writer prints a circuit's ops in a dialect:
named gates under their library names (from the gate specs), gates without one through a
definition or as exact one- and two-wire gates from ``lretjax.compiler.synthesis``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from ..circuit import CHANNEL, GATE, KRAUS, MEASURE, UNITARY, Circuit, Param, concrete_value
from ..compiler.synthesis import unitary_gates
from ..errors import CircuitError, ParameterError, QasmError
from ..gates import controlled, u3

# Deepest nesting of parentheses / unary signs in an expression (recursion guard).
MAX_DEPTH = 64

# --------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------

ID, INT, REAL, STRING, SYM, EOF = "identifier", "integer", "real", "string", "symbol", "end of input"


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    line: int
    col: int

    def describe(self) -> str:
        return "end of input" if self.kind == EOF else repr(self.text)


@dataclass(frozen=True)
class Dialect:
    """The lexical and expression details of one OpenQASM version.

    Attributes:
      name: "OpenQASM 2" or "OpenQASM 3", for messages.
      lexeme: the token pattern; its groups are space, newline, comment, block (optional), id,
        num, string and sym.
      bad_after_number: characters that may not follow a number (``1e``, ``2ns``).
      malformed: message for such a number; ``{text}`` is the offending span.
      malformed_extra: characters of the span shown past the number.
      funcs: the functions an expression may call.
      consts: the named constants.
      power: the power operators (right-associative, binding tighter than unary minus).
    """

    name: str
    lexeme: re.Pattern
    bad_after_number: Callable[[str], bool]
    malformed: str
    malformed_extra: int
    funcs: Mapping[str, Callable[[float], float]]
    consts: Mapping[str, float]
    power: tuple[str, ...]


def tokenize(text: str, source: str | None, dialect: Dialect) -> list[Token]:
    """Split QASM text into tokens; comments and whitespace are dropped."""
    out: list[Token] = []
    pos, line, line_start, n = 0, 1, 0, len(text)
    match = dialect.lexeme.match
    while pos < n:
        m = match(text, pos)
        col = pos - line_start + 1
        if m is None:
            ch = text[pos]
            msg = "unterminated string" if ch == '"' else f"unexpected character {ch!r}"
            if text.startswith("/*", pos):
                msg = "unterminated comment"
            raise QasmError(msg, line=line, column=col, source=source)
        kind, lexeme, end = m.lastgroup, m.group(), m.end()
        if kind == "newline":
            line, line_start = line + 1, end
        elif kind == "block":
            breaks = lexeme.count("\n")
            if breaks:
                line, line_start = line + breaks, pos + lexeme.rindex("\n") + 1
        elif kind == "id":
            out.append(Token(ID, lexeme, line, col))
        elif kind == "num":
            if end < n and dialect.bad_after_number(text[end]):
                span = text[pos:end + dialect.malformed_extra]
                raise QasmError(dialect.malformed.format(text=repr(span)), line=line, column=col,
                                source=source)
            digits = lexeme.replace("_", "")
            out.append(Token(INT if digits.isdigit() else REAL, digits, line, col))
        elif kind == "string":
            out.append(Token(STRING, lexeme[1:-1], line, col))
        elif kind == "sym":
            out.append(Token(SYM, lexeme, line, col))
        pos = end
    out.append(Token(EOF, "", line, pos - line_start + 1))
    return out


# --------------------------------------------------------------------------------------------
# Parameter expressions: a tiny AST, evaluated to a float or an affine Param
# --------------------------------------------------------------------------------------------

FUNCS: dict[str, Callable[[float], float]] = {
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


def names(expr) -> list[Name]:
    """The names an expression refers to."""
    if isinstance(expr, Name):
        return [expr]
    if isinstance(expr, Unary | Call):
        return names(expr.arg)
    if isinstance(expr, Binary):
        return names(expr.left) + names(expr.right)
    return []


class EvalFailure(Exception):
    """A value that cannot be computed, with the token to blame."""

    def __init__(self, message: str, tok: Token):
        super().__init__(message)
        self.message, self.tok = message, tok


class _NotAffine(Exception):
    pass


_AFFINE = "lretjax symbols are coeff * name + offset"


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


def _pow(a, b):
    if isinstance(a, Param) or isinstance(b, Param):
        raise _NotAffine(f"{a!r} ^ {b!r} is not affine")
    return math.pow(a, b)


_BINARY = {"+": _add, "-": lambda a, b: _add(a, -b), "*": _mul, "/": _div}


def evaluate(e, lookup: Callable[[Name], float | Param], funcs: Mapping[str, Callable]) -> float | Param:
    """The value of an expression: a float, or a Param where ``lookup`` gives symbols.

    ``lookup`` maps a name to its value or raises ``EvalFailure``. Raises ``EvalFailure`` for
    what has no finite value or is not affine in one symbol.
    """
    if isinstance(e, Num):
        if not math.isfinite(e.value):
            raise EvalFailure("number is too large", e.tok)
        return e.value
    if isinstance(e, Name):
        return lookup(e)
    if isinstance(e, Unary):
        return -evaluate(e.arg, lookup, funcs)
    if isinstance(e, Call):
        x = evaluate(e.arg, lookup, funcs)
        if isinstance(x, Param):
            raise EvalFailure(f"{e.func}({x!r}) is not affine in input {x.name!r}; {_AFFINE}", e.tok)
        try:
            v = float(funcs[e.func](x))
        except (OverflowError, ValueError):
            raise EvalFailure(f"{e.func}({x!r}) is undefined or overflows", e.tok) from None
        if not math.isfinite(v):
            raise EvalFailure(f"{e.func}({x!r}) is not finite", e.tok)
        return v
    a, b = evaluate(e.left, lookup, funcs), evaluate(e.right, lookup, funcs)
    try:
        v = _BINARY.get(e.op, _pow)(a, b)
    except _NotAffine as x:
        raise EvalFailure(f"{x}; {_AFFINE}", e.tok) from None
    except ZeroDivisionError:
        raise EvalFailure("division by zero in a parameter expression", e.tok) from None
    except (OverflowError, ValueError):
        raise EvalFailure(f"{a!r} {e.op} {b!r} is undefined or overflows", e.tok) from None
    if not isinstance(v, Param) and not math.isfinite(v):
        raise EvalFailure(f"{a!r} {e.op} {b!r} is not finite", e.tok)
    return v


# --------------------------------------------------------------------------------------------
# The token cursor and the expression grammar, shared by both parsers
# --------------------------------------------------------------------------------------------


class Cursor:
    """A position in a token list, the helpers every statement uses, and the expression grammar:
    expr = term (('+' | '-') term)*, term = unary (('*' | '/') unary)*,
    unary = ('-' | '+') unary | atom (power unary)?, atom = number | constant | name | f(expr) | (expr).
    """

    dialect: Dialect

    def __init__(self, text: str, source: str | None):
        self.source = source
        self.toks = tokenize(text, source, self.dialect)
        self.pos = 0

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
        if depth > MAX_DEPTH:
            raise self.err("expression is nested too deeply", self.tok)
        if self.at("-") or self.at("+"):
            op = self.next()
            arg = self.unary(depth + 1)
            return Unary(op.text, arg, op) if op.text == "-" else arg
        base = self.atom(depth)
        if any(self.at(p) for p in self.dialect.power):
            op = self.next()
            return Binary(op.text, base, self.unary(depth + 1), op)  # right-associative
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
            if t.text in self.dialect.consts:
                return Num(self.dialect.consts[t.text], t)
            if t.text in self.dialect.funcs:
                self.expect("(", f"'(' after {t.text}")
                arg = self.expr(depth + 1)
                self.expect(")", "')'")
                return Call(t.text, arg, t)
            return Name(t.text, t)
        raise self.err(f"expected an expression, found {t.describe()}", t)

    def value(self, e, lookup: Callable[[Name], float | Param], site: Token | None = None,
              inside: tuple[str, str] | None = None):
        """The value of ``e``. At the top level a failure points at its token; inside an expanded
        definition ``inside = (gate name, where it is defined)`` it points at the call site."""
        try:
            return evaluate(e, lookup, self.dialect.funcs)
        except EvalFailure as f:
            if inside is None:
                raise self.err(f.message, f.tok) from None
            raise self.err(f"{f.message} (in the body of gate {inside[0]!r}, {inside[1]})", site) from None


def cu(theta: float, phi: float, lam: float, gamma: float) -> np.ndarray:
    """The matrix of ``cu(theta, phi, lambda, gamma)`` (qelib1 and stdgates): a controlled
    e^{i gamma} U3(theta, phi, lambda), which no lretjax gate is."""
    return controlled(np.exp(1j * gamma) * u3(theta, phi, lam, xp=np), xp=np)


def parse_guarded(parse: Callable[[], object], text, source: str | None):
    """Run a parser on a str, turning deep recursion into a QasmError."""
    if not isinstance(text, str):
        raise QasmError(f"expected the program as a str, got {type(text).__name__}", source=source)
    try:
        return parse()
    except RecursionError:
        raise QasmError("program is nested too deeply", source=source) from None


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise QasmError(f"cannot read {path!r}: {e}", source=path) from None


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

# Gates a dialect's library lacks, defined at the top of the file (valid in both versions).
DEFINITIONS = {
    "sxdg": "gate sxdg a { s a; h a; s a; }",
    "rxx": "gate rxx(theta) a, b { h a; h b; cx a, b; rz(theta) b; cx a, b; h a; h b; }",
    "ryy": "gate ryy(theta) a, b { rx(pi/2) a; rx(pi/2) b; cx a, b; rz(theta) b; cx a, b; "
           "rx(-pi/2) a; rx(-pi/2) b; }",
    "rzz": "gate rzz(theta) a, b { cx a, b; rz(theta) b; cx a, b; }",
    "iswap": "gate iswap a, b { s a; s b; h a; cx a, b; cx b, a; h b; }",
    "ecr": "gate ecr a, b { s a; sx b; cx a, b; x a; }",
}


@dataclass(frozen=True)
class Writer:
    """How one dialect prints a circuit.

    Attributes:
      dialect: "OpenQASM 2" or "OpenQASM 3", for messages.
      names: lretjax gate -> library name with the same matrix (up to a global phase) and
        parameter order; read when writing, so a gate can be taken out of it.
      header: the lines before the definitions; ``inputs`` and ``register`` format the rest.
      param_sep: between parameters of one call.
      symbols: write ``Param`` symbols (as ``input float``), or refuse them.
      number: a finite float as text.
    """

    dialect: str
    names: Mapping[str, str]
    header: tuple[str, ...]
    register: str
    param_sep: str
    symbols: bool
    number: Callable[[float], str]
    creg: str = "creg {name}[{size}];"
    bit_conditions: bool = False  # OpenQASM 3: conditions on one bit, and '!='

    def condition(self, circuit: Circuit, cond, where: str) -> str:
        """The text of a condition: a whole register compared with a value, or one bit."""
        start = 0
        for name, size in circuit.cregs:
            bits = tuple(range(start, start + size))
            op = "==" if cond.equal else "!="
            if cond.bits == bits and (cond.equal or self.bit_conditions):
                return f"{name}{op}{cond.value}" if not self.bit_conditions else f"{name} {op} {cond.value}"
            if self.bit_conditions and len(cond.bits) == 1 and cond.bits[0] in bits:
                return f"{name}[{cond.bits[0] - start}] {op} {cond.value}"
            start += size
        raise CircuitError(f"cannot write {where}: its condition {cond!r} is not a whole register "
                           f"{'compared with a value' if not self.bit_conditions else 'or one bit'} "
                           f"in {self.dialect}")

    def bit_name(self, circuit: Circuit, bit: int) -> str:
        start = 0
        for name, size in circuit.cregs:
            if bit < start + size:
                return f"{name}[{bit - start}]"
            start += size
        raise CircuitError(f"classical bit {bit} is not declared")  # pragma: no cover - checked by the IR

    def param(self, p, where: str) -> str:
        if isinstance(p, Param):
            if not self.symbols:
                raise ParameterError(
                    f"cannot write {where}: parameter {p!r} is an unbound symbol; bind the circuit first "
                    f"(circuit.bind(...))"
                )
            s = p.name if p.coeff == 1.0 else f"{p.coeff!r}*{p.name}"
            return s if p.offset == 0.0 else f"{s} + {p.offset!r}" if p.offset > 0 else f"{s} - {-p.offset!r}"
        return self.number(concrete_value(p, where))

    def call(self, name: str, params, wires, where: str) -> str:
        ps = f"({self.param_sep.join(self.param(p, where) for p in params)})" if params else ""
        return f"{name}{ps} {', '.join(f'q[{w}]' for w in wires)};"

    def dumps(self, circuit: Circuit, *, skip_channels: bool = False) -> str:
        if not isinstance(circuit, Circuit):
            raise CircuitError(f"dumps expects a lretjax Circuit, got {type(circuit).__name__}")
        defs: dict[str, str] = {}
        body: list[str] = []
        for idx, op in enumerate(circuit.ops):
            where = f"op {idx} ({op.name} on wires {list(op.wires)})"
            start = len(body)
            self._op(circuit, op, where, defs, body, skip_channels)
            if op.condition is not None and len(body) > start:
                cond = self.condition(circuit, op.condition, where)
                lines = body[start:]
                if self.bit_conditions:
                    body[start:] = [f"if ({cond}) {{ {' '.join(lines)} }}"]
                else:
                    body[start:] = [f"if({cond}) {line}" for line in lines]
        inputs = [f"input float {n};" for n in circuit.parameters] if self.symbols else []
        regs = [self.creg.format(name=name, size=size) for name, size in circuit.cregs]
        head = [*self.header, *inputs, *defs.values(), self.register.format(n=circuit.num_wires), *regs]
        return "\n".join(head + body) + "\n"

    def _op(self, circuit: Circuit, op, where: str, defs: dict, body: list, skip_channels: bool) -> None:
        """Append the lines of one op (its condition aside)."""
        if op.kind == MEASURE:
            if op.params:
                raise CircuitError(f"cannot write {where}: a readout error has no {self.dialect} form")
            body.append(f"measure q[{op.wires[0]}] -> {self.bit_name(circuit, op.clbits[0])};")
            return
        if op.kind == CHANNEL and op.name == "reset":
            body.append(f"reset q[{op.wires[0]}];")
            return
        if op.kind in (CHANNEL, KRAUS):
            if skip_channels:
                return
            raise CircuitError(f"cannot write {where}: channels have no {self.dialect} form "
                               "(pass skip_channels=True to drop them)")
        if op.kind == GATE:
            symbolic = any(isinstance(p, Param) for p in op.params)
            if symbolic and not self.symbols:
                self.param(next(p for p in op.params if isinstance(p, Param)), where)
            if op.name in self.names or op.name in DEFINITIONS:
                if op.name not in self.names:
                    defs[op.name] = DEFINITIONS[op.name]
                body.append(self.call(self.names.get(op.name, op.name), op.params, op.wires, where))
                return
            if symbolic:
                raise ParameterError(f"cannot write {where}: a symbolic {op.name!r} has no "
                                     f"{self.dialect} form")
            matrix = op.matrix()
        elif op.kind == UNITARY:
            matrix = op.params[0]
        else:
            raise CircuitError(f"cannot write {where}: unknown op kind {op.kind!r}")
        try:
            m = np.asarray(matrix, dtype=complex)
        except Exception:
            raise CircuitError(f"cannot write {where}: its matrix is not concrete") from None
        # Exact up to a global phase, in gates every library has.
        body += [self.call(self.names[g.name], g.params, g.wires, where)
                 for g in unitary_gates(m, op.wires)]

    def dump(self, circuit: Circuit, path: str, *, skip_channels: bool = False) -> None:
        text = self.dumps(circuit, skip_channels=skip_channels)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
