"""The four collectives the sharded algorithm needs, for a device mesh or for MPI processes.

The algorithm (``local.py``) sees only this interface, so ``shard_map`` over a mesh and
``mpi4jax`` across processes run literally the same code:

- ``psum(x)``: sum over all shards (Gram matrices, expectation values, probabilities);
- ``swap(x, a, b)``: exchange global bit ``a`` with local axis ``b`` of the block viewed as
  (2,)*(n-g) + (r,): each shard sends half its block to the partner differing in bit ``a``;
- ``exchange(x, a)``: the whole block of the partner differing in bit ``a``;
- ``bit(a)``: this shard's value of global bit ``a`` (0 = most significant).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp


def bit_axis_names(g: int, prefix: str = "rows") -> tuple[str, ...]:
    """Mesh axis names of the g global bits, most significant first."""
    return tuple(f"{prefix}{a}" for a in range(g))


@dataclass(frozen=True)
class MeshCollectives:
    """Collectives inside ``jax.shard_map`` over a mesh with one size-2 axis per global bit."""

    axes: tuple[str, ...]

    def psum(self, x):
        return jax.lax.psum(x, self.axes) if self.axes else x

    def swap(self, x, a: int, b: int):
        # Size-2 all_to_all along bit a: chunk j of axis b goes to the shard whose bit a is j,
        # and received chunks are stacked in source order, so bit a and axis b trade places.
        return jax.lax.all_to_all(x, self.axes[a], split_axis=b, concat_axis=b, tiled=True)

    def exchange(self, x, a: int):
        return jax.lax.ppermute(x, self.axes[a], perm=[(0, 1), (1, 0)])

    def bit(self, a: int):
        return jax.lax.axis_index(self.axes[a])

    def shard_index(self):
        """This shard's index (bits in order, most significant first)."""
        g = len(self.axes)
        idx = jnp.zeros((), jnp.int32)
        for a in range(g):
            idx = idx + (self.bit(a).astype(jnp.int32) << (g - 1 - a))
        return idx
