"""The command line: results against an independent dense reference, and its exit codes."""

import json

import dense
import numpy as np
import pytest

from lretjax.cli import EXIT_INPUT, EXIT_OK, EXIT_RESOURCE, main
from lretjax.io.qasm2 import load

BELL_NOISY = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[3];
h q[0];
cx q[0],q[1];
rx(0.7) q[2];
cz q[1],q[2];
"""


def _run_json(capsys, *argv):
    code = main([*argv, "--json", "--x64"])
    out = capsys.readouterr().out
    return code, (json.loads(out) if code == EXIT_OK else None)


def test_run_matches_dense_reference(tmp_path, capsys):
    path = tmp_path / "bell.qasm"
    path.write_text(BELL_NOISY)
    code, r = _run_json(
        capsys, "run", str(path), "--noise", "depolarizing=0.05", "--noise", "amplitude_damping=0.1",
        "--max-rank", "64", "--expval", "ZZI", "--expval", "Z0 X2", "--top", "8",
    )
    assert code == EXIT_OK
    # Independent reference: the same insertion rule written out here, evolved densely.
    from lretjax import Circuit

    base = load(path)
    ops = []
    for op in base.ops:
        ops.append(op)
        for name, p in (("depolarizing", 0.05), ("amplitude_damping", 0.1)):
            ops.extend((name, [w], [p]) for w in op.wires)
    rho = dense.evolve(Circuit(3, ops))
    probs = np.real(np.diag(rho))
    assert r["num_channels"] == 2 * sum(len(op.wires) for op in base.ops)
    assert r["discarded_weight"] < 1e-12
    for bits, p in r["top_probabilities"].items():
        assert p == pytest.approx(probs[int(bits, 2)], abs=1e-10)
    assert r["expval"]["ZZI"] == pytest.approx(dense.expval(rho, "ZZI"), abs=1e-10)
    assert r["expval"]["Z0 X2"] == pytest.approx(dense.expval(rho, "ZIX"), abs=1e-10)


def test_exact_flag_and_shots(tmp_path, capsys):
    path = tmp_path / "bell.qasm"
    path.write_text(BELL_NOISY)
    code, r = _run_json(capsys, "run", str(path), "--noise", "depolarizing=0.2", "--max-rank", "2",
                        "--exact", "--shots", "200")
    assert code == EXIT_OK
    assert r["rank"] <= 2
    assert 0 < r["exact_trace_distance"] <= r["discarded_weight"] + 1e-12
    assert sum(r["counts"].values()) <= 200 and all(len(b) == 3 for b in r["counts"])


def test_table_output(tmp_path, capsys):
    path = tmp_path / "bell.qasm"
    path.write_text(BELL_NOISY)
    assert main(["run", str(path), "--expval", "ZZI", "--quiet"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "discarded weight" in out and "<ZZI>" in out


@pytest.mark.parametrize(
    "text, needle",
    [("OPENQASM 2.0;\nqreg q[2];\nfoo q[0];\n", ":3:"), ("OPENQASM 2.0;\nqreg q[2]\nh q[0];\n", ":2:")],
)
def test_bad_qasm_exits_2_with_location(tmp_path, capsys, text, needle):
    path = tmp_path / "bad.qasm"
    path.write_text(text)
    assert main(["run", str(path)]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert "bad.qasm" in err and needle in err


def test_missing_file_and_bad_noise(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.qasm")]) == EXIT_INPUT
    assert "no such file" in capsys.readouterr().err
    path = tmp_path / "bell.qasm"
    path.write_text(BELL_NOISY)
    assert main(["run", str(path), "--noise", "sparkle=0.1"]) == EXIT_INPUT
    assert "sparkle" in capsys.readouterr().err
    assert main(["run", str(path), "--noise", "depolarizing=lots"]) == EXIT_INPUT
    assert "lots" in capsys.readouterr().err
    assert main(["run", str(path), "--noise", "depolarizing=1.5"]) == EXIT_INPUT
    assert "outside" in capsys.readouterr().err


def test_too_large_exits_3(tmp_path, capsys):
    path = tmp_path / "big.qasm"
    path.write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[44];\nh q[0];\n')
    assert main(["run", str(path), "--max-rank", "64"]) == EXIT_RESOURCE
    assert "max_rank" in capsys.readouterr().err


# -- file formats, parameters, noise models, plots and the other subcommands -------------------------

DATA = __import__("pathlib").Path(__file__).parent / "data"

QASM3 = """OPENQASM 3.0;
include "stdgates.inc";
input float theta;
qubit[2] q;
h q[0];
cx q[0], q[1];
ry(2 * theta) q[1];
"""


def test_run_lret_json_uses_its_observables_and_config(capsys):
    from lretjax.io.json_format import load_program

    path = str(DATA / "json" / "lret_bell_noisy.json")
    rho = dense.evolve(load_program(path).circuit)
    code, r = _run_json(capsys, "run", path)
    assert code == EXIT_OK
    assert r["max_rank"] == 16 and r["epsilon"] == 1e-4  # from the file's config
    # epsilon truncates: the error of <ZZ> (||ZZ|| = 1) is bounded by the discarded weight
    assert 0 < abs(r["expval"]["ZZ01"] - dense.expval(rho, "ZZI")) <= r["discarded_weight"]
    code, r = _run_json(capsys, "run", path, "--epsilon", "0", "--max-rank", "8")
    assert r["max_rank"] == 8 and r["epsilon"] == 0  # the command line wins over the config
    assert r["expval"]["ZII"] == pytest.approx(dense.expval(rho, "ZII"), abs=1e-10)
    assert r["expval"]["ZZ01"] == pytest.approx(dense.expval(rho, "ZZI"), abs=1e-10)
    assert r["expval"]["0.5*IIX"] == pytest.approx(0.5 * dense.expval(rho, "IIX"), abs=1e-10)


@pytest.mark.parametrize("suffix", [".qasm", ".qasm3"])
def test_run_qasm3_with_params(tmp_path, capsys, suffix):
    path = tmp_path / f"c{suffix}"
    path.write_text(QASM3)
    code, r = _run_json(capsys, "run", str(path), "--param", "theta=0.3", "--expval", "ZZ", "--expval", "IZ")
    assert code == EXIT_OK
    from lretjax.io.qasm3 import load

    rho = dense.evolve(load(path), {"theta": 0.3})
    assert r["expval"]["ZZ"] == pytest.approx(dense.expval(rho, "ZZ"), abs=1e-10)
    assert r["expval"]["IZ"] == pytest.approx(dense.expval(rho, "IZ"), abs=1e-10)
    assert main(["run", str(path)]) == EXIT_INPUT
    assert "--param theta=" in capsys.readouterr().err
    assert main(["run", str(path), "--param", "theta"]) == EXIT_INPUT
    assert "NAME=VALUE" in capsys.readouterr().err


def test_noise_model_file(tmp_path, capsys):
    qiskit_aer = pytest.importorskip("qiskit_aer")
    from qiskit_aer.noise import depolarizing_error

    model = qiskit_aer.noise.NoiseModel()
    model.add_all_qubit_quantum_error(depolarizing_error(0.08, 1), ["h"])
    model.add_all_qubit_quantum_error(depolarizing_error(0.1, 2), ["cx"])
    nm = tmp_path / "noise.json"
    nm.write_text(json.dumps(model.to_dict(serializable=True)))
    path = tmp_path / "bell.qasm"
    path.write_text(BELL_NOISY)
    code, r = _run_json(capsys, "run", str(path), "--noise-model", str(nm), "--expval", "ZZI")
    assert code == EXIT_OK
    # Reference: Qiskit's depolarizing(lam) on k qubits is rho -> (1 - lam) rho + lam * (the
    # Pauli twirl of rho over those qubits), written out here.
    base = load(path)
    rho = np.zeros((8, 8), complex)
    rho[0, 0] = 1
    for op in base.ops:
        u = dense.embed(dense.op_kraus(op)[0], op.wires, 3)
        rho = u @ rho @ u.conj().T
        lam = {"h": 0.08, "cx": 0.1}.get(op.name)
        if lam is not None:
            k = len(op.wires)
            mixed = np.zeros_like(rho)
            for pa in range(4**k):
                letters = "".join("IXYZ"[(pa >> (2 * j)) & 3] for j in range(k))
                full = ["I"] * 3
                for w, ch in zip(op.wires, letters, strict=True):
                    full[w] = ch
                pm = dense.pauli_matrix("".join(full))
                mixed += pm @ rho @ pm / 4**k
            rho = (1 - lam) * rho + lam * mixed
    assert r["num_channels"] == 2
    assert r["expval"]["ZZI"] == pytest.approx(dense.expval(rho, "ZZI"), abs=1e-10)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["run", str(path), "--noise-model", str(bad)]) == EXIT_INPUT
    assert "bad.json:1:" in capsys.readouterr().err


def test_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "bell.qasm"
    path.write_text(BELL_NOISY)
    out = tmp_path / "rank.png"
    code, r = _run_json(capsys, "run", str(path), "--noise", "depolarizing=0.1", "--max-rank", "3",
                        "--plot", str(out))
    assert code == EXIT_OK and r["plot"] == str(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from lretjax import Circuit, simulate
    from lretjax.cli import _trajectory

    c = Circuit(3).h(0).depolarizing(0.1, 0).depolarizing(0.1, 1).cx(0, 1)
    xs, ranks, disc = _trajectory(simulate(c, max_rank=64, record=True), len(c.ops))
    assert xs == [0, 2, 3, 4] and disc[-1] < 1e-12
    for x, rank in zip(xs, ranks, strict=True):  # no truncation at max_rank 64: the exact rank
        rho = dense.evolve(Circuit(3, c.ops[:x]))
        assert rank == np.linalg.matrix_rank(rho, tol=1e-10)


def test_compile_writes_equivalent_qasm(tmp_path, capsys):
    src = DATA / "qasm" / "tof_3.qasm"
    out = tmp_path / "opt.qasm"
    code = main(["compile", str(src), "-O", "2", "-o", str(out), "--json"])
    assert code == EXIT_OK
    r = json.loads(capsys.readouterr().out)
    assert r["after"]["num_gates"] <= r["before"]["num_gates"] and r["output"] == str(out)
    a, b = load(src), load(out)
    n = a.num_wires

    def unitary(c):
        u = np.eye(2**n, dtype=complex)
        for op in c.ops:
            u = dense.embed(dense.op_kraus(op)[0], op.wires, n) @ u
        return u

    ua, ub = unitary(a), unitary(b)
    i = np.unravel_index(np.argmax(abs(ua)), ua.shape)
    np.testing.assert_allclose(ub, ub[i] / ua[i] * ua, atol=1e-9)
    assert main(["compile", str(src)]) == EXIT_OK
    assert "before" in capsys.readouterr().out
    assert main(["compile", str(src), "-O", "7"]) == EXIT_INPUT


def test_bench_and_info(capsys):
    assert main(["bench", "--qubits", "2", "--depth", "1", "--repeat", "1", "--json"]) == EXIT_OK
    r = json.loads(capsys.readouterr().out)
    assert r["trace_distance"] <= r["discarded_weight"] + 1e-6 and r["speedup"] > 0
    assert main(["bench", "--qubits", "20"]) == EXIT_INPUT
    assert "12" in capsys.readouterr().err
    assert main(["info", "--json"]) == EXIT_OK
    r = json.loads(capsys.readouterr().out)
    assert r["jax"] and r["devices"] and "qiskit" in r["extras"]
    assert main(["info"]) == EXIT_OK and "jax" in capsys.readouterr().out


def test_unknown_subcommand_and_missing_json(tmp_path, capsys):
    assert main(["frobnicate"]) == EXIT_INPUT
    assert main(["run", str(tmp_path / "nope.json")]) == EXIT_INPUT
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"circuit": {"num_qubits": 1, "operations": [{"name": "zap", "wires": [0]}]}}')
    assert main(["run", str(bad)]) == EXIT_INPUT
    assert "operations[0]" in capsys.readouterr().err
    bad.write_text('{"circuit": {"num_qubits": 1, "operations": []}, "config": {"max_rank": "lots"}}')
    assert main(["run", str(bad)]) == EXIT_INPUT
    assert "config.max_rank" in capsys.readouterr().err


def test_second_run_compiles_nothing_with_the_cache(tmp_path):
    """The persistent compilation cache: a second ``lretjax run`` of the same circuit, in a fresh
    process, finds every program it needs on disk (the cache gains no entry); --no-cache leaves
    the directory alone."""
    import os
    import subprocess
    import sys

    path = tmp_path / "bell.qasm"
    path.write_text(BELL_NOISY)
    cache = tmp_path / "cache"
    cmd = [sys.executable, "-m", "lretjax", "run", str(path), "--noise", "depolarizing=0.05",
           "--expval", "ZZI", "--shots", "100", "--json", "--cache-dir", str(cache)]
    env = dict(os.environ, JAX_PLATFORMS="cpu")

    def entries():
        return sorted(p.name for p in cache.rglob("*") if p.is_file())

    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    assert json.loads(first.stdout)["compilation_cache"] == str(cache)
    filled = entries()
    assert len(filled) >= 3  # the loop, the readers, ...
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert entries() == filled
    assert json.loads(second.stdout)["expval"] == json.loads(first.stdout)["expval"]
    off = tmp_path / "off"
    run = subprocess.run(cmd[:-2] + ["--no-cache"], capture_output=True, text=True, timeout=300,
                         env=dict(env, LRETJAX_CACHE_DIR=str(off)))
    assert run.returncode == 0 and json.loads(run.stdout)["compilation_cache"] is None and not off.exists()


# -- a dynamic circuit: classical register outcomes ---------------------------------------------------

DYNAMIC = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[3];
creg m[1];
creg c[2];
creg r[1];
h q[0];
cx q[0],q[1];
measure q[0] -> m[0];
reset q[0];
if(m==1) x q[2];
ry(0.7) q[2];
cx q[1],q[2];
rx(0.4) q[0];
measure q[1] -> c[0];
measure q[2] -> c[1];
measure q[0] -> r[0];
"""


