"""Inner products over L as elementwise products plus a sum, not ``jnp.vdot``.

On CPU, ``jnp.vdot`` of two complex64 arrays accumulates in one long float32 dot product: for a
2^12 x 2048 factor its relative error was 6e-3, enough to fail the trace checks and to move
expectation values in the third digit. XLA's reduction of the elementwise products sums in a
tree, with errors near machine epsilon (2.8e-8 on the same array).
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Complex, Float


def inner(a: Complex[Array, "..."], b: Complex[Array, "..."]) -> Complex[Array, ""]:
    """<a, b> = sum conj(a) b over all entries (``jnp.vdot``, accurately summed)."""
    return jnp.sum(jnp.conj(a) * b)


def real_inner(a: Complex[Array, "..."], b: Complex[Array, "..."]) -> Float[Array, ""]:
    """Re <a, b>, without forming the imaginary part."""
    return jnp.sum(jnp.real(a) * jnp.real(b) + jnp.imag(a) * jnp.imag(b))


def sq_norm(x: Complex[Array, "..."]) -> Float[Array, ""]:
    """||x||^2 = <x, x>, e.g. Tr(L L^dagger) for a factor L."""
    return real_inner(x, x)
