"""Qiskit Aer noise models read into the parts of a lretjax ``NoiseModel``, exactly.

``NoiseModel.from_qiskit_dict``, ``from_qiskit`` and ``from_backend`` build models from what the
readers here return (gate rules, readout errors, ...), so this module needs only the rules
(``lretjax.noise.rules``), never the model: the arrow points one way. The dict reader needs only
NumPy, so a model saved with ``NoiseModel.to_dict()`` loads without Qiskit; ``parts_from_aer``
and ``parts_from_backend`` import Qiskit when called.

Qiskit's little-endian order is converted once, here: a Qiskit matrix on qubits (q0, q1, ...)
has q0 as its least significant bit, so it is the lretjax matrix on wires (..., q1, q0); named
gates (``cx`` on [c, t]) keep their meaning wire for wire. Each Qiskit ``QuantumError`` (a
mixture of instruction sequences with probabilities) becomes one Kraus set, reduced to the
minimal number of operators through its Choi matrix, so Qiskit's depolarizing convention (and
any other) carries over without reinterpretation: rho -> (1 - lam) rho + lam I/d in Qiskit is the
same map as PennyLane's depolarizing with p = lam (d^2 - 1) / d^2.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ..channels import check_kraus
from ..errors import NoiseError
from ..gates import GATES, PAULIS_1, canonical_name
from .readout import check_confusion
from .rules import KRAUS, NAMED_OPS, GateNoise


class QiskitNoise(NamedTuple):
    """What a Qiskit noise model holds, as the fields of a lretjax ``NoiseModel``."""

    gate_rules: tuple[GateNoise, ...]
    readout: tuple[tuple[int | None, Any], ...]
    num_wires: int | None
    skipped: tuple[str, ...]
    source: str

# Instruction names a lretjax circuit never holds: their errors can never fire, so skipping
# them changes no result (they are listed in NoiseModel.skipped).
_NO_LRETJAX_OP = {"delay", "barrier", "initialize"}


def qiskit_depolarizing_to_p(lam: float, num_qubits: int = 1) -> float:
    """PennyLane/lretjax depolarizing p equal to Qiskit's ``depolarizing_error(lam, num_qubits)``."""
    d2 = 4**num_qubits
    return lam * (d2 - 1) / d2


def _as_complex(x, ndim: int) -> np.ndarray:
    """Complex ``ndim``-dimensional matrices from a dict: complex arrays, or [re, im] pairs if serialized."""
    a = np.asarray(x)
    if np.iscomplexobj(a):
        return a.astype(complex)
    a = a.astype(float)
    if a.ndim == ndim + 1 and a.shape[-1] == 2:
        return a[..., 0] + 1j * a[..., 1]
    return a.astype(complex)


def _embed(m: np.ndarray, wires: Sequence[int], k: int) -> np.ndarray:
    """The 2^k x 2^k matrix of ``m`` acting on local ``wires`` (first = high bit of m)."""
    j = len(wires)
    t = np.eye(2**k, dtype=complex).reshape((2,) * k + (2**k,))
    mt = m.reshape((2,) * (2 * j))
    t = np.tensordot(mt, t, axes=(list(range(j, 2 * j)), list(wires)))
    t = np.moveaxis(t, list(range(j)), list(wires))
    return t.reshape(2**k, 2**k)


def _pauli_matrix(label: str) -> np.ndarray:
    m = np.ones((1, 1), dtype=complex)
    for c in label:
        if c not in "IXYZ":
            raise NoiseError(f"Qiskit pauli instruction: bad letter {c!r} in {label!r}")
        m = np.kron(m, PAULIS_1["IXYZ".index(c)])
    return m


