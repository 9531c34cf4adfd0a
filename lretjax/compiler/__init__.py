"""Compiler passes on the circuit IR (each a plain ``Circuit -> Circuit``), levels and routing.

    >>> from lretjax import Circuit
    >>> from lretjax.compiler import compile, analyze
    >>> c = Circuit(2).h(0).h(0).rz(0.1, 1).cx(0, 1).rz(0.2, 1)
    >>> analyze(compile(c, level=2)).num_gates
    3
"""

from .analysis import CircuitStats, analyze
from .cancel import cancel_and_merge, combine, remove_identities
from .decompose import decompose_multi_wire, decompose_swaps
from .kak import num_cx, resynthesize_two_wire, two_wire_blocks
from .phase import merge_phases
from .pipeline import LEVEL_PASSES, compile, fixed_point, optimize, run_passes
from .sabre import Routed, route
from .single import fuse_single_wire, u3_angles, zyz
from .synthesis import unitary_gates
from .topology import Topology


def __getattr__(name):
    # fuse_blocks lives in fuse.py, written with the kernels; import it only when asked for.
    if name == "fuse_blocks":
        from .fuse import fuse_blocks

        return fuse_blocks
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CircuitStats", "analyze", "cancel_and_merge", "combine", "remove_identities",
    "decompose_multi_wire", "decompose_swaps", "merge_phases", "LEVEL_PASSES", "compile",
    "fixed_point", "optimize", "run_passes", "Routed", "route", "fuse_single_wire", "u3_angles",
    "Topology", "num_cx", "resynthesize_two_wire", "two_wire_blocks", "zyz", "unitary_gates",
]
