"""Gate matrices and the gate registry.

Conventions (OpenQASM 3 / PennyLane): RX(t) = exp(-i t X / 2), RZZ(t) = exp(-i t Z Z / 2),
U3(theta, phi, lam) as in OpenQASM, and the first wire of a multi-wire gate is the most
significant bit of its matrix index (so CX(c, t) has its control on the first wire).

Every matrix function takes its parameters as JAX scalars (or arrays over leading axes) and
returns a complex array, so gates stay differentiable and traceable; ``xp=np`` evaluates the same
definition in NumPy, which the engine uses for concrete parameters (nothing to compile).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from .errors import CircuitError

MatrixFn = Callable[..., jnp.ndarray]


@dataclass(frozen=True)
class GateSpec:
    """What the simulator knows about a named gate: every fact about it lives here.

    Attributes:
      name: canonical lower-case name.
      num_wires: wires it acts on.
      num_params: real parameters it takes.
      matrix: function of the parameters returning the (2^k, 2^k) unitary; parameters may be
        arrays over leading axes (one matrix per entry), and ``xp=np`` computes in NumPy.
      diagonal: the matrix is diagonal in the computational basis (the compiler commutes these).
      spectra: per parameter, the eigenvalues of its generator G (U(t) = exp(-i t G) up to a
        fixed unitary); the parameter-shift rule follows from their differences.
      aliases: other spellings users bring (Qiskit, OpenQASM, PennyLane, LRET files); lower case.
      qasm2: ``qelib1.inc`` names that read as this gate, the written one first; () when
        qelib1 has none (the writer defines or decomposes it).
      qasm3: ``stdgates.inc`` names (and the built-ins U, CX) that read as this gate, the
        written one first; () when stdgates has none.
      qiskit: Qiskit instruction names that read as this gate, the ``QuantumCircuit`` method
        that writes it first.
    """

    name: str
    num_wires: int
    num_params: int
    matrix: MatrixFn
    diagonal: bool = False
    spectra: tuple[tuple[float, ...], ...] = ()
    aliases: tuple[str, ...] = ()
    qasm2: tuple[str, ...] = ()
    qasm3: tuple[str, ...] = ()
    qiskit: tuple[str, ...] = ()


def _c(x, xp=jnp):
    """x as the complex dtype of its namespace (complex128 in NumPy, JAX's default complex)."""
    return xp.asarray(x, dtype=complex if xp is np else jnp.result_type(complex))


def _matrix(rows, xp=jnp):
    """A (..., d, d) matrix from d rows of d entries, each a scalar or an array over the leading
    axes (so one call builds the matrices of many parameter values)."""
    entries = xp.broadcast_arrays(*[xp.asarray(e) for row in rows for e in row])
    d = len(rows)
    return _c(xp.stack(entries, axis=-1).reshape(entries[0].shape + (d, d)), xp)


def _const(m) -> MatrixFn:
    m = np.asarray(m, dtype=complex)
    return lambda xp=jnp: _c(m, xp)


_SQ2 = 1 / np.sqrt(2)
_I = np.eye(2)
_X = np.array([[0, 1], [1, 0]])
_Y = np.array([[0, -1j], [1j, 0]])
_Z = np.diag([1, -1])
_H = _SQ2 * np.array([[1, 1], [1, -1]])
_S = np.diag([1, 1j])
_T = np.diag([1, np.exp(1j * np.pi / 4)])
_SX = 0.5 * np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]])


def controlled(u, num_controls: int = 1, xp=jnp):
    """Block-diagonal diag(I, ..., I, u): u applied when every control (the leading wires) is 1.

    ``u`` may carry leading axes (a stack of matrices)."""
    u = _c(u, xp)
    for _ in range(num_controls):
        d = u.shape[-1]
        lead = u.shape[:-2]
        eye = xp.broadcast_to(xp.eye(d, dtype=u.dtype), lead + (d, d))
        zero = xp.zeros(lead + (d, d), u.dtype)
        u = xp.concatenate([xp.concatenate([eye, zero], -1), xp.concatenate([zero, u], -1)], -2)
    return u


# Parametric gates take their parameters as scalars or as arrays over leading axes (the matrices
# of many ops at once), in JAX (default: traceable, differentiable) or NumPy (``xp=np``: concrete
# values without compiling anything).


def rx(t, xp=jnp):
    c, s = xp.cos(t / 2), xp.sin(t / 2)
    return _matrix([[c, -1j * s], [-1j * s, c]], xp)


def ry(t, xp=jnp):
    c, s = xp.cos(t / 2), xp.sin(t / 2)
    return _matrix([[c, -s], [s, c]], xp)


