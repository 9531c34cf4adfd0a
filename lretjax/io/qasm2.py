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
from dataclasses import replace as _replace

import numpy as np

from ..circuit import MEASURE, UNITARY, Circuit, Condition, Op
from ..compiler.single import zyz as zyz  # noqa: F401  (its home is the compiler; kept for old imports)
from ..dynamic import is_mid_circuit
from ..errors import LretError
from ..gates import GATES, controlled, u3
from . import _qasm
from ._qasm import EOF, ID, INT, REAL, STRING, Name, Token

__all__ = ["loads", "load", "dumps", "dump", "parse", "Program"]

# A program can address at most this many qubits or bits; broadcasting over a register
# creates one op per qubit, so this also bounds the work a short text can ask for.
MAX_BITS = 1 << 16
# Nested gate definitions can multiply a short text into very many ops; stop well before memory does.
MAX_OPS = 10_000_000
_RESERVED = frozenset({"OPENQASM", "include", "qreg", "creg", "gate", "opaque", "barrier", "measure",
                       "reset", "if", "pi", "U", "CX", "sin", "cos", "tan", "exp", "ln", "sqrt"})

DIALECT = _qasm.Dialect(
    name="OpenQASM 2",
    lexeme=re.compile(
        r"(?P<space>[ \t\r\f\v]+)|(?P<newline>\n)|(?P<comment>//[^\n]*)"
        r"|(?P<id>[A-Za-z_][A-Za-z0-9_]*)"
        r"|(?P<num>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"
        r'|(?P<string>"[^"\n]*")'
        r"|(?P<sym>->|==|[;,()\[\]{}+\-*/^])",
        re.ASCII,
    ),
    bad_after_number=lambda ch: ch.isalnum() or ch in "_.",
    malformed="malformed number {text}",
    malformed_extra=1,
    funcs=_qasm.FUNCS,
    consts={"pi": math.pi},
    power=("^",),
)


def tokenize(text: str, source: str | None = None) -> list[Token]:
    """Split QASM text into tokens; comments (``//`` to end of line) and whitespace are dropped."""
    return _qasm.tokenize(text, source, DIALECT)


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