def _instruction_kraus(inst: dict, k: int, where: str) -> list[np.ndarray]:
    """Kraus operators (2^k x 2^k, lretjax order on the error's local wires) of one instruction."""
    name = inst["name"]
    qubits = [int(q) for q in inst["qubits"]]
    params = inst.get("params", [])
    rev = qubits[::-1]  # a Qiskit matrix's first qubit is its low bit
    if name == "kraus":
        ks = _as_complex(params, 3)
        if ks.ndim == 2:
            ks = ks[None]
        return [_embed(m, rev, k) for m in ks]
    if name == "unitary":
        u = _as_complex(params[0], 2)
        return [_embed(u, rev, k)]
    if name == "pauli":
        label = str(params[0])
        return [_embed(_pauli_matrix(label), rev, k)]  # label[-1] acts on qubits[0]
    if name == "reset":
        ops = []
        for q in qubits:
            ops = [_embed(np.array([[1, 0], [0, 0]], complex), [q], k),
                   _embed(np.array([[0, 1], [0, 0]], complex), [q], k)] if not ops else [
                _embed(r, [q], k) @ o for o in ops
                for r in (np.array([[1, 0], [0, 0]], complex), np.array([[0, 1], [0, 0]], complex))]
        return ops
    key = canonical_name(name)
    if key in GATES and GATES[key].num_wires == len(qubits):
        vals = [float(np.real(p)) for p in params]
        return [_embed(np.asarray(GATES[key].matrix(*vals), dtype=complex), qubits, k)]
    raise NoiseError(f"{where}: instruction {name!r} inside a Qiskit error is not supported")


def _error_kraus(entry: dict, k: int, where: str) -> np.ndarray:
    """One Kraus set for a Qiskit QuantumError: sum_i p_i (sequence i), minimal via the Choi matrix."""
    probs = np.asarray(entry["probabilities"], dtype=float)
    circuits = entry["instructions"]
    if len(probs) != len(circuits):
        raise NoiseError(f"{where}: {len(probs)} probabilities for {len(circuits)} instruction lists")
    if np.any(probs < -1e-12) or abs(probs.sum() - 1) > 1e-8:
        raise NoiseError(f"{where}: error probabilities must be >= 0 and sum to 1, got {probs.tolist()}")
    d = 2**k
    choi = np.zeros((d * d, d * d), dtype=complex)
    for p, circ in zip(probs, circuits, strict=True):
        ops = [np.eye(d, dtype=complex)]
        for inst in circ:
            ks = _instruction_kraus(inst, k, where)
            ops = [m @ o for o in ops for m in ks]
        for o in ops:
            v = (np.sqrt(max(p, 0.0)) * o).T.reshape(-1)  # index (input i, output a)
            choi += np.outer(v, v.conj())
    lam, vec = np.linalg.eigh((choi + choi.conj().T) / 2)
    keep = lam > 1e-15 * max(lam.max(), 1.0)
    kraus = [np.sqrt(l) * vec[:, i].reshape(d, d).T for i, l in zip(np.flatnonzero(keep), lam[keep],
                                                                    strict=True)]
    kraus = np.stack(kraus[::-1])
    return check_kraus(kraus, name=where)


def _entry_width(entry: dict) -> int:
    gq = entry.get("gate_qubits")
    if gq:
        return len(gq[0])
    return 1 + max(int(q) for circ in entry["instructions"] for inst in circ for q in inst["qubits"])


