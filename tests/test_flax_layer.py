"""lretjax.flax.QuantumLayer against the independent dense reference, and the example's run."""

import pathlib
import re
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest
from dense import evolve, expval

import lretjax
from lretjax import CircuitError, ObservableError

nnx = pytest.importorskip("flax.nnx")
from lretjax.flax import QuantumLayer  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOISE = (
    lretjax.NoiseModel()
    .gate_noise("depolarizing", 0.02)
    .gate_noise("amplitude_damping", 0.05, gates="cx")
)


def reference(layer, x, weights, paulis):
    """Dense NumPy <P> of the layer's circuit for one sample."""
    circuit = layer.circuit(np.asarray(x), np.asarray(weights))
    rho = evolve(circuit)
    return np.array([expval(rho, p) for p in paulis])


def test_outputs_match_dense_reference():
    paulis = ["ZIZ", "XYI", "IIX"]
    layer = QuantumLayer(3, 2, paulis, noise=NOISE, input_scale=0.7, rngs=nnx.Rngs(1))
    x = np.array([[0.3, -1.2], [2.0, 0.4]])  # fewer features than wires
    got = np.asarray(nnx.jit(lambda m, x: m(x))(layer, x))  # jit: one compile, not op-by-op
    assert got.shape == (2, 3)
    weights = layer.weights[...]
    for row, xi in zip(got, x, strict=True):
        np.testing.assert_allclose(row, reference(layer, xi, weights, paulis), atol=1e-10)
    assert np.max(np.abs(got)) > 1e-2


@pytest.mark.parametrize("method", ["backprop", "adjoint"])
def test_gradient_matches_dense_finite_differences(method):
    layer = QuantumLayer(2, 1, ["ZZ"], noise=NOISE, reupload=False, diff_method=method, rngs=nnx.Rngs(2))
    x = jnp.array([[0.4, -0.9]])

    def loss(m):
        return jnp.sum(m(x))

    grad = nnx.jit(nnx.grad(loss))(layer).weights[...]
    w = np.asarray(layer.weights[...])
    h = 1e-6
    fd = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        e = np.zeros_like(w)
        e[idx] = h
        plus, minus = reference(layer, x[0], w + e, ["ZZ"]), reference(layer, x[0], w - e, ["ZZ"])
        fd[idx] = (plus[0] - minus[0]) / (2 * h)
    assert np.max(np.abs(fd)) > 1e-2
    np.testing.assert_allclose(np.asarray(grad), fd, atol=1e-7)


def test_jit_and_batch_shapes():
    layer = QuantumLayer(2, 1, rngs=nnx.Rngs(0))
    assert isinstance(layer.weights, nnx.Param) and layer.weights.shape == (1, 2, 3)
    x = jnp.zeros((4, 3, 2))
    y = nnx.jit(lambda m, x: m(x))(layer, x)
    assert y.shape == (4, 3, 2)
    np.testing.assert_allclose(np.asarray(y), np.broadcast_to(np.asarray(y[0, 0]), (4, 3, 2)), atol=1e-12)
    assert np.max(np.abs(np.asarray(y))) > 1e-3


def test_clear_errors():
    with pytest.raises(CircuitError, match="num_wires"):
        QuantumLayer(0, rngs=nnx.Rngs(0))
    with pytest.raises(ObservableError):
        QuantumLayer(2, observables=["ZZZ"], rngs=nnx.Rngs(0))
    layer = QuantumLayer(2, rngs=nnx.Rngs(0))
    with pytest.raises(CircuitError, match="features"):
        layer(jnp.zeros((5, 3)))


def test_example_quick_run(tmp_path):
    out = tmp_path / "moons.png"
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "qml_classifier_flax.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    line = r"epoch\s+\d+/\d+\s+loss [\d.]+\s+train accuracy ([\d.]+)\s+test accuracy ([\d.]+)"
    epochs = re.findall(line, run.stdout)
    assert len(epochs) == 8
    final = re.search(r"final test accuracy: ([\d.]+)", run.stdout)
    assert final is not None and float(final.group(1)) == float(epochs[-1][1])
    # The quick run trains 8 epochs on 60 points; far above chance (0.5) already.
    assert float(final.group(1)) >= 0.8
    assert out.exists() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
