"""The PyTorch bridge: values agree with the independent dense reference (tests/dense.py), gradients
are JAX's own (equal to lretjax.grad to 1e-10) and pass torch.autograd.gradcheck, batches, dtypes,
devices through DLPack, nn.Module composition, and clear errors."""

import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path

import dense
import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lretjax import Circuit, NoiseModel, ObservableError, Param, SimulationConfigError  # noqa: E402
from lretjax import grad as lgrad  # noqa: E402
from lretjax.errors import CircuitError, ParameterError  # noqa: E402
from lretjax.torch import QuantumLayer, expval_fn, to_jax, to_torch  # noqa: E402

OBS = ["Z0", "X1", {"ZZ": 0.5, "XY": -1.25}]
PARAMS = np.array([0.37, -1.1, 0.8])


def noisy_circuit() -> Circuit:
    """Two wires, three symbols (one affine and shared), depolarizing and amplitude damping."""
    a, b, c = Param("a"), Param("b"), Param("c")
    return (
        Circuit(2).h(0).rx(a, 0).ry(b, 1).cx(0, 1).depolarizing(0.1, 0)
        .rz(2 * a + 0.3, 1).crx(c, 1, 0).amplitude_damping(0.2, 1).ry(c - 0.5, 0)
    )


def dense_values(circuit: Circuit, params) -> np.ndarray:
    """<Z0>, <X1>, <0.5 ZZ - 1.25 XY> from the dense reference."""
    rho = dense.evolve(circuit, params)
    return np.array([
        dense.expval(rho, "ZI"), dense.expval(rho, "IX"),
        0.5 * dense.expval(rho, "ZZ") - 1.25 * dense.expval(rho, "XY"),
    ])


def dense_jacobian(circuit: Circuit, params, h: float = 1e-5) -> np.ndarray:
    cols = []
    for i in range(len(params)):
        e = np.zeros(len(params))
        e[i] = h
        cols.append((dense_values(circuit, params + e) - dense_values(circuit, params - e)) / (2 * h))
    return np.stack(cols, axis=1)


METHODS = ("backprop", "parameter-shift", "adjoint")


@pytest.fixture(scope="module")
def fns():
    c = noisy_circuit()
    return {m: expval_fn(c, OBS, diff_method=m, max_rank=4) for m in METHODS}


# -- values and gradients --------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["backprop", "parameter-shift", "adjoint"])
def test_values_and_jacobian_match_dense_reference(fns, method):
    p = torch.tensor(PARAMS, requires_grad=True)
    out = fns[method](p)
    np.testing.assert_allclose(out.detach().numpy(), dense_values(noisy_circuit(), PARAMS), atol=1e-10)
    jac = np.stack([torch.autograd.grad(out[k], p, retain_graph=True)[0].numpy() for k in range(3)])
    np.testing.assert_allclose(jac, dense_jacobian(noisy_circuit(), PARAMS), atol=1e-7)


@pytest.mark.parametrize("method", ["backprop", "parameter-shift"])
def test_gradient_is_the_jax_gradient(fns, method):
    weights = np.array([0.7, -0.2, 1.3])
    p = torch.tensor(PARAMS, requires_grad=True)
    (fns[method](p) * torch.tensor(weights)).sum().backward()
    # sum_k w_k <O_k> is itself one Pauli sum: one lretjax.grad function gives the reference.
    combined = {"ZI": 0.7, "IX": -0.2, "ZZ": 1.3 * 0.5, "XY": 1.3 * -1.25}
    ref = jax.grad(lgrad.expval_fn(noisy_circuit(), combined, diff_method=method, max_rank=4))(
        jnp.asarray(PARAMS)
    )
    np.testing.assert_allclose(p.grad.numpy(), np.asarray(ref), rtol=0, atol=1e-10)


@pytest.mark.parametrize("method, shape", [("backprop", (2, 3)), ("parameter-shift", (3,))])
def test_gradcheck(fns, method, shape):
    p = torch.tensor(np.random.default_rng(1).uniform(-2, 2, shape), requires_grad=True)
    assert torch.autograd.gradcheck(fns[method], (p,), eps=1e-6, atol=1e-7)


