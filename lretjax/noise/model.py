"""NoiseModel: rules that say which channels follow which gates, as data plus one pure ``apply``.

    >>> from lretjax import Circuit
    >>> from lretjax.noise import NoiseModel
    >>> model = (NoiseModel()
    ...          .gate_noise("depolarizing", 0.001)                   # after every gate, each of its wires
    ...          .gate_noise("depolarizing2", 0.01, gates="cx")       # after every CX, on its pair
    ...          .idle_noise("phase_damping", 1e-4)                   # wires idle in a moment
    ...          .readout_error(0.02, 0.05))                          # P(1|0), P(0|1) on every wire
    >>> noisy = model.apply(Circuit(2).h(0).cx(0, 1))                 # an ordinary Circuit

``apply`` is an IR transform: the noisy circuit can be printed, compared and compiled, and noise
strengths may be traced values, so ``jax.grad`` reaches them. Readout error is classical
post-processing, applied to probabilities or samples with ``readout_probabilities`` /
``readout_samples``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..channels import CHANNELS, channel_canonical_name, check_kraus
from ..circuit import MEASURE, Circuit, Op
from ..errors import NoiseError
from ..gates import GATES, canonical_name
from . import qiskit
from .readout import apply_readout, check_confusion, confusion_matrix, readout_samples
from .rules import KRAUS, NAMED_OPS, GateNoise, IdleNoise, _concrete, is_named_op


@dataclass(frozen=True, eq=False)
class NoiseModel:
    """Noise as data: gate rules, idle rules and readout errors. Immutable; builders return new models.

    Attributes:
      gate_rules: ``GateNoise`` rules, applied in order after each matching gate.
      idle_rules: ``IdleNoise`` rules for wires untouched in a moment.
      readout: ``(wire or None, 2x2 confusion matrix)`` pairs; ``None`` is the default for every
        wire, a specific wire overrides it.
      num_wires: if set (models from a backend), circuits must have exactly this many wires.
      skipped: instruction names of an imported model that no lretjax circuit can contain
        (``reset``, ``delay``, ...), listed so nothing is dropped silently.
      source: where the model came from, for the repr.
    """

    gate_rules: tuple[GateNoise, ...] = ()
    idle_rules: tuple[IdleNoise, ...] = ()
    readout: tuple[tuple[int | None, Any], ...] = ()
    num_wires: int | None = None
    skipped: tuple[str, ...] = ()
    source: str = ""

    # -- building ---------------------------------------------------------------------------------

    def gate_noise(self, channel, *params, gates=None, wires=None, gate_wires=None) -> NoiseModel:
        """A model with one more rule: ``channel(*params)`` after every gate in ``gates``.

        Args:
          channel: a channel name (``"depolarizing"``, ``"thermal_relaxation"``, ...) or a list
            of Kraus matrices.
          params: the channel's parameters (numbers or traced arrays).
          gates: a gate name or names; ``None`` for every gate. ``"reset"`` puts the channel after
            each reset, ``"measure"`` before each measurement (a ``measure`` op of the circuit).
          wires: limit the channel to these wires (by-wire noise).
          gate_wires: only the gate instance on exactly these wires, in order.
        """
        channel, params = _check_channel(channel, params)
        names = _check_gates(gates, channel, params, gate_wires)
        rule = GateNoise(
            channel, params, names,
            None if gate_wires is None else _wire_tuple(gate_wires, "gate_wires"),
            None if wires is None else frozenset(_wire_tuple(wires, "wires")),
        )
        return dataclasses.replace(self, gate_rules=self.gate_rules + (rule,))

    def idle_noise(self, channel, *params, wires=None) -> NoiseModel:
        """A model that puts a one-wire ``channel(*params)`` on each wire idle in a moment.

        Moments are the as-soon-as-possible layers of the circuit's operations.
        """
        channel, params = _check_channel(channel, params)
        k = GateNoise(channel, params).channel_wires
        if k != 1:
            raise NoiseError(f"idle noise must be a one-wire channel, {channel!r} acts on {k} wires")
        rule = IdleNoise(channel, params, None if wires is None else frozenset(_wire_tuple(wires, "wires")))
        return dataclasses.replace(self, idle_rules=self.idle_rules + (rule,))

    def readout_error(self, p01=None, p10=None, *, matrix=None, wires=None) -> NoiseModel:
        """A model with a readout error: P(read 1 | 0) = p01, P(read 0 | 1) = p10, or a 2x2 ``matrix``.

        ``wires=None`` sets the default for every wire; listed wires override it.
        """
        if matrix is not None:
            if p01 is not None or p10 is not None:
                raise NoiseError("readout_error: give either p01/p10 or matrix, not both")
            a = matrix if not _concrete(matrix) else check_confusion(matrix)
        else:
            if p01 is None:
                raise NoiseError("readout_error: give p01 (and p10) or matrix")
            a = confusion_matrix(p01, p01 if p10 is None else p10)
        targets = [None] if wires is None else list(_wire_tuple(wires, "wires"))
        entries = tuple((w, a) for w in targets)
        kept = tuple(e for e in self.readout if e[0] not in targets)
        return dataclasses.replace(self, readout=kept + entries)

    def __add__(self, other: NoiseModel) -> NoiseModel:
        """Both models' rules, this one's first; readout errors compose (this one's, then other's)."""
        if not isinstance(other, NoiseModel):
            return NotImplemented
        if self.num_wires is not None and other.num_wires is not None and self.num_wires != other.num_wires:
            raise NoiseError(
                f"cannot compose a noise model for {self.num_wires} wires with one for {other.num_wires}"
            )
        readout = _compose_readout(self.readout, other.readout)
        return NoiseModel(
            self.gate_rules + other.gate_rules,
            self.idle_rules + other.idle_rules,
            readout,
            self.num_wires if self.num_wires is not None else other.num_wires,
            tuple(dict.fromkeys(self.skipped + other.skipped)),
            " + ".join(s for s in (self.source, other.source) if s),
        )

    # -- importing --------------------------------------------------------------------------------

    @classmethod
    def from_qiskit_dict(cls, noise_dict, *, qubits: Sequence[int] | None = None) -> NoiseModel:
        """A model from Qiskit Aer's ``NoiseModel.to_dict()`` (plain or ``serializable=True``).

        Works without Qiskit installed. ``qubits`` picks physical qubits: ``qubits[i]`` becomes
        wire i, errors touching other qubits are dropped, and circuits must then have
        ``len(qubits)`` wires.
        """
        return cls._from_parts(qiskit.parts_from_dict(noise_dict, qubits=qubits))

    @classmethod
    def from_qiskit(cls, aer_noise_model, *, qubits: Sequence[int] | None = None) -> NoiseModel:
        """A model from a ``qiskit_aer.noise.NoiseModel`` (needs ``lretjax[qiskit]``)."""
        return cls._from_parts(qiskit.parts_from_aer(aer_noise_model, qubits=qubits))

    @classmethod
    def from_backend(cls, backend, *, qubits: Sequence[int] | None = None, **options) -> NoiseModel:
        """Device noise of a Qiskit backend (e.g. ``qiskit_ibm_runtime.fake_provider.FakeTorino()``).

        Built with ``qiskit_aer.noise.NoiseModel.from_backend(backend, **options)``: thermal
        relaxation and depolarizing errors per gate and qubit, readout errors per qubit.
        ``qubits`` selects physical qubits as in ``from_qiskit_dict``; without it the model is
        for all of the backend's qubits.
        """
        return cls._from_parts(qiskit.parts_from_backend(backend, qubits=qubits, **options))

    @classmethod
    def _from_parts(cls, parts: qiskit.QiskitNoise) -> NoiseModel:
        return cls(parts.gate_rules, (), parts.readout, parts.num_wires, parts.skipped, parts.source)

    # -- using ------------------------------------------------------------------------------------

    def apply(self, circuit):
        """The circuit with this model's channels inserted (a new ``Circuit``; pure).

        In a dynamic circuit, the channels after a classically conditioned op carry its
        condition (they happen only when it acts), and each measurement takes this model's
        readout error of its wire as its confusion matrix, so conditions see the bits as read.
        """
        if not isinstance(circuit, Circuit):
            raise NoiseError(f"NoiseModel.apply expects a lretjax.Circuit, got {type(circuit).__name__}")
        n = circuit.num_wires
        self._check_width(n, "circuit")
        out: list = []
        index = self._rules_by_gate()
        if not self.idle_rules:
            for op in circuit.ops:
                self._with_noise(index, op, n, out)
            return Circuit(n, out, cregs=circuit.cregs)
        for moment in _moments(circuit.ops, n):
            touched: set[int] = set()
            for op in moment:
                self._with_noise(index, op, n, out)
                touched.update(op.wires)
            for w in range(n):
                if w in touched:
                    continue
                for rule in self.idle_rules:
                    if rule.wires is None or w in rule.wires:
                        out.append(_make_op(rule.channel, (w,), rule.params))
        return Circuit(n, out, cregs=circuit.cregs)

    def _with_noise(self, index: dict, op, n: int, out: list) -> None:
        """Append ``op`` with its channels: before a measurement (where Aer applies its quantum
        errors on ``measure``), after anything else."""
        noise = _noise_at(index, op, n)
        if op.kind == MEASURE:
            out.extend(noise)
            out.append(self._measured(op))
        else:
            out.append(op)
            out.extend(noise)

    def _measured(self, op):
        """A measurement with this model's readout error of its wire (composed after its own)."""
        if op.kind != MEASURE or not self.readout:
            return op
        table = dict(self.readout)
        a = table.get(op.wires[0], table.get(None))
        if a is None:
            return op
        a = jnp.asarray(a, dtype=float)
        if op.params:
            a = jnp.matmul(jnp.asarray(op.params[0], dtype=float), a)
        if _concrete(a):
            a = np.asarray(a)
        return dataclasses.replace(op, params=(a,))

    def _rules_by_gate(self) -> dict:
        """Rules that can match each gate name (key None: rules for every gate), in model order."""
        names = {g for r in self.gate_rules if r.gates is not None for g in r.gates}
        index = {g: [r for r in self.gate_rules if r.gates is None or g in r.gates] for g in names}
        index[None] = [r for r in self.gate_rules if r.gates is None]
        return index

    @property
    def has_measure_noise(self) -> bool:
        """Whether a rule puts a channel before measurements (Aer's quantum errors on ``measure``)."""
        return any(r.gates is not None and MEASURE in r.gates for r in self.gate_rules)

    def _check_readout_only(self, what: str) -> None:
        if self.has_measure_noise:
            raise NoiseError(
                f"{what}: this model has quantum errors before measurement, which act on the state, not "
                "on the read-out bits; end the circuit with measure ops (Circuit.measure, qml.measure) "
                "so NoiseModel.apply puts them before each measurement")

    def readout_confusion(self, wires: Sequence[int]) -> jax.Array:
        """The (k, 2, 2) confusion matrices of ``wires`` (identity where no readout error is set)."""
        table = {w: a for w, a in self.readout}
        default = table.get(None, np.eye(2))
        mats = [jnp.asarray(table.get(int(w), default), dtype=float) for w in wires]
        return jnp.stack(mats) if mats else jnp.zeros((0, 2, 2))

    def readout_probabilities(self, probs, wires: Sequence[int] | None = None) -> jax.Array:
        """Probabilities as read out: ``probs`` over ``wires`` (default: all, first wire high bit)."""
        self._check_readout_only("readout_probabilities")
        probs = jnp.asarray(probs)
        if wires is None:
            k = int(round(math.log2(probs.shape[-1])))
            wires = range(k)
        wires = tuple(wires)
        if self.num_wires is not None:
            bad = [w for w in wires if w >= self.num_wires]
            if bad:
                raise NoiseError(f"readout: wires {bad} do not exist in this {self.num_wires}-wire model")
        return apply_readout(probs, self.readout_confusion(wires))

    def readout_samples(self, bits, key: jax.Array, wires: Sequence[int] | None = None) -> jax.Array:
        """Sampled bits (shots, k) as read out, with an explicit ``jax.random`` key."""
        self._check_readout_only("readout_samples")
        bits = jnp.asarray(bits)
        wires = tuple(range(bits.shape[1])) if wires is None else tuple(wires)
        return readout_samples(bits, self.readout_confusion(wires), key)

    def _check_width(self, n: int, what: str) -> None:
        if self.num_wires is not None and n != self.num_wires:
            src = f" ({self.source})" if self.source else ""
            raise NoiseError(
                f"qubit count mismatch: the noise model is for {self.num_wires} qubits{src} but the "
                f"{what} has {n} wires; pick the device qubits with from_backend(..., qubits=[...])"
            )

    # -- inspection -------------------------------------------------------------------------------

    def __repr__(self) -> str:
        head = "NoiseModel(" + ", ".join(
            x for x in (
                self.source and repr(self.source),
                self.num_wires is not None and f"num_wires={self.num_wires}",
            ) if x
        ) + ")"
        lines = [head]
        shown = self.gate_rules[:20]
        lines += [f"  {r!r}" for r in shown]
        if len(self.gate_rules) > len(shown):
            lines.append(f"  ... ({len(self.gate_rules) - len(shown)} more gate rules)")
        lines += [f"  {r!r}" for r in self.idle_rules]
        for w, a in self.readout[:20]:
            where = "every wire" if w is None else f"wire {w}"
            try:
                a = np.asarray(a)
                lines.append(f"  readout on {where}: P(1|0)={a[0, 1]:.4g}, P(0|1)={a[1, 0]:.4g}")
            except (TypeError, jax.errors.ConcretizationTypeError):
                lines.append(f"  readout on {where}: <traced>")
        if len(self.readout) > 20:
            lines.append(f"  ... ({len(self.readout) - 20} more readout errors)")
        if self.skipped:
            lines.append(f"  not applicable to lretjax circuits (skipped): {', '.join(self.skipped)}")
        return "\n".join(lines) if len(lines) > 1 else head


