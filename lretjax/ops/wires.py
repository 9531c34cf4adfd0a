"""Wires as data: move a block of L's wires next to the rank axis by a row gather.

``channel.wires_last`` moves wires with a transpose of the (2,)*n view, so the wires are part of
the program: one compiled variant per wire set. Here the wires are an int32 array and the move is
a gather of whole rows, so one compiled step serves every wire set of the same size. A gather
costs about two passes over L where the transpose costs one; the engine uses it where compile
time matters more than that pass (``lretjax.engine``: the wire policy).

Row i of L has bit ``n - 1 - w`` (counted from the least significant) equal to wire w's value.
The wires-last layout holds row (x, b) at index x * 2^k + b, where b is the wires' bits with
``wires[0]`` most significant and x the remaining bits in their order.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Int


def _positions(wires, num_wires: int):
    wires = jnp.asarray(wires, jnp.int32)
    return wires, num_wires - 1 - wires  # bit positions from the least significant


def _ascending(pos):
    """The indices of ``pos`` (k <= 3 entries) in increasing order, by compare-and-swap (an
    argsort would add a sort to every compiled step)."""
    idx = list(range(pos.shape[0]))
    if len(idx) > 3:
        order = jnp.argsort(pos)
        return [order[j] for j in range(len(idx))]
    idx = [jnp.asarray(j, jnp.int32) for j in idx]
    for a, b in ((0, 1), (1, 2), (0, 1))[: {1: 0, 2: 1, 3: 3}[len(idx)]]:
        swap = pos[idx[a]] > pos[idx[b]]
        idx[a], idx[b] = jnp.where(swap, idx[b], idx[a]), jnp.where(swap, idx[a], idx[b])
    return idx


def source_rows(wires: Int[Array, " k"], num_wires: int) -> Int[Array, "rest d"]:
    """rows[x, b]: the row of L at position (x, b) of the wires-last layout."""
    wires, pos = _positions(wires, num_wires)
    k = wires.shape[0]
    x = jnp.arange(2 ** (num_wires - k), dtype=jnp.int32)[:, None]
    b = jnp.arange(2**k, dtype=jnp.int32)[None, :]
    rows = jnp.broadcast_to(x, (2 ** (num_wires - k), 2**k))
    # Insert the wires' bits at their positions, lowest position first, so that each insertion
    # lands at its final place.
    order = _ascending(pos)
    for j in range(k):
        at = order[j]
        p = pos[at]
        bit = (b >> (k - 1 - at)) & 1
        rows = ((rows >> p) << (p + 1)) | (bit << p) | (rows & ((1 << p) - 1))
    return rows


def layout_rows(wires: Int[Array, " k"], num_wires: int) -> Int[Array, " dim"]:
    """index[i]: the position x * 2^k + b of L's row i in the wires-last layout."""
    wires, pos = _positions(wires, num_wires)
    k = wires.shape[0]
    i = jnp.arange(2**num_wires, dtype=jnp.int32)
    b = jnp.zeros_like(i)
    for j in range(k):
        b = b | (((i >> pos[j]) & 1) << (k - 1 - j))
    # Remove the wires' bits, highest position first, so the lower positions stay valid.
    x = i
    order = _ascending(pos)[::-1]
    for j in range(k):
        p = pos[order[j]]
        x = ((x >> (p + 1)) << p) | (x & ((1 << p) - 1))
    return x * 2**k + b


def gather_last(L, wires: Int[Array, " k"], num_wires: int):
    """L as the (2^(n-k), 2^k r) matrix with ``wires`` next to the rank axis (``wires_last``)."""
    rows = source_rows(wires, num_wires)
    return L[rows].reshape(rows.shape[0], -1)


def gather_back(X, wires: Int[Array, " k"], num_wires: int):
    """Inverse of ``gather_last`` for a factor of any width: (2^(n-k), 2^k c) -> (2^n, c)."""
    k = len(wires)
    c = X.shape[-1] // 2**k
    return X.reshape(-1, c)[layout_rows(wires, num_wires)]


def apply_matrix_at(L, u, wires: Int[Array, " k"], num_wires: int):
    """L <- U L with U on ``wires`` given as data (first wire = most significant bit of U)."""
    d = u.shape[-1]
    u = u.astype(L.dtype)
    X = gather_last(L, wires, num_wires).reshape(-1, d, L.shape[-1])
    # Y[x, a, p] = sum_b u[a, b] X[x, b, p], as d broadcast terms (one elementwise fusion).
    Y = sum(u[None, :, b, None] * X[:, b : b + 1, :] for b in range(d))
    return gather_back(Y.reshape(X.shape[0], -1), wires, num_wires)