def test_gradcheck_truncated_with_noise_model():
    """A NoiseModel applied by the bridge, rank capped below the exact rank (truncation is differentiated)."""
    a, b = Param("a"), Param("b")
    c = Circuit(3).h(0).rx(a, 1).cx(0, 2).ry(b, 2).cx(1, 2).rz(a * 0.5, 0)
    model = NoiseModel().gate_noise("depolarizing", 0.05, gates="cx")
    f = expval_fn(c, "Z0 Z2", noise=model, max_rank=2)
    p = torch.tensor([0.4, -0.9], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (p,), eps=1e-6, atol=1e-7)
    ref = lgrad.expval_fn(model.apply(c), "Z0 Z2", max_rank=2)
    np.testing.assert_allclose(f(p).item(), float(ref(jnp.asarray([0.4, -0.9]))), atol=1e-12)


def test_batch_equals_rows(fns):
    rows = np.random.default_rng(2).uniform(-2, 2, (4, 3))
    p = torch.tensor(rows, requires_grad=True)
    out = fns["backprop"](p)
    assert out.shape == (4, 3)
    for i in range(4):
        ref = dense_values(noisy_circuit(), rows[i])
        np.testing.assert_allclose(out[i].detach().numpy(), ref, atol=1e-10)
    out[:, 2].sum().backward()
    for i in range(4):
        q = torch.tensor(rows[i], requires_grad=True)
        fns["backprop"](q)[2].backward()
        np.testing.assert_allclose(p.grad[i].numpy(), q.grad.numpy(), atol=1e-12)


def test_single_observable_gives_scalar():
    f = expval_fn(noisy_circuit(), {"ZZ": 0.5, "XY": -1.25}, max_rank=4)
    assert f(torch.tensor(PARAMS)).shape == ()
    assert f(torch.tensor(np.stack([PARAMS, PARAMS]))).shape == (2,)


# -- dtypes, devices, DLPack -----------------------------------------------------------------------


def test_float32_preserved(fns):
    p = torch.tensor(PARAMS, dtype=torch.float32, requires_grad=True)
    out = fns["backprop"](p)
    assert out.dtype == torch.float32 and out.device == p.device
    out.sum().backward()
    assert p.grad.dtype == torch.float32
    np.testing.assert_allclose(out.detach().numpy(), dense_values(noisy_circuit(), PARAMS), atol=1e-5)


def test_float64_without_x64_is_refused_and_flag_left_alone():
    f = expval_fn(noisy_circuit(), "Z0", max_rank=4)
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(SimulationConfigError, match="jax_enable_x64"):
            f(torch.tensor(PARAMS))  # refused before anything is traced
        assert not jax.config.jax_enable_x64
    finally:
        jax.config.update("jax_enable_x64", True)


X64_OFF_SCRIPT = """
import jax, torch
from lretjax import Circuit, Param
from lretjax.torch import expval_fn
assert not jax.config.jax_enable_x64
c = Circuit(2).rx(Param("a"), 0).cx(0, 1).depolarizing(0.1, 1).ry(Param("b"), 1)
p = torch.tensor([0.3, -0.6], requires_grad=True)
out = expval_fn(c, ["Z0", "Z1"], max_rank=4)(p)
out.sum().backward()
print(out.dtype, p.grad.dtype, *out.tolist(), *p.grad.tolist())
"""


def test_float32_in_a_process_without_x64():
    """x64 is global and fixed at start-up in practice, so the x64-off path runs in its own process."""
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    child = [sys.executable, "-X", "faulthandler", "-c", X64_OFF_SCRIPT]
    run = subprocess.run(child, capture_output=True, text=True, env=env)
    if run.returncode < 0:
        # CI once saw this child die by SIGABRT; 110 local runs (serial, parallel, under load) never
        # did. One rerun, reported, keeps an unexplained platform crash from hiding the numbers'
        # check; a second death fails with the child's stderr (faulthandler puts the Python stack
        # of a fatal signal there).
        warnings.warn(f"x64-off child died by signal {-run.returncode}; rerun. stderr:\n{run.stderr[-4000:]}",
                      stacklevel=1)
        run = subprocess.run(child, capture_output=True, text=True, env=env)
    assert run.returncode == 0, f"x64-off child exited {run.returncode}; stderr:\n{run.stderr[-4000:]}"
    out = run.stdout.split()
    assert out[:2] == ["torch.float32", "torch.float32"]
    c = Circuit(2).rx(Param("a"), 0).cx(0, 1).depolarizing(0.1, 1).ry(Param("b"), 1)
    rho = dense.evolve(c, [0.3, -0.6])
    # float32 arithmetic: agreement to single precision.
    ref = [dense.expval(rho, "ZI"), dense.expval(rho, "IZ")]
    np.testing.assert_allclose([float(v) for v in out[2:4]], ref, atol=1e-5)
    ref = jax.grad(lgrad.expval_fn(c, {"ZI": 1.0, "IZ": 1.0}, max_rank=4))(jnp.asarray([0.3, -0.6]))
    np.testing.assert_allclose([float(v) for v in out[4:]], np.asarray(ref), atol=1e-5)