def parts_from_dict(noise_dict, *, qubits: Sequence[int] | None = None, num_wires: int | None = None,
                    source: str = "qiskit") -> QiskitNoise:
    """Read Qiskit Aer's ``NoiseModel.to_dict()`` into a lretjax NoiseModel's parts (see module docstring)."""
    if not isinstance(noise_dict, dict) or "errors" not in noise_dict:
        raise NoiseError("expected a Qiskit noise-model dict with an 'errors' list (NoiseModel.to_dict())")
    pos = None
    if qubits is not None:
        qubits = [int(q) for q in qubits]
        if len(set(qubits)) != len(qubits):
            raise NoiseError(f"qubits: repeated qubit in {qubits}")
        if num_wires is not None:
            bad = [q for q in qubits if not 0 <= q < num_wires]
            if bad:
                raise NoiseError(f"qubits {bad} do not exist on a device of {num_wires} qubits")
        pos = {q: i for i, q in enumerate(qubits)}
        num_wires = len(qubits)

    def mapped(qs):
        qs = tuple(int(q) for q in qs)
        if pos is None:
            return qs
        return tuple(pos[q] for q in qs) if all(q in pos for q in qs) else None

    rules: list[GateNoise] = []
    fallbacks: list[GateNoise] = []
    readout: list = []
    skipped: dict[str, None] = {}
    for i, entry in enumerate(noise_dict["errors"]):
        kind = entry.get("type")
        ops = list(entry.get("operations", []))
        where = f"Qiskit error #{i} ({kind} on {ops})"
        targets = entry.get("gate_qubits")
        if kind == "roerror":
            a = np.asarray(entry["probabilities"], dtype=float)
            if a.shape != (2, 2):
                raise NoiseError(f"{where}: only single-qubit readout errors are supported, got {a.shape}")
            a = check_confusion(a, name=where)
            if targets is None:
                readout.append((None, a))
            for qs in targets or ():
                w = mapped(qs)
                if w is not None:
                    readout.append((w[0], a))
            continue
        if kind != "qerror":
            raise NoiseError(f"{where}: unknown error type {kind!r}")
        gate_names = []
        for name in ops:
            key = canonical_name(name)
            if key in GATES:
                gate_names.append(key)
            elif name in NAMED_OPS:  # a reset's error follows it, a measurement's precedes it
                gate_names.append(name)
            else:
                skipped[name] = None
        if not gate_names:
            continue
        if targets is not None and all(mapped(qs) is None for qs in targets):
            continue  # only on qubits outside the selection: no circuit wire can meet it
        k = _entry_width(entry)
        kraus = _error_kraus(entry, k, where)
        for name in gate_names:
            width = NAMED_OPS[name] if name in NAMED_OPS else GATES[name].num_wires
            if k > width:
                raise NoiseError(f"{where}: a {k}-qubit error does not fit the {width}-qubit {name!r}")
            if targets is None:
                # An all-qubit error acts on the gate's qubits; widen it if its instructions
                # happen to leave the last qubits untouched.
                full = kraus if k == width else _error_kraus(entry, width, where)
                fallbacks.append(GateNoise(KRAUS, (full,), (name,), None, None, True))
                continue
            for qs in targets:
                w = mapped(qs)
                if w is None:
                    continue
                if len(w) != width:
                    raise NoiseError(
                        f"{where}: gate_qubits {list(qs)} do not fit the {width}-qubit gate {name!r}"
                    )
                rules.append(GateNoise(KRAUS, (kraus,), (name,), w, None, False))
    # Qiskit: a specific error for a (gate, qubits) replaces the all-qubit one; locals go first.
    ordered_readout = [e for e in readout if e[0] is None] + [e for e in readout if e[0] is not None]
    return QiskitNoise(tuple(rules + fallbacks), tuple(ordered_readout), num_wires, tuple(skipped), source)


def parts_from_aer(aer_noise_model, *, qubits: Sequence[int] | None = None, num_wires: int | None = None,
                   source: str = "qiskit") -> QiskitNoise:
    """Read a ``qiskit_aer.noise.NoiseModel``."""
    if not hasattr(aer_noise_model, "to_dict"):
        raise NoiseError(f"expected a qiskit_aer.noise.NoiseModel, got {type(aer_noise_model).__name__}")
    return parts_from_dict(aer_noise_model.to_dict(), qubits=qubits, num_wires=num_wires, source=source)


def parts_from_backend(backend, *, qubits: Sequence[int] | None = None, **options) -> QiskitNoise:
    """Device noise of a Qiskit backend through ``qiskit_aer.noise.NoiseModel.from_backend``."""
    try:
        from qiskit_aer.noise import NoiseModel as AerNoiseModel
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("NoiseModel.from_backend needs qiskit-aer: pip install 'lretjax[qiskit]'") from e
    n = getattr(backend, "num_qubits", None)
    name = getattr(backend, "name", type(backend).__name__)
    name = name() if callable(name) else name
    aer = AerNoiseModel.from_backend(backend, **options)
    if qubits is None and n is not None:
        qubits = range(int(n))
    return parts_from_aer(aer, qubits=qubits, num_wires=n, source=f"{name}")


# The old model-returning names, kept for one release. The model sits above this reader, so the
# forwarders find it when called (an import statement here would point up the layers).
_DEPRECATED = {
    "model_from_dict": ("parts_from_dict", "NoiseModel.from_qiskit_dict"),
    "model_from_aer": ("parts_from_aer", "NoiseModel.from_qiskit"),
    "model_from_backend": ("parts_from_backend", "NoiseModel.from_backend"),
}


def __getattr__(name: str):
    if name not in _DEPRECATED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    reader, instead = _DEPRECATED[name]
    warnings.warn(f"lretjax.noise.qiskit.{name} is deprecated; use lretjax.{instead}",
                  DeprecationWarning, stacklevel=2)

    def build(*args, **kwargs):
        model = importlib.import_module(".model", __package__).NoiseModel
        return model._from_parts(globals()[reader](*args, **kwargs))

    build.__name__ = name
    return build


__all__ = ["QiskitNoise", "parts_from_dict", "parts_from_aer", "parts_from_backend",
           "qiskit_depolarizing_to_p"]
