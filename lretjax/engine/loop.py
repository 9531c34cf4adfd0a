"""The one loop: run a schedule's steps, at widths that follow the rank.

A *segment* is a range of steps at one static width. ``run_steps`` runs one, as

- a ``lax.fori_loop`` with static bounds (a scan: differentiable; what ``jax.grad`` sees), or
  unrolled with each step's branch called directly when the segment is a few steps long;
- a ``lax.while_loop`` from a dynamic start to a dynamic stop that also ends at a halting
  channel or a failed health check (the eager path: one compiled loop per width serves every
  start, stop and circuit of the same shapes).

Two width policies choose the segments:

- ``evolve`` (traced: inside jit/grad/vmap): widths from the rank's known upper bound,
  min(m * bound, max_rank, 2^n) after a channel, rounded up to powers of two, the growth phase
  lifted to the widest width the bound reaches within a tenth of the steps (``lifted_segments``);
- ``drive`` (eager: concrete inputs): widths from the rank actually kept. A segment runs until
  a channel wants more columns than L has; the host reads (halt, rank, failure) once per segment,
  widens or narrows L and goes on. Progress, checkpoints and the health checks' replay hang on
  the segment boundaries, never on a copy of the loop.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..ops.eigh import EIGH_NAME
from .schedule import Program, Schedule, Tables
from .step import Carry, Settings, make_step, vary, varying_axes
from .threads import lapack_limit

# Traced segments of at most this many steps are unrolled (each branch called directly, no
# switch): a short circuit, or the short segments of the growth phase, then compiles only the
# steps it has; longer ones compile the loop once.
UNROLL = 8


def width_for(rank: int, max_rank: int, dim: int) -> int:
    """Width of L for a rank: the next power of two, at most max(max_rank, rank) and dim."""
    rank = max(int(rank), 1)
    return int(min(1 << (rank - 1).bit_length(), max(max_rank, rank), dim))


def resize(L, width: int):
    """L with ``width`` columns: zero columns appended, or trailing (zero) columns dropped."""
    w = L.shape[-1]
    if w != width and not isinstance(L, jax.core.Tracer):
        return _resized(L, width)
    if w == width:
        return L
    if w > width:
        return L[..., :width]
    pad = [(0, 0)] * (L.ndim - 1) + [(0, width - w)]
    return jnp.pad(L, pad)


@functools.partial(jax.jit, static_argnames=("width",))
def _resized(L, width: int):
    return resize(L, width)


def run_steps(carry: Carry, program: Program, tables: Tables, settings: Settings, coll, eps, trace0,
              start, stop, host: Schedule | None = None) -> Carry:
    """Steps start..stop-1 at ``settings.width`` (see the module docstring for the loop forms)."""
    axes = varying_axes(carry, tables, eps, trace0)
    carry = vary(_tied(carry, (tables, eps, trace0)), axes)
    used = None if host is None or not isinstance(start, int) else frozenset(
        int(b) for b in host.code[start:stop, 0])
    step = make_step(program, tables, settings, coll, eps, trace0, stop, axes, used)
    if isinstance(start, int) and isinstance(stop, int):
        if host is not None and stop - start <= UNROLL:
            for i in range(start, stop):
                carry = step(carry, i, (host.code[i], host.wires[i], host.kraus_count[i]))
            return carry
        if settings.remat:
            return _rematerialised(step, carry, start, stop)
        return jax.lax.fori_loop(start, stop, lambda i, c: step(c, i), carry)

    def cond(state):
        i, c = state
        return (i < stop) & (c.halt < 0) & (c.fail < 0)

    def body(state):
        i, c = state
        return i + 1, step(c, i)

    return jax.lax.while_loop(cond, body, (jnp.asarray(start, jnp.int32), carry))[1]


def _tied(carry: Carry, inputs) -> Carry:
    """The carry made to depend on the traced inputs (adding a zero computed from them).

    Under ``vmap`` inside a caller's ``shard_map``, a branch that leaves L alone would return it
    unbatched and invariant while a gate built from batched parameters returns it batched and
    varying, and ``lax.switch`` refuses to join the two; a carry that depends on the batched
    inputs from the start is batched in every branch. Concrete inputs: nothing to do."""
    leaves = [x for x in jax.tree_util.tree_leaves(inputs) if isinstance(x, jax.core.Tracer) and x.size]
    if not leaves:
        return carry
    # select, not x * 0: a NaN in a user's matrix (the first entry of a stack) would make the
    # zero NaN and with it the whole state, from step 0 on (and the checks would name step 0)
    zero = sum(jnp.where(False, jnp.real(x.ravel()[0]).astype(jnp.float32), 0.0) for x in leaves)

    def tie(x):
        if jnp.issubdtype(x.dtype, jnp.inexact):
            return x + zero.astype(x.dtype)
        return x + (zero != 0).astype(x.dtype)

    return jax.tree_util.tree_map(tie, carry)


def _rematerialised(step, carry: Carry, start: int, stop: int) -> Carry:
    """Steps start..stop-1 as a scan over chunks of about sqrt(steps) steps, each chunk
    rematerialised in the backward pass. Eigendecompositions are saved, not recomputed: a
    recomputed basis of a degenerate group may differ by a rotation from the forward one."""
    n = stop - start
    size = max(1, math.isqrt(n))
    chunks = n // size

    def chunk(c, first):
        return jax.lax.scan(lambda c, i: (step(c, i), None), c, first + jnp.arange(size))[0], None

    policy = jax.checkpoint_policies.save_only_these_names(EIGH_NAME)
    firsts = start + size * jnp.arange(chunks)
    carry = jax.lax.scan(jax.checkpoint(chunk, policy=policy), carry, firsts)[0]
    return jax.lax.fori_loop(start + size * chunks, stop, lambda i, c: step(c, i), carry)


def bound_segments(schedule: Schedule, width0: int, max_rank: int, start: int = 0,
                   stop: int | None = None) -> list[tuple[int, int, int]]:
    """(start, stop, width) of a traced run: each width bounds the rank the steps can reach."""
    dim = 2**schedule.program.num_wires
    stop = schedule.num_steps if stop is None else stop
    bound = width0
    need = []
    mult = schedule.kraus_count
    for i in range(start, stop):
        w = width_for(bound, max_rank, dim) if bound <= max_rank else bound
        if mult[i]:
            bound = min(int(mult[i]) * bound, max_rank, dim)
            w = max(w, width_for(bound, max_rank, dim))
        need.append(max(w, 1))
    segments: list[tuple[int, int, int]] = []
    for i, w in zip(range(start, stop), need, strict=True):
        if segments and segments[-1][2] == w:
            segments[-1] = (segments[-1][0], i + 1, w)
        else:
            segments.append((i, i + 1, w))
    return segments


# The traced path lifts the growth phase's narrow widths to the widest width the rank's bound
# reaches within this fraction of the steps: each width is one more loop to compile (two under
# jax.grad), and the few steps before the bound gets there cost at most this fraction of the run
# more at it (compile figures in docs/performance.md).
LIFT_STEPS = 0.1


def lifted_segments(schedule: Schedule, width0: int, max_rank: int, start: int = 0,
                    stop: int | None = None) -> list[tuple[int, int, int]]:
    """``bound_segments`` with the leading segments merged into one at the widest width that the
    bound reaches within ``LIFT_STEPS`` of the steps. The bound only grows, so they are a prefix."""
    segments = bound_segments(schedule, width0, max_rank, start, stop)
    first = segments[0][0] if segments else start
    total = segments[-1][1] - first if segments else 0
    lift = max((w for a, _, w in segments if a - first <= LIFT_STEPS * total), default=0)
    merged = [s for s in segments if s[2] <= lift]
    if len(merged) < 2:
        return segments
    return [(first, merged[-1][1], lift), *segments[len(merged):]]


def evolve(schedule: Schedule, carry: Carry, eps, trace0, settings: Settings, coll, *, start: int = 0,
           stop: int | None = None) -> Carry:
    """Run the schedule inside the caller's trace (jit/grad/vmap/shard_map): static widths."""
    for a, b, w in lifted_segments(schedule, carry.L.shape[-1], settings.max_rank, start, stop):
        carry = carry._replace(L=resize(carry.L, w))
        carry = run_steps(carry, schedule.program, schedule.tables, dataclasses.replace(settings, width=w),
                          coll, eps, trace0, a, b, schedule)
    return carry


