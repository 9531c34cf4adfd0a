"""Fusion of runs of one-wire gates into a single U3, its angles computed with jnp."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..circuit import Circuit, Op, Param, _from_trusted
from ._rules import is_concrete, make_op


def zyz(u):
    """(theta, phi, lam, gamma) with ``u = exp(i gamma) U3(theta, phi, lam)`` for a 2x2 unitary ``u``.

    Removes the phase with sqrt(det u) so the rest is in SU(2):
    [[e^{-i(phi+lam)/2} c, ...], [e^{i(phi-lam)/2} s, e^{i(phi+lam)/2} c]]. Where c or s vanishes
    the free combination is set to 0 (jnp.angle(0) = 0), which still reproduces ``u``. NumPy in,
    NumPy (float64) out; otherwise jnp, so the angles stay traceable and differentiable.
    """
    xp = np if isinstance(u, np.ndarray) else jnp
    u = xp.asarray(u)
    det = u[0, 0] * u[1, 1] - u[0, 1] * u[1, 0]
    half = 0.5 * xp.angle(det)
    v = u * xp.exp(-1j * half)
    theta = 2 * xp.arctan2(xp.abs(v[1, 0]), xp.abs(v[0, 0]))
    plus = 2 * xp.angle(v[1, 1])
    minus = 2 * xp.angle(v[1, 0])
    # U3 = e^{i (phi + lam) / 2} v, and u = e^{i half} v.
    return theta, (plus + minus) / 2, (plus - minus) / 2, half - plus / 2


def u3_angles(u):
    """(theta, phi, lam) with ``u = exp(i alpha) U3(theta, phi, lam)`` for a 2x2 unitary ``u`` (``zyz``)."""
    return zyz(u)[:3]


def _fusable(op: Op) -> bool:
    return (
        op.kind in ("gate", "unitary")
        and len(op.wires) == 1
        and not any(isinstance(p, Param) for p in op.params)
    )


def _is_phase_identity(m) -> bool:
    m = np.asarray(m)
    return abs(abs(m[0, 0]) - 1) < 1e-12 and abs(m[0, 1]) < 1e-12 and abs(m[1, 0]) < 1e-12 and abs(
        m[1, 1] - m[0, 0]
    ) < 1e-12


def fuse_single_wire(circuit: Circuit) -> Circuit:
    """Replace every run of two or more one-wire gates on a wire by one ``u3`` (or nothing).

    A run ends at any op on more wires, a channel or a symbolic gate. The fused U3 sits where
    the run's last gate was; a concrete run equal to the identity up to phase is dropped.
    """
    ops: list[Op | None] = list(circuit.ops)
    runs: dict[int, list[int]] = {}

    def flush(w: int):
        run = runs.pop(w, [])
        if len(run) < 2:
            return
        m = ops[run[0]].matrix()
        for k in run[1:]:
            m = ops[k].matrix() @ m
        for k in run:
            ops[k] = None
        if all(is_concrete(p) for k in run for p in circuit.ops[k].params) and _is_phase_identity(m):
            return
        ops[run[-1]] = make_op("u3", (w,), u3_angles(m))

    for i, op in enumerate(circuit.ops):
        if _fusable(op):
            runs.setdefault(op.wires[0], []).append(i)
            continue
        for w in op.wires:
            flush(w)
    for w in list(runs):
        flush(w)
    return _from_trusted(circuit.num_wires, tuple(op for op in ops if op is not None))
