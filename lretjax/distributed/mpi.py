"""The sharded algorithm across MPI processes with mpi4jax collectives (no NCCL, no jax mesh).

Start one process per shard (a power of two) and call the same functions in every process:

    mpirun -n 4 python my_script.py

Each process holds the rows of L whose leading bits equal its rank: ``MPIState.L`` is the
local block (2^(n-g), r). Gram matrices and results are summed with ``mpi4jax.allreduce``; a
global/local swap is an ``mpi4jax.alltoall`` on the two-process communicator of that bit.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ..circuit import Circuit
from ..errors import CircuitError, ObservableError, ParameterError, SimulationConfigError
from ..observables import DenseObservable, as_observable
from ..state import LowRankState, as_state, complex_dtype
from . import local
from .layout import Plan, plan_swaps
from .mesh import _log2


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
class MPIState:
    """This process's block of a row-sharded L, and the layout shared by all processes."""

    L: jax.Array
    discarded: jax.Array
    rank: jax.Array
    num_wires: int
    perm: tuple[int, ...]
    swaps: int = 0


def _run(coll: MPICollectives, L, discarded, rank, leaves, epsilon, *, structure, plan: Plan,
         max_rank: int, init_zero: bool, n: int):
    circ = jax.tree_util.tree_unflatten(structure, leaves)
    if init_zero:
        L = local.zero_block(n, plan.num_global, coll, L.dtype)
    return local.evolve(L, discarded, rank, circ.ops, plan, max_rank, epsilon, coll)


@functools.lru_cache(maxsize=64)
def _compiled(coll, structure, plan, max_rank, init_zero, n):
    return jax.jit(functools.partial(_run, coll, structure=structure, plan=plan, max_rank=max_rank,
                                     init_zero=init_zero, n=n))


def simulate_mpi(
    circuit: Circuit,
    params=None,
    *,
    max_rank: int = 64,
    epsilon: float = 0.0,
    initial_state=None,
    comm=None,
) -> MPIState:
    """``lretjax.simulate`` with L's rows split over the processes of ``comm`` (COMM_WORLD).

    Every process must call it with the same arguments. ``initial_state`` may be an
    ``MPIState`` (this process's block) or a full ``LowRankState``/vector/factor.
    """
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"simulate_mpi expects a lretjax.Circuit, got {type(circuit).__name__}")
    if isinstance(max_rank, bool) or not isinstance(max_rank, (int, np.integer)) or max_rank < 1:
        raise SimulationConfigError(f"max_rank must be a positive integer, got {max_rank!r}")
    if not 0.0 <= float(epsilon) < 1.0:
        raise SimulationConfigError(f"epsilon must lie in [0, 1), got {epsilon!r}")
    if params is not None:
        circuit = circuit.bind(params)
    elif circuit.parameters:
        raise ParameterError(
            f"the circuit has unbound parameters {list(circuit.parameters)}; pass params=..."
        )
    coll = _collectives(comm)
    n, g = circuit.num_wires, coll.num_global
    dtype = complex_dtype()
    real = jnp.finfo(dtype).dtype
    wires = [op.wires for op in circuit.ops]
    if initial_state is None:
        plan = plan_swaps(wires, n, g)
        L = jnp.zeros((2 ** (n - g), 1), dtype)
        discarded, rank, init_zero = jnp.zeros((), real), jnp.ones((), jnp.int32), True
    elif isinstance(initial_state, MPIState):
        plan = plan_swaps(wires, n, g, initial_state.perm)
        L, discarded, rank = initial_state.L, initial_state.discarded, initial_state.rank
        init_zero = False
    else:
        st = as_state(initial_state, n)
        plan = plan_swaps(wires, n, g, tuple(range(n)))
        rows = 2 ** (n - g)
        L = st.L[coll.rank * rows:(coll.rank + 1) * rows]
        discarded, rank, init_zero = st.discarded, st.rank, False
    leaves, structure = jax.tree_util.tree_flatten(circuit)
    fn = _compiled(coll, structure, plan, int(max_rank), init_zero, n)
    L, discarded, rank = fn(L, discarded, rank, leaves, jnp.asarray(epsilon, real))
    return MPIState(L, discarded, rank, n, plan.final_perm, plan.num_swaps)


_COLLS: dict = {}


def _collectives(comm) -> MPICollectives:
    """One MPICollectives per communicator (Split is collective: create it once, reuse it)."""
    MPI, _ = _mpi()
    comm = MPI.COMM_WORLD if comm is None else comm
    key = MPI.Comm.py2f(comm) if hasattr(MPI.Comm, "py2f") else id(comm)
    if key not in _COLLS:
        _COLLS[key] = MPICollectives.create(comm)
    return _COLLS[key]


def expval(state: MPIState, observable, comm=None):
    """<O>, identical on every process (local partial sums, one allreduce)."""
    coll = _collectives(comm)
    obs = as_observable(observable, state.num_wires)
    if isinstance(obs, DenseObservable) and any(state.perm[w] < coll.num_global for w in obs.wires):
        raise ObservableError(
            f"dense observable on wires {obs.wires} touches wires held across processes in layout "
            f"{state.perm}; use a Pauli sum, or fewer processes"
        )
    return jax.jit(lambda L, o: local.expval(L, o, state.perm, coll.num_global, coll))(state.L, obs)


def probabilities(state: MPIState, wires: Sequence[int], comm=None):
    """Marginal probabilities of ``wires`` (first wire high), identical on every process."""
    coll = _collectives(comm)
    wires = tuple(int(w) for w in wires)
    if not wires or any(not 0 <= w < state.num_wires for w in wires) or len(set(wires)) != len(wires):
        raise CircuitError(f"bad wires {list(wires)} for a state of {state.num_wires} wires")
    return jax.jit(lambda L: local.marginal(L, wires, state.perm, coll.num_global, coll))(state.L)


def sample(state: MPIState, shots: int, key, comm=None):
    """``shots`` outcomes of all wires as bits (logical order), identical on every process."""
    coll = _collectives(comm)
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise CircuitError(f"shots must be a positive integer, got {shots!r}")
    return jax.jit(lambda L, k: local.sample(L, int(shots), k, state.perm, coll.num_global, coll))(
        state.L, key)


def gather(state: MPIState, comm=None) -> LowRankState:
    """The whole L in logical order on every process (small n: tests and debugging)."""
    coll = _collectives(comm)
    full = np.concatenate(coll.comm.allgather(np.asarray(state.L)), axis=0)
    n, w = state.num_wires, full.shape[1]
    t = full.reshape((2,) * n + (w,)).transpose([state.perm[x] for x in range(n)] + [n])
    return LowRankState(jnp.asarray(t.reshape(full.shape)), jnp.asarray(state.discarded),
                        jnp.asarray(state.rank), n)


__all__ = ["simulate_mpi", "MPIState", "MPICollectives", "expval", "probabilities", "sample",
           "gather"]
