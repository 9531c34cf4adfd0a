"""Plain NumPy unitaries of circuits for the compiler tests: matrices written out here, not
taken from lretjax.gates, applied by einsum on a (2,)*n tensor (wire 0 = most significant bit)."""

from __future__ import annotations

import numpy as np

_I = np.eye(2, dtype=complex)
_X = np.array([[0, 1], [1, 0]], dtype=complex)
_Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
_Z = np.diag([1.0 + 0j, -1.0])
_H = np.array([[1, 1], [1, -1]], dtype=complex) / np.sqrt(2)


def _rot(p, t):
    return np.cos(t / 2) * np.eye(p.shape[0]) - 1j * np.sin(t / 2) * p


def _ctrl(u):
    d = u.shape[0]
    m = np.eye(2 * d, dtype=complex)
    m[d:, d:] = u
    return m


def _u3(t, p, l):
    return np.array([[np.cos(t / 2), -np.exp(1j * l) * np.sin(t / 2)],
                     [np.exp(1j * p) * np.sin(t / 2), np.exp(1j * (p + l)) * np.cos(t / 2)]])


def _phase(l):
    return np.diag([1, np.exp(1j * l)])


_SWAP = np.eye(4, dtype=complex)[[0, 2, 1, 3]]

MATRICES = {
    "id": lambda: _I, "x": lambda: _X, "y": lambda: _Y, "z": lambda: _Z, "h": lambda: _H,
    "s": lambda: _phase(np.pi / 2), "sdg": lambda: _phase(-np.pi / 2),
    "t": lambda: _phase(np.pi / 4), "tdg": lambda: _phase(-np.pi / 4),
    "sx": lambda: np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]]) / 2,
    "sxdg": lambda: np.array([[1 - 1j, 1 + 1j], [1 + 1j, 1 - 1j]]) / 2,
    "rx": lambda t: _rot(_X, t), "ry": lambda t: _rot(_Y, t), "rz": lambda t: _rot(_Z, t),
    "p": _phase, "u3": _u3,
    "cx": lambda: _ctrl(_X), "cy": lambda: _ctrl(_Y), "cz": lambda: _ctrl(_Z), "ch": lambda: _ctrl(_H),
    "swap": lambda: _SWAP, "crx": lambda t: _ctrl(_rot(_X, t)), "cry": lambda t: _ctrl(_rot(_Y, t)),
    "crz": lambda t: _ctrl(_rot(_Z, t)), "cp": lambda t: _ctrl(_phase(t)),
    "rxx": lambda t: _rot(np.kron(_X, _X), t), "ryy": lambda t: _rot(np.kron(_Y, _Y), t),
    "rzz": lambda t: _rot(np.kron(_Z, _Z), t),
    "ccx": lambda: _ctrl(_ctrl(_X)), "cswap": lambda: _ctrl(_SWAP),
}


def op_matrix(op) -> np.ndarray:
    if op.kind == "unitary":
        return np.asarray(op.params[0], dtype=complex)
    return np.asarray(MATRICES[op.name](*[float(np.asarray(p)) for p in op.params]), dtype=complex)


def apply(psi: np.ndarray, op, n: int) -> np.ndarray:
    """Apply op to a batch of states psi of shape (2,)*n + (batch,)."""
    k = len(op.wires)
    u = op_matrix(op).reshape((2,) * (2 * k))
    out = np.tensordot(u, psi, axes=(list(range(k, 2 * k)), list(op.wires)))
    return np.moveaxis(out, list(range(k)), list(op.wires))


def unitary(circuit) -> np.ndarray:
    n = circuit.num_wires
    psi = np.eye(2**n, dtype=complex).reshape((2,) * n + (2**n,))
    for op in circuit.ops:
        psi = apply(psi, op, n)
    return psi.reshape(2**n, 2**n)


def run(circuit, states: np.ndarray) -> np.ndarray:
    """Columns of ``states`` (2^n, b) evolved by the circuit."""
    n = circuit.num_wires
    psi = states.reshape((2,) * n + (states.shape[1],))
    for op in circuit.ops:
        psi = apply(psi, op, n)
    return psi.reshape(2**n, -1)


def phase_distance(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - e^{i phi} b| over the best global phase phi."""
    k = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    ph = a[k] / b[k]
    ph = ph / abs(ph) if abs(ph) > 0 else 1.0
    return float(np.max(np.abs(a - ph * b)))


def permute_wires(u: np.ndarray, perm, n: int) -> np.ndarray:
    """The unitary with output wire perm[q] holding what wire q held (relabel rows)."""
    t = u.reshape((2,) * n + (-1,))
    t = np.moveaxis(t, list(range(n)), list(perm))
    return t.reshape(2**n, -1)


# The reference itself, checked against identities that do not depend on it.
def test_reference_gate_identities():
    assert np.allclose(MATRICES["h"]() @ _X @ MATRICES["h"](), _Z)
    assert np.allclose(MATRICES["s"]() @ MATRICES["s"](), _Z)
    assert np.allclose(MATRICES["sx"]() @ MATRICES["sx"](), _X)
    assert np.allclose(MATRICES["rx"](np.pi), -1j * _X)
    assert np.allclose(MATRICES["u3"](np.pi / 2, 0, np.pi), _H)


def test_reference_wire_order():
    from lretjax import Circuit

    # CX with control on wire 0 (most significant) maps |10> to |11>.
    u = unitary(Circuit(2).cx(0, 1))
    assert u[3, 2] == 1 and u[2, 3] == 1 and u[0, 0] == 1
    u = unitary(Circuit(2).x(1))
    assert u[1, 0] == 1
