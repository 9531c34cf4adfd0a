"""The LAPACK thread limit of eager CPU segments (``lretjax.engine.threads``)."""

import contextlib
import json
import subprocess
import sys

import jax.numpy as jnp
from threadpoolctl import threadpool_info

from lretjax.engine.threads import ONE_THREAD_MAX, lapack_limit


def _blas_threads() -> list[int]:
    jnp.linalg.eigh(jnp.eye(2))  # SciPy's OpenBLAS, which XLA:CPU's eigensolves use, is loaded
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_small_eigensolves_run_on_one_lapack_thread_and_the_setting_comes_back():
    before = _blas_threads()
    assert before, "no BLAS library found in the process"
    with lapack_limit("cpu")(ONE_THREAD_MAX):
        assert set(_blas_threads()) == {1}
    assert _blas_threads() == before


def test_large_eigensolves_and_other_platforms_keep_the_process_setting():
    before = _blas_threads()
    with lapack_limit("cpu")(ONE_THREAD_MAX + 1):
        assert _blas_threads() == before
    with lapack_limit("gpu")(8):
        assert _blas_threads() == before


def test_a_fresh_process_limits_the_lapack_its_first_eigensolve_will_load():
    """XLA:CPU loads SciPy's LAPACK only when it first compiles an eigensolve: a limit taken
    before then must still reach that library, or a fresh process's first run goes unlimited."""
    code = (
        "import json, sys\n"
        "from threadpoolctl import threadpool_info\n"
        "from lretjax.engine.threads import lapack_limit\n"
        "assert 'scipy.linalg.cython_lapack' not in sys.modules\n"
        "with lapack_limit('cpu')(8):\n"
        "    print(json.dumps([(p['filepath'], p['num_threads']) for p in threadpool_info()]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"OPENBLAS_NUM_THREADS": "2", "JAX_PLATFORMS": "cpu", "PATH": ""})
    pools = json.loads(out.stdout)
    scipy_pools = [threads for path, threads in pools if "scipy" in path and "openblas64" not in path]
    assert scipy_pools == [1], pools


def test_simulate_runs_each_eager_segment_under_the_limit_for_its_eigenproblem(monkeypatch):
    from lretjax import Circuit, simulate
    from lretjax.engine import loop

    sizes = []

    def recording(platform):
        assert platform == "cpu"
        return lambda eig_size: sizes.append(eig_size) or contextlib.nullcontext()

    monkeypatch.setattr(loop, "lapack_limit", recording)
    c = Circuit(4).h(0).cx(0, 1).add("depolarizing", [1], 0.1).cx(1, 2).add("depolarizing", [2], 0.1)
    state = simulate(c, max_rank=16)
    assert sizes, "no segment ran under the limit"
    # one-wire depolarizing: 4 Kraus operators times the segment's width, at most 2^n
    assert max(sizes) == min(4 * state.width, 16)
