"""Simulate with L row-sharded over a device mesh: ``shard_map`` runs ``local.py`` on every shard.

``simulate_sharded`` returns a ``ShardedState`` whose L stays on the devices in *physical*
row order (``perm`` maps wires to bits); the results functions here read it with one psum and
never gather L. ``gather`` assembles an ordinary ``LowRankState`` for small n and tests.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ..circuit import Circuit
from ..errors import CircuitError, ObservableError, ParameterError, SimulationConfigError
from ..observables import DenseObservable, as_observable
from ..ops.inner import sq_norm
from ..resources import check_fits
from ..state import LowRankState, as_state, check_wires, complex_dtype
from . import local
from .collectives import MeshCollectives
from .layout import Plan, Swap, plan_swaps
from .mesh import BATCH, as_bit_mesh, num_batch, row_axes

try:  # jax >= 0.7 exports shard_map at the top level; older releases keep it in experimental.
    _shard_map = jax.shard_map
except AttributeError:  # pragma: no cover
    from jax.experimental.shard_map import shard_map as _shard_map


@dataclass(frozen=True)
class ShardedState:
    """rho = L L^dagger with L's rows split over the mesh by the leading physical bits.

    Attributes:
      L: (2^n, width), or (batch, 2^n, width) for a batch of parameter vectors; rows are in
        physical order: row bit perm[w] (0 = most significant) belongs to wire w.
      discarded, rank: as in ``LowRankState`` (shape (batch,) when batched).
      num_wires, perm, mesh: static layout.
      swaps: global/local swaps the run that produced this state performed.
      comm_bytes: bytes the swaps and Gram psums moved in that run (all shards together).
    """

    L: jax.Array
    discarded: jax.Array
    rank: jax.Array
    num_wires: int
    perm: tuple[int, ...]
    mesh: Mesh
    swaps: int = 0
    comm_bytes: int = 0

    @property
    def batched(self) -> bool:
        return self.L.ndim == 3

    @property
    def num_global(self) -> int:
        return len(row_axes(self.mesh))

    @property
    def width(self) -> int:
        return self.L.shape[-1]

    def __repr__(self) -> str:
        return (
            f"ShardedState(num_wires={self.num_wires}, shards={2**self.num_global}, "
            f"width={self.width}, batched={self.batched}, perm={self.perm}, swaps={self.swaps})"
        )


jax.tree_util.register_dataclass(
    ShardedState,
    data_fields=["L", "discarded", "rank"],
    meta_fields=["num_wires", "perm", "mesh", "swaps", "comm_bytes"],
)


def _specs(mesh: Mesh, batched: bool):
    rows = row_axes(mesh)
    rows_spec = rows if rows else None
    if batched:
        return P(BATCH, rows_spec, None), P(BATCH)
    return P(rows_spec, None), P()


def _check_settings(max_rank, epsilon) -> None:
    if isinstance(max_rank, bool) or not isinstance(max_rank, (int, np.integer)) or max_rank < 1:
        raise SimulationConfigError(f"max_rank must be a positive integer, got {max_rank!r}")
    e = float(epsilon)
    if not 0.0 <= e < 1.0:
        raise SimulationConfigError(f"epsilon must lie in [0, 1), got {epsilon!r}")


def comm_volume(plan: Plan, circuit: Circuit, width: int, max_rank: int, itemsize: int) -> dict:
    """Bytes moved by the plan: swaps (half of every shard) and Gram psums (one (d r)^2 block
    Lw^dagger Lw per shard and channel, d = 2^(channel wires))."""
    shards, nl = 2**plan.num_global, plan.num_wires - plan.num_global
    swap_bytes = psum_bytes = 0
    for step in plan.steps:
        if isinstance(step, Swap):
            swap_bytes += shards * 2 ** (nl - 1) * width * itemsize
        elif circuit.ops[step.index].is_channel:
            op = circuit.ops[step.index]
            wide, block = op.num_kraus * width, 2 ** len(op.wires) * width
            if shards > 1:
                psum_bytes += shards * block * block * itemsize
            width = min(wide, max_rank)
    return {"swaps": plan.num_swaps, "swap_bytes": swap_bytes, "psum_bytes": psum_bytes,
            "final_width": width}


def _evolve_body(plan, structure, max_rank, batched, has_params, init_zero, n, dtype):
    coll = MeshCollectives(tuple(f"rows{a}" for a in range(plan.num_global)))

    def one(L, discarded, rank, leaves, p, epsilon):
        circ = jax.tree_util.tree_unflatten(structure, leaves)
        if has_params:
            circ = circ.bind(p)
        if init_zero:
            L = local.zero_block(n, plan.num_global, coll, dtype)
        return local.evolve(L, discarded, rank, circ.ops, plan, max_rank, epsilon, coll)

    if not batched:
        return one

    def each(L, discarded, rank, leaves, p, epsilon):
        # lax.map, not vmap: one element at a time keeps every device's collectives in the same
        # order (vmapped collectives can run in different orders per device and deadlock XLA:CPU).
        return jax.lax.map(lambda a: one(*a[:3], leaves, a[3], epsilon), (L, discarded, rank, p))

    return each


@functools.partial(
    jax.jit,
    static_argnames=("structure", "plan", "mesh", "max_rank", "batched", "has_params", "init_zero",
                     "n"),
)
def _run(L, discarded, rank, leaves, params, epsilon, *, structure, plan, mesh, max_rank, batched,
         has_params, init_zero, n):
    body = _evolve_body(plan, structure, max_rank, batched, has_params, init_zero, n, L.dtype)
    l_spec, s_spec = _specs(mesh, batched)
    f = _shard_map(
        body, mesh=mesh,
        in_specs=(l_spec, s_spec, s_spec, P(), P(BATCH) if batched else P(), P()),
        out_specs=(l_spec, s_spec, s_spec),
    )
    return f(L, discarded, rank, leaves, params, epsilon)


@functools.lru_cache(maxsize=32)
def _zeros(shape, dtype, sharding):
    """A compiled maker of sharded zeros (each device allocates only its block)."""
    return jax.jit(functools.partial(jnp.zeros, shape, dtype), out_shardings=sharding)


def _put(x: np.ndarray | jax.Array, sharding: NamedSharding) -> jax.Array:
    """Place a host array with ``sharding``; every process passes the same full array."""
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def _physical(L, perm: Sequence[int], n: int):
    """Logical-order rows -> physical-order rows (row bit perm[w] holds wire w)."""
    w = L.shape[-1]
    lead = L.shape[:-2]
    t = L.reshape(lead + (2,) * n + (w,))
    k = len(lead)
    inv = [0] * n
    for wire, pos in enumerate(perm):
        inv[pos] = wire
    t = jnp.transpose(t, list(range(k)) + [k + inv[p] for p in range(n)] + [k + n])
    return t.reshape(L.shape)


def _logical(L, perm: Sequence[int], n: int):
    w = L.shape[-1]
    lead = L.shape[:-2]
    k = len(lead)
    t = L.reshape(lead + (2,) * n + (w,))
    t = jnp.transpose(t, list(range(k)) + [k + perm[wire] for wire in range(n)] + [k + n])
    return t.reshape(L.shape)


def simulate_sharded(
    circuit: Circuit,
    params=None,
    *,
    mesh: Mesh,
    max_rank: int = 64,
    epsilon: float = 0.0,
    initial_state=None,
    segment_channels: int = 8,
    checkpoint_dir: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ShardedState:
    """``lretjax.simulate`` with L's rows sharded over ``mesh`` (see ``make_mesh``).

    Args:
      circuit: the circuit; symbolic parameters are bound from ``params``.
      params: a parameter vector (or dict), or a (batch, num_params) array to run one
        simulation per row, split over the mesh's ``batch`` axis (data parallelism).
      mesh: from ``make_mesh(num_shards, num_batch)``, or any Mesh with axes ``rows``
        (a power of two) and optionally ``batch``.
      max_rank, epsilon: as in ``lretjax.simulate`` (static widths, as its traced path).
      initial_state: a ``ShardedState`` (e.g. restored from a checkpoint), a ``LowRankState``,
        a state vector or a factor L.
      segment_channels: channels per compiled segment (the run is a sequence of jitted
        segments; the swap schedule is planned once for the whole circuit).
      checkpoint_dir: save the state there after every segment (each process its own shards);
        a later call with the same circuit, settings and directory resumes after the last saved
        segment and ends with exactly the same state as an uninterrupted run.
      progress: called as progress(segments_done, segments_total) after each segment.

    Returns:
      ShardedState; its ``swaps`` and ``comm_bytes`` report the communication the run needed.
    """
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"simulate_sharded expects a lretjax.Circuit, got {type(circuit).__name__}")
    _check_settings(max_rank, epsilon)
    mesh = as_bit_mesh(mesh)
    n, g = circuit.num_wires, len(row_axes(mesh))
    dtype = complex_dtype()

    batched = params is not None and not isinstance(params, dict) and np.ndim(params) == 2
    has_params = False
    if batched:
        params = jnp.asarray(params)
        if params.shape[1] != len(circuit.parameters):
            raise ParameterError(
                f"params rows have {params.shape[1]} values, the circuit has "
                f"{len(circuit.parameters)} parameters {list(circuit.parameters)}"
            )
        if params.shape[0] % num_batch(mesh):
            raise SimulationConfigError(
                f"a batch of {params.shape[0]} parameter vectors does not split over the mesh's "
                f"{num_batch(mesh)} batch groups"
            )
        circuit.bind(params[0])  # validates before tracing
        has_params = True
    elif params is not None:
        circuit = circuit.bind(params)
    elif circuit.parameters:
        raise ParameterError(
            f"the circuit has unbound parameters {list(circuit.parameters)}; pass params=..."
        )
    real = jnp.finfo(dtype).dtype
    bsize = params.shape[0] if batched else None
    lead = (bsize,) if batched else ()
    l_spec, s_spec = _specs(mesh, batched)
    l_sharding, s_sharding = NamedSharding(mesh, l_spec), NamedSharding(mesh, s_spec)

    wire_lists = [op.wires for op in circuit.ops]
    if initial_state is None:
        plan = plan_swaps(wire_lists, n, g)
        L0 = _zeros(lead + (2**n, 1), jnp.dtype(dtype), l_sharding)()
        discarded = jnp.zeros(lead, real)
        rank = jnp.ones(lead, jnp.int32)
        init_zero = True
    elif isinstance(initial_state, ShardedState):
        if initial_state.num_wires != n:
            raise CircuitError(f"initial state has {initial_state.num_wires} wires, the circuit has {n}")
        if initial_state.batched != batched:
            raise SimulationConfigError("a batched initial state needs batched params, and vice versa")
        plan = plan_swaps(wire_lists, n, g, initial_state.perm)
        L0 = jax.device_put(initial_state.L, l_sharding)
        discarded, rank = initial_state.discarded, initial_state.rank
        init_zero = False
    else:
        st = as_state(initial_state, n)
        plan = plan_swaps(wire_lists, n, g, tuple(range(n)))
        L0 = np.broadcast_to(np.asarray(st.L), lead + st.L.shape)
        L0 = _put(L0, l_sharding)
        discarded = jnp.broadcast_to(st.discarded, lead)
        rank = jnp.broadcast_to(st.rank, lead)
        init_zero = False
    discarded = jax.device_put(jnp.asarray(discarded, real), s_sharding)
    rank = jax.device_put(jnp.asarray(rank, jnp.int32), s_sharding)
    max_kraus = max((op.num_kraus for op in circuit.ops), default=1)
    check_fits(n - g, min(max_rank, 2**n), max_kraus, dtype)

    leaves, structure = jax.tree_util.tree_flatten(circuit)
    eps = jnp.asarray(epsilon, real)
    p_arg = jax.device_put(params, s_sharding) if batched else jnp.zeros(())
    vol = comm_volume(plan, circuit, L0.shape[-1], int(max_rank), jnp.dtype(dtype).itemsize)
    comm = vol["swap_bytes"] + vol["psum_bytes"]
    segs = split_plan(plan, circuit, segment_channels)
    start = 0
    if checkpoint_dir is not None:
        from . import checkpoint

        tag = _fingerprint(structure, leaves, params, max_rank, epsilon, mesh, segment_channels,
                           L0 if not init_zero else None)
        done = checkpoint.load_meta(checkpoint_dir)
        if done is not None and done.get("extra", {}).get("fingerprint") == tag:
            back = checkpoint.restore(checkpoint_dir, mesh)
            L0, discarded, rank = back.L, back.discarded, back.rank
            start, init_zero = done["extra"]["segments_done"], False
    for i in range(start, len(segs)):
        L0, discarded, rank = _run(
            L0, discarded, rank, leaves, p_arg, eps, structure=structure, plan=segs[i], mesh=mesh,
            max_rank=int(max_rank), batched=batched, has_params=has_params,
            init_zero=init_zero and i == 0, n=n,
        )
        if checkpoint_dir is not None:
            st = ShardedState(L0, discarded, rank, n, segs[i].final_perm, mesh, plan.num_swaps, comm)
            checkpoint.save(st, checkpoint_dir, extra={"fingerprint": tag, "segments_done": i + 1})
        if progress is not None:
            progress(i + 1, len(segs))
    return ShardedState(L0, discarded, rank, n, plan.final_perm, mesh, plan.num_swaps, comm)


def split_plan(plan: Plan, circuit: Circuit, channels: int) -> list[Plan]:
    """Cut the plan after every ``channels`` channels (each piece becomes one compiled segment)."""
    if isinstance(channels, bool) or not isinstance(channels, (int, np.integer)) or channels < 1:
        raise SimulationConfigError(f"segment_channels must be a positive integer, got {channels!r}")
    pieces, cur, count = [], [], 0
    perm = list(plan.initial_perm)
    start = tuple(perm)
    for step in plan.steps:
        cur.append(step)
        if isinstance(step, Swap):
            a, b = perm.index(step.glob), perm.index(step.loc)
            perm[a], perm[b] = step.loc, step.glob
        elif circuit.ops[step.index].is_channel:
            count += 1
            if count == channels:
                pieces.append(Plan(plan.num_wires, plan.num_global, start, tuple(perm), tuple(cur)))
                cur, count, start = [], 0, tuple(perm)
    if cur or not pieces:
        pieces.append(Plan(plan.num_wires, plan.num_global, start, tuple(perm), tuple(cur)))
    return pieces


def _fingerprint(structure, leaves, params, max_rank, epsilon, mesh, segment_channels, L0) -> str:
    """What a checkpoint must match to be resumed: circuit, values, settings, mesh shape."""
    h = hashlib.sha256()
    h.update(repr((str(structure), max_rank, float(epsilon), mesh.devices.shape,
                   tuple(mesh.axis_names), segment_channels)).encode())
    for x in list(leaves) + ([params] if params is not None else []) + ([L0] if L0 is not None else []):
        h.update(np.ascontiguousarray(np.asarray(x)).tobytes())
    return h.hexdigest()


def gather(state: ShardedState) -> LowRankState:
    """The whole L in logical row order as an ordinary ``LowRankState`` (small n, tests).

    Only for one process; across processes use the sharded results functions.
    """
    if state.batched:
        raise SimulationConfigError("gather takes one state; index the batch with state_at(state, i)")
    L = jnp.asarray(np.asarray(_logical(state.L, state.perm, state.num_wires)))
    return LowRankState(L, jnp.asarray(state.discarded), jnp.asarray(state.rank), state.num_wires)


def state_at(state: ShardedState, i: int) -> ShardedState:
    """Element ``i`` of a batched state, still sharded over the row axes."""
    l_spec, s_spec = _specs(state.mesh, False)
    L = jax.device_put(state.L[i], NamedSharding(state.mesh, l_spec))
    return ShardedState(L, state.discarded[i], state.rank[i], state.num_wires, state.perm,
                        state.mesh, state.swaps, state.comm_bytes)


# ---- results, read shard by shard ------------------------------------------------------------


def _readout(mesh: Mesh, batched: bool, fn, out_spec_unbatched, L, *args):
    """Run fn(L_local, coll, *args) on every shard of L (vmapped over a batch), results replicated."""
    coll = MeshCollectives(row_axes(mesh))
    l_spec, _ = _specs(mesh, batched)

    def body(L, *a):
        if batched:
            return jax.lax.map(lambda x: fn(x, coll, *a), L)  # ordered collectives, see _evolve_body
        return fn(L, coll, *a)

    out_spec = out_spec_unbatched
    if batched:
        out_spec = jax.tree_util.tree_map(lambda s: P(BATCH, *s), out_spec,
                                          is_leaf=lambda s: isinstance(s, P))
    f = _shard_map(body, mesh=mesh, in_specs=(l_spec,) + (P(),) * len(args), out_specs=out_spec)
    return f(L, *args)


def _purity_local(x, c, _):
    from ..ops import gram

    gm = c.psum(gram(x))
    return sq_norm(gm)


@functools.partial(jax.jit, static_argnames=("kind", "mesh", "perm", "batched", "static"))
def _read(L, arg, *, kind, mesh, perm, batched, static):
    """One compiled readout per (kind, layout): repeated calls in a VQE loop reuse it."""
    g = len(row_axes(mesh))
    if kind == "expval":
        def fn(x, c, o):
            return local.expval(x, o, perm, g, c)
    elif kind == "marginal":
        def fn(x, c, _):
            return local.marginal(x, static, perm, g, c)
    elif kind == "sample":
        def fn(x, c, k):
            return local.sample(x, static, k, perm, g, c)
    else:
        fn = _purity_local
    return _readout(mesh, batched, fn, P(), L, arg)


def _relayout(state: ShardedState, wires: Sequence[int]) -> ShardedState:
    """Bring ``wires`` onto local bits (swaps only); returns the state in its new layout."""
    g = state.num_global
    if all(state.perm[w] >= g for w in wires):
        return state
    plan = plan_swaps([tuple(wires)], state.num_wires, g, state.perm)
    nl = state.num_wires - g
    swaps = tuple(s for s in plan.steps if isinstance(s, Swap))

    def fn(L, coll):
        for s in swaps:
            L = local.swap_bits(L, s.glob, s.loc - g, nl, coll)
        return L

    L = jax.jit(lambda x: _swap_only(state, fn, x))(state.L)
    return ShardedState(L, state.discarded, state.rank, state.num_wires, plan.final_perm, state.mesh,
                        state.swaps + len(swaps), state.comm_bytes)


def _swap_only(state: ShardedState, fn, L):
    coll = MeshCollectives(row_axes(state.mesh))
    l_spec, _ = _specs(state.mesh, state.batched)

    def body(x):
        return jax.lax.map(lambda y: fn(y, coll), x) if state.batched else fn(x, coll)

    return _shard_map(body, mesh=state.mesh, in_specs=(l_spec,), out_specs=l_spec)(L)


def expval(state: ShardedState, observable) -> jax.Array:
    """<O> from local partial sums and one psum (a dense observable on global wires is swapped in)."""
    obs = as_observable(observable, state.num_wires)
    if isinstance(obs, DenseObservable):
        if len(obs.wires) > state.num_wires - state.num_global:
            raise ObservableError(
                f"a dense observable on {len(obs.wires)} wires does not fit the "
                f"{state.num_wires - state.num_global} local wires of each shard"
            )
        state = _relayout(state, obs.wires)
    return _read(state.L, obs, kind="expval", mesh=state.mesh, perm=state.perm,
                 batched=state.batched, static=None)


def probabilities(state: ShardedState, wires: Sequence[int] | None = None) -> jax.Array:
    """Outcome probabilities of ``wires`` (all wires by default, first wire high)."""
    n = state.num_wires
    wires = tuple(range(n)) if wires is None else check_wires(wires, n)
    perm = state.perm
    if len(wires) == n:
        # The full table is as large as the state's rows: keep it sharded, reorder globally.
        rows = row_axes(state.mesh) or None

        def full(L):
            spec = P(BATCH, rows) if state.batched else P(rows)
            lspec, _ = _specs(state.mesh, state.batched)
            p = _shard_map(lambda x: jnp.sum(jnp.abs(x) ** 2, axis=-1), mesh=state.mesh,
                           in_specs=(lspec,), out_specs=spec)(L)
            return _logical(p[..., None], perm, n)[..., 0]

        table = jax.jit(full)(state.L)
        order = list(wires)
        if order != list(range(n)):
            lead = table.shape[:-1]
            t = table.reshape(lead + (2,) * n)
            k = len(lead)
            t = jnp.transpose(t, list(range(k)) + [k + w for w in order])
            table = t.reshape(lead + (-1,))
        return table
    return _read(state.L, 0, kind="marginal", mesh=state.mesh, perm=perm, batched=state.batched,
                 static=wires)


def sample(state: ShardedState, shots: int, key: jax.Array, wires: Sequence[int] | None = None):
    """``shots`` outcomes as bits (one column per wire), drawn shard by shard without gathering L."""
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise CircuitError(f"shots must be a positive integer, got {shots!r}")
    if state.batched:
        raise SimulationConfigError("sample takes one state; index the batch with state_at(state, i)")
    n = state.num_wires
    if n > 30:
        raise SimulationConfigError("sharded sampling indexes rows with int32: at most 30 wires")
    wires = tuple(range(n)) if wires is None else check_wires(wires, n)
    bits = _read(state.L, key, kind="sample", mesh=state.mesh, perm=state.perm, batched=False,
                 static=int(shots))
    return bits[:, list(wires)]


def purity(state: ShardedState) -> jax.Array:
    """Tr(rho^2) = ||sum of local Gram blocks||_F^2."""
    return _read(state.L, 0, kind="purity", mesh=state.mesh, perm=state.perm,
                 batched=state.batched, static=None)


__all__ = [
    "ShardedState", "simulate_sharded", "gather", "state_at", "expval", "probabilities", "sample",
    "purity", "comm_volume", "split_plan",
]