def _register_reference(qc, p: float) -> dict[str, np.ndarray]:
    """Exact register distributions of a Qiskit circuit (``qiskit.quantum_info``, one density
    matrix per classical record) with ``--noise depolarizing=p``'s rule written out: after each
    gate that acts, (1 - p) rho + p/3 (X rho X + Y rho Y + Z rho Z) on each of its qubits."""
    from qiskit.quantum_info import DensityMatrix, Kraus, Operator

    paulis = [np.eye(2), np.array([[0, 1], [1, 0]]), np.array([[0, -1j], [1j, 0]]), np.diag([1.0, -1.0])]
    depol = Kraus([np.sqrt(1 - p) * paulis[0]] + [np.sqrt(p / 3) * s for s in paulis[1:]])
    reset = Kraus([np.array([[1, 0], [0, 0]]), np.array([[0, 1], [0, 0]])])

    def run(branches, data, qmap):
        for inst in data:
            op, qs = inst.operation, [qmap[q] for q in inst.qubits]
            if op.name == "if_else":
                target, value = op.condition
                bits = [qc.find_bit(b).index for b in target]

                def read(k, bits=bits):
                    return sum(((k >> b) & 1) << j for j, b in enumerate(bits))

                hit = {k: x for k, x in branches.items() if read(k) == value}
                done = run(hit, op.blocks[0].data, dict(zip(op.blocks[0].qubits, qs, strict=True)))
                branches = {**{k: x for k, x in branches.items() if k not in hit}, **done}
                continue
            new = {}
            for k, rho in branches.items():
                if op.name == "measure":
                    b = qc.find_bit(inst.clbits[0]).index
                    for t in (0, 1):
                        key = (k & ~(1 << b)) | (t << b)
                        new[key] = new.get(key, 0) + rho.evolve(Operator(np.diag([1.0 - t, t])), qs).data
                    continue
                rho = rho.evolve(reset if op.name == "reset" else Operator(op), qs)
                if op.name != "reset":
                    for q in qs:
                        rho = rho.evolve(depol, [q])
                new[k] = new.get(k, 0) + rho.data
            branches = {k: DensityMatrix(x) for k, x in new.items()}
        return branches

    final = run({0: DensityMatrix.from_label("000")}, qc.data, {q: qc.find_bit(q).index for q in qc.qubits})
    out = {}
    for reg in qc.cregs:
        bits = [qc.find_bit(b).index for b in reg]
        dist = np.zeros(2**reg.size)
        for k, rho in final.items():
            dist[sum(((k >> b) & 1) << j for j, b in enumerate(bits))] += np.trace(rho.data).real
        out[reg.name] = dist
    return out


