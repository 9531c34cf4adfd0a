"""Two-wire block resynthesis: runs of gates on one pair of wires rebuilt with the fewest CX.

Every two-wire unitary is ``g (A1 x B1) exp(i(a XX + b YY + c ZZ)) (A2 x B2)`` (the KAK or
Cartan decomposition). The coordinates (a, b, c) fix how many CX it needs: none for a local
gate, one when it equals (pi/4, 0, 0) up to the symmetries, two when one coordinate is 0 (mod
pi/2), three otherwise (Shende, Markov and Bullock, PRA 69, 062321; Vatan and Williams, PRA 69,
032315). The pass collects maximal runs of concrete gates on one pair of wires, and replaces a
run when its unitary needs fewer CX than the run spends; the new one-wire gates are U3s for
``fuse_single_wire`` and ``cancel_and_merge`` to tidy.

Only concrete runs are rebuilt: symbols, tracers, channels, user matrices on two wires and
gates on more wires end a run, so nothing moves across noise and gradients keep their path.
The numerics are plain NumPy in complex128, whatever JAX's x64 setting, and every rebuilt run
is checked against the original unitary before it is used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax
import numpy as np

from ..circuit import GATE, UNITARY, Circuit, Op, _from_trusted
from ..gates import PAULIS_1
from ._rules import is_concrete, make_op
from .single import _is_phase_identity, u3_angles

# CX each named two-wire gate costs when it is decomposed on its own: locally CX-equivalent
# gates 1, controlled rotations and two-wire Pauli rotations 2 (for a generic angle), SWAP 3.
CX_COST: dict[str, int] = {
    "cx": 1, "cy": 1, "cz": 1, "ch": 1, "ecr": 1,
    "crx": 2, "cry": 2, "crz": 2, "cp": 2, "rxx": 2, "ryy": 2, "rzz": 2, "iswap": 2,
    "swap": 3,
}

# Tolerance on the coordinates (radians) and invariants that decide a CX class; a rebuilt run
# must then match the original to VERIFY_ATOL (max entry, after the best global phase).
CLASS_ATOL = 1e-9
VERIFY_ATOL = 1e-10

_I2, _X, _Y, _Z = PAULIS_1
_H = np.array([[1, 1], [1, -1]], dtype=complex) / math.sqrt(2)
_SDG = np.diag([1, -1j])
_S = np.diag([1, 1j])
_SWAP = np.eye(4, dtype=complex)[[0, 2, 1, 3]]
_YY = np.kron(_Y, _Y)
_PAULIS = (_X, _Y, _Z)

# The magic basis, in which local gates SU(2) x SU(2) are real rotations SO(4) and
# exp(i(a XX + b YY + c ZZ)) is diagonal.
_MAGIC = np.array([[1, 1j, 0, 0], [0, 0, 1j, 1], [0, 0, 1j, -1], [1, -1j, 0, 0]]) / math.sqrt(2)
# Columns: the diagonals of XX, YY, ZZ and I in the magic basis, to read (a, b, c, phase) off.
_COORDS = np.array(
    [np.real(np.diag(_MAGIC.conj().T @ np.kron(p, p) @ _MAGIC)) for p in _PAULIS] + [np.ones(4)]
).T

# One-wire Cliffords whose conjugation (Q x Q) . (Q x Q)^dagger swaps two of XX, YY, ZZ.
_SWAPPER = {
    frozenset((0, 1)): _S,  # X -> Y, Y -> -X
    frozenset((0, 2)): _H,  # X <-> Z, Y -> -Y
    frozenset((1, 2)): (_I2 - 1j * _X) / math.sqrt(2),  # RX(pi/2): Y -> Z, Z -> -Y
}


def _rot(pauli: np.ndarray, t: float) -> np.ndarray:
    return math.cos(t / 2) * _I2 - 1j * math.sin(t / 2) * pauli


# -- invariants --------------------------------------------------------------------------------


def _special(u: np.ndarray) -> np.ndarray:
    return u / np.linalg.det(u) ** 0.25


def num_cx(u, atol: float = CLASS_ATOL) -> int:
    """The fewest CX (0-3) that build the 4x4 unitary ``u`` with any one-wire gates.

    From the spectrum of gamma = U (Y x Y) U^T (Y x Y) with U scaled into SU(4): 0 CX when
    gamma = +-I, 1 when tr gamma = 0 and gamma^2 = -I, 2 when tr gamma is real, else 3
    (Shende, Markov and Bullock, PRA 69, 062321, 2004).
    """
    u = _special(np.asarray(u, dtype=complex))
    g = u @ _YY @ u.T @ _YY
    t = np.trace(g)
    if abs(abs(t.real) - 4) <= atol and abs(t.imag) <= atol:  # +-I; +-iI is SWAP's class
        return 0
    if abs(t) <= atol and np.max(np.abs(g @ g + np.eye(4))) <= atol:
        return 1
    if abs(t.imag) <= atol:
        return 2
    return 3


# -- KAK decomposition -------------------------------------------------------------------------


def _kron_factor(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) with A x B = k for a 4x4 local unitary, from the rank-1 reshuffled matrix."""
    t = k.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(4, 4)
    u, s, vh = np.linalg.svd(t)
    r = math.sqrt(s[0])
    return r * u[:, 0].reshape(2, 2), r * vh[0].reshape(2, 2)


