"""The sharded algorithm across MPI processes with mpi4jax collectives (no NCCL, no jax mesh).

Start one process per shard (a power of two) and call the same functions in every process:

    mpirun -n 4 python my_script.py

Each process holds the rows of L whose leading bits equal its rank: the state's ``L`` is the
local block (2^(n-g), r), and its ``layout`` says so. The engine's loop runs in every process
with these collectives: Gram matrices and results are summed with ``mpi4jax.allreduce``; a
global/local swap is an ``mpi4jax.alltoall`` on the two-process communicator of that bit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import jax.numpy as jnp
import numpy as np

from .. import readout
from ..circuit import Circuit
from ..engine import Settings, build, drive, resize, start_carry
from ..engine.collectives import read
from ..engine.step import check_settings
from ..errors import CircuitError, ObservableError
from ..state import Layout, LowRankState, as_state, complex_dtype, deprecated_state_alias
from .layout import plan_swaps
from .mesh import _log2
from .sharded import NARROW_EVERY


def _mpi():
    try:
        import mpi4jax
        from mpi4py import MPI
    except ImportError as e:  # pragma: no cover - exercised only without mpi4jax
        raise ImportError(
            "the MPI backend needs mpi4py and mpi4jax: pip install mpi4py mpich nanobind, then "
            "pip install --no-build-isolation mpi4jax (see docs/distributed.md)"
        ) from e
    return MPI, mpi4jax


@dataclass(frozen=True, eq=False)
class MPICollectives:
    """Collectives between the processes of ``comm``; rank r holds shard r."""

    comm: object
    num_global: int
    pairs: tuple = field(default=(), repr=False)

    @classmethod
    def create(cls, comm=None) -> MPICollectives:
        MPI, _ = _mpi()
        comm = MPI.COMM_WORLD if comm is None else comm
        g = _log2(comm.Get_size(), "the number of MPI processes")
        rank = comm.Get_rank()
        # One two-process communicator per global bit: the partners differing in that bit.
        pairs = tuple(
            comm.Split(color=rank & ~(1 << (g - 1 - a)), key=(rank >> (g - 1 - a)) & 1)
            for a in range(g)
        )
        return cls(comm, g, pairs)

    @property
    def rank(self) -> int:
        return self.comm.Get_rank()

    def psum(self, x):
        MPI, mpi4jax = _mpi()
        return mpi4jax.allreduce(x, op=MPI.SUM, comm=self.comm) if self.num_global else x

    def swap(self, x, a: int, b: int):
        _, mpi4jax = _mpi()
        y = jnp.moveaxis(x, b, 0)  # (2, ...): chunk j goes to the partner whose bit a is j
        y = mpi4jax.alltoall(y, comm=self.pairs[a])
        return jnp.moveaxis(y, 0, b)

    def exchange(self, x, a: int):
        _, mpi4jax = _mpi()
        # alltoall of [x, x]: the entry from the partner is its whole block (the self entry is a copy).
        y = mpi4jax.alltoall(jnp.stack([x, x]), comm=self.pairs[a])
        return y[1 - self.bit(a)]

    def bit(self, a: int) -> int:
        return (self.rank >> (self.num_global - 1 - a)) & 1

    def shard_index(self):
        return jnp.asarray(self.rank, jnp.int32)


@dataclass(frozen=True)
class MPIPlacement:
    """L's rows split over the processes of a communicator: process r holds shard r. Functions
    run in every process on its own block, with mpi4jax collectives."""

    coll: MPICollectives

    @property
    def num_global(self) -> int:
        return self.coll.num_global

    def wrap(self, fn):
        return fn

    def resize(self, L, width: int):
        return resize(L, width)

    def read(self, fn, L, *args, rows=()):
        """``fn(L_block, coll, *row_blocks, *args)`` in every process; the result is the same
        everywhere (the collectives sum the blocks)."""
        return read(self, fn, L, args, rows)

    def run_blocks(self, fn, L, rows, dynamic, args):
        return fn(L, self.coll, *rows, *args(dynamic))

    def physical(self, x, perm):
        """This process's block of a (2^n,) array, in the physical order of ``perm``."""
        from .placement import _physical

        n = len(perm)
        full = np.asarray(_physical(jnp.asarray(x)[:, None], perm, n)[:, 0])
        rows = 2 ** (n - self.num_global)
        return jnp.asarray(full[self.coll.rank * rows:(self.coll.rank + 1) * rows])

    def localize(self, state: LowRankState, wires: Sequence[int]) -> LowRankState:
        raise ObservableError(
            f"dense observable on wires {list(wires)} touches wires held across processes in layout "
            f"{state.perm}; use a Pauli sum, or fewer processes"
        )

    def full_table(self, state: LowRankState, wires: Sequence[int]):
        return self.read(readout.marginal, state.L, tuple(wires), state.perm, self.num_global)

    def gather(self, state: LowRankState) -> LowRankState:
        return gather(state)


