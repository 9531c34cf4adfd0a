"""Observables: weighted sums of Pauli strings, or small dense Hermitian matrices on named wires.

Accepted spellings (``as_observable``):
- ``"XZIY"``: one letter per wire, wire 0 first;
- ``"Z0 Z3"`` or ``"X1*Y2"``: letters with wire numbers, other wires identity;
- ``{"ZZ": 0.5, "XI": -1.2}`` or ``[(0.5, "ZZ"), (-1.2, "XI")]``: weighted sums;
- ``PauliSum`` and ``DenseObservable`` objects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .circuit import real_value_problem
from .errors import ObservableError

_SPARSE = re.compile(r"([IXYZ])(\d+)")


def parse_pauli(text: str, num_wires: int) -> str:
    """A Pauli string in dense form (one letter per wire) from either spelling."""
    if not isinstance(text, str):
        raise ObservableError(f"a Pauli string must be text, got {text!r}")
    s = text.strip().upper()
    if any(ch.isdigit() for ch in s):
        letters = ["I"] * num_wires
        tokens = [t for t in re.split(r"[\s*@]+", s) if t]
        for tok in tokens:
            m = _SPARSE.fullmatch(tok)
            if not m:
                raise ObservableError(f"cannot read {tok!r} in Pauli string {text!r} (use e.g. 'Z0 X3')")
            w = int(m.group(2))
            if w >= num_wires:
                raise ObservableError(
                    f"Pauli string {text!r} names wire {w}, but the state has {num_wires} wires"
                )
            if letters[w] != "I":
                raise ObservableError(f"Pauli string {text!r} names wire {w} twice")
            letters[w] = m.group(1)
        return "".join(letters)
    if len(s) != num_wires:
        raise ObservableError(
            f"Pauli string {text!r} has {len(s)} letters but the state has {num_wires} wires "
            "(one letter per wire, wire 0 first, or a sparse form like 'Z0 Z2')"
        )
    bad = sorted(set(s) - set("IXYZ"))
    if bad:
        raise ObservableError(f"Pauli string {text!r} has letters {bad} outside I, X, Y, Z")
    return s


@dataclass(frozen=True)
class PauliSum:
    """sum_k coeffs[k] * paulis[k]; the strings are static, the coefficients may be traced."""

    paulis: tuple[str, ...]
    coeffs: jnp.ndarray

    def __repr__(self) -> str:
        try:
            terms = [f"{float(c):+g}*{p}" for c, p in zip(self.coeffs, self.paulis, strict=False)]
        except (TypeError, jax.errors.ConcretizationTypeError):
            terms = list(self.paulis)
        return f"PauliSum({' '.join(terms)})"


jax.tree_util.register_dataclass(PauliSum, data_fields=["coeffs"], meta_fields=["paulis"])


@dataclass(frozen=True)
class DenseObservable:
    """A Hermitian matrix on ``wires`` (first wire = most significant bit of its index)."""

    matrix: jnp.ndarray
    wires: tuple[int, ...]


jax.tree_util.register_dataclass(DenseObservable, data_fields=["matrix"], meta_fields=["wires"])


def dense_observable(matrix, wires: Sequence[int] | int) -> DenseObservable:
    """Check a small Hermitian matrix and wrap it as an observable on ``wires``."""
    wires = (wires,) if isinstance(wires, (int, np.integer)) else tuple(int(w) for w in wires)
    m = np.asarray(matrix)
    if m.shape != (2 ** len(wires),) * 2:
        raise ObservableError(
            f"observable on wires {list(wires)} must be {2**len(wires)}x{2**len(wires)}, got {m.shape}"
        )
    if not np.allclose(m, m.conj().T, atol=1e-10):
        raise ObservableError("observable matrix is not Hermitian")
    if len(set(wires)) != len(wires):
        raise ObservableError(f"observable names a wire twice: {list(wires)}")
    return DenseObservable(jnp.asarray(matrix), wires)


def _check_coeff(c):
    """A Pauli coefficient must be a finite real scalar (observables are Hermitian)."""
    problem = real_value_problem(c)
    if problem == "must be real":
        problem = "is complex; observables are Hermitian"
    if problem:
        raise ObservableError(f"Pauli coefficient {c!r} {problem}")
    return c


def as_observable(obs, num_wires: int) -> PauliSum | DenseObservable:
    """Normalise any accepted spelling into a PauliSum or DenseObservable, checked against n."""
    if isinstance(obs, DenseObservable):
        for w in obs.wires:
            if not 0 <= w < num_wires:
                raise ObservableError(f"observable wire {w} out of range for {num_wires} wires")
        return obs
    if isinstance(obs, PauliSum):
        if not isinstance(obs.coeffs, jax.core.Tracer):
            for c in np.atleast_1d(np.asarray(obs.coeffs)):
                _check_coeff(c)
        coeffs = jnp.asarray(obs.coeffs)
        if coeffs.shape != (len(obs.paulis),):
            raise ObservableError(
                f"PauliSum has {len(obs.paulis)} Pauli strings but coefficients of shape {coeffs.shape}"
            )
        return PauliSum(tuple(parse_pauli(p, num_wires) for p in obs.paulis), coeffs)
    if isinstance(obs, str):
        return PauliSum((parse_pauli(obs, num_wires),), jnp.ones((1,)))
    if isinstance(obs, Mapping):
        items = [(c, p) for p, c in obs.items()]
    elif isinstance(obs, (list, tuple)) and all(
        isinstance(t, (list, tuple)) and len(t) == 2 for t in obs
    ):
        items = [(c, p) if isinstance(p, str) else (p, c) for c, p in obs]
    else:
        raise ObservableError(
            f"cannot read observable {obs!r}: use a Pauli string, a dict of Pauli strings to "
            "coefficients, a list of (coefficient, string) pairs, or lretjax.dense_observable"
        )
    if not items:
        raise ObservableError("empty observable")
    paulis = tuple(parse_pauli(p, num_wires) for _, p in items)
    coeffs = [_check_coeff(c) for c, _ in items]
    return PauliSum(paulis, jnp.stack([jnp.asarray(c) for c in coeffs]))
