"""Inner products over L as elementwise products plus a sum, not ``jnp.vdot``.

On CPU, ``jnp.vdot`` of two complex64 arrays accumulates in one long float32 dot product: for a
2^12 x 2048 factor its relative error was 6e-3, enough to fail the trace checks and to move
expectation values in the third digit. XLA's reduction of the elementwise products sums in a
tree, with errors near machine epsilon (2.8e-8 on the same array).

XLA does not fuse ``real``/``imag`` of a complex array into the reduction that consumes them: it
writes the parts out first, a temporary as large as L itself (the 8 GiB allocation that ran an
H100 out of memory at L = 2^24 x 64). Arrays above ``CHUNK`` entries are therefore summed in
chunks of ``CHUNK`` (one ``lax.map``), which bounds that temporary at 128 MiB.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float


CHUNK = 2**24


def _summed(term, a, b):
    """sum(term(a, b)), in chunks of CHUNK entries when a is larger and splits evenly."""
    if a.size <= CHUNK or a.size % CHUNK:
        return jnp.sum(term(a, b))
    shape = (a.size // CHUNK, CHUNK)
    return jnp.sum(jax.lax.map(lambda ab: jnp.sum(term(*ab)), (a.reshape(shape), b.reshape(shape))))


def inner(a: Complex[Array, "..."], b: Complex[Array, "..."]) -> Complex[Array, ""]:
    """<a, b> = sum conj(a) b over all entries (``jnp.vdot``, accurately summed)."""
    return _summed(lambda x, y: jnp.conj(x) * y, a, b)


def real_inner(a: Complex[Array, "..."], b: Complex[Array, "..."]) -> Float[Array, ""]:
    """Re <a, b>, without forming the imaginary part."""
    return _summed(lambda x, y: jnp.real(x) * jnp.real(y) + jnp.imag(x) * jnp.imag(y), a, b)


def sq_norm(x: Complex[Array, "..."]) -> Float[Array, ""]:
    """||x||^2 = <x, x>, e.g. Tr(L L^dagger) for a factor L."""
    return real_inner(x, x)
