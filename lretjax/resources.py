"""Memory estimates made before allocating, so a run that cannot fit fails at once and says why."""

from __future__ import annotations

import os

import jax
import numpy as np

from .errors import ResourceError


def available_bytes(device=None) -> int | None:
    """Free memory of the device that will hold L (host RAM for CPU); None if unknown."""
    device = device or jax.devices()[0]
    if device.platform != "cpu":
        try:
            stats = device.memory_stats() or {}
            return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
        except (KeyError, TypeError, AttributeError, RuntimeError):
            return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def simulation_bytes(num_wires: int, max_rank: int, max_kraus: int, itemsize: int) -> int:
    """Peak bytes of one channel step: L, its m stacked copies (twice, for the reshape), the Gram work."""
    width = max_rank * max(max_kraus, 1)
    rows = 2**num_wires
    return itemsize * (rows * max_rank + 2 * rows * width + 3 * width * width)


def check_fits(num_wires: int, max_rank: int, max_kraus: int, dtype, *, device=None) -> int:
    """Raise ResourceError if the simulation would not fit; return the estimated peak bytes."""
    itemsize = np.dtype(dtype).itemsize
    need = simulation_bytes(num_wires, max_rank, max_kraus, itemsize)
    have = available_bytes(device)
    if have is not None and need > 0.9 * have:
        raise ResourceError(
            f"simulating {num_wires} wires at max_rank={max_rank} needs about {_gib(need)} "
            f"(L is 2^{num_wires} x {max_rank}, a channel stacks {max_kraus} copies) but only "
            f"{_gib(have)} is free. Lower max_rank, use complex64 (disable jax_enable_x64), "
            f"or shard L over more devices."
        )
    return need


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"
