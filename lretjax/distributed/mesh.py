"""Device meshes for row-sharded L: one size-2 axis per global wire bit, plus a batch axis.

A user may bring ``jax.make_mesh((8, 2), ("rows", "batch"))``; it is viewed as a mesh with axes
``("batch", "rows0", "rows1", "rows2")`` over the same devices, so that a swap of global bit a
is an ``all_to_all`` along the size-2 axis ``rows{a}`` only.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh

from ..errors import SimulationConfigError
from .collectives import bit_axis_names

BATCH = "batch"
ROWS = "rows"


def _log2(k: int, what: str) -> int:
    g = int(k).bit_length() - 1
    if k < 1 or 2**g != k:
        raise SimulationConfigError(f"{what} must be a power of two, got {k}")
    return g


def make_mesh(num_shards: int | None = None, num_batch: int = 1, devices=None) -> Mesh:
    """A mesh of ``num_shards`` row shards (a power of two) times ``num_batch`` batch groups.

    By default all devices go to row shards. Devices are taken in ``jax.devices()`` order
    (all processes, so the same call works after ``jax.distributed.initialize()``).
    """
    devices = list(jax.devices() if devices is None else devices)
    if num_shards is None:
        num_shards = len(devices) // num_batch
    g = _log2(num_shards, "the number of row shards")
    need = num_shards * num_batch
    if need > len(devices):
        raise SimulationConfigError(
            f"a mesh of {num_shards} row shards x {num_batch} batch groups needs {need} devices, "
            f"{len(devices)} are available"
        )
    grid = np.asarray(devices[:need], dtype=object).reshape((num_batch,) + (2,) * g)
    return Mesh(grid, (BATCH,) + bit_axis_names(g, ROWS))


def as_bit_mesh(mesh: Mesh) -> Mesh:
    """The mesh viewed with axes (batch, rows0, ..., rows{g-1}); accepts our own or ("rows"[, "batch"])."""
    if not isinstance(mesh, Mesh):
        raise SimulationConfigError(f"mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    names = tuple(mesh.axis_names)
    shape = dict(zip(names, mesh.devices.shape, strict=True))
    if names and names[0] == BATCH and names[1:] == bit_axis_names(len(names) - 1, ROWS):
        if any(shape[a] != 2 for a in names[1:]):
            raise SimulationConfigError(f"every row axis must have size 2, got {shape}")
        return mesh
    extra = set(names) - {ROWS, BATCH}
    if ROWS not in names or extra:
        raise SimulationConfigError(
            f"mesh axes must be 'rows' (and optionally 'batch'), got {names}; "
            "build one with lretjax.distributed.make_mesh"
        )
    g = _log2(shape[ROWS], "the 'rows' mesh axis size")
    devs = mesh.devices
    if BATCH not in names:
        devs = devs[None]
    else:
        devs = np.moveaxis(devs, names.index(BATCH), 0)
    grid = devs.reshape((devs.shape[0],) + (2,) * g)
    return Mesh(grid, (BATCH,) + bit_axis_names(g, ROWS))


def row_axes(mesh: Mesh) -> tuple[str, ...]:
    return tuple(a for a in mesh.axis_names if a != BATCH)


def num_batch(mesh: Mesh) -> int:
    return dict(zip(mesh.axis_names, mesh.devices.shape, strict=True))[BATCH]
