"""Other faces of a channel: its Choi matrix, its Pauli transfer matrix, and Kraus operators back from a Choi.

Convention: for a channel E on d = 2^k dimensions, the Choi matrix is
J = sum_ij |i><j| (x) E(|i><j|), i.e. J[(i, a), (j, b)] = E(|i><j|)[a, b] (input index first),
a (d^2, d^2) positive matrix with partial trace over the output equal to I. The Pauli transfer
matrix is R[i, j] = Tr(P_i E(P_j)) / d with the Pauli strings in lexicographic order of
"IXYZ" per wire, wire 0 first (so R is real, and R[0] = (1, 0, ..., 0) for a trace-preserving E).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from ..gates import PAULIS_1


def choi_matrix(kraus: jax.Array) -> jax.Array:
    """J[(i, a), (j, b)] = sum_k K_k[a, i] conj(K_k[b, j])."""
    kraus = jnp.asarray(kraus)
    d = kraus.shape[-1]
    return jnp.einsum("kai,kbj->iajb", kraus, kraus.conj()).reshape(d * d, d * d)


def kraus_from_choi(choi: jax.Array) -> jax.Array:
    """A Kraus set of the channel with Choi matrix ``choi``, from its eigendecomposition.

    Jittable with a fixed output shape: all d^2 operators K_i = sqrt(lambda_i) unvec(v_i) are
    returned, eigenvalues clipped at zero (so directions the channel lacks come out as zero
    matrices). Differentiating through it goes through ``eigh`` and is unreliable where
    eigenvalues coincide; the named channels use closed forms instead.
    """
    choi = jnp.asarray(choi)
    dd = choi.shape[0]
    d = int(round(np.sqrt(dd)))
    lam, v = jnp.linalg.eigh((choi + choi.conj().T) / 2)
    amp = jnp.sqrt(jnp.clip(lam, 0.0))
    # v[:, i] indexed by (input i, output a) -> K[a, i]
    ks = jnp.transpose(v.T.reshape(dd, d, d), (0, 2, 1))
    return (amp[:, None, None] * ks)[::-1]


def pauli_basis(num_wires: int) -> np.ndarray:
    """The 4^k Pauli strings on k wires as (4^k, 2^k, 2^k) matrices, lexicographic in IXYZ, wire 0 first."""
    mats = []
    for combo in itertools.product(range(4), repeat=num_wires):
        m = np.ones((1, 1), dtype=complex)
        for c in combo:
            m = np.kron(m, PAULIS_1[c])
        mats.append(m)
    return np.stack(mats)


def ptm(kraus: jax.Array) -> jax.Array:
    """Pauli transfer matrix R[i, j] = Tr(P_i E(P_j)) / d (real)."""
    kraus = jnp.asarray(kraus)
    d = kraus.shape[-1]
    k = int(round(np.log2(d)))
    paulis = jnp.asarray(pauli_basis(k), dtype=kraus.dtype)
    out = jnp.einsum("kab,jbc,kdc->jad", kraus, paulis, kraus.conj())  # E(P_j)
    return jnp.real(jnp.einsum("iba,jab->ij", paulis, out)) / d
