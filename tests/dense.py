"""An independent dense density-matrix reference for the tests.

Nothing here comes from lretjax's gate or channel code: matrices are written from their
definitions (Pauli exponentials through scipy's expm, controlled gates by block structure,
U3 by its Euler decomposition), Kraus sets from the PennyLane conventions, and a k-wire
operator is embedded into n wires by a Kronecker product followed by a wire permutation.
From a lretjax Circuit it reads only ``op.name``, ``op.wires``, ``op.params`` and ``op.kind``
(and the fields of a ``Param``: name, coeff, offset).
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
from scipy.linalg import block_diag, expm

I2 = np.eye(2, dtype=complex)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
Z = np.array([[1, 0], [0, -1]], dtype=complex)
PAULI = {"I": I2, "X": X, "Y": Y, "Z": Z}


def kron(*ms) -> np.ndarray:
    return functools.reduce(np.kron, ms, np.eye(1, dtype=complex))


def pauli_exp(t: float, p: np.ndarray) -> np.ndarray:
    """exp(-i t P / 2)."""
    return expm(-0.5j * t * p)


def ctrl(u: np.ndarray, num_controls: int = 1) -> np.ndarray:
    """u applied when every leading control wire is 1: diag(I, ..., I, u)."""
    d = u.shape[0]
    return block_diag(np.eye(2**num_controls * d - d), u).astype(complex)


def swap_matrix() -> np.ndarray:
    """SWAP as the permutation |a b> -> |b a>."""
    m = np.zeros((4, 4), dtype=complex)
    for a, b in itertools.product((0, 1), repeat=2):
        m[2 * b + a, 2 * a + b] = 1
    return m


def u3(theta, phi, lam) -> np.ndarray:
    """OpenQASM 3 U(theta, phi, lambda) = e^{i(phi+lambda)/2} RZ(phi) RY(theta) RZ(lambda)."""
    return np.exp(0.5j * (phi + lam)) * pauli_exp(phi, Z) @ pauli_exp(theta, Y) @ pauli_exp(lam, Z)


def phase(lam) -> np.ndarray:
    return np.diag([1, np.exp(1j * lam)]).astype(complex)


_SX = np.exp(0.25j * np.pi) * pauli_exp(np.pi / 2, X)  # sqrt(X), SX @ SX = X
_S = phase(np.pi / 2)
_T = phase(np.pi / 4)
_H = (X + Z) / np.sqrt(2)

GATES = {
    "id": lambda: I2,
    "x": lambda: X,
    "y": lambda: Y,
    "z": lambda: Z,
    "h": lambda: _H,
    "s": lambda: _S,
    "sdg": lambda: _S.conj().T,
    "t": lambda: _T,
    "tdg": lambda: _T.conj().T,
    "sx": lambda: _SX,
    "sxdg": lambda: _SX.conj().T,
    "rx": lambda t: pauli_exp(t, X),
    "ry": lambda t: pauli_exp(t, Y),
    "rz": lambda t: pauli_exp(t, Z),
    "p": phase,
    "u2": lambda phi, lam: u3(np.pi / 2, phi, lam),
    "u3": u3,
    "cx": lambda: ctrl(X),
    "cy": lambda: ctrl(Y),
    "cz": lambda: ctrl(Z),
    "ch": lambda: ctrl(_H),
    "swap": swap_matrix,
    "iswap": lambda: expm(0.25j * np.pi * (kron(X, X) + kron(Y, Y))),
    "crx": lambda t: ctrl(pauli_exp(t, X)),
    "cry": lambda t: ctrl(pauli_exp(t, Y)),
    "crz": lambda t: ctrl(pauli_exp(t, Z)),
    "cp": lambda t: ctrl(phase(t)),
    "rxx": lambda t: pauli_exp(t, kron(X, X)),
    "ryy": lambda t: pauli_exp(t, kron(Y, Y)),
    "rzz": lambda t: pauli_exp(t, kron(Z, Z)),
    "ccx": lambda: ctrl(X, 2),
    "cswap": lambda: ctrl(swap_matrix()),
    # Qiskit's echoed cross-resonance gate (IX - XY)/sqrt(2), little-endian, so its q0 is our first wire.
    "ecr": lambda: (kron(X, I2) - kron(Y, X)) / np.sqrt(2),
}

# Independent spelling table: what each alias must mean.
ALIAS_TARGETS = {
    "i": "id", "identity": "id", "u1": "p", "phase": "p", "phaseshift": "p", "u": "u3",
    "cnot": "cx", "toffoli": "ccx", "fredkin": "cswap", "cphase": "cp", "cu1": "cp",
    "controlledphaseshift": "cp", "hadamard": "h", "paulix": "x", "pauliy": "y", "pauliz": "z",
    "isingxx": "rxx", "isingyy": "ryy", "isingzz": "rzz",
}


def _mixture(probs, ops) -> np.ndarray:
    return np.stack([np.sqrt(p) * o for p, o in zip(probs, ops, strict=True)]).astype(complex)


def _paulis2():
    return [kron(a, b) for a, b in itertools.product((I2, X, Y, Z), repeat=2)]


CHANNELS = {
    "depolarizing": lambda p: _mixture([1 - p, p / 3, p / 3, p / 3], [I2, X, Y, Z]),
    "depolarizing2": lambda p: _mixture([1 - p] + [p / 15] * 15, _paulis2()),
    "amplitude_damping": lambda g: np.array(
        [[[1, 0], [0, np.sqrt(1 - g)]], [[0, np.sqrt(g)], [0, 0]]], dtype=complex
    ),
    "phase_damping": lambda g: np.array(
        [[[1, 0], [0, np.sqrt(1 - g)]], [[0, 0], [0, np.sqrt(g)]]], dtype=complex
    ),
    "bit_flip": lambda p: _mixture([1 - p, p], [I2, X]),
    "phase_flip": lambda p: _mixture([1 - p, p], [I2, Z]),
    "bit_phase_flip": lambda p: _mixture([1 - p, p], [I2, Y]),
}
CHANNEL_WIRES = {"depolarizing2": 2}


def superoperator(kraus) -> np.ndarray:
    """sum_i K_i (x) conj(K_i): equal for two Kraus sets exactly when they are the same channel."""
    return sum(np.kron(k, k.conj()) for k in np.asarray(kraus))


def embed(op: np.ndarray, wires, n: int) -> np.ndarray:
    """The 2^n x 2^n matrix of a k-wire ``op`` on ``wires`` (wire 0 = most significant bit)."""
    wires = list(wires)
    k = len(wires)
    rest = [w for w in range(n) if w not in wires]
    full = np.kron(op, np.eye(2 ** (n - k)))  # acts on the wire order wires + rest
    order = wires + rest
    perm = list(np.argsort(order))
    t = full.reshape((2,) * (2 * n)).transpose(perm + [n + p for p in perm])
    return t.reshape(2**n, 2**n)


def _resolve(p, table):
    if type(p).__name__ == "Param":
        return p.coeff * float(table[p.name]) + p.offset
    return p


def op_kraus(op, table=None) -> np.ndarray:
    """The Kraus set (m, d, d) of an op, from this module's definitions."""
    params = [_resolve(p, table) for p in op.params]
    if op.kind == "gate":
        return GATES[op.name](*[float(p) for p in params])[None]
    if op.kind == "channel":
        return CHANNELS[op.name](*[float(p) for p in params])
    if op.kind == "unitary":
        return np.asarray(params[0], dtype=complex)[None]
    if op.kind == "kraus":
        return np.asarray(params[0], dtype=complex)
    raise ValueError(f"unknown op kind {op.kind!r}")


