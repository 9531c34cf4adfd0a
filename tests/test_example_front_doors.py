"""examples/qiskit_noisy_ghz.py and examples/cirq_noisy_teleport.py run (quick mode) and agree
with the peers they stand in for: Aer's density-matrix method and cirq.DensityMatrixSimulator."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_qiskit_example_matches_aer():
    pytest.importorskip("qiskit_aer")
    pytest.importorskip("qiskit_ibm_runtime")
    out = _load("qiskit_noisy_ghz").main(["--quick"])
    # Exact expectation values: equal to Aer's density matrix (untruncated, x64).
    assert abs(out["evs"] - out["aer_evs"]) < 1e-9
    # Two samples of 2,000 shots from the same distribution: their distance is statistical.
    assert out["tvd"] < 0.06


def test_cirq_example_matches_cirq():
    pytest.importorskip("cirq")
    out = _load("cirq_noisy_teleport").main(["--quick"])
    np.testing.assert_allclose(out["ours"], out["ref"], atol=1e-10)
    assert abs(out["f_ours"] - out["f_cirq"]) < 0.03  # 2,000 repetitions each