def rz(t, xp=jnp):
    e = xp.exp(-0.5j * xp.asarray(t))
    return _matrix([[e, 0], [0, xp.conj(e)]], xp)


def phase(lam, xp=jnp):
    return _matrix([[1, 0], [0, xp.exp(1j * xp.asarray(lam))]], xp)


def u3(theta, phi, lam, xp=jnp):
    c, s = xp.cos(theta / 2), xp.sin(theta / 2)
    phi, lam = xp.asarray(phi), xp.asarray(lam)
    return _matrix(
        [
            [c, -xp.exp(1j * lam) * s],
            [xp.exp(1j * phi) * s, xp.exp(1j * (phi + lam)) * c],
        ],
        xp,
    )


def u2(phi, lam, xp=jnp):
    return u3(np.pi / 2, phi, lam, xp=xp)


def _pauli_rotation(p: np.ndarray) -> MatrixFn:
    """exp(-i t P / 2) for a Pauli product P with P^2 = I."""
    p = np.asarray(p, dtype=complex)
    eye = np.eye(p.shape[0])

    def fn(t, xp=jnp):
        t = xp.asarray(t)[..., None, None]
        return _c(xp.cos(t / 2) * eye - 1j * xp.sin(t / 2) * p, xp)

    return fn


def rzz(t, xp=jnp):
    e = xp.exp(-0.5j * xp.asarray(t))
    f = xp.conj(e)
    return _matrix([[e, 0, 0, 0], [0, f, 0, 0], [0, 0, f, 0], [0, 0, 0, e]], xp)


# Echoed cross-resonance (IBM Eagle's native two-wire gate): (X(x)I - Y(x)X)/sqrt(2) with the first
# wire high, i.e. Qiskit's (IX - XY)/sqrt(2) read little-endian.
_ECR = _SQ2 * np.array([[0, 0, 1, 1j], [0, 0, 1j, 1], [1, -1j, 0, 0], [-1j, 1, 0, 0]])
_SWAP = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
_ISWAP = np.array([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]])

# Eigenvalues of the generator G of a parameter, U(t) = exp(-i t G) up to a fixed unitary.
_HALF = (-0.5, 0.5)  # Pauli rotations exp(-i t P / 2)
_PHASE = (0.0, 1.0)  # diag(1, e^{i t}) and its controlled form
_CTRL = (-0.5, 0.0, 0.5)  # controlled Pauli rotations: |1><1| (x) P / 2

_SAME = object()  # the canonical name, for the qasm2 / qasm3 / qiskit names


def _spec(name: str, num_wires: int, num_params: int, matrix: MatrixFn, *, diagonal: bool = False,
          spectra=(), aliases=(), qasm2=_SAME, qasm3=_SAME, qiskit=_SAME) -> GateSpec:
    """A GateSpec whose QASM and Qiskit names default to the canonical one (None: no such name)."""

    def names(given) -> tuple[str, ...]:
        return (name,) if given is _SAME else () if given is None else tuple(given)

    return GateSpec(name, num_wires, num_params, matrix, diagonal, tuple(spectra), tuple(aliases),
                    names(qasm2), names(qasm3), names(qiskit))


