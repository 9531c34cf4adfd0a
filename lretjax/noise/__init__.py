"""Noise: Kraus channels, noise models (rules attached to gates), readout error, Qiskit import.

The channel definitions live below the circuit IR, in ``lretjax.channels`` (the IR holds
channels); ``lretjax.noise.channels`` re-exports them beside the rest of the noise tools.
"""

from .channels import CHANNELS, kraus_sqrt
from .forms import choi_matrix, kraus_from_choi, ptm
from .model import GateNoise, IdleNoise, NoiseModel
from .readout import apply_readout, confusion_matrix, readout_samples

__all__ = [
    "CHANNELS", "GateNoise", "IdleNoise", "NoiseModel", "apply_readout", "choi_matrix",
    "confusion_matrix", "kraus_from_choi", "kraus_sqrt", "ptm", "readout_samples",
]
