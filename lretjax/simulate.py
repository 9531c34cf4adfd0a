"""Evolve a circuit on the low-rank state: gates act as L <- U L, channels stack and truncate.

Two paths share one evolution function:
- traced (inside the caller's jit/grad/vmap): every width is static, min(m * width, max_rank)
  after each channel, so one trace serves every parameter vector;
- eager (concrete inputs): op by op through small jitted steps whose width follows the rank
  actually kept (powers of two), so a run that needs rank 20 never pays for max_rank 1024.
  Both keep exactly the same eigen-directions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .circuit import Circuit, Op
from .errors import CircuitError, ParameterError, SimulationConfigError
from .ops import apply_channel, apply_matrix, truncate
from .resources import check_fits
from .state import LowRankState, as_state, complex_dtype, zero_state

DEFAULT_MAX_RANK = 64


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


@functools.partial(jax.jit, static_argnames=("wires", "num_wires"))
def _gate_step(L, u, *, wires, num_wires):
    return apply_matrix(L, u, wires, num_wires)


@functools.partial(jax.jit, static_argnames=("wires", "num_wires"))
def _stack_step(L, kraus, *, wires, num_wires):
    return apply_channel(L, kraus, wires, num_wires)


# Truncation holds the eigensolver, by far the slowest thing to compile; it does not depend on
# the wires, so it is compiled once per (width, cap) and shared by every channel.
_truncate_step = jax.jit(truncate, static_argnames=("max_rank",))


def _next_pow2(k: int) -> int:
    return 1 << max(int(k) - 1, 0).bit_length()


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
    max_kraus = max((op.num_kraus for op in circuit.ops), default=1)
    check_fits(n, min(max_rank, 2**n), max_kraus, complex_dtype())  # before allocating anything
    state = zero_state(n) if initial_state is None else as_state(initial_state, n)

    if _is_traced((circuit, state, epsilon)):
        return _evolve(state, circuit.ops, max_rank, epsilon)[0]
    return _simulate_eager(circuit, state, max_rank, epsilon, progress)


def _simulate_eager(circuit, state, max_rank, epsilon, progress) -> LowRankState:
    """Op by op, each op a small jitted step keyed by (wires, width): the compiled steps are
    shared by every circuit on the same wires. After a channel the width shrinks to the next
    power of two above the rank actually kept, so cost follows the rank, not max_rank."""
    n, total = circuit.num_wires, len(circuit.ops)
    L, discarded, rank = state.L, state.discarded, state.rank
    epsilon = jnp.asarray(epsilon, jnp.finfo(L.dtype).dtype)
    report_every = max(total // 100, 1)
    for i, op in enumerate(circuit.ops):
        if op.is_channel:
            # Cap at the stacked width (or max_rank): the epsilon rule alone decides the rank.
            cap = min(max_rank, op.num_kraus * L.shape[1])
            stacked = _stack_step(L, op.kraus(), wires=op.wires, num_wires=n)
            t = _truncate_step(stacked, max_rank=cap, epsilon=epsilon)
            rank = int(t.rank)
            L = t.L[:, : min(cap, _next_pow2(max(rank, 1)))]
            discarded = discarded + t.discarded
        else:
            L = _gate_step(L, op.matrix(), wires=op.wires, num_wires=n)
        if progress is not None and ((i + 1) % report_every == 0 or i + 1 == total):
            progress(i + 1, total)
    return LowRankState(L, discarded, jnp.asarray(rank, jnp.int32), n)
