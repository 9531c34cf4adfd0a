"""Evolve a circuit on the low-rank state: gates act as L <- U L, channels stack and truncate.

Two paths share one evolution function:
- traced (inside the caller's jit/grad/vmap): every width is static, min(m * width, max_rank)
  after each channel, so one trace serves every parameter vector;
- eager (concrete inputs): op by op through small jitted steps whose width follows the rank
  actually kept (powers of two), so a run that needs rank 20 never pays for max_rank 1024.
  Both keep exactly the same eigen-directions.

Reliability (docs/reliability.md): health checks after the ops (``lretjax.health``), optional
renormalisation of round-off drift, and atomic checkpoints of the eager path with ``resume``.
The eager loop is the ``_Run`` class: its ``step`` is the one place that touches L, so a sharded
backend can later supply its own steps (a ``mesh=`` argument) without changing checks or
checkpoints.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from . import health
from .circuit import Circuit, Op, real_value_problem
from .errors import CircuitError, ParameterError, SimulationConfigError
from .health import Checks
from .ops import apply_channel, apply_matrix, channel, channel_truncate, truncate
from .ops.inner import sq_norm
from .ops.truncate import select
from .resources import check_fits
from .state import LowRankState, as_state, complex_dtype, zero_state

DEFAULT_MAX_RANK = 64


def _evolve(state: LowRankState, ops: Sequence[Op], cap: int, epsilon, *, checks: Checks | None = None,
            renormalize: bool = False):
    """Apply ops in order, truncating to at most ``cap`` columns after every channel.

    With ``checks`` every op is followed by a ``checkify`` health check (run the caller through
    ``lretjax.health.checked``). Returns the new state and the largest rank the epsilon rule
    alone asked for.
    """
    n = state.num_wires
    L, discarded, rank = state.L, state.discarded, state.rank
    wanted = rank
    trace0 = sq_norm(L) if (checks or renormalize) else None
    eps = health.eps_of(L.dtype)
    slack = 0.0
    for i, op in enumerate(ops):
        if op.is_channel:
            width = op.num_kraus * L.shape[1]
            t = channel_truncate(L, op.kraus(), op.wires, n, cap, epsilon)
            L, discarded, rank = t.L, discarded + t.discarded, t.rank
            wanted = jnp.maximum(wanted, t.wanted)
        else:
            L = apply_matrix(L, op.matrix(), op.wires, n)
        if checks is not None:
            slack += checks.drift_per_op * eps + health.op_slack(op, L.dtype)
            sq = sq_norm(L)
            health.traced_check(i, op, sq, trace0 - discarded, checks.drift_floor * eps + slack)
            if op.is_channel:
                tol = health.eig_tolerance(checks, width, L.dtype)
                health.traced_channel_check(i, op, t.trace, sq, t.discarded, tol)
        if renormalize and op.is_channel:
            L = _rescale(L, trace0 - discarded)
            slack = 0.0
    return LowRankState(L, discarded, rank, n), wanted


def _rescale(L, target):
    """L scaled so that Tr(L L^dagger) = target (a no-op on an all-zero factor)."""
    sq = sq_norm(L)
    scale = jnp.sqrt(jnp.where(sq > 0, target / jnp.where(sq > 0, sq, 1.0), 1.0))
    return L * scale.astype(L.dtype)


_rescale_step = jax.jit(_rescale)


@functools.partial(jax.jit, static_argnames=("wires", "num_wires"))
def _gate_step(L, u, *, wires, num_wires):
    return apply_matrix(L, u, wires, num_wires)


@functools.partial(jax.jit, static_argnames=("wires", "num_wires"))
def _stack_step(L, kraus, *, wires, num_wires):
    return apply_channel(L, kraus, wires, num_wires)


@functools.partial(jax.jit, static_argnames=("wires", "num_wires"))
def _gram_step(L, kraus, *, wires, num_wires):
    Lw = channel.wires_last(L, wires, num_wires)
    G = channel.channel_gram(Lw, kraus.astype(L.dtype))
    return Lw, G, jnp.real(jnp.trace(G))


@functools.partial(jax.jit, static_argnames=("wires", "num_wires"))
def _factor_step(Lw, kraus, vectors, *, wires, num_wires):
    return channel.wires_back(channel.channel_factor(Lw, kraus, vectors), wires, num_wires)


# The eigensolver is by far the slowest thing to compile; it does not depend on the wires, so
# selection (and truncation of a stacked factor) is compiled once per (width, cap) and shared.
_select_step = jax.jit(select, static_argnames=("k",))
_truncate_step = jax.jit(truncate, static_argnames=("max_rank",))


def _next_pow2(k: int) -> int:
    return 1 << max(int(k) - 1, 0).bit_length()


def _kept_width(cap: int, rank: int) -> int:
    """Eager width after a channel: the next power of two above the rank (only those columns can
    be nonzero), so compiled steps are shared across nearby ranks."""
    return min(cap, _next_pow2(max(rank, 1)))


def _is_traced(tree) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(tree))


def check_settings(max_rank, epsilon) -> None:
    if isinstance(max_rank, bool) or not isinstance(max_rank, (int, np.integer)):
        raise SimulationConfigError(f"max_rank must be a positive integer, got {max_rank!r}")
    if max_rank < 1:
        raise SimulationConfigError(f"max_rank must be at least 1, got {max_rank}")
    if not isinstance(epsilon, jax.core.Tracer):
        try:
            e = float(epsilon)
        except (TypeError, ValueError):
            raise SimulationConfigError(f"epsilon must be a number in [0, 1), got {epsilon!r}") from None
        if not 0.0 <= e < 1.0:
            raise SimulationConfigError(f"epsilon must lie in [0, 1), got {epsilon!r}")


def simulate(
    circuit: Circuit,
    params=None,
    *,
    max_rank: int = DEFAULT_MAX_RANK,
    epsilon: float = 0.0,
    initial_state=None,
    progress: Callable[[int, int], None] | None = None,
    checks: bool | Checks | None = None,
    renormalize: bool = False,
    checkpoint_every: int | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    mesh=None,
) -> LowRankState:
    """Run ``circuit`` on |0...0> (or ``initial_state``) and return the low-rank state.

    Args:
      circuit: the circuit; symbolic parameters are bound from ``params``.
      params: values for ``circuit.parameters`` (vector or dict); may be traced.
      max_rank: static cap on the number of columns of L.
      epsilon: after each channel, drop the smallest eigenvalues whose sum is at most
        epsilon times the trace.
      initial_state: a LowRankState, a state vector or a factor L.
      progress: called as progress(ops_done, ops_total) between eager segments.
      checks: numerical health checks (``lretjax.health``): None = on for concrete inputs, off
        under tracing; True/False; or a ``health.Checks`` with tolerances. A failed check raises
        ``NumericalError`` naming the op. Under tracing they are ``checkify`` checks: wrap the
        caller in ``lretjax.health.checked``.
      renormalize: after every channel, rescale L so that its trace is exactly
        Tr(initial) - discarded (removes round-off drift of the norm; see docs/reliability.md).
      checkpoint_every: with ``checkpoint_dir``, write a checkpoint every this many ops (eager
        path only); ``resume(checkpoint_dir, circuit)`` continues an interrupted run.
      checkpoint_dir: directory of the checkpoints (created if needed).
      mesh: a ``jax.sharding.Mesh`` (``lretjax.distributed.make_mesh``) to shard L's rows over;
        the result is then a ``lretjax.distributed.ShardedState``, which ``expval``,
        ``probabilities``, ``sample`` and ``purity`` accept as they accept a LowRankState.

    Returns:
      LowRankState whose ``discarded`` bounds the trace distance to the exact result.
    """
    if mesh is not None:
        if checkpoint_every is not None or renormalize or checks:
            raise SimulationConfigError(
                "with mesh=, checkpoints are written per segment into checkpoint_dir (no "
                "checkpoint_every), and renormalize/checks are not available"
            )
        from .distributed import simulate_sharded

        return simulate_sharded(circuit, params, mesh=mesh, max_rank=max_rank, epsilon=epsilon,
                                initial_state=initial_state, checkpoint_dir=checkpoint_dir,
                                progress=progress)
    circuit, state = _prepare(circuit, params, max_rank, epsilon, initial_state)
    traced = _is_traced((circuit, state, epsilon))
    checks = health.as_checks(checks, traced)
    if not isinstance(renormalize, bool):
        raise SimulationConfigError(f"renormalize must be True or False, got {renormalize!r}")
    ckpt = _checkpoint_settings(checkpoint_every, checkpoint_dir, traced)
    if traced:
        return _evolve(state, circuit.ops, max_rank, epsilon, checks=checks, renormalize=renormalize)[0]
    run = _Run(circuit, max_rank, float(epsilon), checks, renormalize, progress, ckpt,
               trace0=float(health.sq_norm(state.L)))
    return run.go(0, state.L, state.discarded, int(state.rank), 0.0)


def resume(
    checkpoint_dir: str | os.PathLike,
    circuit: Circuit,
    params=None,
    *,
    progress: Callable[[int, int], None] | None = None,
    checks: bool | Checks | None = None,
    checkpoint_every: int | None = None,
) -> LowRankState:
    """Continue the run checkpointed in ``checkpoint_dir`` from its last good checkpoint.

    ``circuit`` and ``params`` must be those of the interrupted run (checked by fingerprint); the
    settings (max_rank, epsilon, renormalize, checkpoint interval) are read from the checkpoint.
    A checkpoint that fails its checksum (killed mid-write, corrupted) is skipped for the one
    before. The result equals the uninterrupted run's bit for bit on the same device.
    """
    from . import checkpoint as ckpt_io

    directory = os.fspath(checkpoint_dir)
    ck, skipped = ckpt_io.latest(directory)
    if ck is None:
        why = "; ".join(f"{os.path.basename(p)}: {r}" for p, r in skipped) or "no checkpoint files"
        raise SimulationConfigError(f"no usable checkpoint in {directory!r} ({why})")
    meta = ck.meta
    circuit, _ = _prepare(circuit, params, meta["max_rank"], meta["epsilon"], None, allocate=False)
    if ckpt_io.circuit_fingerprint(circuit) != meta["circuit"]:
        raise SimulationConfigError(
            f"checkpoint {ck.path!r} was written for a different circuit or parameters "
            f"({meta['total_ops']} ops on {meta['num_wires']} wires; got {len(circuit.ops)} ops on "
            f"{circuit.num_wires} wires, or the same shape with other values)"
        )
    if ck.L.dtype == np.complex128 and not jax.config.jax_enable_x64:
        raise SimulationConfigError("the checkpoint is complex128: enable jax_enable_x64 to resume it")
    L = jnp.asarray(ck.L)
    every = meta["checkpoint_every"] if checkpoint_every is None else checkpoint_every
    ckpt = _checkpoint_settings(every, directory, False)
    run = _Run(circuit, meta["max_rank"], meta["epsilon"], health.as_checks(checks, False),
               meta["renormalize"], progress, ckpt, trace0=meta["trace0"])
    discarded = jnp.asarray(ck.discarded)
    return run.go(ck.ops_done, L, discarded, int(ck.rank), meta["slack"])


def _prepare(circuit, params, max_rank, epsilon, initial_state, *, allocate: bool = True):
    """Validate everything at the front door; bind parameters; check memory; build the state."""
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"simulate expects a lretjax.Circuit, got {type(circuit).__name__}")
    check_settings(max_rank, epsilon)
    if params is not None:
        _check_param_values(params)
        circuit = circuit.bind(params)
    elif circuit.parameters:
        raise ParameterError(
            f"the circuit has unbound parameters {list(circuit.parameters)}; pass params=..."
        )
    n = circuit.num_wires
    max_kraus = max((op.num_kraus for op in circuit.ops), default=1)
    check_fits(n, min(max_rank, 2**n), max_kraus, complex_dtype())  # before allocating anything
    if not allocate:
        return circuit, None
    state = zero_state(n) if initial_state is None else as_state(initial_state, n)
    return circuit, state


def _check_param_values(params) -> None:
    """Concrete parameter values must be finite numbers (bind does not look at them)."""
    values = params.values() if isinstance(params, dict) else [params]
    for v in values:
        if _is_traced(v):
            continue
        problem = real_value_problem(v, scalar=False)
        if problem:
            raise ParameterError(f"parameter values: {v!r} {problem}")


def _checkpoint_settings(every, directory, traced: bool):
    if every is None and directory is None:
        return None
    if every is None or directory is None:
        raise SimulationConfigError("checkpointing needs both checkpoint_every and checkpoint_dir")
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise SimulationConfigError(f"checkpoint_every must be a positive integer, got {every!r}")
    if traced:
        raise SimulationConfigError(
            "checkpointing needs concrete inputs (the eager path); it cannot run inside jit/grad/vmap"
        )
    return int(every), os.fspath(directory)


class _Run:
    """One eager run: op by op, each op a small jitted step keyed by (wires, width), so compiled
    steps are shared by every circuit on the same wires. After a channel the width shrinks to
    the next power of two above the rank actually kept, so cost follows the rank, not max_rank.

    Health checks run where the loop synchronises anyway (after every channel, which reads the
    rank back), every ``checks.every`` gates and at the end; a failed check replays the window
    since the last good one op by op to name the op that broke it.
    """

    def __init__(self, circuit, max_rank, epsilon, checks, renormalize, progress, ckpt, *, trace0):
        self.circuit, self.ops, self.n = circuit, circuit.ops, circuit.num_wires
        self.max_rank, self.epsilon, self.checks = max_rank, epsilon, checks
        self.renormalize, self.progress, self.ckpt, self.trace0 = renormalize, progress, ckpt, trace0

    def step(self, i, L, rank):
        """Apply op i; return (L, step discarded or None, rank, (Tr G, stacked width) or None)."""
        op, n = self.ops[i], self.n
        if not op.is_channel:
            return _gate_step(L, op.matrix(), wires=op.wires, num_wires=n), None, rank, None
        # Cap at the stacked width (or max_rank): the epsilon rule alone decides the rank.
        width = op.num_kraus * L.shape[1]
        cap = min(self.max_rank, width, L.shape[0])
        eps = jnp.asarray(self.epsilon, jnp.finfo(L.dtype).dtype)
        kraus = jnp.asarray(op.kraus()).astype(L.dtype)
        if channel.stacks_wide(op.num_kraus, L.shape):
            stacked = _stack_step(L, kraus, wires=op.wires, num_wires=n)
            t = _truncate_step(stacked, max_rank=cap, epsilon=eps)
            rank = int(t.rank)
            return t.L[:, : _kept_width(cap, rank)], t.discarded, rank, (health.sq_norm(stacked), width)
        Lw, G, trace = _gram_step(L, kraus, wires=op.wires, num_wires=n)
        sel = _select_step(G, k=cap, epsilon=eps)
        rank = int(sel.rank)
        vectors = sel.vectors[:, : _kept_width(cap, rank)]  # multiply by the kept columns alone
        L = _factor_step(Lw, kraus, vectors, wires=op.wires, num_wires=n)
        return L, sel.discarded, rank, (trace, width)

    def go(self, start, L, discarded, rank, slack) -> LowRankState:
        ops, total, checks = self.ops, len(self.ops), self.checks
        eps = health.eps_of(L.dtype)
        report_every = max(total // 100, 1)
        good = (start, L, discarded, rank, slack)  # last state that passed the checks
        since = 0
        for i in range(start, total):
            op = ops[i]
            L, d_step, rank, chan = self.step(i, L, rank)
            if d_step is not None:
                discarded = discarded + d_step
            slack += (checks.drift_per_op * eps if checks else 0.0) + health.op_slack(op, L.dtype)
            since += 1
            if checks is not None and (op.is_channel or since >= checks.every or i + 1 == total):
                failure = self._check(i, L, discarded, d_step, chan, eps * checks.drift_floor + slack)
                if failure is not None:
                    raise self._locate(good, i, failure)
                since = 0
            if self.renormalize and op.is_channel:
                L, slack = _rescale_step(L, self.trace0 - discarded), 0.0
            if checks is not None and since == 0:
                good = (i + 1, L, discarded, rank, slack)
            if self.ckpt is not None and (i + 1) % self.ckpt[0] == 0 and i + 1 < total:
                self._save(i + 1, L, discarded, rank, slack)
            if self.progress is not None and ((i + 1) % report_every == 0 or i + 1 == total):
                self.progress(i + 1, total)
        return LowRankState(L, discarded, jnp.asarray(rank, jnp.int32), self.n)

    def _check(self, i, L, discarded, d_step, chan, budget):
        sq = float(health.sq_norm(L))
        failure = health.check_state(sq, self.trace0 - float(discarded), budget)
        if failure is None and chan is not None:
            trace, width = chan
            tol = health.eig_tolerance(self.checks, width, L.dtype)
            failure = health.check_channel(float(trace), sq, float(d_step), tol)
        return failure

    def _locate(self, good, last, failure):
        """Replay ops good[0]..last one at a time from the last good state; name the first to fail."""
        j, L, discarded, rank, slack = good
        eps = health.eps_of(L.dtype)
        for i in range(j, last + 1):
            op, before = self.ops[i], L
            L, d_step, rank, chan = self.step(i, L, rank)
            if d_step is not None:
                discarded = discarded + d_step
            slack += self.checks.drift_per_op * eps + health.op_slack(op, L.dtype)
            found = self._check(i, L, discarded, d_step, chan, eps * self.checks.drift_floor + slack)
            if found is not None:
                if chan is not None and "negative eigenvalues" in found.what:
                    stacked = _stack_step(before, jnp.asarray(op.kraus()).astype(L.dtype),
                                          wires=op.wires, num_wires=self.n)
                    lam = health.min_gram_eigenvalue(stacked)
                    found.what += f"; the most negative eigenvalue was {lam:.3g}"
                return found.error(i, op)
        return health.Failure(f"{failure.what} (seen between ops {j} and {last})").error(last, self.ops[last])

    def _save(self, ops_done, L, discarded, rank, slack):
        from . import checkpoint as ckpt_io

        every, directory = self.ckpt
        meta = {
            "ops_done": ops_done, "total_ops": len(self.ops), "num_wires": self.n,
            "circuit": ckpt_io.circuit_fingerprint(self.circuit),
            "max_rank": int(self.max_rank), "epsilon": self.epsilon, "renormalize": self.renormalize,
            "checkpoint_every": every, "trace0": self.trace0, "slack": slack,
            "dtype": str(L.dtype), "lretjax": _version(), "jax": jax.__version__,
            "backend": jax.default_backend(),
        }
        ckpt_io.save(directory, L, discarded, np.int32(rank), meta)


def _version() -> str:
    from . import __version__

    return __version__
