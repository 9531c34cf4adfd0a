"""Bad inputs by kind and what the user sees: each case is a test, and the table in
docs/reliability.md is generated from them:

    python tests/test_reliability_table.py > table.md
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lretjax
from lretjax import Circuit, NoiseModel, Param, simulate
from lretjax.circuit import Op, _trusted
from lretjax.errors import LretError
from lretjax.io import qasm2
from lretjax.simulate import resume


def _bad_op_circuit():
    bad = _trusted(Op("unitary", (0,), (np.diag([1.1, 1.0]).astype(complex),), "unitary"))
    return Circuit(2, [Circuit(2).h(1).ops[0], bad])


def _state():
    return simulate(Circuit(2).h(0))


CASES = [
    # (kind, input, thunk)
    ("circuit", "unknown gate name", lambda: Circuit(2).add("foo", [0])),
    ("circuit", "wire out of range", lambda: Circuit(2).h(5)),
    ("circuit", "repeated wire", lambda: Circuit(2).cx(1, 1)),
    ("circuit", "wire that is not an integer", lambda: Circuit(2).h(0.5)),
    ("circuit", "wrong parameter count", lambda: Circuit(1).add("rx", [0])),
    ("circuit", "NaN gate angle", lambda: Circuit(1).rx(float("nan"), 0)),
    ("circuit", "string angle", lambda: Circuit(1).rx("0.3", 0)),
    ("circuit", "zero wires", lambda: Circuit(0)),
    ("circuit", "non-unitary matrix", lambda: Circuit(1).unitary(np.diag([1, 2]), [0])),
    ("circuit", "matrix of dimension 3", lambda: Circuit(2).unitary(np.eye(3), [0])),
    ("noise", "probability out of range", lambda: Circuit(1).depolarizing(1.5, 0)),
    ("noise", "non-trace-preserving Kraus set", lambda: Circuit(1).kraus([np.eye(2) * 1.1], [0])),
    ("noise", "unknown channel in a NoiseModel", lambda: NoiseModel().gate_noise("nope", 0.1)),
    ("parameters", "unbound symbol", lambda: simulate(Circuit(1).rx(Param("t"), 0))),
    ("parameters", "wrong number of values", lambda: simulate(Circuit(1).rx(Param("t"), 0), params=[1, 2])),
    ("parameters", "NaN value", lambda: simulate(Circuit(1).rx(Param("t"), 0), params=[np.nan])),
    ("settings", "max_rank = 0", lambda: simulate(Circuit(1), max_rank=0)),
    ("settings", "epsilon = 1", lambda: simulate(Circuit(1), epsilon=1.0)),
    ("settings", "checks='yes'", lambda: simulate(Circuit(1), checks="yes")),
    ("settings", "checkpoint_every without checkpoint_dir", lambda: simulate(Circuit(1), checkpoint_every=2)),
    ("settings", "checkpointing inside jit",
     lambda: jax.jit(lambda t: simulate(Circuit(1).rx(t, 0), checkpoint_every=1,
                                        checkpoint_dir="/nonexistent").L)(0.1)),
    ("state", "initial state of the wrong length", lambda: simulate(Circuit(2), initial_state=np.ones(3))),
    ("state", "unnormalised initial state", lambda: simulate(Circuit(2), initial_state=np.ones(4))),
    ("resources", "40 wires at max_rank 64", lambda: simulate(Circuit(40).h(0))),
    ("resources", "dense matrix of a 20-wire state",
     lambda: lretjax.to_density_matrix(lretjax.LowRankState(jnp.zeros((1, 1)), 0.0, 1, 20))),
    ("observable", "bad Pauli letter", lambda: lretjax.expval(_state(), "ZQ")),
    ("observable", "Pauli string of the wrong length", lambda: lretjax.expval(_state(), "ZZZ")),
    ("observable", "complex coefficient", lambda: lretjax.expval(_state(), {"ZZ": 1j})),
    ("observable", "empty observable", lambda: lretjax.expval(_state(), {})),
    ("results", "shots = 0", lambda: lretjax.sample(_state(), 0, jax.random.key(0))),
    ("qasm", "missing semicolon", lambda: qasm2.loads("OPENQASM 2.0;\nqreg q[2];\nU(0,0,0) q[0]\n")),
    ("qasm", "undeclared register", lambda: qasm2.loads("OPENQASM 2.0;\nqreg q[2];\nU(0,0,0) r[0];")),
    ("numerics", "a non-unitary op that slipped past validation", lambda: simulate(_bad_op_circuit())),
    ("checkpoint", "resume from an empty directory",
     lambda: resume("/nonexistent-dir", Circuit(1))),
]


@pytest.mark.parametrize("kind, what, thunk", CASES, ids=[f"{k}: {w}" for k, w, _ in CASES])
def test_bad_input_gets_a_typed_error(kind, what, thunk):
    with pytest.raises(LretError) as e:
        thunk()
    assert len(str(e.value)) > 15  # says what is wrong, not just a type


def table() -> str:
    rows = ["| kind | bad input | error | message (first 110 characters) |", "|---|---|---|---|"]
    for kind, what, thunk in CASES:
        try:
            thunk()
            err, msg = "(none!)", ""
        except Exception as e:  # noqa: BLE001 - the table shows whatever happens
            err, msg = type(e).__name__, str(e)
        msg = re.sub(r"\s+", " ", msg).replace("|", "\\|")
        msg = msg if len(msg) <= 110 else msg[:107] + "..."
        rows.append(f"| {kind} | {what} | `{err}` | {msg} |")
    return "\n".join(rows)


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    print(table())
