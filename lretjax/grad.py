"""Gradients of noisy expectation values: backprop, or parameter-shift as a ``jax.custom_vjp``.

``expval_fn(circuit, observable, diff_method=...)`` returns a jitted ``f(params) -> <O>`` whose
value is the same for every method and whose gradient is computed

- ``"backprop"``: by JAX reverse mode through the simulation, truncation included (the Gram
  eigendecomposition uses ``lretjax.ops.eigh.safe_eigh``, finite at degenerate eigenvalues).
  ``checkpoint=True`` recomputes the forward pass by segments during the backward sweep, trading
  one extra forward evaluation for memory O(sqrt(ops)) states instead of O(ops);
- ``"parameter-shift"``: from the shift rule of every parameterised gate; all shifted circuits
  run vmapped in one jitted call (in batches bounded by ``SHIFT_BATCH_BYTES``). Exact for noisy
  circuits (the channels do not depend on the parameters), including truncation as long as the
  truncation is exact (rank not capped).

- ``"adjoint"``: by a backward sweep that undoes each step (U^dagger for a gate; for a channel,
  the stacked Kraus copies are an isometry undone by sum_j K_j^dagger, as far as the kept
  directions carry them) instead of storing it: memory of one factor plus each channel's kept
  basis, whatever the depth. Exact when nothing is truncated; truncated, every factor it
  reconstructs is within sum_j sqrt(d_j) (the channels' discarded weights) of the forward's
  (``lretjax.engine.adjoint``; docs/gradients.md).

    >>> f = expval_fn(circuit, "Z0 Z1", diff_method="parameter-shift")
    >>> jax.grad(f)(params)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .circuit import GATE, Circuit, Op, Param
from .errors import CircuitError, ParameterError, SimulationConfigError
from .gates import GENERATOR_SPECTRA
from .measure import expval
from .observables import as_observable
from .simulate import DEFAULT_MAX_RANK, check_settings, simulate

DIFF_METHODS = ("backprop", "parameter-shift", "adjoint")

# Memory allowed for one batch of shifted circuits (a rough upper estimate: XLA keeps about one
# factor per op alive per circuit of a vmapped batch: 1.8 GB for 128 circuits of 166 ops on 10
# wires, where one forward pass needs 1.5 MB). Larger sets run as a loop over batches.
SHIFT_BATCH_BYTES = 2**31


def shift_batch_size(num_circuits: int, num_ops: int, num_wires: int, max_rank: int) -> int:
    """How many shifted circuits to evaluate in one vmapped batch (all of them if they fit)."""
    per_circuit = max(num_ops, 1) * 2**num_wires * min(max_rank, 2**num_wires) * 16
    return int(max(1, min(num_circuits, SHIFT_BATCH_BYTES // per_circuit)))


@dataclass(frozen=True)
class ShiftRule:
    """df/dt = sum_i coeffs[i] * f(t + shifts[i]) for every f with the rule's frequencies."""

    shifts: tuple[float, ...]
    coeffs: tuple[float, ...]


def frequencies(eigenvalues: Sequence[float], decimals: int = 10) -> tuple[float, ...]:
    """Distinct positive differences of a generator's eigenvalues, ascending."""
    ev = np.unique(np.round(np.asarray(eigenvalues, dtype=float), decimals))
    diffs = np.round(np.abs(ev[:, None] - ev[None, :]).ravel(), decimals)
    return tuple(float(d) for d in np.unique(diffs[diffs > 0]))


