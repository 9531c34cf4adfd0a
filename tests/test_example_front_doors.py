"""The front doors' examples (qiskit_noisy_ghz, cirq_noisy_teleport, pennylane_noisy_qnode) run in
quick mode and agree with the peers they stand in for: Aer's density-matrix method,
cirq.DensityMatrixSimulator and PennyLane's default.mixed."""

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


@pytest.mark.filterwarnings("ignore:jax.core.is_concrete is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:jax.core.concrete_or_error is deprecated:DeprecationWarning")
def test_pennylane_example_matches_default_mixed():  # PennyLane's own calls warn on this jax
    pytest.importorskip("pennylane")
    out = _load("pennylane_noisy_qnode").main(["--quick"])
    (e1, g1, p1), (e2, g2, p2) = out["lretjax.mixed"], out["default.mixed"]
    assert abs(e1 - e2) < 1e-10 and abs(g1 - g2) < 1e-10
    assert np.max(np.abs(p1 - p2)) < 0.04  # 2,000 shots each: within their statistical spread