def _real_eigvecs(m: np.ndarray, atol: float = 1e-10) -> np.ndarray | None:
    """A real rotation P (det +1) with P^T m P diagonal, for a complex symmetric unitary m.

    Re m and Im m are commuting real symmetric matrices; a generic real combination of them
    has their common eigenvectors. Fixed angles keep the pass deterministic; the rare angle at
    which two distinct eigenvalues collide is caught by the check and the next angle tried.
    """
    for t in (0.4142, 1.2345, 2.0561, 2.7183, 0.1234, 3.0):
        _, p = np.linalg.eigh(math.cos(t) * m.real + math.sin(t) * m.imag)
        d = p.T @ m @ p
        if np.max(np.abs(d - np.diag(np.diag(d)))) <= atol:
            if np.linalg.det(p) < 0:
                p[:, 0] = -p[:, 0]
            return p
    return None


@dataclass(frozen=True)
class KAK:
    """``u = phase * (a1 x b1) exp(i(x XX + y YY + z ZZ)) (a2 x b2)`` for a 4x4 unitary u."""

    phase: complex
    a1: np.ndarray
    b1: np.ndarray
    coords: tuple[float, float, float]
    a2: np.ndarray
    b2: np.ndarray

    def matrix(self) -> np.ndarray:
        x, y, z = self.coords
        can = _canonical(x, y, z)
        return self.phase * np.kron(self.a1, self.b1) @ can @ np.kron(self.a2, self.b2)


def _canonical(x: float, y: float, z: float) -> np.ndarray:
    """exp(i(x XX + y YY + z ZZ)), built in the magic basis where it is diagonal."""
    d = np.exp(1j * (_COORDS[:, :3] @ np.array([x, y, z])))
    return _MAGIC @ np.diag(d) @ _MAGIC.conj().T


def kak(u) -> KAK | None:
    """The KAK decomposition of a 4x4 unitary (None in the numerically degenerate case).

    In the magic basis U = O1 D O2 with O1, O2 real rotations and D diagonal: U^T U = O2^T D^2
    O2 is diagonalised by a real rotation, D is its square root, and O1 follows.
    """
    u = np.asarray(u, dtype=complex)
    root = np.linalg.det(u) ** 0.25
    ub = _MAGIC.conj().T @ (u / root) @ _MAGIC
    p = _real_eigvecs(ub.T @ ub)
    if p is None:
        return None
    d = np.sqrt(np.diag(p.T @ ub.T @ ub @ p))
    if np.real(np.prod(d)) < 0:
        d[0] = -d[0]
    o1 = (ub @ p) / d
    k1 = _MAGIC @ np.real(o1) @ _MAGIC.conj().T
    k2 = _MAGIC @ p.T @ _MAGIC.conj().T
    sol = np.linalg.solve(_COORDS, np.angle(d))
    a1, b1 = _kron_factor(k1)
    a2, b2 = _kron_factor(k2)
    return KAK(root * np.exp(1j * sol[3]), a1, b1, (float(sol[0]), float(sol[1]), float(sol[2])), a2, b2)


