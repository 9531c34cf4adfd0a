"""The LAPACK thread limit of eager CPU segments (``lretjax.engine.threads``)."""

import jax.numpy as jnp
from threadpoolctl import threadpool_info

from lretjax.engine.threads import ONE_THREAD_MAX, lapack_threads


def _blas_threads() -> list[int]:
    jnp.linalg.eigh(jnp.eye(2))  # SciPy's OpenBLAS, which XLA:CPU's eigensolves use, is loaded
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_small_eigensolves_run_on_one_lapack_thread_and_the_setting_comes_back():
    before = _blas_threads()
    assert before, "no BLAS library found in the process"
    with lapack_threads(ONE_THREAD_MAX, "cpu"):
        assert set(_blas_threads()) == {1}
    assert _blas_threads() == before


def test_large_eigensolves_and_other_platforms_keep_the_process_setting():
    before = _blas_threads()
    with lapack_threads(ONE_THREAD_MAX + 1, "cpu"):
        assert _blas_threads() == before
    with lapack_threads(8, "gpu"):
        assert _blas_threads() == before
