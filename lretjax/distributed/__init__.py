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


from ..measure import expval, probabilities, purity, sample
from ..state import deprecated_state_alias
from .checkpoint import restore, save
from .layout import Plan, plan_swaps
from .mesh import make_mesh
from .placement import MeshPlacement, gather, state_at
from .sharded import comm_volume, simulate_sharded

__getattr__ = deprecated_state_alias(__name__, "ShardedState")


__all__ = [
    "make_mesh", "simulate_sharded", "MeshPlacement", "gather", "state_at", "expval",
    "probabilities", "sample", "purity", "plan_swaps", "Plan", "comm_volume", "save", "restore",
]
