"""Readout (measurement) error: a per-wire confusion matrix, applied to probabilities and to samples.

It is classical post-processing of the measured bits, so it lives outside the circuit.
A confusion matrix A has A[t, m] = P(read m | true bit t): rows are the true outcome and sum to 1
(Qiskit's ``ReadoutError.probabilities`` convention).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import NoiseError


def confusion_matrix(p01, p10) -> jax.Array:
    """A = [[1 - p01, p01], [p10, 1 - p10]]: p01 = P(read 1 | 0), p10 = P(read 0 | 1). May be traced."""
    for name, p in (("p01", p01), ("p10", p10)):
        if not isinstance(p, jax.core.Tracer) and not 0.0 <= float(p) <= 1.0:
            raise NoiseError(f"readout error: {name} = {float(p):g} is outside [0, 1]")
    return jnp.array([[1 - p01, p01], [p10, 1 - p10]])


def check_confusion(matrix, *, name: str = "readout error", atol: float = 1e-9) -> np.ndarray:
    """Validate a concrete 2x2 confusion matrix: entries in [0, 1], rows summing to 1."""
    a = np.asarray(matrix, dtype=float)
    if a.shape != (2, 2):
        raise NoiseError(f"{name}: a single-wire confusion matrix is 2x2, got shape {a.shape}")
    if not np.all(np.isfinite(a)) or np.any(a < -atol) or np.any(a > 1 + atol):
        raise NoiseError(f"{name}: probabilities must lie in [0, 1], got {a.tolist()}")
    if np.max(np.abs(a.sum(axis=1) - 1)) > atol:
        sums = a.sum(axis=1).tolist()
        raise NoiseError(f"{name}: each row (true outcome) must sum to 1, got row sums {sums}")
    return a


def apply_readout(
    probs: jax.Array, confusion: jax.Array
) -> jax.Array:
    """Probabilities of the read bits: p'(m) = sum_t p(t) prod_w A_w[t_w, m_w].

    ``probs`` is over k wires with the first wire as the high bit (as ``lretjax.probabilities``);
    ``confusion[w]`` is the matrix of the w-th of those wires.
    """
    confusion = jnp.asarray(confusion)
    k = confusion.shape[0]
    if probs.shape[-1] != 2**k:
        raise NoiseError(f"readout: {probs.shape[-1]} probabilities do not match {k} confusion matrices")
    t = probs.reshape((2,) * k)
    for w in range(k):
        t = jnp.moveaxis(jnp.tensordot(t, confusion[w].astype(t.dtype), axes=([w], [0])), -1, w)
    return t.reshape(probs.shape)


def readout_samples(
    bits: jax.Array, confusion: jax.Array, key: jax.Array
) -> jax.Array:
    """Pass sampled bits through the confusion matrices: each bit t of wire w reads 1 with A_w[t, 1]."""
    confusion = jnp.asarray(confusion)
    bits = jnp.asarray(bits)
    if bits.ndim != 2 or bits.shape[1] != confusion.shape[0]:
        raise NoiseError(f"readout: bits of shape {bits.shape} do not match {confusion.shape[0]} wires")
    p1 = confusion[jnp.arange(bits.shape[1])[None, :], bits, 1]
    u = jax.random.uniform(key, bits.shape, dtype=p1.dtype)
    return (u < p1).astype(bits.dtype)
