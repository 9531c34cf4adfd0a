"""lretjax.qiskit (BackendV2, SamplerV2, EstimatorV2) against Qiskit Aer's density-matrix method.

Twenty random noisy circuits: fifteen on 2-4 qubits with Aer noise models (depolarizing composed
with thermal relaxation, per-qubit overrides, readout errors; the gates Aer's density-matrix
method lacks carry explicit Aer errors and run there as unitaries), and five on a 5-qubit chain
of FakeTorino with its device noise. Expected numbers come from Aer, or, where Aer itself
approximates (FakeTorino's 144-term two-qubit errors differ from their exact channel by about
5e-10 in Aer), from ``qiskit.quantum_info`` density-matrix evolution, never from lretjax. Counts
pass a chi-square test against the exact outcome probabilities at a fixed seed.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("qiskit")
pytest.importorskip("qiskit_aer")
pytest.importorskip("scipy.stats")
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, transpile  # noqa: E402
from qiskit.circuit import Parameter  # noqa: E402
from qiskit.circuit.library import UnitaryGate  # noqa: E402
from qiskit.quantum_info import DensityMatrix, Kraus, Operator, SparsePauliOp  # noqa: E402
from qiskit_aer import AerSimulator  # noqa: E402
from qiskit_aer.noise import (  # noqa: E402
    NoiseModel,
    ReadoutError,
    amplitude_damping_error,
    depolarizing_error,
    pauli_error,
    reset_error,
    thermal_relaxation_error,
)
from stats import chi2_pvalue  # noqa: E402

from lretjax.errors import (  # noqa: E402
    CircuitError,
    NoiseError,
    ObservableError,
    ParameterError,
    SimulationConfigError,
)
from lretjax.qiskit import EstimatorV2, LretBackend, SamplerV2  # noqa: E402

ONE = ["x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg", "id"]
ROT1 = ["rx", "ry", "rz", "p"]
TWO = ["cx", "cy", "cz", "ecr", "swap"]
ROT2 = ["cp", "rxx", "ryy", "rzz"]
EXTRA = {"ch": 0, "iswap": 0, "crx": 1, "cry": 1, "crz": 1, "cswap": 0}  # not in Aer's basis: name -> params
SEED = 20240611
# Every circuit here compiles afresh, and dense rho is the cheaper compile from 3 qubits on; the
# low-rank factor is exercised on the 2-qubit circuits and in the truncation test.
REPRESENTATION = {2: "low-rank", 3: "dense", 4: "dense", 5: "dense"}
SHOTS = 3000
NUM_AER, NUM_DEVICE = 15, 5
CHAIN = [0, 1, 2, 3, 4]  # FakeTorino qubits 0-1-2-3-4 form a path


def _random_circuit(rng, n: int, depth: int, theta: Parameter) -> QuantumCircuit:
    """A random circuit on ``n`` qubits; ``theta`` drives two rotations, extra gates carry errors."""
    qc = QuantumCircuit(n)
    for q in range(n):
        qc.u(*rng.uniform(0, np.pi, 3), q)
    swept = 0
    for _ in range(depth):
        kind = rng.choice(["one", "rot1", "two", "rot2", "extra", "three"], p=[.2, .2, .2, .15, .15, .1])
        if kind == "three" and n < 3:
            kind = "two"
        qs = [int(q) for q in rng.choice(n, 3 if kind == "three" else 2, replace=False)]
        angle = theta * 0.7 + 0.2 if swept < 2 and kind in ("rot1", "rot2") else float(rng.uniform(-3, 3))
        swept += kind in ("rot1", "rot2")
        if kind == "one":
            getattr(qc, str(rng.choice(ONE)))(qs[0])
        elif kind == "rot1":
            getattr(qc, str(rng.choice(ROT1)))(angle, qs[0])
        elif kind == "two":
            getattr(qc, str(rng.choice(TWO)))(*qs[:2])
        elif kind == "rot2":
            getattr(qc, str(rng.choice(ROT2)))(angle, *qs[:2])
        elif kind == "three":
            qc.ccx(*qs)
        else:
            name = str(rng.choice([g for g in EXTRA if n >= 3 or g != "cswap"]))
            wires = [int(q) for q in rng.choice(n, 3, replace=False)] if name == "cswap" else qs[:2]
            getattr(qc, name)(*([float(rng.uniform(-3, 3))] * EXTRA[name]), *wires)
            err = depolarizing_error(float(rng.uniform(0.01, 0.05)), 1)
            qc.append(err.compose(amplitude_damping_error(float(rng.uniform(0.01, 0.05)))), [wires[-1]])
    return qc


def _for_aer(qc: QuantumCircuit) -> QuantumCircuit:
    """The same circuit with the gates Aer's density-matrix method lacks written as unitaries."""
    out = qc.copy_empty_like()
    for inst in qc.data:
        op = inst.operation
        if op.name in EXTRA:
            op = UnitaryGate(Operator(op), label=f"u_{op.name}")
        out.append(op, inst.qubits, inst.clbits)
    return out


