"""A plain dense density-matrix simulator in NumPy, for small circuits and ``--exact`` checks.

It keeps the full 2^n x 2^n matrix rho (4^n entries), so it is limited to ``MAX_WIRES`` wires,
and applies lretjax's own gate and channel definitions (``op.matrix()``, ``op.kraus()``) to rho
viewed as a (2,)*2n tensor. It shares no evolution code with the low-rank simulator, so the two
agree only if both are right: the truncation error of an LRET run is ``trace_distance`` to this.

    >>> from lretjax import Circuit, reference
    >>> rho = reference.simulate_dense(Circuit(2).h(0).cx(0, 1).depolarizing(0.1, 1))
    >>> round(reference.expval_dense(rho, "ZZ"), 4)  # 1 - 4p/3
    0.8667
"""

from __future__ import annotations

import string

import numpy as np

from .circuit import Circuit
from .errors import CircuitError, ResourceError
from .observables import parse_pauli

MAX_WIRES = 12

_PAULI = {
    "I": np.eye(2, dtype=complex),
    "X": np.array([[0, 1], [1, 0]], dtype=complex),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=complex),
    "Z": np.array([[1, 0], [0, -1]], dtype=complex),
}


def _check_size(num_wires: int) -> None:
    if num_wires > MAX_WIRES:
        raise ResourceError(
            f"the dense reference is limited to {MAX_WIRES} wires (rho has 4^n entries); "
            f"this circuit has {num_wires}. Compare on a smaller circuit."
        )


def _apply_left(rho_t: np.ndarray, k: np.ndarray, wires, n: int) -> np.ndarray:
    """K acting on the row axes ``wires`` of rho viewed as a (2,)*2n tensor."""
    letters = string.ascii_letters
    nw = len(wires)
    axes = letters[: 2 * n]
    new = letters[2 * n : 2 * n + nw]
    old = "".join(axes[w] for w in wires)
    out = list(axes)
    for i, w in enumerate(wires):
        out[w] = new[i]
    kt = np.asarray(k, dtype=complex).reshape((2,) * (2 * nw))
    return np.einsum(f"{new}{old},{axes}->{''.join(out)}", kt, rho_t)


def _apply_kraus(rho_t: np.ndarray, kraus: np.ndarray, wires, n: int) -> np.ndarray:
    """sum_i K_i rho K_i^dagger on ``wires``, as one product with the superoperator
    S = sum_i K_i (x) conj(K_i) on the (row wires, column wires) axes of rho as a (2,)*2n tensor:
    (K rho K^dagger)[r', c'] = sum K[r', r] rho[r, c] conj(K[c', c])."""
    k = len(wires)
    kraus = np.asarray(kraus, dtype=complex)
    # Not engine.dense.superoperator: the reference shares no code with the simulators it checks.
    superop = sum(np.kron(m, m.conj()) for m in kraus)
    axes = list(wires) + [n + w for w in wires]
    front = list(range(2 * k))
    moved = np.moveaxis(rho_t, axes, front)
    out = (superop @ moved.reshape(4**k, -1)).reshape(moved.shape)
    return np.moveaxis(out, front, axes)


def simulate_dense(circuit: Circuit, params=None, *, initial_state=None) -> np.ndarray:
    """The exact density matrix of ``circuit`` on |0...0> (or ``initial_state``), complex128.

    Args:
      circuit: a lretjax Circuit of at most ``MAX_WIRES`` wires.
      params: values for the circuit's symbolic parameters (vector or dict), as in ``simulate``.
      initial_state: optional state vector (2^n,) or density matrix (2^n, 2^n).

    Returns:
      rho of shape (2^n, 2^n).
    """
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"simulate_dense expects a lretjax.Circuit, got {type(circuit).__name__}")
    n = circuit.num_wires
    _check_size(n)
    if params is not None:
        circuit = circuit.bind(params)
    else:
        circuit.check_bound()
    dim = 2**n
    if initial_state is None:
        rho = np.zeros((dim, dim), dtype=complex)
        rho[0, 0] = 1.0
    else:
        x = np.asarray(initial_state, dtype=complex)
        if x.shape == (dim,):
            rho = np.outer(x, x.conj())
        elif x.shape == (dim, dim):
            rho = x.copy()
        else:
            raise CircuitError(
                f"initial_state must be a vector ({dim},) or a density matrix ({dim}, {dim}); "
                f"got shape {x.shape}"
            )
    rho_t = rho.reshape((2,) * (2 * n))
    for op in circuit.ops:
        kraus = np.asarray(op.kraus(), dtype=complex)
        rho_t = _apply_kraus(rho_t, kraus, op.wires, n)
    return rho_t.reshape(dim, dim)


def probabilities_dense(rho: np.ndarray) -> np.ndarray:
    """Computational-basis probabilities: the real diagonal of rho."""
    return np.real(np.diagonal(np.asarray(rho))).copy()


def expval_dense(rho: np.ndarray, pauli_string: str) -> float:
    """Tr(P rho) for a Pauli string, dense ("XZIY") or sparse ("Z0 X3")."""
    rho = np.asarray(rho, dtype=complex)
    n = int(round(np.log2(rho.shape[0])))
    p = parse_pauli(pauli_string, n)
    t = rho.reshape((2,) * (2 * n))
    for w, c in enumerate(p):
        if c != "I":
            t = _apply_left(t, _PAULI[c], [w], n)
    return float(np.real(np.trace(t.reshape(rho.shape))))


def trace_distance(rho: np.ndarray, sigma: np.ndarray) -> float:
    """0.5 * ||rho - sigma||_1 (nuclear norm of the Hermitian difference)."""
    d = np.asarray(rho, dtype=complex) - np.asarray(sigma, dtype=complex)
    return 0.5 * float(np.sum(np.abs(np.linalg.eigvalsh(0.5 * (d + d.conj().T)))))


def _psd_factor(rho: np.ndarray) -> np.ndarray:
    """A with rho = A A^dagger, eigenvalues at round-off level dropped.

    Their square roots (1e-8 for a 1e-16 eigenvalue) would otherwise dominate the error.
    """
    lam, v = np.linalg.eigh(0.5 * (rho + rho.conj().T))
    keep = lam > rho.shape[0] * np.finfo(float).eps * max(lam[-1], 0.0)
    return v[:, keep] * np.sqrt(lam[keep])


def fidelity_dense(rho: np.ndarray, sigma: np.ndarray) -> float:
    """Uhlmann fidelity (Tr sqrt(sqrt(rho) sigma sqrt(rho)))^2.

    Computed as ||A^dagger B||_*^2 with rho = A A^dagger and sigma = B B^dagger.
    """
    a = _psd_factor(np.asarray(rho, dtype=complex))
    b = _psd_factor(np.asarray(sigma, dtype=complex))
    return float(np.sum(np.linalg.svd(a.conj().T @ b, compute_uv=False)) ** 2)
