"""The adjoint gradient: a backward sweep that undoes each step instead of storing its input.

Backprop stores the factor L before every step (memory growing with depth); ``remat`` stores it
every sqrt(steps) steps. The adjoint sweep stores only the final L and, per channel, the kept
eigenvectors V of its Gram matrix ((m w) x w: small next to L), and walks the schedule backwards:

- a gate is undone exactly: L_i = U^dagger L_(i+1);
- a channel's new factor is L_(i+1) = S V for the stacked S = [K_1 L_i | ... | K_m L_i]. Stacking
  is an isometry (sum_j K_j^dagger K_j = I), so L_i = sum_j K_j^dagger S_j, and S = L_(i+1) V^dagger
  up to the directions the truncation dropped (``ops.channel.channel_unfactor``). Untruncated the
  reconstruction is exact; truncated, each channel adds at most sqrt(d_j) (its discarded weight
  d_j) in Frobenius norm to the error of every earlier L, since both maps are contractions:
  ``reconstruction_bound`` is sum_j sqrt(d_j) over the channels.

At each step the sweep re-runs the step on the reconstructed L under ``jax.vjp`` (the same step
function as every other path: the eigendecomposition's derivative is ``ops.eigh.safe_eigh``'s)
and pulls the cotangent back. The Gram eigensolve is most of a re-run's cost on the CPU, so
where the decompositions are cheap to keep (``stores_eig``: each no larger than L, all together
within ``EIG_BYTES`` or one L) the forward stores each channel's and the re-run differentiates at
it instead of solving (``ops.eigh.given_eigh``); its kept basis is then the forward's V exactly.
Solving again, the re-run may return the kept eigenvectors rotated inside a group of equal
eigenvalues (or with other phases) against the forward's V; every result is invariant under
L -> L Q for unitary Q, so the cotangent is carried over by Q = V^dagger V' first.

Memory: the final L, one step's temporaries, and the V (and, within that budget, the Gram
eigendecomposition) of every channel; it does not store L per step. The budget is a fixed
amount, so a deeper circuit stops storing the decompositions rather than growing past it.
Compile: one loop per width segment forward and one backward, as ``evolve``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import SimulationConfigError
from ..ops.channel import channel_unfactor, wires_back, wires_last
from ..ops.wires import gather_back, gather_last
from .collectives import LOCAL
from .loop import lifted_segments, resize, run_steps
from .schedule import ChannelBranch, GateBranch, Program, Schedule
from .step import (
    Carry,
    Settings,
    _gate_branch,
    _row,
    _wire_variants,
    keeps_eig,
    kept_rows,
    kept_zeros,
    make_step,
    start_carry,
)

_HIGHEST = jax.lax.Precision.HIGHEST
MIN_WIDTH = 16
# Most bytes the stored Gram eigendecompositions may take (or one L, if that is more): below it
# memory limits no gradient, and the re-runs skip their eigensolves; above it they solve again.
EIG_BYTES = 64 * 2**20


def _inverses(program: Program, stacks, width: int) -> list:
    """inverse(L, sub, slot, at, V) of each branch (index 0: the no-op)."""
    nl = program.local_wires

    def noop(L, sub, slot, at, V):
        return L

    out = [noop]
    for br, stack in zip(program.branches, stacks, strict=True):
        if isinstance(br, GateBranch):
            run = _gate_branch(br, nl, jnp.conj(jnp.swapaxes(stack, -1, -2)))

            def undo_gate(L, sub, slot, at, V, run=run):
                zero = jnp.zeros((), jnp.finfo(L.dtype).dtype)
                return run(L, jnp.zeros((), jnp.int32), zero, sub, slot, at, zero).L

            out.append(undo_gate)
        elif isinstance(br, ChannelBranch):
            last = _wire_variants(br, nl, wires_last, gather_last)
            back = _wire_variants(br, nl, wires_back, gather_back)

            def undo_channel(L, sub, slot, at, V, br=br, stack=stack, last=last, back=back):
                kraus = _row(stack, slot)
                return back(sub, at, channel_unfactor(last(sub, at, L), kraus, V[: br.m * width]))

            out.append(undo_channel)
        else:
            raise SimulationConfigError("the adjoint gradient runs on one device (no global/local swaps)")
    return out


def _channel_spans(schedule: Schedule, segments) -> list[tuple[int, int]]:
    """(first channel ordinal, channel count) of each segment."""
    before = np.concatenate([[0], np.cumsum(schedule.kraus_count > 0)])
    return [(int(before[a]), int(before[b] - before[a])) for a, b, _ in segments]


def adjoint_evolve(schedule: Schedule, carry: Carry, eps, trace0, settings: Settings) -> Carry:
    """``evolve`` on one device whose reverse-mode derivative is the adjoint sweep (module doc)."""
    if settings.checks is not None or settings.renormalize or settings.record or settings.remat:
        raise SimulationConfigError("the adjoint gradient takes no health checks, renormalize, record "
                                    "or remat")
    # Start no narrower than MIN_WIDTH: the first few steps cost nothing at that width, and every
    # width segment is two more compiled loops (forward and backward).
    dim = 2**schedule.program.num_wires
    width0 = carry.L.shape[-1]
    start = max(width0, min(MIN_WIDTH, settings.max_rank, dim))
    segments = tuple(lifted_segments(schedule, start, settings.max_rank))
    spans = _channel_spans(schedule, segments)
    program = schedule.program
    base = dataclasses.replace(settings, check_all=False)
    store = stores_eig(program, segments, spans, jnp.dtype(carry.L.dtype).itemsize)

    # Under jit the tables are tracers of the caller's trace: they enter the custom_vjp as
    # arguments (only their ``stacks`` get a cotangent), never as closed-over constants.
    def forward(L, tabs, eps, trace0, disc0, rank0, keep: bool):
        # Concrete inputs may arrive as numpy literals, which a traced loop index cannot index.
        L, tabs = jnp.asarray(L), jax.tree_util.tree_map(jnp.asarray, tabs)
        c = start_carry(L, disc0, rank0)
        records = []
        for (a, b, w), (c0, nc) in zip(segments, spans, strict=True):
            st = dataclasses.replace(base, width=w, adjoint=keep, keep_eig=keep and store)
            c = c._replace(L=resize(c.L, w))
            if not keep:  # the primal alone: the engine's loop as evolve runs it
                c = run_steps(c, program, tabs, st, LOCAL, eps, trace0, a, b)
                continue
            step = make_step(program, tabs, st, LOCAL, eps, trace0)
            kept, eig = kept_zeros(program, w, L.dtype, store)
            n = max(nc, 1)
            # per channel: V, the eigendecomposition (if stored) and the discarded weight before
            rec = jax.tree_util.tree_map(lambda z, n=n: jnp.zeros((n, *z.shape), z.dtype),
                                         (kept, eig, c.discarded))

            def body(i, state, step=step, c0=c0, n=n):
                x, rec = state
                before = x.discarded
                x = step(x, i)
                j = jnp.clip(tabs.channel[i] - c0, 0, n - 1)
                chan = tabs.kraus_count[i] > 0
                rec = jax.tree_util.tree_map(lambda r, y: r.at[j].set(jnp.where(chan, y, r[j])), rec,
                                             (x.kept, x.eig, before))
                return x, rec

            c = c._replace(kept=kept, eig=eig)
            c, rec = jax.lax.fori_loop(a, b, body, (c, rec))
            c = c._replace(kept=None, eig=None)
            records.append(rec)
        return c, records

    @jax.custom_vjp
    def run(L, tabs, eps, trace0, disc0, rank0):
        c, _ = forward(L, tabs, eps, trace0, disc0, rank0, keep=False)
        return c.L, c.discarded, c.rank

    def run_fwd(L, tabs, eps, trace0, disc0, rank0):
        c, records = forward(L, tabs, eps, trace0, disc0, rank0, keep=True)
        return (c.L, c.discarded, c.rank), (c.L, c.rank, tabs, eps, trace0, records)

    def run_bwd(res, cts):
        L, rank, tables, eps, trace0, records = res
        tables = jax.tree_util.tree_map(jnp.asarray, tables)
        stacks = tables.stacks
        g, g_disc, _ = cts
        g_stacks = jax.tree_util.tree_map(jnp.zeros_like, stacks)
        for (a, b, w), (c0, nc), rec in reversed(list(zip(segments, spans, records, strict=True))):
            L, g = resize(L, w), resize(g, w)
            st = dataclasses.replace(base, width=w, adjoint=True, keep_eig=store, reuse_eig=store)
            undo = _inverses(program, stacks, w)
            n = max(nc, 1)

            def body(t, state, a=a, b=b, st=st, undo=undo, rec=rec, c0=c0, n=n, w=w):
                L1, g1, gs = state
                i = b - 1 - t
                code = tables.code[i]
                chan = tables.kraus_count[i] > 0
                j = jnp.clip(tables.channel[i] - c0, 0, n - 1)
                V, eig, before = jax.tree_util.tree_map(lambda r: r[j], rec)
                L0 = jax.lax.switch(code[0], undo, L1, code[1], code[2], tables.wires[i], V)
                before = jnp.where(chan, before, jnp.zeros_like(before))

                def step_at(x, s):
                    step = make_step(program, tables._replace(stacks=s), st, LOCAL, eps, trace0)
                    c = start_carry(x, before, rank)._replace(kept=jnp.zeros_like(V), eig=eig)
                    c = step(c, i)
                    return c.L, c.kept, c.discarded

                (_, V1, _), pull = jax.vjp(step_at, L0, stacks)
                ga = g1
                if not store:
                    # Solved again, the re-run's kept basis is V1 = V Q (Q unitary on the kept
                    # columns): carry the cotangent over to it (results are invariant under
                    # L -> L Q). With the forward's eigendecomposition V1 is V itself.
                    Q = jnp.matmul(V.conj().T, V1, precision=_HIGHEST)
                    ga = jax.lax.cond(chan, lambda: jnp.matmul(g1, jnp.conj(Q), precision=_HIGHEST),
                                      lambda: g1)
                g0, gst = pull((ga, jnp.zeros_like(V1), g_disc))
                return L0, g0, jax.tree_util.tree_map(jnp.add, gs, gst)

            L, g, g_stacks = jax.lax.fori_loop(0, b - a, body, (L, g, g_stacks))
        g = resize(g, width0)
        return g, tables._replace(code=None, kraus_count=None, channel=None, slack=None, wires=None,
                                  stacks=g_stacks), None, None, None, None

    run.defvjp(run_fwd, run_bwd)
    L, discarded, rank = run(carry.L, schedule.tables, eps, trace0, carry.discarded, carry.rank)
    return carry._replace(L=L, discarded=discarded, rank=rank)


def stores_eig(program: Program, segments, spans, itemsize: int) -> bool:
    """Whether the adjoint forward stores every channel's Gram eigendecomposition: each fits
    (``step.keeps_eig``) and all of them together take at most ``EIG_BYTES`` or one L."""
    if not all(keeps_eig(program, w) for _, _, w in segments):
        return False
    total = sum(max(nc, 1) * kept_rows(program, w) ** 2
                for (_, _, w), (_, nc) in zip(segments, spans, strict=True))
    widest = max(w for _, _, w in segments)
    return total * itemsize <= max(EIG_BYTES, 2**program.local_wires * widest * itemsize)


def reconstruction_bound(discarded_per_channel) -> jax.Array:
    """Frobenius-norm bound on the error of every factor the adjoint sweep reconstructs:
    sum_j sqrt(d_j) over the channels' discarded weights d_j (module docstring)."""
    return jnp.sum(jnp.sqrt(jnp.clip(jnp.asarray(discarded_per_channel), 0.0)))
