"""Row-sharded L across devices (``jax.shard_map`` over a mesh) and processes (mpi4jax).

    >>> from lretjax import distributed as dist
    >>> mesh = dist.make_mesh(8)                     # 8 row shards: 3 global wires
    >>> st = dist.simulate_sharded(circuit, mesh=mesh, max_rank=32)
    >>> dist.expval(st, "Z0 Z1"), st.swaps

The MPI backend lives in ``lretjax.distributed.mpi`` (imported on demand: it needs mpi4jax).
"""

from .checkpoint import restore, save
from .layout import Plan, plan_swaps
from .mesh import make_mesh
from .sharded import (
    ShardedState,
    comm_volume,
    expval,
    gather,
    probabilities,
    purity,
    sample,
    simulate_sharded,
    state_at,
)

__all__ = [
    "make_mesh", "simulate_sharded", "ShardedState", "gather", "state_at", "expval",
    "probabilities", "sample", "purity", "plan_swaps", "Plan", "comm_volume", "save", "restore",
]
