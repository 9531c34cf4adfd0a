"""lretjax against Qiskit Aer's density-matrix simulator: every channel kind, and IBM device noise.

Each lretjax circuit is rebuilt as a Qiskit circuit (same qubit indices; Qiskit's little-endian
bit order converted in the comparison), with the channels written through Aer's own error
constructors, so the conventions are checked, not copied. States are compared at full rank.
The dict-import tests at the end need no Qiskit.
"""

from __future__ import annotations

import json

import dense
import numpy as np
import pytest
from test_noise_channels import reference_evolve

import lretjax
from lretjax import Circuit, NoiseError, expval, probabilities, simulate
from lretjax.gates import GATES
from lretjax.noise import NoiseModel
from lretjax.noise.qiskit import qiskit_depolarizing_to_p

LABELS2 = [a + b for a in "IXYZ" for b in "IXYZ"]


def aer_modules():
    pytest.importorskip("qiskit")
    pytest.importorskip("qiskit_aer")
    import qiskit
    import qiskit.circuit.library as lib
    import qiskit_aer
    import qiskit_aer.noise as noise
    from qiskit.quantum_info import Operator

    return qiskit, lib, qiskit_aer, noise, Operator


def aer_error(op):
    """The Aer QuantumError of a lretjax channel op, built with Aer's constructors (Qiskit conventions)."""
    _, lib, _, noise, Operator = aer_modules()
    p = [float(x) for x in op.params]
    name = op.name
    if name == "depolarizing":
        return noise.depolarizing_error(4 * p[0] / 3, 1)  # Qiskit: (1 - lam) rho + lam I/2
    if name == "depolarizing2":
        return noise.depolarizing_error(16 * p[0] / 15, 2)
    if name == "amplitude_damping":
        return noise.amplitude_damping_error(p[0])
    if name == "phase_damping":
        return noise.phase_damping_error(p[0])
    if name == "generalized_amplitude_damping":
        return noise.amplitude_damping_error(p[0], excited_state_population=p[1])
    if name == "thermal_relaxation":
        return noise.thermal_relaxation_error(p[0], p[1], p[2], p[3])
    if name in ("bit_flip", "phase_flip", "bit_phase_flip"):
        letter = {"bit_flip": "X", "phase_flip": "Z", "bit_phase_flip": "Y"}[name]
        return noise.pauli_error([(letter, p[0]), ("I", 1 - p[0])])
    if name == "pauli_channel":
        return noise.pauli_error([("I", 1 - sum(p)), ("X", p[0]), ("Y", p[1]), ("Z", p[2])])
    if name == "pauli_channel2":
        # lretjax label "XY" = X on the first wire; Qiskit labels are little-endian: reverse.
        terms = [(lab[::-1], q) for lab, q in zip(LABELS2[1:], p, strict=True)]
        return noise.pauli_error([("II", 1 - sum(p))] + terms)
    if name == "correlated_pauli":
        return noise.pauli_error([("II", 1 - sum(p)), ("XX", p[0]), ("YY", p[1]), ("ZZ", p[2])])
    if name == "reset":
        return noise.reset_error(1.0, 0.0)
    if name == "reset_error":
        return noise.reset_error(p[0], p[1])
    if name == "over_rotation":
        return noise.coherent_unitary_error(Operator(lib.RGate(p[0], p[1])))
    if name == "zz_crosstalk":
        return noise.coherent_unitary_error(Operator(lib.RZZGate(p[0])))
    raise AssertionError(f"no Aer counterpart written for {name}")


def to_qiskit(circuit):
    """The same circuit in Qiskit: gate names and qubit indices carry over (CX(c, t) is CX(c, t))."""
    qiskit, *_ = aer_modules()
    qc = qiskit.QuantumCircuit(circuit.num_wires)
    for op in circuit.ops:
        if op.kind == "gate":
            getattr(qc, op.name)(*[float(x) for x in op.params], *op.wires)
        elif op.kind == "channel":
            qc.append(aer_error(op), list(op.wires))
        else:
            raise AssertionError(f"op kind {op.kind} not used in these tests")
    return qc


