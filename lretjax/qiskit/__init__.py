"""Qiskit front door: lretjax as a ``BackendV2`` and as ``SamplerV2``/``EstimatorV2`` primitives.

Needs ``pip install 'lretjax[qiskit]'``; ``import lretjax`` never imports Qiskit.

    >>> from qiskit import QuantumCircuit
    >>> from lretjax.qiskit import LretBackend
    >>> qc = QuantumCircuit(2); _ = qc.h(0); _ = qc.cx(0, 1); _ = qc.measure_all()
    >>> counts = LretBackend().run(qc, shots=100, seed_simulator=1).result().get_counts()
    >>> sorted(counts)
    ['00', '11']
"""

from __future__ import annotations

try:
    import qiskit  # noqa: F401
except ImportError:  # pragma: no cover - exercised only without the extra
    raise ImportError("lretjax.qiskit needs Qiskit: pip install 'lretjax[qiskit]'") from None

from .backend import BASIS_GATES, LretBackend, LretJob, build_target
from .estimator import EstimatorV2
from .prepare import NoiseSource
from .sampler import SamplerV2

__all__ = ["LretBackend", "LretJob", "SamplerV2", "EstimatorV2", "NoiseSource", "BASIS_GATES", "build_target"]
