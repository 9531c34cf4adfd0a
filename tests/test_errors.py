"""Bad input gets a typed error from lretjax.errors that names the culprit, before any tracing."""

import math
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lretjax
from lretjax import (
    Circuit,
    CircuitError,
    NoiseError,
    NotUnitaryError,
    ObservableError,
    Param,
    ParameterError,
    ResourceError,
    SimulationConfigError,
    dense_observable,
    expval,
    probabilities,
    sample,
    simulate,
)


def test_error_family():
    for e in (CircuitError, ParameterError, NotUnitaryError, NoiseError, ObservableError, ResourceError,
              SimulationConfigError, lretjax.QasmError):
        assert issubclass(e, lretjax.LretError)
    assert issubclass(ParameterError, CircuitError) and issubclass(NotUnitaryError, CircuitError)


# -- circuits -------------------------------------------------------------------------------------


def test_unknown_gate():
    with pytest.raises(CircuitError, match=r"unknown gate 'frobnicate'.*known gates: .*cx"):
        Circuit(2).add("frobnicate", [0])


@pytest.mark.parametrize("build,culprit", [
    (lambda c: c.h(5), r"wire 5 is out of range .*3 wires"),
    (lambda c: c.h(-1), r"wire -1 is out of range"),
    (lambda c: c.cx(0, 3), r"cx\[0, 3\].*wire 3 is out of range"),
    (lambda c: c.add("ccx", [0, 1, 7]), r"wire 7"),
    (lambda c: c.h(1.0), r"wire 1.0 is not an integer"),
    (lambda c: c.h(True), r"wire True is not an integer"),
    (lambda c: c.add("cx", [0]), r"cx\[0\]: acts on 2 wire\(s\), got 1"),
    (lambda c: c.depolarizing(0.1, 9), r"depolarizing\[9\].*wire 9"),
])
def test_wire_errors(build, culprit):
    with pytest.raises(CircuitError, match=culprit):
        build(Circuit(3))


@pytest.mark.parametrize("build", [
    lambda c: c.cx(1, 1),
    lambda c: c.add("ccx", [0, 2, 0]),
    lambda c: c.depolarizing2(0.1, 2, 2),
])
def test_repeated_wire(build):
    with pytest.raises(CircuitError, match=r"repeated wire"):
        build(Circuit(3))


@pytest.mark.parametrize("build,culprit", [
    (lambda c: c.add("rx", [0]), r"rx\[0\]: takes 1 parameter\(s\), got 0"),
    (lambda c: c.add("h", [0], 0.3), r"h\[0\]: takes 0 parameter\(s\), got 1"),
    (lambda c: c.add("u3", [0], 0.1, 0.2), r"u3\[0\]: takes 3 parameter\(s\), got 2"),
    (lambda c: c.rx(0), r"rx: expected 1 parameter\(s\) then 1 wire\(s\)"),
    (lambda c: c.crx(0.1, 0), r"crx: expected 1 parameter\(s\) then 2 wire\(s\)"),
    (lambda c: c.depolarizing(0), r"depolarizing: expected 1 parameter"),
])
def test_wrong_parameter_count(build, culprit):
    with pytest.raises(CircuitError, match=culprit):
        build(Circuit(2))


@pytest.mark.parametrize("value,culprit", [
    ("theta", r"rx\[1\]: parameter 0 is a string 'theta'; use lretjax.Param"),
    (float("nan"), r"rx\[1\]: parameter 0 is not finite: nan"),
    (jnp.nan, r"rx\[1\]: parameter 0 is not finite"),
    (math.inf, r"rx\[1\]: parameter 0 is not finite"),
    (1 + 2j, r"rx\[1\]: parameter 0 must be real"),
    (np.array([0.1, 0.2]), r"rx\[1\]: parameter 0 must be a real scalar"),
    (None, r"rx\[1\]: parameter 0"),
])
def test_bad_parameter_values(value, culprit):
    with pytest.raises(CircuitError, match=culprit):
        Circuit(2).rx(value, 1)


def test_non_unitary_matrix():
    with pytest.raises(NotUnitaryError, match=r"not unitary, max \|U\^dagger U - I\| = 1"):
        Circuit(2).unitary([[1, 1], [0, 1]], 0)
    with pytest.raises(NotUnitaryError, match=r"dimension 3"):
        Circuit(2).unitary(np.eye(3), [0])
    with pytest.raises(NotUnitaryError, match=r"square"):
        Circuit(2).unitary(np.eye(2, 4), [0])
    with pytest.raises(NotUnitaryError, match=r"NaN"):
        Circuit(2).unitary([[np.nan, 0], [0, 1]], [0])
    with pytest.raises(CircuitError, match=r"acts on 1 wire\(s\), got 2"):
        Circuit(2).unitary(np.eye(2), [0, 1])