def _noise_model(rng, n: int):
    """An Aer noise model and the per-qubit readout confusion matrices it holds."""
    nm = NoiseModel()
    t1, t2 = rng.uniform(50, 100, 2)
    relax = thermal_relaxation_error(t1, min(t2, 2 * t1), 1.5)
    nm.add_all_qubit_quantum_error(depolarizing_error(float(rng.uniform(0.005, 0.03)), 1).compose(relax),
                                   ONE[:-1] + ROT1 + ["u"])
    nm.add_quantum_error(thermal_relaxation_error(40.0, 30.0, 3.0), ["sx", "x", "u"], [n - 1])
    two = depolarizing_error(float(rng.uniform(0.02, 0.08)), 2).compose(relax.tensor(relax))
    nm.add_all_qubit_quantum_error(two, TWO + ROT2)
    confusion = []
    for q in range(n):
        a, b = rng.uniform(0.01, 0.08, 2)
        m = np.array([[1 - a, a], [b, 1 - b]])
        nm.add_readout_error(ReadoutError(m), [q])
        confusion.append(m)
    return nm, confusion


def _random_observables(rng, n: int, k: int = 2) -> list[SparsePauliOp]:
    out = []
    for _ in range(k):
        labels = ["".join(rng.choice(list("IXYZ"), n)) for _ in range(3)]
        out.append(SparsePauliOp(labels, rng.uniform(-1, 1, 3)))
    return out


def _cases():
    rng = np.random.default_rng(SEED)
    theta = Parameter("theta")
    cases = []
    for i in range(NUM_AER):
        n = 2 + i % 3
        qc = _random_circuit(rng, n, 8 + n, theta)
        nm, confusion = _noise_model(rng, n)
        cases.append((qc, nm, confusion, _random_observables(rng, n), rng.uniform(-2, 2, 3)))
    return theta, cases


THETA, CASES = _cases()


def _readout(probs: np.ndarray, confusion) -> np.ndarray:
    """Probabilities (Qiskit order: qubit 0 = low bit) after per-qubit confusion matrices."""
    n = len(confusion)
    t = probs.reshape((2,) * n)
    for q, m in enumerate(confusion):
        axis = n - 1 - q
        t = np.moveaxis(np.tensordot(t, m, axes=([axis], [0])), -1, axis)
    return t.reshape(-1)


def _aer_reference(qc: QuantumCircuit, nm, values, obs) -> tuple[np.ndarray, list[np.ndarray]]:
    """Aer's expectation values (observables x values) and outcome probabilities of every qubit
    (before readout error) for each value, from one density-matrix job. Each point is bound in
    Qiskit first: Aer's own sweeps (runtime parameter binding) disagree with its bound circuits
    when noise is on."""
    n = qc.num_qubits
    circuits = []
    for v in values:
        c = _for_aer(qc.assign_parameters({THETA: v}))
        for j, o in enumerate(obs):
            c.save_expectation_value(o, list(range(n)), label=f"o{j}")
        c.save_probabilities(list(range(n)), label="p")
        circuits.append(c)
    result = AerSimulator(method="density_matrix", noise_model=nm).run(circuits).result()
    evs = np.array([[result.data(i)[f"o{j}"] for i in range(len(values))] for j in range(len(obs))])
    return evs, [np.asarray(result.data(i)["p"]) for i in range(len(values))]