_X = GATES["x"].matrix(xp=np)
_SX = GATES["sx"].matrix(xp=np)


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
    **{name: _gate(g.name) for g in GATES.values() for name in g.qasm2},
    "u0": _gate("id", keep=0),
    "cu3": _matrix(lambda t, p, lam: controlled(u3(t, p, lam, xp=np), xp=np)),
    "cu": _matrix(_qasm.cu),
    "csx": _matrix(lambda: controlled(_SX, xp=np)),
    "c3x": _matrix(lambda: controlled(_X, 3, xp=np)),
    "c3sqrtx": _matrix(lambda: controlled(_SX, 3, xp=np)),
    "c4x": _matrix(lambda: controlled(_X, 4, xp=np)),
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
      measurements: (wire, classical bit) pairs in program order.

    A program whose measurements all come after the last op on their qubit reads as before:
    ``circuit`` holds its gates, ``measurements`` the readout. A dynamic one (a measured qubit
    used again, or ``if(c==k)``) keeps its ``measure`` ops in ``circuit``, with ``reset`` and
    conditioned ops: run it with ``lretjax.classical.run``.
    """

    circuit: Circuit
    qregs: dict[str, tuple[int, int]]
    cregs: dict[str, tuple[int, int]]
    measurements: tuple[tuple[int, int], ...]


class _Parser(_qasm.Cursor):
    dialect = DIALECT

    def __init__(self, text: str, source: str | None):
        super().__init__(text, source)
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
        cregs = [(k, s) for k, (_, s, _) in self.cregs.items()]
        try:
            circuit = Circuit(self.num_qubits, self.ops, cregs=cregs)
            if not is_mid_circuit(circuit.ops):  # every measurement at the end: read as before
                circuit = Circuit(self.num_qubits, [o for o in circuit.ops if o.kind != MEASURE], cregs=cregs)
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
            self.reset()
        elif kw == "if":
            self.if_stmt()
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
                for nm in _qasm.names(e):
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
            self.ops.append(Op(MEASURE, (q,), (), MEASURE, checked=True, clbits=(c,)))

    def reset(self) -> None:
        self.next()
        _, qs, _ = self.argument()
        self.expect(";")
        for q in qs:
            self.ops.append(("reset", [q], []))

    def if_stmt(self) -> None:
        """``if(creg==k) qop;``: the op acts when the whole register reads k (bit 0 lowest)."""
        self.next()
        self.expect("(", "'(' after if")
        name = self.expect_kind(ID, "a classical register")
        if name.text not in self.cregs:
            what = "a quantum register" if name.text in self.qregs else "an undeclared register"
            raise self.err(f"if: {name.text!r} is {what} (undeclared register {name.text!r}); "
                           "expected a classical register", name)
        if self.at("["):
            raise self.err("if: OpenQASM 2 compares a whole register (if(c==k)), not one bit", self.tok)
        self.expect("==", "'=='")
        value, vt = self.expect_int("a register value")
        self.expect(")", "')'")
        off, size, _ = self.cregs[name.text]
        if value >= 2**size:
            raise self.err(f"if: value {value} does not fit register {name.text!r} of {size} bit(s)", vt)
        cond = Condition(tuple(range(off, off + size)), value)
        t = self.tok
        if t.kind == ID and t.text in ("measure", "if", "qreg", "creg", "gate", "opaque", "include",
                                       "barrier", "OPENQASM"):
            raise self.err(f"'{t.text}' inside if(...) is not supported (a conditioned gate or reset is)", t)
        start = len(self.ops)
        if t.kind == ID and t.text == "reset":
            self.reset()
        else:
            self.gate_call()
        for i in range(start, len(self.ops)):
            o = self.ops[i]
            o = Circuit(self.num_qubits, [o]).ops[0] if not isinstance(o, Op) else o
            self.ops[i] = _replace(o, condition=cond, checked=False)

    # -- expressions ----------------------------------------------------------------------------

    def eval(self, e, env: dict[str, float], site: Token, inside: GateDef | None = None) -> float:
        """Value of an expression. At the top level a failure points at the operator; inside an
        expanded definition it points at the call site and names the definition."""

        def lookup(name: Name) -> float:
            if name.name not in env:
                raise _qasm.EvalFailure(f"unknown parameter {name.name!r} (outside a gate body only numbers, "
                                        "pi and sin, cos, tan, exp, ln, sqrt may appear)", name.tok)
            return env[name.name]

        where = None
        if inside is not None:
            where = (inside.name, "qelib1.inc" if inside.library else f"line {inside.tok.line}")
        return self.value(e, lookup, site, where)


def parse(text: str, source: str | None = None) -> Program:
    """Parse an OpenQASM 2.0 program into a :class:`Program` (circuit, registers, measurements)."""
    return _qasm.parse_guarded(lambda: _Parser(text, source).parse_program(), text, source)


def loads(text: str, source: str | None = None) -> Circuit:
    """Read an OpenQASM 2.0 program from a string; ``source`` names it in error messages."""
    return parse(text, source).circuit


def load(path: str | os.PathLike) -> Circuit:
    """Read an OpenQASM 2.0 file."""
    path = os.fspath(path)
    return loads(_qasm.read_text(path), source=path)


# --------------------------------------------------------------------------------------------
# The writer
# --------------------------------------------------------------------------------------------

# lretjax gate -> qelib1 gate with the same matrix up to a global phase and the same parameter
# order (from the gate specs). Gates with none are defined at the top of the file
# (``_qasm.DEFINITIONS``) or written as exact qelib1 gates.
_WRITE_NAMES = {g.name: g.qasm2[0] for g in GATES.values() if g.qasm2}


def _number(v: float) -> str:
    s = repr(v)
    if "e" in s and "." not in s:  # QASM 2 reals need a decimal point before the exponent
        s = s.replace("e", ".0e")
    return s


_WRITER = _qasm.Writer(
    dialect="OpenQASM 2",
    names=_WRITE_NAMES,
    header=("OPENQASM 2.0;", 'include "qelib1.inc";'),
    register="qreg q[{n}];",
    param_sep=",",
    symbols=False,
    number=_number,
)


def dumps(circuit: Circuit, *, skip_channels: bool = False) -> str:
    """Write a circuit as an OpenQASM 2.0 program (qelib1 gates; one ``qreg q[n]``).

    Gates with no qelib1 name (iswap, ryy, ecr) get a ``gate`` definition at the top; user
    unitaries are decomposed into qelib1 gates (exact up to a global phase). Channels have no
    QASM 2 form: they raise CircuitError unless ``skip_channels=True`` drops them.
    """
    return _WRITER.dumps(circuit, skip_channels=skip_channels)


def dump(circuit: Circuit, path: str | os.PathLike, *, skip_channels: bool = False) -> None:
    """Write a circuit to an OpenQASM 2.0 file."""
    _WRITER.dump(circuit, os.fspath(path), skip_channels=skip_channels)