def _compose_readout(first, second):
    """Readout of ``first`` then ``second``: matrices multiply (true -> read -> read again)."""
    t1, t2 = dict(first), dict(second)
    keys = list(dict.fromkeys([k for k, _ in first] + [k for k, _ in second]))
    out = []
    for k in keys:
        a = t1.get(k, t1.get(None, np.eye(2)))
        b = t2.get(k, t2.get(None, np.eye(2)))
        out.append((k, jnp.matmul(jnp.asarray(a, dtype=float), jnp.asarray(b, dtype=float))))
    return tuple(out)


def _noise_at(index: dict, op, n: int) -> list:
    """The channels the rules put at ``op`` (after it; before it for a measurement)."""
    named = op.kind == "gate" or is_named_op(op)
    rules = index.get(op.name, index[None]) if named else index[None]
    out = []
    # Qiskit's rule: a per-qubit error for this gate replaces the all-qubit (fallback) one.
    specific = any(not r.fallback and r.gate_wires is not None and r.placements(op) for r in rules)
    for rule in rules:
        if rule.fallback and specific:
            continue
        for wires in rule.placements(op):
            if all(w < n for w in wires):
                noise = _make_op(rule.channel, wires, rule.params)
                if op.condition is not None:  # noise of a conditioned op happens when it acts
                    noise = dataclasses.replace(noise, condition=op.condition, checked=True)
                out.append(noise)
    return out


