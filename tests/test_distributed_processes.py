"""``jax.distributed.initialize()`` with two CPU processes of 4 devices each (gloo collectives).

The multi-host path (one process per GPU, NCCL) exercised on CPU: the same ``simulate_sharded``
over a mesh spanning both processes gives the one-process ``lretjax.simulate`` results.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lretjax
from lretjax.distributed.layout import plan_swaps

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import mpi_run  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_equal_one():
    port = _free_port()
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    cmd = [sys.executable, str(HERE / "mpi_run.py"), "jax-distributed"]
    procs = [subprocess.Popen(cmd + [str(i), "2", str(port)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for i in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    out = json.loads(outs[0][0].strip().splitlines()[-1])  # after gloo's log lines
    assert out["devices"] == 8 and out["processes"] == 2
    c = mpi_run.build_circuit()
    ref = lretjax.simulate(c, max_rank=mpi_run.MAX_RANK)
    assert out["discarded"] > 1e-4
    np.testing.assert_allclose(out["discarded"], float(ref.discarded), atol=1e-12)
    assert out["rank"] == int(ref.rank)
    assert out["swaps"] == plan_swaps([op.wires for op in c.ops], c.num_wires, 3).num_swaps
    np.testing.assert_allclose(out["expval"], float(lretjax.expval(ref, mpi_run.OBSERVABLE)), atol=1e-12)
    np.testing.assert_allclose(out["marginal"], np.asarray(lretjax.probabilities(ref, mpi_run.MARGINAL)),
                               atol=1e-12)