def test_non_trace_preserving_kraus():
    with pytest.raises(NoiseError, match=r"not trace-preserving.*0\.75"):
        Circuit(2).kraus([0.5 * np.eye(2)], 0)
    with pytest.raises(NoiseError, match=r"not trace-preserving"):
        Circuit(2).kraus([np.eye(2), np.eye(2)], [1])
    with pytest.raises(NoiseError, match=r"power of two"):
        Circuit(2).kraus([np.eye(3)], [0])
    with pytest.raises(NoiseError, match=r"NaN"):
        Circuit(2).kraus([[[np.nan, 0], [0, 1]]], [0])


@pytest.mark.parametrize("build", [
    lambda c: c.depolarizing(1.5, 0),
    lambda c: c.amplitude_damping(-0.1, 0),
])
def test_channel_probability_out_of_range_is_noise_error(build):
    with pytest.raises(NoiseError, match=r"outside \[0, 1\]"):
        build(Circuit(2))


@pytest.mark.parametrize("build,culprit", [
    (lambda c: c.depolarizing(1.5, 0), r"depolarizing\[0\]: parameter 0 = 1.5 is outside \[0, 1\]"),
    (lambda c: c.amplitude_damping(-0.1, 1), r"amplitude_damping\[1\]: parameter 0 = -0.1 is outside"),
    (lambda c: c.depolarizing2(2.0, 0, 1), r"depolarizing2\[0, 1\].*2 is outside"),
    (lambda c: c.depolarizing(Param("p"), 0), r"depolarizing\[0\]: channel strengths must be numbers"),
])
def test_channel_probability_out_of_range_names_the_channel(build, culprit):
    with pytest.raises(lretjax.LretError, match=culprit):
        build(Circuit(2))


# -- simulation settings --------------------------------------------------------------------------


@pytest.mark.parametrize("max_rank,culprit", [
    (0, r"max_rank must be at least 1, got 0"),
    (-3, r"max_rank must be at least 1, got -3"),
    (2.5, r"max_rank must be a positive integer, got 2.5"),
    ("8", r"max_rank must be a positive integer, got '8'"),
    (True, r"max_rank must be a positive integer, got True"),
])
def test_bad_max_rank(max_rank, culprit):
    with pytest.raises(SimulationConfigError, match=culprit):
        simulate(Circuit(2).h(0), max_rank=max_rank)


@pytest.mark.parametrize("epsilon", [-0.1, 1.0, 2.0, float("nan")])
def test_bad_epsilon(epsilon):
    with pytest.raises(SimulationConfigError, match=r"epsilon must lie in \[0, 1\)"):
        simulate(Circuit(2).h(0), epsilon=epsilon)


@pytest.mark.parametrize("epsilon", ["abc", None])
def test_non_numeric_epsilon(epsilon):
    with pytest.raises(SimulationConfigError, match=r"epsilon"):
        simulate(Circuit(2).h(0), epsilon=epsilon)


def test_unbound_parameters():
    c = Circuit(2).rx(Param("theta"), 0).ry(Param("phi") * 2, 1)
    with pytest.raises(ParameterError, match=r"unbound parameters \['theta', 'phi'\]"):
        simulate(c)
    with pytest.raises(ParameterError, match=r"unbound"):
        jax.jit(lambda: simulate(c).L)()


def test_bind_errors():
    c = Circuit(2).rx(Param("theta"), 0).ry(Param("phi"), 1)
    with pytest.raises(ParameterError, match=r"2 parameter\(s\) \['theta', 'phi'\], got 3"):
        c.bind([0.1, 0.2, 0.3])
    with pytest.raises(ParameterError, match=r"got 1 value"):
        simulate(c, [0.1])
    with pytest.raises(ParameterError, match=r"1-D vector .* shape \(2, 2\).*vmap"):
        c.bind(np.zeros((2, 2)))
    with pytest.raises(ParameterError, match=r"unknown parameter names \['psi'\]"):
        c.bind({"theta": 0.1, "phi": 0.2, "psi": 0.3})
    with pytest.raises(ParameterError, match=r"missing values for \['phi'\]"):
        c.bind({"theta": 0.1})


