"""Exact synthesis of a k-wire unitary into named gates (u3, cx, ccx, x, p, crz, cry).

Givens eliminations in Gray-code order turn the matrix into two-level rotations on basis
states that differ in one bit, each a multi-controlled one-wire gate; those are built from
controlled rotations by Barenco et al. (1995), lemma 7.5, and a one-wire gate is a U3 from
``lretjax.compiler.single.zyz``. The result equals the matrix up to a global phase (invisible
in a density matrix). The QASM writers print it for user unitaries and for gates their
libraries lack.
"""

from __future__ import annotations

import math

import numpy as np

from ..circuit import Op
from ._rules import make_op
from .single import zyz

_X = np.array([[0, 1], [1, 0]], dtype=complex)
_ATOL = 1e-14


def _sqrt2x2(u: np.ndarray) -> np.ndarray:
    """A unitary square root of a 2x2 unitary (Cayley-Hamilton: (u + s I) / sqrt(tr u + 2 s))."""
    s0 = np.sqrt(np.linalg.det(u) + 0j)
    tr = np.trace(u)
    s = max((s0, -s0), key=lambda x: abs(tr + 2 * x))
    return (u + s * np.eye(2)) / np.sqrt(tr + 2 * s)


def controlled_gates(u: np.ndarray, controls: list[int], target: int) -> list[Op]:
    """Gates applying the 2x2 unitary u on ``target`` when every control is 1, exact including u's phase."""
    theta, phi, lam, gamma = (float(a) for a in zyz(np.asarray(u, dtype=complex)))
    if not controls:
        return [make_op("u3", (target,), (theta, phi, lam))]  # its global phase is invisible
    if len(controls) == 1:
        c = controls[0]
        if np.allclose(u, _X, atol=_ATOL):
            return [make_op("cx", (c, target))]
        # u = e^{i gamma} U3 = e^{i (gamma + (phi + lam) / 2)} RZ(phi) RY(theta) RZ(lam).
        out = [make_op(g, (c, target), (a,)) for g, a in (("crz", lam), ("cry", theta), ("crz", phi))
               if abs(a) > _ATOL]
        alpha = gamma + (phi + lam) / 2
        if abs(math.remainder(alpha, 2 * math.pi)) > _ATOL:
            out.append(make_op("p", (c,), (alpha,)))
        return out
    if len(controls) == 2 and np.allclose(u, _X, atol=_ATOL):
        return [make_op("ccx", (controls[0], controls[1], target))]
    # C^m(u) from C(v), C^{m-1}(X), C(v^dagger), C^{m-1}(X), C^{m-1}(v) with v^2 = u.
    v = _sqrt2x2(u)
    *rest, last = controls
    return (controlled_gates(v, [last], target) + controlled_gates(_X, rest, last)
            + controlled_gates(v.conj().T, [last], target) + controlled_gates(_X, rest, last)
            + controlled_gates(v, rest, target))


def unitary_gates(m: np.ndarray, wires: tuple[int, ...]) -> list[Op]:
    """Named gates on ``wires`` whose product is the (2^k, 2^k) unitary ``m`` up to a global phase.

    The first wire is the most significant bit of ``m``'s index, as everywhere in lretjax.
    """
    m = np.asarray(m, dtype=complex)
    k = len(wires)
    if k == 1:
        return controlled_gates(m, [], wires[0])
    d = 2**k
    gray = [i ^ (i >> 1) for i in range(d)]
    w = m[np.ix_(gray, gray)].copy()
    steps: list[tuple[int, np.ndarray]] = []  # (i, g): W <- G_i W with g on rows (i-1, i)
    for c in range(d - 1):
        for r in range(d - 1, c, -1):
            x, y = w[r - 1, c], w[r, c]
            if abs(y) < 1e-15:
                continue
            nrm = math.hypot(abs(x), abs(y))
            g = np.array([[np.conj(x), np.conj(y)], [-y, x]]) / nrm
            w[[r - 1, r], :] = g @ w[[r - 1, r], :]
            steps.append((r, g))
    # Now w is diagonal: W = G_last ... G_1 M, so M = G_1^dagger ... G_last^dagger diag(w).
    phases = np.diag(w)
    factors: list[tuple[int, np.ndarray]] = []
    for i in range(1, d):
        ph = phases[i] / phases[0]
        if abs(ph - 1) > 1e-15:
            factors.append((i, np.diag([1, ph])))
    factors += [(r, g.conj().T) for r, g in reversed(steps)]
    out: list[Op] = []
    # M = G_1^dagger ... G_last^dagger D: D acts first, G_1^dagger last, which is ``factors``' order.
    for i, g in factors:
        a, b = gray[i - 1], gray[i]
        bit = (a ^ b).bit_length() - 1  # index bit from the least significant end
        t = k - 1 - bit  # position among ``wires`` (wire 0 is the most significant)
        if a >> bit & 1:  # rows ordered (|1>, |0>) on the target: swap to (|0>, |1>)
            g = _X @ g @ _X
        ctrl_pos = [j for j in range(k) if j != t]
        flips = [make_op("x", (wires[j],)) for j in ctrl_pos if not (a >> (k - 1 - j)) & 1]
        out += flips + controlled_gates(g, [wires[j] for j in ctrl_pos], wires[t]) + flips
    return out
