"""Run one sharded simulation under MPI and print the results as JSON (rank 0).

    mpirun -n 4 python tests/mpi_run.py

tests/test_distributed_mpi.py launches this under ``mpirun -n 2`` and ``-n 4`` and compares
with one-process ``lretjax.simulate`` on ``build_circuit()``.
"""

from __future__ import annotations

import json
import sys

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402

import lretjax  # noqa: E402

NUM_WIRES = 5
MAX_RANK = 6
OBSERVABLE = {"ZZIII": 0.5, "XIXIY": -1.2, "IYIIZ": 0.3, "XXXXX": 0.7}
MARGINAL = (3, 0, 4)


def build_circuit(seed: int = 7) -> lretjax.Circuit:
    """Random rotations, CX ladders and a channel of its own strength on every wire."""
    rng = np.random.default_rng(seed)
    c = lretjax.Circuit(NUM_WIRES)
    for layer in range(2):
        for w in range(NUM_WIRES):
            c = c.rx(float(rng.uniform(0, 6)), w).rz(float(rng.uniform(0, 6)), w)
        for w in range(layer % 2, NUM_WIRES - 1, 2):
            c = c.cx(w, w + 1)
        for w in range(NUM_WIRES):
            if (w + layer) % 2:
                c = c.depolarizing(float(rng.uniform(0.01, 0.05)), w)
            else:
                c = c.amplitude_damping(float(rng.uniform(0.02, 0.1)), w)
    return c


def main() -> None:
    from lretjax.distributed import mpi

    c = build_circuit()
    st = mpi.simulate_mpi(c, max_rank=MAX_RANK)
    full = mpi.gather(st)
    rho = np.asarray(lretjax.to_density_matrix(full))
    out = {
        "size": mpi._collectives(None).comm.Get_size(),
        "rho_re": rho.real.tolist(),
        "rho_im": rho.imag.tolist(),
        "discarded": float(st.discarded),
        "rank": int(st.rank),
        "swaps": st.swaps,
        "expval": float(mpi.expval(st, OBSERVABLE)),
        "marginal": np.asarray(mpi.probabilities(st, MARGINAL)).tolist(),
        "sample": np.asarray(mpi.sample(st, 4000, jax.random.key(3))).tolist(),
    }
    if mpi._collectives(None).rank == 0:
        json.dump(out, sys.stdout)


def main_jax_distributed(process_id: int, num_processes: int, port: int) -> None:
    """One of ``num_processes`` jax.distributed CPU processes with 4 devices each (gloo)."""
    jax.config.update("jax_num_cpu_devices", 4)
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"localhost:{port}", num_processes, process_id)
    from lretjax import distributed as dist

    c = build_circuit()
    st = dist.simulate_sharded(c, mesh=dist.make_mesh(jax.device_count()), max_rank=MAX_RANK)
    out = {
        "devices": jax.device_count(),
        "processes": jax.process_count(),
        "discarded": float(st.discarded),
        "rank": int(st.rank),
        "swaps": st.swaps,
        "expval": float(dist.expval(st, OBSERVABLE)),
        "marginal": np.asarray(dist.probabilities(st, MARGINAL)).tolist(),
    }
    if process_id == 0:
        # gloo logs to stdout: the result is the last line.
        sys.stdout.write("\n" + json.dumps(out) + "\n")
    jax.distributed.shutdown()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "jax-distributed":
        main_jax_distributed(*(int(x) for x in sys.argv[2:5]))
    else:
        main()
