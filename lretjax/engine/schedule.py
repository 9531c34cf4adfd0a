"""The circuit as data: a schedule of steps whose matrices are arrays, for the one loop to run.

A step is one row ``(branch, sub, slot)`` of ``Tables.code``:

- ``branch`` picks one of the program's branches (0 is the no-op that pads the table): gates on
  k wires, channels with m Kraus operators on k wires, or the global/local swaps of a sharded run;
- ``sub`` picks the wires inside the branch (wires decide reshapes, so each wire set is a static
  variant of the branch);
- ``slot`` picks the row of the branch's stacked matrices (gates: (count, d, d); channels:
  (count, m, d, d)).

A gate followed at once by a channel on its wires (or a superset of them) is *folded* into it: the
step applies the channel with Kraus operators K_i U, and L never passes through the gate alone.
Noise models put a channel after every gate, so this removes most gate passes of a noisy circuit
(a gate on a GPU costs two passes of L inside the loop: the pass and the carry's copy). Concrete
gates back to back on at most ``FUSE_WIRES`` wires are *fused*: their product, computed here, is
one step (and folds like a gate). Each step runs a contiguous range of the instructions (by
default the circuit's ops in order; a traced run's order moves channels, ``engine.commute``).

One-wire depolarizing channels with concrete probabilities on the same wire, with only one-wire
named gates between them, are *merged* into one channel step (``_merge_tail``): depolarizing noise
commutes with every unitary on its wire and composes with itself, so the step applies one
depolarizing channel after the gates' product and truncates once.

Only named gates and channels fold and fuse: their matrices are exact by construction, so a
health check that fails in such a step can only be round-off, and naming the step's last op is
fair; a user's matrix stays a step of its own, so a bad one is named.

The compiled loop holds one copy of each branch however many ops use it, so its size grows with
the circuit's distinct (kind, wires, Kraus count), not with its length. The matrices are built
per gate or channel *name*, vectorised over every op of that name, so building them adds a
handful of operations to a trace, not a few per op.
"""

from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ..channels import CHANNELS
from ..circuit import CHANNEL, GATE, Circuit, Op, Param
from ..compiler.fuse import embed
from ..gates import GATES
from ..health import op_slack

NOOP = 0


@dataclass(frozen=True)
class Apply:
    """Apply ``ops[index]`` on the local block, on local bits ``local_wires`` (physical - g)."""

    index: int
    local_wires: tuple[int, ...]


@dataclass(frozen=True)
class Swap:
    """Exchange physical global bit ``glob`` (< g) with physical local bit ``loc`` (>= g)."""

    glob: int
    loc: int


Instruction = Apply | Swap


@dataclass(frozen=True)
class GateBranch:
    """Unitaries on ``k`` wires; sub-branch j acts on ``wiresets[j]``, or, when ``wiresets`` is
    empty, on the wires in the step's row of ``Tables.wires`` (wires as data)."""

    k: int
    wiresets: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class ChannelBranch:
    """Channels with ``m`` Kraus operators on ``k`` wires, each followed by truncation; wires as
    in ``GateBranch``."""

    m: int
    k: int
    wiresets: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class SwapBranch:
    """Global/local bit swaps; sub-branch j trades global bit ``pairs[j][0]`` with local axis
    ``pairs[j][1]`` of the block viewed as (2,)*(n-g) + (width,)."""

    pairs: tuple[tuple[int, int], ...]


Branch = GateBranch | ChannelBranch | SwapBranch


@dataclass(frozen=True)
class Program:
    """The static part of a schedule: what the compiled loop is built from (hashable).

    Attributes:
      num_wires: wires of the whole state (n).
      num_global: leading bits that pick the shard (g; 0 on one device).
      branches: the distinct step shapes; branch index i + 1 is ``branches[i]``.
    """

    num_wires: int
    num_global: int
    branches: tuple[Branch, ...]

    @property
    def local_wires(self) -> int:
        return self.num_wires - self.num_global