_SPECS = [
    _spec("id", 1, 0, _const(_I), diagonal=True, aliases=("i", "identity")),
    _spec("x", 1, 0, _const(_X), aliases=("paulix",)),
    _spec("y", 1, 0, _const(_Y), aliases=("pauliy",)),
    _spec("z", 1, 0, _const(_Z), diagonal=True, aliases=("pauliz",)),
    _spec("h", 1, 0, _const(_H), aliases=("hadamard",)),
    _spec("s", 1, 0, _const(_S), diagonal=True),
    _spec("sdg", 1, 0, _const(_S.conj().T), diagonal=True, aliases=("sdag", "s_dag")),
    _spec("t", 1, 0, _const(_T), diagonal=True),
    _spec("tdg", 1, 0, _const(_T.conj().T), diagonal=True, aliases=("tdag", "t_dag")),
    _spec("sx", 1, 0, _const(_SX), aliases=("sqrtx",)),
    _spec("sxdg", 1, 0, _const(_SX.conj().T), aliases=("sx_dag",), qasm3=None),
    _spec("rx", 1, 1, rx, spectra=(_HALF,)),
    _spec("ry", 1, 1, ry, spectra=(_HALF,)),
    _spec("rz", 1, 1, rz, diagonal=True, spectra=(_HALF,)),
    # u1/cu1 rather than p/cp are written to QASM 2: they are in every qelib1 version.
    _spec("p", 1, 1, phase, diagonal=True, spectra=(_PHASE,), aliases=("u1", "phase", "phaseshift"),
          qasm2=("u1", "p"), qasm3=("p", "phase", "u1"), qiskit=("p", "u1")),
    # U3(t, phi, lam) = P(phi) RY(t) P(lam), U2(phi, lam) = U3(pi/2, phi, lam).
    _spec("u2", 1, 2, u2, spectra=(_PHASE, _PHASE)),
    _spec("u3", 1, 3, u3, spectra=(_HALF, _PHASE, _PHASE), aliases=("u",),
          qasm2=("u3", "u", "U"), qasm3=("u3", "U", "u"), qiskit=("u", "u3")),
    _spec("cx", 2, 0, _const(controlled(_X, xp=np)), aliases=("cnot",),
          qasm2=("cx", "CX"), qasm3=("cx", "CX"), qiskit=("cx", "cnot")),
    _spec("cy", 2, 0, _const(controlled(_Y, xp=np))),
    _spec("cz", 2, 0, _const(np.diag([1, 1, 1, -1])), diagonal=True),
    _spec("ch", 2, 0, _const(controlled(_H, xp=np))),
    _spec("swap", 2, 0, _const(_SWAP)),
    _spec("iswap", 2, 0, _const(_ISWAP), qasm2=None, qasm3=None),
    _spec("ecr", 2, 0, _const(_ECR), qasm2=None, qasm3=None),
    _spec("crx", 2, 1, lambda t, xp=jnp: controlled(rx(t, xp), xp=xp), spectra=(_CTRL,)),
    _spec("cry", 2, 1, lambda t, xp=jnp: controlled(ry(t, xp), xp=xp), spectra=(_CTRL,)),
    _spec("crz", 2, 1, lambda t, xp=jnp: controlled(rz(t, xp), xp=xp), diagonal=True, spectra=(_CTRL,)),
    _spec("cp", 2, 1, lambda t, xp=jnp: controlled(phase(t, xp), xp=xp), diagonal=True, spectra=(_PHASE,),
          aliases=("cphase", "cu1", "controlledphaseshift"),
          qasm2=("cu1", "cp"), qasm3=("cp", "cphase"), qiskit=("cp", "cu1")),
    _spec("rxx", 2, 1, _pauli_rotation(np.kron(_X, _X)), spectra=(_HALF,), aliases=("isingxx",), qasm3=None),
    _spec("ryy", 2, 1, _pauli_rotation(np.kron(_Y, _Y)), spectra=(_HALF,), aliases=("isingyy",),
          qasm2=None, qasm3=None),
    _spec("rzz", 2, 1, rzz, diagonal=True, spectra=(_HALF,), aliases=("isingzz",), qasm3=None),
    _spec("ccx", 3, 0, _const(controlled(_X, 2, xp=np)), aliases=("toffoli",), qiskit=("ccx", "toffoli")),
    _spec("cswap", 3, 0, _const(controlled(_SWAP, xp=np)), aliases=("fredkin",),
          qiskit=("cswap", "fredkin")),
]

GATES: dict[str, GateSpec] = {g.name: g for g in _SPECS}

# Other spellings users bring from Qiskit, OpenQASM, PennyLane and LRET files (from the specs).
ALIASES: dict[str, str] = {a: g.name for g in _SPECS for a in g.aliases}

# Generator eigenvalues of every parameterised gate, per parameter (from the specs).
GENERATOR_SPECTRA: Mapping[str, tuple[tuple[float, ...], ...]] = {
    g.name: g.spectra for g in _SPECS if g.spectra
}

# The one-wire Paulis I, X, Y, Z as a (4, 2, 2) stack (Pauli strings, Pauli channels, KAK).
PAULIS_1 = np.stack([_I, _X, _Y, _Z]).astype(complex)


def canonical_name(name: str) -> str:
    """The registry name for a gate spelling, case-insensitive."""
    key = name.lower()
    return ALIASES.get(key, key)


def gate_spec(name: str) -> GateSpec:
    """Look a gate up by any of its spellings; CircuitError naming it if unknown."""
    key = canonical_name(name)
    try:
        return GATES[key]
    except KeyError:
        known = ", ".join(sorted(GATES))
        raise CircuitError(f"unknown gate {name!r}; known gates: {known}") from None


def gate_matrix(name: str, *params) -> jnp.ndarray:
    """The unitary of a named gate at the given parameters."""
    spec = gate_spec(name)
    if len(params) != spec.num_params:
        raise CircuitError(
            f"gate {spec.name!r} takes {spec.num_params} parameter(s), got {len(params)}"
        )
    return spec.matrix(*params)
