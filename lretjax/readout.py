"""What every reader computes on one block of L, written once for every layout.

Each function takes a block of L's rows in *physical* order (all of L on one device), the
layout (``perm[w]``: the row bit of wire w; the leading ``g`` bits pick the shard) and the
collectives (``lretjax.engine.collectives``): identities on one device, ``psum`` and pairwise
exchanges over a mesh or across MPI processes. ``lretjax.measure`` runs them through the state's
placement, so ``expval``, ``probabilities``, ``sample``, ``purity`` and ``fidelity`` have one
code path whatever the layout.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from .observables import DenseObservable, PauliSum
from .ops import apply_matrix, apply_pauli, gram
from .ops.inner import inner, real_inner, sq_norm

_HIGHEST = jax.lax.Precision.HIGHEST


def physical_pauli(pauli: str, perm: Sequence[int]) -> str:
    """A logical Pauli string (wire 0 first) rewritten in physical bit order."""
    phys = ["I"] * len(perm)
    for w, c in enumerate(pauli):
        phys[perm[w]] = c
    return "".join(phys)


def _pauli_term(L, phys: str, g: int, nl: int, coll):
    """This shard's part of <L, P L> (complex; the psum of the real parts is the value)."""
    other = L
    phase = jnp.ones((), L.dtype)
    for a, c in enumerate(phys[:g]):
        if c in "XY":
            # (P L)[x] = phase(x) L[x ^ flips]: rows flipped on a global bit live on the partner.
            other = coll.exchange(other, a)
        if c in "YZ":
            # Same phases as apply_pauli: Z -> (1, -1), Y after its flip -> (-i, i).
            s = 1 - 2 * jnp.asarray(coll.bit(a)).astype(L.real.dtype)
            phase = phase * (s if c == "Z" else -1j * s)
    other = apply_pauli(other, phys[g:], nl)
    return phase * inner(L, other)


def expval(L, coll, obs, perm: Sequence[int], g: int):
    """<O> for a PauliSum, or a DenseObservable whose wires are local in this layout."""
    nl = len(perm) - g
    if isinstance(obs, DenseObservable):
        local = tuple(perm[w] - g for w in obs.wires)
        ol = apply_matrix(L, obs.matrix.astype(L.dtype), local, nl)
        return coll.psum(real_inner(L, ol))
    assert isinstance(obs, PauliSum)
    if g == 0:
        vals = jnp.stack([real_inner(L, apply_pauli(L, physical_pauli(p, perm), nl)) for p in obs.paulis])
        return jnp.sum(obs.coeffs.astype(vals.dtype) * vals)
    terms = []
    for p in obs.paulis:
        # Chain each term to the previous one: independent exchanges could run in different
        # orders on different devices, and XLA:CPU's collectives then deadlock.
        src = L if not terms else jax.lax.optimization_barrier((L, terms[-1]))[0]
        terms.append(_pauli_term(src, physical_pauli(p, perm), g, nl, coll))
    vals = coll.psum(jnp.real(jnp.stack(terms)))
    return jnp.sum(obs.coeffs.astype(vals.dtype) * vals)


def marginal(L, coll, wires: Sequence[int], perm: Sequence[int], g: int):
    """Probabilities of ``wires`` (first wire high), replicated on every shard."""
    nl = len(perm) - g
    p = jnp.sum(jnp.abs(L) ** 2, axis=1).reshape((2,) * nl)
    keep_local = sorted(perm[w] - g for w in wires if perm[w] >= g)
    drop = tuple(b for b in range(nl) if b not in keep_local)
    t = jnp.sum(p, axis=drop) if drop else p
    # Axes of t: the kept local bits in increasing order; global wires add one-hot axes that
    # place this shard's mass at its own bit value, so the psum assembles the full table.
    axes = [g + b for b in keep_local]
    for w in wires:
        a = perm[w]
        if a < g:
            onehot = jax.nn.one_hot(coll.bit(a), 2, dtype=t.dtype)
            t = t[None] * onehot.reshape((2,) + (1,) * t.ndim)
            axes.insert(0, a)
    t = jnp.transpose(t, [axes.index(perm[w]) for w in wires])
    return coll.psum(t).reshape(-1)


def reduced(L, coll, wires: Sequence[int], perm: Sequence[int], g: int):
    """rho on ``wires`` (local in this layout) = sum over shards of A A^dagger, with A the block
    regrouped as (kept bits) x (other bits, columns)."""
    nl = len(perm) - g
    keep = [perm[w] - g for w in wires]
    others = [b for b in range(nl) if b not in keep]
    a = jnp.transpose(L.reshape((2,) * nl + (-1,)), keep + others + [nl]).reshape(2 ** len(wires), -1)
    return coll.psum(jnp.matmul(a, a.conj().T, precision=_HIGHEST))


def rotate(L, coll, mats, wires: Sequence[Sequence[int]], n: int):
    """L after the unitaries ``mats[i]`` on ``wires[i]``, in order (one device)."""
    for u, w in zip(mats, wires, strict=True):
        L = apply_matrix(L, u, tuple(w), n)
    return L


def rows(L, coll):
    """Probabilities of this block's rows (physical order): the full table stays sharded."""
    return jnp.sum(jnp.abs(L) ** 2, axis=-1)


