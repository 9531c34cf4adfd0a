"""The mpi4jax backend under ``mpirun -n 2`` and ``-n 4`` equals one-process ``lretjax.simulate``."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import lretjax
from lretjax.distributed.layout import plan_swaps

pytest.importorskip("mpi4py")
pytest.importorskip("mpi4jax")

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import mpi_run  # noqa: E402

MPIRUN = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which("mpirun")


@pytest.fixture(scope="module")
def reference():
    c = mpi_run.build_circuit()
    st = lretjax.simulate(c, max_rank=mpi_run.MAX_RANK)
    return c, st


@pytest.mark.skipif(MPIRUN is None, reason="mpirun not found")
# Two processes (one global wire) on CI's two cores; ``mpirun -n 4 python tests/mpi_run.py`` runs
# two global wires by hand, and the mesh tests cover up to three on eight devices.
@pytest.mark.parametrize("procs", [2])
def test_mpirun_equals_one_process(procs, reference):
    c, ref = reference
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    run = subprocess.run(
        [MPIRUN, "-n", str(procs), sys.executable, str(HERE / "mpi_run.py")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    assert out["size"] == procs
    rho = np.asarray(out["rho_re"]) + 1j * np.asarray(out["rho_im"])
    np.testing.assert_allclose(rho, np.asarray(lretjax.to_density_matrix(ref)), atol=1e-12)
    assert out["discarded"] > 1e-4  # truncation was active
    np.testing.assert_allclose(out["discarded"], float(ref.discarded), atol=1e-12)
    assert out["rank"] == int(ref.rank)
    g = procs.bit_length() - 1
    assert out["swaps"] == plan_swaps([op.wires for op in c.ops], c.num_wires, g).num_swaps > 0
    np.testing.assert_allclose(out["expval"], float(lretjax.expval(ref, mpi_run.OBSERVABLE)), atol=1e-12)
    np.testing.assert_allclose(
        out["marginal"], np.asarray(lretjax.probabilities(ref, mpi_run.MARGINAL)), atol=1e-12
    )
    # Sampling: each wire's frequency of 1 within 5 standard errors of the exact marginal.
    bits = np.asarray(out["sample"])
    p = np.asarray(lretjax.probabilities(ref))
    p = p / p.sum()
    n = c.num_wires
    for w in range(n):
        p1 = sum(p[i] for i in range(2**n) if (i >> (n - 1 - w)) & 1)
        se = np.sqrt(p1 * (1 - p1) / bits.shape[0])
        assert abs(bits[:, w].mean() - p1) < 5 * se + 1e-9