@pytest.mark.parametrize("case", range(NUM_AER))
def test_estimator_sampler_backend_against_aer(case):
    qc, nm, confusion, obs, values = CASES[case]
    n = qc.num_qubits
    # EstimatorV2: observables (2, 1) against a sweep of 3 values -> (2, 3), untruncated.
    backend = LretBackend(noise_model=nm, max_rank=None, representation=REPRESENTATION[n])
    settings = {"max_rank": None, "representation": REPRESENTATION[n]}
    pub = (qc, [[obs[0]], [obs[1]]], values.reshape(3, 1))
    ours = EstimatorV2.from_backend(backend, **settings).run([pub]).result()[0]
    aer_evs, aer_probs = _aer_reference(qc, nm, values, obs)
    assert ours.data.evs.shape == (2, 3)
    np.testing.assert_allclose(ours.data.evs, aer_evs, atol=1e-9, rtol=0)
    assert np.all(ours.data.stds == 0) and ours.metadata["max_rank"] is None
    assert ours.metadata["discarded"].shape == (3,) and np.all(ours.metadata["discarded"] < 1e-12)

    # SamplerV2 over two parameter values, and BackendV2 with memory, against exact probabilities.
    measured = qc.copy()
    measured.measure_all()
    sampled = SamplerV2.from_backend(backend, seed=SEED + case, **settings).run(
        [(measured, values[:2].reshape(2, 1), SHOTS)]).result()[0]
    assert sampled.data.meas.shape == (2,) and sampled.data.meas.num_shots == SHOTS
    for k in range(2):
        exact = _readout(aer_probs[k], confusion)
        assert chi2_pvalue(sampled.data.meas.get_int_counts(k), exact) > 1e-4

    # BackendV2: measure a permutation of the qubits into two registers.
    perm = np.random.default_rng(case).permutation(n)
    qr, a, b = QuantumRegister(n), ClassicalRegister(1, "a"), ClassicalRegister(n - 1, "b")
    circ = QuantumCircuit(qr, a, b)
    circ.compose(qc.assign_parameters({THETA: values[2]}), qr, inplace=True)
    for clbit, q in enumerate(perm):
        circ.measure(int(q), circ.clbits[clbit])
    result = backend.run(circ, shots=SHOTS, seed_simulator=SEED, memory=True).result()
    counts = result.get_counts()
    memory = result.get_memory()
    assert len(memory) == SHOTS and sum(counts.values()) == SHOTS
    assert counts == {k: memory.count(k) for k in set(memory)}
    exact_q = _readout(aer_probs[2], confusion)
    # clbit c holds qubit perm[c]: reorder the qubit table (qubit 0 = low bit) into clbit order.
    table = exact_q.reshape((2,) * n)  # axis i holds qubit n-1-i
    exact_c = np.transpose(table, [n - 1 - int(perm[n - 1 - i]) for i in range(n)]).reshape(-1)
    int_counts = {int(k.replace(" ", ""), 2): v for k, v in counts.items()}
    assert chi2_pvalue(int_counts, exact_c) > 1e-4
    meta = result.results[0].metadata
    assert meta["max_rank"] is None and meta["discarded"] < 1e-12 and meta["num_qubits"] == n


# -- FakeTorino: device noise on a 5-qubit chain ------------------------------------------------


@pytest.fixture(scope="module")
def torino():
    fake = pytest.importorskip("qiskit_ibm_runtime.fake_provider")
    device = fake.FakeTorino()
    return device, NoiseModel.from_backend(device)  # about 3 s: build it once


def _chain_circuit(rng, depth: int) -> QuantumCircuit:
    """Random gates on 5 qubits, two-qubit gates between neighbours only (no routing needed)."""
    qc = QuantumCircuit(5)
    for q in range(5):
        qc.u(*rng.uniform(0, np.pi, 3), q)
    for _ in range(depth):
        if rng.random() < 0.4:
            q = int(rng.integers(4))
            (qc.cx if rng.random() < 0.5 else qc.cz)(q, q + 1)
        else:
            getattr(qc, str(rng.choice(ROT1)))(float(rng.uniform(-3, 3)), int(rng.integers(5)))
    return qc


