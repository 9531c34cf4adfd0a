"""``EstimatorV2``: Qiskit's estimator primitive (``BaseEstimatorV2``) on lretjax.

Expectation values are exact for the simulated state: Tr(O rho) from Pauli strings applied to L,
never a dense matrix. ``precision`` follows Aer's ``EstimatorV2``: 0 returns the exact values;
``precision > 0`` adds Gaussian noise of that standard deviation (seeded by ``seed``) and reports
it as ``stds``. Qubits a circuit never touches are left out of the simulation: they stay in |0>,
so a Pauli Z or I there contributes a factor 1 and an X or Y makes the term vanish.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from qiskit.primitives import BaseEstimatorV2
from qiskit.primitives.containers import DataBin, ObservablesArray, PrimitiveResult, PubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.primitive_job import PrimitiveJob

from ..errors import CircuitError, ObservableError, SimulationConfigError
from ..frontdoor import DEFAULT_MAX_RANK, Truncation, pauli_values, state_metadata
from .prepare import check_circuit, check_values, prepare, typed_pub_error
from .primitive import LretPrimitive


class EstimatorV2(LretPrimitive, BaseEstimatorV2):
    """Estimates expectation values of noisy circuits with lretjax.

    Args:
      default_precision: precision of a PUB that gives none and a ``run`` without ``precision``.
      seed: int seed, numpy ``Generator`` or None, for the noise added when precision > 0.
      noise_model: a ``qiskit_aer.noise.NoiseModel`` (read exactly) or a ``lretjax.NoiseModel``.
      max_rank, epsilon, tolerance, representation: lretjax's truncation settings
        (``max_rank=None``: no cap).
    """

    def __init__(self, *, default_precision: float = 0.0, seed=None, noise_model=None,
                 max_rank: int | None = DEFAULT_MAX_RANK, epsilon: float = 0.0,
                 tolerance: float | None = None, representation: str = "auto"):
        self._default_precision = _check_precision(default_precision, "default_precision")
        self._setup(seed, noise_model, Truncation(max_rank, epsilon, tolerance, representation))

    @property
    def default_precision(self) -> float:
        return self._default_precision

    def run(self, pubs: Iterable, *,
            precision: float | None = None) -> PrimitiveJob[PrimitiveResult[PubResult]]:
        precision = self._default_precision if precision is None else _check_precision(precision)
        coerced = [_coerce(pub, precision, i) for i, pub in enumerate(pubs)]
        job = PrimitiveJob(self._run, coerced)
        job._submit()
        return job

    def _run_pub(self, pub: EstimatorPub, rng) -> PubResult:
        qc, precision = pub.circuit, pub.precision
        pshape = pub.parameter_values.shape
        sparse = _observable_terms(pub.observables)
        values, discarded, rank = [], np.zeros(pshape), np.zeros(pshape, dtype=int)
        terms = labels = None
        for loc in np.ndindex(*pshape):
            prep = prepare(pub.parameter_values.bind(qc, loc), self._noise, measure=False)
            if terms is None:  # which qubits are simulated does not depend on the values
                terms = [_terms(o, prep.qubits, prep.circuit.num_wires) for o in sparse.ravel()]
                labels = sorted({p for t in terms for p in t})
            state = self._settings.simulate(prep.circuit)
            table = dict(zip(labels, pauli_values(state, labels), strict=True))
            values.append([sum(c * table[p] for p, c in t.items()) for t in terms])
            info = state_metadata(state)
            discarded[loc], rank[loc] = info["discarded"], info["rank"]
        flat = np.asarray(values, dtype=np.float64).reshape(*pshape, -1) if values else np.zeros((*pshape, 0))
        p_idx = np.arange(math.prod(pshape)).reshape(pshape)
        o_idx = np.arange(sparse.size).reshape(sparse.shape)
        bp, bo = np.broadcast_arrays(p_idx, o_idx)
        evs = flat.reshape(-1, sparse.size)[bp, bo] if sparse.size else np.zeros(bp.shape)
        stds = np.full(evs.shape, float(precision))
        if precision > 0:
            evs = np.asarray(rng.normal(evs, precision, size=evs.shape))
        meta = {"target_precision": precision, "circuit_metadata": qc.metadata,
                **self._settings.metadata(), "discarded": discarded, "rank": rank}
        return PubResult(DataBin(evs=evs, stds=stds, shape=evs.shape), metadata=meta)


def _observable_terms(observables) -> np.ndarray:
    """Each observable of an ObservablesArray as its Pauli terms ``[(letters, qubits, coeff)]``
    (Qiskit 2.1+ holds SparseObservables, whose projectors expand into Paulis; older Qiskit, dicts
    of Pauli labels with qubit 0 last)."""
    if hasattr(observables, "sparse_observables_array"):
        arr = observables.sparse_observables_array()
        return _object_array([o.as_paulis().to_sparse_list() for o in arr.ravel()], arr.shape)
    arr = np.asarray(observables)
    terms = []
    for table in arr.ravel():
        rows = []
        for label, coeff in table.items():
            where = [q for q in range(len(label)) if label[-1 - q] != "I"]
            rows.append(("".join(label[-1 - q] for q in where), where, coeff))
        terms.append(rows)
    return _object_array(terms, arr.shape)


def _object_array(items: list, shape: tuple) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out.reshape(shape)


def _terms(terms, qubits: tuple[int, ...], num_wires: int) -> dict[str, float]:
    """Pauli terms ``(letters, qubits, coeff)`` as {lretjax label on the simulated wires: coeff}.

    Qiskit labels put qubit 0 last; lretjax labels put wire 0 first, wire i being ``qubits[i]``.
    A qubit that is not simulated is in |0>: Z there is 1, X or Y zero the term.
    """
    index = {q: i for i, q in enumerate(qubits)}
    out: dict[str, float] = {}
    for letters, where, coeff in terms:
        if abs(complex(coeff).imag) > 1e-10:
            raise ObservableError(f"observable term {letters or 'I'} on qubits {list(where)} has the "
                                  f"complex coefficient {coeff}: observables must be Hermitian")
        label = ["I"] * num_wires
        zero = False
        for letter, q in zip(letters, where, strict=True):
            if q in index:
                label[index[q]] = letter
            elif letter in "XY":
                zero = True
        if not zero:
            key = "".join(label)
            out[key] = out.get(key, 0.0) + float(complex(coeff).real)
    return out


def _check_precision(precision, what: str = "precision") -> float:
    try:
        p = float(precision)
    except (TypeError, ValueError):
        raise SimulationConfigError(f"{what} must be a non-negative number, got {precision!r}") from None
    if isinstance(precision, bool) or not math.isfinite(p) or p < 0:
        raise SimulationConfigError(f"{what} must be a non-negative finite number, got {precision!r}")
    return p


def _coerce(pub, precision: float, i: int) -> EstimatorPub:
    """Qiskit's coercion, with lretjax's typed errors for what it refuses."""
    if isinstance(pub, EstimatorPub):
        circuit = pub.circuit
    elif isinstance(pub, (tuple, list)) and 2 <= len(pub) <= 4:
        circuit = pub[0]
        if len(pub) == 4 and pub[3] is not None:
            _check_precision(pub[3], f"pub {i}: precision")
    else:
        raise CircuitError(f"pub {i}: an estimator PUB is (circuit, observables[, parameter values"
                           f"[, precision]]), got {type(pub).__name__}")
    check_circuit(circuit, f"pub {i}", control_flow=False)
    if isinstance(pub, (tuple, list)):
        try:
            ObservablesArray.coerce(pub[1])
        except (ValueError, TypeError) as e:
            raise ObservableError(f"pub {i}: cannot read the observables: {e}") from e
        check_values(circuit, pub[2] if len(pub) > 2 else None, i)
    if any(inst.operation.name == "measure" for inst in circuit.data):
        raise CircuitError(f"pub {i}: circuit {circuit.name!r} measures; an Estimator circuit must end "
                           "without measurements (remove_final_measurements())")
    try:
        return EstimatorPub.coerce(pub, precision)
    except (ValueError, TypeError) as e:
        raise typed_pub_error(e, i) from e
