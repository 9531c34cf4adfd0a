"""Pallas GPU kernels for lretjax, installed as ``lretjax.kernels``.

This folder sits at the top of the repository; ``pyproject.toml`` maps it into the package
(``package-dir``), so it is imported as ``lretjax.kernels`` and only ``lretjax.ops`` imports it.

Complex data travels as split real/imaginary float arrays: Pallas takes no complex dtypes.
Every kernel runs on CPU with ``interpret=True`` for tests.
"""

from .block import apply_block, block_layout, sort_block
from .gram import gram_layout, gram_planes

__all__ = ["apply_block", "block_layout", "gram_layout", "gram_planes", "sort_block"]
