"""Memory estimates made before allocating, so a run that cannot fit fails at once and says why.

The peak of a simulation is one channel step (gates update L in one pass and never exceed it).
``ops.channel_truncate`` never stacks the m Kraus copies of L when m r <= dim: it holds L
(dim x r), L with the channel's wires moved (dim x r), the product S V (dim x k) and the kept
factor (dim x k, k = min(m r, max_rank, dim)), plus the Gram matrix G (g x g, g = m r), its
eigenvectors and the eigensolver's workspace (about one more g x g). When m r > dim the stacked
factor is built and the dim x dim matrix S S^dagger is diagonalised instead (g = dim); XLA's
accounting of that step shows three buffers of the stacked size alive at once, so it counts three
times. ``tests/test_reliability.py`` checks the estimate against XLA's accounting.

When that does not fit, an eager run updates L in place, a row block at a time
(``Settings.chunks``, ``plan_chunks``, ``engine/inplace.py``): the step then holds L and about
four blocks of it.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple

import jax
import numpy as np

from .errors import ResourceError

SAFETY = 0.9  # leave a tenth of the free memory to XLA's own buffers and fragmentation
MAX_CHUNKS = 64  # most row blocks a channel step is split into (``plan_chunks``)


class MemoryEstimate(NamedTuple):
    """Bytes of the peak channel step, by part (``work``: the channel's working copies of L)."""

    L: int
    work: int
    gram: int
    kept: int

    @property
    def total(self) -> int:
        return self.L + self.work + self.gram + self.kept


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


def estimate(num_wires: int, max_rank: int, max_kraus: int, itemsize: int, chunks: int = 1) -> MemoryEstimate:
    """Peak bytes of one channel step on ``num_wires`` wires at ``max_rank`` (see module doc),
    its Gram route split into ``chunks`` row blocks."""
    dim = 2**num_wires
    r = min(max_rank, dim)
    if max_kraus <= 1:
        return MemoryEstimate(L=itemsize * dim * r, work=0, gram=0, kept=itemsize * dim * r)
    width = r * max_kraus
    k = min(width, max_rank, dim)
    if chunks > 1 and width <= dim:  # in place, a block at a time: about four blocks of L beside it
        return MemoryEstimate(L=itemsize * dim * r, work=4 * itemsize * dim * r // chunks,
                              gram=itemsize * 3 * width * width, kept=0)
    if width <= dim:  # Gram route: L with moved wires and S V, never the stack
        work, g = itemsize * dim * (r + k), width
    else:  # the stacked factor three times, and rho itself diagonalised
        work, g = 3 * itemsize * dim * width, dim
    return MemoryEstimate(L=itemsize * dim * r, work=work, gram=itemsize * 3 * g * g,
                          kept=itemsize * dim * k)


def simulation_bytes(num_wires: int, max_rank: int, max_kraus: int, itemsize: int, chunks: int = 1) -> int:
    """Estimated peak bytes of a simulation (the total of ``estimate``)."""
    return estimate(num_wires, max_rank, max_kraus, itemsize, chunks).total


def plan_chunks(num_wires: int, max_rank: int, max_kraus: int, dtype, *, device=None,
                available: int | None = None, max_chunks: int = MAX_CHUNKS) -> int:
    """Row blocks for the channel step: 1 when the whole step fits (or the free memory is
    unknown), else the fewest (a power of two up to ``max_chunks``) whose step fits; 1 again if
    none does (``check_fits`` then says so)."""
    itemsize = np.dtype(dtype).itemsize
    have = available_bytes(device) if available is None else available
    if have is None:
        return 1
    chunks = 1
    while chunks <= max_chunks:
        if simulation_bytes(num_wires, max_rank, max_kraus, itemsize, chunks) <= SAFETY * have:
            return chunks
        chunks *= 2
    return 1


def dense_bytes(num_wires: int, itemsize: int) -> int:
    """Peak bytes of the dense representation: rho before and after a step, and a working copy."""
    return 3 * 4**num_wires * itemsize


def fits_dense(num_wires: int, dtype, *, device=None, available: int | None = None) -> bool:
    """Whether the dense representation of ``num_wires`` wires fits in the free memory."""
    have = available_bytes(device) if available is None else available
    need = dense_bytes(num_wires, np.dtype(dtype).itemsize)
    return num_wires <= 14 and (have is None or need <= SAFETY * have)


def largest_rank_that_fits(num_wires: int, max_kraus: int, itemsize: int, budget: float,
                           max_chunks: int = MAX_CHUNKS) -> int:
    """The largest max_rank whose estimate (in up to ``max_chunks`` row blocks) is within
    ``budget`` bytes (0 if even rank 1 is not)."""
    lo, hi = 0, 2**num_wires
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if simulation_bytes(num_wires, mid, max_kraus, itemsize, max_chunks) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def check_fits(num_wires: int, max_rank: int, max_kraus: int, dtype, *, device=None,
               available: int | None = None, max_chunks: int = MAX_CHUNKS) -> int:
    """Raise ResourceError if the simulation would not fit, its channel step split into at most
    ``max_chunks`` row blocks (1 for paths that do not split it); return the estimated peak bytes.

    ``available`` overrides the free-memory query (tests, or a budget of your own).
    """
    itemsize = np.dtype(dtype).itemsize
    have = available_bytes(device) if available is None else available
    chunks = 1 if have is None else plan_chunks(num_wires, max_rank, max_kraus, dtype, available=have,
                                                max_chunks=max_chunks)
    est = estimate(num_wires, max_rank, max_kraus, itemsize, chunks)
    if have is None or est.total <= SAFETY * have:
        return est.total
    est = estimate(num_wires, max_rank, max_kraus, itemsize, max_chunks)
    budget = SAFETY * have
    fit = largest_rank_that_fits(num_wires, max_kraus, itemsize, budget, max_chunks)
    hints = [f"lower max_rank to {fit} (the largest that fits)" if fit >= 1
             else f"lower max_rank (none fits one device: L alone at rank 1 needs "
                 f"{_size(itemsize * 2**num_wires)})"]
    if itemsize > 8:
        half = largest_rank_that_fits(num_wires, max_kraus, itemsize // 2, budget, max_chunks)
        hints.append(f"use complex64 (disable jax_enable_x64), which fits max_rank {half}")
    whole = estimate(num_wires, max_rank, max_kraus, itemsize).total  # sharded runs do not split the step
    hints.append(f"or shard L over at least {math.ceil(whole / budget)} devices "
                 "(lretjax.distributed)")
    parts = [f"L 2^{num_wires} x {min(max_rank, 2**num_wires)}: {_size(est.L)}"]
    if max_kraus > 1:
        if max_chunks > 1:
            parts += [f"the step's working blocks of L (updated in place, {max_chunks} row blocks): "
                      f"{_size(est.work)}", f"Gram/eigensolver work: {_size(est.gram)}"]
        else:
            parts += [f"the channel's working copies of L: {_size(est.work)}",
                      f"Gram/eigensolver work: {_size(est.gram)}", f"kept factor: {_size(est.kept)}"]
    else:
        parts.append(f"the updated copy: {_size(est.kept)}")
    raise ResourceError(
        f"simulating {num_wires} wires at max_rank={max_rank} needs about {_size(est.total)} "
        f"({'; '.join(parts)}) but only {_size(have)} is free (using at most {SAFETY:.0%}). "
        + _sentence("; ".join(hints))
    )


def _sentence(s: str) -> str:
    return s[:1].upper() + s[1:] + "."


def _size(n: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n / 2**10:.1f} KiB"
