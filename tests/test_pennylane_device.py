"""The lretjax.mixed PennyLane device against PennyLane's default.mixed, a peer simulator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lretjax
from lretjax import SimulationConfigError
from lretjax.gates import GATES, gate_matrix
from lretjax.noise.channels import CHANNELS

qml = pytest.importorskip("pennylane")
from lretjax.pennylane import LretDevice  # noqa: E402
from lretjax.pennylane.translate import CHANNEL_NAMES, GATE_NAMES  # noqa: E402

# PennyLane 0.45 calls jax.core.is_concrete and concrete_or_error, deprecated in jax 0.10: its
# warnings, not ours.
pytestmark = [
    pytest.mark.filterwarnings("ignore:jax.core.is_concrete is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:jax.core.concrete_or_error is deprecated:DeprecationWarning"),
]

WIRES = ["a", 1, 2.5]  # labels of several kinds


def noisy(x):
    """A 3-wire noisy circuit with every kind of op the device translates."""
    a, b, c = WIRES
    qml.Hadamard(a)
    qml.RX(x[0], b)
    qml.CNOT([a, b])
    qml.DepolarizingChannel(0.07, c)
    qml.RY(x[1], c)
    qml.AmplitudeDamping(0.2, b)
    qml.CRZ(x[0] * x[1], [c, a])
    qml.IsingXX(x[2], [b, c])
    qml.PauliError("XY", 0.1, wires=[a, c])  # no lretjax name: a Kraus op
    qml.QubitUnitary(qml.matrix(qml.Rot(0.1, x[2], 0.3, wires=0)), wires=b)  # a unitary op
    qml.adjoint(qml.S(c))
    qml.GeneralizedAmplitudeDamping(0.1, 0.3, a)
    qml.PhaseDamping(0.15, c)


def hamiltonian():
    a, b, c = WIRES
    return qml.Hamiltonian([0.4, -1.1, 0.25], [qml.Z(a) @ qml.X(b), qml.Y(c), qml.X(a) @ qml.Z(c)])


def results(x):
    a, b, c = WIRES
    noisy(x)
    return (
        qml.expval(hamiltonian()),
        qml.expval(qml.Hermitian(np.array([[1.0, 0.5j], [-0.5j, -0.3]]), wires=b)),
        qml.var(qml.Y(c) @ qml.X(a)),
        qml.probs(wires=[c, a]),
        qml.density_matrix([b, a]),
        qml.purity([a, c]),
    )


def scalar(x):
    a, b, c = WIRES
    noisy(x)
    return qml.expval(
        qml.Hamiltonian([0.4, -1.1, 0.3], [qml.Z(a) @ qml.X(b), qml.Y(c), qml.Z(b)])
    )


X = jnp.array([0.31, -0.72, 1.13])


@pytest.fixture(scope="module")
def ref():
    return qml.device("default.mixed", wires=WIRES)


def test_gate_names_follow_pennylane_matrices():
    rng = np.random.default_rng(0)
    for pl_name, name in GATE_NAMES.items():
        cls = getattr(qml, pl_name)
        params = rng.uniform(-3, 3, cls.num_params)
        op = cls(*params, wires=range(GATES[name].num_wires))
        np.testing.assert_allclose(
            np.asarray(gate_matrix(name, *params)), qml.matrix(op), atol=1e-12, err_msg=pl_name
        )


def _choi(kraus):
    kraus = np.asarray(kraus)
    vecs = kraus.reshape(kraus.shape[0], -1)  # row-major vec(K)
    return vecs.T @ vecs.conj()


@pytest.mark.parametrize("pl_name", sorted(CHANNEL_NAMES))
def test_channel_names_follow_pennylane_kraus(pl_name):
    cls = getattr(qml, pl_name)
    params = {"GeneralizedAmplitudeDamping": (0.3, 0.2), "ResetError": (0.1, 0.25)}.get(pl_name, (0.17,))
    ours = CHANNELS[CHANNEL_NAMES[pl_name]].kraus(*params)
    theirs = cls(*params, wires=0).kraus_matrices()
    np.testing.assert_allclose(_choi(ours), _choi(theirs), atol=1e-12)


def test_noisy_results_match_default_mixed(ref):
    ours = qml.QNode(results, LretDevice(wires=WIRES), interface="jax", diff_method="backprop")
    theirs = qml.QNode(results, ref, interface="jax", diff_method="backprop")
    got, want = jax.jit(ours)(X), jax.jit(theirs)(X)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=1e-10)
    assert abs(float(got[0])) > 1e-3 and abs(float(got[2])) > 1e-3  # not trivially zero


def test_backprop_gradient_matches_default_mixed_under_jit(ref):
    ours = qml.QNode(scalar, LretDevice(wires=WIRES), interface="jax", diff_method="backprop")
    theirs = qml.QNode(scalar, ref, interface="jax", diff_method="backprop")
    g = jax.jit(jax.grad(ours))(X)
    want = jax.jit(jax.grad(theirs))(X)
    assert np.max(np.abs(np.asarray(want))) > 1e-2
    np.testing.assert_allclose(np.asarray(g), np.asarray(want), atol=1e-8)


def named_only(x):
    qml.RX(x[0], 0)
    qml.RY(0.4, 1)
    qml.CNOT([0, 1])
    qml.DepolarizingChannel(0.1, 1)
    qml.RY(x[1], 1)
    qml.CRX(x[0], [1, 0])
    qml.AmplitudeDamping(0.2, 0)
    qml.IsingZZ(x[1], [0, 1])
    qml.RX(0.5, 0)
    return qml.expval(qml.Z(0) @ qml.X(1)), qml.expval(qml.Y(1) + 0.5 * qml.X(0))


@pytest.mark.parametrize(
    "diff_method, device_gradient",
    [("device", "backprop"), ("device", "parameter-shift"), ("parameter-shift", "backprop"),
     ("device", "adjoint")],
)
def test_jacobians_match_default_mixed(diff_method, device_gradient, monkeypatch):
    import lretjax.pennylane.device as device_module

    used, sweeps = [], []
    real = device_module.expval_fn
    monkeypatch.setattr(
        device_module, "expval_fn", lambda *a, **k: used.append(k["diff_method"]) or real(*a, **k)
    )
    real_simulate = device_module.simulate
    monkeypatch.setattr(
        device_module, "simulate", lambda *a, **k: sweeps.append(k["adjoint"]) or real_simulate(*a, **k)
    )
    x = jnp.array([0.3, 0.7])
    theirs = qml.QNode(named_only, qml.device("default.mixed", wires=2), interface="jax")
    want = jax.jit(jax.jacobian(lambda x: jnp.stack(theirs(x))))(x)
    dev = LretDevice(wires=2, device_gradient=device_gradient)
    ours = qml.QNode(named_only, dev, interface="jax", diff_method=diff_method)
    got = jax.jacobian(lambda x: jnp.stack(ours(x)))(x)
    assert np.min(np.abs(np.asarray(want))) > 1e-3
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-8)
    # lretjax's shift rules ran exactly when they were asked for.
    assert used == (["parameter-shift"] * 2 if device_gradient == "parameter-shift" else [])
    assert any(sweeps) == (device_gradient == "adjoint")  # the adjoint sweep ran when asked for


def test_lretjax_noise_model_matches_explicit_channels():
    model = (
        lretjax.NoiseModel()
        .gate_noise("depolarizing", 0.05)
        .gate_noise("amplitude_damping", 0.1, gates="cx")
    )

    def bare(x):
        qml.RX(x[0], 0)
        qml.CNOT([0, 1])
        return qml.expval(qml.Z(0) @ qml.Z(1)), qml.probs(wires=[1])

    def explicit(x):
        qml.RX(x[0], 0)
        qml.DepolarizingChannel(0.05, 0)
        qml.CNOT([0, 1])
        qml.DepolarizingChannel(0.05, 0)
        qml.DepolarizingChannel(0.05, 1)
        qml.AmplitudeDamping(0.1, 0)
        qml.AmplitudeDamping(0.1, 1)
        return qml.expval(qml.Z(0) @ qml.Z(1)), qml.probs(wires=[1])

    x = jnp.array([0.9])
    got = qml.QNode(bare, LretDevice(wires=2, noise_model=model), interface="jax")(x)
    want = jax.jit(qml.QNode(explicit, qml.device("default.mixed", wires=2), interface="jax"))(x)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=1e-10)


def test_pennylane_noise_model_is_applied():
    fcond = qml.noise.op_eq(qml.RX)
    model = qml.NoiseModel({fcond: qml.noise.partial_wires(qml.PhaseFlip, 0.2)})

    def circ():
        qml.Hadamard(0)
        qml.RX(0.3, 0)
        return qml.expval(qml.X(0))

    got = qml.QNode(circ, LretDevice(wires=1, noise_model=model))()
    want = qml.QNode(qml.add_noise(circ, model), qml.device("default.mixed", wires=1))()
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert abs(float(got) - 0.6) < 1e-12  # (1 - 2 * 0.2) <X>, RX leaves |+> alone


def test_state_preparation_first():
    def circ():
        qml.StatePrep(np.array([0.6, 0.0, 0.0, 0.8]), wires=[0, 1])
        qml.BitFlip(0.1, 0)
        return qml.probs(wires=[0, 1])

    got = qml.QNode(circ, LretDevice(wires=2))()
    np.testing.assert_allclose(got, [0.36 * 0.9, 0.64 * 0.1, 0.36 * 0.1, 0.64 * 0.9], atol=1e-12)


def test_finite_shots_sample_counts_expval():
    shots = 4000

    def circ():
        qml.Hadamard(0)
        qml.CNOT([0, 1])
        qml.BitFlip(0.1, 1)
        return (
            qml.sample(wires=[0, 1]),
            qml.counts(wires=[0, 1]),
            qml.expval(qml.Z(0) @ qml.Z(1) + 0.5 * qml.X(0)),
            qml.probs(wires=[1]),
            qml.var(qml.Z(0) @ qml.Z(1)),
        )

    bits, counts, ev, probs, var = qml.set_shots(qml.QNode(circ, LretDevice(wires=2, seed=7)), shots)()
    bits = np.asarray(bits)
    assert bits.shape == (shots, 2) and set(np.unique(bits)) <= {0, 1}
    assert sum(counts.values()) == shots and set(counts) <= {"00", "01", "10", "11"}
    # Exact: <ZZ> = 0.8, <X0> = 0, P(wire 1 = 1) = 0.5, Var(ZZ) = 1 - 0.64. Five sigma bounds.
    sigma = 1 / np.sqrt(shots)
    assert abs(float(ev) - 0.8) < 5 * sigma * 1.2
    assert abs(float(probs[1]) - 0.5) < 5 * sigma
    assert abs(float(var) - 0.36) < 5 * sigma
    # Sample parity agrees with the bit flip rate 0.1 (within five sigma).
    flips = np.mean(bits[:, 0] != bits[:, 1])
    assert abs(flips - 0.1) < 5 * np.sqrt(0.09 / shots)


def test_pennylane_noise_model_with_shots_matches_default_mixed():
    # qml.add_noise's model and finite shots together: counts against default.mixed's exact
    # probabilities of the same noisy circuit (a chi-square test at a fixed seed).
    from stats import chi2_pvalue

    model = qml.NoiseModel({
        qml.noise.op_eq(qml.RX): qml.noise.partial_wires(qml.DepolarizingChannel, 0.1),
        qml.noise.op_eq(qml.CNOT): qml.noise.partial_wires(qml.AmplitudeDamping, 0.2),
    })

    def ops():
        qml.RX(0.7, 0)
        qml.CNOT([0, 1])
        qml.RX(1.1, 1)
        qml.CNOT([1, 2])

    def circ():
        ops()
        return qml.counts(wires=[0, 1, 2])

    def exact():
        ops()
        return qml.probs(wires=[0, 1, 2])

    shots = 5000
    counts = qml.set_shots(qml.QNode(circ, LretDevice(wires=3, seed=11, noise_model=model)), shots)()
    want = np.asarray(qml.QNode(qml.add_noise(exact, model), qml.device("default.mixed", wires=3))())
    assert sum(counts.values()) == shots
    assert chi2_pvalue({int(k, 2): int(v) for k, v in counts.items()}, want) > 1e-3
    analytic = qml.QNode(exact, LretDevice(wires=3, noise_model=model))()
    np.testing.assert_allclose(np.asarray(analytic), want, atol=1e-12)


def test_readout_error_from_lretjax_model():
    model = lretjax.NoiseModel().readout_error(0.1, 0.2)

    def circ():
        qml.PauliX(0)
        return qml.probs(wires=[0, 1])

    got = qml.QNode(circ, LretDevice(wires=2, noise_model=model))()
    # wire 0 is |1>: read 0 with p10 = 0.2; wire 1 is |0>: read 1 with p01 = 0.1.
    np.testing.assert_allclose(got, [0.2 * 0.9, 0.2 * 0.1, 0.8 * 0.9, 0.8 * 0.1], atol=1e-12)


def test_noise_before_measurement_matches_default_mixed_and_terminal_readout_refuses_it():
    # A rule on "measure" (Aer's quantum errors on measure) acts before each qml.measure; a
    # terminal qml.probs has no measure op to act before, so the device refuses the model there.
    model = lretjax.NoiseModel().gate_noise("bit_flip", 0.1, gates="measure")

    def circ(noise):
        qml.RY(0.4, 0)
        if noise:
            qml.BitFlip(0.1, 0)
        m = qml.measure(0)
        qml.cond(m, qml.PauliX)(1)
        return qml.expval(m), qml.expval(qml.Z(1))

    got = qml.QNode(lambda: circ(False), LretDevice(wires=2, noise_model=model))()
    want = qml.QNode(lambda: circ(True), qml.device("default.mixed", wires=3))()
    np.testing.assert_allclose(np.asarray(got, float), np.asarray(want, float), atol=1e-12)

    def terminal():
        qml.RY(0.4, 0)
        return qml.probs(wires=[0])

    with pytest.raises(lretjax.NoiseError, match="before measurement"):
        qml.QNode(terminal, LretDevice(wires=1, noise_model=model))()


def test_truncation_settings_reach_the_simulation():
    def circ():
        for w in range(3):
            qml.Hadamard(w)
            qml.DepolarizingChannel(0.3, w)
        return qml.purity([0, 1, 2])

    exact = qml.QNode(circ, LretDevice(wires=3))()
    capped = qml.QNode(circ, LretDevice(wires=3, max_rank=2))()
    want = qml.QNode(circ, qml.device("default.mixed", wires=3))()
    np.testing.assert_allclose(exact, want, atol=1e-12)
    assert capped < exact - 1e-3  # fewer eigenvalues kept, and the state is not renormalised


def test_clear_errors():
    with pytest.raises(SimulationConfigError, match="max_rank"):
        LretDevice(wires=2, max_rank=0)
    with pytest.raises(SimulationConfigError, match="device_gradient"):
        LretDevice(wires=2, device_gradient="adjoints")
    with pytest.raises(SimulationConfigError, match="noise_model"):
        LretDevice(wires=2, noise_model="depolarizing")

    def sample_without_shots():
        qml.Hadamard(0)
        return qml.sample(wires=[0])

    with pytest.raises(qml.exceptions.DeviceError, match="lretjax.mixed"):
        qml.QNode(sample_without_shots, LretDevice(wires=1))()

    def wrong_wire():
        qml.Hadamard("b")
        return qml.expval(qml.Z("b"))

    with pytest.raises(qml.exceptions.WireError):
        qml.QNode(wrong_wire, LretDevice(wires=["a"]))()

    class Opaque(qml.operation.Operation):
        num_wires = 1

    def opaque():
        Opaque(wires=0)
        return qml.expval(qml.Z(0))

    with pytest.raises(qml.exceptions.DeviceError, match="Opaque"):
        qml.QNode(opaque, LretDevice(wires=1))()


def test_broadcasting_and_numpy_interface():
    def circ(x):
        qml.RX(x, 0)
        qml.DepolarizingChannel(0.1, 0)
        return qml.expval(qml.Z(0))

    x = np.array([0.1, 0.5, 1.0])
    got = qml.QNode(circ, LretDevice(wires=1))(x)  # numpy in, numpy out
    assert isinstance(got, np.ndarray) and got.shape == (3,)
    # Depolarizing p scales the Bloch vector by 1 - 4p/3.
    np.testing.assert_allclose(got, (1 - 0.4 / 3) * np.cos(x), atol=1e-12)


# -- issue 23: backprop with the autograd and torch interfaces (PennyLane's device suite) ----------
# PennyLane's own device tests (pl-device-test --device lretjax.mixed) ran backprop with autograd
# and torch and failed: the device took backprop from JAX only. Each test below is one of those
# failures, on a noisy circuit, against default.mixed's own autograd / torch backprop.


def _interface_tools(interface):
    """(make a trainable vector, to numpy, gradient, jacobian, hessian) for ``interface``."""
    if interface == "torch":
        torch = pytest.importorskip("torch")

        def jac(f, x):
            return torch.autograd.functional.jacobian(f, x).numpy()

        return (
            lambda v: torch.tensor(v, dtype=torch.float64, requires_grad=True),
            lambda y: y.detach().numpy(),
            jac,
            jac,
            lambda f, x: torch.autograd.functional.hessian(f, x).numpy(),
        )
    from pennylane import numpy as pnp

    return (
        lambda v: pnp.array(v, requires_grad=True),
        np.asarray,
        lambda f, x: qml.grad(f)(x),
        lambda f, x: qml.jacobian(f)(x),
        lambda f, x: qml.jacobian(qml.grad(f))(x),
    )


def _noisy_two_wires(x):
    qml.RX(x[0], 0)
    qml.RY(x[1], 1)
    qml.CNOT([0, 1])
    qml.DepolarizingChannel(0.1, 0)
    qml.AmplitudeDamping(0.2, 1)
    qml.CRZ(x[0] * x[1], [1, 0])


# One device for these tests: it keeps the compiled pullbacks of the tape structures it saw.
LRET2 = LretDevice(wires=2)


def _both(qfunc, interface, **kwargs):
    """The same QNode on lretjax.mixed and on default.mixed, backprop through ``interface``."""
    return [qml.QNode(qfunc, dev, interface=interface, diff_method="backprop", **kwargs)
            for dev in (LRET2, qml.device("default.mixed", wires=2))]


INTERFACES = ["autograd", "torch"]


@pytest.mark.parametrize("interface", INTERFACES)
def test_backprop_grad_of_an_expval(interface):  # device suite: test_basic_grad
    make, _, grad, _, _ = _interface_tools(interface)

    def circ(x):
        _noisy_two_wires(x)
        return qml.expval(qml.Z(0) @ qml.X(1) + 0.5 * qml.Y(1))

    ours, theirs = _both(circ, interface)
    got, want = grad(ours, make([0.4, -0.7])), grad(theirs, make([0.4, -0.7]))
    assert np.max(np.abs(np.asarray(want))) > 1e-2
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-10)


@pytest.mark.parametrize("interface", INTERFACES)
def test_backprop_jacobian_of_probs(interface):  # device suite: test_probs
    make, _, _, jac, _ = _interface_tools(interface)

    def circ(x):
        _noisy_two_wires(x)
        return qml.probs(wires=[1, 0])

    ours, theirs = _both(circ, interface)
    got, want = jac(ours, make([0.4, -0.7])), jac(theirs, make([0.4, -0.7]))
    assert np.asarray(want).shape == (4, 2) and np.max(np.abs(np.asarray(want))) > 1e-2
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-10)


@pytest.mark.parametrize("interface", INTERFACES)
def test_backprop_jacobian_of_several_measurements(interface):  # device suite: test_multi_meas
    make, to_numpy, _, jac, _ = _interface_tools(interface)
    stack = (lambda r: __import__("torch").hstack(r)) if interface == "torch" else (
        lambda r: qml.numpy.hstack(r))

    def circ(x):
        _noisy_two_wires(x)
        return qml.expval(qml.X(0)), qml.probs(wires=[1]), qml.density_matrix([0])

    ours, theirs = _both(circ, interface)
    values = ours(make([0.4, -0.7]))
    for g, w in zip(values, theirs(make([0.4, -0.7])), strict=True):  # complex results too
        np.testing.assert_allclose(to_numpy(g), to_numpy(w), atol=1e-12)

    def head(qnode):
        return lambda x: stack(qnode(x)[:2])

    got, want = jac(head(ours), make([0.4, -0.7])), jac(head(theirs), make([0.4, -0.7]))
    assert np.asarray(want).shape == (3, 2)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-10)


@pytest.mark.parametrize("interface", INTERFACES)
def test_backprop_hessian(interface):  # device suite: test_hessian
    make, _, _, _, hessian = _interface_tools(interface)

    def circ(x):
        _noisy_two_wires(x)
        return qml.expval(qml.Z(0) @ qml.X(1) + 0.5 * qml.Y(1))

    ours, theirs = _both(circ, interface, max_diff=2)
    got, want = hessian(ours, make([0.4, -0.7])), hessian(theirs, make([0.4, -0.7]))
    assert np.asarray(want).shape == (2, 2) and np.min(np.abs(np.asarray(want))) > 1e-2
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-9)


def test_interfaces_without_backprop_name_the_one_to_use():
    from pennylane.devices import ExecutionConfig

    from lretjax.errors import ParameterError

    dev = LretDevice(wires=1)
    with pytest.raises(SimulationConfigError, match="interface='jax'"):
        dev.supports_derivatives(ExecutionConfig(gradient_method="backprop", interface="tf"))
    # "best" falls back to PennyLane's parameter-shift instead of failing.
    assert not dev.supports_derivatives(ExecutionConfig(gradient_method="best", interface="tf"))

    def circ(u):
        qml.QubitUnitary(u, 0)
        return qml.expval(qml.Z(0))

    u = qml.numpy.array(np.eye(2, dtype=complex), requires_grad=True)
    with pytest.raises(ParameterError, match="interface='jax'"):
        qml.grad(qml.QNode(circ, dev, diff_method="backprop"))(u)


def test_pennylane_readout_noise_model_matches_default_mixed():
    # A qml.NoiseModel with gate noise (metadata included) and readout noise (meas_map).
    gates = qml.noise.op_eq(qml.PauliX) | qml.noise.op_eq(qml.RY)

    def relax(op, **kw):
        qml.ThermalRelaxationError(0.4, kw["t1"], 0.2, 0.6, op.wires)

    model = qml.NoiseModel(
        {gates: relax},
        meas_map={
            qml.noise.meas_eq(qml.expval) & qml.noise.wires_in([0, 1]): qml.noise.partial_wires(
                qml.PhaseFlip, 0.2),
            qml.noise.meas_eq(qml.probs): qml.noise.partial_wires(qml.BitFlip, 0.15),
        },
        t1=0.5,
    )

    def circ(x):
        qml.RY(x, 0)
        qml.Hadamard(1)
        qml.PauliX(1)
        qml.CNOT([0, 1])
        return qml.expval(qml.X(0)), qml.probs(wires=[0, 1])

    got = qml.QNode(circ, LretDevice(wires=2, noise_model=model))(0.6)
    want = qml.add_noise(qml.QNode(circ, qml.device("default.mixed", wires=2)), model)(0.6)
    noiseless = qml.QNode(circ, qml.device("default.mixed", wires=2))(0.6)
    for g, w, clean in zip(got, want, noiseless, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=1e-12)
        assert np.max(np.abs(np.asarray(w) - np.asarray(clean))) > 1e-2  # the noise did something


# -- issue 24: mid-circuit measurements as lretjax dynamic circuits ----------------------------------


def _feed_forward(x):
    """Teleport RY/RZ(x)|0> from wire 0 to wire 2 through a noisy link, with resets and
    conditions of every form lretjax lowers: one bit, a register ==, !=, several outcomes."""
    qml.RY(x[0], 0)
    qml.RZ(x[1], 0)
    qml.Hadamard(1)
    qml.CNOT([1, 2])
    qml.CNOT([0, 1])
    qml.Hadamard(0)
    qml.DepolarizingChannel(0.05, 1)
    m0 = qml.measure(0)
    m1 = qml.measure(1, reset=True)
    qml.cond(m1, qml.PauliX)(2)
    qml.cond(m0 == 1, qml.PauliZ)(2)
    qml.cond(m0 & ~m1, qml.RY)(x[2], 1)  # one outcome: ==
    qml.cond(m0 | m1, qml.RX)(0.4, 0)  # three of four outcomes: !=
    qml.cond((m0 + m1) == 1, qml.RZ)(x[2], 1)  # two outcomes: two conditioned copies
    qml.Hadamard(1)
    return m0, m1


def mid_circuit_results(x):
    m0, m1 = _feed_forward(x)
    return (
        qml.expval(qml.X(2)),
        qml.density_matrix([2, 1]),
        qml.probs(wires=[0, 1, 2]),
        qml.expval(qml.Y(0)),  # wire 0 is measured, then rotated by the condition
        qml.probs(op=[m0, m1]),
        qml.probs(op=m1),
        qml.expval(m0 + 2 * m1),
        qml.var(m0 * m1),
    )


def test_mid_circuit_measurements_match_default_mixed():
    x = jnp.array([0.7, -0.4, 1.3])
    # No spare wires: the measured bits live on lretjax's own ancillas (default.mixed's
    # defer_measurements needs two more device wires).
    ours = qml.QNode(mid_circuit_results, LretDevice(wires=3), interface="jax")
    # default.mixed cannot jit a doubly controlled RY(traced); its NumPy run is the reference.
    theirs = qml.QNode(mid_circuit_results, qml.device("default.mixed", wires=5))
    got, want = jax.jit(ours)(x), theirs(np.asarray(x))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=1e-10)
    assert abs(float(got[0])) > 0.1 and abs(float(got[3])) > 0.05


def test_measured_wire_is_dephased():
    # Nothing acts on wire 0 after its measurement: lretjax reads the bit from the wire itself,
    # but the measurement still destroys its coherence.
    def circ():
        qml.Hadamard(0)
        qml.CNOT([0, 1])
        qml.RY(0.3, 1)
        m = qml.measure(0)
        qml.cond(m, qml.PauliX)(1)
        return qml.expval(qml.X(0)), qml.density_matrix([0, 1]), qml.expval(m)

    got = qml.QNode(circ, LretDevice(wires=2))()
    want = qml.QNode(circ, qml.device("default.mixed", wires=3))()
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=1e-12)


def test_mid_circuit_backprop_gradient_matches_default_mixed():
    def circ(x):
        qml.RY(x[0], 0)
        qml.CNOT([0, 1])
        qml.AmplitudeDamping(0.1, 1)
        m0 = qml.measure(1, reset=True)
        qml.cond(m0, qml.RX)(x[1], 0)
        qml.RY(x[2], 1)
        qml.CNOT([1, 0])
        return qml.expval(qml.Z(0) @ qml.X(1) + 0.5 * qml.Y(0)), qml.expval(m0)

    def cost(qnode):
        return lambda x: jnp.dot(jnp.stack(qnode(x)), jnp.array([1.0, 0.7]))

    x = jnp.array([0.8, -0.5, 0.9])
    ours = qml.QNode(circ, LretDevice(wires=2), interface="jax", diff_method="backprop")
    theirs = qml.QNode(circ, qml.device("default.mixed", wires=3), interface="jax", diff_method="backprop")
    got, want = jax.jit(jax.grad(cost(ours)))(x), jax.jit(jax.grad(cost(theirs)))(x)
    assert np.min(np.abs(np.asarray(want))) > 1e-2
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-10)


def test_conditioned_channel_runs_natively():
    # default.mixed cannot control a channel; its reference builds the conditioned channel by
    # hand: the measured bit copied to wire 2, then Kraus {|1><1| (x) K_i} + {|0><0| (x) I}.
    def ops():
        qml.RY(1.1, 0)
        qml.Hadamard(1)

    def circ():
        ops()
        m = qml.measure(0)
        qml.cond(m, qml.AmplitudeDamping)(0.6, 1)
        qml.RX(0.5, 0)
        return qml.density_matrix([0, 1]), qml.probs(op=m)

    kraus = qml.AmplitudeDamping.compute_kraus_matrices(0.6)
    p1, p0 = np.diag([0.0, 1.0]), np.diag([1.0, 0.0])

    def reference():
        ops()
        qml.CNOT([0, 2])
        qml.QubitChannel([np.kron(p1, k) for k in kraus] + [np.kron(p0, np.eye(2))], wires=[2, 1])
        qml.RX(0.5, 0)
        return qml.density_matrix([0, 1]), qml.probs(wires=[2])

    got = qml.QNode(circ, LretDevice(wires=2))()
    want = qml.QNode(reference, qml.device("default.mixed", wires=3))()
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=1e-12)


def test_mid_circuit_shots_match_default_mixed():
    from stats import chi2_pvalue

    def sampled():
        m0, m1 = _feed_forward(jnp.array([0.7, -0.4, 1.3]))
        return qml.counts(op=[m0, m1]), qml.sample(wires=[1, 2]), qml.sample(m1), qml.expval(m0)

    def exact():
        m0, m1 = _feed_forward(jnp.array([0.7, -0.4, 1.3]))
        return qml.probs(op=[m0, m1]), qml.probs(wires=[1, 2]), qml.expval(m0)

    shots = 4000
    counts, bits, m1, ev = qml.set_shots(qml.QNode(sampled, LretDevice(wires=3, seed=5)), shots)()
    p_bits, p_wires, mean = qml.QNode(exact, qml.device("default.mixed", wires=5))()
    assert sum(counts.values()) == shots
    assert chi2_pvalue({int(k, 2): int(v) for k, v in counts.items()}, np.asarray(p_bits)) > 1e-3
    bits = np.asarray(bits)
    assert chi2_pvalue(dict(zip(*np.unique(2 * bits[:, 0] + bits[:, 1], return_counts=True), strict=True)),
                       np.asarray(p_wires)) > 1e-3
    assert abs(float(ev) - float(mean)) < 5 * np.sqrt(float(mean) * (1 - float(mean)) / shots)
    assert np.asarray(m1).shape == (shots,)


def test_measured_values_and_wires_come_from_the_same_shots():
    def circ():
        qml.Hadamard(0)
        m = qml.measure(0)
        qml.cond(m, qml.PauliX)(1)
        return qml.sample(m), qml.sample(wires=[1])

    m, wire = qml.set_shots(qml.QNode(circ, LretDevice(wires=2, seed=1)), 200)()
    m, wire = np.asarray(m), np.asarray(wire).reshape(-1)
    assert 0 < m.sum() < 200 and np.array_equal(m, wire)  # copied by the condition, shot by shot


def test_mid_circuit_readout_error_from_lretjax_model():
    # p(read 1 | 0) = 0.1, p(read 0 | 1) = 0.2 on every measurement: the condition sees the bit
    # as read, as on hardware.
    model = lretjax.NoiseModel().readout_error(0.1, 0.2)

    def circ():
        qml.PauliX(0)
        m = qml.measure(0)
        qml.cond(m, qml.PauliX)(1)
        return qml.probs(op=m), qml.probs(wires=[1])

    got = qml.QNode(circ, LretDevice(wires=2, noise_model=model))()
    np.testing.assert_allclose(got[0], [0.2, 0.8], atol=1e-12)
    # wire 1 is |1> when the bit read 1 (0.8); its own readout then reads 1 with 0.8 or 0.1.
    np.testing.assert_allclose(got[1], [1 - 0.66, 0.8 * 0.8 + 0.2 * 0.1], atol=1e-12)


def test_mcm_methods_and_postselection():
    def circ():
        qml.RY(0.8, 0)
        qml.CNOT([0, 1])
        m = qml.measure(0, reset=True)
        qml.cond(m, qml.RX)(0.6, 1)
        qml.Hadamard(0)
        return qml.probs(wires=[0, 1]), qml.expval(m), qml.expval(qml.Y(1))

    want = qml.QNode(circ, qml.device("default.mixed", wires=3))()
    # PennyLane's deferred measurements still run when asked for (with a spare wire).
    for dev, method in ((LretDevice(wires=2), None), (LretDevice(wires=3), "deferred")):
        got = qml.QNode(circ, dev, mcm_method=method)()
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), atol=1e-12)
    with pytest.raises(SimulationConfigError, match="one-shot"):
        qml.set_shots(qml.QNode(circ, LretDevice(wires=2), mcm_method="one-shot"), 10)()

    def postselected():
        qml.Hadamard(0)
        qml.measure(0, postselect=1)
        return qml.expval(qml.Z(0))

    with pytest.raises(lretjax.errors.ClassicalError, match="postselect"):
        qml.QNode(postselected, LretDevice(wires=1))()
