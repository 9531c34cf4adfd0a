"""The sharded algorithm as it runs on one shard: local blocks plus a few collectives.

Every function takes the local block (2^(n-g), r) of L in *physical* row order and a
collectives object (``MeshCollectives`` inside ``shard_map``, ``MPICollectives`` under MPI).
``perm[w]`` is the physical bit of logical wire w; bits below g pick the shard.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from ..circuit import Op
from ..observables import DenseObservable, PauliSum
from ..ops import apply_matrix, apply_pauli, channel_truncate
from ..ops.inner import inner, real_inner
from .layout import Apply, Plan, Swap

_HIGHEST = jax.lax.Precision.HIGHEST


def zero_block(n: int, g: int, coll, dtype) -> jax.Array:
    """This shard's rows of |0...0> (any layout): a 1 only on shard 0."""
    first = (coll.shard_index() == 0).astype(dtype) if g else jnp.ones((), dtype)
    return jnp.zeros((2 ** (n - g), 1), dtype).at[0, 0].set(first)


def swap_bits(L, a: int, b_local: int, nl: int, coll):
    """Trade global bit ``a`` with local bit ``b_local`` (one all_to_all of half the block)."""
    view = L.reshape((2,) * nl + (L.shape[-1],))
    return coll.swap(view, a, b_local).reshape(L.shape)


def evolve(L, discarded, rank, ops: Sequence[Op], plan: Plan, max_rank: int, epsilon, coll):
    """Run ``plan`` on this shard: local gates and channels, swaps, sharded truncation."""
    nl = plan.num_wires - plan.num_global
    for step in plan.steps:
        if isinstance(step, Swap):
            L = swap_bits(L, step.glob, step.loc - plan.num_global, nl, coll)
            continue
        assert isinstance(step, Apply)
        op = ops[step.index]
        if op.is_channel:
            # The Gram route of ops.channel_truncate: one psum of the (d r)^2 block Lw^dagger Lw.
            t = channel_truncate(L, op.kraus(), step.local_wires, nl, max_rank, epsilon,
                                 psum=coll.psum, dim=2**plan.num_wires)
            L, discarded, rank = t.L, discarded + t.discarded, t.rank
        else:
            L = apply_matrix(L, op.matrix(), step.local_wires, nl)
    return L, discarded, rank


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


def expval(L, obs, perm: Sequence[int], g: int, coll):
    """<O> for a PauliSum, or a DenseObservable whose wires are local in this layout."""
    n = len(perm)
    nl = n - g
    if isinstance(obs, DenseObservable):
        local = tuple(perm[w] - g for w in obs.wires)
        ol = apply_matrix(L, obs.matrix.astype(L.dtype), local, nl)
        return coll.psum(real_inner(L, ol))
    assert isinstance(obs, PauliSum)
    terms = []
    for p in obs.paulis:
        # Chain each term to the previous one: independent exchanges could run in different
        # orders on different devices, and XLA:CPU's collectives then deadlock.
        src = L if not terms else jax.lax.optimization_barrier((L, terms[-1]))[0]
        terms.append(_pauli_term(src, physical_pauli(p, perm), g, nl, coll))
    vals = coll.psum(jnp.real(jnp.stack(terms)))
    return jnp.sum(obs.coeffs.astype(vals.dtype) * vals)


def marginal(L, wires: Sequence[int], perm: Sequence[int], g: int, coll):
    """Probabilities of ``wires`` (first wire high), replicated on every shard."""
    n = len(perm)
    nl = n - g
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


def sample(L, shots: int, key, perm: Sequence[int], g: int, coll):
    """``shots`` outcomes of all wires as bits (logical order), without gathering L.

    A shard is drawn by its mass (on shard 0, shared by an integer psum so every shard agrees
    exactly), then the row inside it from the local distribution; an integer psum assembles the
    physical row index, whose bits are read out in logical order.
    """
    n = len(perm)
    nl = n - g
    p = jnp.sum(jnp.abs(L) ** 2, axis=1)
    mass = jnp.sum(p)
    me = coll.shard_index() if g else jnp.zeros((), jnp.int32)
    masses = coll.psum(jax.nn.one_hot(me, 2**g, dtype=p.dtype) * mass)
    k_shard, k_row = jax.random.split(key)
    pick = jax.random.choice(k_shard, 2**g, shape=(shots,), p=masses / jnp.sum(masses))
    pick = coll.psum(jnp.where(me == 0, pick, 0).astype(jnp.int32))
    safe = jnp.where(mass > 0, p / jnp.where(mass > 0, mass, 1), 1.0 / p.shape[0])
    row = jax.random.choice(jax.random.fold_in(k_row, me), p.shape[0], shape=(shots,), p=safe)
    idx = coll.psum(jnp.where(pick == me, (me << nl) + row, 0).astype(jnp.int32))
    shifts = jnp.asarray([n - 1 - perm[w] for w in range(n)], jnp.int32)
    return (idx[:, None] >> shifts) & 1