class Tables(NamedTuple):
    """The data part of a schedule (a pytree of arrays: traced when the circuit is).

    Attributes:
      code: (steps, 3) rows of (branch, sub, slot); padding rows are no-ops.
      kraus_count: (steps,) Kraus operators of the step's channel, 0 for other steps.
      channel: (steps,) ordinal of the step's channel among the channels, -1 for other steps.
      slack: (steps,) trace change the step may cause beyond round-off (user matrices pass their
        input check up to a tolerance; ``lretjax.health.op_slack``).
      wires: (steps, k_max) local wires of each step (its first k entries), for branches that
        take wires as data.
      stacks: one array per branch: (count, d, d) unitaries or (count, m, d, d) Kraus sets.
    """

    code: Int[Array, "steps 3"]
    kraus_count: Int[Array, " steps"]
    channel: Int[Array, " steps"]
    slack: Float[Array, " steps"]
    wires: Int[Array, "steps k"]
    stacks: tuple[Array, ...]


@dataclass(frozen=True)
class Schedule:
    """A circuit as the loop runs it: the static program, the tables, and host copies of what the
    drivers decide with (widths, op names for messages) without reading the device.

    Attributes:
      program: static structure (a jit static argument).
      tables: the arrays the compiled loop indexes.
      code: host copy of ``tables.code`` without the padding rows.
      kraus_count: host copy of ``tables.kraus_count`` without the padding rows.
      wires: host copy of ``tables.wires`` without the padding rows.
      op_index: (steps,) first op of the circuit each step runs, -1 for swaps.
      ops: the circuit's ops (for messages).
      instruction: (steps,) the instruction each step begins with (``build``'s ``instructions``:
        a sharded plan's steps; by default the circuit's ops).
      last: (steps,) last op of the circuit each step runs (-1 for swaps).
    """

    program: Program
    tables: Tables
    code: np.ndarray
    kraus_count: np.ndarray
    wires: np.ndarray
    op_index: np.ndarray
    ops: tuple[Op, ...]
    instruction: np.ndarray | None = None
    last: np.ndarray | None = None

    @property
    def last_op(self) -> np.ndarray:
        """(steps,) last op of the circuit each step runs (the channel of a folded step)."""
        return self.op_index if self.last is None else self.last

    @property
    def folded(self) -> np.ndarray:
        """(steps,) whether the step is a channel with the gates before it folded in (ops
        ``op_index`` to ``last_op``)."""
        return self.is_channel & (self.last_op > self.op_index)

    @property
    def num_steps(self) -> int:
        return int(self.code.shape[0])

    @property
    def is_channel(self) -> np.ndarray:
        """(steps,) whether each step is a channel (with its truncation)."""
        return self.kraus_count > 0

    @property
    def num_channels(self) -> int:
        return int(np.sum(self.is_channel))


def _pow2_at_least(k: int, floor: int = 1) -> int:
    return max(floor, 1 << max(int(k) - 1, 0).bit_length())


def _is_concrete(x) -> bool:
    return not any(isinstance(v, jax.core.Tracer) for v in jax.tree_util.tree_leaves(x))


@functools.cache
def _broadcasts(fn) -> bool:
    """Whether fn is one of ours: it takes ``xp`` and broadcasts over leading axes (a user's
    gate or channel function may take scalars only)."""
    try:
        return "xp" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def _column(col, values):
    """One parameter slot of every op of a group, as one array: NumPy when concrete; with
    ``values`` = (vector, {name: index}), symbols are one gather from the parameter vector (the
    trace then grows with the number of gate names, not of ops)."""
    real = jnp.result_type(float)
    symbolic = [isinstance(v, Param) for v in col]
    if not any(symbolic) and _is_concrete(col):
        return np.asarray(col, dtype=float)
    if values is not None and all(sym or _is_concrete(v) for sym, v in zip(symbolic, col, strict=True)):
        vec, index = values
        idx = np.asarray([index[v.name] if sym else 0 for sym, v in zip(symbolic, col, strict=True)])
        coeff = np.asarray([v.coeff if sym else 0.0 for sym, v in zip(symbolic, col, strict=True)])
        const = np.asarray([v.offset if sym else float(v) for sym, v in zip(symbolic, col, strict=True)])
        gathered = jnp.asarray(coeff, real) * jnp.asarray(vec, real)[idx] + jnp.asarray(const, real)
        return jnp.where(np.asarray(symbolic), gathered, jnp.asarray(const, real))
    if any(symbolic):
        raise ValueError("the circuit has symbolic parameters: bind them, or pass their values")
    return jnp.stack([jnp.asarray(v, real) for v in col])


