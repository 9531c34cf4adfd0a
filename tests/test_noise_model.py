"""NoiseModel: rules, the apply transform, idle noise, readout error, composition, bad input."""

from __future__ import annotations

import dataclasses
import itertools

import dense
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_noise_channels import reference_evolve

import lretjax
from lretjax import Circuit, NoiseError, expval, probabilities, simulate
from lretjax.noise import NoiseModel, apply_readout, confusion_matrix


def ops_of(circuit):
    return [(op.name, op.wires, tuple(float(p) for p in op.params) if op.kind != "kraus" else "K")
            for op in circuit.ops]


AMP = np.array([[[1, 0], [0, np.sqrt(0.9)]], [[0, np.sqrt(0.1)], [0, 0]]], dtype=complex)


def test_apply_inserts_channels_where_the_rules_say():
    model = (NoiseModel()
             .gate_noise("depolarizing", 0.01, gates=["h", "x"])
             .gate_noise("depolarizing2", 0.02, gates="cx")
             .gate_noise("bit_flip", 0.03, gates="CNOT", wires=[1])            # alias, by wire
             .gate_noise("phase_flip", 0.04, gates="cx", gate_wires=(2, 1))    # one gate instance
             .gate_noise(AMP, gates="rz"))                                     # a Kraus set
    c = Circuit(3).h(0).cx(0, 1).rz(0.5, 2).cx(2, 1).x(1)
    got = ops_of(model.apply(c))
    assert got == [
        ("h", (0,), ()), ("depolarizing", (0,), (0.01,)),
        ("cx", (0, 1), ()), ("depolarizing2", (0, 1), (0.02,)), ("bit_flip", (1,), (0.03,)),
        ("rz", (2,), (0.5,)), ("kraus", (2,), "K"),
        ("cx", (2, 1), ()), ("depolarizing2", (2, 1), (0.02,)), ("bit_flip", (1,), (0.03,)),
        ("phase_flip", (2,), (0.04,)), ("phase_flip", (1,), (0.04,)),
        ("x", (1,), ()), ("depolarizing", (1,), (0.01,)),
    ]


def test_every_gate_rule_and_wide_channels_only_follow_gates_of_their_width():
    model = NoiseModel().gate_noise("amplitude_damping", 0.1).gate_noise("correlated_pauli", 0.1, 0.0, 0.0)
    got = ops_of(model.apply(Circuit(2).h(1).cz(0, 1)))
    assert got == [
        ("h", (1,), ()), ("amplitude_damping", (1,), (0.1,)),
        ("cz", (0, 1), ()), ("amplitude_damping", (0,), (0.1,)), ("amplitude_damping", (1,), (0.1,)),
        ("correlated_pauli", (0, 1), (0.1, 0.0, 0.0)),
    ]


def test_apply_is_pure():
    model = NoiseModel().gate_noise("depolarizing", 0.1)
    c = Circuit(2).h(0).cx(0, 1)
    before = ops_of(c)
    noisy = model.apply(c)
    assert ops_of(c) == before and len(noisy) == 5
    assert ops_of(model.apply(c)) == ops_of(noisy)
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.num_wires = 3
    assert model.gate_noise("bit_flip", 0.1).gate_rules != model.gate_rules


def test_idle_noise_lands_on_wires_untouched_in_each_moment():
    model = NoiseModel().gate_noise("depolarizing", 0.01, gates="cx")
    model = model.idle_noise("phase_damping", 0.05, wires=[0, 2])
    c = Circuit(3).h(0).cx(1, 2).cx(0, 1).h(2)
    # moments: {h0, cx12}, {cx01, h2}: nothing idle; then add a lone gate to leave wires idle
    c = c.x(0)
    got = ops_of(model.apply(c))
    assert got == [
        ("h", (0,), ()), ("cx", (1, 2), ()), ("depolarizing", (1,), (0.01,)), ("depolarizing", (2,), (0.01,)),
        ("cx", (0, 1), ()), ("depolarizing", (0,), (0.01,)), ("depolarizing", (1,), (0.01,)), ("h", (2,), ()),
        ("x", (0,), ()), ("phase_damping", (2,), (0.05,)),
    ]