def _segment_body(carry, tables, eps, trace0, start, stop, *, program, settings, placement):
    def body(carry, tables, eps, trace0, start, stop):
        return run_steps(carry, program, tables, settings, placement.coll, eps, trace0, start, stop)

    return placement.wrap(body)(carry, tables, eps, trace0, start, stop)


# XLA:CPU spends most of a segment's compile in LLVM on its many small kernels; its older
# fusion emitters at LLVM -O1 compile it 2-2.5x faster, and the run, whose time is in LAPACK and
# BLAS, stays as fast (measured in docs/engine.md). Other backends keep their defaults.
CPU_COMPILER_OPTIONS = {"xla_cpu_use_fusion_emitters": False, "xla_backend_optimization_level": 1}
_STATIC = ("program", "settings", "placement")
_segment_cpu = jax.jit(_segment_body, static_argnames=_STATIC, compiler_options=CPU_COMPILER_OPTIONS)
_segment_other = jax.jit(_segment_body, static_argnames=_STATIC)
# Runs whose factor fills the device (``Settings.chunks`` > 1) hand the carry's buffers to the
# segment, so its L is updated where it lies instead of beside a copy.
_segment_donated = jax.jit(_segment_body, static_argnames=_STATIC, donate_argnums=(0,))


def _segment(*args, donate: bool = False, optimized: bool = False, **kwargs):
    """One compiled segment (a while loop from a dynamic start to a dynamic stop); ``donate``
    hands it the carry's buffers (the caller must not use that carry again); ``optimized`` keeps
    XLA:CPU's default optimisation for runs whose time is in elementwise passes, not BLAS."""
    if donate:
        fn = _segment_donated
    else:
        fn = _segment_cpu if jax.default_backend() == "cpu" and not optimized else _segment_other
    return fn(*args, **kwargs)