_DEVICE_KRAUS: dict = {}  # (gate, device qubits) -> the exact channel of its error


def _exact_device(tq: QuantumCircuit, nm) -> tuple[DensityMatrix, list[int]]:
    """rho of a transpiled device circuit on its touched qubits, by quantum_info (exact channels)."""
    touched = sorted({tq.find_bit(q).index for inst in tq.data for q in inst.qubits
                      if inst.operation.name not in ("barrier", "measure")})
    index = {q: i for i, q in enumerate(touched)}
    rho = DensityMatrix.from_label("0" * len(touched))
    for inst in tq.data:
        name = inst.operation.name
        if name in ("barrier", "measure", "delay"):
            continue
        phys = tuple(tq.find_bit(q).index for q in inst.qubits)
        local = [index[q] for q in phys]
        rho = rho.evolve(Operator(inst.operation), local)
        if (name, phys) not in _DEVICE_KRAUS:
            err = nm._local_quantum_errors.get(name, {}).get(phys)
            _DEVICE_KRAUS[name, phys] = None if err is None else Kraus(err)
        if _DEVICE_KRAUS[name, phys] is not None:
            rho = rho.evolve(_DEVICE_KRAUS[name, phys], local)
    return rho, touched


def test_device_noise_fake_torino(torino, monkeypatch):
    device, nm = torino
    import qiskit_aer.noise

    # from_backend reads the device noise with Aer's NoiseModel.from_backend: hand it the one built.
    monkeypatch.setattr(qiskit_aer.noise.NoiseModel, "from_backend", classmethod(lambda cls, dev: nm))
    settings = {"max_rank": None, "representation": REPRESENTATION[5]}
    backend = LretBackend.from_backend(device, **settings)
    assert backend.target is device.target and "torino" in backend.name
    estimator = EstimatorV2.from_backend(backend, **settings)
    sampler = SamplerV2.from_backend(backend, seed=SEED, **settings)
    readout = {tuple(e["gate_qubits"][0]): np.asarray(e["probabilities"])
               for e in nm.to_dict()["errors"] if e["type"] == "roerror"}
    rng = np.random.default_rng(SEED + 1)
    for k in range(NUM_DEVICE):
        qc = _chain_circuit(rng, 12)
        tq = transpile(qc, backend, initial_layout=CHAIN, optimization_level=1, seed_transpiler=1)
        obs = [o.apply_layout(tq.layout) for o in _random_observables(rng, 5)]
        rho, touched = _exact_device(tq, nm)
        assert set(CHAIN) <= set(touched) and tq.num_qubits == device.num_qubits
        exact = [sum(c * rho.expectation_value(p[touched]) for p, c in zip(o.paulis, o.coeffs, strict=True))
                 for o in obs]
        exact = np.real(exact)
        evs = estimator.run([(tq, obs)]).result()[0].data.evs
        np.testing.assert_allclose(evs, exact, atol=1e-9, rtol=0)
        if k == 0:  # Aer approximates these errors to ~5e-10 per two-qubit gate (and takes seconds)
            c = tq.copy()
            for j, o in enumerate(obs):
                c.save_expectation_value(o, list(range(tq.num_qubits)), label=f"o{j}")
            data = AerSimulator(method="density_matrix", noise_model=nm).run(c).result().data(0)
            np.testing.assert_allclose(evs, [data[f"o{j}"] for j in range(len(obs))], atol=2e-8, rtol=0)

        measured = tq.copy()
        creg = ClassicalRegister(len(touched), "meas")
        measured.add_register(creg)
        measured.measure(touched, creg)  # clbit j holds device qubit touched[j]
        probs = _readout(rho.probabilities(), [readout[(q,)] for q in touched])  # touched[0] = low bit
        counts = backend.run(measured, shots=SHOTS, seed_simulator=SEED).result().get_counts()
        assert chi2_pvalue({int(k, 2): v for k, v in counts.items()}, probs) > 1e-4
        bits = sampler.run([(measured, None, SHOTS)]).result()[0].data.meas
        assert chi2_pvalue(bits.get_int_counts(), probs) > 1e-4