def test_noisy_circuit_matches_dense_reference():
    model = (NoiseModel()
             .gate_noise("thermal_relaxation", 40.0, 70.0, 2.0, 0.05, gates=["sx", "x", "h"])
             .gate_noise("pauli_channel2", *([0.004] * 15), gates="cz")
             .gate_noise("over_rotation", 0.05, 0.3, gates="sx")
             .idle_noise("generalized_amplitude_damping", 0.01, 0.05))
    c = Circuit(3).h(0).sx(1).cz(0, 1).x(2).cz(1, 2).sx(0).h(2)
    noisy = model.apply(c)
    state = simulate(noisy, max_rank=8)
    rho = reference_evolve(noisy)
    np.testing.assert_allclose(np.asarray(probabilities(state)), np.real(np.diag(rho)), atol=1e-10)
    for pauli in ("ZZI", "XIY", "IZX"):
        assert float(expval(state, pauli)) == pytest.approx(dense.expval(rho, pauli), abs=1e-10)


# -- readout -------------------------------------------------------------------------------------


def readout_reference(p, mats):
    """p'(m) = sum_t p(t) prod_w A_w[t_w, m_w], by brute force over bit strings."""
    k = len(mats)
    out = np.zeros(2**k)
    for t, m in itertools.product(range(2**k), repeat=2):
        tb = [(t >> (k - 1 - w)) & 1 for w in range(k)]
        mb = [(m >> (k - 1 - w)) & 1 for w in range(k)]
        out[m] += p[t] * np.prod([mats[w][tb[w], mb[w]] for w in range(k)])
    return out


def test_readout_probabilities_match_brute_force():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(8))
    model = NoiseModel().readout_error(0.02, 0.07).readout_error(0.1, 0.2, wires=[1])
    a = np.array([[0.98, 0.02], [0.07, 0.93]])
    b = np.array([[0.9, 0.1], [0.2, 0.8]])
    got = np.asarray(model.readout_probabilities(p))
    np.testing.assert_allclose(got, readout_reference(p, [a, b, a]), atol=1e-14)
    # marginal on wires (2, 1): wire 1's own matrix, wire 2 the default
    pm = p.reshape(2, 2, 2).sum(axis=0).T.reshape(-1)  # index (wire 2, wire 1)
    np.testing.assert_allclose(np.asarray(model.readout_probabilities(pm, wires=[2, 1])),
                               readout_reference(pm, [a, b]), atol=1e-14)


def test_readout_samples_follow_the_confusion_matrices():
    model = NoiseModel().readout_error(0.1, 0.3)
    bits = jnp.array([[0, 1]] * 200_000)
    out = np.asarray(model.readout_samples(bits, jax.random.key(0)))
    freq = out.mean(axis=0)  # P(read 1): wire 0 true 0 -> 0.1, wire 1 true 1 -> 0.7
    assert abs(freq[0] - 0.1) < 5 * np.sqrt(0.09 / 2e5)
    assert abs(freq[1] - 0.7) < 5 * np.sqrt(0.21 / 2e5)
    flip = NoiseModel().readout_error(matrix=[[0.0, 1.0], [1.0, 0.0]])
    np.testing.assert_array_equal(np.asarray(flip.readout_samples(bits[:5], jax.random.key(1))), 1 - bits[:5])


def test_readout_gradient_with_respect_to_error_rate():
    p = jnp.array([0.5, 0.2, 0.2, 0.1])

    def f(e):
        return apply_readout(p, jnp.stack([confusion_matrix(e, 0.05)] * 2))[0]

    e0, h = 0.03, 1e-6
    fd = (f(e0 + h) - f(e0 - h)) / (2 * h)
    assert float(jax.grad(f)(e0)) == pytest.approx(float(fd), rel=1e-7)


# -- composition and repr ------------------------------------------------------------------------


def test_composition_concatenates_rules_and_chains_readout():
    a = NoiseModel().gate_noise("depolarizing", 0.01, gates="h").readout_error(0.1, 0.0)
    b = NoiseModel().gate_noise("bit_flip", 0.02).readout_error(0.0, 0.2, wires=[0])
    both = a + b
    assert ops_of(both.apply(Circuit(1).h(0))) == [
        ("h", (0,), ()), ("depolarizing", (0,), (0.01,)), ("bit_flip", (0,), (0.02,))]
    ra, rb = np.array([[0.9, 0.1], [0.0, 1.0]]), np.array([[1.0, 0.0], [0.2, 0.8]])
    np.testing.assert_allclose(np.asarray(both.readout_confusion([0, 1])), [ra @ rb, ra], atol=1e-15)