# Eager widths of large factors lie on a grid of four steps per octave above 16 (20, 24, 28, 32,
# 40, 48, ...): a channel's eigensolve costs (m w)^3 and its Gram block and factor 2^n w^2
# whatever the rank, so powers of two with a doubling of headroom made a rank of 78 pay for 256
# columns, 30x the eigensolve (n = 14: 23.0 s warm, against 7.2 s on the grid; docs/engine.md).
# Each grid point is a multiple of a quarter of its octave (aligned for the GPU's tiles).
GRID_STEPS = 4
# A widened L on the grid leaves this much room above the rank the channel asked for: ranks in
# noisy circuits keep growing, and each widening is one more compile in a fresh process.
HEADROOM = 1.25
# Below this many entries of L (2^n x width) a step costs well under a millisecond and a compile
# about half a second, so small factors widen by powers of two with a doubling of headroom: the
# README's 10-wire job compiles 4 widths, not 9.
GRID_ENTRIES = 2**18


def grid_width(need: int, steps: int | None = None) -> int:
    """The smallest width on the eager grid of ``steps`` per octave (default ``GRID_STEPS``, read
    when called, so a benchmark may change it) that holds ``need`` columns (powers of two up to 16)."""
    need = max(int(need), 1)
    if need <= 16:
        return 1 << (need - 1).bit_length()
    steps = GRID_STEPS if steps is None else steps
    step = max((1 << (need - 1).bit_length()) // (2 * steps), 1)
    return -(-need // step) * step


def grown_width(need: int, width: int, max_rank: int, dim: int, platform: str = "cpu", kraus: int = 1) -> int:
    """The width after a channel wanted ``need`` columns of an L ``width`` wide, at most
    max(max_rank, need) and 2^n: the grid point ``HEADROOM`` above the need, or for small factors
    (``GRID_ENTRIES``) the power of two above twice the need.

    Off the CPU (``kraus``: the largest Kraus count of the run) a compile costs two to three times
    more and cheap widths (``CHEAP``) cost alike: L jumps to the widest cheap width, and past it
    moves on a grid of half as many steps per octave."""
    if need >= max_rank:
        return int(min(need, dim))
    if platform != "cpu":
        fits = cheap_width(dim, kraus, platform)
        widest = min(1 << (fits.bit_length() - 1) if fits else 0, max_rank, dim)  # a power of two
        if need <= widest:
            return int(widest)
        steps = max(GRID_STEPS // 2, 1)
        return int(min(grid_width(max(math.ceil(HEADROOM * need), width + 1), steps), max_rank, dim))
    if dim * 2 * need < GRID_ENTRIES:
        return width_for(max(2 * need, width + 1), max_rank, dim)
    return int(min(grid_width(max(math.ceil(HEADROOM * need), width + 1)), max_rank, dim))


# Up to this many entries of L (2^n x width) a pass over it is cheap beside a compile, and up to
# this many stacked columns an eigensolve is too: below both, narrower widths buy nothing but
# compiles, so a run starts at the widest its rank can reach. On an H100 a segment program takes
# 0.6-1.6 s to compile at 14-20 wires, about a thousand passes over 2^28 complex64 entries
# (2 GiB, 1.5 ms), and cuSOLVER's eigensolve is latency-bound, 0.9-2.1 ms from 64 to 256 columns
# (docs/performance.md): an eager run whose rank stays low pays at most
# ``simulate.NARROW_EVERY`` steps at the wide width before it narrows, about one compile.
CHEAP = {"cpu": (2**16, 128), "gpu": (2**28, 256)}


def cheap_width(dim: int, kraus: int, platform: str = "cpu") -> int:
    """The widest L of ``dim`` rows, stacked ``kraus`` times by a channel, within ``CHEAP``."""
    entries, stack = CHEAP.get(platform, CHEAP["cpu"])
    return min(entries // dim, stack // max(kraus, 1))


def cheap(schedule: Schedule, width: int, start: int = 0, platform: str = "cpu") -> bool:
    """Whether L ``width`` wide, and the stack of the widest channel from step ``start`` on, are
    within ``CHEAP`` on ``platform``."""
    m = int(schedule.kraus_count[start:].max(initial=1))
    return width <= cheap_width(2**schedule.program.num_wires, m, platform)


def start_width(schedule: Schedule, width: int, max_rank: int, start: int = 0, platform: str = "cpu") -> int:
    """The width an eager run starts at from step ``start``: the widest its rank can reach when L
    that wide is cheap on ``platform`` (``CHEAP``), else the width its first channel needs (a
    narrower segment would only run the gates before it and recompile at the channel)."""
    if start >= schedule.num_steps:
        return width
    segments = bound_segments(schedule, width, max_rank, start)
    bound = max(w for _, _, w in segments)
    if cheap(schedule, bound, start, platform):
        return max(width, bound)
    channels = np.flatnonzero(schedule.kraus_count[start:]) + start
    if channels.size:
        first = int(channels[0])
        return max(width, next(w for a, b, w in segments if a <= first < b))
    return width


def narrowed_width(rank: int, width: int, max_rank: int, dim: int) -> int:
    """The width after a segment that ended at ``rank``: narrower only once the rank fits half
    of L (hysteresis: a rank wandering around a grid point does not recompile)."""
    w = int(min(grid_width(rank), dim))
    return w if 2 * w <= width and rank <= max_rank else width


@dataclasses.dataclass
class Failure:
    """A failed health check met by ``drive``.

    Attributes:
      step: the step whose check failed.
      why: the check's numbers (``step.WHY``).
      start, before, width: the start, carry and width of the segment that met it (the carry
        before ``step`` is reached again from there).
      good_step, good, good_width: the last segment end whose checks passed, its carry and
        width: a replay checking every step from there names the first step that breaks a check.
    """

    step: int
    why: np.ndarray
    start: int
    before: Carry
    width: int
    good_step: int
    good: Carry
    good_width: int


class HealthFailure(Exception):
    """Raised by ``drive`` when a health check fails; ``simulate`` turns it into NumericalError."""

    def __init__(self, failure: Failure):
        super().__init__(f"health check failed at step {failure.step}")
        self.failure = failure


def drive(schedule: Schedule, carry: Carry, eps, trace0, settings: Settings, placement, *,
          start: int = 0, stop: int | None = None, boundaries: Sequence[int] = (),
          narrow_every: int = 0, on_boundary: Callable[[int, Carry], None] | None = None,
          width: int | None = None, leave: Callable[[int, int], bool] | None = None,
          optimized: bool = False) -> Carry:
    """Run steps ``start``..``stop`` eagerly: L's width follows the rank actually kept.

    L starts at ``width`` (default: ``start_width``). A segment ends at each of ``boundaries``
    (progress, checkpoints), where ``on_boundary(step, carry)`` is called, and at multiples of
    ``narrow_every``, where L narrows if its rank fits a quarter of it. Widths therefore never
    depend on ``boundaries``: a run with checkpoints equals one without, bit for bit. Raises
    ``HealthFailure`` when a health check fails.

    ``optimized``: compile with XLA:CPU's default optimisation instead of ``CPU_COMPILER_OPTIONS``
    (the dense representation, whose passes are elementwise: 3.7x faster warm at n = 12).

    ``leave(step, width)``, asked at the start and whenever L must widen, stops the run before
    ``step`` when it says so (the caller goes on in another representation): the returned carry's
    ``halt`` is then that step, else -1.

    Earlier carries are kept only for the health checks' replay (``keeps_carries``). With
    ``settings.chunks`` > 1 (a factor that fills the device) each segment takes over the carry's
    buffers. Without kept carries a failed health check names the segment's range of steps
    (``Failure.before`` and ``good`` are None), since replaying it would need a second copy of L.
    """
    total = schedule.num_steps if stop is None else stop
    dim = 2**schedule.program.num_wires
    max_rank = settings.max_rank
    narrow = set(range(narrow_every, total, narrow_every)) if narrow_every else set()
    stops = sorted({b for b in set(boundaries) | narrow if start < b < total} | {total})
    halting = dataclasses.replace(settings, halting=True)
    platform = next(iter(carry.L.devices())).platform
    if width is None:
        width = start_width(schedule, carry.L.shape[-1], max_rank, start, platform)
    if leave is not None and leave(start, width):
        return carry._replace(halt=jnp.asarray(start, jnp.int32))
    lean = settings.chunks > 1
    keep = keeps_carries(settings, dim, carry.L.dtype)
    kraus = int(max(schedule.kraus_count.max(initial=1), 1))
    lapack = lapack_limit(platform)
    i, good = start, (start, carry if keep else None, width)
    while i < total:
        end = next(s for s in stops if s > i)
        before = carry if keep else None
        run = functools.partial(_segment, program=schedule.program, placement=placement,
                                settings=dataclasses.replace(halting, width=width), optimized=optimized)
        L = placement.resize(carry.L, width)
        # The caller's L (same width, first segment) stays the caller's; every later one is ours.
        donate = lean and (L is not carry.L or i > start)
        carry = carry._replace(L=L)  # the narrower L is no longer held while the segment runs
        del L
        with lapack(min(kraus * width, dim)):
            carry = run(carry, schedule.tables, eps, trace0, np.int32(i), np.int32(end), donate=donate)
            halt, need, fail, rank = (int(x) for x in jax.device_get(
                (carry.halt, carry.need, carry.fail, carry.rank)))
        if fail >= 0:
            why = np.asarray(jax.device_get(carry.why))
            raise HealthFailure(Failure(fail, why, i, before, width, *good))
        if halt >= 0:
            # A channel wanted more columns than L has: widen L and run that channel again.
            width = grown_width(need, width, max_rank, dim, platform, kraus)
            if leave is not None and leave(halt, width):
                return carry
            carry = carry._replace(halt=jnp.asarray(-1, jnp.int32))
            i = halt
            continue
        i = end
        good = (i, carry if keep else None, width)
        if i in narrow:
            width = narrowed_width(rank, width, max_rank, dim)
        if on_boundary is not None and i < total:
            on_boundary(i, carry)
    return carry._replace(L=placement.resize(carry.L, width))


# Largest factor (at ``max_rank``) whose earlier carries an eager run keeps for the replay that
# names a failing op. Beyond it they stay unkept: on an H100 an n = 24, r = 64 run (8 GiB per
# copy of L) ran out of its 59 GiB with them, the step's 16 GiB of temporaries finding no room.
KEEP_MAX_BYTES = 2**30


def keeps_carries(settings: Settings, dim: int, dtype) -> bool:
    """Whether ``drive`` keeps the carries before each segment: only for the health checks'
    replay, so not without checks, not in place (``chunks`` > 1), not for large factors."""
    size = dim * min(settings.max_rank, dim) * jnp.dtype(dtype).itemsize
    return settings.checks is not None and settings.chunks <= 1 and size <= KEEP_MAX_BYTES


def replay(schedule: Schedule, failure: Failure, eps, trace0, settings: Settings, placement
           ) -> tuple[int, np.ndarray, Carry] | None:
    """Rerun from the last good state checking after every step: (step, numbers, carry before
    that step) of the first step that fails, or None if the rerun passes."""
    if failure.good is None:  # a run that kept no earlier carry (``keeps_carries``)
        return None
    every = dataclasses.replace(settings, check_all=True)
    try:
        drive(schedule, failure.good, eps, trace0, every, placement, start=failure.good_step,
              stop=failure.step + 1, width=failure.good_width)
    except HealthFailure as e:
        found = e.failure
    else:
        return None
    quiet = dataclasses.replace(settings, checks=None, halting=True, width=found.width)
    run = functools.partial(_segment, program=schedule.program, placement=placement, settings=quiet)
    before = run(found.before._replace(L=placement.resize(found.before.L, found.width)), schedule.tables,
                 eps, trace0, np.int32(found.start), np.int32(found.step))
    return found.step, found.why, before
