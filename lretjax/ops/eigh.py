"""A Hermitian eigendecomposition whose derivative stays finite at degenerate eigenvalues.

The derivative of an eigenvector mixes in the others with weights 1 / (lam_j - lam_i). Right
after a channel the Gram matrix G = L^dagger L has exactly degenerate eigenvalues (and zeros from
padding columns), so JAX's own rule divides by zero and every gradient through truncation is NaN.

Truncation only ever uses the *subspace* of kept eigenvectors: rho_k = L V_k V_k^dagger L^dagger is
unchanged by any rotation of the eigenvectors inside a group of equal eigenvalues, and by any
rotation among kept (or among dropped) vectors. The component of dV along such a rotation therefore
contributes nothing to any result computed from rho, and may be set to anything antihermitian; we
set it to zero for pairs whose gap is below ``rtol * max|lam|``. Pairs across a real gap keep the
exact 1 / gap weight, so the gradient of every rho-derived quantity is exact whenever the truncation
cut does not split a degenerate group. When it does (a rank cap landing inside a group), the result
itself is not differentiable there; the rule returns the finite one-sided choice "no mixing".
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.ad_checkpoint import checkpoint_name

_HIGHEST = jax.lax.Precision.HIGHEST

# Name of the saved eigendecomposition under jax.checkpoint: rematerialising eigh is unsafe,
# because a recomputed basis of a nearly degenerate group can differ by a rotation from the one
# the rest of the forward pass used, and the cotangents would then be applied in the wrong basis.
# Save it with jax.checkpoint_policies.save_only_these_names(EIGH_NAME) (small: rank x rank).
EIGH_NAME = "lretjax.eigh"


def default_rtol(dtype) -> float:
    """sqrt(machine epsilon) of the real dtype: below it a gap is round-off, not structure.

    It balances two errors: a pair masked wrongly (a real gap below rtol that straddles the cut)
    and a pair kept wrongly (round-off in the in-subspace rotation, amplified by eps / gap).
    """
    return float(np.sqrt(np.finfo(dtype).eps))


def _name_complex(x, name):
    # checkpoint_name rejects complex arrays (jax 0.10): name the two real parts.
    if not jnp.iscomplexobj(x):
        return checkpoint_name(x, name)
    return jax.lax.complex(checkpoint_name(jnp.real(x), name), checkpoint_name(jnp.imag(x), name))


# Relative size of the diagonal shift eigh gets on CUDA (see ``eigh``): far above round-off, so the
# shifted matrix has no zero diagonal entry, and far below any eigenvalue a truncation keeps.
_CUDA_SHIFT = 2.0**-20


# Up to this size cuSOLVER's Jacobi eigensolver beats its QR one on an H100 (one channel's Gram
# matrix: 0.59 against 0.74 ms at 64, 0.81 against 1.64 ms at 128; 2.09 against 2.00 at 256:
# benchmarks/bench_truncation.py, truncation_NVIDIA_H100_80GB_HBM3.json).
_JACOBI_MAX = 192


def _shifted_eigh(a: jax.Array, jacobi: bool = False) -> tuple[jax.Array, jax.Array]:
    """eigh(a + s I) with its eigenvalues shifted back: the same eigenpairs in exact arithmetic.
    ``jacobi``: cuSOLVER's Jacobi solver up to ``_JACOBI_MAX`` (CUDA only)."""
    real = jnp.finfo(a.dtype).dtype
    s = _CUDA_SHIFT * jnp.maximum(jnp.max(jnp.abs(jnp.diagonal(a))), jnp.finfo(real).tiny)
    shifted = a + s.astype(a.dtype) * jnp.eye(a.shape[-1], dtype=a.dtype)
    if jacobi and a.shape[-1] <= _JACOBI_MAX:
        v, lam = jax.lax.linalg.eigh(shifted, implementation=jax.lax.linalg.EighImplementation.JACOBI)
    else:
        lam, v = jnp.linalg.eigh(shifted)
    return lam - s, v


