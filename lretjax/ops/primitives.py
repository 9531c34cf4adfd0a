"""JAX primitives for the two passes over L: apply a k-wire matrix, and stack a Kraus channel.

Both are registered ``jax.extend.core.Primitive`` s, so they appear by name in jaxprs
(``apply_matrix``, ``apply_kraus``) and carry their own rules:

- abstract evaluation (shape and dtype only);
- a default lowering (CPU and any other platform) as XLA elementwise arithmetic on slices of the
  (2,)*n + (r,) view of L: XLA fuses it into one pass over memory, where tensordot is ~10x slower
  on GPU;
- a CUDA lowering to the Pallas kernel of ``lretjax.kernels`` (one load and one store of L per block,
  whatever the number of gates fused into the block matrix);
- batching (``vmap``): a batch of L becomes extra columns (the columns are independent states), a batch
  of matrices is mapped;
- differentiation: both primitives are bilinear in (L, matrix), so the JVP is two binds and the
  transposes are (i) the same primitive with the transposed matrix for L and (ii) a contraction of
  the cotangent with L for the matrix; ``jax.grad`` therefore works w.r.t. L and w.r.t. gate matrices.

Truncation stays in XLA (eigh of the small r x r Gram matrix plus one matmul) and is no primitive: the
eigensolver is XLA's own, and ``lretjax/ops/truncate.py`` is shared with the gradient code. The Gram
product L^dagger L measured 0.17-0.19 of the one-read roofline on an H100 at r = 16-64
(docs/performance.md), so a Gram kernel is open work, not a settled question.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

_HIGHEST = jax.lax.Precision.HIGHEST

apply_matrix_p = Primitive("apply_matrix")
apply_kraus_p = Primitive("apply_kraus")

# Largest block the primitives take: 2^6 amplitudes per column stay in registers in the kernel.
MAX_WIRES = 6


# -- reference arithmetic (the default lowering) -----------------------------------------------------


def _terms(L, coef, wires, num_wires):
    """sum_b coef[..., b] * (slice b of L on ``wires``), as one broadcast expression per b.

    ``coef`` is (lead..., 2^k, 2^k) with rows a (output bits) and columns b (input bits), wires[0]
    the high bit. Each term multiplies the size-1 slice of L at input bits b by the column of
    coefficients, broadcast along the wires' axes; the sum of the 2^k terms is one elementwise
    fusion that writes the output directly. (Slicing per output bit and stacking the pieces, the
    earlier form, gave wrong amplitudes on an H100 for two-wire gates on wires (0, 1) once L held
    2^30 complex64 entries; docs/performance.md.)
    """
    k, r = len(wires), L.shape[-1]
    lead = coef.shape[:-2]
    t = L.reshape((2,) * num_wires + (r,))
    # Output axes: the wires' axes hold the output bits a, in increasing wire order.
    order = sorted(range(k), key=lambda i: wires[i])
    shape = [1] * (num_wires + 1)
    for w in wires:
        shape[w] = 2
    c = coef.reshape(lead + (2,) * k + (2**k,))
    c = jnp.transpose(c, tuple(range(len(lead))) + tuple(len(lead) + i for i in order) + (len(lead) + k,))
    acc = None
    for b, bits in enumerate(itertools.product((0, 1), repeat=k)):
        idx = [slice(None)] * (num_wires + 1)
        for w, bit in zip(wires, bits, strict=True):
            idx[w] = slice(bit, bit + 1)
        term = c[..., b].reshape(lead + tuple(shape)) * t[tuple(idx)]
        acc = term if acc is None else acc + term
    return acc


def _matrix_elementwise(L, u, *, wires, num_wires):
    """U L as 2^k broadcast scalar-times-slice terms: one fused elementwise pass in XLA."""
    return _terms(L, u, wires, num_wires).reshape(L.shape)


def _kraus_elementwise(L, kraus, *, wires, num_wires):
    """[K_1 L | ... | K_m L] with the m operators as a leading broadcast axis (2^k terms)."""
    m = kraus.shape[0]
    out = _terms(L, kraus, wires, num_wires).reshape(m, L.shape[0], L.shape[1])
    return jnp.transpose(out, (1, 0, 2)).reshape(L.shape[0], m * L.shape[1])


# -- CUDA: the Pallas kernel on split real/imaginary parts ---------------------------------------------


# Up to two wires XLA's elementwise pass already runs at copy bandwidth on an H100 and needs no split
# into real/imaginary parts (two extra passes); from three wires on the kernel wins (docs/performance.md).
_PALLAS_MIN_WIRES = 3


def _matrix_pallas(L, u, *, wires, num_wires):
    from lretjax.kernels import apply_block

    if len(wires) < _PALLAS_MIN_WIRES:
        return _matrix_elementwise(L, u, wires=wires, num_wires=num_wires)

    re, im = apply_block(
        jnp.real(L), jnp.imag(L), jnp.real(u), jnp.imag(u), wires=tuple(wires), num_wires=num_wires
    )
    return jax.lax.complex(re, im)


def _kraus_pallas(L, kraus, *, wires, num_wires):
    from lretjax.kernels import apply_block

    if len(wires) < _PALLAS_MIN_WIRES:
        return _kraus_elementwise(L, kraus, wires=wires, num_wires=num_wires)

    re, im = jnp.real(L), jnp.imag(L)
    outs = []
    for i in range(kraus.shape[0]):
        r, j = apply_block(
            re, im, jnp.real(kraus[i]), jnp.imag(kraus[i]), wires=tuple(wires), num_wires=num_wires
        )
        outs.append(jax.lax.complex(r, j))
    return jnp.concatenate(outs, axis=1)


# -- abstract evaluation ------------------------------------------------------------------------------


def _matrix_abstract(L, u, *, wires, num_wires):
    # aval.update keeps L's other type facts, e.g. which shard_map axes it varies over (the matrix
    # is built from replicated or batch-sharded parameters, over which L varies too).
    return L.update(shape=L.shape, dtype=L.dtype)


def _kraus_abstract(L, kraus, *, wires, num_wires):
    return L.update(shape=(L.shape[0], kraus.shape[0] * L.shape[1]), dtype=L.dtype)


# -- differentiation (bilinear: JVP from two binds; transposes below; no conjugation: linear) ----------


def _move_front(x, wires, num_wires):
    """(2^n, c) -> (2^k, 2^(n-k) c) with the block's wires as the leading index."""
    t = x.reshape((2,) * num_wires + (x.shape[-1],))
    t = jnp.moveaxis(t, list(wires), list(range(len(wires))))
    return t.reshape(2 ** len(wires), -1)