def _param_matrix(fn, num_params: int, ops: Sequence[Op], values=None):
    """fn of each op's parameters, stacked over the ops: one call with the parameters as arrays
    (gate and channel functions broadcast over leading axes), in NumPy when they are concrete,
    so concrete circuits compile nothing here. A user's scalar function is mapped instead."""
    count = len(ops)
    cols = [_column([op.params[j] for op in ops], values) for j in range(num_params)]
    if not _broadcasts(fn):
        if num_params == 0:
            m = jnp.asarray(fn())
            return jnp.broadcast_to(m, (count,) + m.shape)
        rows = jnp.stack([jnp.asarray(col) for col in cols], axis=1)
        return jax.vmap(lambda row: fn(*(row[j] for j in range(num_params))))(rows)
    if num_params == 0:
        m = fn(xp=np)
        return np.broadcast_to(m, (count,) + m.shape)
    if all(isinstance(col, np.ndarray) for col in cols):
        return fn(*cols, xp=np)
    return fn(*(jnp.asarray(col) for col in cols))


def _group_stack(ops: Sequence, values=None) -> Array:
    """The matrices (gates) or Kraus sets (channels) of ops of one kind and name; for folded
    (gate, channel) pairs of one pair of names, the Kraus sets K_i U."""
    first = ops[0]
    if isinstance(first, _Matrix):  # fused runs, multiplied out already (``_block``)
        values_ = [m.value for m in ops]
        return np.stack(values_) if all(isinstance(v, np.ndarray) for v in values_) else jnp.stack(values_)
    if isinstance(first, _Merged):
        return _merged_stack(ops, values)
    if isinstance(first, tuple):
        gates, channels = zip(*ops, strict=True)
        U, K = _group_stack(gates, values), _group_stack(channels, values)
        xp = np if isinstance(U, np.ndarray) and isinstance(K, np.ndarray) else jnp
        U = embed(U, _fold_positions(*first), range(len(first[1].wires)))
        return xp.matmul(K, U[:, None])
    if first.kind == GATE:
        spec = GATES[first.name]
        return _param_matrix(spec.matrix, spec.num_params, ops, values)
    if first.kind == CHANNEL:
        spec = CHANNELS[first.name]
        return _param_matrix(spec.kraus, spec.num_params, ops, values)
    mats = [op.params[0] for op in ops]
    if _is_concrete(mats):
        return np.stack([np.asarray(m) for m in mats])
    return jnp.stack([jnp.asarray(m) for m in mats])


@dataclass(frozen=True)
class _Matrix:
    """A step's matrix (or Kraus set) computed while building: a fused run, maybe folded."""

    value: object


@dataclass(frozen=True)
class _Merged:
    """A step of depolarizing channels on one wire with one-wire gates between (``_merge_tail``):
    its ops in order."""

    ops: tuple[Op, ...]


