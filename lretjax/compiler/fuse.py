"""Fusion of consecutive gates into ``unitary`` blocks on at most k wires (one pass over L each).

A gate joins the latest block among those its wires last touched, when the union of wires stays
within ``max_wires``. Everything it jumps over acts on other wires, so it commutes: the result is
the same operator. Channels, and gates whose parameters are unbound ``Param`` symbols, are barriers
on their wires. Block matrices are computed with jnp from the original leaves, so the pass traces
under jit and gradients flow back to the gate parameters.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..circuit import UNITARY, Circuit, Op, Param, _from_trusted

# Measured on an H100 (benchmarks/bench_gpu.py, docs/performance.md), qsim's depth-20 circuit at n=24,
# r=16: 3.9 / 6.8 / 9.1 gates per pass for blocks of 2 / 3 / 4 wires. Five-wire kernels take Triton
# ~145 s each to compile (fully unrolled 32 x 32 complex matrix), so 4 is the default.
DEFAULT_MAX_WIRES = 4


def _fusable(op: Op) -> bool:
    return op.kind in ("gate", UNITARY) and not any(isinstance(p, Param) for p in op.params)


def embed(u, op_wires, block_wires):
    """The matrix of ``u`` on ``op_wires`` as an operator on ``block_wires`` (first = high bit);
    leading axes of ``u`` are a batch.

    NumPy in, NumPy out (nothing traced); anything else goes through jax.numpy."""
    xp = np if isinstance(u, np.ndarray) else jnp
    k, g = len(block_wires), len(op_wires)
    u = xp.asarray(u)
    batch = u.shape[:-2]
    if list(op_wires) == list(block_wires):
        return u
    pos = [list(block_wires).index(w) for w in op_wires]
    rest = [i for i in range(k) if i not in pos]
    ut = u.reshape(batch + (2,) * (2 * g))
    # Out axes of u become the op's wires; identity on the rest via an outer product.
    eye = xp.eye(2 ** (k - g), dtype=ut.dtype).reshape((2,) * (2 * (k - g)))
    full = ut[(...,) + (None,) * (2 * (k - g))] * eye  # axes: u_out(g), u_in(g), e_out, e_in
    out_order = pos + rest
    src = list(range(g)) + list(range(2 * g, 2 * g + k - g))
    src_in = list(range(g, 2 * g)) + list(range(2 * g + k - g, 2 * k))
    perm = [0] * (2 * k)
    for axis, b in zip(src, out_order, strict=True):
        perm[b] = axis
    for axis, b in zip(src_in, out_order, strict=True):
        perm[k + b] = axis
    nb = len(batch)
    full = xp.transpose(full, list(range(nb)) + [nb + a for a in perm])
    return full.reshape(batch + (2**k, 2**k))


def block_matrix(ops, wires):
    """Product of ``ops`` (in circuit order) as one matrix on ``wires``."""
    m = None
    for op in ops:
        e = embed(op.matrix(), list(op.wires), list(wires))
        m = e if m is None else jnp.matmul(e, m, precision="highest")
    return m


def fuse_blocks(circuit: Circuit, max_wires: int = DEFAULT_MAX_WIRES) -> Circuit:
    """Group consecutive gates into ``unitary`` ops on at most ``max_wires`` wires.

    Blocks that hold a single gate keep the original op. Block wires are in ascending order.
    """
    if not isinstance(max_wires, int) or max_wires < 1:
        raise ValueError(f"max_wires must be a positive integer, got {max_wires!r}")
    items: list[list] = []  # each: [kind, wires(set), ops]; kind "block" or "fixed"
    last: dict[int, int] = {}
    for op in circuit.ops:
        ws = set(op.wires)
        target = max((last.get(w, -1) for w in ws), default=-1)
        if (
            _fusable(op)
            and len(ws) <= max_wires
            and target >= 0
            and items[target][0] == "block"
            and len(items[target][1] | ws) <= max_wires
        ):
            items[target][1] |= ws
            items[target][2].append(op)
            idx = target
        else:
            kind = "block" if _fusable(op) and len(ws) <= max_wires else "fixed"
            items.append([kind, set(ws), [op]])
            idx = len(items) - 1
        for w in ws:
            last[w] = idx
    out = []
    for kind, ws, ops in items:
        if kind == "fixed" or len(ops) == 1:
            out.extend(ops)
            continue
        wires = tuple(sorted(ws))
        u = block_matrix(ops, wires)
        out.append(Op("unitary", wires, (u,), UNITARY, checked=True))
    return _from_trusted(circuit.num_wires, tuple(out))
