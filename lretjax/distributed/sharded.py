"""Simulate with L row-sharded over a device mesh: the engine's one loop runs inside ``shard_map``.

``simulate_sharded`` plans the global/local swaps (``layout.py``), turns circuit and plan into
one schedule (``lretjax.engine``: swaps are steps like gates and channels) and runs the engine's
eager driver with a ``MeshPlacement``: the same step and loop as one device, with ``psum`` and
``all_to_all`` as the collectives. The result is an ordinary ``LowRankState`` whose ``layout``
says that L stays on the devices in *physical* row order (``perm`` maps wires to bits); every
reader in ``lretjax.measure`` reads it with a few collectives and never gathers L.
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ..circuit import Circuit
from ..engine import Carry, Settings, build, drive, evolve, start_carry
from ..engine.step import check_settings
from ..errors import CircuitError, ParameterError, SimulationConfigError
from ..resources import check_fits
from ..state import Layout, LowRankState, as_state, complex_dtype
from . import checkpoint
from .layout import Plan, Swap, perms_along, plan_swaps
from .mesh import BATCH, as_bit_mesh, num_batch, row_axes
from .placement import MeshPlacement, shard_map

# Eager segments end at least this often (in steps): where L may narrow (as ``simulate``).
NARROW_EVERY = 256


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


def _put(x: np.ndarray | jax.Array, sharding: NamedSharding) -> jax.Array:
    """Place a host array with ``sharding``; every process passes the same full array."""
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


@functools.lru_cache(maxsize=32)
def _basis_zero(shape, dtype, sharding):
    """A compiled maker of sharded |0...0> (each device allocates only its block)."""
    return jax.jit(lambda: jnp.zeros(shape, dtype).at[..., 0, 0].set(1), out_shardings=sharding)


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
) -> LowRankState:
    """``lretjax.simulate`` with L's rows sharded over ``mesh`` (see ``make_mesh``).

    Args:
      circuit: the circuit; symbolic parameters are bound from ``params``.
      params: a parameter vector (or dict), or a (batch, num_params) array to run one
        simulation per row, split over the mesh's ``batch`` axis (data parallelism).
      mesh: from ``make_mesh(num_shards, num_batch)``, or any Mesh with axes ``rows``
        (a power of two) and optionally ``batch``.
      max_rank, epsilon: as in ``lretjax.simulate``. One run follows the rank as the eager path
        does; a batch runs at the widths the rank's bound gives, as the traced path does.
      initial_state: a sharded ``LowRankState`` (e.g. restored from a checkpoint), a
        ``LowRankState``, a state vector or a factor L.
      segment_channels: channels between checkpoints (and progress reports).
      checkpoint_dir: save the state there every ``segment_channels`` channels (each process its
        own shards); a later call with the same circuit, settings and directory resumes after
        the last saved segment and ends with exactly the same state as an uninterrupted run.
      progress: called as progress(segments_done, segments_total) after each segment.

    Returns:
      LowRankState with a mesh ``layout``; its ``swaps`` and ``comm_bytes`` report the
      communication the run needed.
    """
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"simulate_sharded expects a lretjax.Circuit, got {type(circuit).__name__}")
    check_settings(max_rank, epsilon)
    if isinstance(segment_channels, bool) or not isinstance(segment_channels, (int, np.integer)) \
            or segment_channels < 1:
        raise SimulationConfigError(f"segment_channels must be a positive integer, got {segment_channels!r}")
    mesh = as_bit_mesh(mesh)
    n, g = circuit.num_wires, len(row_axes(mesh))
    dtype = complex_dtype()
    real = jnp.finfo(dtype).dtype

    batched = params is not None and not isinstance(params, dict) and np.ndim(params) == 2
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
    elif params is not None:
        circuit = circuit.bind(params)
    else:
        circuit.check_bound()
    placement = MeshPlacement(mesh, batched)
    lead = (params.shape[0],) if batched else ()
    wire_lists = [op.wires for op in circuit.ops]
    if initial_state is None:
        plan = plan_swaps(wire_lists, n, g)
        L0 = _basis_zero(lead + (2**n, 1), jnp.dtype(dtype), placement.sharding())()
        discarded, rank = jnp.zeros(lead, real), jnp.ones(lead, jnp.int32)
    elif isinstance(initial_state, LowRankState) and initial_state.layout is not None:
        if initial_state.num_wires != n:
            raise CircuitError(f"initial state has {initial_state.num_wires} wires, the circuit has {n}")
        if initial_state.batched != batched:
            raise SimulationConfigError("a batched initial state needs batched params, and vice versa")
        plan = plan_swaps(wire_lists, n, g, initial_state.perm)
        L0 = jax.device_put(initial_state.L, placement.sharding())
        discarded, rank = initial_state.discarded, initial_state.rank
    else:
        st = as_state(initial_state, n)
        plan = plan_swaps(wire_lists, n, g, tuple(range(n)))
        L0 = _put(np.broadcast_to(np.asarray(st.L), lead + st.L.shape), placement.sharding())
        discarded = jnp.broadcast_to(st.discarded, lead)
        rank = jnp.broadcast_to(st.rank, lead)
    max_kraus = max((op.num_kraus for op in circuit.ops), default=1)
    check_fits(n - g, min(max_rank, 2**n), max_kraus, dtype, max_chunks=1)
    vol = comm_volume(plan, circuit, L0.shape[-1], int(max_rank), jnp.dtype(dtype).itemsize)
    comm = vol["swap_bytes"] + vol["psum_bytes"]
    settings = Settings(int(max_rank), 0)
    eps = jnp.asarray(epsilon, real)

    def state(L, discarded, rank, perm) -> LowRankState:
        layout = Layout(placement, tuple(perm), plan.num_swaps, comm)
        return LowRankState(L, discarded, rank, n, layout=layout)

    if batched:
        L, discarded, rank = _run_batch(circuit, L0, discarded, rank, params, eps, plan=plan,
                                        placement=placement, settings=settings, dtype=jnp.dtype(dtype))
        return state(L, discarded, rank, plan.final_perm)

    schedule = build(circuit, plan.steps, num_global=g, dtype=dtype)
    # the layout before each schedule step (a step may run two of the plan's: ``engine.build``)
    along = perms_along(plan)
    perms = [along[j] for j in schedule.instruction] + [plan.final_perm]
    channels = np.cumsum(schedule.is_channel)
    ends = [i + 1 for i in range(schedule.num_steps - 1)
            if schedule.is_channel[i] and channels[i] % segment_channels == 0]
    total_segments = len(ends) + 1
    carry = start_carry(L0, discarded, rank)
    start, tag = 0, None
    if checkpoint_dir is not None:
        tag = _fingerprint(circuit, plan, max_rank, epsilon, mesh, segment_channels,
                           None if initial_state is None else L0)
        done = checkpoint.load_meta(checkpoint_dir)
        if done is not None and done.get("extra", {}).get("fingerprint") == tag:
            back = checkpoint.restore(checkpoint_dir, mesh)
            carry = start_carry(back.L, back.discarded, back.rank)
            start = done["extra"]["steps_done"]

    def boundary(i: int, carry: Carry) -> None:
        if i not in ends:
            return
        k = ends.index(i) + 1
        if checkpoint_dir is not None:
            checkpoint.save(state(carry.L, carry.discarded, carry.rank, perms[i]), checkpoint_dir,
                            extra={"fingerprint": tag, "steps_done": i})
        if progress is not None:
            progress(k, total_segments)

    carry = drive(schedule, carry, eps, jnp.ones((), real), settings, placement, start=start,
                  boundaries=ends, narrow_every=NARROW_EVERY, on_boundary=boundary)
    if checkpoint_dir is not None:
        checkpoint.save(state(carry.L, carry.discarded, carry.rank, plan.final_perm), checkpoint_dir,
                        extra={"fingerprint": tag, "steps_done": schedule.num_steps})
    if progress is not None:
        progress(total_segments, total_segments)
    return state(carry.L, carry.discarded, carry.rank, plan.final_perm)


@functools.partial(jax.jit, static_argnames=("circuit", "plan", "placement", "settings", "dtype"))
def _run_batch(circuit, L, discarded, rank, params, eps, *, plan, placement, settings, dtype):
    """One simulation per row of ``params``, at the widths of the rank's bound (the traced
    policy), each element's schedule built from its own parameters inside the trace."""
    g = placement.num_global

    def one(carry, p):
        schedule = build(circuit.bind(p), plan.steps, num_global=g, dtype=dtype)
        return evolve(schedule, carry, eps, jnp.ones((), eps.dtype), settings, placement.coll)

    l_spec, s_spec = placement.specs()

    def body(L, discarded, rank, params):
        def each(args):
            L, d, r, p = args
            c = one(start_carry(L, d, r), p)
            return c.L, c.discarded, c.rank

        # lax.map keeps every device's collectives in the same order (see MeshPlacement.wrap).
        return jax.lax.map(each, (L, discarded, rank, params))

    return shard_map(body, mesh=placement.mesh, in_specs=(l_spec, s_spec, s_spec, P(BATCH)),
                     out_specs=(l_spec, s_spec, s_spec), check_vma=False)(L, discarded, rank, params)