def _merged_stack(items: Sequence[_Merged], values=None):
    """The Kraus sets K_i(p) U of merged steps of one sequence of names: U the product of their
    gates (vectorised per position, traced where the gates are), p the one depolarizing
    probability that the channels compose to. A one-wire depolarizing channel is
    rho -> lambda rho + (1 - lambda) Tr(rho) I / 2 with lambda = 1 - 4p/3: it commutes with every
    unitary on its wire, and two compose to lambda_1 lambda_2."""
    first = items[0].ops
    U = None
    for j, op in enumerate(first):
        if op.kind == GATE:
            u = _group_stack([item.ops[j] for item in items], values)
            concrete = U is None or (isinstance(u, np.ndarray) and isinstance(U, np.ndarray))
            U = u if U is None else (np if concrete else jnp).matmul(u, U)
    lam = np.asarray([np.prod([1 - 4 * float(op.params[0]) / 3 for op in item.ops if op.kind == CHANNEL])
                      for item in items])
    K = CHANNELS[MERGES].kraus(3 * (1 - lam) / 4, xp=np)
    if U is None:
        return K
    xp = np if isinstance(U, np.ndarray) else jnp
    return xp.matmul(K, U[:, None])


# The channel that merges across the one-wire gates between two of it on the same wire.
MERGES = "depolarizing"


def merges(op: Op) -> bool:
    """A one-wire depolarizing channel with a concrete probability (``MERGES``): what merges
    across the one-wire gates between two of it (``_merge_tail``, ``engine.commute``)."""
    p = op.params[0] if op.params else None
    return (op.kind == CHANNEL and op.name == MERGES and len(op.wires) == 1 and op.condition is None
            and isinstance(p, numbers.Real) and not isinstance(p, bool))


def gate_on(ops: Sequence[Op], ins, wire: tuple[int, ...]) -> bool:
    """Whether instruction ``ins`` applies a named gate on exactly ``wire``: what a merged
    channel's step takes in between (``merge_target``) and a moved channel takes along
    (``engine.commute``)."""
    return isinstance(ins, Apply) and ops[ins.index].kind == GATE and tuple(ins.local_wires) == wire


def merge_target(ops: Sequence[Op], instructions: Sequence, pos: int, wire: tuple[int, ...]) -> int | None:
    """The position of the channel that a mergeable channel on ``wire`` placed just before
    ``pos`` would merge with: one-wire named gates on ``wire`` from ``pos`` on (maybe none), then
    a mergeable channel on it. None if the ops from ``pos`` are not of that form."""
    n = len(instructions)
    while pos < n and gate_on(ops, instructions[pos], wire):
        pos += 1
    ins = instructions[pos] if pos < n else None
    if isinstance(ins, Apply) and merges(ops[ins.index]) and tuple(ins.local_wires) == wire:
        return pos
    return None


def _merge_tail(ops: Sequence[Op], instructions: Sequence, at: int) -> list[int]:
    """Positions after the channel at ``at`` that merge into its step: while one-wire named gates
    on its wire are followed by another mergeable channel on it, those gates and that channel.
    Empty unless the channel at ``at`` merges (``merges``)."""
    if not (isinstance(instructions[at], Apply) and merges(ops[instructions[at].index])):
        return []
    wire = tuple(instructions[at].local_wires)
    out, pos = [], at + 1
    while (end := merge_target(ops, instructions, pos, wire)) is not None:
        out += list(range(pos, end + 1))
        pos = end + 1
    return out


def _fold_positions(gate: Op, channel: Op) -> tuple[int, ...]:
    """Where the gate's wires sit among the channel's."""
    return tuple(channel.wires.index(w) for w in gate.wires)


# Concrete gates run back to back fuse into one step on at most this many wires: one pass of L
# for the run (XLA applies one- and two-wire matrices in the same elementwise pass).
FUSE_WIRES = 2


def _fusable(op: Op, ins) -> bool:
    """A named gate whose matrix is known now (no symbol, nothing traced): it may join a run."""
    return (isinstance(ins, Apply) and op.kind == GATE and op.condition is None
            and not any(isinstance(p, Param) for p in op.params) and _is_concrete(op.params))