def shift_rule(eigenvalues: Sequence[float]) -> ShiftRule:
    """The parameter-shift rule of U(t) = exp(-i t G) from the eigenvalues of G.

    <O>(t) is a trigonometric polynomial sum_l a_l cos(w_l t) + b_l sin(w_l t) over the
    frequencies w_l (eigenvalue differences), so f'(t) = sum_mu y_mu [f(t + x_mu) - f(t - x_mu)]
    with one symmetric pair per frequency. When the frequencies are multiples of a base w
    (every built-in gate), the full set w, 2w, ..., R w is used with the shifts
    x_mu = (2 mu - 1) pi / (2 R w) of Wierichs et al., Quantum 6, 677 (2022): this gives
    [f(t + pi/2) - f(t - pi/2)] / 2 for Pauli rotations and the four-term rule (shifts pi/2,
    3 pi/2) for controlled rotations. Otherwise the shifts are spread over (0, pi / w_max].
    """
    freqs = np.asarray(frequencies(eigenvalues))
    if freqs.size == 0:
        return ShiftRule((), ())
    base = freqs[0]
    ratio = freqs / base
    if np.allclose(ratio, np.round(ratio), atol=1e-9) and ratio[-1] <= 64:
        r = int(round(ratio[-1]))
        freqs = base * np.arange(1, r + 1)
        x = (2 * np.arange(1, r + 1) - 1) * np.pi / (2 * r * base)
    else:
        r = freqs.size
        x = np.arange(1, r + 1) * np.pi / (r * freqs[-1] + freqs[0])
    # Odd part of f: f(x) - f(-x) = 2 sum_l b_l sin(w_l x); f'(0) = sum_l b_l w_l.
    a = 2 * np.sin(np.outer(freqs, x))
    if np.linalg.cond(a) > 1e8:
        raise ParameterError(f"no well-conditioned shift rule for generator eigenvalues {list(eigenvalues)}")
    y = np.linalg.solve(a, freqs)
    shifts = tuple(float(s) for pair in zip(x, -x, strict=True) for s in pair)
    coeffs = tuple(float(c) for pair in zip(y, -y, strict=True) for c in pair)
    return ShiftRule(shifts, coeffs)


def gate_rules(name: str, shift_rules: Mapping | None = None) -> tuple[ShiftRule, ...]:
    """One ShiftRule per parameter of a gate, from ``shift_rules`` (user) or the built-in spectra.

    ``shift_rules`` maps a gate name to one entry per parameter: a ShiftRule, or the eigenvalues
    of that parameter's generator.
    """
    spectra = (shift_rules or {}).get(name, GENERATOR_SPECTRA.get(name))
    if spectra is None:
        raise ParameterError(
            f"gate {name!r} has a symbolic parameter but no parameter-shift rule; use "
            "diff_method='backprop', or declare its generator eigenvalues with "
            f"shift_rules={{{name!r}: [eigenvalues per parameter]}}"
        )
    return tuple(s if isinstance(s, ShiftRule) else shift_rule(s) for s in spectra)


@dataclass(frozen=True)
class _ShiftPlan:
    """Static tables of a parameter-shift gradient, built once in NumPy.

    slot_circuit has one symbol per parameter slot; theta = params[index] * coeff + offset gives
    the slot values; the shifted evaluations are theta + offsets[row]; grad = weights @ values.
    """

    slot_circuit: Circuit
    index: np.ndarray  # (S,) parameter index of each slot
    coeff: np.ndarray  # (S,)
    offset: np.ndarray  # (S,)
    offsets: np.ndarray  # (R, S)
    weights: np.ndarray  # (P, R)


def _shift_plan(circuit: Circuit, shift_rules: Mapping | None) -> _ShiftPlan:
    names = circuit.parameters
    position = {n: i for i, n in enumerate(names)}
    ops, index, coeff, offset, rows, weights = [], [], [], [], [], []
    slot = 0
    for op in circuit.ops:
        params = list(op.params)
        symbolic = [i for i, p in enumerate(params) if isinstance(p, Param)]
        if symbolic:
            if op.kind != GATE:
                raise CircuitError(f"{op!r}: only named gates take symbolic parameters")
            rules = gate_rules(op.name, shift_rules)
            if len(rules) != len(params):
                raise ParameterError(
                    f"shift_rules[{op.name!r}] has {len(rules)} entries, the gate takes {len(params)}"
                )
            for i in symbolic:
                p = params[i]
                params[i] = Param(f"slot{slot}")
                index.append(position[p.name])
                coeff.append(p.coeff)
                offset.append(p.offset)
                for s, c in zip(rules[i].shifts, rules[i].coeffs, strict=True):
                    rows.append((slot, s))
                    weights.append((position[p.name], p.coeff * c))
                slot += 1
            op = Op(op.name, op.wires, tuple(params), op.kind)
        ops.append(op)
    num_slots, num_rows = slot, len(rows)
    offsets = np.zeros((num_rows, num_slots))
    w = np.zeros((len(names), num_rows))
    for r, ((s, shift), (pi, c)) in enumerate(zip(rows, weights, strict=True)):
        offsets[r, s] = shift
        w[pi, r] = c
    return _ShiftPlan(
        Circuit(circuit.num_wires, ops),
        np.asarray(index, dtype=int),
        np.asarray(coeff, dtype=float),
        np.asarray(offset, dtype=float),
        offsets,
        w,
    )