def test_repr_is_readable():
    model = NoiseModel().gate_noise("depolarizing2", 0.02, gates="cx").idle_noise("phase_damping", 0.001)
    model = model.readout_error(0.02, 0.05, wires=[3])
    assert repr(model) == (
        "NoiseModel()\n"
        "  after cx: depolarizing2(0.02)\n"
        "  idle any wire: phase_damping(0.001)\n"
        "  readout on wire 3: P(1|0)=0.02, P(0|1)=0.05"
    )


# -- traced strengths ------------------------------------------------------------------------------


def test_grad_through_model_apply_and_simulate():
    c = Circuit(2).h(0).cx(0, 1).rx(0.4, 1)

    def noisy(p):
        return (NoiseModel().gate_noise("depolarizing", p, gates="h")
                .gate_noise("thermal_relaxation", 50.0, 80.0, 1.0 + 40 * p, 0.0, gates="cx")).apply(c)

    def f(p):
        return expval(simulate(noisy(p), max_rank=4), "ZZ")

    def f_ref(p):
        return dense.expval(reference_evolve(noisy(p)), "ZZ")

    g = float(jax.grad(f)(0.05))
    if not np.isfinite(g):
        pytest.xfail("jax.grad through truncation (eigh) is not yet safe; tracked by the gradients work")
    h = 1e-5
    assert g == pytest.approx((f_ref(0.05 + h) - f_ref(0.05 - h)) / (2 * h), rel=1e-6)


# -- bad input --------------------------------------------------------------------------------------


def test_rule_naming_an_unknown_gate_is_refused():
    with pytest.raises(NoiseError, match="names gate 'foo', which does not exist"):
        NoiseModel().gate_noise("depolarizing", 0.1, gates=["h", "foo"])


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: m.gate_noise("depolarising", 0.1), "unknown channel 'depolarising'"),
        (lambda m: m.gate_noise("depolarizing", 0.1, 0.2), "takes 1 parameter"),
        (lambda m: m.gate_noise("depolarizing", 1.5), r"parameter 0 = 1.5 is outside \[0, 1\]"),
        (lambda m: m.gate_noise("pauli_channel", 0.5, 0.5, 0.5), "sum to 1.5 > 1"),
        (lambda m: m.gate_noise("thermal_relaxation", 10.0, 30.0, 1.0, 0.0), "T2=30 > 2\\*T1=20"),
        (lambda m: m.gate_noise("depolarizing2", 0.1, gates="h"), "cannot follow the 1-wire gate 'h'"),
        (lambda m: m.gate_noise("bit_flip", 0.1, gates="cx", gate_wires=(0,)), "do not fit the 2-wire gate"),
        (lambda m: m.gate_noise([[1, 0], [0, 0.5]]), "not trace-preserving"),
        (lambda m: m.idle_noise("depolarizing2", 0.1), "one-wire channel"),
        (lambda m: m.readout_error(matrix=[[0.9, 0.2], [0.1, 0.9]]), "must sum to 1"),
        (lambda m: m.readout_error(1.2, 0.0), r"p01 = 1.2 is outside \[0, 1\]"),
        (lambda m: m.gate_noise("bit_flip", 0.1, wires=[-1]), "not a wire"),
    ],
)
def test_bad_rules_raise_noise_error(call, message):
    with pytest.raises(NoiseError, match=message):
        call(NoiseModel())


def test_qubit_count_mismatch_is_refused():
    model = dataclasses.replace(NoiseModel(), num_wires=5, source="fake_device")
    msg = r"noise model is for 5 qubits \(fake_device\) but the circuit has 3"
    with pytest.raises(NoiseError, match=msg):
        model.apply(Circuit(3).h(0))
    with pytest.raises(NoiseError, match="expects a lretjax.Circuit"):
        model.apply("h 0")


def test_lretjax_import_does_not_load_qiskit():
    import subprocess
    import sys

    code = "import lretjax, lretjax.noise, sys; print(any(m.startswith('qiskit') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert lretjax.NoiseError is NoiseError


def test_grad_at_zero_strength_through_simulate():
    def f(p):
        return expval(simulate(Circuit(1).ry(0.3, 0).depolarizing(p, 0), max_rank=4), "Z")

    # <Z> = (1 - 4p/3) cos(0.3)
    assert float(jax.grad(f)(1e-12)) == pytest.approx(-4 * np.cos(0.3) / 3, rel=1e-9)
    assert float(jax.grad(f)(0.0)) == pytest.approx(-4 * np.cos(0.3) / 3, rel=1e-9)
