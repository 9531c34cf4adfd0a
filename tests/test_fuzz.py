"""Fuzzing: every random input either works (and keeps the invariants) or raises an lretjax error.

Circuits, settings, noise models, observables and mutated OpenQASM files, drawn by hypothesis.
An input the API accepts must simulate to a state whose trace is 1 - discarded, whose
probabilities are non-negative, and which is within ``discarded`` of the dense reference
(tests/dense.py); an input it refuses must be refused with an ``lretjax.errors`` exception
before any number is computed. Anything else (TypeError, IndexError, a JAX traceback, NaN) fails.
Bounded for CI (a few seconds each); ``LRETJAX_FUZZ_EXAMPLES`` raises the counts for a long run.
"""

import os
import pathlib

import dense
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import lretjax
from lretjax import Circuit, NoiseModel, simulate
from lretjax.errors import LretError, NumericalError
from lretjax.gates import ALIASES, GATES
from lretjax.noise.channels import CHANNELS

EXAMPLES = int(os.environ.get("LRETJAX_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=EXAMPLES or 25, deadline=None, derandomize=not EXAMPLES,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_WIRES = 3
NAMES = sorted(GATES) + sorted(CHANNELS) + sorted(ALIASES)[:10] + ["", "hh", "CX ", "rx2", "kraus", "measure"]

finite = st.floats(-7, 7, allow_nan=False, allow_infinity=False)
weird_numbers = st.sampled_from([np.nan, np.inf, -np.inf, 1e308, -1e-320, 1.5, -0.5, 2.0])
junk = st.sampled_from([None, "x", "0.1", 1j, [0.1], (), {}, True, object()])
prob = st.floats(0, 1, allow_nan=False)


def params_for(name):
    spec = GATES.get(name) or CHANNELS.get(name)
    count = spec.num_params if spec else 1
    value = prob if name in CHANNELS else finite
    good = st.lists(value, min_size=count, max_size=count)
    bad = st.lists(st.one_of(value, weird_numbers, junk), min_size=max(count - 1, 0), max_size=count + 1)
    return st.one_of(good, good, bad)


def wires_for(name, n):
    spec = GATES.get(name) or CHANNELS.get(name)
    k = spec.num_wires if spec else 1
    good = (st.lists(st.integers(0, n - 1), min_size=k, max_size=k, unique=True) if k <= n
            else st.lists(st.integers(0, n - 1), min_size=k, max_size=k))
    bad = st.lists(st.one_of(st.integers(-2, n + 1), junk, st.floats(0, 2)), min_size=0, max_size=k + 1)
    return st.one_of(good, good, good, bad, st.integers(-1, n))


@st.composite
def op_specs(draw, n):
    kind = draw(st.sampled_from(["named"] * 8 + ["unitary", "kraus"]))
    if kind == "named":
        name = draw(st.sampled_from(NAMES))
        return ("add", name, draw(wires_for(name, n)), tuple(draw(params_for(name))))
    k = draw(st.integers(1, min(n, 2)))
    wires = draw(st.one_of(st.lists(st.integers(0, n - 1), min_size=k, max_size=k, unique=True),
                           wires_for("h", n)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    mutation = draw(st.sampled_from(["none", "none", "scale", "nan", "shape", "ragged"]))
    if kind == "unitary":
        m = dense.random_unitary(rng, 2**k)
    else:
        m = dense.random_kraus(rng, 2**k, draw(st.integers(1, 3)))
    if mutation == "scale":
        m = m * 1.01
    elif mutation == "nan":
        m = m.copy()
        m.flat[0] = np.nan
    elif mutation == "shape":
        m = m[..., :-1]
    elif mutation == "ragged":
        m = [list(row) for row in m.reshape(-1, m.shape[-1])][:-1]
    return (kind, None, wires, m)


@st.composite
def circuits(draw):
    n = draw(st.integers(1, MAX_WIRES))
    specs = draw(st.lists(op_specs(n), max_size=7))
    return n, specs


def build(n, specs):
    """Apply each spec; one the API refuses must be refused with an LretError (and is skipped)."""
    c = Circuit(n)
    for kind, name, wires, payload in specs:
        try:
            if kind == "add":
                c = c.add(name, wires, *payload)
            elif kind == "unitary":
                c = c.unitary(payload, wires)
            else:
                c = c.kraus(payload, wires)
        except LretError:
            pass
    return c


def check_state(c, state):
    n = c.num_wires
    trace, disc = float(state.trace()), float(state.discarded)
    assert np.isfinite(trace) and -1e-12 <= disc <= 1 + 1e-12
    assert abs(trace - (1 - disc)) < 1e-9
    p = np.asarray(lretjax.probabilities(state))
    assert np.all(p >= -1e-12) and abs(p.sum() - trace) < 1e-9
    if all(op.kind != "channel" or op.name in dense.CHANNELS for op in c.ops):
        rho = np.asarray(lretjax.to_density_matrix(state))
        assert dense.trace_distance(rho, dense.evolve(c)) <= disc + 1e-9
    assert int(state.rank) <= 2**n


settings_values = st.one_of(
    st.tuples(st.integers(1, 8), st.sampled_from([0.0, 1e-9, 1e-3, 0.2])),
    st.tuples(st.one_of(st.integers(-2, 3), junk, st.floats(0, 4)), st.one_of(prob, weird_numbers, junk)),
)


@FUZZ
@given(circuits(), settings_values)
def test_random_circuits_simulate_or_raise_lret_errors(spec, knobs):
    n, specs = spec
    c = build(n, specs)
    max_rank, epsilon = knobs
    try:
        state = simulate(c, max_rank=max_rank, epsilon=epsilon)
    except NumericalError as e:  # a circuit the API accepted must stay healthy
        pytest.fail(f"health check failed on an accepted circuit: {e}")
    except LretError:
        return
    check_state(c, state)


@settings(FUZZ, max_examples=EXAMPLES or 12)
@given(circuits(), st.data())
def test_random_noise_models_apply_or_raise(spec, data):
    n, specs = spec
    c = build(n, specs)
    channel = data.draw(st.sampled_from(sorted(CHANNELS) + ["nope", "", "kraus"]))
    params = data.draw(params_for(channel))
    gates = data.draw(st.one_of(st.none(), st.sampled_from(sorted(GATES)), st.lists(st.sampled_from(NAMES),
                                                                                    max_size=3), junk))
    wires = data.draw(st.one_of(st.none(), st.lists(st.integers(-1, n), max_size=3), junk))
    try:
        model = NoiseModel().gate_noise(channel, *params, gates=gates, wires=wires)
        noisy = model.apply(c)
    except LretError:
        return
    assume(len(noisy.ops) <= 25)
    try:
        state = simulate(noisy, max_rank=16)
    except NumericalError as e:
        pytest.fail(f"health check failed on an accepted noise model: {e}")
    check_state(noisy, state)


pauli_text = st.text(st.sampled_from(list("IXYZ") * 4 + list("xyz 0123*+-a")), max_size=6)
coeff = st.one_of(finite, st.sampled_from([1e308, -1e-320, 0.0, 2, np.nan, np.inf, "x", None, 1j]))
observables = st.one_of(
    pauli_text,
    st.dictionaries(pauli_text, coeff, max_size=3),
    st.lists(st.tuples(coeff, pauli_text), max_size=3),
    st.lists(st.tuples(pauli_text, coeff), max_size=3),
    junk,
    st.integers(),
)


@pytest.fixture(scope="module")
def states():
    return {n: simulate(Circuit(n).h(0).ry(0.4, n - 1).depolarizing(0.1, 0)) for n in range(1, MAX_WIRES + 1)}


@FUZZ
@given(st.integers(1, MAX_WIRES), observables)
def test_random_observables_evaluate_or_raise(states, n, obs):
    state = states[n]
    try:
        value = float(lretjax.expval(state, obs))
    except LretError:
        return
    assert np.isfinite(value), f"expval({obs!r}) = {value} was accepted"
    rho = np.asarray(lretjax.to_density_matrix(state))
    if isinstance(obs, str) and len(obs) == n and set(obs) <= set("IXYZ"):
        assert abs(value - dense.expval(rho, obs)) < 1e-10


# -- OpenQASM 2: mutations of real programs (test_qasm2.py fuzzes random text) ---------------------

QASM = [p.read_text() for p in sorted((pathlib.Path(__file__).parent / "data" / "qasm").glob("*.qasm"))]
QASM.append('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[3];\ncreg c[3];\n'
            "gate g(a) x, y { rz(a/2) x; cx x, y; u3(pi, -a, 0.5) y; }\n"
            "h q; g(pi/3) q[0], q[2]; barrier q; measure q -> c;\n")


@st.composite
def mutated_qasm(draw):
    text = draw(st.sampled_from(QASM))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["delete", "insert", "replace", "duplicate"]))
        piece = draw(st.sampled_from(list(";,()[]{}q0123456789.-+*/^\"pi ") + ["\n", "->", "gate", "qreg",
                                                                             "include", "if(", "\x00", "é"]))
        j = min(len(text), i + draw(st.integers(1, 12)))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + piece + text[i:]
        elif op == "replace":
            text = text[:i] + piece + text[j:]
        else:
            text = text[:j] + text[i:j] + text[j:]
    return text


@FUZZ
@given(mutated_qasm())
def test_mutated_qasm_parses_or_raises_qasm_errors(text):
    from lretjax.io import qasm2

    try:
        c = qasm2.loads(text)
    except LretError:
        return
    assert isinstance(c, Circuit)
    if c.num_wires <= 6 and not c.parameters:
        s = simulate(c, max_rank=4)
        assert abs(float(s.trace()) - (1 - float(s.discarded))) < 1e-9


# -- findings kept as cases -------------------------------------------------------------------------


@pytest.mark.parametrize("obs", [{"Z": np.nan}, [(np.inf, "Z")]])
def test_non_finite_coefficients_are_refused(states, obs):
    try:
        value = float(lretjax.expval(states[1], obs))
    except LretError:
        return
    raise AssertionError(f"expval({obs!r}) returned {value}")


@pytest.mark.parametrize("method", ["unitary", "kraus"])
def test_nested_wires_of_a_user_matrix(method):
    m = np.eye(2) if method == "unitary" else np.eye(2)[None]
    with pytest.raises(LretError):
        getattr(Circuit(2), method)(m, [0, [0.1]])


@pytest.mark.parametrize("gates", [1j, 3, True])
def test_gate_names_that_are_not_iterable(gates):
    with pytest.raises(LretError):
        NoiseModel().gate_noise("depolarizing", 0.1, gates=gates)


@pytest.mark.parametrize("obs", [{"Z": "x"}, {"Z": None}, [("0-", "x")], [("01", "Z")]])
def test_non_numeric_coefficients_are_refused(states, obs):
    with pytest.raises(LretError):
        lretjax.expval(states[1], obs)