def test_dynamic_circuit_register_probabilities(tmp_path, capsys):
    qiskit = pytest.importorskip("qiskit")
    path = tmp_path / "dynamic.qasm"
    path.write_text(DYNAMIC)
    code, r = _run_json(capsys, "run", str(path), "--noise", "depolarizing=0.05", "--shots", "300",
                        "--expval", "IZI")
    assert code == EXIT_OK
    want = _register_reference(qiskit.QuantumCircuit.from_qasm_str(DYNAMIC), 0.05)
    assert set(r["registers"]) == {"m", "c", "r"}
    for name, dist in want.items():
        size = int(np.log2(dist.size))
        got = r["registers"][name]
        assert list(got) == [format(v, f"0{size}b") for v in range(dist.size)]
        np.testing.assert_allclose(list(got.values()), dist, atol=1e-10, rtol=0)
    assert r["ancillas"] >= 1 and r["num_wires"] == 3 and r["discarded_weight"] < 1e-12
    assert sum(r["register_counts"].values()) <= 300
    assert all(len(k.split()) == 3 for k in r["register_counts"])  # Qiskit's keys: "r c m"
    # <Z> of wire 1, the state averaged over the outcomes: wire 1 was measured into c[0]
    assert r["expval"]["IZI"] == pytest.approx(want["c"][0] + want["c"][2] - want["c"][1] - want["c"][3],
                                               abs=1e-10)
    assert main(["run", str(path), "--noise", "depolarizing=0.05", "--quiet"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "P(c = 01)" in out and "holding bits" in out
