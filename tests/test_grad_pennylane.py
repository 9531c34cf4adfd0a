"""Gradients of noisy circuits against PennyLane's default.mixed (jax backprop), a peer simulator."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_grad import random_case

from lretjax import Param
from lretjax.grad import expval_fn

qml = pytest.importorskip("pennylane")

# PennyLane 0.45 calls jax.core.is_concrete, deprecated in jax 0.10: its warning, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:jax.core.is_concrete is deprecated:DeprecationWarning")

GATES = {
    "rx": "RX", "ry": "RY", "rz": "RZ", "p": "PhaseShift", "u3": "U3", "u2": "U2",
    "crx": "CRX", "cry": "CRY", "crz": "CRZ", "cp": "ControlledPhaseShift",
    "rxx": "IsingXX", "ryy": "IsingYY", "rzz": "IsingZZ", "h": "Hadamard", "sx": "SX", "cx": "CNOT",
}
CHANNELS = {
    "depolarizing": "DepolarizingChannel", "amplitude_damping": "AmplitudeDamping",
    "phase_damping": "PhaseDamping",
}
PAULI = {"X": "PauliX", "Y": "PauliY", "Z": "PauliZ"}


def pennylane_fn(circuit, obs):
    """The same circuit as a default.mixed QNode of the parameter vector."""
    n = circuit.num_wires
    names = circuit.parameters
    dev = qml.device("default.mixed", wires=n)
    terms = []
    for pauli, coeff in obs.items():
        factors = [getattr(qml, PAULI[ch])(w) for w, ch in enumerate(pauli) if ch != "I"]
        terms.append((coeff, qml.prod(*factors) if len(factors) > 1 else factors[0]))
    hamiltonian = qml.Hamiltonian([c for c, _ in terms], [o for _, o in terms])

    @qml.qnode(dev, interface="jax", diff_method="backprop")
    def qnode(params):
        for op in circuit.ops:
            values = [
                params[names.index(p.name)] * p.coeff + p.offset if isinstance(p, Param) else p
                for p in op.params
            ]
            table = GATES if op.kind == "gate" else CHANNELS
            getattr(qml, table[op.name])(*values, wires=list(op.wires))
        return qml.expval(hamiltonian)

    return qnode


CASES = [
    (0, 2, 4, 2),
    (7, 3, 6, 2),
    pytest.param(3, 3, 5, 2, marks=pytest.mark.slow),
    pytest.param(12, 2, 5, 2, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("seed,n,num_gates,num_channels", CASES)
def test_gradients_match_pennylane_default_mixed(seed, n, num_gates, num_channels):
    c, obs, params = random_case(seed, n, num_gates, num_channels)
    p = jnp.asarray(params)
    ref_value, ref_grad = jax.value_and_grad(pennylane_fn(c, obs))(p)
    for method in ("backprop", "parameter-shift"):
        value, grad = jax.jit(jax.value_and_grad(expval_fn(c, obs, diff_method=method, max_rank=2**n)))(p)
        np.testing.assert_allclose(value, ref_value, atol=1e-10)
        np.testing.assert_allclose(grad, ref_grad, atol=1e-9, err_msg=method)
