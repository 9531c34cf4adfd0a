"""lretjax.cirq.Simulator against cirq.DensityMatrixSimulator (complex128) on twenty random noisy
circuits: expectation values and final density matrices to 1e-9 over parameter sweeps, and
samples (invert masks, confusion maps, mid-circuit measurements) by a chi-square test against the
exact outcome probabilities, which Cirq computes. Noise arrives every way Cirq offers: a noise
model on the simulator, ``circuit.with_noise``, and channels in the circuit (the standard ones,
``cirq.MixedUnitaryChannel``, ``cirq.KrausChannel``, reset).
"""

from __future__ import annotations

import numpy as np
import pytest

cirq = pytest.importorskip("cirq")
sympy = pytest.importorskip("sympy")
pytest.importorskip("scipy.stats")
from stats import chi2_pvalue  # noqa: E402

from lretjax.cirq import LowRankTrialResult, Simulator  # noqa: E402
from lretjax.errors import (  # noqa: E402
    CircuitError,
    NoiseError,
    ObservableError,
    ParameterError,
    SimulationConfigError,
)

SEED = 4242
SHOTS = 3000
NUM = 20
T = sympy.Symbol("t")
SWEEP = cirq.Points("t", [-0.7, 0.4, 1.9])
# Every circuit here compiles afresh, and dense rho is the cheaper compile from 3 qubits on; the
# low-rank factor is exercised on the 2-qubit circuits.
REPRESENTATION = {2: "low-rank", 3: "dense", 4: "dense"}


class _Relaxation(cirq.NoiseModel):
    """Amplitude damping on the qubits of every operation, after it (a per-operation model)."""

    def __init__(self, gamma: float):
        self.gamma = gamma

    def noisy_operation(self, operation):
        if cirq.is_measurement(operation):
            return operation
        return [operation, cirq.amplitude_damp(self.gamma).on_each(*operation.qubits)]


def _random_channel(rng, k: int):
    """A random CPTP map on one qubit: a Kraus set from a random isometry."""
    m = rng.normal(size=(2 * k, 2)) + 1j * rng.normal(size=(2 * k, 2))
    q, _ = np.linalg.qr(m)
    return cirq.KrausChannel([q[2 * i:2 * i + 2] for i in range(k)])


def _random_circuit(rng, n: int, depth: int):
    qs = cirq.LineQubit.range(n)
    one = [cirq.H, cirq.X, cirq.Y, cirq.Z, cirq.S, cirq.T, cirq.S**-1, cirq.X**0.5, cirq.Y**0.3,
           cirq.PhasedXPowGate(phase_exponent=0.2, exponent=0.7)]
    two = [cirq.CNOT, cirq.CZ, cirq.SWAP, cirq.ISWAP, cirq.CZ**0.4, cirq.FSimGate(0.3, 0.8), cirq.XX**0.3]
    channels = [
        lambda: cirq.depolarize(float(rng.uniform(0.01, 0.1))),
        lambda: cirq.amplitude_damp(float(rng.uniform(0.01, 0.2))),
        lambda: cirq.phase_damp(float(rng.uniform(0.01, 0.2))),
        lambda: cirq.bit_flip(float(rng.uniform(0.01, 0.1))),
        lambda: cirq.phase_flip(float(rng.uniform(0.01, 0.1))),
        lambda: cirq.asymmetric_depolarize(0.02, 0.03, 0.04),
        lambda: cirq.generalized_amplitude_damp(0.3, float(rng.uniform(0.01, 0.2))),
        lambda: cirq.MixedUnitaryChannel([(0.8, np.eye(2)), (0.2, cirq.unitary(cirq.Y**0.5))]),
        lambda: _random_channel(rng, 2),
        lambda: cirq.ResetChannel(),
    ]
    ops = [cirq.ry(float(rng.uniform(0, np.pi))).on(q) for q in qs]
    swept = 0
    for _ in range(depth):
        kind = rng.choice(["one", "rot", "two", "three", "channel", "channel2"],
                          p=[.2, .2, .25, .05, .25, .05])
        picks = [qs[int(i)] for i in rng.choice(n, min(n, 3), replace=False)]
        if kind == "one":
            ops.append(one[int(rng.integers(len(one)))].on(picks[0]))
        elif kind == "rot":
            rot = [cirq.rx, cirq.ry, cirq.rz][int(rng.integers(3))]
            angle = 0.8 * T + 0.1 if swept < 2 else float(rng.uniform(-3, 3))
            swept += 1
            ops.append(rot(angle).on(picks[0]))
        elif kind == "two" or (kind == "three" and n < 3):
            ops.append(two[int(rng.integers(len(two)))].on(*picks[:2]))
        elif kind == "three":
            ops.append((cirq.CCX if rng.random() < 0.5 else cirq.CSWAP).on(*picks[:3]))
        elif kind == "channel":
            ops.append(channels[int(rng.integers(len(channels)))]().on(picks[0]))
        else:
            ops.append(cirq.depolarize(float(rng.uniform(0.01, 0.1)), n_qubits=2).on(*picks[:2]))
    return cirq.Circuit(ops), qs


