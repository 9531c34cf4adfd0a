"""Where L lives, as the engine sees it: collectives and a wrapper that places a function.

The step (``step.py``) needs four collectives from its surroundings:

- ``psum(x)``: sum over all row shards (Gram blocks, expectation values, probabilities);
- ``swap(x, a, b)``: exchange global bit ``a`` with local axis ``b`` of the block viewed as
  (2,)*(n-g) + (width,);
- ``exchange(x, a)``: the whole block of the partner differing in global bit ``a``;
- ``bit(a)`` / ``shard_index()``: this shard's global bits.

One device has no global bits: every collective is the identity (``LOCAL``). A device mesh
(``lretjax.distributed.collectives.MeshCollectives``) and MPI processes
(``lretjax.distributed.mpi.MPICollectives``) supply the others, together with a *placement*
that runs a function of the blocks where they live (``wrap``) and reads results back (``read``);
the sharded placements also gather, relayout and reorder (``lretjax.distributed``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp


@dataclass(frozen=True)
class LocalCollectives:
    """One device holds all of L: sums are identities and there are no global bits."""

    def psum(self, x):
        return x

    def shard_index(self):
        return jnp.zeros((), jnp.int32)

    def bit(self, a: int):
        raise ValueError(f"one device has no global bit {a}")

    def swap(self, x, a: int, b: int):
        raise ValueError(f"one device has no global bit {a} to swap")

    def exchange(self, x, a: int):
        raise ValueError(f"one device has no global bit {a} to exchange")


LOCAL = LocalCollectives()


@dataclass(frozen=True)
class OneDevice:
    """The placement of an ordinary, unsharded L: functions run as they are."""

    num_global: int = 0

    @property
    def coll(self) -> LocalCollectives:
        return LOCAL

    def wrap(self, fn: Callable) -> Callable:
        """``fn(carry, *replicated)`` placed on the devices (here: unchanged)."""
        return fn

    def read(self, fn: Callable, L, *args, rows=()):
        """``fn(L_block, coll, *row_blocks, *args)`` with its (replicated) result; ``rows`` are
        arrays split over the shards like L's rows (here: whole)."""
        return read(self, fn, L, args, rows)

    def run_blocks(self, fn: Callable, L, rows, dynamic, args: Callable):
        """``fn(L, coll, *rows, *args(dynamic))`` on the blocks where they live (inside ``read``'s
        compiled program; ``args`` merges the traced arguments with the static ones)."""
        return fn(L, LOCAL, *rows, *args(dynamic))

    def resize(self, L, width: int):
        """L with ``width`` columns (``loop.resize``)."""
        from .loop import resize

        return resize(L, width)

    def physical(self, x, perm):
        """An array indexed by basis states, in the physical row order of ``perm`` (here: wire
        order already)."""
        return x


ONE_DEVICE = OneDevice()


def _static(a) -> bool:
    return a is None or isinstance(a, (bool, int, str, tuple))


def read(placement, fn: Callable, L, args, rows=()):
    """``placement.run_blocks(fn, ...)`` as one compiled program per (reader, layout, static
    arguments): a reader costs one dispatch, not one per operation. Python numbers, strings and
    tuples among ``args`` are static; arrays and pytrees of arrays are traced."""
    dynamic = tuple(a for a in args if not _static(a))
    static = tuple((i, a) for i, a in enumerate(args) if _static(a))
    return _read(L, tuple(rows), dynamic, fn=fn, placement=placement, static=static, num_args=len(args))


@functools.partial(jax.jit, static_argnames=("fn", "placement", "static", "num_args"))
def _read(L, rows, dynamic, *, fn, placement, static, num_args):
    fixed = dict(static)

    def args(dyn):
        it = iter(dyn)
        return [fixed[i] if i in fixed else next(it) for i in range(num_args)]

    return placement.run_blocks(fn, L, rows, dynamic, args)
