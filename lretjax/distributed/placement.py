"""Where a sharded L lives: a device mesh, one size-2 axis per leading row bit.

``MeshPlacement`` is what the engine and the readers need from a mesh: run a function on every
shard (``wrap``: the engine's loop inside ``shard_map``; ``read``: a reader, its result
replicated), resize L in place, reorder rows between wire order and the physical order of a
layout, swap wires onto local bits, and gather L for small n.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ..engine import Carry, resize
from ..engine.collectives import read
from ..engine.step import swap_bits
from ..errors import SimulationConfigError
from ..state import Layout, LowRankState
from .collectives import MeshCollectives
from .layout import Swap, plan_swaps
from .mesh import BATCH, row_axes

try:  # jax >= 0.7 exports shard_map at the top level; older releases keep it in experimental.
    shard_map = jax.shard_map
except AttributeError:  # pragma: no cover
    from jax.experimental.shard_map import shard_map


@dataclass(frozen=True)
class MeshPlacement:
    """L's rows split over a mesh by the leading physical bits (one size-2 axis per bit), with
    an optional leading batch axis over the mesh's ``batch`` axis."""

    mesh: Mesh
    batched: bool = False

    @property
    def num_global(self) -> int:
        return len(row_axes(self.mesh))

    @property
    def coll(self) -> MeshCollectives:
        return MeshCollectives(row_axes(self.mesh))

    def specs(self) -> tuple[P, P]:
        """(spec of L, spec of a per-simulation scalar)."""
        rows = row_axes(self.mesh) or None
        if self.batched:
            return P(BATCH, rows, None), P(BATCH)
        return P(rows, None), P()

    def sharding(self) -> NamedSharding:
        return NamedSharding(self.mesh, self.specs()[0])

    def _carry_specs(self) -> Carry:
        l_spec, s = self.specs()
        return Carry(l_spec, s, s, s, s, s, s, s, s, (s, s))

    def wrap(self, fn: Callable) -> Callable:
        """``fn(carry, *replicated)`` run on every shard (one element of a batch at a time)."""
        specs = self._carry_specs()

        def body(carry, *rest):
            if not self.batched:
                return fn(carry, *rest)
            # lax.map, not vmap: one element at a time keeps every device's collectives in the
            # same order (vmapped collectives can run in different orders and deadlock XLA:CPU).
            return jax.lax.map(lambda c: fn(c, *rest), carry)

        def placed(carry, *rest):
            # The step's switch joins branches whose scalars differ in which mesh axes they vary
            # over (a gate's zero does not, a channel's psum'd weight varies over the batch);
            # the values are right on every shard, so the varying-axes check is off here.
            return shard_map(body, mesh=self.mesh, in_specs=(specs,) + (P(),) * len(rest),
                             out_specs=specs, check_vma=False)(carry, *rest)

        return placed

    def resize(self, L, width: int):
        return _resize(L, width, self.sharding())

    def read(self, fn: Callable, L, *args, rows=()):
        """``fn(L_block, coll, *row_blocks, *args)`` on every shard, its result replicated."""
        return read(self, fn, L, args, rows)

    def run_blocks(self, fn: Callable, L, rows, dynamic, args: Callable):
        """``fn`` on every shard inside ``shard_map`` (a batch one element at a time)."""
        coll = self.coll
        l_spec, _ = self.specs()

        def body(L, rows, dyn):
            if self.batched:
                return jax.lax.map(lambda x: fn(x, coll, *rows, *args(dyn)), L)
            return fn(L, coll, *rows, *args(dyn))

        row_specs = tuple(P(row_axes(self.mesh) or None) if r.ndim == 1 else l_spec for r in rows)
        out = P(BATCH) if self.batched else P()
        return shard_map(body, mesh=self.mesh, in_specs=(l_spec, row_specs, P()),
                         out_specs=out)(L, rows, dynamic)

    def physical(self, x, perm):
        """A (2^n,) array in logical order, in physical order and split over the shards."""
        n = len(perm)
        return jax.device_put(_physical(jnp.asarray(x)[:, None], perm, n)[:, 0],
                              NamedSharding(self.mesh, P(row_axes(self.mesh) or None)))

    def localize(self, state: LowRankState, wires: Sequence[int]) -> LowRankState:
        """The state with ``wires`` swapped onto local bits."""
        return _relayout(state, wires)

    def full_table(self, state: LowRankState, wires: Sequence[int]):
        """All 2^n outcome probabilities, sharded, with ``wires`` as the index order."""
        return _full_table(state, tuple(wires))

    def gather(self, state: LowRankState) -> LowRankState:
        return gather(state)


