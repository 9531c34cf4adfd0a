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