def _plan(ops: Sequence[Op], instructions: Sequence, fold: bool, fuse: bool) -> list[tuple[int, ...]]:
    """The instruction positions of each step: a swap; a run of gates (concrete ones back to back
    on at most ``FUSE_WIRES`` wires fuse); a channel, with the run before it folded in when the
    channel's wires hold the run's."""
    steps: list[tuple[int, ...]] = []
    pos, n = 0, len(instructions)
    while pos < n:
        ins = instructions[pos]
        if isinstance(ins, Swap) or ops[ins.index].kind != GATE:  # user matrices stay steps
            run = [pos] + (_merge_tail(ops, instructions, pos) if fold else [])
            steps.append(tuple(run))
            pos += len(run)
            continue
        run, wires = [pos], set(ins.local_wires)
        while fuse and pos + len(run) < n and _fusable(ops[ins.index], ins):
            nxt = instructions[pos + len(run)]
            if not (isinstance(nxt, Apply) and _fusable(ops[nxt.index], nxt)
                    and len(wires | set(nxt.local_wires)) <= FUSE_WIRES):
                break
            if fold and _folds_alone(ops, instructions, pos + len(run), wires):
                break  # it folds into the channel after it, which the run would not
            wires |= set(nxt.local_wires)
            run.append(pos + len(run))
        after = pos + len(run)
        if fold and after < n and isinstance(instructions[after], Apply):
            nxt = instructions[after]
            if ops[nxt.index].kind == CHANNEL and wires <= set(nxt.local_wires):
                run.append(after)
                run += _merge_tail(ops, instructions, after)
        steps.append(tuple(run))
        pos += len(run)
    return steps


def _folds_alone(ops: Sequence[Op], instructions: Sequence, at: int, wires: set) -> bool:
    """Whether the gate at ``at`` is followed by a channel on its wires that does not hold
    ``wires`` too (joining the run would cost it the fold)."""
    if at + 1 >= len(instructions) or not isinstance(after := instructions[at + 1], Apply):
        return False
    mine, theirs = set(instructions[at].local_wires), set(after.local_wires)
    return ops[after.index].kind == CHANNEL and mine <= theirs and not (wires | mine) <= theirs


def _block(ops: Sequence[Op], instructions: Sequence, positions: Sequence[int], wires: Sequence[int]):
    """The product of the gates at ``positions`` (in order) on the local ``wires``, in NumPy."""
    m = np.eye(2 ** len(wires), dtype=complex)
    for pos in positions:
        ins = instructions[pos]
        m = embed(np.asarray(_group_stack([ops[ins.index]]), complex)[0], ins.local_wires, wires) @ m
    return m


WIRE_POLICIES = ("static", "data", "auto")

# Under "auto", a branch with more wire sets than this takes its wires as data: compiling the
# gathers costs about as much as this many static variants.
STATIC_VARIANTS = 3


# On an accelerator, factors of at most this many entries (``factor_entries``) take their wires
# as data where a branch has many wire sets ("auto"): their passes are latency-bound, so a row
# gather costs what an elementwise pass does, and the loop compiles a few variants instead of one
# per wire set (the 14-wire noisy VQE's first epoch on one H100: docs/performance.md). Larger
# factors, whose passes count, keep static wires (not measured with data wires).
GPU_DATA_WIRES_MAX = 2**20


def factor_entries(num_wires: int, max_rank: int) -> int:
    """Entries of the widest L a run may hold, 2^n x min(max_rank, 2^n): the size that
    ``default_wires`` decides by."""
    dim = 2**num_wires
    return dim * min(max_rank, dim)


def default_wires(entries: int | None = None) -> str:
    """"auto" on CPU, where compiling dominates and a gather costs little beside the eigensolver,
    and on accelerators for factors of at most ``GPU_DATA_WIRES_MAX`` ``entries``; static wires
    for larger factors on accelerators, where each pass over L counts."""
    if jax.default_backend() == "cpu" or (entries is not None and entries <= GPU_DATA_WIRES_MAX):
        return "auto"
    return "static"