def evolve(circuit, params=None, initial=None) -> np.ndarray:
    """rho after ``circuit``: sum_K K rho K^dagger with each K embedded densely.

    ``params`` (vector in first-appearance order, or dict) resolves symbolic parameters here,
    independently of ``Circuit.bind``. ``initial`` is a vector, a factor L or a density matrix.
    """
    n = circuit.num_wires
    table = None
    if params is not None:
        names = []
        for op in circuit.ops:
            for p in op.params:
                if type(p).__name__ == "Param" and p.name not in names:
                    names.append(p.name)
        if isinstance(params, dict):
            table = dict(params)
        else:
            table = dict(zip(names, np.asarray(params), strict=True))
    rho = density(initial, n)
    for op in circuit.ops:
        ks = [embed(k, op.wires, n) for k in op_kraus(op, table)]
        rho = sum(k @ rho @ k.conj().T for k in ks)
    return rho


def density(initial, n: int) -> np.ndarray:
    dim = 2**n
    if initial is None:
        rho = np.zeros((dim, dim), dtype=complex)
        rho[0, 0] = 1
        return rho
    x = np.asarray(initial, dtype=complex)
    if x.ndim == 1:
        return np.outer(x, x.conj())
    if x.shape == (dim, dim) and np.allclose(x, x.conj().T) and abs(np.trace(x) - 1) < 1e-9:
        return x
    return x @ x.conj().T


def pauli_matrix(pauli: str) -> np.ndarray:
    """Dense matrix of a dense Pauli string (wire 0 first)."""
    return kron(*[PAULI[c] for c in pauli])


def expval(rho, pauli: str) -> float:
    return float(np.real(np.trace(pauli_matrix(pauli) @ rho)))


def marginal(rho, wires, n: int) -> np.ndarray:
    """Probabilities of measuring ``wires`` in the given order (first wire = high bit)."""
    p = np.real(np.diag(rho)).reshape((2,) * n)
    others = tuple(w for w in range(n) if w not in wires)
    p = p.sum(axis=others) if others else p
    kept = sorted(wires)
    return np.transpose(p, [kept.index(w) for w in wires]).reshape(-1)


def trace_distance(a, b) -> float:
    return 0.5 * float(np.sum(np.abs(np.linalg.eigvalsh(a - b))))


def random_unitary(rng: np.random.Generator, d: int) -> np.ndarray:
    """Haar-random unitary via QR with the phase fix."""
    z = (rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))) / np.sqrt(2)
    q, r = np.linalg.qr(z)
    return q * (np.diag(r) / np.abs(np.diag(r)))


def random_kraus(rng: np.random.Generator, d: int, m: int) -> np.ndarray:
    """A random trace-preserving Kraus set: an isometry (m d, d) split into m blocks."""
    v = random_unitary(rng, m * d)[:, :d]
    return v.reshape(m, d, d)


def random_state(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=2**n) + 1j * rng.normal(size=2**n)
    return v / np.linalg.norm(v)
