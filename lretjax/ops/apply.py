"""Apply matrices and channels to the rows of L = (2^n, r).

L viewed as shape (2,)*n + (r,) has axis i = wire i. One- and two-wire matrices are applied as
elementwise arithmetic on slices of that view (XLA fuses it into one pass over memory, which
on GPU runs at copy bandwidth where tensordot does not); wider matrices use a contraction.
"""

from __future__ import annotations

import itertools
from typing import Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex

_HIGHEST = jax.lax.Precision.HIGHEST


def _view(L, num_wires: int):
    return L.reshape((2,) * num_wires + (L.shape[-1],))


def apply_matrix(
    L: Complex[Array, "dim rank"], u: Complex[Array, "d d"], wires: Sequence[int], num_wires: int
) -> Complex[Array, "dim rank"]:
    """L <- U L where U acts on ``wires`` (first wire = most significant bit of U's index)."""
    k = len(wires)
    t = _view(L, num_wires)
    u = u.astype(L.dtype)
    if k <= 2:
        basis = list(itertools.product((0, 1), repeat=k))

        def part(bits):
            idx = [slice(None)] * (num_wires + 1)
            for w, b in zip(wires, bits):
                idx[w] = b
            return t[tuple(idx)]

        parts = [part(b) for b in basis]
        outs = [sum(u[i, j] * parts[j] for j in range(2**k)) for i in range(2**k)]
        out = jnp.stack(outs).reshape((2,) * k + parts[0].shape)
    else:
        ut = u.reshape((2,) * (2 * k))
        out = jnp.tensordot(ut, t, axes=(list(range(k, 2 * k)), list(wires)), precision=_HIGHEST)
    out = jnp.moveaxis(out, list(range(k)), list(wires))
    return out.reshape(L.shape)


def apply_channel(
    L: Complex[Array, "dim rank"], kraus: Complex[Array, "m d d"], wires: Sequence[int], num_wires: int
) -> Complex[Array, "dim m_rank"]:
    """Stack [K_1 L | K_2 L | ... | K_m L]: the factor of sum_i K_i rho K_i^dagger (rank m r)."""
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
