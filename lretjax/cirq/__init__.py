"""Cirq front door: ``lretjax.cirq.Simulator`` samples, computes expectation values and final
states of noisy Cirq circuits on lretjax's low-rank density matrix.

Needs ``pip install 'lretjax[cirq]'``; ``import lretjax`` never imports Cirq.

    >>> import cirq
    >>> from lretjax.cirq import Simulator
    >>> a, b = cirq.LineQubit.range(2)
    >>> bell = cirq.Circuit(cirq.H(a), cirq.CNOT(a, b))
    >>> [round(v, 6) for v in Simulator().simulate_expectation_values(bell, [cirq.Z(a) * cirq.Z(b)])]
    [1.0]
"""

from __future__ import annotations

try:
    import cirq  # noqa: F401
except ImportError:  # pragma: no cover - exercised only without the extra
    raise ImportError("lretjax.cirq needs Cirq: pip install 'lretjax[cirq]'") from None

from .simulator import FinalState, LowRankTrialResult, Simulator

__all__ = ["Simulator", "LowRankTrialResult", "FinalState"]