def _noise(rng, case: int):
    """The simulator noise and circuit transform of a case, cycling through Cirq's ways."""
    way = case % 4
    if way == 0:
        return cirq.depolarize(float(rng.uniform(0.005, 0.03))), None  # a channel after every moment
    if way == 1:
        return _Relaxation(float(rng.uniform(0.01, 0.05))), None
    if way == 2:
        return None, cirq.phase_damp(float(rng.uniform(0.01, 0.05)))  # circuit.with_noise
    return cirq.ConstantQubitNoiseModel(cirq.bit_flip(0.01)), cirq.amplitude_damp(0.02)


def _observables(rng, qs, k: int = 3):
    out = []
    for _ in range(k):
        terms = []
        for _ in range(2):
            paulis = {q: [cirq.X, cirq.Y, cirq.Z][int(rng.integers(3))] for q in qs if rng.random() < 0.7}
            terms.append(float(rng.uniform(-1, 1)) * cirq.PauliString(paulis))
        out.append(sum(terms[1:], terms[0]))
    return out


def _cases():
    rng = np.random.default_rng(SEED)
    cases = []
    for case in range(NUM):
        n = 2 + case % 3
        circuit, qs = _random_circuit(rng, n, 8 + n)
        noise, transform = _noise(rng, case)
        if transform is not None:
            circuit = circuit.with_noise(transform)
        cases.append((circuit, qs, noise, _observables(rng, qs)))
    return cases


CASES = _cases()


def _reference(noise):
    return cirq.DensityMatrixSimulator(noise=noise, dtype=np.complex128, seed=1)


def _confuse(probs: np.ndarray, n: int, maps) -> np.ndarray:
    """Probabilities over n bits (first bit high) after (bit indices, confusion matrix) maps."""
    t = probs.reshape((2,) * n)
    for idx, m in maps:
        t = np.moveaxis(t, list(idx), list(range(len(idx))))
        shape = t.shape
        t = (m.T @ t.reshape(2 ** len(idx), -1)).reshape(shape)
        t = np.moveaxis(t, list(range(len(idx))), list(idx))
    return t.reshape(-1)


