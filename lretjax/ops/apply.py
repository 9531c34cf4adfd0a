"""Apply matrices and channels to the rows of L = (2^n, r).

L viewed as shape (2,)*n + (r,) has axis i = wire i. Matrices on up to six wires go through the
primitives of ``primitives.py`` (elementwise arithmetic on slices of that view, one pass over memory;
Pallas kernels on CUDA); wider ones use a contraction.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex

from .primitives import MAX_WIRES, apply_kraus_prim, apply_matrix_prim

_HIGHEST = jax.lax.Precision.HIGHEST


def _view(L, num_wires: int):
    return L.reshape((2,) * num_wires + (L.shape[-1],))


def apply_matrix(
    L: Complex[Array, "dim rank"], u: Complex[Array, "d d"], wires: Sequence[int], num_wires: int
) -> Complex[Array, "dim rank"]:
    """L <- U L where U acts on ``wires`` (first wire = most significant bit of U's index).

    Up to six wires this is the ``apply_matrix`` primitive (fused elementwise XLA on CPU, the Pallas
    block kernel on CUDA); wider matrices use a contraction.
    """
    k = len(wires)
    u = jnp.asarray(u).astype(L.dtype)
    if k <= MAX_WIRES:
        return apply_matrix_prim(L, u, wires, num_wires)
    t = _view(L, num_wires)
    ut = u.reshape((2,) * (2 * k))
    out = jnp.tensordot(ut, t, axes=(list(range(k, 2 * k)), list(wires)), precision=_HIGHEST)
    out = jnp.moveaxis(out, list(range(k)), list(wires))
    return out.reshape(L.shape)


def apply_channel(
    L: Complex[Array, "dim rank"], kraus: Complex[Array, "m d d"], wires: Sequence[int], num_wires: int
) -> Complex[Array, "dim m_rank"]:
    """Stack [K_1 L | K_2 L | ... | K_m L]: the factor of sum_i K_i rho K_i^dagger (rank m r)."""
    kraus = jnp.asarray(kraus).astype(L.dtype)
    if len(wires) <= MAX_WIRES:
        return apply_kraus_prim(L, kraus, wires, num_wires)
    stacked = jax.vmap(lambda k: apply_matrix(L, k, wires, num_wires))(kraus)  # (m, dim, r)
    m, dim, r = stacked.shape
    return jnp.transpose(stacked, (1, 0, 2)).reshape(dim, m * r)


def apply_pauli(L: Complex[Array, "dim rank"], pauli: str, num_wires: int) -> Complex[Array, "dim rank"]:
    """P L for a Pauli string (one letter of IXYZ per wire, wire 0 first), by flips and signs."""
    t = _view(L, num_wires)
    flip = [w for w, c in enumerate(pauli) if c in "XY"]
    if flip:
        t = jnp.flip(t, axis=flip)
    phase = None
    for w, c in enumerate(pauli):
        if c in "YZ":
            # After the flip, Y = [[0, -i], [i, 0]] contributes (-i, i); Z contributes (1, -1).
            v = jnp.array([-1j, 1j] if c == "Y" else [1, -1], dtype=L.dtype)
            v = v.reshape((1,) * w + (2,) + (1,) * (num_wires - w))
            phase = v if phase is None else phase * v
    if phase is not None:
        t = t * phase
    return t.reshape(L.shape)
