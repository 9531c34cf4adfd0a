"""The one step: a gate, a channel with its truncation, or a global/local swap, on one block of L.

Every path runs this function: eager and traced, on one device, over a mesh and across MPI
processes. What differs is passed in: the collectives (``coll.psum`` sums the channel's Gram
block over row shards; ``coll.swap`` trades a global bit for a local one) and the static
``Settings`` (the width of L in this segment, whether to stop before a channel that needs a
wider L, the health checks, renormalisation, the per-channel record).

A channel keeps L's width: the stacked [K_1 L | ... | K_m L] (never built: ``ops.channel``) is
truncated back to ``Settings.width`` columns, zero past the rank. Widths change only between
segments (``loop.py``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, Int

from ..errors import SimulationConfigError
from ..health import Checks
from ..ops import apply_channel, apply_matrix, truncate
from ..ops.channel import (
    channel_factor,
    channel_gram,
    chunked_gram,
    gram_of_stack,
    wires_back,
    wires_last,
)
from ..ops.inner import sq_norm
from ..ops.truncate import select
from ..ops.wires import apply_matrix_at, gather_back, gather_last
from . import inplace
from .inplace import padded
from .schedule import NOOP, ChannelBranch, GateBranch, Program, SwapBranch, Tables

_HIGHEST = jax.lax.Precision.HIGHEST

# Largest stacked width a traced channel diagonalises as a Gram matrix when rho would be smaller.
GRAM_ROUTE_MAX = 512

# The fields of ``Carry.why``, the numbers of a failed health check.
WHY = ("check", "sq", "expected", "budget", "trace", "negative", "tolerance", "discarded")
STATE_CHECK, CHANNEL_CHECK = 1.0, 2.0


class Carry(NamedTuple):
    """What the loop carries from step to step (a pytree of arrays).

    Attributes:
      L: this block of the factor, (rows, width).
      discarded: eigenvalue weight dropped so far (bounds the trace distance to exact).
      rank: nonzero columns of L.
      halt: step at which an eager segment stopped, before a channel needing a wider L (-1: none).
      need: the rank that channel asked for.
      fail: first step whose health check failed (-1: none).
      why: that check's numbers, as named in ``WHY``.
      slack: trace drift allowed so far beyond the floor (reset by renormalisation).
      since: gates since the last health check.
      history: (rank, discarded) after each channel, when recorded; else empty arrays.
      kept: with ``Settings.adjoint``, the last channel's kept Gram eigenvectors V (the new L is
        S V for the stacked S), (max Kraus count x width, width); else None.
      eig: with ``Settings.keep_eig``, the last channel's Gram eigendecomposition (eigenvalues
        ascending, eigenvectors), zero-padded to ``kept``'s rows; with ``Settings.reuse_eig``
        also the step's input (the forward's, for the adjoint re-run).
    """

    L: Complex[Array, "rows width"]
    discarded: Float[Array, ""]
    rank: Int[Array, ""]
    halt: Int[Array, ""]
    need: Int[Array, ""]
    fail: Int[Array, ""]
    why: Float[Array, " 8"]
    slack: Float[Array, ""]
    since: Int[Array, ""]
    history: tuple[Int[Array, " channels"], Float[Array, " channels"]]
    kept: Complex[Array, "stacked width"] | None = None
    eig: tuple[Float[Array, " stacked"], Complex[Array, "stacked stacked"]] | None = None


def start_carry(L, discarded, rank, *, slack=0.0, channels: int = 0) -> Carry:
    """The carry of a state about to run a schedule with ``channels`` channels (recorded if > 0)."""
    real = jnp.finfo(L.dtype).dtype
    i32 = jnp.int32
    rank = jnp.asarray(rank, i32)
    return Carry(
        L, jnp.asarray(discarded, real), rank, jnp.asarray(-1, i32), jnp.asarray(0, i32),
        jnp.asarray(-1, i32), jnp.zeros(len(WHY), real), jnp.asarray(slack, real), jnp.asarray(0, i32),
        (jnp.zeros(channels, i32), jnp.zeros(channels, real)),
    )


@dataclass(frozen=True)
class Settings:
    """Static settings of one compiled segment.

    Attributes:
      max_rank: the user's cap on the rank.
      width: columns of L in this segment (>= its rank; a channel truncates back to it).
      halting: stop before a channel whose epsilon rule wants more than ``width`` columns (the
        eager path, which then widens L); without it ``width`` must bound the rank.
      checks: health checks (``lretjax.health.Checks``), or None.
      check_all: check after every step (the traced path and the replay that names an op);
        otherwise after channels, every ``checks.every`` gates and the segment's last step.
      renormalize: rescale L after every channel to trace Tr(rho_0) - discarded.
      record: write (rank, discarded) after every channel into ``Carry.history``.
      remat: under ``jax.grad``, recompute the steps in about sqrt(steps) chunks in the backward
        pass, storing only the chunks' first states (and every eigendecomposition).
      tolerance: the number of channels when epsilon is a total budget (``simulate(...,
        tolerance=)``): each channel may then drop what is left of it divided by the channels
        still to come, so the accumulated discarded weight stays within it. 0: epsilon is the
        per-channel fraction of the trace.
      adjoint: every step also returns the kept eigenvectors of its channel (``Carry.kept``),
        which is all the adjoint sweep (``adjoint.py``) needs to undo the step.
      keep_eig: with ``adjoint``, every step also returns its channel's Gram eigendecomposition
        (``Carry.eig``; only where ``keeps_eig``), which spares the sweep's re-run its eigensolve.
      reuse_eig: with ``keep_eig``, a channel takes its Gram eigendecomposition from ``Carry.eig``
        instead of solving (the adjoint sweep re-running a step of the forward pass).
      chunks: for factors that fill the device (``resources.plan_chunks``): every step updates L
        in place, this many row blocks at a time (``inplace.py``), holding about one copy of L
        where the whole step holds two to four. Needs static wires on one device.
      orthogonal: L's columns are orthogonal on entry (a single column, as from |0...0> or a state
        vector); every truncation keeps them so and gates preserve them, so a one-wire channel
        forms half its Gram block (``ops.channel.orthogonal_block``).
    """

    max_rank: int
    width: int
    halting: bool = False
    checks: Checks | None = None
    check_all: bool = False
    renormalize: bool = False
    record: bool = False
    remat: bool = False
    tolerance: int = 0
    adjoint: bool = False
    keep_eig: bool = False
    reuse_eig: bool = False
    chunks: int = 1
    orthogonal: bool = False


def check_settings(max_rank, epsilon, tolerance=None) -> None:
    """SimulationConfigError unless max_rank is a positive integer and epsilon (or the total
    ``tolerance``, which excludes epsilon) lies in [0, 1) (traced values pass: they are checked
    where they become concrete)."""
    if tolerance is not None:
        if not isinstance(epsilon, jax.core.Tracer) and epsilon != 0.0:
            raise SimulationConfigError("give either epsilon (per channel) or tolerance (in total), not both")
        _check_fraction("tolerance", tolerance)
    if isinstance(max_rank, bool) or not isinstance(max_rank, (int, np.integer)):
        raise SimulationConfigError(f"max_rank must be a positive integer, got {max_rank!r}")
    if max_rank < 1:
        raise SimulationConfigError(f"max_rank must be at least 1, got {max_rank}")
    _check_fraction("epsilon", epsilon)


def _check_fraction(name: str, value) -> None:
    if not isinstance(value, jax.core.Tracer):
        try:
            e = float(value)
        except (TypeError, ValueError):
            raise SimulationConfigError(f"{name} must be a number in [0, 1), got {value!r}") from None
        if not 0.0 <= e < 1.0:
            raise SimulationConfigError(f"{name} must lie in [0, 1), got {value!r}")


class _Out(NamedTuple):
    L: Array
    discarded: Array
    rank: Array
    wanted: Array
    trace: Array
    over: Array
    vectors: Array | None = None
    payload: tuple | None = None  # the in-place form's update (``inplace.py``); L is then None
    eig: tuple | None = None  # a channel's Gram eigendecomposition (``Carry.eig``)


def _vma(x) -> frozenset:
    return getattr(jax.typeof(x), "vma", frozenset())


def varying_axes(*trees) -> frozenset:
    """The mesh axes any leaf of ``trees`` varies over (empty outside ``shard_map``)."""
    axes: frozenset = frozenset()
    for leaf in jax.tree_util.tree_leaves(trees):
        axes |= _vma(leaf)
    return axes


def vary(tree, axes: frozenset):
    """Every leaf of ``tree`` marked as varying over ``axes``.

    Inside a caller's ``shard_map`` (with its varying-axes check on), the branches of the step's
    switch and the loop's carry must agree on which axes each value varies over: a gate's zero
    does not vary, a channel's weight computed from varying parameters does. A no-op outside
    ``shard_map``."""
    if not axes:
        return tree

    def cast(x):
        missing = tuple(sorted(axes - _vma(x)))
        return jax.lax.pcast(x, missing, to="varying") if missing else x

    return jax.tree_util.tree_map(cast, tree)


def _out(L, discarded, rank, wanted, trace, over, vectors=None, eig=None) -> _Out:
    """A branch's result in the one type every branch of the switch returns.

    Branches that change no number return their inputs (``zero`` and ``rank < 0`` are computed
    from the carry), never fresh constants: under ``vmap`` inside a ``shard_map`` a constant would
    be neither batched nor varying like the other branches' results, and the switch would
    refuse to join them."""
    real = jnp.finfo((discarded if L is None else L).dtype).dtype
    return _Out(L, jnp.asarray(discarded, real), jnp.asarray(rank, jnp.int32),
                jnp.asarray(wanted, jnp.int32), jnp.asarray(trace, real), jnp.asarray(over, bool), vectors,
                eig=eig)


def _pick(variants: Sequence[Callable], sub, *args):
    """variants[sub](*args): a direct call for a static index, ``lax.switch`` for a traced one."""
    if len(variants) == 1:
        return variants[0](*args)
    if isinstance(sub, (int, np.integer)):
        return variants[int(sub)](*args)
    return jax.lax.switch(sub, variants, *args)


def _row(stack, slot):
    if isinstance(slot, (int, np.integer)):
        return stack[int(slot)]
    return jax.lax.dynamic_index_in_dim(stack, slot, keepdims=False)


def swap_bits(L, a: int, b_local: int, nl: int, coll):
    """Trade global bit ``a`` with local bit ``b_local`` (one all_to_all of half the block)."""
    view = L.reshape((2,) * nl + (L.shape[-1],))
    return coll.swap(view, a, b_local).reshape(L.shape)


def _wire_variants(br, nl: int, static_fn, data_fn) -> Callable:
    """fn(sub, at, *args): the static variant ``sub`` of ``static_fn``, or ``data_fn`` with the
    step's wires ``at`` when the branch takes its wires as data. Wires known on the host (an
    unrolled step: ``at`` a tuple) always take the static form, an elementwise pass."""
    variants = [functools.partial(lambda *args, ws: static_fn(*args, ws, nl), ws=ws) for ws in br.wiresets]

    def run(sub, at, *args):
        if isinstance(at, tuple):
            return static_fn(*args, at[: br.k], nl)
        if not br.wiresets:
            return data_fn(*args, at[: br.k], nl)
        return _pick(variants, sub, *args)

    return run


def _gate_branch(br: GateBranch, nl: int, stack, blank: tuple | None = None):
    """The gate step; with ``blank`` (the in-place form's zero payload) it returns its matrix
    in the payload instead of the new L."""
    apply = _wire_variants(br, nl, apply_matrix, apply_matrix_at)

    def run(L, rank, zero, sub, slot, at, eps, eig=None):
        if blank is not None:
            u = padded(_row(stack, slot).astype(L.dtype), blank[0])
            return _out(None, zero, rank, rank, zero, rank < 0)._replace(payload=(u,) + blank[1:])
        return _out(apply(sub, at, L, _row(stack, slot)), zero, rank, rank, zero, rank < 0)

    return run


def _stack_at(L, kraus, wires, nl):
    """[K_1 L | ... | K_m L] with the wires as data."""
    return jnp.concatenate([apply_matrix_at(L, kraus[i], wires, nl) for i in range(kraus.shape[0])], axis=1)


def _roundoff(settings: Settings, L) -> bool:
    """Keep the round-off directions a static width has room for (``ops.truncate.keep_mask``):
    traced runs in double precision only. In complex64 those directions are noise of the
    eigensolver, and keeping them made cuSOLVER return NaN eigenpairs a few optax steps into a
    14-qubit VQE on an H100 (forward value NaN at step 11; fine without them)."""
    return not settings.halting and L.dtype == jnp.complex128


def _channel_branch(br: ChannelBranch, nl: int, stack, settings: Settings, coll, num_global: int,
                    blank: tuple | None = None):
    """The channel step; with ``blank`` (the in-place form's zero payload) it returns its Kraus
    set and kept eigenvectors in the payload instead of the new L."""
    W = settings.width
    k = min(W, settings.max_rank)
    rows = 2**nl
    # More stacked columns than rows (one device only): rho itself is the smaller eigenproblem.
    # Traced runs keep the Gram route while it is small: its kept columns S v are linear in the
    # Kraus operators, so a direction of weight zero (a channel at strength 0) keeps its exact
    # derivative, where rho's factor sqrt(lambda) u has none at lambda = 0.
    rho_route = (num_global == 0 and br.m * W > rows and (settings.halting or br.m * W > GRAM_ROUTE_MAX)
                 and blank is None)
    can_overflow = settings.halting and W < min(settings.max_rank, 2 ** (nl + num_global))
    psum = coll.psum if num_global else None
    last = _wire_variants(br, nl, wires_last, gather_last)
    back = _wire_variants(br, nl, wires_back, gather_back)
    stacked = _wire_variants(br, nl, apply_channel, _stack_at)
    # The in-place form reads the Gram block over row blocks of L (only one block's moved copy).
    block_gram = _wire_variants(br, nl, lambda L, ws, nl: chunked_gram(L, ws, nl, settings.chunks), None)

    def widen(X):
        return X if X.shape[-1] == W else jnp.pad(X, ((0, 0), (0, W - X.shape[-1])))

    def run(L, rank, zero, sub, slot, at, eps, eig=None):
        kraus = _row(stack, slot)
        vectors = eig_out = None
        if rho_route:
            S = stacked(sub, at, L, kraus)
            if settings.tolerance:  # eps is this channel's share of the budget, in weight
                eps = eps / jnp.maximum(sq_norm(S), jnp.finfo(eps.dtype).tiny)
            t = truncate(S, k, eps, roundoff=_roundoff(settings, L), spend_floor=bool(settings.tolerance))
            new, d, r, wanted, trace = widen(t.L), t.discarded, t.rank, t.wanted, sq_norm(S)
            factor = None
            if settings.adjoint:  # new = U_k sqrt(lam_k) = S V with V = S^dagger U_k / sqrt(lam_k)
                norms = jnp.sum(jnp.abs(new) ** 2, axis=0)
                inv = jnp.where(norms > 0, 1.0 / jnp.where(norms > 0, norms, 1.0), 0.0)
                vectors = jnp.matmul(S.conj().T, new, precision=_HIGHEST) * inv.astype(new.dtype)
        else:
            if blank is not None:
                M = block_gram(sub, at, L)
                G = gram_of_stack(M if psum is None else psum(M), kraus)
            else:
                Lw = last(sub, at, L)
                G = channel_gram(Lw, kraus, psum, orthogonal=settings.orthogonal)
            if settings.tolerance:
                eps = eps / jnp.maximum(jnp.real(jnp.trace(G)), jnp.finfo(eps.dtype).tiny)
            if eig is not None:  # the slot is padded to the widest channel's Gram matrix
                eig = (eig[0][: G.shape[0]], eig[1][: G.shape[0], : G.shape[0]])
            sel = select(G, k, eps, roundoff=_roundoff(settings, L), eig=eig,
                         spend_floor=bool(settings.tolerance))
            d, r, wanted, trace = sel.discarded, sel.rank, sel.wanted, jnp.real(jnp.trace(G))
            V = widen(sel.vectors)
            vectors = V if settings.adjoint else None
            eig_out = sel.eig if settings.keep_eig else None
            new = None

            def factor():
                return back(sub, at, channel_factor(Lw, kraus, V))
        # Eager widths: a channel whose epsilon rule wants more columns than L has is not applied;
        # the loop stops there and the driver reruns it on a wider L.
        over = jnp.minimum(wanted, settings.max_rank) > W if can_overflow else rank < 0
        if blank is not None:  # the in-place form applies V after the switch (``inplace.py``)
            pay = (blank[0], padded(kraus.astype(L.dtype), blank[1]), padded(V, blank[2]))
            return _out(None, jnp.where(over, zero, d), jnp.where(over, rank, r), wanted, trace, over,
                        vectors, eig_out)._replace(payload=pay)
        if not can_overflow:
            return _out(new if factor is None else factor(), d, r, wanted, trace, over, vectors, eig_out)
        out = jax.lax.cond(over, lambda: L, (lambda: new) if factor is None else factor)
        return _out(out, jnp.where(over, zero, d), jnp.where(over, rank, r), wanted, trace, over, vectors,
                    eig_out)

    return run


def _swap_branch(br: SwapBranch, nl: int, coll):
    variants = [functools.partial(lambda L, a, b: swap_bits(L, a, b, nl, coll), a=a, b=b)
                for a, b in br.pairs]

    def run(L, rank, zero, sub, slot, at, eps, eig=None):
        return _out(_pick(variants, sub, L), zero, rank, rank, zero, rank < 0)

    return run


def _noop(L, rank, zero, sub, slot, at, eps, eig=None):
    return _out(L, zero, rank, rank, zero, rank < 0)


def _blank_noop(blank: tuple) -> Callable:
    def run(L, rank, zero, sub, slot, at, eps, eig=None):
        return _out(None, zero, rank, rank, zero, rank < 0)._replace(payload=blank)

    return run


def branches(program: Program, tables: Tables, settings: Settings, coll, blank: tuple | None = None
             ) -> list[Callable]:
    """The step function of each branch (index 0: the no-op), closed over its matrices; with
    ``blank``, in the in-place form (``inplace.py``)."""
    nl, g = program.local_wires, program.num_global
    out: list[Callable] = [_noop if blank is None else _blank_noop(blank)]
    for br, stack in zip(program.branches, tables.stacks, strict=True):
        if isinstance(br, GateBranch):
            out.append(_gate_branch(br, nl, stack, blank))
        elif isinstance(br, ChannelBranch):
            out.append(_channel_branch(br, nl, stack, settings, coll, g, blank))
        else:
            out.append(_swap_branch(br, nl, coll))
    return out


def kept_rows(program: Program, width: int) -> int:
    """Rows of ``Carry.kept``: the widest stacked factor of the program's channels."""
    return max([br.m for br in program.branches if isinstance(br, ChannelBranch)] + [1]) * width


def keeps_eig(program: Program, width: int) -> bool:
    """Whether every channel's Gram eigendecomposition can be stored (``Settings.keep_eig``): while
    it is no larger than L, (m w)^2 <= 2^n w. Such a channel never takes the rho route
    (m w <= 2^n / m), so its step always has one."""
    rows = kept_rows(program, width)
    return rows * rows <= 2**program.local_wires * width


def kept_zeros(program: Program, width: int, dtype, eig: bool) -> tuple:
    """Zero ``Carry.kept`` and ``Carry.eig`` (None unless ``eig``) of an adjoint step."""
    rows = kept_rows(program, width)
    real = jnp.finfo(dtype).dtype
    eig = (jnp.zeros(rows, real), jnp.zeros((rows, rows), dtype)) if eig else None
    return jnp.zeros((rows, width), dtype), eig


def _with_kept(fn, program: Program, width: int, keep_eig: bool):
    """A branch that also returns its kept vectors and (with ``keep_eig``) its Gram
    eigendecomposition, padded to ``kept_zeros``' shapes (zeros for a gate)."""

    def run(L, *args):
        out = fn(L, *args)
        zeros = kept_zeros(program, width, L.dtype, keep_eig)
        tie = jnp.real(jnp.zeros((), L.dtype) * L[0, 0])  # a gate's zeros batched and varying like L

        def slot(x, zero):
            if x is None:
                return jax.tree_util.tree_map(lambda z: z + tie.astype(z.dtype), zero)
            return jax.tree_util.tree_map(padded, x, zero)

        kept = slot(out.vectors, zeros[0])
        eig = None if zeros[1] is None else slot(out.eig, zeros[1])
        return out._replace(vectors=kept, eig=eig)

    return run


def _varying(fn, axes: frozenset):
    """A branch whose outputs vary over ``axes`` and every mesh axis its inputs do (``vary``)."""

    def run(L, *args):
        return vary(fn(L, *args), axes | varying_axes(L, args))

    return run


def make_step(program: Program, tables: Tables, settings: Settings, coll, eps, trace0,
              stop=None, axes: frozenset = frozenset(), used: frozenset | None = None) -> Callable:
    """step(carry, i, code=None) -> carry: run step ``i`` of the schedule.

    ``code`` is the host's ((branch, sub, slot), wires, Kraus count) of the step when the caller
    knows it (an unrolled segment): the branch is then called directly instead of through
    ``lax.switch``. ``stop`` is
    the segment's end, after whose last step the health checks always run. ``axes``: the mesh
    axes the carry varies over inside a caller's ``shard_map`` (``varying_axes``). ``used``: the
    branches the steps to run use, when known (the others are left out of the switch).
    """
    in_place = inplace.plan(program, settings.chunks) if settings.chunks > 1 else None
    if settings.chunks > 1 and in_place is None:
        raise SimulationConfigError("the in-place step (Settings.chunks > 1) needs static wires on one "
                                    "device")
    dtype = tables.stacks[0].dtype if tables.stacks else None
    blank = None if in_place is None else inplace.payload_shapes(program, settings.width, dtype)
    every = branches(program, tables, settings, coll, blank)
    fns = [fn if used is None or b in used else every[0] for b, fn in enumerate(every)]
    if settings.adjoint:
        fns = [_with_kept(fn, program, settings.width, settings.keep_eig) for fn in fns]
    fns = [_varying(fn, axes) for fn in fns]
    checks = settings.checks

    def step(carry: Carry, i, code=None) -> Carry:
        zero = carry.discarded - carry.discarded
        given = carry.eig if settings.reuse_eig else None
        budget = eps
        if settings.tolerance:  # what is left of the budget, shared by the channels to come
            left = jnp.maximum(eps - carry.discarded, 0.0)
            budget = left / jnp.maximum(settings.tolerance - tables.channel[i], 1).astype(left.dtype)
        if code is None:
            b, sub, slot = tables.code[i, 0], tables.code[i, 1], tables.code[i, 2]
            out = jax.lax.switch(b, fns, carry.L, carry.rank, zero, sub, slot, tables.wires[i], budget, given)
            m = tables.kraus_count[i]
            is_chan = m > 0
        else:  # an unrolled step: its branch and kind are known here
            b, sub, slot = (int(x) for x in code[0])
            out = fns[b](carry.L, carry.rank, zero, sub, slot, tuple(int(w) for w in code[1]), budget, given)
            m = int(code[2])
            is_chan = m > 0
        L, discarded = out.L, carry.discarded + out.discarded
        if in_place is not None:
            L = inplace.apply_in_place(carry.L, out.payload, b, sub, ~out.over, program, in_place)
        halt, need = carry.halt, carry.need
        if settings.halting:
            halt = jax.lax.select(out.over & (halt < 0), jnp.asarray(i, jnp.int32), halt)
            need = jax.lax.select(out.over, jnp.minimum(out.wanted, settings.max_rank), need)
        fail, why, slack, since = carry.fail, carry.why, carry.slack, carry.since
        sq = None
        if checks is not None or settings.renormalize:
            expected = trace0 - discarded
        if checks is not None:
            real = jnp.finfo(L.dtype).dtype
            e = float(jnp.finfo(real).eps)
            slack = slack + checks.drift_per_op * e + tables.slack[i]
            due = is_chan | (since + 1 >= checks.every)
            if settings.check_all:
                due = jnp.ones((), bool)
            if stop is not None:
                due = due | (i == stop - 1)
            due = due & ~out.over & (b != NOOP)
            sq = jax.lax.cond(due, lambda x: sq_norm(x), lambda x: expected.astype(real), L)
            budget = checks.drift_floor * e + slack
            bad_state = ~jnp.isfinite(sq) | (jnp.abs(sq - expected) > budget)
            if checks.eig_tol is not None:
                tol = jnp.asarray(checks.eig_tol, real)
            else:
                tol = math.sqrt(e) + 8 * e * jnp.asarray(m * settings.width, real)
            neg = out.trace - sq - out.discarded
            finite = jnp.isfinite(out.trace) & jnp.isfinite(neg) & jnp.isfinite(out.discarded)
            bad_chan = is_chan & (~finite | (neg > tol * jnp.maximum(out.trace, 1e-300)))
            bad = due & (bad_state | bad_chan) & (fail < 0)
            numbers = jnp.stack([jnp.where(bad_state, STATE_CHECK, CHANNEL_CHECK), sq, expected, budget,
                                 out.trace, neg, tol, out.discarded]).astype(real)
            why = jnp.where(bad, numbers, why)
            fail = jnp.where(bad, i, fail).astype(jnp.int32)
            since = jnp.where(due, 0, since + 1).astype(jnp.int32)
        if settings.renormalize:
            def rescale(x):
                s = sq_norm(x) if sq is None else sq
                scale = jnp.sqrt(jnp.where(s > 0, expected / jnp.where(s > 0, s, 1.0), 1.0))
                return x * scale.astype(x.dtype)

            apply = is_chan & ~out.over
            if in_place is None:
                L = jax.lax.cond(apply, rescale, lambda x: x, L)
            else:  # a cond returning L would copy it: scale in place, by one where nothing is due
                s = sq_norm(L) if sq is None else sq
                ok = apply & (s > 0)
                scale = jnp.sqrt(jnp.where(ok, expected / jnp.where(ok, s, 1.0), 1.0))
                L = inplace.scale_in_place(L, scale, in_place.bits)
            slack = jnp.where(apply, jnp.zeros_like(slack), slack)
        history = carry.history
        if settings.record:
            ranks, discs = history
            at = tables.channel[i]
            rec = is_chan & ~out.over
            history = (jnp.where(rec, ranks.at[at].set(out.rank), ranks),
                       jnp.where(rec, discs.at[at].set(discarded), discs))
        return vary(Carry(L, discarded, out.rank, halt, need, fail, why, slack, since, history, out.vectors,
                          out.eig), axes)

    return step