def aer_run(qc, noise_model=None):
    """Aer's density matrix and probabilities, converted to lretjax's order (wire 0 = high bit)."""
    _, _, qiskit_aer, _, _ = aer_modules()
    n = qc.num_qubits
    qc = qc.copy()
    qc.save_density_matrix()
    sim = qiskit_aer.AerSimulator(method="density_matrix", noise_model=noise_model)
    rho = np.asarray(sim.run(qc).result().data()["density_matrix"])
    rev = list(range(n))[::-1]
    rho = rho.reshape((2,) * 2 * n).transpose(rev + [n + i for i in rev]).reshape(2**n, 2**n)
    return rho


def compare(circuit, rho_aer, rng, num_paulis=4):
    state = simulate(circuit, max_rank=2**circuit.num_wires)
    assert float(state.discarded) < 1e-12
    n = circuit.num_wires
    np.testing.assert_allclose(np.asarray(probabilities(state)), np.real(np.diag(rho_aer)), atol=1e-9)
    for _ in range(num_paulis):
        pauli = "".join(rng.choice(list("IXYZ"), size=n))
        assert float(expval(state, pauli)) == pytest.approx(dense.expval(rho_aer, pauli), abs=1e-9), pauli
    if n <= 6:
        np.testing.assert_allclose(np.asarray(lretjax.to_density_matrix(state)), rho_aer, atol=1e-9)


# -- every channel kind, on random circuits ------------------------------------------------------

ONE_WIRE = ["depolarizing", "amplitude_damping", "phase_damping", "bit_flip", "phase_flip", "bit_phase_flip",
            "generalized_amplitude_damping", "thermal_relaxation", "pauli_channel", "reset", "reset_error",
            "over_rotation"]
TWO_WIRE = ["depolarizing2", "pauli_channel2", "correlated_pauli", "zz_crosstalk"]


def channel_params(name, rng):
    if name == "thermal_relaxation":
        t1 = rng.uniform(20, 100)
        return [t1, rng.uniform(0.2, 2.0) * t1, rng.uniform(1, 20), rng.uniform(0, 0.2)]
    if name == "pauli_channel2":
        return list(rng.dirichlet(np.ones(16))[1:] * 0.3)
    if name in ("pauli_channel", "correlated_pauli"):
        return list(rng.dirichlet(np.ones(4))[1:] * 0.4)
    if name == "reset_error":
        return list(rng.dirichlet(np.ones(3))[:2] * 0.3)
    if name in ("over_rotation", "zz_crosstalk"):
        return list(rng.uniform(-0.5, 0.5, size=lretjax.CHANNELS[name].num_params))
    if name == "generalized_amplitude_damping":
        return [rng.uniform(0, 0.3), rng.uniform(0.0, 0.3)]
    return list(rng.uniform(0, 0.3, size=lretjax.CHANNELS[name].num_params))


