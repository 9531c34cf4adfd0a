"""LRET JSON circuit files: a hand-written file against the dense reference, round trips, errors."""

from pathlib import Path

import dense
import numpy as np
import pytest

from lretjax import Circuit, Param, expval, simulate
from lretjax.errors import CircuitError
from lretjax.io import json_format

DATA = Path(__file__).parent / "data" / "json" / "lret_bell_noisy.json"


def test_hand_written_lret_file_matches_dense_reference():
    prog = json_format.load_program(DATA)
    # The same circuit written by hand in lretjax's own names: the file's spellings must map onto it.
    expected = [("h", (0,), ()), ("cx", (0, 1), ()), ("ry", (2,), (0.4,)), ("depolarizing", (1,), (0.05,)),
                ("amplitude_damping", (2,), (0.1,)), ("cz", (1, 2), ()), ("u3", (0,), (0.3, 0.2, 0.1))]
    got = [(op.name, op.wires, tuple(float(p) for p in op.params)) for op in prog.circuit.ops]
    assert got == expected
    assert prog.config == {"epsilon": 1e-4, "max_rank": 16, "shots": 0}
    rho = dense.evolve(prog.circuit)
    state = simulate(prog.circuit, max_rank=16)
    want = {"ZII": 1.0, "ZZ01": None, "0.5*IIX": 0.5}
    labels = [label for label, _ in prog.observables]
    assert labels == ["ZII", "ZZ01", "0.5*IIX"] and set(want) == set(labels)
    refs = [dense.expval(rho, "ZII"), dense.expval(rho, "ZZI"), 0.5 * dense.expval(rho, "IIX")]
    for (_, obs), ref in zip(prog.observables, refs, strict=True):
        assert float(expval(state, obs)) == pytest.approx(ref, abs=1e-10)


def test_round_trip_keeps_every_op_kind():
    rng = np.random.default_rng(1)
    u = dense.random_unitary(rng, 4)
    ks = dense.random_kraus(rng, 2, 3)
    c = (Circuit(3).h(0).rx(2 * Param("a") + 1, 1).crz(0.3, 0, 2).unitary(u, [2, 0])
         .kraus(ks, [1]).depolarizing(0.02, 0).phase_damping(0.3, 2))
    text = json_format.dumps(c, observables=["ZZI", {"XIX": -0.5}], config={"epsilon": 1e-3})
    prog = json_format.loads_program(text)
    back = prog.circuit
    assert back.parameters == ("a",)
    assert [(o.name, o.wires, o.kind) for o in back.ops] == [(o.name, o.wires, o.kind) for o in c.ops]
    bound, bound_back = c.bind({"a": 0.7}), back.bind({"a": 0.7})
    np.testing.assert_allclose(dense.evolve(bound_back), dense.evolve(bound), atol=1e-12)
    assert [lbl for lbl, _ in prog.observables] == ["ZZI", "-0.5*XIX"]
    assert prog.config == {"epsilon": 1e-3}


def test_hermitian_observable_and_symbol_objects():
    text = """{"circuit": {"num_qubits": 2,
      "operations": [{"name": "rx", "wires": 1, "params": [{"name": "t", "coeff": 2, "offset": 0.5}]}],
      "observables": [{"type": "HERMITIAN", "wires": [1], "matrix": [[[1, 0], [0, -1]], [[0, 1], [1, 0]]],
                       "name": "Hy"}]}}"""
    prog = json_format.loads_program(text)
    assert prog.circuit.ops[0].params[0] == Param("t", 2.0, 0.5)
    state = simulate(prog.circuit, {"t": 0.2})
    rho = dense.evolve(prog.circuit, {"t": 0.2})
    m = np.array([[1, -1j], [1j, 1]])  # entries are [re, im] pairs: I + Y
    ref = np.real(np.trace(rho @ np.kron(np.eye(2), m)))
    (label, obs), = prog.observables
    assert label == "Hy" and float(expval(state, obs)) == pytest.approx(ref, abs=1e-10)


@pytest.mark.parametrize("text, needle", [
    ('{"circuit": {"num_qubits": 2, "operations": [{"name": "h", "wires": [0]}, '
     '{"name": "sparkle", "wires": [0]}]}}', "operations[1]"),
    ('{"circuit": {"num_qubits": 2, "operations": [{"name": "cx", "wires": [0, 2]}]}}', "operations[0]"),
    ('{"circuit": {"num_qubits": 2, "operations": [{"name": "rx", "wires": [0]}]}}', "parameter"),
    ('{"circuit": {"num_qubits": 0, "operations": []}}', "num_qubits"),
    ('{"circuit": {"num_qubits": 2,\n "operations": [}}', "x.json:2:"),
    ('{"circuit": {"num_qubits": 1, "observables": [{"type": "PAULI", "operator": "Q", "wires": [0]}]}}',
     "observables[0]"),
])
def test_errors_name_the_entry(text, needle):
    with pytest.raises(CircuitError) as e:
        json_format.loads_program(text, source="x.json")
    assert needle in str(e.value) and "x.json" in str(e.value)


def test_file_round_trip(tmp_path):
    c = Circuit(2).h(0).cx(0, 1).bit_flip(0.1, 1)
    json_format.dump(c, tmp_path / "c.json")
    back = json_format.load(tmp_path / "c.json")
    np.testing.assert_allclose(dense.evolve(back), dense.evolve(c), atol=1e-12)