def _make_op(channel: str, wires: tuple[int, ...], params):
    if channel == KRAUS:
        return Op(KRAUS, tuple(wires), tuple(params), KRAUS)
    return Op(channel, tuple(wires), tuple(params), "channel")


def _moments(ops, n: int) -> list[list]:
    """As-soon-as-possible layers: each op goes one layer after the last op on any of its wires,
    after the last measurement writing a classical bit it reads (a condition) or writes, and
    after the last condition reading a bit it writes: a conditioned op never moves ahead of the
    measurement it reads, nor a measurement ahead of a condition reading the bit's old value."""
    depth = [0] * n
    written: dict[int, int] = {}  # bit -> one layer after its last measurement
    read: dict[int, int] = {}  # bit -> one layer after its last condition
    layers: list[list] = []
    for op in ops:
        reads = op.condition.bits if op.condition is not None else ()
        writes = op.clbits
        d = max([depth[w] for w in op.wires] + [written.get(b, 0) for b in reads + writes]
                + [read.get(b, 0) for b in writes], default=0)
        if d == len(layers):
            layers.append([])
        layers[d].append(op)
        for w in op.wires:
            depth[w] = d + 1
        for b in writes:
            written[b] = d + 1
        for b in reads:
            read[b] = max(read.get(b, 0), d + 1)
    return layers


