"""Accurate inner products over large complex64 factors (``lretjax.ops.inner``)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

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


@pytest.mark.parametrize("width", [32, 33])  # 33: no power of two divides the entry count
def test_large_arrays_are_summed_in_chunks_with_the_same_result(monkeypatch, width):
    from lretjax.ops import inner as inner_mod

    rng = np.random.default_rng(3)
    a = rng.normal(size=(64, width)) + 1j * rng.normal(size=(64, width))
    b = rng.normal(size=(64, width)) + 1j * rng.normal(size=(64, width))
    monkeypatch.setattr(inner_mod, "CHUNK", 2**8)  # row chunks of >= 256 entries
    a_, b_ = jnp.asarray(a), jnp.asarray(b)
    jaxpr = str(jax.make_jaxpr(sq_norm)(a_))
    assert "scan" in jaxpr and "length=8" in jaxpr  # 8 chunks of 8 rows ran
    np.testing.assert_allclose(float(sq_norm(a_)), np.vdot(a, a).real, rtol=1e-13)
    np.testing.assert_allclose(float(real_inner(a_, b_)), np.vdot(a, b).real, rtol=1e-13)
    np.testing.assert_allclose(complex(inner(a_, b_)), np.vdot(a, b), rtol=1e-13)
    # differentiable through the chunks: Re<a, b> = sum(ar br + ai bi), and jax.grad of a real
    # function of complex a returns df/dar - i df/dai = conj(b)
    g = jax.grad(lambda x: real_inner(x, b_))(a_)
    np.testing.assert_allclose(np.asarray(g), np.conj(b), rtol=1e-13)
