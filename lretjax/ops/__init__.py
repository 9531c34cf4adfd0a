"""Operations on the factor L: apply a k-wire matrix, apply a Kraus channel, truncate.

``channel_truncate`` applies a channel and truncates in one step without stacking the Kraus
copies of L (``channel.py``); the simulators use it.

``apply_matrix`` and ``apply_channel`` go through the JAX primitives ``apply_matrix_p`` and
``apply_kraus_p`` (``primitives.py``): elementwise XLA on CPU, Pallas kernels on CUDA.
"""

from .apply import apply_channel, apply_matrix, apply_pauli
from .channel import ChannelResult, channel_truncate
from .primitives import apply_kraus_p, apply_matrix_p
from .truncate import TruncationResult, gram, truncate

__all__ = [
    "apply_matrix",
    "apply_channel",
    "apply_pauli",
    "truncate",
    "channel_truncate",
    "ChannelResult",
    "gram",
    "TruncationResult",
    "apply_matrix_p",
    "apply_kraus_p",
]