def _wire_tuple(wires, what: str) -> tuple[int, ...]:
    if isinstance(wires, (int, np.integer)):
        wires = (wires,)
    try:
        ws = tuple(wires)
    except TypeError:
        raise NoiseError(f"{what} must be a wire or a list of wires, got {wires!r}") from None
    for w in ws:
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 0:
            raise NoiseError(f"{what}: {w!r} is not a wire (a non-negative integer)")
    if len(set(ws)) != len(ws):
        raise NoiseError(f"{what}: repeated wire in {list(ws)}")
    return tuple(int(w) for w in ws)


def _check_channel(channel, params) -> tuple[str, tuple]:
    """Canonical channel name and checked parameters (NoiseError naming the problem)."""
    if not isinstance(channel, str):
        if params:
            raise NoiseError("a Kraus-set rule takes no parameters besides the matrices")
        if _concrete(channel):
            channel = check_kraus(channel, name="noise rule Kraus set")
        return KRAUS, (channel,)
    name = channel_canonical_name(channel)
    if name not in CHANNELS:
        known = ", ".join(sorted(CHANNELS))
        raise NoiseError(f"unknown channel {channel!r}; known channels: {known}")
    spec = CHANNELS[name]
    if len(params) != spec.num_params:
        raise NoiseError(f"{name}: takes {spec.num_params} parameter(s), got {len(params)}")
    for i, p in enumerate(params):
        if not _concrete(p):
            continue
        try:
            v = float(p)
        except (TypeError, ValueError):
            raise NoiseError(f"{name}: parameter {i} is not a real number: {p!r}") from None
        lo, hi = spec.param_ranges[i] if spec.param_ranges else (-np.inf, np.inf)
        if not (lo <= v <= hi):
            raise NoiseError(f"{name}: parameter {i} = {v:g} is outside [{lo:g}, {hi:g}]")
    if spec.check is not None and all(map(_concrete, params)):
        spec.check(*params)
    return name, tuple(params)