# -- synthesis ---------------------------------------------------------------------------------

# A two-wire circuit as time-ordered layers: ("L", A, B) applies A on the first wire and B on
# the second; ("CX", c) a CX with control on wire c (0 = first) and target on the other.
Layer = tuple


def _template(n: int, x: float, y: float, z: float) -> list[Layer]:
    """exp(i(x XX + y YY + z ZZ)) up to phase with ``n`` CX, for coordinates of that class:
    n = 1 needs (0, 0, pi/4), n = 2 needs y = 0."""
    if n == 0:
        return []
    if n == 1:
        # exp(i pi/4 ZZ) = e^{i pi/4} (Sdg x Sdg) CZ, CZ = (I x H) CX (I x H)
        return [("L", _I2, _H), ("CX", 0), ("L", _SDG, _SDG @ _H)]
    if n == 2:
        # CX maps X x I to XX and I x Z to ZZ.
        return [("CX", 0), ("L", _rot(_X, -2 * x), _rot(_Z, -2 * z)), ("CX", 0)]
    # Vatan and Williams, PRA 69, 032315, with its signs fitted to this module's conventions.
    return [
        ("L", _I2, _rot(_Z, math.pi / 2)),
        ("CX", 1),
        ("L", _rot(_Z, -2 * z - math.pi / 2), _rot(_Y, -math.pi / 2 - 2 * x)),
        ("CX", 0),
        ("L", _I2, _rot(_Y, 2 * y + math.pi / 2)),
        ("CX", 1),
        ("L", _rot(_Z, -math.pi / 2), _I2),
    ]


def _targets(n: int, coords):
    """``(perm, want)`` for the ``n``-CX template, or None when ``coords`` is not in that class.

    ``want`` maps the axes the template pins to their values (each equal to its coordinate
    mod pi/2); ``perm[k]`` is the axis that goes to template axis k.
    """
    half = math.pi / 2
    red = [(c + math.pi / 4) % half - math.pi / 4 for c in coords]  # in [-pi/4, pi/4)
    order = sorted(range(3), key=lambda k: abs(red[k]))
    if n == 0:
        want = {k: 0.0 for k in range(3)}
        perm = (0, 1, 2)
    elif n == 1:
        # the axis farthest from 0 goes to Z with pi/4, the others to 0
        k = order[2]
        if abs(abs(red[k]) - math.pi / 4) > CLASS_ATOL:
            return None
        want = {k: math.pi / 4, order[0]: 0.0, order[1]: 0.0}
        perm = tuple(j for j in range(3) if j != k) + (k,)
    elif n == 2:
        k = order[0]
        want = {k: 0.0}
        rest = [j for j in range(3) if j != k]
        perm = (rest[0], k, rest[1])  # the zero axis goes to Y
    else:
        want, perm = {}, (0, 1, 2)
    for k, w in want.items():
        off = (coords[k] - w) / half
        if abs(off - round(off)) * half > CLASS_ATOL:
            return None
    return perm, want


def _permutation_locals(perm: tuple[int, int, int]) -> np.ndarray:
    """Q with (Q x Q) exp(i sum c_k P_k P_k) (Q x Q)^dagger = exp(i sum c_perm[k] P_k P_k)."""
    q = _I2
    current = [0, 1, 2]  # current[k]: which original axis sits at position k
    for k in range(3):
        j = current.index(perm[k])
        if j != k:
            q = _SWAPPER[frozenset((j, k))] @ q
            current[j], current[k] = current[k], current[j]
    return q