def sample(L, coll, shots: int, key, wires: Sequence[int], perm: Sequence[int], g: int):
    """``shots`` outcomes of ``wires`` as bits (first wire first), without gathering L.

    On one device, outcomes are drawn from the marginal of ``wires``. Sharded, a shard is drawn
    by its mass (on shard 0, shared by an integer psum so every shard agrees exactly), then the
    row inside it from the local distribution; an integer psum assembles the physical row
    index, whose bits are read out in logical order.
    """
    n = len(perm)
    if g == 0:
        p = marginal(L, coll, wires, perm, 0)
        idx = jax.random.choice(key, p.shape[0], shape=(shots,), p=p / jnp.sum(p))
        return (idx[:, None] >> jnp.arange(len(wires) - 1, -1, -1)) & 1
    nl = n - g
    p = jnp.sum(jnp.abs(L) ** 2, axis=1)
    mass = jnp.sum(p)
    me = coll.shard_index()
    masses = coll.psum(jax.nn.one_hot(me, 2**g, dtype=p.dtype) * mass)
    k_shard, k_row = jax.random.split(key)
    pick = jax.random.choice(k_shard, 2**g, shape=(shots,), p=masses / jnp.sum(masses))
    pick = coll.psum(jnp.where(me == 0, pick, 0).astype(jnp.int32))
    safe = jnp.where(mass > 0, p / jnp.where(mass > 0, mass, 1), 1.0 / p.shape[0])
    row = jax.random.choice(jax.random.fold_in(k_row, me), p.shape[0], shape=(shots,), p=safe)
    idx = coll.psum(jnp.where(pick == me, (me << nl) + row, 0).astype(jnp.int32))
    shifts = jnp.asarray([n - 1 - perm[w] for w in wires], jnp.int32)
    return (idx[:, None] >> shifts) & 1


def purity(L, coll):
    """Tr(rho^2) = ||sum of the blocks' Gram matrices||_F^2."""
    return sq_norm(coll.psum(gram(L)))


def trace(L, coll):
    """Tr(rho) = ||L||_F^2."""
    return coll.psum(sq_norm(L))


def overlap(L, coll, other):
    """L^dagger other (summed over shards): its nuclear norm squared is the fidelity."""
    return coll.psum(jnp.matmul(L.conj().T, other.astype(L.dtype), precision=_HIGHEST))


def amplitude(L, coll, psi):
    """<psi|rho|psi> = ||psi^dagger L||^2 for this block of psi (same row order as L)."""
    amp = coll.psum(jnp.matmul(psi.conj().astype(L.dtype), L, precision=_HIGHEST))
    return sq_norm(amp)


# ---- the dense representation: rho itself (lretjax.engine.dense), on one device ----------------


def dense_expval(rho, coll, obs, n: int):
    """Tr(O rho) for a PauliSum or a DenseObservable."""
    if isinstance(obs, DenseObservable):
        return jnp.real(jnp.trace(apply_matrix(rho, obs.matrix.astype(rho.dtype), obs.wires, n)))
    vals = jnp.stack([jnp.real(jnp.trace(apply_pauli(rho, p, n))) for p in obs.paulis])
    return jnp.sum(obs.coeffs.astype(vals.dtype) * vals)


def dense_marginal(rho, coll, wires: Sequence[int], n: int):
    """Probabilities of ``wires`` (first wire high) from the diagonal of rho."""
    p = jnp.real(jnp.diagonal(rho)).reshape((2,) * n)
    drop = tuple(w for w in range(n) if w not in wires)
    t = jnp.sum(p, axis=drop) if drop else p
    order = sorted(wires)
    return jnp.transpose(t, [order.index(w) for w in wires]).reshape(-1)


def dense_reduced(rho, coll, wires: Sequence[int], n: int):
    """The partial trace of rho over the wires not in ``wires`` (kept in that order)."""
    k = len(wires)
    others = [w for w in range(n) if w not in wires]
    t = jnp.transpose(rho.reshape((2,) * (2 * n)), [*wires, *others, *(n + w for w in wires),
                                                      *(n + w for w in others)])
    return jnp.einsum("ajbj->ab", t.reshape(2**k, 2 ** (n - k), 2**k, 2 ** (n - k)))


def dense_rotate(rho, coll, mats, wires: Sequence[Sequence[int]], n: int):
    """U rho U^dagger for the unitaries ``mats[i]`` on ``wires[i]``, in order."""
    for u, w in zip(mats, wires, strict=True):
        rho = apply_matrix(apply_matrix(rho, u, tuple(w), n).conj().T, u, tuple(w), n).conj().T
    return rho


def dense_sample(rho, coll, shots: int, key, wires: Sequence[int], n: int):
    p = dense_marginal(rho, coll, wires, n)
    idx = jax.random.choice(key, p.shape[0], shape=(shots,), p=p / jnp.sum(p))
    return (idx[:, None] >> jnp.arange(len(wires) - 1, -1, -1)) & 1


def dense_purity(rho, coll):
    return sq_norm(rho)


def dense_trace(rho, coll):
    return jnp.real(jnp.trace(rho))


def dense_amplitude(rho, coll, psi):
    """<psi|rho|psi>."""
    psi = psi.astype(rho.dtype)
    return jnp.real(jnp.vdot(psi, jnp.matmul(rho, psi, precision=_HIGHEST)))


def dense_root(rho, coll):
    """A factor R with rho = R R^dagger (from rho's eigendecomposition; small n)."""
    lam, u = jnp.linalg.eigh(rho)
    return u * jnp.sqrt(jnp.clip(lam, 0.0)).astype(rho.dtype)