# -- behaviour the random circuits do not reach ---------------------------------------------------


def test_transpile_to_coupling_map_and_mid_circuit_measurement():
    backend = LretBackend(coupling_map=[[0, 1], [1, 2]], seed_simulator=7)
    assert "ccx" not in backend.target.operation_names
    qc = QuantumCircuit(3, 3)
    qc.h(0)
    qc.cx(0, 2)  # not an edge: the transpiler routes it
    qc.ccx(0, 2, 1)
    qc.measure(range(3), range(3))
    tq = transpile(qc, backend, seed_transpiler=3, optimization_level=1)
    counts = backend.run(tq, shots=400).result().get_counts()
    assert set(counts) == {"000", "111"}
    # Measure, disturb, measure again: both records uniform and independent (deferred onto an ancilla).
    mid = QuantumCircuit(1, 2)
    mid.h(0)
    mid.measure(0, 0)
    mid.h(0)
    mid.measure(0, 1)
    result = backend.run(mid, shots=4000).result()
    assert result.results[0].metadata["measurement_ancillas"] == 1
    counts = {int(k, 2): v for k, v in result.get_counts().items()}
    assert chi2_pvalue(counts, np.full(4, 0.25)) > 1e-4


# -- dynamic circuits: if_test (with else), reset, quantum errors on measure -----------------------


def _teleport_and_reuse() -> QuantumCircuit:
    """Teleport RY(1.1)|0> from qubit 0 to 2 (the Z correction written as if/else), then reset
    qubit 1 and set it to m[1] again; ideally out = 0 and chk = m[1]."""
    q = QuantumRegister(3, "q")
    m, out, chk = ClassicalRegister(2, "m"), ClassicalRegister(1, "out"), ClassicalRegister(1, "chk")
    qc = QuantumCircuit(q, m, out, chk)
    qc.ry(1.1, 0)
    qc.h(1)
    qc.cx(1, 2)
    qc.cx(0, 1)
    qc.h(0)
    qc.measure(0, m[0])
    qc.measure(1, m[1])
    qc.reset(1)
    with qc.if_test((m[1], 1)):
        qc.x(2)
        qc.x(1)
    with qc.if_test((m[0], 1)) as other:
        qc.rz(np.pi + 0.4, 2)  # Z RZ(0.4), up to a phase
    with other:
        qc.rz(0.4, 2)
    qc.rz(-0.4, 2)
    qc.ry(-1.1, 2)
    qc.measure(2, out[0])
    qc.measure(1, chk[0])
    return qc


def _dynamic_noise():
    """An Aer model with gate, reset, measure (all qubits, and qubit 1's own) and readout errors,
    and the same errors as the branching reference applies them."""
    one, two = depolarizing_error(0.03, 1), depolarizing_error(0.06, 2)
    reset = reset_error(0.03, 0.02)
    flip, damp = pauli_error([("X", 0.05), ("I", 0.95)]), amplitude_damping_error(0.2)
    readout = np.array([[0.97, 0.03], [0.06, 0.94]])
    nm = NoiseModel()
    nm.add_all_qubit_quantum_error(one, ["ry", "rz", "h", "x"])
    nm.add_all_qubit_quantum_error(two, ["cx"])
    nm.add_all_qubit_quantum_error(reset, ["reset"])
    nm.add_all_qubit_quantum_error(flip, ["measure"])
    nm.add_quantum_error(damp, ["measure"], [1])  # replaces the all-qubit error on qubit 1
    nm.add_all_qubit_readout_error(ReadoutError(readout))
    after = {"ry": one, "rz": one, "h": one, "x": one, "cx": two, "reset": reset}
    return nm, after, {0: flip, 1: damp, 2: flip}, readout


_RESET = Kraus([np.array([[1, 0], [0, 0]]), np.array([[0, 1], [0, 0]])])


