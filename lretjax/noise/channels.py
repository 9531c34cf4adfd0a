"""Kraus channels: the noise a circuit can hold, each a function of traced parameters.

Conventions follow PennyLane: ``depolarizing(p)`` is (1-p) rho + p/3 (X rho X + Y rho Y + Z rho Z),
``depolarizing2(p)`` spreads p evenly over the 15 non-identity two-wire Paulis, amplitude and phase
damping take the decay probability gamma. Every Kraus set here satisfies sum K^dagger K = I
exactly for parameters in range; user sets are checked at the front door.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

import jax.numpy as jnp
import numpy as np

from ..errors import NoiseError

KrausFn = Callable[..., jnp.ndarray]


@dataclass(frozen=True)
class ChannelSpec:
    """What the simulator knows about a named channel.

    Attributes:
      name: canonical name.
      num_wires: wires it acts on.
      num_params: real parameters it takes (probabilities, rates).
      num_kraus: Kraus operators it has (the factor by which it multiplies the rank).
      kraus: function of the parameters returning a stacked (num_kraus, 2^k, 2^k) array.
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


def _c(x) -> jnp.ndarray:
    return jnp.asarray(x, dtype=jnp.result_type(complex))


_I = np.eye(2)
_X = np.array([[0, 1], [1, 0]])
_Y = np.array([[0, -1j], [1j, 0]])
_Z = np.diag([1.0, -1.0])
PAULIS_1 = np.stack([_I, _X, _Y, _Z]).astype(complex)
PAULIS_2 = np.stack([np.kron(a, b) for a, b in itertools.product(PAULIS_1, PAULIS_1)])


def pauli_mixture(probs, paulis: np.ndarray) -> jnp.ndarray:
    """Kraus operators sqrt(p_i) P_i of a Pauli (mixed-unitary) channel."""
    return _c(jnp.sqrt(jnp.asarray(probs))[:, None, None] * paulis)


def depolarizing(p):
    return pauli_mixture(jnp.stack([1 - p, p / 3, p / 3, p / 3]), PAULIS_1)


def depolarizing2(p):
    return pauli_mixture(jnp.concatenate([jnp.stack([1 - p]), jnp.full(15, p / 15)]), PAULIS_2)


def bit_flip(p):
    return pauli_mixture(jnp.stack([1 - p, p]), PAULIS_1[jnp.array([0, 1])])


def bit_phase_flip(p):
    return pauli_mixture(jnp.stack([1 - p, p]), PAULIS_1[jnp.array([0, 2])])


def phase_flip(p):
    return pauli_mixture(jnp.stack([1 - p, p]), PAULIS_1[jnp.array([0, 3])])


def amplitude_damping(gamma):
    k0 = jnp.array([[1, 0], [0, jnp.sqrt(1 - gamma)]])
    k1 = jnp.array([[0, jnp.sqrt(gamma)], [0, 0]])
    return _c(jnp.stack([k0, k1]))


def phase_damping(gamma):
    k0 = jnp.array([[1, 0], [0, jnp.sqrt(1 - gamma)]])
    k1 = jnp.array([[0, 0], [0, jnp.sqrt(gamma)]])
    return _c(jnp.stack([k0, k1]))


_UNIT = ((0.0, 1.0),)
_SPECS = [
    ChannelSpec("depolarizing", 1, 1, 4, depolarizing, _UNIT),
    ChannelSpec("depolarizing2", 2, 1, 16, depolarizing2, _UNIT),
    ChannelSpec("amplitude_damping", 1, 1, 2, amplitude_damping, _UNIT),
    ChannelSpec("phase_damping", 1, 1, 2, phase_damping, _UNIT),
    ChannelSpec("bit_flip", 1, 1, 2, bit_flip, _UNIT),
    ChannelSpec("phase_flip", 1, 1, 2, phase_flip, _UNIT),
    ChannelSpec("bit_phase_flip", 1, 1, 2, bit_phase_flip, _UNIT),
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
        ks = np.asarray(kraus, dtype=complex)
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
    return ks
