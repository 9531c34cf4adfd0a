"""Kraus channels: the noise a circuit can hold, each a function of traced parameters.

This module sits beside ``lretjax.gates``, below the circuit IR, so the IR and the compiler
import it downwards; ``lretjax.noise`` (noise models, readout error, Qiskit import) re-exports it.

Conventions follow PennyLane where it has the channel: ``depolarizing(p)`` is
(1-p) rho + p/3 (X rho X + Y rho Y + Z rho Z), ``depolarizing2(p)`` spreads p evenly over the 15
non-identity two-wire Paulis, amplitude and phase damping take the decay probability gamma,
``generalized_amplitude_damping(gamma, p)`` relaxes towards (1-p)|0><0| + p|1><1|. The channels
real devices need beyond these (thermal relaxation, Pauli channels, reset, coherent errors) are
written out with their formulas in docs/noise.md. Every Kraus set here satisfies
sum K^dagger K = I for parameters in range; user sets are checked at the front door.

Square roots of probabilities go through ``kraus_sqrt``, whose derivative stays finite and
exact for the channel at p = 0, so ``jax.grad`` with respect to a noise strength works there too.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .errors import NoiseError
from .gates import PAULIS_1, _c

KrausFn = Callable[..., jnp.ndarray]


@dataclass(frozen=True)
class ChannelSpec:
    """What the simulator knows about a named channel.

    Attributes:
      name: canonical name.
      num_wires: wires it acts on.
      num_params: real parameters it takes (probabilities, rates).
      num_kraus: Kraus operators it has (the factor by which it multiplies the rank).
      kraus: function of the parameters returning a stacked (num_kraus, 2^k, 2^k) array;
        parameters may be arrays over leading axes (one Kraus set per entry), and ``xp=np``
        computes in NumPy.
      param_ranges: closed interval each parameter must lie in.
      check: optional test of concrete parameters taken together (e.g. T2 <= 2 T1); raises
        NoiseError naming the problem.
    """

    name: str
    num_wires: int
    num_params: int
    num_kraus: int
    kraus: KrausFn
    param_ranges: tuple[tuple[float, float], ...] = ()
    check: Callable[..., None] | None = None


PAULIS_2 = np.stack([np.kron(a, b) for a, b in itertools.product(PAULIS_1, PAULIS_1)])


# Kraus amplitudes are clamped to sqrt(1e-30) = 1e-15 at p = 0: the channel moves by 1e-30 (far
# below round-off), and in exchange the amplitude times its derivative, which is all the channel
# depends on, is exactly 1/2 at every p >= 0 instead of 0 * inf.
_TINY = 1e-30


@jax.custom_jvp
def kraus_sqrt(x):
    """sqrt(x) for Kraus amplitudes: finite derivative at 0 that keeps d(K rho K^dagger)/dp exact."""
    return jnp.sqrt(jnp.maximum(x, _TINY))


@kraus_sqrt.defjvp
def _kraus_sqrt_jvp(primals, tangents):
    y = kraus_sqrt(primals[0])
    return y, tangents[0] / (2 * y)


def _sqrt(x, xp):
    return np.sqrt(np.maximum(x, _TINY)) if xp is np else kraus_sqrt(x)


# Channels take their parameters as scalars or as arrays over leading axes (the Kraus sets of many
# ops at once), in JAX (default) or NumPy (``xp=np``, for concrete values). ``_ops`` stacks a list
# of Kraus operators, each a list of rows of broadcastable entries, into (..., m, d, d).


def _ops(mats, xp):
    entries = xp.broadcast_arrays(*[xp.asarray(e) for m in mats for row in m for e in row])
    m, d = len(mats), len(mats[0])
    return _c(xp.stack(entries, axis=-1).reshape(entries[0].shape + (m, d, d)), xp)


def _probs(entries, xp):
    """Probabilities as a (..., m) array from m broadcastable entries."""
    return xp.stack(xp.broadcast_arrays(*[xp.asarray(e) for e in entries]), axis=-1)


def pauli_mixture(probs, paulis: np.ndarray, xp=jnp):
    """Kraus operators sqrt(p_i) P_i of a Pauli (mixed-unitary) channel; probs is (..., m)."""
    return _c(_sqrt(xp.asarray(probs), xp)[..., None, None] * paulis, xp)


def depolarizing(p, xp=jnp):
    return pauli_mixture(_probs([1 - p, p / 3, p / 3, p / 3], xp), PAULIS_1, xp)


def depolarizing2(p, xp=jnp):
    return pauli_mixture(_probs([1 - p] + [p / 15] * 15, xp), PAULIS_2, xp)


def bit_flip(p, xp=jnp):
    return pauli_mixture(_probs([1 - p, p], xp), PAULIS_1[np.array([0, 1])], xp)


def bit_phase_flip(p, xp=jnp):
    return pauli_mixture(_probs([1 - p, p], xp), PAULIS_1[np.array([0, 2])], xp)


def phase_flip(p, xp=jnp):
    return pauli_mixture(_probs([1 - p, p], xp), PAULIS_1[np.array([0, 3])], xp)


def amplitude_damping(gamma, xp=jnp):
    return _ops([[[1, 0], [0, _sqrt(1 - gamma, xp)]], [[0, _sqrt(gamma, xp)], [0, 0]]], xp)


def phase_damping(gamma, xp=jnp):
    return _ops([[[1, 0], [0, _sqrt(1 - gamma, xp)]], [[0, 0], [0, _sqrt(gamma, xp)]]], xp)


def generalized_amplitude_damping(gamma, p, xp=jnp):
    """Damping with rate gamma towards the thermal state (1-p)|0><0| + p|1><1|.

    p is the excitation probability, as in PennyLane's ``GeneralizedAmplitudeDamping(gamma, p)``
    (Nielsen & Chuang 8.3.5 write the ground population 1 - p).
    """
    s, t = _sqrt(1 - p, xp), _sqrt(p, xp)
    g, h = _sqrt(gamma, xp), _sqrt(1 - gamma, xp)
    return _ops([
        [[s, 0], [0, s * h]],
        [[0, s * g], [0, 0]],
        [[t * h, 0], [0, t]],
        [[0, 0], [t * g, 0]],
    ], xp)


def thermal_relaxation(t1, t2, tg, pe, xp=jnp):
    """Thermal relaxation for a time tg: T1 decay towards excited population pe, T2 dephasing.

    The map (as Qiskit Aer's ``thermal_relaxation_error``): with r = 1 - exp(-tg/T1),
    rho00' = (1 - pe r) rho00 + (1 - pe) r rho11,  rho11' = pe r rho00 + (1 - (1 - pe) r) rho11,
    rho01' = exp(-tg/T2) rho01. Its Choi matrix is the 2x2 block [[a, c], [c, b]] (a = 1 - pe r,
    b = 1 - (1 - pe) r, c = exp(-tg/T2)) on |00>, |11> plus the two jump terms. The Kraus set is
    the Cholesky factor of that block (closed form, so it is jittable and smooth, with no
    eigendecomposition), which covers T2 > T1 where no split into amplitude and phase damping
    exists; it is completely positive iff a b >= c^2, guaranteed by T2 <= 2 T1.
    """
    r = 1 - xp.exp(-xp.asarray(tg) / t1)
    c = xp.exp(-xp.asarray(tg) / t2)
    a = 1 - pe * r
    b = 1 - (1 - pe) * r
    sa = _sqrt(a, xp)
    return _ops([
        [[sa, 0], [0, c / sa]],
        [[0, 0], [0, _sqrt(b - c * c / a, xp)]],
        [[0, _sqrt((1 - pe) * r, xp)], [0, 0]],
        [[0, 0], [_sqrt(pe * r, xp), 0]],
    ], xp)


def pauli_channel(px, py, pz, xp=jnp):
    """rho -> (1 - px - py - pz) rho + px X rho X + py Y rho Y + pz Z rho Z."""
    return pauli_mixture(_probs([1 - px - py - pz, px, py, pz], xp), PAULIS_1, xp)


PAULI_LABELS_2 = tuple(a + b for a in "IXYZ" for b in "IXYZ")


def pauli_channel2(*probs, xp=jnp):
    """Two-wire Pauli channel: probs for the 15 labels IX, IY, IZ, XI, ..., ZZ (first letter = first wire)."""
    p = _probs(probs, xp)
    return pauli_mixture(xp.concatenate([(1 - xp.sum(p, axis=-1))[..., None], p], axis=-1), PAULIS_2, xp)


def correlated_pauli(pxx, pyy, pzz, xp=jnp):
    """The same Pauli on both wires: rho -> p0 rho + pxx XX rho XX + pyy YY rho YY + pzz ZZ rho ZZ."""
    probs = _probs([1 - pxx - pyy - pzz, pxx, pyy, pzz], xp)
    return pauli_mixture(probs, PAULIS_2[np.array([0, 5, 10, 15])], xp)


def reset(xp=jnp):
    """Reset to |0>: rho -> Tr(rho) |0><0|."""
    return _c(np.array([[[1, 0], [0, 0]], [[0, 1], [0, 0]]]), xp)


def reset_error(p0, p1, xp=jnp):
    """With probability p0 reset to |0>, with p1 reset to |1>, else leave alone (Qiskit/PennyLane)."""
    s0, s1, s = _sqrt(p0, xp), _sqrt(p1, xp), _sqrt(1 - p0 - p1, xp)
    return _ops([
        [[s, 0], [0, s]],
        [[s0, 0], [0, 0]],
        [[0, s0], [0, 0]],
        [[0, 0], [s1, 0]],
        [[0, 0], [0, s1]],
    ], xp)


def over_rotation(theta, phi, xp=jnp):
    """Coherent error exp(-i theta/2 (cos(phi) X + sin(phi) Y)): a drive over-rotated by theta."""
    c, s = xp.cos(xp.asarray(theta) / 2), xp.sin(xp.asarray(theta) / 2)
    e = xp.exp(-1j * xp.asarray(phi))
    return _ops([[[c, -1j * s * e], [-1j * s * xp.conj(e), c]]], xp)


def zz_crosstalk(theta, xp=jnp):
    """Coherent two-wire error exp(-i theta/2 Z Z) (always-on ZZ coupling)."""
    a = xp.exp(-0.5j * xp.asarray(theta))
    b = xp.conj(a)
    return _ops([[[a, 0, 0, 0], [0, b, 0, 0], [0, 0, b, 0], [0, 0, 0, a]]], xp)


def _check_sum(name: str, labels: tuple[str, ...], *, total: float = 1.0):
    def check(*params):
        s = float(sum(float(p) for p in params))
        if s > total + 1e-12:
            terms = ", ".join(f"{lab}={float(p):g}" for lab, p in zip(labels, params, strict=True))
            raise NoiseError(f"{name}: probabilities sum to {s:.12g} > 1 ({terms})")

    return check


def _check_thermal(t1, t2, tg, pe):
    t1, t2, tg, pe = float(t1), float(t2), float(tg), float(pe)
    if not t1 > 0 or not t2 > 0:
        raise NoiseError(f"thermal_relaxation: T1 and T2 must be positive, got T1={t1:g}, T2={t2:g}")
    if not tg >= 0:
        raise NoiseError(f"thermal_relaxation: gate time must be >= 0, got {tg:g}")
    if t2 > 2 * t1 * (1 + 1e-12):
        raise NoiseError(
            f"thermal_relaxation: T2={t2:g} > 2*T1={2 * t1:g} is unphysical (not completely positive)"
        )


_UNIT = ((0.0, 1.0),)
_SPECS = [
    ChannelSpec("depolarizing", 1, 1, 4, depolarizing, _UNIT),
    ChannelSpec("depolarizing2", 2, 1, 16, depolarizing2, _UNIT),
    ChannelSpec("amplitude_damping", 1, 1, 2, amplitude_damping, _UNIT),
    ChannelSpec("phase_damping", 1, 1, 2, phase_damping, _UNIT),
    ChannelSpec("bit_flip", 1, 1, 2, bit_flip, _UNIT),
    ChannelSpec("phase_flip", 1, 1, 2, phase_flip, _UNIT),
    ChannelSpec("bit_phase_flip", 1, 1, 2, bit_phase_flip, _UNIT),
    ChannelSpec("generalized_amplitude_damping", 1, 2, 4, generalized_amplitude_damping, _UNIT * 2),
    ChannelSpec("thermal_relaxation", 1, 4, 4, thermal_relaxation,
                ((0.0, np.inf), (0.0, np.inf), (0.0, np.inf), (0.0, 1.0)), _check_thermal),
    ChannelSpec("pauli_channel", 1, 3, 4, pauli_channel, _UNIT * 3,
                _check_sum("pauli_channel", ("px", "py", "pz"))),
    ChannelSpec("pauli_channel2", 2, 15, 16, pauli_channel2, _UNIT * 15,
                _check_sum("pauli_channel2", PAULI_LABELS_2[1:])),
    ChannelSpec("correlated_pauli", 2, 3, 4, correlated_pauli, _UNIT * 3,
                _check_sum("correlated_pauli", ("pxx", "pyy", "pzz"))),
    ChannelSpec("reset", 1, 0, 2, reset),
    ChannelSpec("reset_error", 1, 2, 5, reset_error, _UNIT * 2, _check_sum("reset_error", ("p0", "p1"))),
    ChannelSpec("over_rotation", 1, 2, 1, over_rotation, ((-np.inf, np.inf),) * 2),
    ChannelSpec("zz_crosstalk", 2, 1, 1, zz_crosstalk, ((-np.inf, np.inf),)),
]

CHANNELS: dict[str, ChannelSpec] = {c.name: c for c in _SPECS}

ALIASES = {
    "depolarize": "depolarizing",
    "depolarizingchannel": "depolarizing",
    "amplitudedamping": "amplitude_damping",
    "phasedamping": "phase_damping",
    "bitflip": "bit_flip",
    "phaseflip": "phase_flip",
    "bitphaseflip": "bit_phase_flip",
    "generalizedamplitudedamping": "generalized_amplitude_damping",
    "thermalrelaxationerror": "thermal_relaxation",
    "thermal_relaxation_error": "thermal_relaxation",
    "paulierror": "pauli_channel",
    "resetchannel": "reset_error",
    "reseterror": "reset_error",
}


def channel_canonical_name(name: str) -> str:
    key = name.lower()
    return ALIASES.get(key, key)


def check_kraus(kraus, *, name: str = "kraus", atol: float | None = None) -> np.ndarray:
    """Validate a user Kraus set and return it stacked as (m, d, d) complex.

    Raises NoiseError if the shapes disagree, the dimension is not a power of two, or
    sum_i K_i^dagger K_i differs from the identity (the channel would not preserve trace).
    """
    try:
        ks = np.array(kraus, dtype=complex)  # a copy: later edits of the caller's array must not leak in
    except (TypeError, ValueError) as e:
        raise NoiseError(f"{name}: Kraus operators must be numeric square matrices ({e})") from None
    if ks.ndim == 2:
        ks = ks[None]
    if ks.ndim != 3 or ks.shape[1] != ks.shape[2] or ks.shape[0] == 0:
        raise NoiseError(
            f"{name}: expected a list of square matrices of one size, got shape {ks.shape}"
        )
    d = ks.shape[1]
    if d < 2 or d & (d - 1):
        raise NoiseError(f"{name}: matrix dimension {d} is not a power of two >= 2")
    if not np.all(np.isfinite(ks)):
        raise NoiseError(f"{name}: Kraus operators contain NaN or inf")
    if atol is None:
        atol = 1e-5 if np.asarray(kraus).dtype in (np.complex64, np.float32) else 1e-8
    s = np.einsum("kji,kjl->il", ks.conj(), ks)
    err = np.max(np.abs(s - np.eye(d)))
    if err > atol:
        raise NoiseError(
            f"{name}: not trace-preserving, max |sum K^dagger K - I| = {err:.3g} > {atol:g}"
        )
    ks.setflags(write=False)
    return ks
