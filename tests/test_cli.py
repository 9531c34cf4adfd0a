"""The command line: results against an independent dense reference, and its exit codes."""

import json

import numpy as np
import pytest

import dense
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
