"""One LAPACK thread while an eager segment with small eigensolves runs on the CPU.

XLA:CPU runs a segment's products on its own thread pool and its eigensolves through LAPACK
(the OpenBLAS that SciPy loads). With both pools at full width they fight over the same cores:
on 2 cores a channel's Gram block and its 192 x 192 eigensolve took 11.3 ms together against
3.0 + 3.2 ms apart. A small eigensolve gains little from a second thread, so a segment whose
eigenproblems are small runs LAPACK on one thread and leaves the cores to XLA. In one run, each
case in a fresh process (``python benchmarks/bench_engine.py --parts threads``,
``engine_vm_threads.json``, 2-core VM, complex64), first call / warm:

| paper family, depth 8                 | limit off     | limit on      | Aer (same run) |
|---------------------------------------|---------------|---------------|----------------|
| n = 12, epsilon 1e-4                  | 4.51 / 2.02 s | 3.50 / 1.63 s | 26.5 / 24.4 s  |
| n = 14, tolerance 2e-2                | 7.52 / 3.96 s | 7.00 / 2.88 s |                |

A large eigensolve alone is faster on both threads (2048 x 2048: 2.1 s against 4.9 s), so
wider segments keep the process's setting. The limit holds only while the segment runs
(``threadpoolctl`` restores it), and the caller's BLAS is untouched outside ``simulate``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from threadpoolctl import ThreadpoolController

# Largest eigenproblem (Kraus count x width) run with one LAPACK thread: at 768 (n = 14, width
# 192) one thread and two measured the same, 43.4 s against 44.3 s warm (a /tmp script, no
# peer); above it LAPACK's own threading starts to pay.
ONE_THREAD_MAX = 768


def lapack_limit(platform: str) -> Callable[[int], contextlib.AbstractContextManager]:
    """For one eager run: ``limit(eig_size)`` is the context a segment whose largest eigenproblem
    has ``eig_size`` rows runs in (one LAPACK thread on the CPU when that is small, else no
    change). The loaded libraries are found once per run, after SciPy's LAPACK is loaded: XLA:CPU
    loads it only when it first compiles an eigensolve, so a limit set before then would miss
    the library the run's eigensolves use (a fresh process's first run)."""
    if platform != "cpu":
        return lambda eig_size: contextlib.nullcontext()
    import scipy.linalg.cython_lapack  # noqa: F401  (the LAPACK XLA:CPU calls; a JAX dependency)

    controller = ThreadpoolController()

    def limit(eig_size: int) -> contextlib.AbstractContextManager:
        if eig_size > ONE_THREAD_MAX:
            return contextlib.nullcontext()
        return controller.limit(limits=1, user_api="blas")

    return limit