def _branching(qc: QuantumCircuit, after=None, before=None, readout=None) -> np.ndarray:
    """Exact joint distribution of every clbit (index sum_j bit_j 2^j): one density matrix per
    classical record, evolved by ``qiskit.quantum_info``, with Aer's noise placement: ``after[name]``
    follows each executed gate or reset, ``before[qubit]`` precedes each measurement, and the
    ``readout`` confusion acts on the record."""
    after, before = after or {}, before or {}
    readout = np.eye(2) if readout is None else readout
    n = qc.num_qubits

    def run(branches, data, qmap, cmap):
        for inst in data:
            op, qs = inst.operation, [qmap[q] for q in inst.qubits]
            if op.name == "barrier":
                continue
            if op.name == "if_else":
                target, value = op.condition
                bits = [qc.find_bit(cmap[b]).index for b in ([target] if target in cmap else list(target))]
                hit = {r: x for r, x in branches.items()
                       if sum(((r >> b) & 1) << j for j, b in enumerate(bits)) == value}
                miss = {r: x for r, x in branches.items() if r not in hit}
                out = {}
                for block, part in zip((op.blocks + (None,))[:2], (hit, miss), strict=True):
                    if block is not None and part:
                        sub = dict(zip(block.clbits, [cmap[b] for b in inst.clbits], strict=True))
                        part = run(part, block.data, dict(zip(block.qubits, qs, strict=True)), sub)
                    for r, x in part.items():
                        out[r] = out[r] + x if r in out else x
                branches = out
                continue
            new: dict = {}
            for r, rho in branches.items():
                dm = DensityMatrix(rho)
                if op.name == "measure":
                    if qs[0] in before:
                        dm = dm.evolve(Kraus(before[qs[0]]), qs)
                    b = qc.find_bit(cmap[inst.clbits[0]]).index
                    for t in (0, 1):
                        part = dm.evolve(Operator(np.diag([1.0 - t, t])), qs).data
                        for v in (0, 1):
                            key = (r & ~(1 << b)) | (v << b)
                            new[key] = new.get(key, 0) + readout[t, v] * part
                    continue
                dm = dm.evolve(_RESET if op.name == "reset" else Operator(op), qs)
                if op.name in after:
                    dm = dm.evolve(Kraus(after[op.name]), qs)
                new[r] = new.get(r, 0) + dm.data
            branches = new
        return branches

    rho0 = DensityMatrix.from_label("0" * n).data
    final = run({0: rho0}, qc.data, {q: qc.find_bit(q).index for q in qc.qubits}, {c: c for c in qc.clbits})
    p = np.zeros(2**qc.num_clbits)
    for r, rho in final.items():
        p[r] += np.trace(rho).real
    return p


def _joint(counts: dict) -> dict[int, int]:
    """Qiskit counts ("chk out m") as integers, clbit j = bit j."""
    return {int(k.replace(" ", ""), 2): v for k, v in counts.items()}


def test_feed_forward_reset_and_measure_errors_against_aer():
    qc = _teleport_and_reuse()
    nm, after, before, readout = _dynamic_noise()
    exact = _branching(qc, after, before, readout)
    ideal = _branching(qc)
    for r in np.flatnonzero(ideal > 1e-12):  # noiseless: the state arrives, chk repeats m[1]
        assert (r >> 2) & 1 == 0 and (r >> 3) & 1 == (r >> 1) & 1
    # Aer's own counts fit the reference: its errors on measure act before the measurement.
    aer = AerSimulator(method="density_matrix", noise_model=nm, seed_simulator=SEED)
    assert chi2_pvalue(_joint(aer.run(qc, shots=SHOTS).result().get_counts()), exact) > 1e-4

    backend = LretBackend(noise_model=nm, max_rank=None)
    tq = transpile(qc, backend, optimization_level=0)  # the target takes if_else
    result = backend.run(tq, shots=SHOTS, seed_simulator=SEED, memory=True).result()
    counts = result.get_counts()
    assert set(counts) <= {f"{c} {o} {m:02b}" for c in "01" for o in "01" for m in range(4)}
    assert counts == {k: result.get_memory().count(k) for k in counts}
    assert chi2_pvalue(_joint(counts), exact) > 1e-4
    meta = result.results[0].metadata
    assert meta["discarded"] < 1e-12 and meta["num_qubits"] == 3 + meta["measurement_ancillas"]

    sampler = SamplerV2.from_backend(backend, seed=SEED, max_rank=None)
    data = sampler.run([(qc, None, SHOTS)]).result()[0].data
    rows = zip(data.chk.get_bitstrings(), data.out.get_bitstrings(), data.m.get_bitstrings(), strict=True)
    joint = np.unique([int("".join(row), 2) for row in rows], return_counts=True)
    assert chi2_pvalue(dict(zip(*joint, strict=True)), exact) > 1e-4

    clean = LretBackend(seed_simulator=SEED).run(qc, shots=500).result().get_counts()
    assert chi2_pvalue(_joint(clean), ideal) > 1e-4
    wide = NoiseModel()
    wide.add_quantum_error(depolarizing_error(0.1, 2), ["measure"], [0, 1])
    with pytest.raises(NoiseError):  # a two-qubit error on measure: refused at the front door
        LretBackend(noise_model=wide)


