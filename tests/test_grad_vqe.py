"""The optax VQE example (examples/vqe_h2_optax.py) in quick mode reaches the H2 ground energy."""

import importlib.util
from pathlib import Path

import dense
import numpy as np
import pytest

pytest.importorskip("optax")
pytest.importorskip("matplotlib")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "vqe_h2_optax.py"


def load_example():
    spec = importlib.util.spec_from_file_location("vqe_h2_optax", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_vqe_reaches_chemical_accuracy(tmp_path):
    vqe = load_example()
    h = sum(c * dense.pauli_matrix(p) for p, c in vqe.HAMILTONIAN.items())
    exact = np.linalg.eigvalsh(h)[0]
    assert exact == pytest.approx(-1.137270, abs=1e-6)  # FCI, STO-3G, 0.7414 Angstrom
    out = tmp_path / "curve.png"
    curves = vqe.main(["--quick", "--noise", "0.01", "--out", str(out)])
    noiseless, noisy = curves["noiseless"], curves["depolarizing p=0.01"]
    assert abs(noiseless[-1] - exact) <= 1.6e-3
    assert abs(noiseless[-1] - vqe.TUTORIAL_ENERGY) <= 1.6e-3
    assert noisy[-1] > exact + 5e-3  # noise keeps the energy visibly above the ground state
    assert noiseless[-1] < noiseless[0]
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