@pytest.mark.parametrize("case", range(NUM))
def test_against_density_matrix_simulator(case):
    circuit, qs, noise, obs = CASES[case]
    n = len(qs)
    ours = Simulator(noise=noise, seed=SEED + case, max_rank=None, representation=REPRESENTATION[n])
    ref = _reference(noise)

    # Cirq applies a noise model separately to the unparameterised prefix of a symbolic circuit
    # and to the rest, regrouping moments (and so the noise of a moment-wise model); lretjax
    # applies it to the resolved circuit as written, which is Cirq's result on that circuit.
    points = [cirq.resolve_parameters(circuit, r) for r in cirq.to_resolvers(SWEEP)]
    evs = ours.simulate_expectation_values_sweep(circuit, obs, SWEEP)
    expected = [ref.simulate_expectation_values(c, obs) for c in points]
    np.testing.assert_allclose(np.real(evs), np.real(expected), atol=1e-9, rtol=0)

    finals = ours.simulate_sweep(circuit, SWEEP)
    for mine, point, r in zip(finals, points, cirq.to_resolvers(SWEEP), strict=True):
        assert isinstance(mine, LowRankTrialResult) and mine.params == r
        theirs = ref.simulate(point).final_density_matrix
        np.testing.assert_allclose(mine.final_density_matrix, theirs, atol=1e-9, rtol=0)
        assert mine.discarded < 1e-12 and mine.final_state.num_wires == n

    # Samples: every qubit measured at the end, with an invert mask and (odd cases) a confusion map.
    rng = np.random.default_rng(case)
    mask = tuple(bool(b) for b in rng.integers(0, 2, n))
    maps = {(0,): np.array([[0.9, 0.1], [0.25, 0.75]])} if case % 2 else {}
    resolver = cirq.ParamResolver({T: 0.4})
    measured = circuit + cirq.Circuit(cirq.measure(*qs, key="m", invert_mask=mask, confusion_map=maps))
    result = ours.run(measured, resolver, repetitions=SHOTS)
    assert result.measurements["m"].shape == (SHOTS, n)
    rho = ref.simulate(cirq.resolve_parameters(circuit, resolver)).final_density_matrix
    probs = np.clip(np.real(np.diag(rho)), 0, None)
    flips = [((i,), np.array([[0.0, 1.0], [1.0, 0.0]])) for i in range(n) if mask[i]]
    probs = _confuse(probs / probs.sum(), n, flips + list(maps.items()))
    assert chi2_pvalue(dict(result.histogram(key="m")), probs) > 1e-4


def _deferred(circuit, noise, qs):
    """Cirq's own exact joint distribution of every measurement record: the noisy circuit with
    each measurement replaced by CNOTs onto fresh ancillas, simulated without further noise."""
    model = cirq.NoiseModel.from_noise_model_like(noise)
    noisy = cirq.Circuit(model.noisy_moments(circuit, sorted(circuit.all_qubits())))
    ops, records = [], []
    for op in noisy.all_operations():
        if cirq.is_measurement(op):
            for q in op.qubits:
                anc = cirq.NamedQubit(f"record{len(records)}")
                ops.append(cirq.CNOT(q, anc))
                records.append(anc)
        else:
            ops.append(op)
    deferred = cirq.Circuit.from_moments(*[cirq.Moment([op]) for op in ops])
    order = list(qs) + records
    exact = cirq.DensityMatrixSimulator(dtype=np.complex128)
    rho = exact.simulate(deferred, qubit_order=order).final_density_matrix
    t = np.real(np.diag(rho)).reshape((2,) * len(order))
    marginal = t.sum(axis=tuple(range(len(qs)))).reshape(-1)
    return np.clip(marginal, 0, None) / marginal.sum()


@pytest.mark.parametrize("case", [1, 6])
def test_mid_circuit_measurements(case):
    circuit, qs, noise, _ = CASES[case]
    circuit = cirq.resolve_parameters(circuit, {T: 0.3})
    half = len(circuit) // 2
    measured = (circuit[:half] + cirq.Circuit(cirq.measure(qs[0], key="mid"))
                + circuit[half:] + cirq.Circuit(cirq.measure(*qs, key="end")))
    sim = Simulator(noise=noise, seed=SEED, max_rank=None)
    result = sim.run(measured, repetitions=SHOTS)
    joint = np.concatenate([result.measurements["mid"], result.measurements["end"]], axis=1)
    bits = joint @ (1 << np.arange(joint.shape[1] - 1, -1, -1))
    counts = dict(zip(*np.unique(bits, return_counts=True), strict=True))
    assert chi2_pvalue(counts, _deferred(measured, noise, qs)) > 1e-4


def test_qubit_order_initial_state_and_low_rank_state():
    circuit, qs, noise, obs = CASES[3]
    order = list(reversed(qs))
    ours = Simulator(noise=noise, max_rank=None, representation="low-rank")
    ref = _reference(noise)
    mine = ours.simulate(circuit, {T: 0.2}, qubit_order=order, initial_state=1)
    theirs = ref.simulate(cirq.resolve_parameters(circuit, {T: 0.2}), qubit_order=order, initial_state=1)
    np.testing.assert_allclose(mine.final_density_matrix, theirs.final_density_matrix, atol=1e-9, rtol=0)
    state = mine.final_state
    assert state.representation == "low-rank" and state.L.shape[0] == 2 ** len(qs)
    assert mine.qubit_map == {q: i for i, q in enumerate(order)}
    truncated = Simulator(noise=noise, max_rank=1).simulate(circuit, {T: 0.2})
    assert truncated.discarded > 1e-4 and truncated.metadata["rank"] == 1


