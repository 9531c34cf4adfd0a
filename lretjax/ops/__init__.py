"""Operations on the factor L: apply a k-wire matrix, apply a Kraus channel, truncate."""

from .apply import apply_channel, apply_matrix, apply_pauli
from .truncate import TruncationResult, gram, truncate

__all__ = ["apply_matrix", "apply_channel", "apply_pauli", "truncate", "gram", "TruncationResult"]
