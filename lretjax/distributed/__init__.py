"""Row-sharded L across devices (``jax.shard_map`` over a mesh) and processes (mpi4jax).

    >>> from lretjax import distributed as dist
    >>> mesh = dist.make_mesh(8)                     # 8 row shards: 3 global wires
    >>> st = dist.simulate_sharded(circuit, mesh=mesh, max_rank=32)
    >>> lretjax.expval(st, "Z0 Z1"), st.swaps

The sharded run is the engine's one loop (``lretjax.engine``) with a mesh's collectives; its
result is an ordinary ``LowRankState`` whose ``layout`` says where L lives, and every reader of
``lretjax`` accepts it. The MPI backend lives in ``lretjax.distributed.mpi`` (imported on demand:
it needs mpi4jax).
"""

import warnings

from ..measure import expval, probabilities, purity, sample
from .checkpoint import restore, save
from .layout import Plan, plan_swaps
from .mesh import make_mesh
from .placement import MeshPlacement, gather, state_at
from .sharded import comm_volume, simulate_sharded


def __getattr__(name: str):
    if name == "ShardedState":
        warnings.warn("ShardedState is deprecated: a sharded run returns a LowRankState whose "
                      "layout says where L lives", DeprecationWarning, stacklevel=2)
        from ..state import LowRankState

        return LowRankState
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "make_mesh", "simulate_sharded", "MeshPlacement", "gather", "state_at", "expval",
    "probabilities", "sample", "purity", "plan_swaps", "Plan", "comm_volume", "save", "restore",
]
