"""Switches a benchmark worker flips to run the engine as it ran before a change, for a
comparison in one run (each worker is a fresh process, so a switch lasts for its run only)."""

from __future__ import annotations

import functools
import sys


def one_step_per_op() -> None:
    """Every op its own step: no gate folded into a channel, no run of gates fused
    (``engine.build(fold=False, fuse=False)``)."""
    import lretjax  # noqa: F401  (loads lretjax.simulate)
    from lretjax.engine import build

    # the module itself: the package's attribute ``lretjax.simulate`` is the function
    sys.modules["lretjax.simulate"].build = functools.partial(build, fold=False, fuse=False)


def no_merge() -> None:
    """Depolarizing channels on one wire stay steps of their own (no ``_merge_tail``)."""
    from lretjax.engine import schedule

    schedule._merge_tail = lambda ops, instructions, at: []


def steps(circuit) -> int:
    """Steps the run's schedule has (shows whether ``one_step_per_op`` took)."""
    return sys.modules["lretjax.simulate"].build(circuit).num_steps


def wire_policy(policy: str) -> None:
    """Every schedule built with this ``wires`` policy (``engine.schedule.WIRE_POLICIES``)
    instead of the platform's default."""
    import lretjax  # noqa: F401  (loads lretjax.simulate)
    from lretjax.engine import schedule

    def fixed(entries=None):
        return policy

    schedule.default_wires = fixed
    sys.modules["lretjax.simulate"].default_wires = fixed


def no_pallas() -> None:
    """Every gate and superoperator lowered as XLA elementwise arithmetic on CUDA too (the Pallas
    kernel is otherwise taken from ``ops.primitives._PALLAS_MIN_WIRES`` wires on: the dense
    representation's two-qubit superoperators act on four)."""
    from lretjax.ops import primitives

    primitives._PALLAS_MIN_WIRES = 2**31


def no_commute() -> None:
    """Traced runs keep the circuit's order (no ``engine.commute``): depolarizing channels merge
    only with the ops right after them."""
    import lretjax  # noqa: F401  (loads lretjax.simulate)

    sys.modules["lretjax.simulate"].commuted = lambda circuit: None