def test_parameter_binds_and_truncation_metadata():
    theta = Parameter("t")
    qc = QuantumCircuit(1, 1)
    qc.rx(theta, 0)
    qc.measure(0, 0)
    backend = LretBackend()
    result = backend.run(qc, shots=2000, seed_simulator=1, parameter_binds=[{theta: [0.0, np.pi]}]).result()
    assert result.get_counts(0) == {"0": 2000} and result.get_counts(1) == {"1": 2000}
    nm = NoiseModel()
    nm.add_all_qubit_quantum_error(depolarizing_error(0.2, 1), ["h"])
    wide = QuantumCircuit(3)
    for q in range(3):
        wide.h(q)
    wide.cx(0, 1)
    wide.cx(1, 2)
    truncated = EstimatorV2(noise_model=nm, max_rank=2).run([(wide, SparsePauliOp("ZZZ"))]).result()
    meta = truncated[0].metadata
    assert meta["max_rank"] == 2 and meta["discarded"][()] > 1e-3 and meta["rank"][()] <= 2
    assert truncated.metadata["max_rank"] == 2
    noisy = EstimatorV2(default_precision=0.1, seed=5).run([(wide, SparsePauliOp("ZII"))]).result()[0]
    assert noisy.data.stds[()] == 0.1 and abs(noisy.data.evs[()]) < 0.5  # exact value 0, Gaussian noise


def test_bad_input_raises_typed_errors():
    theta, phi = Parameter("t"), Parameter("u")
    qc = QuantumCircuit(2)
    qc.rx(theta, 0)
    qc.ry(phi, 1)
    qc.cx(0, 1)
    est, sampler, backend = EstimatorV2(), SamplerV2(), LretBackend()
    with pytest.raises(ParameterError):
        est.run([(qc, SparsePauliOp("ZZ"), [0.1, 0.2, 0.3])])  # three values for two parameters
    with pytest.raises(ObservableError):
        est.run([(qc, SparsePauliOp("ZZZ"), [0.1, 0.2])])  # three qubits on a two-qubit circuit
    with pytest.raises(ObservableError):
        est.run([(qc, "ZQ", [0.1, 0.2])])  # not a Pauli
    with pytest.raises(SimulationConfigError):
        est.run([(qc, SparsePauliOp("ZZ"), [0.1, 0.2])], precision=-1.0)
    measured = qc.assign_parameters([0.1, 0.2])
    measured.measure_all()
    with pytest.raises(CircuitError):
        est.run([(measured, SparsePauliOp("ZZ"))])  # an Estimator circuit must not measure
    with pytest.raises(ParameterError):
        sampler.run([qc])  # unbound parameter, no values
    with pytest.raises(SimulationConfigError):
        sampler.run([measured], shots=0)
    with pytest.raises(ParameterError):
        backend.run(qc)
    with pytest.raises(SimulationConfigError):
        backend.run(measured, shots=-5)
    with pytest.raises(SimulationConfigError):
        backend.run(measured, no_such_option=1)
    with pytest.raises(CircuitError):
        backend.run("OPENQASM 2.0;")
    with pytest.raises(SimulationConfigError):
        LretBackend(max_rank=0)
    with pytest.raises(NoiseError):
        SamplerV2(noise_model=42)


def test_import_lretjax_needs_neither_qiskit_nor_cirq():
    code = "import sys, lretjax; print('qiskit' in sys.modules, 'cirq' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