def _matrix_transpose_L(ct, L, u, *, wires, num_wires):
    return apply_matrix_p.bind(ct, jnp.transpose(u), wires=wires, num_wires=num_wires)


def _matrix_transpose_u(ct, L, u, *, wires, num_wires):
    c = _move_front(ct, wires, num_wires)
    x = _move_front(L, wires, num_wires)
    return jnp.matmul(c, x.T, precision=_HIGHEST)


def _kraus_split(ct, m):
    dim, mr = ct.shape
    return ct.reshape(dim, m, mr // m).transpose(1, 0, 2)  # (m, dim, r)


def _kraus_transpose_L(ct, L, kraus, *, wires, num_wires):
    cts = _kraus_split(ct, kraus.shape[0])
    out = None
    for i in range(kraus.shape[0]):
        term = apply_matrix_p.bind(cts[i], jnp.transpose(kraus[i]), wires=wires, num_wires=num_wires)
        out = term if out is None else out + term
    return out


def _kraus_transpose_k(ct, L, kraus, *, wires, num_wires):
    cts = _kraus_split(ct, ct.shape[1] // L.shape[1])
    x = _move_front(L, wires, num_wires)
    return jnp.stack([jnp.matmul(_move_front(c, wires, num_wires), x.T, precision=_HIGHEST) for c in cts])


# -- batching -----------------------------------------------------------------------------------------


def _to_columns(L, axis):
    """(.., B at axis, ..) of (dim, r) -> (dim, B r): a batch of factors is a wider factor."""
    L = jnp.moveaxis(L, axis, 1)  # (dim, B, r)
    dim, b, r = L.shape
    return L.reshape(dim, b * r), b


def _matrix_batch(args, dims, *, wires, num_wires):
    # An unmapped operand's batch dimension is None (jax 0.11 dropped the batching.not_mapped alias).
    L, u = args
    bl, bu = dims
    if bu is None:
        cols, b = _to_columns(L, bl)
        out = apply_matrix_p.bind(cols, u, wires=wires, num_wires=num_wires)
        return out.reshape(out.shape[0], b, -1), 1
    u = jnp.moveaxis(u, bu, 0)
    if bl is None:
        out = jax.lax.map(lambda v: apply_matrix_p.bind(L, v, wires=wires, num_wires=num_wires), u)
    else:
        L = jnp.moveaxis(L, bl, 0)
        out = jax.lax.map(lambda a: apply_matrix_p.bind(a[0], a[1], wires=wires, num_wires=num_wires), (L, u))
    return out, 0


def _kraus_batch(args, dims, *, wires, num_wires):
    L, kraus = args
    bl, bk = dims
    m = kraus.shape[0] if bk is None else kraus.shape[1 if bk == 0 else 0]
    if bk is None:
        cols, b = _to_columns(L, bl)
        out = apply_kraus_p.bind(cols, kraus, wires=wires, num_wires=num_wires)  # (dim, m * b * r)
        dim = out.shape[0]
        out = out.reshape(dim, m, b, -1).transpose(0, 2, 1, 3)  # per batch: [K_1 L | ... | K_m L]
        return out.reshape(dim, b, -1), 1
    kraus = jnp.moveaxis(kraus, bk, 0)
    if bl is None:
        out = jax.lax.map(lambda k: apply_kraus_p.bind(L, k, wires=wires, num_wires=num_wires), kraus)
    else:
        L = jnp.moveaxis(L, bl, 0)
        out = jax.lax.map(
            lambda a: apply_kraus_p.bind(a[0], a[1], wires=wires, num_wires=num_wires), (L, kraus)
        )
    return out, 0


# -- registration -------------------------------------------------------------------------------------


def _register(prim, ref, pallas, abstract, t_lhs, t_rhs, batch):
    prim.def_impl(jax.jit(ref, static_argnames=("wires", "num_wires")))
    prim.def_abstract_eval(abstract)
    mlir.register_lowering(prim, mlir.lower_fun(ref, multiple_results=False))
    mlir.register_lowering(prim, mlir.lower_fun(pallas, multiple_results=False), platform="cuda")
    ad.defbilinear(prim, t_lhs, t_rhs)
    batching.primitive_batchers[prim] = batch


_register(
    apply_matrix_p,
    _matrix_elementwise,
    _matrix_pallas,
    _matrix_abstract,
    _matrix_transpose_L,
    _matrix_transpose_u,
    _matrix_batch,
)
_register(
    apply_kraus_p,
    _kraus_elementwise,
    _kraus_pallas,
    _kraus_abstract,
    _kraus_transpose_L,
    _kraus_transpose_k,
    _kraus_batch,
)


# -- front doors --------------------------------------------------------------------------------------


def _check(wires: Sequence[int], num_wires: int, d: int, what: str) -> tuple[int, ...]:
    wires = tuple(int(w) for w in wires)
    k = len(wires)
    if not 1 <= k <= MAX_WIRES:
        raise ValueError(f"{what}: 1 to {MAX_WIRES} wires supported, got {k}")
    if len(set(wires)) != k or not all(0 <= w < num_wires for w in wires):
        raise ValueError(f"{what}: wires {wires} must be distinct and in 0..{num_wires - 1}")
    if d != 2**k:
        raise ValueError(f"{what}: a matrix on {k} wires must be {2**k} x {2**k}, got {d}")
    return wires


def apply_matrix_prim(L, u, wires: Sequence[int], num_wires: int):
    """L <- U L through the ``apply_matrix`` primitive (U's first wire is the high bit)."""
    u = jnp.asarray(u)
    wires = _check(wires, num_wires, u.shape[-1], "apply_matrix")
    return apply_matrix_p.bind(L, u.astype(L.dtype), wires=wires, num_wires=int(num_wires))


def apply_kraus_prim(L, kraus, wires: Sequence[int], num_wires: int):
    """[K_1 L | ... | K_m L] through the ``apply_kraus`` primitive."""
    kraus = jnp.asarray(kraus)
    wires = _check(wires, num_wires, kraus.shape[-1], "apply_kraus")
    return apply_kraus_p.bind(L, kraus.astype(L.dtype), wires=wires, num_wires=int(num_wires))