def synthesize(u, n: int) -> list[Layer] | None:
    """Layers with exactly ``n`` CX equal to ``u`` up to phase (checked), or None if ``u``
    needs more than ``n`` CX or the numerics are degenerate."""
    u = np.asarray(u, dtype=complex)
    dec = kak(u)
    if dec is None:
        return None
    found = _targets(n, dec.coords)
    if found is None:
        return None
    perm, want = found
    coords = dec.coords
    half = math.pi / 2
    # Move each pinned coordinate onto its target by multiples of pi/2: exp(i pi/2 PP) = i PP
    # is local, so the shift is a Pauli on each wire before the canonical gate.
    shift = _I2
    shifted = list(coords)
    for k, w in want.items():
        m = round((coords[k] - w) / half)
        shifted[k] = w
        if m % 2:  # (PP)^2 = I, and i^m is a global phase
            shift = _PAULIS[k] @ shift
    q = _permutation_locals(perm)
    x, y, z = (shifted[perm[k]] for k in range(3))
    # u ~ (A1 x B1) (Q x Q)^dag T (Q x Q) (P x P) (A2 x B2): T the template, P the shift.
    layers = [("L", q @ shift @ dec.a2, q @ shift @ dec.b2)]
    layers += _template(n, x, y, z)
    layers.append(("L", dec.a1 @ q.conj().T, dec.b1 @ q.conj().T))
    layers = _merge_locals(layers)
    if phase_distance(layers_matrix(layers), u) > VERIFY_ATOL:
        return None
    return layers


def _merge_locals(layers: list[Layer]) -> list[Layer]:
    out: list[Layer] = []
    for layer in layers:
        if layer[0] == "L" and out and out[-1][0] == "L":
            _, a, b = out.pop()
            layer = ("L", layer[1] @ a, layer[2] @ b)
        out.append(layer)
    return out


_CX = np.eye(4, dtype=complex)[[0, 1, 3, 2]]
_CX10 = _SWAP @ _CX @ _SWAP


def layers_matrix(layers: list[Layer]) -> np.ndarray:
    """The 4x4 unitary of ``layers`` (first wire = high bit)."""
    m = np.eye(4, dtype=complex)
    for layer in layers:
        g = np.kron(layer[1], layer[2]) if layer[0] == "L" else (_CX if layer[1] == 0 else _CX10)
        m = g @ m
    return m