def test_bad_initial_state():
    with pytest.raises(CircuitError, match=r"length 2\^2 = 4.*shape \(3,\)"):
        simulate(Circuit(2).h(0), initial_state=np.ones(3))
    with pytest.raises(CircuitError, match=r"trace 4"):
        simulate(Circuit(2).h(0), initial_state=np.ones(4))
    with pytest.raises(CircuitError, match=r"3 wires, the circuit has 2"):
        simulate(Circuit(2).h(0), initial_state=simulate(Circuit(3)))


def test_simulate_rejects_non_circuit():
    with pytest.raises(CircuitError, match=r"expects a lretjax.Circuit, got list"):
        simulate([("h", [0])])


# -- resources ------------------------------------------------------------------------------------


def test_resource_error_before_allocating(monkeypatch):
    # Allocating the 16 TiB state for real could wake the OOM killer on an overcommitting host,
    # so the allocation itself is made to fail loudly: check_fits must come first.
    def no_alloc(*args, **kwargs):
        raise AssertionError("simulate allocated the state before checking that it fits")

    mod = sys.modules["lretjax.simulate"]
    monkeypatch.setattr(mod, "zero_state", no_alloc)
    with pytest.raises(ResourceError, match=r"40 wires"):
        simulate(Circuit(40).h(0), max_rank=4)


def test_check_fits_names_wires_and_rank():
    from lretjax.resources import check_fits

    with pytest.raises(ResourceError, match=r"40 wires at max_rank=64.*Lower max_rank"):
        check_fits(40, 64, 4, np.complex128)


def test_dense_outputs_refuse_large_states():
    from lretjax.reference import simulate_dense

    with pytest.raises(ResourceError, match=r"limited to 12 wires.*has 20"):
        simulate_dense(Circuit(20).h(0))


# -- observables and results ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def state():
    return simulate(Circuit(3).h(0).cx(0, 1))


@pytest.mark.parametrize("obs,culprit", [
    ("ZZ", r"'ZZ' has 2 letters but the state has 3 wires"),
    ("ZZZZ", r"4 letters"),
    ("ZQZ", r"letters \['Q'\] outside I, X, Y, Z"),
    ("Z7", r"names wire 7, but the state has 3 wires"),
    ("Z0 X0", r"names wire 0 twice"),
    ("Q1", r"cannot read 'Q1'"),
    ({"ZZI": 1.0, "ZAZ": 2.0}, r"'ZAZ'.*\['A'\]"),
    ([(1.0, "ZZ")], r"2 letters"),
    ({"ZZI": 1j}, r"coefficient 1j is complex"),
    ({}, r"empty observable"),
    (3.0, r"cannot read observable 3.0"),
    (dense_observable(np.eye(2), [5]), r"wire 5 out of range for 3 wires"),
])
def test_bad_observables(state, obs, culprit):
    with pytest.raises(ObservableError, match=culprit):
        expval(state, obs)


def test_pauli_sum_coefficient_count(state):
    with pytest.raises(ObservableError, match=r"2 Pauli strings.*coefficient"):
        expval(state, lretjax.PauliSum(("ZZI", "IZZ"), jnp.ones(1)))


def test_bad_dense_observable():
    with pytest.raises(ObservableError, match=r"wires \[0, 1\] must be 4x4, got \(2, 2\)"):
        dense_observable(np.eye(2), [0, 1])
    with pytest.raises(ObservableError, match=r"not Hermitian"):
        dense_observable([[0, 1j], [1j, 0]], [0])
    with pytest.raises(ObservableError, match=r"names a wire twice"):
        dense_observable(np.eye(4), [1, 1])


def test_bad_result_arguments(state):
    with pytest.raises(CircuitError, match=r"wire 3 out of range for a state of 3 wires"):
        probabilities(state, [0, 3])
    with pytest.raises(CircuitError, match=r"repeated wire"):
        probabilities(state, [1, 1])
    with pytest.raises(CircuitError, match=r"shots must be a positive integer, got 0"):
        sample(state, 0, jax.random.PRNGKey(0))
    with pytest.raises(CircuitError, match=r"shots must be a positive integer, got 2.5"):
        sample(state, 2.5, jax.random.PRNGKey(0))
    with pytest.raises(ObservableError, match=r"length 8, got shape \(4,\)"):
        lretjax.fidelity(state, np.ones(4))
    with pytest.raises(CircuitError, match=r"3 and 2 wires"):
        lretjax.fidelity(state, simulate(Circuit(2)))
