"""Inner products over L as elementwise products plus a sum, not ``jnp.vdot``.

On CPU, ``jnp.vdot`` of two complex64 arrays accumulates in one long float32 dot product: for a
2^12 x 2048 factor its relative error was 6e-3, enough to fail the trace checks and to move
expectation values in the third digit. XLA's reduction of the elementwise products sums in a
tree, with errors near machine epsilon (2.8e-8 on the same array).

XLA does not fuse ``real``/``imag`` of a complex array into the reduction that consumes them: it
writes the parts out first, a temporary as large as L itself (the 8 GiB allocation that ran an
H100 out of memory at L = 2^24 x 64). Arrays above ``CHUNK`` entries are therefore summed in row
chunks of about ``CHUNK`` entries (one ``lax.map``), which bounds that temporary near 128 MiB.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float

CHUNK = 2**24


def _summed(term, a, b):
    """sum(term(a, b)), in row chunks of about CHUNK entries when a is larger.

    The chunk count is the largest power of two that divides the row count and leaves chunks of
    at least CHUNK entries, so a factor of 2^n rows always splits, whatever its width.
    """
    chunks = 1
    while a.size // (2 * chunks) >= CHUNK and a.shape[0] % (2 * chunks) == 0:
        chunks *= 2
    if chunks == 1:
        return jnp.sum(term(a, b))
    parts = (a.reshape(chunks, -1), b.reshape(chunks, -1))
    return jnp.sum(jax.lax.map(lambda ab: jnp.sum(term(*ab)), parts))


def inner(a: Complex[Array, "..."], b: Complex[Array, "..."]) -> Complex[Array, ""]:
    """<a, b> = sum conj(a) b over all entries (``jnp.vdot``, accurately summed)."""
    return _summed(lambda x, y: jnp.conj(x) * y, a, b)


def real_inner(a: Complex[Array, "..."], b: Complex[Array, "..."]) -> Float[Array, ""]:
    """Re <a, b>, without forming the imaginary part."""
    return _summed(lambda x, y: jnp.real(x) * jnp.real(y) + jnp.imag(x) * jnp.imag(y), a, b)


def sq_norm(x: Complex[Array, "..."]) -> Float[Array, ""]:
    """||x||^2 = <x, x>, e.g. Tr(L L^dagger) for a factor L."""
    return real_inner(x, x)