def _fingerprint(circuit, plan, max_rank, epsilon, mesh, segment_channels, L0) -> str:
    """What a checkpoint must match to be resumed: circuit, values, settings, mesh, layout."""
    from ..checkpoint import circuit_fingerprint

    h = hashlib.sha256()
    h.update(repr((circuit_fingerprint(circuit), plan.initial_perm, max_rank, float(epsilon),
                   mesh.devices.shape, tuple(mesh.axis_names), segment_channels)).encode())
    if L0 is not None:
        h.update(np.ascontiguousarray(np.asarray(L0)).tobytes())
    return h.hexdigest()


def split_plan(plan: Plan, circuit: Circuit, channels: int) -> list[Plan]:
    """Deprecated: the engine runs one schedule and ends segments itself."""
    warnings.warn("split_plan is deprecated: simulate_sharded runs one schedule (lretjax.engine)",
                  DeprecationWarning, stacklevel=2)
    perms = perms_along(plan)
    pieces, cur, count, begin = [], [], 0, 0
    for i, step in enumerate(plan.steps):
        cur.append(step)
        if not isinstance(step, Swap) and circuit.ops[step.index].is_channel:
            count += 1
            if count == channels:
                pieces.append(Plan(plan.num_wires, plan.num_global, perms[begin], perms[i + 1], tuple(cur)))
                cur, count, begin = [], 0, i + 1
    if cur or not pieces:
        pieces.append(Plan(plan.num_wires, plan.num_global, perms[begin], plan.final_perm, tuple(cur)))
    return pieces


__all__ = ["simulate_sharded", "comm_volume", "split_plan"]
