"""The LRET JSON circuit format: read and write, so existing LRET circuit files run unchanged.

A file holds one circuit, the observables to measure and the simulation settings::

    {"circuit": {"num_qubits": 2,
                 "operations": [{"name": "H", "wires": [0]},
                                {"name": "CNOT", "wires": [0, 1]},
                                {"name": "RX", "wires": [1], "params": [0.3]},
                                {"name": "DEPOLARIZE", "wires": [1], "params": [0.01]}],
                 "observables": [{"type": "PAULI", "operator": "Z", "wires": [0]},
                                 {"type": "TENSOR", "operators": ["Z", "Z"], "wires": [0, 1]}]},
     "config": {"epsilon": 1e-4, "max_rank": 64, "shots": 1000}}

Gate and channel names are case-insensitive and go through lretjax's alias tables (``CNOT``,
``DEPOLARIZE``, ``U1``); ``wires`` may also be spelled ``qubits``. A parameter may be a number
or a symbol: ``"theta"`` or ``{"name": "theta", "coeff": 2, "offset": 0}`` (a
:class:`~lretjax.Param`, bound later). User matrices are ``{"name": "unitary", "wires": [...],
"matrix": M}`` and ``{"name": "kraus", "wires": [...], "kraus": [K1, K2]}`` with complex entries as
``[re, im]`` pairs (a real entry is read as real). ``measure`` and ``barrier`` are accepted and
skipped (lretjax measures at the end). Wire 0 is the most significant bit, as everywhere in
lretjax. Problems raise :class:`~lretjax.errors.CircuitError` naming the file and the entry.

    >>> from lretjax.io import json_format
    >>> prog = json_format.loads_program('{"circuit": {"num_qubits": 1, '
    ...     '"operations": [{"name": "X", "wires": [0]}]}, "config": {"epsilon": 0.001}}')
    >>> prog.circuit.ops[0].name, prog.config["epsilon"]
    ('x', 0.001)
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..circuit import CHANNEL, GATE, KRAUS, UNITARY, Circuit, Op, Param
from ..errors import CircuitError, LretError

__all__ = ["JsonProgram", "loads_program", "load_program", "loads", "load", "dumps", "dump",
           "observable_from_json"]

# Spellings of LRET files that are not gates (gate spellings are the gates' aliases).
_EXTRA_ALIASES = {"qubitunitary": "unitary"}
_SKIPPED = frozenset({"measure", "barrier", "measurement"})
_PAULI = frozenset("IXYZ")


@dataclass(frozen=True)
class JsonProgram:
    """A parsed LRET JSON file.

    Attributes:
      circuit: the circuit (wire 0 = most significant bit).
      observables: (label, observable) pairs; each observable is what ``lretjax.expval`` accepts.
      config: the ``config`` object as written (``epsilon``, ``max_rank``, ``shots``, ...).
    """

    circuit: Circuit
    observables: tuple[tuple[str, Any], ...] = ()
    config: dict = field(default_factory=dict)


def _err(where: str, msg: str) -> CircuitError:
    return CircuitError(f"{where}: {msg}")


def _complex_array(x, where: str, ndim: int) -> np.ndarray:
    """Complex array from nested lists with [re, im] pairs (or plain reals)."""
    try:
        a = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise _err(where, "matrix entries must be numbers or [re, im] pairs") from None
    if a.ndim == ndim + 1 and a.shape[-1] == 2:
        return a[..., 0] + 1j * a[..., 1]
    if a.ndim == ndim:
        return a.astype(complex)
    raise _err(where, f"expected a {ndim}-D matrix (complex entries as [re, im]), got shape {a.shape}")


def _param(p, where: str):
    if isinstance(p, bool):
        raise _err(where, f"parameter {p!r} is not a number")
    if isinstance(p, (int, float)):
        if not math.isfinite(p):
            raise _err(where, f"parameter {p!r} is not finite")
        return float(p)
    if isinstance(p, str):
        return Param(p)
    if isinstance(p, Mapping) and isinstance(p.get("name"), str):
        try:
            return Param(p["name"], float(p.get("coeff", 1.0)), float(p.get("offset", 0.0)))
        except (TypeError, ValueError):
            raise _err(where, f"bad symbolic parameter {dict(p)!r}") from None
    raise _err(where, f"parameter {p!r} is not a number, a symbol name or {{'name', 'coeff', 'offset'}}")


def _wires(entry: Mapping, where: str) -> list[int]:
    wires = entry.get("wires", entry.get("qubits"))
    if wires is None:
        raise _err(where, "missing 'wires'")
    if isinstance(wires, int) and not isinstance(wires, bool):
        wires = [wires]
    if not isinstance(wires, list) or not all(isinstance(w, int) and not isinstance(w, bool) for w in wires):
        raise _err(where, f"'wires' must be a list of integers, got {wires!r}")
    return wires


def _operation(entry, index: int, source: str) -> Op | tuple | None:
    where = f"{source}: circuit.operations[{index}]"
    if not isinstance(entry, Mapping):
        raise _err(where, f"expected an object {{'name', 'wires', 'params'}}, got {entry!r}")
    name = entry.get("name", entry.get("gate"))
    if not isinstance(name, str):
        raise _err(where, "missing 'name'")
    key = _EXTRA_ALIASES.get(name.lower(), name.lower())
    if key in _SKIPPED:
        return None
    wires = _wires(entry, where)
    if key == "unitary":
        return Op("unitary", tuple(wires), (_complex_array(entry.get("matrix"), where, 2),), UNITARY)
    if key == "kraus":
        return Op("kraus", tuple(wires), (_complex_array(entry.get("kraus"), where, 3),), KRAUS)
    params = entry.get("params", [])
    if not isinstance(params, list):
        params = [params]
    return (key, wires, [_param(p, f"{where} ({name})") for p in params])


def _pauli_string(letters: Sequence[str], wires: Sequence[int], n: int, where: str) -> str:
    if len(letters) != len(wires):
        raise _err(where, f"{len(letters)} operator(s) for {len(wires)} wire(s)")
    s = ["I"] * n
    for p, w in zip(letters, wires, strict=True):
        if p.upper() not in _PAULI:
            raise _err(where, f"unknown Pauli operator {p!r} (use I, X, Y, Z)")
        if not 0 <= w < n:
            raise _err(where, f"wire {w} out of range for {n} qubits")
        s[w] = p.upper()
    return "".join(s)


def observable_from_json(entry, n: int, where: str = "observable") -> tuple[str, Any]:
    """(label, observable) of one LRET observable entry; the observable is what ``expval`` takes.

    Accepts a Pauli string (``"ZZI"``, ``"Z0 Z2"``), ``{"type": "PAULI", "operator", "wires"}``,
    ``{"type": "TENSOR", "operators", "wires"}``, ``{"type": "HERMITIAN", "matrix", "wires"}``,
    each with an optional ``"coefficient"`` and ``"name"``.
    """
    from ..observables import dense_observable

    if isinstance(entry, str):
        return entry, entry
    if not isinstance(entry, Mapping):
        raise _err(where, f"expected a Pauli string or an object with a 'type', got {entry!r}")
    kind = str(entry.get("type", "PAULI")).upper()
    coeff = entry.get("coefficient", 1.0)
    if isinstance(coeff, bool) or not isinstance(coeff, (int, float)):
        raise _err(where, f"coefficient {coeff!r} is not a real number")
    wires = _wires(entry, where)
    if kind == "PAULI":
        op = entry.get("operator", "")
        letters = list(op) if isinstance(op, str) and len(op) == len(wires) else [op] * len(wires)
        s = _pauli_string([str(x) for x in letters], wires, n, where)
    elif kind == "TENSOR":
        ops = entry.get("operators")
        if not isinstance(ops, list):
            raise _err(where, "TENSOR needs 'operators': a list of Pauli letters")
        s = _pauli_string([str(x) for x in ops], wires, n, where)
    elif kind == "HERMITIAN":
        m = float(coeff) * _complex_array(entry.get("matrix"), where, 2)
        try:
            obs = dense_observable(m, wires)
        except LretError as e:
            raise _err(where, str(e)) from None
        return str(entry.get("name", f"H{wires}")), obs
    else:
        raise _err(where, f"unknown observable type {kind!r} (PAULI, TENSOR or HERMITIAN)")
    label = str(entry.get("name", s if coeff == 1.0 else f"{coeff:g}*{s}"))
    return label, {s: float(coeff)}


def parse(data, source: str | None = None) -> JsonProgram:
    """A :class:`JsonProgram` from already-decoded JSON (a dict)."""
    src = source or "<json>"
    if not isinstance(data, Mapping):
        raise CircuitError(f"{src}: expected a JSON object with a 'circuit' key")
    circ = data.get("circuit", data)  # a bare circuit object is accepted too
    if not isinstance(circ, Mapping):
        raise CircuitError(f"{src}: 'circuit' must be an object")
    n = circ.get("num_qubits", circ.get("num_wires"))
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise CircuitError(f"{src}: circuit.num_qubits must be a positive integer, got {n!r}")
    entries = circ.get("operations", [])
    if not isinstance(entries, list):
        raise CircuitError(f"{src}: circuit.operations must be a list")
    built: list[Op] = []
    for i, entry in enumerate(entries):
        op = _operation(entry, i, src)
        if op is None:
            continue
        try:  # one op at a time, so the message names the entry; checked ops are reused as is
            built.append(Circuit(n, [op]).ops[0])
        except LretError as e:
            raise CircuitError(f"{src}: circuit.operations[{i}]: {e}") from None
    circuit = Circuit(n, built)
    obs_entries = circ.get("observables", data.get("observables", []))
    if not isinstance(obs_entries, list):
        raise CircuitError(f"{src}: observables must be a list")
    observables = tuple(
        observable_from_json(e, n, f"{src}: observables[{i}]") for i, e in enumerate(obs_entries)
    )
    config = data.get("config", {})
    if not isinstance(config, Mapping):
        raise CircuitError(f"{src}: 'config' must be an object")
    return JsonProgram(circuit, observables, dict(config))


def loads_program(text: str, source: str | None = None) -> JsonProgram:
    """Parse LRET JSON text into circuit, observables and config."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise CircuitError(f"{source or '<json>'}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
    return parse(data, source)


