"""The circuit IR: an immutable pytree whose structure is static and whose parameter values are leaves.

Gate names, wires and symbolic parameter slots live in the treedef, so ``jax.jit`` compiles a
circuit once per structure and ``jax.grad`` flows into every numeric parameter, including
noise strengths and user matrices.

    >>> from lretjax import Circuit, Param
    >>> theta = Param("theta")
    >>> c = Circuit(3).h(0).cx(0, 1).rx(theta, 2).depolarizing(0.01, 2)
    >>> c.parameters
    ('theta',)
    >>> bound = c.bind([0.3])
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .channels import CHANNELS, channel_canonical_name, check_kraus
from .errors import ChannelParameterError, CircuitError, ClassicalError, NotUnitaryError, ParameterError
from .gates import GATES, canonical_name, gate_spec


@dataclass(frozen=True)
class Param:
    """A symbolic parameter ``coeff * <name> + offset``, bound later with ``Circuit.bind``.

    Affine expressions (``2 * theta``, ``theta / 2 + 0.1``, ``-theta``) stay symbolic, so one
    name can drive several slots (QAOA layers, tied rotations).
    """

    name: str
    coeff: float = 1.0
    offset: float = 0.0

    def resolve(self, value):
        if self.coeff == 1.0 and self.offset == 0.0:
            return value
        return self.coeff * value + self.offset

    def _affine(self, a: float, b: float) -> Param:
        return Param(self.name, self.coeff * a, self.offset * a + b)

    def __mul__(self, k):
        if not isinstance(k, numbers.Real):
            return NotImplemented
        return self._affine(float(k), 0.0)

    __rmul__ = __mul__

    def __truediv__(self, k):
        if not isinstance(k, numbers.Real):
            return NotImplemented
        return self._affine(1.0 / float(k), 0.0)

    def __add__(self, k):
        if not isinstance(k, numbers.Real):
            return NotImplemented
        return self._affine(1.0, float(k))

    __radd__ = __add__

    def __sub__(self, k):
        if not isinstance(k, numbers.Real):
            return NotImplemented
        return self._affine(1.0, -float(k))

    def __rsub__(self, k):
        if not isinstance(k, numbers.Real):
            return NotImplemented
        return self._affine(-1.0, float(k))

    def __neg__(self):
        return self._affine(-1.0, 0.0)

    def __repr__(self) -> str:
        s = self.name if self.coeff == 1.0 else f"{self.coeff:g}*{self.name}"
        return s if self.offset == 0.0 else f"{s}{self.offset:+g}"


GATE, CHANNEL, UNITARY, KRAUS = "gate", "channel", "unitary", "kraus"
# A measurement writing a classical bit (dynamic circuits; ``lretjax.dynamic.lower`` turns it
# into ops the engine runs).
MEASURE = "measure"


@dataclass(frozen=True)
class Condition:
    """When a conditioned op acts: the classical ``bits`` read as an unsigned integer (``bits[0]``
    the least significant, as in OpenQASM and Qiskit) equal ``value`` (or differ, ``equal=False``).

    A condition on one bit is ``Condition((b,), 1)``; on a register, its bits in order.
    """

    bits: tuple[int, ...]
    value: int
    equal: bool = True

    def __repr__(self) -> str:
        bits = ",".join(map(str, self.bits))
        return f"c[{bits}]{'==' if self.equal else '!='}{self.value}"


@dataclass(frozen=True)
class Op:
    """One instruction: a gate, a channel, a user unitary or a user Kraus set, on named wires.

    ``params`` holds numbers, JAX arrays (leaves of the circuit pytree) or ``Param`` symbols.
    For ``unitary`` the single parameter is the matrix; for ``kraus`` it is the stacked
    (m, d, d) Kraus operators.

    ``checked`` says the op passed a Circuit's input checks (the builders set it), so a circuit
    rebuilt from it (``bind``, unflattening, ``Circuit(n, other.ops)``) does not check it again.
    It takes no part in comparisons.

    Dynamic circuits add two static fields: a ``measure`` op (kind ``MEASURE``) writes the
    outcome of its wire to the classical bit ``clbits[0]`` (its optional parameter is a 2x2
    readout confusion matrix ``C[true, read]``); any gate or channel may carry a ``condition``
    on classical bits. Such ops are lowered (``lretjax.dynamic.lower``) before the engine runs.
    """

    name: str
    wires: tuple[int, ...]
    params: tuple[Any, ...] = ()
    kind: str = GATE
    checked: bool = field(default=False, compare=False, repr=False, kw_only=True)
    clbits: tuple[int, ...] = field(default=(), kw_only=True)
    condition: Condition | None = field(default=None, kw_only=True)

    @property
    def is_channel(self) -> bool:
        return self.kind in (CHANNEL, KRAUS)

    @property
    def is_dynamic(self) -> bool:
        """A measurement or a classically conditioned op: the engine runs it only once lowered."""
        return self.kind == MEASURE or self.condition is not None

    def _refuse_dynamic(self):
        raise ClassicalError(
            f"op {self!r} is a {'measurement' if self.kind == MEASURE else 'classically conditioned op'}: "
            "lretjax.simulate runs static circuits; run dynamic ones with lretjax.classical.run "
            "(or lower them first with lretjax.dynamic.lower)")

    @property
    def num_kraus(self) -> int:
        """Factor by which this op multiplies the rank (1 for unitaries)."""
        if self.is_dynamic:
            self._refuse_dynamic()
        if self.kind == CHANNEL:
            return CHANNELS[self.name].num_kraus
        if self.kind == KRAUS:
            return int(np.shape(self.params[0])[0])
        return 1

    def matrix(self) -> jnp.ndarray:
        """The unitary of a gate or user-unitary op (its condition, if any, not included)."""
        if self.kind == MEASURE:
            self._refuse_dynamic()
        if self.kind == GATE:
            return GATES[self.name].matrix(*self.params)
        if self.kind == UNITARY:
            return jnp.asarray(self.params[0], dtype=jnp.result_type(complex))
        raise CircuitError(f"op {self.name!r} is a channel, not a unitary")

    def kraus(self) -> jnp.ndarray:
        """The stacked (m, d, d) Kraus operators (a unitary is the set of one)."""
        if self.kind == CHANNEL:
            return CHANNELS[self.name].kraus(*self.params)
        if self.kind == KRAUS:
            return jnp.asarray(self.params[0], dtype=jnp.result_type(complex))
        return self.matrix()[None]

    def __repr__(self) -> str:
        if self.kind == MEASURE:
            return f"measure{list(self.wires)}->c{list(self.clbits)}"
        if self.kind in (UNITARY, KRAUS):
            base = f"{self.name}{list(self.wires)}"
        else:
            ps = ", ".join(_fmt_param(p) for p in self.params)
            base = f"{self.name}({ps}){list(self.wires)}" if ps else f"{self.name}{list(self.wires)}"
        return base if self.condition is None else f"if({self.condition!r}) {base}"


def _fmt_param(p) -> str:
    if isinstance(p, Param):
        return repr(p)
    try:
        return f"{float(p):.6g}"
    except (TypeError, jax.errors.ConcretizationTypeError):
        return "<traced>"


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def concrete_value(p, where: str, action: str = "write") -> float:
    """A bound parameter as a finite float, for writers and converters; CircuitError naming
    ``where`` if it is traced (writing happens outside jit) or not finite."""
    try:
        v = float(p)
    except Exception:
        raise CircuitError(f"cannot {action} {where}: parameter {p!r} is not a concrete number "
                           f"({action} outside jit)") from None
    if not math.isfinite(v):
        raise CircuitError(f"cannot {action} {where}: parameter {v} is not finite")
    return v


def _check_wires(wires, expected: int, num_wires: int, name: str) -> tuple[int, ...]:
    if isinstance(wires, (int, np.integer)):
        wires = (wires,)
    wires = tuple(wires)
    for w in wires:
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)):
            raise CircuitError(f"{name}: wire {w!r} is not an integer")
        if not 0 <= w < num_wires:
            raise CircuitError(
                f"{name}: wire {w} is out of range for a circuit of {num_wires} wires "
                f"(valid: 0..{num_wires - 1})"
            )
    if len(wires) != expected:
        raise CircuitError(f"{name}: acts on {expected} wire(s), got {len(wires)}: {list(wires)}")
    if len(set(wires)) != len(wires):
        raise CircuitError(f"{name}: repeated wire in {list(wires)}")
    return tuple(int(w) for w in wires)


def _wire_list(wires) -> list:
    """Wires as a plain list for messages, whatever the user passed (checked later)."""
    if isinstance(wires, (int, np.integer)):
        return [int(wires)]
    try:
        return [int(w) if isinstance(w, (int, np.integer)) else w for w in wires]
    except TypeError:
        return [wires]


def real_value_problem(x, *, scalar: bool = True) -> str | None:
    """Why ``x`` is not a finite real number (or array of them, when not ``scalar``), or None.

    Traced values pass: they are checked where they become concrete. One rule for gate
    parameters, Pauli coefficients and parameter vectors, each caller raising its own error.
    """
    if not _is_concrete(x):
        return None
    if x is None or isinstance(x, (str, bytes)):
        return "is not a number"
    try:
        a = np.asarray(x)
    except Exception:
        return "is not a number"
    if not (np.issubdtype(a.dtype, np.number) or (not scalar and a.dtype == np.bool_)):
        return "is not a number"
    if scalar and a.shape != ():
        return "must be a real scalar"
    if np.iscomplexobj(a):
        return "must be real"
    if not np.all(np.isfinite(a)):
        return "is not finite"
    return None


def _check_param(p, name: str, index: int, lo: float | None = None, hi: float | None = None,
                 range_error: type[Exception] = CircuitError):
    if isinstance(p, Param):
        return p
    if isinstance(p, str):
        raise CircuitError(f"{name}: parameter {index} is a string {p!r}; use lretjax.Param({p!r})")
    problem = real_value_problem(p)
    if problem:
        raise CircuitError(f"{name}: parameter {index} {problem}: {p!r}")
    if lo is not None and _is_concrete(p) and not (lo <= float(p) <= hi):
        raise range_error(f"{name}: parameter {index} = {float(p):g} is outside [{lo:g}, {hi:g}]")
    return p


def check_unitary(u, *, name: str = "unitary", atol: float | None = None) -> np.ndarray:
    """Validate a user matrix as a unitary on a power-of-two dimension; return it as complex."""
    m = np.array(u, dtype=complex)  # a copy: later edits of the caller's array must not reach the circuit
    m.setflags(write=False)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise NotUnitaryError(f"{name}: expected a square matrix, got shape {m.shape}")
    d = m.shape[0]
    if d < 2 or d & (d - 1):
        raise NotUnitaryError(f"{name}: dimension {d} is not a power of two >= 2")
    if not np.all(np.isfinite(m)):
        raise NotUnitaryError(f"{name}: matrix contains NaN or inf")
    if atol is None:
        atol = 1e-5 if np.asarray(u).dtype in (np.complex64, np.float32) else 1e-8
    err = np.max(np.abs(m.conj().T @ m - np.eye(d)))
    if err > atol:
        raise NotUnitaryError(f"{name}: not unitary, max |U^dagger U - I| = {err:.3g} > {atol:g}")
    return m


@jax.tree_util.register_pytree_node_class
class Circuit:
    """An immutable quantum circuit on ``num_wires`` wires; builder methods return a new circuit.

    Wire 0 is the most significant bit of a basis index. Parameters may be numbers, JAX
    arrays (traced under jit/grad/vmap) or ``Param`` symbols bound later with ``bind``.

    ``cregs`` declares classical registers (name -> size, in order; their bits are numbered
    on in declaration order, as in OpenQASM) for dynamic circuits: ``measure`` writes a bit,
    ``c_if`` conditions an op on bits or a register value (see docs/dynamic.md).
    """

    __slots__ = ("num_wires", "ops", "cregs")

    def __init__(self, num_wires: int, ops: Iterable[Op | Sequence] = (), cregs=None):
        if isinstance(num_wires, bool) or not isinstance(num_wires, (int, np.integer)):
            raise CircuitError(f"num_wires must be an integer, got {num_wires!r}")
        if num_wires < 1:
            raise CircuitError(f"a circuit needs at least one wire, got num_wires={num_wires}")
        object.__setattr__(self, "num_wires", int(num_wires))
        object.__setattr__(self, "cregs", _check_cregs(cregs))
        built: list[Op] = []
        for op in ops:
            built.append(op if isinstance(op, Op) and op.checked else self._make_op(op))
        object.__setattr__(self, "ops", tuple(built))

    def __setattr__(self, *_):
        raise AttributeError("Circuit is immutable; builder methods return a new circuit")

    # -- construction ---------------------------------------------------------------------------

    def _make_op(self, op) -> Op:
        if isinstance(op, Op) and op.kind == MEASURE:
            return self._measure_op(op.wires, op.clbits, op.params)
        if isinstance(op, Op) and op.condition is not None:
            inner = self._make_op(replace(op, condition=None, checked=False))
            return self._conditioned(inner, op.condition)
        if isinstance(op, Op):
            name, wires, params = op.name, op.wires, op.params
            if op.kind == UNITARY:
                return self._unitary_op(params[0], wires)
            if op.kind == KRAUS:
                return self._kraus_op(params[0], wires)
        elif isinstance(op, Mapping):
            name, wires, params = op["name"], op.get("wires", ()), tuple(op.get("params", ()))
        else:
            op = tuple(op)
            if not 2 <= len(op) <= 3:
                raise CircuitError(f"an op is (name, wires) or (name, wires, params), got {op!r}")
            name, wires = op[0], op[1]
            params = tuple(op[2]) if len(op) == 3 else ()
        return self._named_op(name, wires, tuple(params))

    def _named_op(self, name: str, wires, params: tuple) -> Op:
        if not isinstance(name, str):
            raise CircuitError(f"op name must be a string, got {name!r}")
        key = canonical_name(name)
        if key in GATES:
            spec = GATES[key]
            kind, nw, npar, ranges = GATE, spec.num_wires, spec.num_params, None
        else:
            ckey = channel_canonical_name(name)
            if ckey not in CHANNELS:
                gate_spec(name)  # raises the unknown-gate error listing known names
            spec = CHANNELS[ckey]
            key, kind, nw, npar, ranges = ckey, CHANNEL, spec.num_wires, spec.num_params, spec.param_ranges
        label = f"{key}{list(wires) if not isinstance(wires, int) else [wires]}"
        wires = _check_wires(wires, nw, self.num_wires, label)
        if len(params) != npar:
            raise CircuitError(f"{label}: takes {npar} parameter(s), got {len(params)}")
        params = tuple(
            _check_param(
                p, label, i, *(ranges[i] if ranges else (None, None)), range_error=ChannelParameterError
            )
            for i, p in enumerate(params)
        )
        if kind == CHANNEL and any(isinstance(p, Param) for p in params):
            raise CircuitError(f"{label}: channel strengths must be numbers or arrays, not symbols")
        if kind == CHANNEL and spec.check is not None and all(map(_is_concrete, params)):
            spec.check(*params)
        return Op(key, wires, params, kind, checked=True)

    def _unitary_op(self, matrix, wires) -> Op:
        if _is_concrete(matrix):
            matrix = check_unitary(matrix, name=f"unitary on wires {_wire_list(wires)}")
        k = int(round(math.log2(np.shape(matrix)[0])))
        wires = _check_wires(wires, k, self.num_wires, f"unitary{_wire_list(wires)}")
        return Op("unitary", wires, (matrix,), UNITARY, checked=True)

    def _kraus_op(self, kraus, wires) -> Op:
        if _is_concrete(kraus):
            kraus = check_kraus(kraus, name=f"kraus on wires {_wire_list(wires)}")
        k = int(round(math.log2(np.shape(kraus)[-1])))
        wires = _check_wires(wires, k, self.num_wires, f"kraus{_wire_list(wires)}")
        return Op("kraus", wires, (kraus,), KRAUS, checked=True)

    def _append(self, op: Op) -> Circuit:
        return _from_trusted(self.num_wires, self.ops + (op,), self.cregs)

    # -- classical bits (dynamic circuits) --------------------------------------------------------

    @property
    def num_clbits(self) -> int:
        """Number of classical bits declared (all registers)."""
        return sum(size for _, size in self.cregs)

    def register_bits(self, name: str) -> tuple[int, ...]:
        """The bits of register ``name``, least significant first."""
        start = 0
        for reg, size in self.cregs:
            if reg == name:
                return tuple(range(start, start + size))
            start += size
        raise ClassicalError(f"no classical register {name!r} (declared: "
                             f"{[r for r, _ in self.cregs] or 'none'})")

    @property
    def is_dynamic(self) -> bool:
        """Whether the circuit measures into classical bits or conditions ops on them."""
        return any(op.is_dynamic for op in self.ops)

    def creg(self, name: str, size: int) -> Circuit:
        """Declare a classical register of ``size`` bits (numbered after those declared before)."""
        return _from_trusted(self.num_wires, self.ops, _check_cregs(self.cregs + ((name, size),)))

    def _bit(self, bit, label: str) -> int:
        if isinstance(bit, tuple) and len(bit) == 2 and isinstance(bit[0], str):
            regs = self.register_bits(bit[0])
            i = bit[1]
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= i < len(regs):
                raise ClassicalError(f"{label}: bit {bit!r} is out of range for register "
                                     f"{bit[0]!r} of {len(regs)} bit(s)")
            return regs[int(i)]
        if isinstance(bit, bool) or not isinstance(bit, (int, np.integer)):
            raise ClassicalError(f"{label}: a classical bit is an integer or (register, index), got {bit!r}")
        if not 0 <= bit < self.num_clbits:
            raise ClassicalError(f"{label}: classical bit {bit} is not declared (the circuit has "
                                 f"{self.num_clbits} bit(s); declare registers with cregs= or .creg)")
        return int(bit)

    def _measure_op(self, wires, clbits, params=()) -> Op:
        wl = _wire_list(wires)
        label = f"measure{wl}"
        wires = _check_wires(wires, 1, self.num_wires, label)
        if isinstance(clbits, (tuple, list)) and len(clbits) == 1 and not isinstance(clbits[0], str):
            clbits = clbits[0]
        bit = self._bit(clbits, f"{label}->{clbits!r}")
        params = tuple(params)
        if params:
            if len(params) != 1 or np.shape(params[0]) != (2, 2):
                raise ClassicalError(f"{label}: the optional parameter is a 2x2 readout confusion matrix")
        return Op(MEASURE, wires, params, MEASURE, checked=True, clbits=(bit,))

    def _condition(self, target, value, equal: bool, label: str) -> Condition:
        if isinstance(target, Condition):
            bits = tuple(self._bit(b, label) for b in target.bits)
            value, equal = target.value, target.equal
        elif isinstance(target, str):
            bits = self.register_bits(target) if self.cregs else ()
            if not bits:
                raise ClassicalError(f"{label}: condition on undeclared register {target!r}")
        elif isinstance(target, (list, tuple)) and not (len(target) == 2 and isinstance(target[0], str)):
            bits = tuple(self._bit(b, label) for b in target)
        else:
            bits = (self._bit(target, label),)
        if len(set(bits)) != len(bits) or not bits:
            raise ClassicalError(f"{label}: a condition needs distinct bits, got {list(bits)}")
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, (int, np.integer)) or not 0 <= value < 2 ** len(bits):
            raise ClassicalError(f"{label}: condition value {value!r} does not fit {len(bits)} bit(s)")
        return Condition(bits, int(value), bool(equal))

    def _conditioned(self, op: Op, condition) -> Op:
        label = f"c_if on {op!r}"
        if op.kind == MEASURE or op.condition is not None:
            raise ClassicalError(f"{label}: only gates and channels can be conditioned, once")
        cond = self._condition(condition, condition.value if isinstance(condition, Condition) else 0,
                               True, label)
        return replace(op, condition=cond, checked=True)

    def measure(self, wire, clbit) -> Circuit:
        """Measure ``wire`` in the computational basis into classical bit ``clbit`` (an index,
        or ``(register, index)``); the wire keeps its post-measurement state."""
        return self._append(self._measure_op(wire, clbit))

    def c_if(self, target, value, op, wires=None, *params, equal: bool = True) -> Circuit:
        """Append an op that acts only when classical ``target`` (a register name, a bit, or a
        sequence of bits, least significant first) reads ``value`` (``!=`` with ``equal=False``).

        ``op`` is a gate or channel name (then ``wires`` and ``params`` follow, as in ``add``)
        or an ``Op``: ``c.c_if("c", 1, "x", 2)``, ``c.c_if(("c", 0), 1, "rx", 0, 0.3)``.
        """
        inner = self._make_op(op) if isinstance(op, Op) else self._named_op(op, wires, params)
        label = f"c_if on {inner!r}"
        cond = self._condition(target, value, equal, label)
        return self._append(replace(inner, condition=cond, checked=True))

    def add(self, name: str, wires, *params) -> Circuit:
        """Append a gate or channel by name: ``c.add("crx", [0, 1], 0.3)``."""
        return self._append(self._named_op(name, wires, params))

    def unitary(self, matrix, wires) -> Circuit:
        """Append a user unitary on ``wires`` (checked unitary; first wire is the high bit)."""
        return self._append(self._unitary_op(matrix, wires))

    def kraus(self, operators, wires) -> Circuit:
        """Append a user channel given by Kraus operators (checked trace-preserving)."""
        return self._append(self._kraus_op(operators, wires))

    def compose(self, other: Circuit) -> Circuit:
        """This circuit followed by ``other`` (same number of wires)."""
        if other.num_wires != self.num_wires:
            raise CircuitError(
                f"cannot compose a {other.num_wires}-wire circuit after a {self.num_wires}-wire one"
            )
        if self.cregs and other.cregs and self.cregs != other.cregs:
            raise ClassicalError(f"cannot compose circuits with different classical registers "
                                 f"{list(self.cregs)} and {list(other.cregs)}")
        return _from_trusted(self.num_wires, self.ops + other.ops, self.cregs or other.cregs)

    __add__ = compose

    # -- parameters -------------------------------------------------------------------------------

    @property
    def parameters(self) -> tuple[str, ...]:
        """Names of the symbolic parameters, in order of first appearance."""
        seen: dict[str, None] = {}
        for op in self.ops:
            for p in op.params:
                if isinstance(p, Param):
                    seen.setdefault(p.name)
        return tuple(seen)

    @property
    def num_parameters(self) -> int:
        return len(self.parameters)

    def check_vector(self, values) -> None:
        """ParameterError unless ``values`` is a 1-D vector with one value per parameter."""
        names = self.parameters
        shape = np.shape(values)
        if len(shape) != 1:
            raise ParameterError(
                f"bind: expected a 1-D vector of {len(names)} values, got shape {shape}"
                " (to run a batch, jax.vmap over the vector)"
            )
        if shape[0] != len(names):
            raise ParameterError(
                f"bind: the circuit has {len(names)} parameter(s) {list(names)}, got {shape[0]} value(s)"
            )

    def check_bound(self) -> None:
        """ParameterError unless every symbol is bound (a run needs values: ``params=...``)."""
        if self.parameters:
            raise ParameterError(
                f"the circuit has unbound parameters {list(self.parameters)}; pass params=..."
            )

    def bind(self, values) -> Circuit:
        """Replace every symbol by its value: a sequence/array in ``parameters`` order, or a dict.

        Values may be traced, so ``jax.jit(lambda p: f(c.bind(p)))`` compiles once.
        """
        names = self.parameters
        if isinstance(values, Mapping):
            missing = [n for n in names if n not in values]
            extra = [k for k in values if k not in names]
            if missing or extra:
                problems = ([f"missing values for {missing}"] if missing else []) + (
                    [f"unknown parameter names {extra}"] if extra else []
                )
                raise ParameterError("bind: " + "; ".join(problems))
            table = dict(values)
        else:
            self.check_vector(values)
            table = {n: values[i] for i, n in enumerate(names)}
        ops = []
        for op in self.ops:
            if any(isinstance(p, Param) for p in op.params):
                params = tuple(p.resolve(table[p.name]) if isinstance(p, Param) else p for p in op.params)
                op = replace(op, params=params, checked=True)
            ops.append(_trusted(op))
        return _from_trusted(self.num_wires, tuple(ops), self.cregs)

    # -- pytree -----------------------------------------------------------------------------------

    def tree_flatten(self):
        leaves, struct = [], []
        for op in self.ops:
            slots = []
            for p in op.params:
                if isinstance(p, Param):
                    slots.append(p)
                else:
                    slots.append(None)
                    leaves.append(p)
            struct.append((op.name, op.wires, op.kind, tuple(slots), op.clbits, op.condition))
        return leaves, (self.num_wires, tuple(struct), self.cregs)

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        num_wires, struct, cregs = aux
        it = iter(leaves)
        ops = tuple(
            Op(name, wires, tuple(next(it) if s is None else s for s in slots), kind, checked=True,
               clbits=clbits, condition=cond)
            for name, wires, kind, slots, clbits, cond in struct
        )
        return _from_trusted(num_wires, ops, cregs)

    # -- inspection -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self):
        return iter(self.ops)

    def __repr__(self) -> str:
        body = ", ".join(repr(op) for op in self.ops[:12])
        more = f", ... ({len(self.ops) - 12} more)" if len(self.ops) > 12 else ""
        regs = f", cregs={dict(self.cregs)}" if self.cregs else ""
        return f"Circuit({self.num_wires}, [{body}{more}]{regs})"

    @property
    def num_channels(self) -> int:
        return sum(op.is_channel for op in self.ops)


def _trusted(op: Op) -> Op:
    """``op`` marked as checked (a new Op: ops are frozen), for builders that checked it."""
    return op if op.checked else replace(op, checked=True)


def _from_trusted(num_wires: int, ops: tuple[Op, ...], cregs: tuple[tuple[str, int], ...] = ()) -> Circuit:
    c = object.__new__(Circuit)
    object.__setattr__(c, "num_wires", num_wires)
    object.__setattr__(c, "ops", ops)
    object.__setattr__(c, "cregs", cregs)
    return c


def _check_cregs(cregs) -> tuple[tuple[str, int], ...]:
    """Classical registers as ((name, size), ...), checked: names distinct identifiers, sizes >= 1."""
    if cregs is None:
        return ()
    items = list(cregs.items()) if isinstance(cregs, Mapping) else list(cregs)
    out: list[tuple[str, int]] = []
    for item in items:
        try:
            name, size = item
        except (TypeError, ValueError):
            raise ClassicalError(f"a classical register is (name, size), got {item!r}") from None
        if not isinstance(name, str) or not name.isidentifier():
            raise ClassicalError(f"classical register name {name!r} is not an identifier")
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
            raise ClassicalError(f"classical register {name!r}: size must be a positive integer, "
                                 f"got {size!r}")
        if any(name == n for n, _ in out):
            raise ClassicalError(f"classical register {name!r} is declared twice")
        out.append((name, int(size)))
    return tuple(out)


def _gate_method(name: str):
    spec = GATES[name]

    def method(self: Circuit, *args) -> Circuit:
        n = spec.num_params
        if len(args) != n + spec.num_wires:
            raise CircuitError(
                f"{name}: expected {n} parameter(s) then {spec.num_wires} wire(s), got {len(args)} "
                f"argument(s) {args!r}"
            )
        return self._append(self._named_op(name, args[n:], args[:n]))

    sig = ", ".join([f"p{i}" for i in range(spec.num_params)] + [f"w{i}" for i in range(spec.num_wires)])
    method.__name__ = name
    method.__doc__ = f"Append {name.upper()}({sig}): parameters first, then wires."
    return method


def _channel_method(name: str):
    spec = CHANNELS[name]

    def method(self: Circuit, *args) -> Circuit:
        n = spec.num_params
        if len(args) != n + spec.num_wires:
            raise CircuitError(
                f"{name}: expected {n} parameter(s) then {spec.num_wires} wire(s), got {len(args)} "
                f"argument(s) {args!r}"
            )
        return self._append(self._named_op(name, args[n:], args[:n]))

    method.__name__ = name
    method.__doc__ = f"Append the {name} channel: parameters first, then wires."
    return method


for _name in GATES:
    setattr(Circuit, _name, _gate_method(_name))
for _name in ("u1", "u", "cnot", "toffoli", "cphase"):
    setattr(Circuit, _name, _gate_method(canonical_name(_name)))
for _name in CHANNELS:
    setattr(Circuit, _name, _channel_method(_name))
del _name

