"""Accurate inner products over large complex64 factors (``lretjax.ops.inner``)."""

import jax
import jax.numpy as jnp
import numpy as np

import lretjax
from lretjax.ops.inner import inner, real_inner, sq_norm


def _big(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2**12, 2048)) + 1j * rng.normal(size=(2**12, 2048))
    return (x / np.linalg.norm(x)).astype(np.complex64)


def test_sums_of_eight_million_complex64_terms_keep_float32_accuracy():
    a, b = _big(0), _big(1)
    a64, b64 = a.astype(np.complex128), b.astype(np.complex128)
    f = jax.jit(lambda a, b: (sq_norm(a), real_inner(a, b), inner(a, b)))
    n, r, c = f(jnp.asarray(a), jnp.asarray(b))
    assert abs(float(n) - np.vdot(a64, a64).real) < 1e-6
    want = np.vdot(a64, b64)
    assert abs(float(r) - want.real) < 1e-6 and abs(complex(c) - want) < 1e-6


def test_complex64_trace_and_expval_of_a_large_state():
    L = _big(2)
    st = lretjax.LowRankState(jnp.asarray(L), jnp.zeros((), jnp.float32), jnp.asarray(2048), 12)
    L64 = L.astype(np.complex128)
    assert abs(float(st.trace()) - 1.0) < 1e-6
    z0 = np.repeat([1.0, -1.0], 2**11)[:, None]
    want = float(np.vdot(L64, z0 * L64).real)
    assert abs(float(lretjax.expval(st, "Z0")) - want) < 1e-6