def _check_gates(gates, channel: str, params, gate_wires) -> tuple[str, ...] | None:
    """Canonical gate names of a rule; NoiseError for an unknown gate or a width mismatch."""
    if gates is None:
        return None
    if isinstance(gates, str):
        names: Iterable = (gates,)
    elif isinstance(gates, (list, tuple, set, frozenset)):
        names = gates
    else:
        raise NoiseError(f"gates must be a gate name or a list of names, got {gates!r}")
    out = []
    k = GateNoise(channel, params).channel_wires
    for g in names:
        if not isinstance(g, str):
            raise NoiseError(f"gate names must be strings, got {g!r}")
        key = canonical_name(g)
        if key not in GATES and key not in NAMED_OPS:
            raise NoiseError(
                f"noise rule names gate {g!r}, which does not exist; known gates: {', '.join(sorted(GATES))} "
                f"(and {', '.join(NAMED_OPS)})"
            )
        width = NAMED_OPS[key] if key in NAMED_OPS else GATES[key].num_wires
        if k != 1 and k != width:
            raise NoiseError(f"{channel} acts on {k} wires and cannot follow the {width}-wire gate {g!r}")
        if gate_wires is not None and len(tuple(np.atleast_1d(gate_wires))) != width:
            gw = list(np.atleast_1d(gate_wires))
            raise NoiseError(f"gate_wires {gw} do not fit the {width}-wire gate {g!r}")
        out.append(key)
    if not out:
        raise NoiseError("gates is empty: give gate names, or None for every gate")
    return tuple(dict.fromkeys(out))
