"""The dense representation: rho itself, for the part of a circuit where it is the cheaper one.

A low-rank channel step costs a Gram product over 2^n rows and an eigensolve of m r stacked
columns; a dense step costs one pass over the 4^n entries of rho. Once r is a sizeable fraction
of 2^n the dense step is cheaper, and it is exact: channels act as sum_i K_i rho K_i^dagger, with
nothing truncated.

rho is held as the 2n-wire vector vec(rho) (row bits first, then column bits), so an op on wires
W acts as the 2k-wire matrix sum_i K_i (x) conj(K_i) (its *superoperator*) on wires
(W, n + W): the engine's gate step, one elementwise pass. Consecutive ops whose wires lie inside
the first one's are fused into one superoperator on the host, so a gate and the noise after it
cost one pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..circuit import GATE, UNITARY, Circuit
from ..compiler.fuse import embed
from .schedule import GateBranch, Program, Schedule, Tables, _group_stack, _pow2_at_least

# Rough costs of the two representations' steps, in seconds, by backend. Measured on the 2-core
# CPU of the dev machines (complex64; complex128 costs twice) and on an H100: an elementwise pass
# per complex entry, a complex multiply-add in a Gram product, and an eigensolve of N columns as
# fixed + cubic * N^3 (latency-bound on a GPU). docs/engine.md has the figures.
COSTS = {
    "cpu": {"pass": 1.3e-9, "mac": 1.0e-10, "eig_fixed": 2e-5, "eig_cubic": 5.5e-10},
    "gpu": {"pass": 6e-12, "mac": 4e-13, "eig_fixed": 8e-4, "eig_cubic": 1.2e-11},
}


def _costs(dtype) -> dict:
    c = dict(COSTS["cpu" if jax.default_backend() == "cpu" else "gpu"])
    if jnp.dtype(dtype).itemsize > 8:
        c = {k: 2 * v for k, v in c.items()}
    return c


def low_rank_cost(n: int, width: int, m: int, k: int, costs: dict) -> float:
    """Seconds of one low-rank step at ``width`` (a gate when m == 0)."""
    rows = 2**n
    if m == 0:
        return costs["pass"] * rows * width * 2**k
    d = 2**k
    gram = costs["mac"] * 2 * rows * d * width * width  # Gram block and kept factor
    eig = costs["eig_fixed"] + costs["eig_cubic"] * (m * width) ** 3
    return gram + costs["pass"] * rows * width * 4 + eig


def dense_cost(n: int, k: int, costs: dict) -> float:
    """Seconds of one dense step: a pass over rho reading 4^k entries per output."""
    return costs["pass"] * 4**n * max(1, 4**k // 2)


# A switch must save at least this many seconds (estimated): below it, rho buys nothing
# noticeable and the state keeps its factor L, which some callers read directly.
MIN_SAVING = 0.2


def prefer_dense(schedule: Schedule, start: int, width: int, dtype, available: int | None = None,
                 min_saving: float = MIN_SAVING) -> bool:
    """Whether the steps from ``start`` cost at least ``min_saving`` seconds less on rho than on L
    at ``width`` (plus forming rho), with three copies of rho fitting in ``available`` bytes
    (None: unknown, assumed to fit)."""
    n = schedule.program.num_wires
    if schedule.program.num_global or n > 14 or start >= schedule.num_steps:
        return False
    itemsize = jnp.dtype(dtype).itemsize
    if available is not None and 3 * 4**n * itemsize > available:
        return False
    costs = _costs(dtype)
    kinds = schedule.kraus_count[start:]
    # wires of each step's branch (a fused run acts on more wires than any one of its gates)
    ks = [schedule.program.branches[b - 1].k for b in schedule.code[start:, 0]]
    low = sum(low_rank_cost(n, width, int(m), k, costs) for m, k in zip(kinds, ks, strict=True))
    dense = sum(dense_cost(n, k, costs) for k in ks) + costs["mac"] * 4**n * width
    return dense + min_saving < low


def superoperator(kraus):
    """sum_i K_i (x) conj(K_i) for Kraus sets (..., m, d, d): the matrix of rho -> sum K rho K^dagger
    on vec(rho) with row bits first."""
    xp = np if isinstance(kraus, np.ndarray) else jnp
    d = kraus.shape[-1]
    s = xp.einsum("...mab,...mij->...aibj", kraus, xp.conj(kraus))
    return s.reshape(kraus.shape[:-3] + (d * d, d * d))


def _embed(s: np.ndarray, op_wires: Sequence[int], block_wires: Sequence[int]) -> np.ndarray:
    """A superoperator on ``op_wires`` as one on ``block_wires`` (a subset inside a block)."""
    k = len(block_wires)
    if list(op_wires) == list(block_wires):
        return s
    # As a 2g-wire matrix on (row wires, column wires), embedded into the 2k-wire block.
    wires = [block_wires.index(w) for w in op_wires]
    return embed(s, wires + [k + w for w in wires], list(range(2 * k)))


def _kraus_of(op):
    """An op's Kraus set (m, d, d): NumPy for concrete parameters (then fusable on the host)."""
    m = _group_stack([op])[0]
    return m[None] if op.kind in (GATE, UNITARY) else m


# Ops are fused into blocks of at most this many wires (superoperators on twice as many).
BLOCK_WIRES = 2


