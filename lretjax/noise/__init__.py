"""Noise: Kraus channels, noise models (rules attached to gates), readout error, Qiskit import.

``channels`` is imported by the circuit IR itself; the rest loads on first use, so
``import lretjax`` stays light and the IR can import this package without a cycle.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "NoiseModel": "model",
    "GateNoise": "model",
    "IdleNoise": "model",
    "confusion_matrix": "readout",
    "apply_readout": "readout",
    "readout_samples": "readout",
    "choi_matrix": "forms",
    "kraus_from_choi": "forms",
    "ptm": "forms",
    "CHANNELS": "channels",
    "kraus_sqrt": "channels",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
