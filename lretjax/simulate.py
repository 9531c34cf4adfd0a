"""Evolve a circuit on the low-rank state: gates act as L <- U L, channels stack and truncate.

Two paths share one evolution function:
- traced (inside the caller's jit/grad/vmap): every width is static, min(m * width, max_rank)
  after each channel, so one trace serves every parameter vector;
- eager (concrete inputs): the circuit runs in jitted segments whose width follows the rank
  actually needed (powers of two), so a run that needs rank 20 never pays for max_rank 1024.
  Both keep exactly the same eigen-directions.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .circuit import Circuit, Op
from .errors import CircuitError, ParameterError, SimulationConfigError
from .ops import apply_channel, apply_matrix, truncate
from .resources import check_fits
from .state import LowRankState, as_state, complex_dtype, zero_state

DEFAULT_MAX_RANK = 64
# Channels per eagerly compiled segment: more means fewer host round trips and compilations,
# fewer means the width tracks the rank more closely.
SEGMENT_CHANNELS = 8
# Smallest eager cap: below this a wider segment costs nothing and saves reruns.
_MIN_CAP = 16


def _evolve(state: LowRankState, ops: Sequence[Op], cap: int, epsilon):
    """Apply ops in order, truncating to at most ``cap`` columns after every channel.

    Returns the new state and the largest rank the epsilon rule alone asked for.
    """
    n = state.num_wires
    L, discarded, rank = state.L, state.discarded, state.rank
    wanted = rank
    for op in ops:
        if op.is_channel:
            L = apply_channel(L, op.kraus(), op.wires, n)
            t = truncate(L, cap, epsilon)
            L, discarded, rank = t.L, discarded + t.discarded, t.rank
            wanted = jnp.maximum(wanted, t.wanted)
        else:
            L = apply_matrix(L, op.matrix(), op.wires, n)
    return LowRankState(L, discarded, rank, n), wanted


@functools.partial(jax.jit, static_argnames=("structure", "cap"))
def _run_segment(state: LowRankState, leaves, epsilon, *, structure, cap):
    ops = jax.tree_util.tree_unflatten(structure, leaves).ops
    return _evolve(state, ops, cap, epsilon)


def _next_pow2(k: int) -> int:
    return 1 << max(int(k) - 1, 0).bit_length()


def _segments(circuit: Circuit, per: int) -> list[Circuit]:
    out, cur, chans = [], [], 0
    for op in circuit.ops:
        cur.append(op)
        chans += op.is_channel
        if chans == per:
            out.append(cur)
            cur, chans = [], 0
    if cur:
        out.append(cur)
    return [Circuit(circuit.num_wires, seg) for seg in out]


def _is_traced(tree) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(tree))


def check_settings(max_rank, epsilon) -> None:
    if isinstance(max_rank, bool) or not isinstance(max_rank, (int, np.integer)):
        raise SimulationConfigError(f"max_rank must be a positive integer, got {max_rank!r}")
    if max_rank < 1:
        raise SimulationConfigError(f"max_rank must be at least 1, got {max_rank}")
    if not isinstance(epsilon, jax.core.Tracer):
        e = float(epsilon)
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

    Returns:
      LowRankState whose ``discarded`` bounds the trace distance to the exact result.
    """
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"simulate expects a lretjax.Circuit, got {type(circuit).__name__}")
    check_settings(max_rank, epsilon)
    if params is not None:
        circuit = circuit.bind(params)
    elif circuit.parameters:
        raise ParameterError(
            f"the circuit has unbound parameters {list(circuit.parameters)}; pass params=..."
        )
    n = circuit.num_wires
    state = zero_state(n) if initial_state is None else as_state(initial_state, n)
    max_kraus = max((op.num_kraus for op in circuit.ops), default=1)
    check_fits(n, min(max_rank, 2**n), max_kraus, complex_dtype())

    if _is_traced((circuit, state, epsilon)):
        return _evolve(state, circuit.ops, max_rank, epsilon)[0]
    return _simulate_eager(circuit, state, max_rank, epsilon, progress)


def _simulate_eager(circuit, state, max_rank, epsilon, progress) -> LowRankState:
    total, done = len(circuit.ops), 0
    epsilon = jnp.asarray(epsilon, jnp.finfo(state.L.dtype).dtype)
    for seg in _segments(circuit, SEGMENT_CHANNELS):
        leaves, structure = jax.tree_util.tree_flatten(seg)
        cap = min(max_rank, max(2 * state.width, _MIN_CAP))
        while True:
            out, wanted = _run_segment(state, leaves, epsilon, structure=structure, cap=cap)
            wanted = int(wanted)
            if wanted <= cap or cap >= max_rank:
                break
            # The cap bit harder than epsilon asked: rerun this segment wider.
            cap = min(max_rank, 2 * _next_pow2(wanted))
        width = min(out.width, _next_pow2(max(int(out.rank), 1)))
        state = LowRankState(out.L[:, :width], out.discarded, out.rank, out.num_wires)
        done += len(seg.ops)
        if progress is not None:
            progress(done, total)
    return state
