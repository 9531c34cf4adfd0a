"""What ``SamplerV2`` and ``EstimatorV2`` share: the seed, the noise, the truncation settings,
``from_backend``, and one run over PUBs with one generator."""

from __future__ import annotations

from qiskit.primitives.containers import PrimitiveResult

from ..frontdoor import Truncation, make_rng
from .prepare import NoiseSource


class LretPrimitive:
    """Mixin of the two primitives; subclasses define ``_run_pub(pub, rng)``."""

    def _setup(self, seed, noise_model, settings: Truncation) -> None:
        make_rng(seed)  # checked now, drawn per run
        self._seed = seed
        self._noise = NoiseSource(noise_model)
        self._settings = settings

    @classmethod
    def from_backend(cls, backend, **options):
        """A primitive with ``backend``'s noise: an ``LretBackend``'s own (its converted noise is
        shared), or a device's through ``qiskit_aer.noise.NoiseModel.from_backend``. Transpile
        circuits for ``backend`` (and ``apply_layout`` to observables) first."""
        from .backend import LretBackend

        if isinstance(backend, LretBackend):
            out = cls(**options)
            out._noise = backend.noise
            return out
        from qiskit_aer.noise import NoiseModel as AerNoiseModel

        return cls(noise_model=AerNoiseModel.from_backend(backend), **options)

    @property
    def seed(self):
        return self._seed

    @property
    def settings(self) -> Truncation:
        """The truncation settings every run uses."""
        return self._settings

    def _run(self, pubs: list) -> PrimitiveResult:
        rng = make_rng(self._seed)
        meta = {"version": 2, **self._settings.metadata(), "noise": self._noise.label}
        return PrimitiveResult([self._run_pub(pub, rng) for pub in pubs], metadata=meta)
