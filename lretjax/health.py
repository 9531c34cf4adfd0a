"""Numerical health checks, cheap enough to leave on: finite entries, trace, Gram eigenvalues.

What is checked after an op (eager path: at every channel, every ``Checks.every`` gates and at
the end; a failing window is replayed op by op to name the op that broke it):

- the squared norm s = ||L||_F^2 = Tr(rho) is finite (a NaN or inf anywhere in L makes it so);
- s stays equal to Tr(rho_0) - discarded within a budget: ``drift_per_op * eps`` per op, plus the
  unitarity slack that the input checks allowed for each user matrix (``d * atol``);
- after a channel, the Gram eigenvalues were non-negative within tolerance. Truncation clips them
  at zero, so their negative weight is read without a second eigensolver from
  Tr(G) - kept - discarded = -(sum of the negative eigenvalues) (up to round-off), where
  Tr(G) = ||[K_1 L | ... | K_m L]||_F^2 and kept = ||L_kept||_F^2.

Each check is one reduction over L (plus one over the stacked factor at a channel), against an
eigensolver of cost dim * (m r)^2 at every channel: the overhead is measured in docs/reliability.md.
Inside ``jit`` the same checks are ``checkify`` checks; wrap the function with ``checked``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

from .circuit import KRAUS, UNITARY, Op
from .errors import NumericalError, SimulationConfigError
from .ops import gram


@dataclass(frozen=True)
class Checks:
    """Tolerances of the health checks (defaults scale with the dtype's machine epsilon).

    Attributes:
      drift_per_op: trace drift allowed per op, in machine epsilons of L's dtype.
      drift_floor: drift always allowed, in machine epsilons.
      eig_tol: allowed negative Gram eigenvalue weight, relative to the trace; None means
        sqrt(eps) + 8 eps * width.
      every: most gates between two checks on the eager path (channels are always checked).
    """

    drift_per_op: float = 64.0
    drift_floor: float = 1024.0
    eig_tol: float | None = None
    every: int = 256


def as_checks(checks, traced: bool) -> Checks | None:
    """Resolve ``simulate(checks=...)``: None means on outside jit and off inside it."""
    if checks is None:
        return None if traced else Checks()
    if checks is True:
        return Checks()
    if checks is False:
        return None
    if isinstance(checks, Checks):
        return checks
    raise SimulationConfigError(f"checks must be None, True, False or lretjax.health.Checks, got {checks!r}")


def eps_of(dtype) -> float:
    return float(np.finfo(jnp.finfo(dtype).dtype).eps)


def op_slack(op: Op) -> float:
    """Trace change a validated op may cause beyond round-off: user matrices pass the unitary /
    trace-preserving check up to ``atol`` per entry, which moves the trace by up to d * atol."""
    if op.kind not in (UNITARY, KRAUS):
        return 0.0
    m = op.params[0]
    d = int(np.shape(m)[-1])
    atol = 1e-5 if jnp.result_type(m) in (np.complex64, np.float32) else 1e-8
    return d * atol


def describe(index: int, op: Op) -> str:
    """'op 12 (rx(0.3) on wires [2])': the user's view of an op."""
    return f"op {index} ({op!r} on wires {list(op.wires)})"


@jax.jit
def _min_gram_eig(L):
    return jnp.linalg.eigvalsh(gram(L))[0]


def min_gram_eigenvalue(stacked) -> float:
    """The most negative eigenvalue of the Gram matrix of ``stacked`` (diagnostics only)."""
    if stacked.shape[1] > stacked.shape[0]:
        return float(jnp.linalg.eigvalsh(jnp.matmul(stacked, stacked.conj().T))[0])
    return float(_min_gram_eig(stacked))


@dataclass
class Failure:
    """What a check found wrong (the op is attached by the caller)."""

    what: str

    def error(self, index: int, op: Op) -> NumericalError:
        return NumericalError(
            f"numerical health check failed after {describe(index, op)}: {self.what}. "
            "Check the inputs of this op; for round-off drift in complex64 use jax_enable_x64 "
            "or simulate(..., renormalize=True); to switch checks off pass checks=False."
        )


def check_state(sq: float, expected: float, budget: float) -> Failure | None:
    """Finite entries and trace within ``budget`` of ``expected``."""
    if not math.isfinite(sq):
        return Failure(f"the state contains NaN or inf (Tr rho = {sq})")
    if abs(sq - expected) > budget:
        return Failure(
            f"Tr rho = {sq:.12g} but 1 - discarded = {expected:.12g} "
            f"(|difference| {abs(sq - expected):.3g} > tolerance {budget:.3g})"
        )
    return None


def check_channel(stacked_sq: float, kept_sq: float, step_discarded: float, tol: float) -> Failure | None:
    """Negative Gram eigenvalue weight Tr(G) - kept - discarded within ``tol * Tr(G)``."""
    if not all(map(math.isfinite, (stacked_sq, kept_sq, step_discarded))):
        return Failure(
            f"the channel produced NaN or inf (Tr G = {stacked_sq}, kept {kept_sq}, "
            f"discarded {step_discarded})"
        )
    neg = stacked_sq - kept_sq - step_discarded
    if neg > tol * max(stacked_sq, 1e-300):
        return Failure(
            f"the Gram matrix had negative eigenvalues of total weight {neg:.3g} "
            f"(> tolerance {tol:.3g} x Tr G = {tol * stacked_sq:.3g})"
        )
    return None


def failure_from(why) -> Failure:
    """The Failure a check in the engine's loop recorded, from its numbers (``engine.step.WHY``)."""
    kind, sq, expected, budget, trace, neg, tol, step_discarded = (float(x) for x in why)
    if kind == 1.0:
        found = check_state(sq, expected, budget)
    else:
        found = check_channel(trace, sq, step_discarded, tol)
    return found or Failure(f"Tr rho = {sq:.12g}, 1 - discarded = {expected:.12g}")


# -- traced path: checkify (the engine's loop records the failure; simulate raises it) --------------


def checked(fn, *, jit: bool = True):
    """Run ``fn`` (which calls ``simulate(..., checks=True)`` under tracing) with its health
    checks functionalised; a failed check raises ``NumericalError`` naming the op.

        >>> f = lretjax.health.checked(lambda p: expval(simulate(c, p, checks=True), "Z"))
    """
    inner = checkify.checkify(fn)
    inner = jax.jit(inner) if jit else inner

    @functools.wraps(fn)
    def run(*args, **kwargs):
        err, out = inner(*args, **kwargs)
        msg = err.get()
        if msg is not None:
            raise NumericalError(msg.replace(" (`check` failed)", ""))
        return out

    return run


def assert_finite(tree, what: str = "gradient") -> None:
    """Raise ``NumericalError`` naming the first leaf of ``tree`` holding NaN or inf."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree)
    for path, leaf in leaves:
        arr = np.asarray(leaf)
        if np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
            where = jax.tree_util.keystr(path) or "<root>"
            bad = int(np.sum(~np.isfinite(arr)))
            raise NumericalError(f"{what}{where} contains NaN or inf ({bad} entries)")
