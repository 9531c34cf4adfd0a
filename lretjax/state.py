"""The low-rank state rho = L L^dagger and the bookkeeping that travels with it."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, Int

from . import readout
from .engine.collectives import ONE_DEVICE
from .errors import CircuitError
from .ops.inner import sq_norm


class History(NamedTuple):
    """Rank and discarded weight after every channel of a run (``simulate(..., record=True)``).

    Attributes:
      op: index in the circuit of each channel.
      rank: rank of L right after it.
      discarded: total discarded weight right after it.
    """

    op: Int[Array, " channels"]
    rank: Int[Array, " channels"]
    discarded: Float[Array, " channels"]


@dataclass(frozen=True)
class Layout:
    """Where the rows of L live when they do not all sit on one device.

    Attributes:
      placement: how to run a function on L's blocks and read its result back: a device mesh
        (``lretjax.distributed.sharded.MeshPlacement``) or MPI processes
        (``lretjax.distributed.mpi.MPIPlacement``).
      perm: perm[w] is the physical row bit (0 = most significant) that holds wire w; the
        leading ``placement.num_global`` bits pick the shard.
      swaps: global/local swaps the run that produced the state performed.
      comm_bytes: bytes its swaps and Gram sums moved (all shards together).
    """

    placement: object
    perm: tuple[int, ...]
    swaps: int = 0
    comm_bytes: int = 0

    @property
    def num_global(self) -> int:
        return self.placement.num_global


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
      history: the per-channel record, when the run kept one.
      layout: where L's rows live (static): None for one device in wire order; else a
        ``Layout`` (rows sharded over a mesh or MPI processes, in physical order). A state from
        a mesh may carry a leading batch axis (one simulation per parameter vector).
      rho: the dense density matrix (2^n x 2^n), when the run continued in the dense
        representation (``lretjax.engine.dense``); L is then None. Every reader accepts both.
    """

    L: Complex[Array, "dim width"] | None
    discarded: Float[Array, ""]
    rank: Int[Array, ""]
    num_wires: int
    history: History | None = None
    layout: Layout | None = None
    rho: Complex[Array, "dim dim"] | None = None

    @property
    def representation(self) -> str:
        """"dense" when the state is rho itself, else "low-rank"."""
        return "low-rank" if self.rho is None else "dense"

    @property
    def dim(self) -> int:
        return 2**self.num_wires

    @property
    def width(self) -> int:
        """Static column count of L (at least ``rank``); 2^n for a dense state."""
        return self.dim if self.L is None else self.L.shape[-1]

    @property
    def dtype(self):
        return (self.L if self.L is not None else self.rho).dtype

    @property
    def perm(self) -> tuple[int, ...]:
        """perm[w]: the row bit holding wire w (the identity unless L is sharded)."""
        return tuple(range(self.num_wires)) if self.layout is None else self.layout.perm

    @property
    def swaps(self) -> int:
        """Global/local swaps the run performed (0 on one device)."""
        return 0 if self.layout is None else self.layout.swaps

    @property
    def comm_bytes(self) -> int:
        """Bytes the run's swaps and Gram sums moved (0 on one device)."""
        return 0 if self.layout is None else self.layout.comm_bytes

    @property
    def batched(self) -> bool:
        """A leading batch axis: one simulation per parameter vector (sharded runs)."""
        return self.L is not None and self.L.ndim == 3

    def trace(self) -> Float[Array, ""]:
        """Tr(rho) = ||L||_F^2 = 1 - discarded up to round-off (``lretjax.measure.trace``)."""
        if self.rho is not None:
            return ONE_DEVICE.read(readout.dense_trace, self.rho)
        if self.layout is None:
            return sq_norm(self.L)
        return self.layout.placement.read(readout.trace, self.L)

    def __repr__(self) -> str:
        where = "" if self.layout is None else (
            f", shards={2**self.layout.num_global}, perm={self.perm}, swaps={self.swaps}")
        if self.rho is not None:
            where += ", dense"
        try:
            if self.batched:
                return (f"LowRankState(num_wires={self.num_wires}, batch={self.L.shape[0]}, "
                        f"width={self.width}, dtype={self.dtype}{where})")
            return (
                f"LowRankState(num_wires={self.num_wires}, rank={int(self.rank)}, "
                f"width={self.width}, discarded={float(self.discarded):.3e}, dtype={self.dtype}"
                f"{where})"
            )
        except (TypeError, jax.errors.ConcretizationTypeError):
            return f"LowRankState(num_wires={self.num_wires}, width={self.width}, <traced>{where})"


jax.tree_util.register_dataclass(
    LowRankState, data_fields=["L", "discarded", "rank", "history", "rho"],
    meta_fields=["num_wires", "layout"]
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


# Up to this many wires, small states are built on the host (64 KiB at most).
SMALL_WIRES = 12


def zero_state(num_wires: int, dtype=None) -> LowRankState:
    """|0...0><0...0| as a rank-1 factor."""
    dtype = dtype or complex_dtype()
    if num_wires <= SMALL_WIRES:  # a transfer, where the scatter below would compile a program
        L = np.zeros((2**num_wires, 1), dtype)
        L[0, 0] = 1
        L = jnp.asarray(L)
    else:
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


def deprecated_state_alias(module: str, alias: str):
    """A module ``__getattr__`` that keeps ``alias`` (an old per-layout state type) importable,
    warning that every run now returns a :class:`LowRankState`."""

    def __getattr__(name: str):
        if name == alias:
            warnings.warn(f"{alias} is deprecated: every run returns a LowRankState whose layout "
                          "says where L lives", DeprecationWarning, stacklevel=2)
            return LowRankState
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__
