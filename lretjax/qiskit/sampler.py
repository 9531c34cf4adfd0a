"""``SamplerV2``: Qiskit's sampler primitive (``BaseSamplerV2``) on lretjax.

Each PUB ``(circuit, parameter_values, shots)`` is simulated once per parameter set and its
classical bits are drawn from their exact joint distribution in the (noisy, possibly truncated)
final state, readout error included; mid-circuit measurements, resets and ``if_test`` blocks
(with ``else``) are lowered exactly (``lretjax.dynamic``). Results are Qiskit's own
``PrimitiveResult``, ``SamplerPubResult``, ``DataBin`` and ``BitArray`` (one per classical
register).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from qiskit.primitives import BaseSamplerV2
from qiskit.primitives.containers import BitArray, DataBin, PrimitiveResult, SamplerPubResult
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.primitives.primitive_job import PrimitiveJob

from ..frontdoor import DEFAULT_MAX_RANK, Truncation, check_shots, sample_bits, state_metadata
from .prepare import check_circuit, check_values, prepare, typed_pub_error
from .primitive import LretPrimitive


class SamplerV2(LretPrimitive, BaseSamplerV2):
    """Samples noisy circuits with lretjax.

    Args:
      default_shots: shots of a PUB that gives none and a ``run`` without ``shots``.
      seed: int seed, numpy ``Generator`` or None; one generator serves a whole ``run``.
      noise_model: a ``qiskit_aer.noise.NoiseModel`` (read exactly) or a ``lretjax.NoiseModel``.
      max_rank, epsilon, tolerance, representation: lretjax's truncation settings
        (``max_rank=None``: no cap).
    """

    def __init__(self, *, default_shots: int = 1024, seed=None, noise_model=None,
                 max_rank: int | None = DEFAULT_MAX_RANK, epsilon: float = 0.0,
                 tolerance: float | None = None, representation: str = "auto"):
        self._default_shots = check_shots(default_shots, "default_shots")
        self._setup(seed, noise_model, Truncation(max_rank, epsilon, tolerance, representation))

    @property
    def default_shots(self) -> int:
        return self._default_shots

    def run(self, pubs: Iterable, *,
            shots: int | None = None) -> PrimitiveJob[PrimitiveResult[SamplerPubResult]]:
        shots = self._default_shots if shots is None else check_shots(shots)
        coerced = [_coerce(pub, shots, i) for i, pub in enumerate(pubs)]
        job = PrimitiveJob(self._run, coerced)
        job._submit()
        return job

    def _run_pub(self, pub: SamplerPub, rng) -> SamplerPubResult:
        qc, shape, shots = pub.circuit, pub.shape, pub.shots
        bits = np.zeros((*shape, shots, qc.num_clbits), dtype=np.uint8)
        discarded, rank = np.zeros(shape), np.zeros(shape, dtype=int)
        for loc in np.ndindex(*shape):
            prep = prepare(pub.parameter_values.bind(qc, loc), self._noise, measure=True)
            state = self._settings.simulate(prep.circuit)
            bits[loc] = sample_bits(state, prep.lowered, shots, rng)
            info = state_metadata(state)
            discarded[loc], rank[loc] = info["discarded"], info["rank"]
        data = {}
        for creg in qc.cregs:
            cols = [qc.find_bit(b).index for b in creg]
            data[creg.name] = BitArray.from_bool_array(bits[..., cols].astype(bool), order="little")
        meta = {"shots": shots, "circuit_metadata": qc.metadata, **self._settings.metadata(),
                "discarded": discarded, "rank": rank}
        return SamplerPubResult(DataBin(**data, shape=shape), metadata=meta)


def _coerce(pub, shots: int, i: int) -> SamplerPub:
    """Qiskit's coercion, with lretjax's typed errors for what it refuses."""
    if isinstance(pub, SamplerPub):
        circuit = pub.circuit
    else:
        circuit = pub[0] if isinstance(pub, (tuple, list)) and pub else pub
    check_circuit(circuit, f"pub {i}")
    if isinstance(pub, (tuple, list)):
        check_values(circuit, pub[1] if len(pub) > 1 else None, i)
        if len(pub) == 3 and pub[2] is not None:
            check_shots(pub[2], f"pub {i}: shots")
    try:
        return SamplerPub.coerce(pub, shots)
    except (ValueError, TypeError) as e:
        raise typed_pub_error(e, i) from e