def test_dlpack_shares_memory():
    t = torch.arange(8, dtype=torch.float64)
    assert to_jax(t).unsafe_buffer_pointer() == t.data_ptr()
    x = jnp.arange(8.0) + 1
    assert to_torch(x).data_ptr() == x.unsafe_buffer_pointer()
    # A stride-0 view (what .sum().backward() hands over) is made compact first.
    np.testing.assert_array_equal(np.asarray(to_jax(torch.ones(1).expand(5))), np.ones(5))


def test_noncontiguous_params(fns):
    rows = torch.tensor(np.random.default_rng(3).uniform(-2, 2, (3, 4)))
    p = rows.T[:3]  # a (3, 3) non-contiguous view
    assert not p.is_contiguous()
    np.testing.assert_allclose(fns["backprop"](p).numpy(), fns["backprop"](p.contiguous()).numpy(), atol=0)


def test_inplace_change_before_backward_is_caught(fns):
    p = torch.tensor(PARAMS, requires_grad=True)
    q = p * 1.0
    out = fns["backprop"](q).sum()
    with torch.no_grad():
        q.add_(1.0)
    with pytest.raises(RuntimeError, match="inplace"):
        out.backward()


def test_no_grad_forward(fns):
    p = torch.tensor(PARAMS, requires_grad=True)
    with torch.no_grad():
        out = fns["backprop"](p)
    assert not out.requires_grad
    np.testing.assert_allclose(out.numpy(), dense_values(noisy_circuit(), PARAMS), atol=1e-10)


# -- errors ----------------------------------------------------------------------------------------


def test_clear_errors(fns):
    f = fns["backprop"]
    with pytest.raises(ParameterError, match=r"expected 3 parameters \['a', 'b', 'c'\]"):
        f(torch.zeros(2, dtype=torch.float64))
    with pytest.raises(ParameterError, match="shape"):
        f(torch.zeros(2, 2, 3, dtype=torch.float64))
    with pytest.raises(ParameterError, match="float32 or float64"):
        f(torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ParameterError, match="torch.Tensor"):
        f(np.zeros(3))
    with pytest.raises(ObservableError):
        expval_fn(noisy_circuit(), ["Z0", "Q1"])
    with pytest.raises(SimulationConfigError, match="empty"):
        expval_fn(noisy_circuit(), [])
    with pytest.raises(SimulationConfigError, match="diff_method"):
        expval_fn(noisy_circuit(), "Z0", diff_method="adjoints")
    with pytest.raises(ParameterError, match="no symbolic parameters"):
        expval_fn(Circuit(1).h(0), "Z0")
    with pytest.raises(CircuitError):
        expval_fn("not a circuit", "Z0")
    with pytest.raises(SimulationConfigError):
        expval_fn(noisy_circuit(), "Z0", max_rank=0)


# -- QuantumLayer ----------------------------------------------------------------------------------


def layer_circuit() -> Circuit:
    c = Circuit(2).ry(Param("x0"), 0).ry(Param("x1"), 1)
    return c.rx(Param("w0"), 0).cz(0, 1).depolarizing(0.05, 1).ry(Param("w1"), 1).rx(Param("x0") * 0.5, 1)