def expval_fn(
    circuit: Circuit,
    observable,
    *,
    diff_method: str = "backprop",
    max_rank: int = DEFAULT_MAX_RANK,
    epsilon: float = 0.0,
    tolerance: float | None = None,
    noise: Callable[[Circuit], Circuit] | None = None,
    shift_rules: Mapping | None = None,
    checkpoint: bool = False,
) -> Callable[[jax.Array], jax.Array]:
    """A jitted ``f(params) -> <observable>`` whose gradient uses ``diff_method``.

    Args:
      circuit: a circuit with symbolic ``Param`` slots; ``params`` is a vector in
        ``circuit.parameters`` order.
      observable: any spelling ``lretjax.expval`` accepts (a Hamiltonian as a Pauli sum).
      diff_method: "backprop" (JAX reverse mode), "adjoint" (a backward sweep that undoes the
        steps: memory independent of depth) or "parameter-shift" (custom_vjp).
      max_rank, epsilon, tolerance: truncation settings, as in ``lretjax.simulate``.
      noise: optional ``Circuit -> Circuit`` (a noise model's ``apply``) run once here.
      shift_rules: for parameter-shift, extra rules for user gates: ``{name: [eigenvalues of
        each parameter's generator, or a ShiftRule]}``.
      checkpoint: backprop only; rematerialise the forward pass by segments (less memory).

    Returns:
      A function of a 1-D parameter vector; it works under ``jax.jit``, ``jax.vmap``,
      ``jax.grad`` and in optax loops. Parameter-shift functions have reverse-mode derivatives
      only (no ``jax.jvp``/``jax.hessian``).
    """
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"expval_fn expects a lretjax.Circuit, got {type(circuit).__name__}")
    if diff_method not in DIFF_METHODS:
        raise SimulationConfigError(f"diff_method must be one of {DIFF_METHODS}, got {diff_method!r}")
    check_settings(max_rank, epsilon, tolerance)
    if checkpoint and diff_method != "backprop":
        raise SimulationConfigError("checkpoint=True applies to diff_method='backprop' only")
    if noise is not None:
        circuit = noise.apply(circuit) if hasattr(noise, "apply") else noise(circuit)
    obs = as_observable(observable, circuit.num_wires)
    num_params = circuit.num_parameters
    if num_params == 0:
        raise ParameterError("the circuit has no symbolic parameters (lretjax.Param) to differentiate")

    def check(params):
        if jnp.ndim(params) != 1 or jnp.shape(params)[0] != num_params:
            raise ParameterError(
                f"expected a vector of {num_params} parameters {list(circuit.parameters)}, "
                f"got shape {jnp.shape(params)}"
            )

    if diff_method in ("backprop", "adjoint"):

        def value(params):
            state = simulate(circuit, params, max_rank=max_rank, epsilon=epsilon, tolerance=tolerance,
                             remat=checkpoint, adjoint=diff_method == "adjoint")
            return expval(state, obs)

        jitted = jax.jit(value)

        def f(params):
            check(params)
            return jitted(params)

        return f

    plan = _shift_plan(circuit, shift_rules)
    batch = shift_batch_size(plan.offsets.shape[0], len(circuit.ops), circuit.num_wires, max_rank)

    def evaluate(theta):
        state = simulate(plan.slot_circuit, theta, max_rank=max_rank, epsilon=epsilon, tolerance=tolerance)
        return expval(state, obs)

    def slots(params):
        return params[plan.index] * plan.coeff.astype(params.dtype) + plan.offset.astype(params.dtype)

    @jax.custom_vjp
    def shifted(params):
        return evaluate(slots(params))

    def fwd(params):
        return shifted(params), params

    def bwd(params, ct):
        theta = slots(params)
        # In vmapped batches of ``batch`` circuits (one batch when they all fit SHIFT_BATCH_BYTES).
        values = jax.lax.map(evaluate, theta[None, :] + plan.offsets.astype(theta.dtype), batch_size=batch)
        grad = jnp.matmul(plan.weights.astype(values.dtype), values, precision="highest")
        return (ct * grad.astype(params.dtype),)

    shifted.defvjp(fwd, bwd)
    jitted = jax.jit(shifted)

    def f(params):
        check(params)
        params = jnp.asarray(params)
        if not jnp.issubdtype(params.dtype, jnp.floating):
            params = params.astype(jnp.result_type(float))
        return jitted(params)

    return f