def _plain_eigh(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    lam, v = jnp.linalg.eigh(a)
    return lam, v


def eigh(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``jnp.linalg.eigh``, except on CUDA, where it diagonalises a + s I and subtracts s.

    cuSOLVER (jax 0.11.2, H100) returned NaN eigenpairs for a 1024 x 1024 complex128 Gram matrix
    with 1016 zero rows (the padded factor of an untruncated run); the same matrix plus 1e-12 I, or
    its real embedding, diagonalised fine, and numpy's eigh was exact on it. The shift keeps every
    eigenvector and moves eigenvalues by round-off (eps * (lam_max + s)) only.
    """
    cuda = functools.partial(_shifted_eigh, jacobi=True)
    return jax.lax.platform_dependent(a, cuda=cuda, default=_plain_eigh)


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def safe_eigh(a: jax.Array, rtol: float | None = None) -> tuple[jax.Array, jax.Array]:
    """Eigenvalues (ascending) and eigenvectors of a Hermitian matrix, like ``jnp.linalg.eigh``.

    The forward result is ``eigh(a)`` (``jnp.linalg.eigh`` off CUDA); only the derivative differs: pairs
    of eigenvalues closer than ``rtol * max|lam|`` (default sqrt(eps)) do not mix, so the
    derivative is finite and exact for any function invariant under rotations inside groups of
    (near-)equal eigenvalues, which is every result of a low-rank simulation.
    """
    return eigh(a)


@safe_eigh.defjvp
def _safe_eigh_jvp(rtol, primals, tangents):
    (a,), (da,) = primals, tangents
    lam, v = safe_eigh(a, rtol)
    lam, v = checkpoint_name(lam, EIGH_NAME), _name_complex(v, EIGH_NAME)
    return (lam, v), _eigh_tangents(lam, v, da, rtol)


def _eigh_tangents(lam: jax.Array, v: jax.Array, da: jax.Array, rtol: float | None
                   ) -> tuple[jax.Array, jax.Array]:
    """(dlam, dv) of the eigenpairs (lam, v) of a along da, without mixing pairs closer than
    ``rtol * max|lam|``: the derivative rule of ``safe_eigh`` and ``given_eigh``."""
    tol = (default_rtol(lam.dtype) if rtol is None else rtol) * jnp.max(jnp.abs(lam))
    da = 0.5 * (da + jnp.conj(da.T))  # eigh reads only one triangle; keep the tangent Hermitian
    vh = jnp.conj(v.T)
    h = jnp.matmul(jnp.matmul(vh, da, precision=_HIGHEST), v, precision=_HIGHEST)
    gap = lam[None, :] - lam[:, None]  # gap[i, j] = lam_j - lam_i
    mix = jnp.abs(gap) > tol  # the diagonal (gap 0) is masked too
    f = jnp.where(mix, 1.0 / jnp.where(mix, gap, 1.0), 0.0)
    dv = jnp.matmul(v, (f * h).astype(v.dtype), precision=_HIGHEST)
    dlam = jnp.real(jnp.diagonal(h))
    return dlam.astype(lam.dtype), dv


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def given_eigh(a: jax.Array, lam: jax.Array, v: jax.Array, rtol: float | None = None
               ) -> tuple[jax.Array, jax.Array]:
    """The supplied eigenpairs (lam ascending, v) of ``a``, with ``safe_eigh``'s derivative in ``a``.

    For a computation that already diagonalised ``a`` (the adjoint sweep re-running a step of its
    forward pass): it differentiates as ``safe_eigh(a)`` would without solving again. ``lam`` and
    ``v`` themselves get no derivative.
    """
    return lam, v


@given_eigh.defjvp
def _given_eigh_jvp(rtol, primals, tangents):
    _, lam, v = primals
    lam, v = jax.lax.stop_gradient(lam), jax.lax.stop_gradient(v)
    return (lam, v), _eigh_tangents(lam, v, tangents[0], rtol)


@jax.custom_jvp
def psd_factor(
    a: jax.Array, lam: jax.Array, u: jax.Array, keep: jax.Array
) -> jax.Array:
    """The factor U_k sqrt(Lambda_k) of the kept part of a PSD matrix ``a`` = U Lambda U^dagger.

    ``lam`` (descending), ``u`` are ``safe_eigh``'s results for ``a`` (reordered), ``keep`` the
    boolean mask of the k kept columns (k = keep.shape[0]). Its derivative is that of the kept
    matrix a_k = U_k Lambda_k U_k^dagger, exact even inside degenerate groups of kept eigenvalues:
    a factor built from ``safe_eigh``'s own derivative is not, because sqrt(lambda) depends on how
    a perturbation splits a group (the off-diagonal block of U^dagger da U inside the group),
    which the eigenvector derivative there leaves out.
    """
    k = keep.shape[0]
    root = jnp.sqrt(jnp.where(keep, lam[:k], 1.0))
    return u[:, :k] * (root * keep).astype(u.dtype)


@psd_factor.defjvp
def _psd_factor_jvp(primals, tangents):
    a, lam, u, keep = primals
    da = tangents[0]
    out = psd_factor(a, lam, u, keep)
    k = keep.shape[0]
    lam = jax.lax.stop_gradient(lam)
    u = jax.lax.stop_gradient(u)
    s = jnp.sqrt(jnp.where(keep, lam[:k], 0.0))  # (k,)
    da = 0.5 * (da + jnp.conj(da.T))
    h = jnp.matmul(jnp.matmul(jnp.conj(u.T), da, precision=_HIGHEST), u[:, :k], precision=_HIGHEST)
    n = lam.shape[0]
    kept_row = jnp.concatenate([keep, jnp.zeros(n - k, bool)])[:, None]  # row a is a kept direction
    # Kept rows: X S + S X^dagger = H_kk is solved by H_ab / (s_a + s_b) (no gap appears).
    s_row = jnp.concatenate([s, jnp.zeros(n - k, s.dtype)])[:, None]
    denom_kept = s_row + s[None, :]
    kept_part = jnp.where(denom_kept > 0, 1.0 / jnp.where(denom_kept > 0, denom_kept, 1.0), 0.0)
    # Dropped rows mix into kept column b with s_b / (lam_b - lam_a): the gap across the cut.
    gap = lam[None, :k] - lam[:, None]
    tol = default_rtol(lam.dtype) * jnp.max(jnp.abs(lam))
    ok = jnp.abs(gap) > tol
    cross_part = jnp.where(ok, s[None, :] / jnp.where(ok, gap, 1.0), 0.0)
    weight = jnp.where(kept_row, kept_part, cross_part) * keep[None, :]
    dout = jnp.matmul(u, (weight * h).astype(u.dtype), precision=_HIGHEST)
    return out, dout