def test_layer_in_sequential_matches_expval_fn():
    torch.manual_seed(0)
    layer = QuantumLayer(layer_circuit(), ["Z0", "Z1"], inputs=["x1", "x0"], dtype=torch.float64, max_rank=4)
    assert layer.weight_names == ("w0", "w1")
    model = torch.nn.Sequential(torch.nn.Linear(3, 2, dtype=torch.float64), layer)
    x = torch.randn(5, 3, dtype=torch.float64)
    out = model(x)
    assert out.shape == (5, 2) and out.dtype == torch.float64
    out.sum().backward()
    assert layer.weights.grad is not None and model[0].weight.grad is not None
    # The same numbers through expval_fn, parameters assembled by hand in circuit order (x0, x1, w0, w1).
    h = model[0](x).detach()
    w = layer.weights.detach()
    full = torch.cat([h[:, 1:2], h[:, 0:1], w.expand(5, 2)], dim=1).requires_grad_()
    ref = expval_fn(layer_circuit(), ["Z0", "Z1"], max_rank=4)(full)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), atol=1e-12)
    ref.sum().backward()
    np.testing.assert_allclose(layer.weights.grad.numpy(), full.grad[:, 2:].sum(0).numpy(), atol=1e-12)
    rho = dense.evolve(layer_circuit(), full[0].detach().numpy())
    np.testing.assert_allclose(out[0].detach().numpy(), [dense.expval(rho, "ZI"), dense.expval(rho, "IZ")],
                               atol=1e-10)


def test_layer_encoding_circuit_and_state_dict():
    enc = Circuit(2).ry(Param("x0"), 0).ry(Param("x1"), 1)
    body = Circuit(2).rx(Param("w0"), 0).cz(0, 1).ry(Param("w1"), 1)
    layer = QuantumLayer(body, "Z0 Z1", encoding=enc, weights=[0.1, 0.2], dtype=torch.float64)
    assert layer.input_names == ("x0", "x1")
    x = torch.tensor([0.3, -0.4], dtype=torch.float64)
    rho = dense.evolve(enc.compose(body), [0.3, -0.4, 0.1, 0.2])
    np.testing.assert_allclose(layer(x).item(), dense.expval(rho, "ZZ"), atol=1e-10)
    assert set(layer.state_dict()) == {"weights"}


def test_layer_without_inputs():
    layer = QuantumLayer(Circuit(1).ry(Param("t"), 0), ["Z0", "X0"], weights=[0.5], dtype=torch.float64)
    np.testing.assert_allclose(layer().detach().numpy(), [np.cos(0.5), np.sin(0.5)], atol=1e-12)


def test_layer_errors():
    with pytest.raises(ParameterError, match="inputs must be distinct parameter names"):
        QuantumLayer(layer_circuit(), "Z0", inputs=["x9"])
    with pytest.raises(ParameterError, match="share parameter names"):
        QuantumLayer(layer_circuit(), "Z0", encoding=Circuit(2).rx(Param("x0"), 0))
    with pytest.raises(ParameterError, match="weights must have shape"):
        QuantumLayer(layer_circuit(), "Z0", inputs=["x0", "x1"], weights=[1.0])
    layer = QuantumLayer(layer_circuit(), "Z0", inputs=["x0", "x1"])
    with pytest.raises(ParameterError, match="inputs of shape"):
        layer(torch.zeros(4, 3))
    with pytest.raises(ParameterError, match="takes 2 inputs"):
        layer()


# -- the example -----------------------------------------------------------------------------------


def test_example_vqe_torch_quick(capsys):
    path = Path(__file__).resolve().parents[1] / "examples" / "vqe_torch.py"
    spec = importlib.util.spec_from_file_location("vqe_torch", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result = module.main(["--quick"])
    exact = result["exact"]
    # Exact FCI energy of this Hamiltonian at 0.7414 A (the optax example's docstring).
    assert exact == pytest.approx(-1.137270, abs=1e-6)
    noiseless, noisy = result["vqe"]["noiseless"], result["vqe"]["depolarizing p=0.01"]
    assert exact - 1e-9 <= noiseless[-1] <= exact + 1.6e-3  # variational and chemically accurate
    assert noisy[-1] > noiseless[-1] and noisy[-1] < noisy[0]
    c = result["classifier"]
    assert c["last_loss"] < c["first_loss"] and c["test_accuracy"] >= 0.8
    assert "within chemical accuracy (1.6 mHa): True" in capsys.readouterr().out
