"""Pallas GPU kernels, from the top-level ``kernels/`` package (kept beside lretjax, per the design).

A wheel installs ``kernels`` as a package of its own; an editable install made before it existed
may not map it, so fall back to the folder beside this package.
"""

import importlib
import importlib.util
import pathlib
import sys

try:
    _pkg = importlib.import_module("kernels")
    if not hasattr(_pkg, "apply_block"):  # some other package called "kernels"
        raise ImportError
except ImportError:
    _init = pathlib.Path(__file__).resolve().parent.parent / "kernels" / "__init__.py"
    _spec = importlib.util.spec_from_file_location(
        "kernels", _init, submodule_search_locations=[str(_init.parent)]
    )
    _pkg = importlib.util.module_from_spec(_spec)
    sys.modules["kernels"] = _pkg
    _spec.loader.exec_module(_pkg)

apply_block = _pkg.apply_block
block_layout = _pkg.block_layout
sort_block = _pkg.sort_block
gram_layout = _pkg.gram_layout
gram_planes = _pkg.gram_planes
__all__ = ["apply_block", "block_layout", "gram_layout", "gram_planes", "sort_block"]