def load_program(path: str | os.PathLike) -> JsonProgram:
    """Read an LRET JSON file into circuit, observables and config."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise CircuitError(f"cannot read {path!r}: {e}") from None
    return loads_program(text, source=path)


def loads(text: str, source: str | None = None) -> Circuit:
    """The circuit of LRET JSON text."""
    return loads_program(text, source).circuit


def load(path: str | os.PathLike) -> Circuit:
    """The circuit of an LRET JSON file."""
    return load_program(path).circuit


# --------------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------------


def _pairs(m) -> list:
    a = np.asarray(m, dtype=complex)
    return np.stack([a.real, a.imag], axis=-1).tolist()


def _write_param(p, where: str):
    if isinstance(p, Param):
        if p.coeff == 1.0 and p.offset == 0.0:
            return p.name
        return {"name": p.name, "coeff": p.coeff, "offset": p.offset}
    try:
        return float(p)
    except Exception:
        raise CircuitError(f"cannot write {where}: parameter is not a concrete number "
                           "(writing must happen outside jit)") from None


def _write_observable(obs, n: int):
    if isinstance(obs, str):
        return obs
    if isinstance(obs, Mapping) and len(obs) == 1:
        (s, c), = obs.items()
        if isinstance(s, str) and len(s) == n and set(s) <= _PAULI:
            wires = [i for i, ch in enumerate(s) if ch != "I"]
            entry = {"type": "TENSOR", "operators": [s[w] for w in wires], "wires": wires}
            if float(c) != 1.0:
                entry["coefficient"] = float(c)
            return entry
    from ..observables import DenseObservable

    if isinstance(obs, DenseObservable):
        return {"type": "HERMITIAN", "matrix": _pairs(obs.matrix), "wires": list(obs.wires)}
    raise CircuitError(f"cannot write observable {obs!r}: use a Pauli string, {{string: coeff}} "
                       "or a dense_observable")


def to_json(circuit: Circuit, *, observables: Sequence = (), config: Mapping | None = None) -> dict:
    """The LRET JSON object (a dict) of a circuit, with optional observables and config."""
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"expected a lretjax Circuit, got {type(circuit).__name__}")
    ops = []
    for i, op in enumerate(circuit.ops):
        where = f"op {i} ({op.name} on wires {list(op.wires)})"
        entry: dict[str, Any] = {"name": op.name, "wires": list(op.wires)}
        try:
            if op.kind == UNITARY:
                entry["matrix"] = _pairs(op.params[0])
            elif op.kind == KRAUS:
                entry["kraus"] = _pairs(op.params[0])
            elif op.kind in (GATE, CHANNEL):
                if op.params:
                    entry["params"] = [_write_param(p, where) for p in op.params]
        except (TypeError, ValueError, RuntimeError) as e:
            if isinstance(e, LretError):
                raise
            raise CircuitError(f"cannot write {where}: its matrix is not concrete") from None
        ops.append(entry)
    circ: dict[str, Any] = {"num_qubits": circuit.num_wires, "operations": ops}
    if observables:
        circ["observables"] = [_write_observable(o, circuit.num_wires) for o in observables]
    out: dict[str, Any] = {"circuit": circ}
    if config:
        out["config"] = dict(config)
    return out


def dumps(circuit: Circuit, *, observables: Sequence = (), config: Mapping | None = None,
          indent: int | None = 2) -> str:
    """Write a circuit (channels, symbols and user matrices included) as LRET JSON text."""
    return json.dumps(to_json(circuit, observables=observables, config=config), indent=indent) + "\n"


def dump(circuit: Circuit, path: str | os.PathLike, *, observables: Sequence = (),
         config: Mapping | None = None) -> None:
    """Write a circuit to an LRET JSON file."""
    text = dumps(circuit, observables=observables, config=config)
    with open(os.fspath(path), "w", encoding="utf-8") as f:
        f.write(text)