def build(
    circuit: Circuit,
    instructions: Sequence[Instruction] | None = None,
    *,
    num_global: int = 0,
    dtype=None,
    wires: str | None = None,
    params=None,
    fold: bool = True,
    fuse: bool = True,
) -> Schedule:
    """The schedule of ``circuit`` (its parameters bound; values concrete or traced).

    Args:
      circuit: the circuit to run.
      instructions: the sharded plan's ``Apply``/``Swap`` steps (``lretjax.distributed.layout``);
        by default every op in order on its own wires.
      num_global: leading global bits of a sharded run.
      dtype: complex dtype of L (the matrices are cast to it).
      params: values of ``circuit.parameters`` (a vector, may be traced) when the circuit is
        left symbolic: every symbol becomes a gather from it, one per gate name.
      wires: ``"static"``: one compiled variant of a branch per wire set (elementwise passes,
        fastest to run); ``"data"``: wires as data, moved by row gathers (one variant per
        branch, fastest to compile when many wire sets share it); ``"auto"``: data for branches
        with more than ``STATIC_VARIANTS`` wire sets. Default: ``default_wires()`` (``simulate``
        passes the factor's size).
      fold: fold each gate (or fused run) into a channel right after it on its wires, and merge
        one-wire depolarizing channels across the one-wire gates between them (module docstring).
      fuse: fuse concrete gates run back to back on at most ``FUSE_WIRES`` wires into one step.
    """
    values = None if params is None else (params, {name: i for i, name in enumerate(circuit.parameters)})
    policy = default_wires() if wires is None else wires
    if policy not in WIRE_POLICIES:
        raise ValueError(f"wires must be one of {WIRE_POLICIES}, got {wires!r}")
    dtype = jnp.dtype(dtype or jnp.result_type(complex))
    ops = circuit.ops
    if instructions is None:
        instructions = [Apply(i, op.wires) for i, op in enumerate(ops)]
    keys: dict[tuple, int] = {}  # branch key -> branch index (1-based)
    wiresets: dict[tuple, dict[tuple, int]] = {}
    members: dict[tuple, dict[tuple, list[int]]] = {}  # key -> group -> step positions
    group_ops: dict[tuple, dict[tuple, list[Op]]] = {}
    rows, op_index, kraus_count, step_wires, first, last = [], [], [], [], [], []
    for positions in _plan(ops, instructions, fold, fuse):
        pos, ins = positions[0], instructions[positions[0]]
        first.append(pos)
        if isinstance(ins, Swap):
            key: tuple = ("swap",)
            sub_key: tuple = (ins.glob, ins.loc - num_global)
            op_index.append(-1)
            last.append(-1)
            kraus_count.append(0)
            step_wires.append(())
        else:
            end = instructions[positions[-1]]
            op = ops[end.index]
            gates = positions[:-1] if op.is_channel else positions
            op_index.append(ins.index)
            last.append(end.index)
            on = tuple(sorted(set().union(*(instructions[g].local_wires for g in gates))))
            merged = op.is_channel and any(ops[instructions[g].index].is_channel for g in gates)
            if op.is_channel:
                key = ("channel", op.num_kraus, len(op.wires))
                sub_key = tuple(end.local_wires)
            else:  # a gate, or a fused run on the union of its wires
                sub_key = tuple(ins.local_wires) if len(gates) == 1 else on
                key = ("gate", len(sub_key))
            kraus_count.append(op.num_kraus if op.is_channel else 0)
            step_wires.append(sub_key)
            if merged:  # depolarizing channels on one wire and the gates between (_merge_tail)
                run_ops = tuple(ops[instructions[g].index] for g in positions)
                group, item = ("merge", tuple((o.kind, o.name) for o in run_ops)), _Merged(run_ops)
            elif len(gates) > 1:  # a fused run, multiplied out here (its gates are concrete)
                u = _block(ops, instructions, gates, on)
                if op.is_channel:  # K_i U, in jnp when the channel's operators are traced
                    kraus = _group_stack([op])
                    xp = np if isinstance(kraus, np.ndarray) else jnp
                    u = xp.matmul(kraus[0], embed(u, on, end.local_wires))
                group: tuple = ("block", pos)
                item = _Matrix(u)
            elif len(positions) == 2:  # one gate folded into the channel: vectorised per names
                gate = ops[ins.index]
                names = tuple((o.kind, o.name) if o.kind in (GATE, CHANNEL) else (o.kind, p)
                              for o, p in ((gate, pos), (op, positions[1])))
                group, item = ("fold", names, _fold_positions(gate, op)), (gate, op)
            else:
                group = (op.kind, op.name) if op.kind in (GATE, CHANNEL) else (op.kind, pos)
                item = op
            group_ops.setdefault(key, {}).setdefault(group, []).append(item)
            members.setdefault(key, {}).setdefault(group, []).append(len(rows))
        b = keys.setdefault(key, len(keys) + 1)
        subs = wiresets.setdefault(key, {})
        rows.append([b, subs.setdefault(sub_key, len(subs)), 0])
    code = np.asarray(rows, dtype=np.int32).reshape(-1, 3)

    branches, stacks = [], []
    for key in keys:
        sets = tuple(wiresets[key])
        data = key[0] != "swap" and (policy == "data" or (policy == "auto" and len(sets) > STATIC_VARIANTS))
        if data:  # one variant: every step of the branch has sub 0 and reads its wires from the table
            for pos in np.flatnonzero(code[:, 0] == keys[key]):
                code[pos, 1] = 0
            sets = ()
        if key[0] == "swap":
            branches.append(SwapBranch(sets))
            stacks.append(jnp.zeros((1,), dtype))
            continue
        parts, slot = [], 0
        for group, positions in members[key].items():
            parts.append(_group_stack(group_ops[key][group], values))
            for j, pos in enumerate(positions):
                code[pos, 2] = slot + j
            slot += len(positions)
        # Pad the count to a power of two so circuits of similar size share compiled loops.
        pad = _pow2_at_least(slot) - slot
        parts.append(np.zeros((pad,) + parts[0].shape[1:], complex))
        if all(_is_concrete(p) and not isinstance(p, jax.Array) for p in parts):
            stacks.append(jnp.asarray(np.concatenate(parts).astype(dtype)))
        else:
            stacks.append(jnp.concatenate([jnp.asarray(p).astype(dtype) for p in parts]))
        if key[0] == "gate":
            branches.append(GateBranch(key[1], sets))
        else:
            branches.append(ChannelBranch(key[1], key[2], sets))
    program = Program(circuit.num_wires, num_global, tuple(branches))

    steps = code.shape[0]
    padded = _pow2_at_least(steps, 8)
    table = np.zeros((padded, 3), np.int32)
    table[:steps] = code
    kc = np.zeros(padded, np.int32)
    kc[:steps] = kraus_count
    chan = np.full(padded, -1, np.int32)
    is_chan = kc > 0
    chan[is_chan] = np.arange(int(is_chan.sum()), dtype=np.int32)
    slack = np.zeros(padded, np.float64)
    for pos, (i, j) in enumerate(zip(op_index, last, strict=True)):
        if i >= 0:
            slack[pos] = sum(op_slack(ops[o]) for o in range(i, j + 1))
    kmax = max((len(w) for w in step_wires), default=1) or 1
    at = np.zeros((padded, kmax), np.int32)
    for pos, ws in enumerate(step_wires):
        at[pos, : len(ws)] = ws
    real = jnp.finfo(dtype).dtype
    tables = Tables(jnp.asarray(table), jnp.asarray(kc), jnp.asarray(chan),
                    jnp.asarray(slack, real), jnp.asarray(at), tuple(stacks))
    return Schedule(program, tables, code, kc[:steps].astype(np.int64), at[:steps],
                    np.asarray(op_index, np.int64), tuple(ops), np.asarray(first, np.int64),
                    np.asarray(last, np.int64))