def phase_distance(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - e^{i phi} b| over entries for the phase aligning the largest entry of b."""
    k = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    ph = a[k] / b[k]
    return float(np.max(np.abs(a - ph / abs(ph) * b)))


# -- blocks ------------------------------------------------------------------------------------


@dataclass
class Block:
    """A run of ops on ``wires`` (indices into the circuit), its CX cost and two-wire gates."""

    wires: tuple[int, int]
    ops: list[int] = field(default_factory=list)
    cost: int = 0


def _blockable(op: Op) -> bool:
    """A concrete gate on one or two wires, or a concrete user matrix on one wire."""
    if op.kind == GATE:
        ok = len(op.wires) == 1 or (len(op.wires) == 2 and op.name in CX_COST)
    else:
        ok = op.kind == UNITARY and len(op.wires) == 1
    return ok and all(is_concrete(p) for p in op.params) and all(
        np.ndim(p) == 0 for p in op.params if op.kind == GATE
    )


def two_wire_blocks(circuit: Circuit) -> list[Block]:
    """Maximal runs of concrete gates on one pair of wires, each with at least one two-wire gate.

    One-wire gates join the run of their wire (the open one, or the next one to start there);
    any other op on a wire of an open run closes that run. So every op that sits between a
    run's ops and is not part of it acts on other wires, and the run may be rebuilt at the
    place of its last op.
    """
    blocks: list[Block] = []
    open_: dict[int, Block] = {}
    pending: dict[int, list[int]] = {}

    def close(w: int):
        b = open_.pop(w, None)
        if b is not None:
            for v in b.wires:
                open_.pop(v, None)
                pending[v] = []

    for i, op in enumerate(circuit.ops):
        blockable = _blockable(op)
        if blockable and len(op.wires) == 1:
            w = op.wires[0]
            if w in open_:
                open_[w].ops.append(i)
            else:
                pending.setdefault(w, []).append(i)
            continue
        if blockable:
            a, b = op.wires
            blk = open_.get(a)
            if blk is None or blk is not open_.get(b):
                close(a)
                close(b)
                blk = Block((a, b), pending.get(a, []) + pending.get(b, []))
                pending[a], pending[b] = [], []
                open_[a] = open_[b] = blk
                blocks.append(blk)
            blk.ops.append(i)
            blk.cost += CX_COST[op.name]
            continue
        for w in op.wires:
            close(w)
            pending[w] = []
    return blocks


def _op_matrix(op: Op, cache: dict) -> np.ndarray:
    key = (op.name, op.kind, tuple(float(np.asarray(p)) for p in op.params)) if op.kind == GATE else None
    if key is not None and key in cache:
        return cache[key]
    # complex128 whatever the process's x64 setting (the class tests need 1e-9), and computed
    # now even while a jit traces the circuit (the op's parameters are concrete).
    with jax.enable_x64(True), jax.ensure_compile_time_eval():
        m = np.asarray(op.matrix(), dtype=complex)
    if key is not None:
        cache[key] = m
    return m


def block_unitary(circuit: Circuit, block: Block, cache: dict | None = None) -> np.ndarray:
    """The 4x4 unitary of a block, its first wire the high bit."""
    cache = {} if cache is None else cache
    a, _ = block.wires
    u = np.eye(4, dtype=complex)
    for i in block.ops:
        op = circuit.ops[i]
        m = _op_matrix(op, cache)
        if len(op.wires) == 1:
            m = np.kron(m, _I2) if op.wires[0] == a else np.kron(_I2, m)
        elif op.wires[0] != a:
            m = _SWAP @ m @ _SWAP
        u = m @ u
    return u


def layers_to_ops(layers: list[Layer], wires: tuple[int, int]) -> list[Op]:
    """``cx`` and ``u3`` ops on ``wires`` for synthesized layers (identity locals dropped)."""
    out: list[Op] = []
    for layer in layers:
        if layer[0] == "CX":
            c = wires[layer[1]]
            out.append(make_op("cx", (c, wires[1 - layer[1]])))
            continue
        for w, m in zip(wires, layer[1:], strict=True):
            if not _is_phase_identity(m):
                out.append(make_op("u3", (w,), tuple(float(a) for a in u3_angles(m))))
    return out


def resynthesize_two_wire(circuit: Circuit) -> Circuit:
    """Rebuild every concrete two-wire run whose unitary needs fewer CX than it spends.

    The run is replaced, at the place of its last op, by at most 3 CX and U3 gates equal to it
    up to global phase. Runs with symbols, tracers, channels or user two-wire matrices are
    never formed, so those ops and everything across them stay in place.
    """
    cache: dict = {}
    replace: dict[int, list[Op]] = {}
    drop: set[int] = set()
    for blk in two_wire_blocks(circuit):
        if blk.cost < 2:
            continue  # a single CX-class gate plus one-wire gates is never local
        u = block_unitary(circuit, blk, cache)
        for n in range(num_cx(u), min(blk.cost, 4)):
            layers = synthesize(u, n)
            if layers is not None:
                drop.update(blk.ops)
                replace[blk.ops[-1]] = layers_to_ops(layers, blk.wires)
                break
    if not drop:
        return circuit
    out: list[Op] = []
    for i, op in enumerate(circuit.ops):
        if i in replace:
            out.extend(replace[i])
        elif i not in drop:
            out.append(op)
    return _from_trusted(circuit.num_wires, tuple(out))
