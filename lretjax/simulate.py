"""Evolve a circuit on the low-rank state: gates act as L <- U L, channels stack and truncate.

``simulate`` validates at the front door, turns the circuit into a schedule (``lretjax.engine``:
the circuit as data) and runs the engine's one loop:

- traced (inside the caller's jit/grad/vmap): widths from the rank's upper bound,
  min(m * width, max_rank) after each channel in powers of two, so one trace serves every
  parameter vector and the compiled program grows with the circuit's distinct op shapes, not its
  length;
- eager (concrete inputs): widths from the rank actually kept, read back at segment ends only,
  so a run that needs rank 20 never pays for max_rank 1024 and no channel waits on the host.

Both keep the same eigen-directions. Health checks, renormalisation, checkpoints with ``resume``,
progress and the per-channel record (``record=True``) ride on the same loop
(docs/engine.md, docs/reliability.md).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from . import health
from .circuit import Circuit, real_value_problem
from .engine import LOCAL, ONE_DEVICE, Carry, Schedule, Settings, build, drive, evolve, start_carry
from .engine.adjoint import adjoint_evolve
from .engine.commute import commuted
from .engine.dense import continue_dense, prefer_dense
from .engine.loop import HealthFailure, replay
from .engine.schedule import default_wires, factor_entries
from .engine.step import CHANNEL_CHECK, WHY, check_settings
from .errors import CircuitError, ClassicalError, ParameterError, ResourceError, SimulationConfigError
from .health import Checks
from .ops.inner import sq_norm
from .resources import MAX_CHUNKS, available_bytes, check_fits, fits_dense, plan_chunks
from .state import History, LowRankState, as_state, zero_state

DEFAULT_MAX_RANK = 64
REPRESENTATIONS = ("auto", "low-rank", "dense")

# Eager segments end at least this often (in steps), where L may narrow to a smaller rank. Fixed,
# so progress reports and checkpoints never change the widths (and results stay bit-identical).
NARROW_EVERY = 256


def _is_traced(tree) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(tree))


def simulate(
    circuit: Circuit,
    params=None,
    *,
    max_rank: int = DEFAULT_MAX_RANK,
    epsilon: float = 0.0,
    tolerance: float | None = None,
    initial_state=None,
    progress: Callable[[int, int], None] | None = None,
    checks: bool | Checks | None = None,
    renormalize: bool = False,
    checkpoint_every: int | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    record: bool = False,
    remat: bool = False,
    adjoint: bool = False,
    representation: str = "auto",
    mesh=None,
) -> LowRankState:
    """Run ``circuit`` on |0...0> (or ``initial_state``) and return the low-rank state.

    Args:
      circuit: the circuit; symbolic parameters are bound from ``params``.
      params: values for ``circuit.parameters`` (vector or dict); may be traced.
      max_rank: static cap on the number of columns of L.
      epsilon: after each channel, drop the smallest eigenvalues whose sum is at most
        epsilon times the trace.
      tolerance: instead of ``epsilon``, a bound on the final state's discarded weight, hence
        on its trace distance to the exact state: each channel may drop what is left of the
        budget divided by the channels still to come (what one channel does not spend, later
        ones may). Holds whenever ``max_rank`` does not force more (nor, in complex64 at ranks in
        the hundreds, round-off: eigenvalues under 1.2e-6 of the largest are dropped whatever
        the budget, and paid from it); a run that drops more warns. The result's ``discarded``
        says what was spent.
      initial_state: a LowRankState, a state vector or a factor L.
      progress: called as progress(ops_done, ops_total) about a hundred times in a run.
      checks: numerical health checks (``lretjax.health``): None = on for concrete inputs, off
        under tracing; True/False; or a ``health.Checks`` with tolerances. A failed check raises
        ``NumericalError`` naming the op. Under tracing they are ``checkify`` checks: wrap the
        caller in ``lretjax.health.checked``.
      renormalize: after every channel, rescale L so that its trace is exactly
        Tr(initial) - discarded (removes round-off drift of the norm; see docs/reliability.md).
      checkpoint_every: with ``checkpoint_dir``, write a checkpoint every this many ops (eager
        path only), at the first step at or after each multiple (a step may run a run of gates
        and the channel they fold into); ``resume(checkpoint_dir, circuit)`` continues an
        interrupted run.
      checkpoint_dir: directory of the checkpoints (created if needed).
      record: keep the rank and discarded weight after every channel in ``state.history``.
      remat: under ``jax.grad`` (traced path), recompute the loop's steps in about sqrt(steps)
        chunks in the backward pass instead of storing every step's factors: memory of
        O(sqrt(ops)) states for one more forward evaluation.
      adjoint: under ``jax.grad`` (traced path), the adjoint sweep: the backward pass undoes each
        step instead of storing its input (memory of one factor plus each channel's small kept
        basis, whatever the depth). Exact when nothing is truncated; otherwise every factor it
        reconstructs is within sum_j sqrt(d_j) of the forward's (``lretjax.engine.adjoint``).
      representation: ``"auto"`` continues with the dense density matrix (exact: nothing more
        is truncated; ``state.L`` is then None and ``state.rho`` holds it) once that is
        noticeably cheaper than the low-rank factor at its current width and rho fits in memory
        (``lretjax.engine.dense``); ``"low-rank"`` never does; ``"dense"`` runs dense from the
        start. The state says which (``state.representation``). Dense runs need one device;
        under tracing, and with ``record``, ``renormalize``, ``remat`` or checkpoints, "auto"
        stays low-rank.
      mesh: a ``jax.sharding.Mesh`` (``lretjax.distributed.make_mesh``) to shard L's rows over;
        the state's ``layout`` then says where L lives, and every reader accepts it.

    Returns:
      LowRankState whose ``discarded`` bounds the trace distance to the exact result.
    """
    if isinstance(circuit, Circuit) and circuit.is_dynamic:
        raise ClassicalError("the circuit measures into classical bits or conditions ops on them: "
                             "run it with lretjax.classical.run, which lowers it and reads the bits")
    if mesh is not None:
        if checkpoint_every is not None or renormalize or checks or record:
            raise SimulationConfigError(
                "with mesh=, checkpoints are written per segment into checkpoint_dir (no "
                "checkpoint_every), and renormalize/checks/record are not available"
            )
        from .distributed import simulate_sharded

        return simulate_sharded(circuit, params, mesh=mesh, max_rank=max_rank, epsilon=epsilon,
                                initial_state=initial_state, checkpoint_dir=checkpoint_dir,
                                progress=progress)
    check_settings(max_rank, epsilon, tolerance)
    circuit, state = _prepare(circuit, params, max_rank, epsilon, initial_state,
                              symbolic=representation != "dense", dense=representation != "low-rank")
    values = params if circuit.parameters else None
    traced = _is_traced((circuit, state, epsilon, values))
    checks = health.as_checks(checks, traced)
    if not isinstance(renormalize, bool):
        raise SimulationConfigError(f"renormalize must be True or False, got {renormalize!r}")
    ckpt = _checkpoint_settings(checkpoint_every, checkpoint_dir, traced)
    if representation not in REPRESENTATIONS:
        raise SimulationConfigError(
            f"representation must be one of {REPRESENTATIONS}, got {representation!r}")
    if remat and adjoint:
        raise SimulationConfigError("choose remat or adjoint, not both")
    if representation == "dense" and (record or renormalize or remat or adjoint or ckpt):
        raise SimulationConfigError("representation='dense' does not record, renormalize, rematerialise "
                                    "or checkpoint; use the low-rank representation for those")
    dense = representation == "dense" or (representation == "auto" and not (record or renormalize or remat
                                                                             or adjoint or ckpt))
    max_kraus = max((op.num_kraus for op in circuit.ops), default=1)
    # An eager run whose channel step would not fit whole forms it over row blocks of L, on
    # static wires (the blocks are cut along wires the channel does not touch).
    chunks = 1 if traced else plan_chunks(circuit.num_wires, min(max_rank, 2**circuit.num_wires), max_kraus,
                                          state.L.dtype)
    wires = "static" if chunks > 1 else default_wires(factor_entries(circuit.num_wires, max_rank))
    # A traced low-rank run without a record moves depolarizing channels to where they merge
    # (``engine.commute``); its steps need not cover contiguous ranges of ops.
    order = commuted(circuit) if traced and not record and representation != "dense" else None
    schedule = build(circuit, order, dtype=state.L.dtype, params=values, wires=wires)
    settings = Settings(int(max_rank), 0, checks=checks, check_all=traced, renormalize=renormalize,
                        record=bool(record), remat=bool(remat),
                        tolerance=max(schedule.num_channels, 1) if tolerance is not None else 0,
                        chunks=chunks, orthogonal=state.L.shape[-1] == 1)
    carry = start_carry(state.L, state.discarded, state.rank,
                        channels=schedule.num_channels if record else 0)
    real = jnp.finfo(state.L.dtype).dtype
    eps = jnp.asarray(epsilon if tolerance is None else tolerance, real)
    if traced:
        trace0 = sq_norm(state.L)
        # Under tracing the representation must be fixed before any number is known: "auto"
        # stays low-rank (a dense backward pass would store 4^n entries per op).
        split = 0 if representation == "dense" else None
        if adjoint and split is None:
            carry = adjoint_evolve(schedule, carry, eps, trace0, settings)
        else:
            carry = evolve(schedule, carry, eps, trace0, settings, LOCAL, stop=split)
        if checks is not None:
            _traced_failure(carry, schedule)
        if split is not None:
            return _dense_result(circuit, schedule, carry, split, eps, trace0, traced=True)
        return _result(carry, schedule, circuit.num_wires)
    run = _Eager(circuit, schedule, settings, float(epsilon if tolerance is None else tolerance), progress,
                 ckpt, trace0=_trace_of(state.L), dense=representation if dense else None)
    result = run.go(carry, 0)
    if tolerance is not None:
        _warn_over_tolerance(result, float(tolerance), run.trace0)
    return result


def _warn_over_tolerance(state: LowRankState, tolerance: float, trace0: float) -> None:
    """A warning when a run dropped more than its ``tolerance``: the rank cap forced more, or, in
    complex64, what fell under the eigensolver's round-off floor (1.2e-6 of the largest
    eigenvalue, dropped whatever the budget) added up past it. ``discarded`` still bounds the
    trace distance; the promise of ``tolerance`` did not hold."""
    spent = float(state.discarded)
    if spent > tolerance * trace0 * (1 + 1e-6):
        warnings.warn(f"discarded weight {spent:.3g} exceeds tolerance={tolerance:g}: the rank cap or "
                      f"{state.dtype} round-off forced more (state.discarded still bounds the trace "
                      "distance; raise max_rank, or use complex128 for tolerances near 1e-3 at high rank)",
                      RuntimeWarning, stacklevel=3)


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
    schedule = build(circuit, dtype=L.dtype)
    if ck.ops_done < len(circuit.ops) and ck.ops_done not in set(schedule.op_index.tolist()):
        # written mid-step of this schedule (by a version that ran one step per op): resume so
        schedule = build(circuit, dtype=L.dtype, fold=False, fuse=False)
    settings = Settings(int(meta["max_rank"]), 0, checks=health.as_checks(checks, False),
                        renormalize=meta["renormalize"], tolerance=int(meta.get("tolerance_channels", 0)),
                        orthogonal=bool(meta.get("orthogonal", False)))
    run = _Eager(circuit, schedule, settings, meta["epsilon"], progress, ckpt, trace0=meta["trace0"])
    carry = start_carry(L, jnp.asarray(ck.discarded), int(ck.rank), slack=meta["slack"])
    return run.go(carry, ck.ops_done)


def _prepare(circuit, params, max_rank, epsilon, initial_state, *, allocate: bool = True,
             symbolic: bool = False, dense: bool = False):
    """Validate everything at the front door; bind parameters; check memory; build the state.

    ``symbolic``: a traced parameter vector is checked but not bound; the schedule then reads
    every symbol from it in one gather per gate name (``engine.build(params=...)``), instead of a
    traced slice per op."""
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"simulate expects a lretjax.Circuit, got {type(circuit).__name__}")
    check_settings(max_rank, epsilon)
    if params is not None and symbolic and _is_traced(params) and not isinstance(params, dict):
        circuit.check_vector(params)
    elif params is not None:
        _check_param_values(params)
        circuit = circuit.bind(params)
    else:
        circuit.check_bound()
    n = circuit.num_wires
    max_kraus = max((op.num_kraus for op in circuit.ops), default=1)
    try:  # before allocating anything
        # Eager runs may split the channel step into row blocks; traced ones do not.
        chunked = not _is_traced((params, initial_state, epsilon))
        check_fits(n, min(max_rank, 2**n), max_kraus, jnp.result_type(complex),
                   max_chunks=MAX_CHUNKS if chunked else 1)
    except ResourceError:
        # A run that may go on with rho needs no more than rho does: it leaves L before L would
        # outgrow the memory (``_Eager._leave``).
        if not (dense and fits_dense(n, jnp.result_type(complex))):
            raise
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


def _trace_of(L) -> float:
    """Tr(L L^dagger) of a concrete factor (on the host when small: nothing to compile)."""
    if L.size <= 2**16:
        return float(np.sum(np.abs(np.asarray(L, np.complex128)) ** 2))
    return float(sq_norm(L))


def _dense_result(circuit, schedule, carry, step, eps, trace0, *, traced: bool) -> LowRankState:
    rho, discarded = continue_dense(circuit, schedule, carry, step, eps, trace0, traced=traced)
    n = circuit.num_wires
    return LowRankState(None, discarded, jnp.asarray(2**n, jnp.int32), n, rho=rho)


def _result(carry: Carry, schedule: Schedule, num_wires: int) -> LowRankState:
    history = None
    if carry.history[0].shape[0]:
        ops = schedule.last_op[schedule.is_channel]
        history = History(jnp.asarray(ops, jnp.int32), carry.history[0], carry.history[1])
    return LowRankState(carry.L, carry.discarded, carry.rank, num_wires, history=history)


def _traced_failure(carry: Carry, schedule: Schedule) -> None:
    """A ``checkify`` check naming the first op whose health check failed (for ``checked``).

    Messages are static strings, so the op's description is chosen by a switch over the steps:
    one small branch per op, built only when checks run under tracing."""
    from jax.experimental import checkify

    def report(i: int):
        index = int(schedule.last_op[i])
        where = f"numerical health check failed after {health.describe(index, schedule.ops[index])}: "

        def fail(why):
            checkify.check(
                why[0] != CHANNEL_CHECK,
                where + "the Gram matrix had negative eigenvalues of total weight {neg} (Tr G = {tr})",
                neg=why[WHY.index("negative")], tr=why[WHY.index("trace")],
            )
            checkify.check(
                why[0] == CHANNEL_CHECK,
                where + "Tr rho = {sq} but 1 - discarded = {expected} (tolerance {budget})",
                sq=why[WHY.index("sq")], expected=why[WHY.index("expected")],
                budget=why[WHY.index("budget")],
            )

        return fail

    def passed(why):
        return None

    index = jnp.where(carry.fail >= 0, carry.fail + 1, 0)
    jax.lax.switch(index, [passed] + [report(i) for i in range(schedule.num_steps)], carry.why)


class _Eager:
    """One eager run on the engine's ``drive``: progress, checkpoints and the health checks'
    replay (naming the op that broke a check) hang on its segment boundaries."""

    def __init__(self, circuit, schedule, settings, epsilon, progress, ckpt, *, trace0, dense=None):
        self.circuit, self.schedule, self.settings = circuit, schedule, settings
        self.epsilon, self.progress, self.ckpt, self.trace0 = epsilon, progress, ckpt, trace0
        self.dense = dense  # None, "auto" or "dense"

    def _ops_done(self, step: int) -> int:
        """Ops of the circuit done before ``step`` (a step may run several: ``engine.build``)."""
        sch = self.schedule
        return int(sch.op_index[step]) if step < sch.num_steps else len(self.circuit.ops)

    def go(self, carry: Carry, ops_done: int) -> LowRankState:
        total = self.schedule.num_steps
        # the step that begins at op ``ops_done`` (``resume`` builds a schedule that has one)
        start = int(np.searchsorted(self.schedule.op_index, ops_done))
        bounds: set[int] = set()
        if self.progress is not None:
            every = max(total // 100, 1)
            bounds |= set(range(every, total, every))
        if self.ckpt is not None:  # the first step at or after every multiple of checkpoint_every ops
            firsts = self.schedule.op_index
            marks = np.searchsorted(firsts, np.arange(self.ckpt[0], len(self.circuit.ops), self.ckpt[0]))
            self._ckpt_steps = {int(m) for m in marks if 0 < m < total}
            bounds |= self._ckpt_steps
        real = jnp.finfo(carry.L.dtype).dtype
        eps, trace0 = jnp.asarray(self.epsilon, real), jnp.asarray(self.trace0, real)
        try:
            carry = drive(self.schedule, carry, eps, trace0, self.settings, ONE_DEVICE, start=start,
                          boundaries=sorted(bounds), narrow_every=NARROW_EVERY,
                          on_boundary=self._boundary, leave=self._leave if self.dense else None)
        except HealthFailure as e:
            raise self._named(e.failure, eps, trace0) from None
        step = int(carry.halt)
        if step >= 0:  # the rest is cheaper on rho
            state = _dense_result(self.circuit, self.schedule, carry, step, eps, trace0, traced=False)
            if self.settings.checks is not None:
                self._check_dense(state)
        else:
            state = _result(carry, self.schedule, self.circuit.num_wires)
        if self.progress is not None and start < total:
            self.progress(len(self.circuit.ops), len(self.circuit.ops))
        return state

    def _leave(self, step: int, width: int) -> bool:
        """Whether to go on with rho from ``step``, L being about to be ``width`` wide: when rho is
        cheaper, or L that wide would not fit in memory where rho does."""
        if self.dense == "dense":
            return True
        n = self.circuit.num_wires
        stacks = self.schedule.tables.stacks
        dtype = stacks[0].dtype if stacks else jnp.result_type(complex)
        max_kraus = int(max(self.schedule.kraus_count.max(initial=1), 1))
        try:
            check_fits(n, width, max_kraus, dtype, max_chunks=self.settings.chunks)
        except ResourceError:
            return fits_dense(n, dtype)
        return prefer_dense(self.schedule, step, width, dtype, available_bytes())

    def _check_dense(self, state: LowRankState) -> None:
        """The dense part's health check: rho finite, its trace Tr(rho_0) - discarded."""
        tr = float(state.trace())
        expected = self.trace0 - float(state.discarded)
        eps = health.eps_of(state.dtype)
        checks = self.settings.checks
        budget = eps * (checks.drift_floor + checks.drift_per_op * len(self.circuit.ops))
        failure = health.check_state(tr, expected, budget)
        if failure is not None:
            last = len(self.circuit.ops) - 1
            raise failure.error(last, self.circuit.ops[last])

    def _boundary(self, i: int, carry: Carry) -> None:
        if self.ckpt is not None and i in self._ckpt_steps:
            self._save(self._ops_done(i), carry)
        if self.progress is not None and i < self.schedule.num_steps:
            self.progress(self._ops_done(i), len(self.circuit.ops))

    def _named(self, failure, eps, trace0):
        """The NumericalError naming the first op that fails its check when rerun op by op."""
        ops, op_index = self.schedule.ops, self.schedule.last_op
        found = replay(self.schedule, failure, eps, trace0, self.settings, ONE_DEVICE)
        if found is None:
            last = int(op_index[failure.step])
            what = health.failure_from(failure.why).what
            first = int(self.schedule.op_index[min(failure.good_step, len(op_index) - 1)])
            return health.Failure(f"{what} (seen between ops {first} and {last})").error(last, ops[last])
        step, why, before = found
        i = int(op_index[step])
        failure_ = health.failure_from(why)
        op = ops[i]
        if why[0] == CHANNEL_CHECK and "negative eigenvalues" in failure_.what:
            from .ops import apply_channel, apply_matrix

            L = before.L
            for gate in ops[int(self.schedule.op_index[step]):i]:  # gates folded into this channel
                L = apply_matrix(L, jnp.asarray(gate.matrix()).astype(L.dtype), gate.wires,
                                 self.circuit.num_wires)
            kraus = jnp.asarray(op.kraus()).astype(L.dtype)
            stacked = apply_channel(L, kraus, op.wires, self.circuit.num_wires)
            failure_.what += f"; the most negative eigenvalue was {health.min_gram_eigenvalue(stacked):.3g}"
        return failure_.error(i, op)

    def _save(self, ops_done: int, carry: Carry) -> None:
        from . import checkpoint as ckpt_io
        from ._version import __version__

        every, directory = self.ckpt
        L = carry.L
        meta = {
            "ops_done": ops_done, "total_ops": len(self.circuit.ops),
            "num_wires": self.circuit.num_wires,
            "circuit": ckpt_io.circuit_fingerprint(self.circuit),
            "max_rank": int(self.settings.max_rank), "epsilon": self.epsilon,
            "renormalize": self.settings.renormalize, "checkpoint_every": every,
            "tolerance_channels": self.settings.tolerance,
            # whether L's columns are orthogonal (``Settings.orthogonal``): a resumed run then
            # forms the same Gram blocks, so it equals the uninterrupted one bit for bit
            "orthogonal": self.settings.orthogonal,
            "trace0": self.trace0, "slack": float(carry.slack),
            "dtype": str(L.dtype), "lretjax": __version__, "jax": jax.__version__,
            "backend": jax.default_backend(),
        }
        ckpt_io.save(directory, L, carry.discarded, np.int32(carry.rank), meta)