def test_bad_input_raises_typed_errors():
    a, b = cirq.LineQubit.range(2)
    sim = Simulator()
    with pytest.raises(ParameterError):
        sim.simulate(cirq.Circuit(cirq.rx(T).on(a)))
    with pytest.raises(CircuitError):
        sim.simulate_expectation_values(cirq.Circuit(cirq.H(a), cirq.measure(a)), [cirq.Z(a)])
    with pytest.raises(CircuitError):  # a sympy condition: lretjax conditions on keys and bit masks
        sim.simulate(cirq.Circuit(cirq.measure(a, key="k"),
                                  cirq.X(b).with_classical_controls(sympy.Eq(sympy.Symbol("k"), 1))))
    with pytest.raises(CircuitError):  # a condition on a key not measured before it
        sim.run(cirq.Circuit(cirq.X(b).with_classical_controls("k"), cirq.measure(a, key="k")))
    with pytest.raises(CircuitError):
        qutrit = cirq.LineQid(0, dimension=3)
        sim.simulate(cirq.Circuit(cirq.MatrixGate(np.eye(3), qid_shape=(3,)).on(qutrit)))
    with pytest.raises(CircuitError):  # one key measuring one qubit, then two
        sim.run(cirq.Circuit(cirq.measure(a, key="k"), cirq.X(a), cirq.measure(a, b, key="k")))
    with pytest.raises(ObservableError):
        sim.simulate_expectation_values(cirq.Circuit(cirq.H(a)), [cirq.Z(b)])
    with pytest.raises(SimulationConfigError):
        sim.simulate(cirq.Circuit(cirq.H(a)), initial_state=np.ones(3))
    with pytest.raises(SimulationConfigError):
        Simulator(max_rank=0)
    with pytest.raises(SimulationConfigError):
        Simulator(seed="seven")
    with pytest.raises(NoiseError):
        Simulator(noise="loud")


# -- classical control (with_classical_controls) and reset ------------------------------------------


def _feed_forward():
    """Teleport RY(1.1)|0> from a to c with corrections controlled by the measured keys; mb
    carries an invert mask and a confusion map (the condition sees the bit as recorded); b is
    reset, then set to ma by a controlled X."""
    a, b, c = cirq.LineQubit.range(3)
    confusion = np.array([[0.9, 0.1], [0.25, 0.75]])
    circuit = cirq.Circuit(
        cirq.ry(1.1).on(a), cirq.H(b), cirq.CNOT(b, c), cirq.CNOT(a, b), cirq.H(a),
        cirq.measure(a, key="ma"),
        cirq.measure(b, key="mb", invert_mask=(True,), confusion_map={(0,): confusion}),
        cirq.X(c).with_classical_controls(cirq.BitMaskKeyCondition("mb", target_value=0, equal_target=True)),
        cirq.Z(c).with_classical_controls("ma"),
        cirq.reset(b),
        cirq.X(b).with_classical_controls("ma"),
        cirq.ry(-1.1).on(c),
    )
    return circuit, (a, b, c)


def _cirq_deferred(circuit, noise, qs, initial: int = 0):
    """Cirq's exact answer for a circuit with classical control: the noisy circuit through
    ``cirq.defer_measurements`` (each measurement copied onto an ancilla, conditions as controls,
    confusion as a channel on the ancilla), its final density matrix from
    ``cirq.DensityMatrixSimulator`` over ``qs`` then the ancillas (starting from the basis state
    ``initial`` of ``qs``, ancillas in 0), and the qubits holding each key."""
    model = cirq.NoiseModel.from_noise_model_like(noise)
    noisy = cirq.Circuit(model.noisy_moments(circuit, sorted(circuit.all_qubits())))
    deferred = cirq.defer_measurements(noisy)
    keys, ops = {}, []
    for op in deferred.all_operations():
        if cirq.is_measurement(op):
            assert not any(op.gate.full_invert_mask()) and not op.gate.confusion_map
            keys[cirq.measurement_key_name(op)] = op.qubits
        else:
            ops.append(op)
    order = list(qs) + sorted(set(deferred.all_qubits()) - set(qs), key=str)
    sim = cirq.DensityMatrixSimulator(dtype=np.complex128)
    start = initial << (len(order) - len(qs))
    rho = sim.simulate(cirq.Circuit(ops), qubit_order=order, initial_state=start).final_density_matrix
    return rho, order, keys


