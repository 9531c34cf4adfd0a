"""The step's in-place form, for a factor that fills the device (``Settings.chunks`` > 1).

A branch of ``lax.switch`` that returns a new L makes XLA give it a fresh buffer: the step then
holds L and its successor, and the channel step more (its moved copy and S V). Here the
branches return only what the update needs (a gate's matrix; a channel's Kraus set and kept
eigenvectors V, its Gram block summed over row blocks of L, which only reads L), and the update
runs after the switch, a row block at a time, each block written back where it was read
(``lax.dynamic_update_index_in_dim`` on the loop's own buffer, which XLA updates in place).

Blocks are cut along ``t`` consecutive wires that the op does not touch: window j holds wires
j t .. (j + 1) t - 1, and each op takes the first window free of its wires. Every window has its
own loop of blocks, run 2^t times for the step's window and zero times for the others, whose
body picks the op's update by a switch on the block alone. The step then holds L and a few
blocks, about 1 + 4 / 2^t copies of L (XLA's accounting on the CPU: 1.38 at 2^3 blocks, 1.06 at
2^6), where the switch form holds two (gates) to four (channels).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex

from ..ops import apply_matrix
from ..ops.channel import channel_factor, wires_back, wires_last
from .schedule import ChannelBranch, GateBranch, Program


@dataclass(frozen=True)
class Plan:
    """Where each (branch, sub-branch) updates L in place.

    Attributes:
      bits: t, the wires each window holds (2^t row blocks).
      window: window[b][sub], the window of branch b's sub-branch sub (-1: none, a no-op).
      index: index[b][sub], its update's position in that window's list.
      updates: per window, the (branch, wires) of each update, in order.
    """

    bits: int
    window: tuple[tuple[int, ...], ...]
    index: tuple[tuple[int, ...], ...]
    updates: tuple[tuple[tuple[int, tuple[int, ...]], ...], ...]


def _free_window(wires, t: int, windows: int) -> int:
    return next((j for j in range(windows) if not any(j * t <= w < (j + 1) * t for w in wires)), -1)


def plan(program: Program, chunks: int) -> Plan | None:
    """The in-place plan at up to ``chunks`` row blocks; None when the program has a branch
    without static wires or global bits (the switch form then runs), or no block fits."""
    if program.num_global or any(not isinstance(br, (GateBranch, ChannelBranch)) or not br.wiresets
                                 for br in program.branches):
        return None
    n = program.local_wires
    for t in range(chunks.bit_length() - 1, 0, -1):
        windows = n // t
        found = [[_free_window(ws, t, windows) for ws in br.wiresets] for br in program.branches]
        if all(j >= 0 for row in found for j in row):
            break
    else:
        return None
    updates: list[list] = [[] for _ in range(windows)]
    window, index = [(-1,)], [(0,)]  # branch 0: the no-op
    for b, (br, row) in enumerate(zip(program.branches, found, strict=True), start=1):
        idx = []
        for ws, j in zip(br.wiresets, row, strict=True):
            idx.append(len(updates[j]))
            updates[j].append((b, ws))
        window.append(tuple(row))
        index.append(tuple(idx))
    return Plan(t, tuple(window), tuple(index), tuple(tuple(u) for u in updates))


def payload_shapes(program: Program, width: int, dtype) -> tuple:
    """Zero payloads of the fixed shapes every branch returns: (gate matrix, Kraus set, V)."""
    dg = max([2**br.k for br in program.branches if isinstance(br, GateBranch)] + [1])
    chans = [br for br in program.branches if isinstance(br, ChannelBranch)]
    m = max([br.m for br in chans] + [1])
    dc = max([2**br.k for br in chans] + [1])
    return (jnp.zeros((dg, dg), dtype), jnp.zeros((m, dc, dc), dtype), jnp.zeros((m * width, width), dtype))


def padded(x: Array, like: Array) -> Array:
    """``x`` zero-padded at the end of every axis to ``like``'s shape."""
    return jnp.pad(x, [(0, b - a) for a, b in zip(x.shape, like.shape, strict=True)])


def _update(br, wires: tuple[int, ...], t: int, j: int, nb: int) -> Callable:
    """block, payload -> the block after the op (its wires renumbered inside the block)."""
    local = tuple(w if w < j * t else w - t for w in wires)
    d = 2**br.k
    if isinstance(br, GateBranch):
        return lambda blk, pay: apply_matrix(blk, pay[0][:d, :d], local, nb)

    def channel(blk, pay):
        kraus, V = pay[1][: br.m, :d, :d], pay[2][: br.m * blk.shape[-1]]
        return wires_back(channel_factor(wires_last(blk, local, nb), kraus, V), local, nb)

    return channel


def apply_in_place(L: Complex[Array, "rows width"], pay: tuple, b, sub, go, program: Program,
                   the_plan: Plan) -> Array:
    """L after branch ``b``'s sub-branch ``sub`` with payload ``pay``, a row block at a time
    (nothing when ``go`` is false or the branch is the no-op)."""
    t, n, width = the_plan.bits, program.local_wires, L.shape[-1]
    window = jnp.asarray(np.asarray(_ragged(the_plan.window), np.int32))[b, sub]
    index = jnp.asarray(np.asarray(_ragged(the_plan.index), np.int32))[b, sub]
    for j, ups in enumerate(the_plan.updates):
        if not ups:
            continue
        fns = [_update(program.branches[bb - 1], ws, t, j, n - t) for bb, ws in ups]
        view = L.reshape(2 ** (j * t), 2**t, -1)

        def body(c, view, fns=fns):
            blk = jax.lax.dynamic_index_in_dim(view, c, axis=1, keepdims=False).reshape(-1, width)
            new = jax.lax.switch(index, fns, blk, pay) if len(fns) > 1 else fns[0](blk, pay)
            return jax.lax.dynamic_update_index_in_dim(view, new.reshape(view.shape[0], -1), c, axis=1)

        trips = jnp.where(go & (window == j), 2**t, 0)
        L = jax.lax.fori_loop(0, trips, body, view).reshape(L.shape)
    return L


def scale_in_place(L: Complex[Array, "rows width"], scale, bits: int) -> Array:
    """L * scale, a row block at a time in place (a whole-L product would hold a second copy)."""
    view = L.reshape(2**bits, -1)

    def body(c, view):
        blk = jax.lax.dynamic_index_in_dim(view, c, axis=0, keepdims=True)
        return jax.lax.dynamic_update_index_in_dim(view, blk * scale.astype(L.dtype), c, axis=0)

    return jax.lax.fori_loop(0, 2**bits, body, view).reshape(L.shape)


def _ragged(rows) -> list[list[int]]:
    """Rows of unequal length padded with zeros into a rectangle."""
    width = max(len(r) for r in rows)
    return [list(r) + [0] * (width - len(r)) for r in rows]
