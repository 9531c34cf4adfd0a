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
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .errors import ChannelParameterError, CircuitError, NotUnitaryError, ParameterError
from .gates import GATES, canonical_name, gate_spec
from .noise.channels import CHANNELS, channel_canonical_name, check_kraus


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


@dataclass(frozen=True)
class Op:
    """One instruction: a gate, a channel, a user unitary or a user Kraus set, on named wires.

    ``params`` holds numbers, JAX arrays (leaves of the circuit pytree) or ``Param`` symbols.
    For ``unitary`` the single parameter is the matrix; for ``kraus`` it is the stacked
    (m, d, d) Kraus operators.
    """

    name: str
    wires: tuple[int, ...]
    params: tuple[Any, ...] = ()
    kind: str = GATE

    @property
    def is_channel(self) -> bool:
        return self.kind in (CHANNEL, KRAUS)

    @property
    def num_kraus(self) -> int:
        """Factor by which this op multiplies the rank (1 for unitaries)."""
        if self.kind == CHANNEL:
            return CHANNELS[self.name].num_kraus
        if self.kind == KRAUS:
            return int(np.shape(self.params[0])[0])
        return 1

    def matrix(self) -> jnp.ndarray:
        """The unitary of a gate or user-unitary op."""
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
        if self.kind in (UNITARY, KRAUS):
            return f"{self.name}{list(self.wires)}"
        ps = ", ".join(_fmt_param(p) for p in self.params)
        return f"{self.name}({ps}){list(self.wires)}" if ps else f"{self.name}{list(self.wires)}"


def _fmt_param(p) -> str:
    if isinstance(p, Param):
        return repr(p)
    try:
        return f"{float(p):.6g}"
    except (TypeError, jax.errors.ConcretizationTypeError):
        return "<traced>"


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


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
    """

    __slots__ = ("num_wires", "ops")

    def __init__(self, num_wires: int, ops: Iterable[Op | Sequence] = ()):
        if isinstance(num_wires, bool) or not isinstance(num_wires, (int, np.integer)):
            raise CircuitError(f"num_wires must be an integer, got {num_wires!r}")
        if num_wires < 1:
            raise CircuitError(f"a circuit needs at least one wire, got num_wires={num_wires}")
        object.__setattr__(self, "num_wires", int(num_wires))
        built: list[Op] = []
        for op in ops:
            built.append(op if isinstance(op, Op) and _is_trusted(op) else self._make_op(op))
        object.__setattr__(self, "ops", tuple(built))

    def __setattr__(self, *_):
        raise AttributeError("Circuit is immutable; builder methods return a new circuit")

    # -- construction ---------------------------------------------------------------------------

    def _make_op(self, op) -> Op:
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
        return _trusted(Op(key, wires, params, kind))

    def _unitary_op(self, matrix, wires) -> Op:
        if _is_concrete(matrix):
            matrix = check_unitary(matrix, name=f"unitary on wires {_wire_list(wires)}")
        k = int(round(math.log2(np.shape(matrix)[0])))
        wires = _check_wires(wires, k, self.num_wires, f"unitary{_wire_list(wires)}")
        return _trusted(Op("unitary", wires, (matrix,), UNITARY))

    def _kraus_op(self, kraus, wires) -> Op:
        if _is_concrete(kraus):
            kraus = check_kraus(kraus, name=f"kraus on wires {_wire_list(wires)}")
        k = int(round(math.log2(np.shape(kraus)[-1])))
        wires = _check_wires(wires, k, self.num_wires, f"kraus{_wire_list(wires)}")
        return _trusted(Op("kraus", wires, (kraus,), KRAUS))

    def _append(self, op: Op) -> Circuit:
        return _from_trusted(self.num_wires, self.ops + (op,))

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
        return _from_trusted(self.num_wires, self.ops + other.ops)

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
                op = Op(op.name, op.wires, params, op.kind)
            ops.append(_trusted(op))
        return _from_trusted(self.num_wires, tuple(ops))

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
            struct.append((op.name, op.wires, op.kind, tuple(slots)))
        return leaves, (self.num_wires, tuple(struct))

    @classmethod
    def tree_unflatten(cls, aux, leaves):
        num_wires, struct = aux
        it = iter(leaves)
        ops = tuple(
            _trusted(Op(name, wires, tuple(next(it) if s is None else s for s in slots), kind))
            for name, wires, kind, slots in struct
        )
        return _from_trusted(num_wires, ops)

    # -- inspection -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.ops)

    def __iter__(self):
        return iter(self.ops)

    def __repr__(self) -> str:
        body = ", ".join(repr(op) for op in self.ops[:12])
        more = f", ... ({len(self.ops) - 12} more)" if len(self.ops) > 12 else ""
        return f"Circuit({self.num_wires}, [{body}{more}])"

    @property
    def num_channels(self) -> int:
        return sum(op.is_channel for op in self.ops)


# Ops built and checked by a Circuit are marked so rebuilding (bind, unflatten, compose)
# does not re-validate; the mark is the op's identity, so no state is shared between circuits.
_TRUSTED_ATTR = "_lretjax_checked"


def _trusted(op: Op) -> Op:
    object.__setattr__(op, _TRUSTED_ATTR, True)
    return op


def _is_trusted(op: Op) -> bool:
    return getattr(op, _TRUSTED_ATTR, False)


def _from_trusted(num_wires: int, ops: tuple[Op, ...]) -> Circuit:
    c = object.__new__(Circuit)
    object.__setattr__(c, "num_wires", num_wires)
    object.__setattr__(c, "ops", ops)
    return c


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