def simulate_mpi(
    circuit: Circuit,
    params=None,
    *,
    max_rank: int = 64,
    epsilon: float = 0.0,
    initial_state=None,
    comm=None,
) -> LowRankState:
    """``lretjax.simulate`` with L's rows split over the processes of ``comm`` (COMM_WORLD).

    Every process must call it with the same arguments; each gets a ``LowRankState`` holding
    its own block of L, whose ``layout`` says so. ``initial_state`` may be such a state or a
    full ``LowRankState``/vector/factor.
    """
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"simulate_mpi expects a lretjax.Circuit, got {type(circuit).__name__}")
    check_settings(max_rank, epsilon)
    if params is not None:
        circuit = circuit.bind(params)
    else:
        circuit.check_bound()
    coll = _collectives(comm)
    placement = MPIPlacement(coll)
    n, g = circuit.num_wires, coll.num_global
    dtype = complex_dtype()
    real = jnp.finfo(dtype).dtype
    wires = [op.wires for op in circuit.ops]
    rows = 2 ** (n - g)
    if initial_state is None:
        plan = plan_swaps(wires, n, g)
        L = jnp.zeros((rows, 1), dtype).at[0, 0].set(1 if coll.rank == 0 else 0)
        discarded, rank = jnp.zeros((), real), jnp.ones((), jnp.int32)
    elif isinstance(initial_state, LowRankState) and initial_state.layout is not None:
        plan = plan_swaps(wires, n, g, initial_state.perm)
        L, discarded, rank = initial_state.L, initial_state.discarded, initial_state.rank
    else:
        st = as_state(initial_state, n)
        plan = plan_swaps(wires, n, g, tuple(range(n)))
        L = st.L[coll.rank * rows:(coll.rank + 1) * rows]
        discarded, rank = st.discarded, st.rank
    schedule = build(circuit, plan.steps, num_global=g, dtype=dtype)
    carry = drive(schedule, start_carry(L, discarded, rank), jnp.asarray(epsilon, real),
                  jnp.ones((), real), Settings(int(max_rank), 0), placement, narrow_every=NARROW_EVERY)
    layout = Layout(placement, plan.final_perm, plan.num_swaps)
    return LowRankState(carry.L, carry.discarded, carry.rank, n, layout=layout)


_COLLS: dict = {}


def _collectives(comm) -> MPICollectives:
    """One MPICollectives per communicator (Split is collective: create it once, reuse it)."""
    MPI, _ = _mpi()
    comm = MPI.COMM_WORLD if comm is None else comm
    key = MPI.Comm.py2f(comm) if hasattr(MPI.Comm, "py2f") else id(comm)
    if key not in _COLLS:
        _COLLS[key] = MPICollectives.create(comm)
    return _COLLS[key]


# The readers of lretjax.measure take these states as they take any other; these names stay for
# code written against the MPI backend before the states were one type.


def expval(state: LowRankState, observable, comm=None):
    """<O>, identical on every process (``lretjax.expval``)."""
    from ..measure import expval as read

    return read(state, observable)


def probabilities(state: LowRankState, wires: Sequence[int], comm=None):
    """Marginal probabilities of ``wires`` (first wire high), identical on every process."""
    from ..measure import probabilities as read

    wires = tuple(int(w) for w in wires)
    if not wires or any(not 0 <= w < state.num_wires for w in wires) or len(set(wires)) != len(wires):
        raise CircuitError(f"bad wires {list(wires)} for a state of {state.num_wires} wires")
    return read(state, wires)


def sample(state: LowRankState, shots: int, key, comm=None):
    """``shots`` outcomes of all wires as bits (logical order), identical on every process."""
    from ..measure import sample as read

    return read(state, shots, key)


def gather(state: LowRankState, comm=None) -> LowRankState:
    """The whole L in logical order on every process (small n: tests and debugging)."""
    coll = state.layout.placement.coll
    full = np.concatenate(coll.comm.allgather(np.asarray(state.L)), axis=0)
    n, w = state.num_wires, full.shape[1]
    t = full.reshape((2,) * n + (w,)).transpose([state.perm[x] for x in range(n)] + [n])
    return LowRankState(jnp.asarray(t.reshape(full.shape)), jnp.asarray(state.discarded),
                        jnp.asarray(state.rank), n)


__getattr__ = deprecated_state_alias(__name__, "MPIState")


__all__ = ["simulate_mpi", "MPIPlacement", "MPICollectives", "expval", "probabilities", "sample",
           "gather"]