@functools.partial(jax.jit, static_argnames=("width", "sharding"))
def _resize(L, width, sharding):
    return jax.lax.with_sharding_constraint(resize(L, width), sharding)


def _physical(L, perm: Sequence[int], n: int):
    """Logical-order rows -> physical-order rows (row bit perm[w] holds wire w)."""
    w = L.shape[-1]
    lead = L.shape[:-2]
    t = L.reshape(lead + (2,) * n + (w,))
    k = len(lead)
    inv = [0] * n
    for wire, pos in enumerate(perm):
        inv[pos] = wire
    t = jnp.transpose(t, list(range(k)) + [k + inv[p] for p in range(n)] + [k + n])
    return t.reshape(L.shape)


def _logical(L, perm: Sequence[int], n: int):
    w = L.shape[-1]
    lead = L.shape[:-2]
    k = len(lead)
    t = L.reshape(lead + (2,) * n + (w,))
    t = jnp.transpose(t, list(range(k)) + [k + perm[wire] for wire in range(n)] + [k + n])
    return t.reshape(L.shape)


def gather(state: LowRankState) -> LowRankState:
    """The whole L in logical row order as a one-device ``LowRankState`` (small n, tests).

    Only for one process; across processes use the readers, which never gather.
    """
    if state.layout is None:
        return state
    if state.batched:
        raise SimulationConfigError("gather takes one state; index the batch with state_at(state, i)")
    L = jnp.asarray(np.asarray(_logical(state.L, state.perm, state.num_wires)))
    return LowRankState(L, jnp.asarray(state.discarded), jnp.asarray(state.rank), state.num_wires)


def state_at(state: LowRankState, i: int) -> LowRankState:
    """Element ``i`` of a batched state, still sharded over the row axes."""
    placement = MeshPlacement(state.layout.placement.mesh, False)
    L = jax.device_put(state.L[i], placement.sharding())
    layout = Layout(placement, state.perm, state.swaps, state.comm_bytes)
    return LowRankState(L, state.discarded[i], state.rank[i], state.num_wires, layout=layout)


def _relayout(state: LowRankState, wires: Sequence[int]) -> LowRankState:
    """Bring ``wires`` onto local bits (swaps only); returns the state in its new layout."""
    placement = state.layout.placement
    g = placement.num_global
    plan = plan_swaps([tuple(wires)], state.num_wires, g, state.perm)
    nl = state.num_wires - g
    pairs = tuple((s.glob, s.loc - g) for s in plan.steps if isinstance(s, Swap))
    L = _swap_only(state.L, placement=placement, pairs=pairs, nl=nl)
    layout = Layout(placement, plan.final_perm, state.swaps + len(pairs), state.comm_bytes)
    return LowRankState(state.L if not pairs else L, state.discarded, state.rank, state.num_wires,
                        layout=layout)


@functools.partial(jax.jit, static_argnames=("placement", "pairs", "nl"))
def _swap_only(L, *, placement, pairs, nl):
    coll = placement.coll
    l_spec, _ = placement.specs()

    def one(x):
        for a, b in pairs:
            x = swap_bits(x, a, b, nl, coll)
        return x

    def body(x):
        return jax.lax.map(one, x) if placement.batched else one(x)

    return shard_map(body, mesh=placement.mesh, in_specs=(l_spec,), out_specs=l_spec)(L)


@functools.partial(jax.jit, static_argnames=("perm", "n", "placement", "wires"))
def _table(L, *, perm, n, placement, wires):
    l_spec, _ = placement.specs()
    rows = row_axes(placement.mesh) or None
    spec = P(BATCH, rows) if placement.batched else P(rows)
    p = shard_map(lambda x: jnp.sum(jnp.abs(x) ** 2, axis=-1), mesh=placement.mesh,
                   in_specs=(l_spec,), out_specs=spec)(L)
    table = _logical(p[..., None], perm, n)[..., 0]
    if list(wires) != list(range(n)):
        lead = table.shape[:-1]
        t = table.reshape(lead + (2,) * n)
        k = len(lead)
        table = jnp.transpose(t, list(range(k)) + [k + w for w in wires]).reshape(lead + (-1,))
    return table


def _full_table(state: LowRankState, wires: tuple[int, ...]):
    return _table(state.L, perm=state.perm, n=state.num_wires, placement=state.layout.placement,
                  wires=wires)




__all__ = ["MeshPlacement", "gather", "state_at"]
