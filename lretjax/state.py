"""The low-rank state rho = L L^dagger and the bookkeeping that travels with it."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, Int

from .errors import CircuitError
from .ops.inner import sq_norm


@dataclass(frozen=True)
class LowRankState:
    """rho = L L^dagger on ``num_wires`` wires.

    Attributes:
      L: (2^n, width) factor; columns past ``rank`` are zero (shapes stay static under jit).
      discarded: total eigenvalue weight dropped by truncation. The trace distance between this
        state and the exact one is at most ``discarded``; the trace of this state is
        1 - discarded (it is not renormalised, which keeps the bound tight).
      rank: number of nonzero columns of L.
      num_wires: static.
    """

    L: Complex[Array, "dim width"]
    discarded: Float[Array, ""]
    rank: Int[Array, ""]
    num_wires: int

    @property
    def dim(self) -> int:
        return self.L.shape[0]

    @property
    def width(self) -> int:
        """Static column count of L (at least ``rank``)."""
        return self.L.shape[1]

    def trace(self) -> Float[Array, ""]:
        return sq_norm(self.L)

    def __repr__(self) -> str:
        try:
            return (
                f"LowRankState(num_wires={self.num_wires}, rank={int(self.rank)}, "
                f"width={self.width}, discarded={float(self.discarded):.3e}, dtype={self.L.dtype})"
            )
        except (TypeError, jax.errors.ConcretizationTypeError):
            return f"LowRankState(num_wires={self.num_wires}, width={self.width}, <traced>)"


jax.tree_util.register_dataclass(
    LowRankState, data_fields=["L", "discarded", "rank"], meta_fields=["num_wires"]
)


def check_wires(wires, num_wires: int) -> tuple[int, ...]:
    """Wires to read out of a state of ``num_wires`` wires, as a tuple; CircuitError if one is
    out of range or repeated."""
    wires = (wires,) if isinstance(wires, (int, np.integer)) else tuple(int(w) for w in wires)
    for w in wires:
        if not 0 <= w < num_wires:
            raise CircuitError(f"wire {w} out of range for a state of {num_wires} wires")
    if len(set(wires)) != len(wires):
        raise CircuitError(f"repeated wire in {list(wires)}")
    return wires


def complex_dtype():
    """complex128 when jax_enable_x64 is on, complex64 otherwise."""
    return jnp.result_type(complex)


def zero_state(num_wires: int, dtype=None) -> LowRankState:
    """|0...0><0...0| as a rank-1 factor."""
    dtype = dtype or complex_dtype()
    L = jnp.zeros((2**num_wires, 1), dtype).at[0, 0].set(1)
    real = jnp.finfo(dtype).dtype
    return LowRankState(L, jnp.zeros((), real), jnp.ones((), jnp.int32), num_wires)


def as_state(x, num_wires: int) -> LowRankState:
    """A LowRankState from a state, a state vector (2^n,) or a factor L (2^n, r)."""
    if isinstance(x, LowRankState):
        if x.num_wires != num_wires:
            raise CircuitError(
                f"initial state has {x.num_wires} wires, the circuit has {num_wires}"
            )
        return x
    arr = jnp.asarray(x)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != 2**num_wires:
        raise CircuitError(
            f"initial state must be a vector of length 2^{num_wires} = {2**num_wires} or a factor "
            f"of shape (2^{num_wires}, r); got shape {np.shape(x)}"
        )
    arr = arr.astype(complex_dtype())
    if not isinstance(arr, jax.core.Tracer):
        tr = float(sq_norm(jnp.asarray(arr)))
        if abs(tr - 1) > 1e-6:
            raise CircuitError(f"initial state has trace {tr:.6g}, expected 1 (normalise it)")
    real = jnp.finfo(arr.dtype).dtype
    return LowRankState(arr, jnp.zeros((), real), jnp.asarray(arr.shape[1], jnp.int32), num_wires)
