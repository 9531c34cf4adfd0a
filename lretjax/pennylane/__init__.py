"""PennyLane front door: the ``lretjax.mixed`` device (needs ``pip install lretjax[pennylane]``).

    >>> import pennylane as qml
    >>> dev = qml.device("lretjax.mixed", wires=2, max_rank=16)
"""

from .device import LretDevice

__all__ = ["LretDevice"]