def random_noisy_circuit(n, channels, rng, depth=3):
    """Layers of random gates with the given channels spread through them."""
    c = Circuit(n)
    queue = list(channels)
    for _ in range(depth):
        for w in range(n):
            g = rng.choice(["h", "sx", "rx", "ry", "rz", "x"])
            c = c.add(g, [w], *([rng.uniform(-np.pi, np.pi)] if g in ("rx", "ry", "rz") else []))
        for w in range(int(rng.integers(0, 2)), n - 1, 2):
            c = c.add(str(rng.choice(["cx", "cz"])), [w, w + 1] if rng.random() < 0.5 else [w + 1, w])
        for _ in range(max(1, len(channels) // depth + 1)):
            if not queue:
                break
            name = queue.pop(0)
            k = lretjax.CHANNELS[name].num_wires
            wires = [int(x) for x in rng.choice(n, size=k, replace=False)]
            c = c.add(name, wires, *channel_params(name, rng))
    return c


# (wires, channels): together every channel kind, on 2 to 10 wires; rank stays <= 2^n.
CHANNEL_CASES = [
    (2, ["depolarizing", "amplitude_damping", "pauli_channel2"]),
    (2, ["thermal_relaxation", "correlated_pauli", "reset"]),
    (2, ["generalized_amplitude_damping", "zz_crosstalk", "depolarizing2"]),
    (3, ["phase_damping", "bit_flip", "over_rotation", "reset_error"]),
    (3, ["thermal_relaxation", "thermal_relaxation", "pauli_channel"]),
    (3, ["phase_flip", "bit_phase_flip", "correlated_pauli", "zz_crosstalk"]),
    (4, ["pauli_channel2", "thermal_relaxation", "generalized_amplitude_damping"]),
    (4, ["depolarizing2", "reset", "over_rotation", "amplitude_damping"]),
    (5, ["thermal_relaxation", "pauli_channel", "reset_error", "zz_crosstalk"]),
    (6, ["depolarizing", "correlated_pauli", "thermal_relaxation"]),
    (7, ["generalized_amplitude_damping", "pauli_channel", "over_rotation"]),
    (8, ["thermal_relaxation", "bit_flip", "zz_crosstalk"]),
    (10, ["pauli_channel", "amplitude_damping", "over_rotation", "thermal_relaxation"]),
]


_SLOW_CH = pytest.mark.slow


def test_channel_cases_cover_every_channel_kind():
    used = {name for _, chans in CHANNEL_CASES for name in chans}
    assert used == set(lretjax.CHANNELS), set(lretjax.CHANNELS) - used


@pytest.mark.parametrize(
    "case",
    [pytest.param(i, marks=_SLOW_CH) if CHANNEL_CASES[i][0] >= 7 else i for i in range(len(CHANNEL_CASES))],
)
def test_channels_match_aer(case):
    aer_modules()
    n, chans = CHANNEL_CASES[case]
    rng = np.random.default_rng(100 + case)
    c = random_noisy_circuit(n, chans, rng)
    compare(c, aer_run(to_qiskit(c)), rng)


def test_thermal_relaxation_t2_between_t1_and_2t1_matches_aer():
    aer_modules()
    rng = np.random.default_rng(5)
    for t2_over_t1 in (0.3, 1.0, 1.5, 2.0):
        c = Circuit(1).h(0).thermal_relaxation(40.0, 40.0 * t2_over_t1, 25.0, 0.15, 0).sx(0)
        compare(c, aer_run(to_qiskit(c)), rng, num_paulis=3)


def test_qiskit_depolarizing_convention():
    assert qiskit_depolarizing_to_p(0.4, 1) == pytest.approx(0.3)
    assert qiskit_depolarizing_to_p(0.16, 2) == pytest.approx(0.15)


# -- IBM device noise from offline fake backends -------------------------------------------------


@pytest.fixture(scope="module")
def fake_backends():
    aer_modules()
    fp = pytest.importorskip("qiskit_ibm_runtime.fake_provider")
    from qiskit_aer.noise import NoiseModel as AerNoiseModel

    out = {}
    for cls in (fp.FakeManilaV2, fp.FakeTorino):
        backend = cls()
        out[cls.__name__] = (backend, AerNoiseModel.from_backend(backend))
    return out


def restricted_aer_model(aer_model, qubits):
    """Aer's model for a circuit on ``qubits`` only, physical qubits[i] renumbered i (test side)."""
    from qiskit_aer.noise import NoiseModel as AerNoiseModel

    pos = {q: i for i, q in enumerate(qubits)}
    out = AerNoiseModel(basis_gates=aer_model.basis_gates)
    for gate, table in aer_model._local_quantum_errors.items():
        for qs, err in table.items():
            if all(q in pos for q in qs):
                out.add_quantum_error(err, gate, [pos[q] for q in qs], warnings=False)
    for qs, err in aer_model._local_readout_errors.items():
        if all(q in pos for q in qs):
            out.add_readout_error(err, [pos[q] for q in qs], warnings=False)
    return out


def device_circuit(n, two_qubit, pairs, rng, depth=3):
    """A circuit in IBM's basis (rz, sx, x, id + cx or cz) on coupled pairs."""
    c = Circuit(n)
    for _ in range(depth):
        for w in range(n):
            c = c.rz(rng.uniform(-np.pi, np.pi), w)
            c = c.add(str(rng.choice(["sx", "x", "id", "sx"])), [w])
        for a, b in pairs[int(rng.integers(0, 2))::2]:
            c = c.add(two_qubit, [a, b])
    return c


def coupled_chain(aer_model, gate, length):
    """A path of physically coupled qubits (by the two-qubit errors the model holds)."""
    edges = {tuple(qs) for qs in aer_model._local_quantum_errors[gate]}
    start = min(q for e in edges for q in e)
    chain = [start]
    while len(chain) < length:
        # Coupling is undirected (ECR edges carry a direction; callers orient each pair).
        neighbours = {b for a, b in edges if a == chain[-1]} | {a for a, b in edges if b == chain[-1]}
        nxt = sorted(neighbours - set(chain))
        if not nxt:
            raise AssertionError("no chain found")
        chain.append(nxt[0])
    return chain


_SLOW = pytest.mark.slow
DEVICE_CASES = [
    ("FakeManilaV2", "cx", 2, 2), ("FakeManilaV2", "cx", 3, 1), ("FakeTorino", "cz", 2, 5),
    ("FakeTorino", "cz", 3, 4),
    pytest.param("FakeManilaV2", "cx", 5, 0, marks=_SLOW),
    pytest.param("FakeTorino", "cz", 4, 3, marks=_SLOW),
    pytest.param("FakeTorino", "cz", 5, 6, marks=_SLOW),
]


@pytest.mark.parametrize("backend_name, gate, n, seed", DEVICE_CASES)
def test_device_noise_matches_aer(fake_backends, backend_name, gate, n, seed):
    backend, aer_model = fake_backends[backend_name]
    rng = np.random.default_rng(seed)
    qubits = coupled_chain(aer_model, gate, n)
    model = NoiseModel.from_qiskit(aer_model, qubits=qubits)
    assert model.num_wires == n
    pairs = [(i, i + 1) if rng.random() < 0.5 else (i + 1, i) for i in range(n - 1)]
    c = device_circuit(n, gate, pairs, rng)
    noisy = model.apply(c)
    assert noisy.num_channels > 0
    rho_aer = aer_run(to_qiskit(c), restricted_aer_model(aer_model, qubits))
    # the imported noise itself, densely (fast), then through the low-rank simulator
    np.testing.assert_allclose(reference_evolve(noisy), rho_aer, atol=1e-10)
    compare(noisy, rho_aer, rng)


def test_from_backend_and_readout_match_aer(fake_backends):
    """Model from the backend object; readout probabilities against Aer's model, exactly and sampled."""
    qiskit, _, qiskit_aer, _, _ = aer_modules()
    backend, aer_model = fake_backends["FakeManilaV2"]
    qubits = [1, 2]
    model = NoiseModel.from_backend(backend, qubits=qubits)
    assert model.num_wires == 2 and "reset" not in model.skipped and "fake_manila" in repr(model)
    aer_small = restricted_aer_model(aer_model, qubits)
    rng = np.random.default_rng(9)
    c = device_circuit(2, "cx", [(0, 1), (1, 0)], rng, depth=2)
    noisy = model.apply(c)
    rho_aer = aer_run(to_qiskit(c), aer_small)
    compare(noisy, rho_aer, rng, num_paulis=3)
    p_ideal = np.real(np.diag(rho_aer))
    read = np.asarray(model.readout_probabilities(probabilities(simulate(noisy, max_rank=4))))
    # Aer's readout model, written out: P(read m) = sum_t p(t) prod_q A_q[t_q, m_q].
    mats = [np.asarray(aer_model._local_readout_errors[(q,)].probabilities) for q in qubits]
    assert not np.allclose(mats[0], np.eye(2))
    expect = np.zeros(4)
    for t in range(4):
        for m in range(4):
            expect[m] += p_ideal[t] * mats[0][t >> 1, m >> 1] * mats[1][t & 1, m & 1]
    np.testing.assert_allclose(read, expect, atol=1e-9)
    # and in distribution: Aer's sampled counts with its readout error
    qc = to_qiskit(c)
    qc.measure_all()
    shots = 200_000
    sim = qiskit_aer.AerSimulator(method="density_matrix", noise_model=aer_small, seed_simulator=11)
    counts = sim.run(qc, shots=shots).result().get_counts()
    freq = np.zeros(4)
    for key, v in counts.items():
        freq[int(key.replace(" ", "")[::-1], 2)] = v / shots  # Qiskit strings put qubit 0 last
    sigma = np.sqrt(np.maximum(read * (1 - read), 1e-12) / shots)
    assert np.all(np.abs(freq - read) < 5 * sigma + 1e-9), (freq, read)


def test_qubit_count_mismatch_between_backend_and_circuit(fake_backends):
    backend, aer_model = fake_backends["FakeManilaV2"]
    model = NoiseModel.from_qiskit(aer_model, qubits=[0, 1, 2])
    with pytest.raises(NoiseError, match="noise model is for 3 qubits .* but the circuit has 4 wires"):
        model.apply(Circuit(4).x(0))
    with pytest.raises(NoiseError, match=r"qubits \[7\] do not exist on a device of 5 qubits"):
        NoiseModel.from_backend(backend, qubits=[0, 7])


def test_sherbrooke_ecr_device():
    aer_modules()
    fp = pytest.importorskip("qiskit_ibm_runtime.fake_provider")
    if "ecr" not in GATES:
        pytest.skip("lretjax has no 'ecr' gate yet, so FakeSherbrooke's ECR noise cannot be exercised")
    from qiskit_aer.noise import NoiseModel as AerNoiseModel

    aer_model = AerNoiseModel.from_backend(fp.FakeSherbrooke())
    rng = np.random.default_rng(21)
    qubits = coupled_chain(aer_model, "ecr", 3)
    model = NoiseModel.from_qiskit(aer_model, qubits=qubits)
    edges = [(a, b) for a, b in zip(range(2), range(1, 3), strict=True)]
    pairs = [e if (qubits[e[0]], qubits[e[1]]) in aer_model._local_quantum_errors["ecr"] else e[::-1]
             for e in edges]
    c = device_circuit(3, "ecr", pairs, rng)
    compare(model.apply(c), aer_run(to_qiskit(c), restricted_aer_model(aer_model, qubits)), rng)


# -- dict import, without Qiskit -----------------------------------------------------------------

HAND_DICT = {
    "errors": [
        {"type": "qerror", "operations": ["x", "sx"],
         "instructions": [[{"name": "id", "qubits": [0]}], [{"name": "z", "qubits": [0]}]],
         "probabilities": [0.9, 0.1]},
        {"type": "qerror", "operations": ["x"], "gate_qubits": [[1]],
         "instructions": [[{"name": "pauli", "qubits": [0], "params": ["X"]}],
                          [{"name": "id", "qubits": [0]}]],
         "probabilities": [0.25, 0.75]},
        {"type": "qerror", "operations": ["cx"], "gate_qubits": [[1, 0]],
         "instructions": [[{"name": "pauli", "qubits": [0, 1], "params": ["XZ"]}],
                          [{"name": "pauli", "qubits": [0, 1], "params": ["II"]}]],
         "probabilities": [0.2, 0.8]},
        {"type": "qerror", "operations": ["cz"],  # all-qubit, touching only the gate's first qubit
         "instructions": [[{"name": "z", "qubits": [0]}]], "probabilities": [1.0]},
        {"type": "qerror", "operations": ["reset"],
         "instructions": [[{"name": "id", "qubits": [0]}]], "probabilities": [1.0]},
        {"type": "roerror", "operations": ["measure"], "probabilities": [[0.9, 0.1], [0.2, 0.8]],
         "gate_qubits": [[1]]},
    ]
}


def test_dict_import_semantics_without_qiskit():
    model = NoiseModel.from_qiskit_dict(json.loads(json.dumps(HAND_DICT)))
    assert model.skipped == ()  # reset errors follow reset channels (dynamic circuits)
    c = Circuit(2).x(0).x(1).cx(1, 0)
    noisy = model.apply(c)
    names = [(op.name, op.wires) for op in noisy.ops]
    # x on qubit 1 has a specific error, which replaces the all-qubit one (Qiskit's rule)
    assert names == [("x", (0,)), ("kraus", (0,)), ("x", (1,)), ("kraus", (1,)),
                     ("cx", (1, 0)), ("kraus", (1, 0))]
    # the cx error: Pauli label "XZ" on qubits [1, 0] is Z on qubit 1 and X on qubit 0
    op = noisy.ops[-1]
    full = [dense.embed(m, op.wires, 2) for m in np.asarray(op.params[0])]
    superop = sum(np.kron(m, m.conj()) for m in full)
    xz = dense.kron(dense.X, dense.Z)  # lretjax wires (0, 1): X on wire 0, Z on wire 1
    np.testing.assert_allclose(superop, 0.8 * np.eye(16) + 0.2 * np.kron(xz, xz.conj()), atol=1e-12)
    # readout on wire 1 only
    expect = [np.eye(2), [[0.9, 0.1], [0.2, 0.8]]]
    np.testing.assert_allclose(np.asarray(model.readout_confusion([0, 1])), expect)
    # the all-qubit cz error acts on the gate's first qubit only, Z on wire 1 for cz(1, 0)
    op = model.apply(Circuit(2).cz(1, 0)).ops[-1]
    assert op.wires == (1, 0)
    full = [dense.embed(m, op.wires, 2) for m in np.asarray(op.params[0])]
    zi = dense.kron(dense.I2, dense.Z)
    np.testing.assert_allclose(sum(np.kron(m, m.conj()) for m in full), np.kron(zi, zi.conj()), atol=1e-12)
    # a user rule without gate_wires adds to the all-qubit error instead of replacing it
    mixed = model + NoiseModel().gate_noise("bit_flip", 0.1, gates="x")
    assert [op.name for op in mixed.apply(Circuit(2).x(0)).ops] == ["x", "kraus", "bit_flip"]


def test_measure_errors_precede_measurements_with_aers_superoperator():
    """Aer applies its quantum errors on ``measure`` just before each measurement; a per-qubit error
    replaces the all-qubit one. The imported channels equal Qiskit's own superoperators."""
    _, _, _, noise, _ = aer_modules()
    from qiskit.quantum_info import SuperOp

    flip, damp = noise.pauli_error([("X", 0.05), ("I", 0.95)]), noise.amplitude_damping_error(0.2)
    aer = noise.NoiseModel()
    aer.add_all_qubit_quantum_error(flip, ["measure"])
    aer.add_quantum_error(damp, ["measure"], [1])
    model = NoiseModel.from_qiskit(aer)
    assert model.has_measure_noise and "before measure" in repr(model)
    ops = model.apply(Circuit(2, cregs={"c": 2}).h(0).measure(0, 0).x(1).measure(1, 1)).ops
    assert [(op.name, op.wires) for op in ops] == [("h", (0,)), ("kraus", (0,)), ("measure", (0,)),
                                                   ("x", (1,)), ("kraus", (1,)), ("measure", (1,))]
    for op, error in ((ops[1], flip), (ops[4], damp)):
        # Qiskit's SuperOp stacks columns: S = sum_k conj(K_k) (x) K_k.
        superop = sum(np.kron(m.conj(), m) for m in np.asarray(op.params[0]))
        np.testing.assert_allclose(superop, SuperOp(error).data, atol=1e-12)
    # The same rule, built by hand, lands in the same place.
    hand = NoiseModel().gate_noise("bit_flip", 0.05, gates="measure")
    names = [op.name for op in hand.apply(Circuit(1, cregs={"c": 1}).x(0).measure(0, 0)).ops]
    assert names == ["x", "bit_flip", "measure"]
    # Final-state readout has no measure op to put them before: refused, not dropped.
    with pytest.raises(NoiseError, match="before measurement"):
        model.readout_probabilities(np.full(4, 0.25))


def test_dict_import_matches_aer_and_round_trips_json(fake_backends):
    """A saved (JSON) Aer model loads to the same lretjax model as the live object."""
    _, aer_model = fake_backends["FakeManilaV2"]
    saved = json.loads(json.dumps(aer_model.to_dict(serializable=True)))
    a = NoiseModel.from_qiskit_dict(saved, qubits=[0, 1])
    b = NoiseModel.from_qiskit(aer_model, qubits=[0, 1])
    assert len(a.gate_rules) == len(b.gate_rules) > 0
    for ra, rb in zip(a.gate_rules, b.gate_rules, strict=True):
        assert (ra.gates, ra.gate_wires) == (rb.gates, rb.gate_wires)
        sa = sum(np.kron(m, m.conj()) for m in np.asarray(ra.params[0]))
        sb = sum(np.kron(m, m.conj()) for m in np.asarray(rb.params[0]))
        np.testing.assert_allclose(sa, sb, atol=1e-12)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"nope": []}, "'errors' list"),
        ({"errors": [{"type": "qerror", "operations": ["x"], "probabilities": [0.5, 0.6],
                      "instructions": [[{"name": "id", "qubits": [0]}], [{"name": "x", "qubits": [0]}]]}]},
         "sum to 1"),
        ({"errors": [{"type": "qerror", "operations": ["x"], "probabilities": [1.0],
                      "instructions": [[{"name": "kraus", "qubits": [0], "params": [[[1, 0], [0, 0.5]]]}]]}]},
         "not trace-preserving"),
        ({"errors": [{"type": "qerror", "operations": ["measure"], "probabilities": [1.0],
                      "instructions": [[{"name": "cx", "qubits": [0, 1]}]]}]}, "2-qubit error does not fit"),
        ({"errors": [{"type": "roerror", "operations": ["measure"],
                      "probabilities": [[0.9, 0.2], [0.1, 0.9]]}]}, "must sum to 1"),
        ({"errors": [{"type": "qerror", "operations": ["x"], "probabilities": [1.0],
                      "instructions": [[{"name": "frobnicate", "qubits": [0]}]]}]}, "'frobnicate'"),
    ],
)
def test_bad_dicts_raise_noise_error(bad, message):
    with pytest.raises(NoiseError, match=message):
        NoiseModel.from_qiskit_dict(bad)


def test_old_model_readers_still_work_with_a_deprecation_warning():
    from lretjax.noise import qiskit as nq

    with pytest.warns(DeprecationWarning, match="NoiseModel.from_qiskit_dict"):
        read = nq.model_from_dict
    old = read(HAND_DICT)
    new = NoiseModel.from_qiskit_dict(HAND_DICT)
    assert isinstance(old, NoiseModel) and repr(old) == repr(new)