def _fused(ops, supers, start: int) -> list[tuple[tuple[int, ...], np.ndarray, int]]:
    """Ops fused into blocks of at most ``BLOCK_WIRES`` wires: (wires, superoperator, first op).

    An op joins the latest block touching any of its wires when the union stays small enough:
    every later block shares no wire with it, so moving it before them changes nothing."""
    blocks: list[list] = []  # [wires, superoperator, first op]
    last: dict[int, int] = {}  # wire -> latest block touching it
    for j, (op, s) in enumerate(zip(ops, supers, strict=True)):
        b = max((last[w] for w in op.wires if w in last), default=-1)
        if b >= 0 and len(set(blocks[b][0]) | set(op.wires)) <= BLOCK_WIRES:
            wires, m, _ = blocks[b]
            grown = list(wires) + [w for w in op.wires if w not in wires]
            blocks[b][0], blocks[b][1] = grown, _embed(s, op.wires, grown) @ _embed(m, wires, grown)
        else:
            blocks.append([list(op.wires), s, start + j])
            b = len(blocks) - 1
        for w in op.wires:
            last[w] = b
    return [(tuple(w), m, first) for w, m, first in blocks]


def build_dense(circuit: Circuit, start: int, dtype) -> Schedule:
    """The schedule of ops ``start``.. acting on vec(rho): superoperator gates on 2n wires."""
    n = circuit.num_wires
    ops = circuit.ops[start:]
    kraus = [_kraus_of(op) for op in ops]
    if all(isinstance(k, np.ndarray) for k in kraus):
        blocks = _fused(ops, [superoperator(k) for k in kraus], start)
    else:
        blocks = [(tuple(op.wires), superoperator(jnp.asarray(k)), start + j)
                  for j, (op, k) in enumerate(zip(ops, kraus, strict=True))]
    # Each block on its wires in ascending order: (1, 0) and (0, 1) are then one static variant
    # of the branch, and each variant is compiled code over all 4^n entries.
    blocks = [(tuple(sorted(w)), _embed(s, w, sorted(w)), first) for w, s, first in blocks]
    keys: dict[tuple, int] = {}
    subs: dict[int, dict[tuple, int]] = {}
    stacks: dict[int, list] = {}
    rows = []
    for wires, s, _ in blocks:
        k = len(wires)
        b = keys.setdefault((k,), len(keys) + 1)
        full = tuple(wires) + tuple(n + w for w in wires)
        sub = subs.setdefault(b, {}).setdefault(full, len(subs[b]))
        stacks.setdefault(b, []).append(s)
        rows.append([b, sub, len(stacks[b]) - 1])
    branches = tuple(GateBranch(2 * k, tuple(subs[b])) for (k,), b in keys.items())
    tables_stacks = []
    for b in keys.values():
        mats = stacks[b]
        pad = _pow2_at_least(len(mats)) - len(mats)
        arr = jnp.stack([jnp.asarray(m) for m in mats]).astype(dtype)
        if pad:
            arr = jnp.concatenate([arr, jnp.zeros((pad,) + arr.shape[1:], dtype)])
        tables_stacks.append(arr)
    steps = len(rows)
    padded = _pow2_at_least(max(steps, 1), 8)
    code = np.zeros((padded, 3), np.int32)
    code[:steps] = np.asarray(rows, np.int32).reshape(-1, 3)
    zeros = np.zeros(padded, np.int32)
    real = jnp.finfo(jnp.dtype(dtype)).dtype
    wires = np.zeros((padded, 2 * max(len(w) for w, _, _ in blocks)), np.int32)
    for pos, (ws, _, _) in enumerate(blocks):
        full = tuple(ws) + tuple(n + w for w in ws)
        wires[pos, : len(full)] = full
    tables = Tables(jnp.asarray(code), jnp.asarray(zeros), jnp.asarray(zeros - 1),
                    jnp.zeros(padded, real), jnp.asarray(wires), tuple(tables_stacks))
    program = Program(2 * n, 0, branches)
    op_index = np.asarray([first for _, _, first in blocks], np.int64)
    return Schedule(program, tables, code[:steps], np.zeros(steps, np.int64), wires[:steps], op_index,
                    tuple(circuit.ops))


def to_dense(L) -> jax.Array:
    """vec(L L^dagger) as a (4^n, 1) factor for the dense steps."""
    rho = jnp.matmul(L, L.conj().T, precision=jax.lax.Precision.HIGHEST)
    return rho.reshape(-1, 1)


def continue_dense(circuit: Circuit, schedule: Schedule, carry, step: int, eps, trace0, *,
                   traced: bool):
    """rho after the ops from ``step`` on, starting from the low-rank carry: (rho, discarded)."""
    from .collectives import LOCAL, ONE_DEVICE
    from .loop import drive, evolve
    from .step import Settings, start_carry

    n = circuit.num_wires
    first = int(schedule.op_index[step]) if step < schedule.num_steps else len(circuit.ops)
    vec = to_dense(carry.L)
    if first < len(circuit.ops):
        dense = build_dense(circuit, first, vec.dtype)
        c = start_carry(vec, carry.discarded, jnp.ones((), jnp.int32))
        settings = Settings(1, 1)
        if traced:
            c = evolve(dense, c, eps, trace0, settings, LOCAL)
        else:
            # Elementwise superoperator passes: XLA:CPU's default optimisation runs them 3.7x
            # faster than the low-rank path's quick-compile options (docs/engine.md).
            c = drive(dense, c, eps, trace0, settings, ONE_DEVICE, width=1, optimized=True)
        vec = c.L
    return vec.reshape(2**n, 2**n), carry.discarded
