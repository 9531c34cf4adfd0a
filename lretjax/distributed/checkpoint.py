"""Checkpoint a sharded ``LowRankState``: every process writes only its own shards, with checksums.

Format (one directory): ``shards_<process>.npz`` per process holding that process's distinct
shards of L, their index ranges and a SHA-256 of each, plus the layout metadata (wires, perm,
discarded, rank) as JSON. Restoring on a mesh of the same shape rebuilds the same global
array, each process reading only the pieces its devices hold, so a run stopped and resumed
equals the uninterrupted run bit for bit.

Plain ``.npz`` rather than orbax-checkpoint: orbax would add tensorstore and a protobuf
stack to the environment for what here is a handful of arrays per process.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding

from ..errors import SimulationConfigError
from ..state import Layout, LowRankState
from .mesh import as_bit_mesh
from .placement import MeshPlacement

FORMAT = "lretjax-sharded-state/1"


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _bounds(index, shape) -> list[list[int]]:
    return [list(s.indices(d)[:2]) for s, d in zip(index, shape, strict=True)]


def save(state: LowRankState, directory: str, extra: dict | None = None) -> str:
    """Write this process's shards of ``state`` under ``directory`` (created if needed).

    ``extra`` (JSON) is stored beside the layout; ``load_meta`` reads it back.
    """
    os.makedirs(directory, exist_ok=True)
    arrays, pieces = {}, []
    for shard in state.L.addressable_shards:
        if shard.replica_id != 0:  # replicated over the batch axis: one copy is enough
            continue
        data = np.asarray(shard.data)
        key = f"L{len(pieces)}"
        arrays[key] = data
        pieces.append({"key": key, "bounds": _bounds(shard.index, state.L.shape),
                       "sha256": _digest(data)})
    meta = {
        "format": FORMAT,
        "num_wires": state.num_wires,
        "perm": list(state.perm),
        "shape": list(state.L.shape),
        "dtype": str(state.L.dtype),
        "discarded": np.asarray(state.discarded).tolist(),
        "rank": np.asarray(state.rank).tolist(),
        "swaps": state.swaps,
        "comm_bytes": state.comm_bytes,
        "pieces": pieces,
        "extra": extra or {},
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path = os.path.join(directory, f"shards_{jax.process_index():05d}.npz")
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)  # a crash mid-write leaves the previous checkpoint intact
    return path


def load_meta(directory: str) -> dict | None:
    """The metadata of this process's checkpoint file in ``directory`` (None if there is none)."""
    path = os.path.join(directory, f"shards_{jax.process_index():05d}.npz")
    if not os.path.exists(path):
        return None
    with np.load(path) as z:
        return json.loads(z["meta"].tobytes().decode())


def restore(directory: str, mesh: Mesh) -> LowRankState:
    """Read a checkpoint written by ``save`` onto ``mesh`` (same shape as when saved)."""
    files = sorted(glob.glob(os.path.join(directory, "shards_*.npz")))
    if not files:
        raise SimulationConfigError(f"no checkpoint shards (shards_*.npz) in {directory!r}")
    mesh = as_bit_mesh(mesh)
    loaded = [np.load(f) for f in files]
    metas = [json.loads(z["meta"].tobytes().decode()) for z in loaded]
    meta = metas[0]
    if meta.get("format") != FORMAT:
        raise SimulationConfigError(f"{files[0]} is not a lretjax sharded checkpoint")
    where = {}
    for z, m, f in zip(loaded, metas, files, strict=True):
        for piece in m["pieces"]:
            where[tuple(map(tuple, piece["bounds"]))] = (z, piece, f)
    shape = tuple(meta["shape"])
    batched = len(shape) == 3
    placement = MeshPlacement(mesh, batched)
    l_spec, s_spec = placement.specs()

    def read(index):
        b = tuple(map(tuple, _bounds(index, shape)))
        if b not in where:
            raise SimulationConfigError(
                f"checkpoint in {directory!r} has no shard for rows {b}: restore it on a mesh of "
                "the same shape as the one it was saved from"
            )
        z, piece, f = where[b]
        data = z[piece["key"]]
        if _digest(data) != piece["sha256"]:
            raise SimulationConfigError(f"checksum mismatch in {f} ({piece['key']}): file corrupted")
        return data

    try:
        L = jax.make_array_from_callback(shape, NamedSharding(mesh, l_spec), read)
    finally:
        for z in loaded:
            z.close()
    real = jnp.finfo(np.dtype(meta["dtype"])).dtype
    s_sharding = NamedSharding(mesh, s_spec)
    discarded = jax.device_put(jnp.asarray(meta["discarded"], real), s_sharding)
    rank = jax.device_put(jnp.asarray(meta["rank"], jnp.int32), s_sharding)
    layout = Layout(placement, tuple(meta["perm"]), meta["swaps"], meta["comm_bytes"])
    return LowRankState(L, discarded, rank, meta["num_wires"], layout=layout)