def test_classical_control_and_reset_against_cirq():
    circuit, qs = _feed_forward()
    a, b, c = qs
    noise = _Relaxation(0.05)  # per operation: Cirq's run and simulate see the same noise
    names = ["ma", "mb", "out", "chk"]
    measured = circuit + cirq.Circuit(cirq.measure(c, key="out"), cirq.measure(b, key="chk"))
    rho, order, keys = _cirq_deferred(measured, noise, qs)
    diag = np.clip(np.real(np.diag(rho)), 0, None).reshape((2,) * len(order))
    held = [order.index(keys[k][0]) for k in names]
    exact = np.transpose(diag.sum(axis=tuple(i for i in range(len(order)) if i not in held)),
                         np.argsort(np.argsort(held))).reshape(-1)  # ma is the high bit
    exact /= exact.sum()

    def joint(measurements):
        return sum(measurements[k][:, 0].astype(np.int64) << (3 - i) for i, k in enumerate(names))

    ours = Simulator(noise=noise, seed=SEED, max_rank=None).run(measured, repetitions=SHOTS)
    assert all(ours.measurements[k].shape == (SHOTS, 1) for k in names)
    assert chi2_pvalue(dict(zip(*np.unique(joint(ours.measurements), return_counts=True), strict=True)),
                       exact) > 1e-4
    # Cirq's own sampler (measurement by measurement: confusion, then inversion) fits the same
    # table; it simulates each repetition afresh (about 1.4 ms each), so fewer of them.
    theirs = cirq.DensityMatrixSimulator(noise=noise, seed=SEED).run(measured, repetitions=1000)
    assert chi2_pvalue(dict(zip(*np.unique(joint(theirs.measurements), return_counts=True), strict=True)),
                       exact) > 1e-4

    # Final state and expectation values: the mixture over outcomes, ancillas traced out.
    rho, order, _ = _cirq_deferred(circuit, noise, qs)
    reduced = cirq.partial_trace(rho.reshape((2,) * 2 * len(order)), range(3)).reshape(8, 8)
    sim = Simulator(noise=noise, max_rank=None)
    mine = sim.simulate(circuit)
    np.testing.assert_allclose(mine.final_density_matrix, reduced, atol=1e-9, rtol=0)
    assert mine.final_state.num_wires == 3 and mine.discarded < 1e-12
    obs = [cirq.Z(c), cirq.X(a) * cirq.Z(b), 0.5 * cirq.Y(c) - cirq.Z(a) * cirq.X(c)]
    qmap = {q: i for i, q in enumerate(qs)}
    want = [cirq.PauliSum.wrap(o).expectation_from_density_matrix(reduced, qmap).real for o in obs]
    # ma is terminal to Cirq (no later op on its qubit), although a condition reads it.
    evs = sim.simulate_expectation_values(circuit, obs, permit_terminal_measurements=True)
    np.testing.assert_allclose(evs, want, atol=1e-9, rtol=0)
    # The dense representation, from another basis state (the ancillas start in 0 below it).
    rho, order, _ = _cirq_deferred(circuit, noise, qs, initial=5)
    reduced = cirq.partial_trace(rho.reshape((2,) * 2 * len(order)), range(3)).reshape(8, 8)
    dense = Simulator(noise=noise, max_rank=None, representation="dense").simulate(circuit, initial_state=5)
    assert dense.final_state.representation == "dense"
    np.testing.assert_allclose(dense.final_density_matrix, reduced, atol=1e-9, rtol=0)
