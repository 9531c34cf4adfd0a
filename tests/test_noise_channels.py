"""The device-noise channels against maps written here from their definitions, in plain NumPy.

Each reference is the channel's action on a density matrix (not a Kraus set), turned into Kraus
operators through its Choi matrix only to embed it in n wires.
"""

from __future__ import annotations

import dense
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import expm

import lretjax
from lretjax import Circuit, NoiseError, probabilities, simulate
from lretjax.noise.channels import CHANNELS
from lretjax.noise.forms import choi_matrix, kraus_from_choi, ptm

I2, X, Y, Z = dense.I2, dense.X, dense.Y, dense.Z
PAULI = {"I": I2, "X": X, "Y": Y, "Z": Z}
LABELS2 = [a + b for a in "IXYZ" for b in "IXYZ"]


def ket(i, d=2):
    v = np.zeros((d, 1), complex)
    v[i] = 1
    return v


# -- reference maps rho -> E(rho) ----------------------------------------------------------------


def ref_gad(gamma, p):
    # PennyLane's GeneralizedAmplitudeDamping Kraus operators (p = excitation probability).
    ks = [
        np.sqrt(1 - p) * np.array([[1, 0], [0, np.sqrt(1 - gamma)]]),
        np.sqrt(1 - p) * np.array([[0, np.sqrt(gamma)], [0, 0]]),
        np.sqrt(p) * np.array([[np.sqrt(1 - gamma), 0], [0, 1]]),
        np.sqrt(p) * np.array([[0, 0], [np.sqrt(gamma), 0]]),
    ]
    return lambda rho: sum(k @ rho @ k.conj().T for k in ks)


def ref_thermal(t1, t2, tg, pe):
    r = 1 - np.exp(-tg / t1)
    c = np.exp(-tg / t2)

    def f(rho):
        out = np.zeros_like(rho)
        out[0, 0] = (1 - pe * r) * rho[0, 0] + (1 - pe) * r * rho[1, 1]
        out[1, 1] = pe * r * rho[0, 0] + (1 - (1 - pe) * r) * rho[1, 1]
        out[0, 1] = c * rho[0, 1]
        out[1, 0] = c * rho[1, 0]
        return out

    return f


def ref_pauli(probs: dict):
    def f(rho):
        out = (1 - sum(probs.values())) * rho
        for label, p in probs.items():
            m = dense.kron(*[PAULI[c] for c in label])
            out = out + p * m @ rho @ m.conj().T
        return out

    return f


def ref_reset_error(p0, p1):
    def f(rho):
        tr = np.trace(rho)
        return (1 - p0 - p1) * rho + p0 * tr * (ket(0) @ ket(0).T) + p1 * tr * (ket(1) @ ket(1).T)

    return f


def ref_unitary(u):
    return lambda rho: u @ rho @ u.conj().T


REFERENCES = {
    "generalized_amplitude_damping": ref_gad,
    "thermal_relaxation": ref_thermal,
    "pauli_channel": lambda px, py, pz: ref_pauli({"X": px, "Y": py, "Z": pz}),
    "pauli_channel2": lambda *ps: ref_pauli(dict(zip(LABELS2[1:], ps, strict=True))),
    "correlated_pauli": lambda a, b, c: ref_pauli({"XX": a, "YY": b, "ZZ": c}),
    "reset": lambda: ref_reset_error(1.0, 0.0),
    "reset_error": ref_reset_error,
    "over_rotation": lambda t, phi: ref_unitary(expm(-0.5j * t * (np.cos(phi) * X + np.sin(phi) * Y))),
    "zz_crosstalk": lambda t: ref_unitary(expm(-0.5j * t * np.kron(Z, Z))),
}
WIDTH = {"pauli_channel2": 2, "correlated_pauli": 2, "zz_crosstalk": 2}


def random_params(name, rng):
    if name == "thermal_relaxation":
        t1 = rng.uniform(20, 100)
        return [t1, rng.uniform(0.1, 2.0) * t1, rng.uniform(0.5, 30), rng.uniform(0, 0.3)]
    if name == "pauli_channel2":
        return list(rng.dirichlet(np.ones(16))[1:] * 0.5)
    if name in ("pauli_channel", "correlated_pauli"):
        return list(rng.dirichlet(np.ones(4))[1:])
    if name == "reset_error":
        return list(rng.dirichlet(np.ones(3))[:2])
    if name in ("over_rotation", "zz_crosstalk"):
        return list(rng.uniform(-np.pi, np.pi, size=CHANNELS[name].num_params))
    return list(rng.uniform(0, 1, size=CHANNELS[name].num_params))


def map_superop(f, d):
    """S with vec(E(rho)) = S vec(rho) (row-major vec)."""
    cols = []
    for j in range(d * d):
        e = np.zeros(d * d, complex)
        e[j] = 1
        cols.append(f(e.reshape(d, d)).reshape(-1))
    return np.stack(cols, axis=1)


def kraus_superop(ks):
    return sum(np.kron(k, k.conj()) for k in np.asarray(ks))


def map_kraus(f, d):
    """Kraus operators of a map from its Choi matrix J = sum |i><j| (x) E(|i><j|)."""
    j = np.zeros((d * d, d * d), complex)
    for a in range(d):
        for b in range(d):
            e = np.zeros((d, d), complex)
            e[a, b] = 1
            j += np.kron(e, f(e))
    lam, v = np.linalg.eigh(j)
    return [np.sqrt(max(l_, 0)) * v[:, i].reshape(d, d).T for i, l_ in enumerate(lam) if l_ > 1e-14]


def reference_evolve(circuit):
    n = circuit.num_wires
    rho = np.zeros((2**n, 2**n), complex)
    rho[0, 0] = 1
    for op in circuit.ops:
        params = [] if op.kind == "kraus" else [float(p) for p in op.params]
        if op.kind == "gate":
            ks = [dense.GATES[op.name](*params)]
        elif op.name in REFERENCES:
            ks = map_kraus(REFERENCES[op.name](*params), 2 ** len(op.wires))
        elif op.kind == "kraus":
            ks = list(np.asarray(op.params[0]))
        else:
            ks = list(dense.CHANNELS[op.name](*params))
        full = [dense.embed(k, op.wires, n) for k in ks]
        rho = sum(k @ rho @ k.conj().T for k in full)
    return rho


NEW = sorted(REFERENCES)


def ref_map(name, params):
    """The reference map of any channel: ours above, or the Kraus sets of tests/dense.py."""
    if name in REFERENCES:
        return REFERENCES[name](*params)
    ks = dense.CHANNELS[name](*params)
    return lambda rho: sum(k @ rho @ k.conj().T for k in ks)


# -- Kraus sets ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NEW)
def test_kraus_matches_reference_map(name):
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    spec = CHANNELS[name]
    d = 2 ** WIDTH.get(name, 1)
    assert spec.num_wires == WIDTH.get(name, 1)
    for _ in range(3):
        params = random_params(name, rng)
        ks = np.asarray(spec.kraus(*params))
        assert ks.shape == (spec.num_kraus, d, d)
        np.testing.assert_allclose(np.einsum("kji,kjl->il", ks.conj(), ks), np.eye(d), atol=1e-12)
        np.testing.assert_allclose(kraus_superop(ks), map_superop(REFERENCES[name](*params), d), atol=1e-12)


@pytest.mark.parametrize(
    "name, params",
    [
        ("generalized_amplitude_damping", [0.0, 0.0]),
        ("generalized_amplitude_damping", [1.0, 1.0]),
        ("thermal_relaxation", [50.0, 100.0, 0.0, 0.0]),  # tg = 0: identity, T2 = 2 T1 boundary
        ("thermal_relaxation", [50.0, 100.0, 40.0, 0.0]),  # T2 = 2 T1: pure amplitude damping
        ("thermal_relaxation", [50.0, 10.0, 40.0, 1.0]),
        ("thermal_relaxation", [np.inf, 30.0, 5.0, 0.2]),  # no T1 decay: pure dephasing
        ("pauli_channel", [0.0, 0.0, 1.0]),
        ("reset_error", [0.0, 1.0]),
        ("correlated_pauli", [0.0, 0.0, 0.0]),
    ],
)
def test_edge_parameters(name, params):
    ks = np.asarray(CHANNELS[name].kraus(*params))
    d = ks.shape[-1]
    assert np.all(np.isfinite(ks))
    np.testing.assert_allclose(kraus_superop(ks), map_superop(REFERENCES[name](*params), d), atol=1e-12)


def test_simulate_matches_dense_reference():
    """Every new channel in one 3-wire circuit (few compilations), rank never truncated."""
    rng = np.random.default_rng(7)
    n = 3
    c = Circuit(n).h(0).cx(0, 1).ry(0.7, 2).rx(0.4, 1)
    for name in NEW:
        two = WIDTH.get(name, 1) == 2
        c = c.add(name, [2, 0] if two else [1], *random_params(name, rng)).cz(1, 2).h(2).cx(0, 1)
    state = simulate(c, max_rank=2**n)
    rho_ref = reference_evolve(c)
    np.testing.assert_allclose(np.asarray(lretjax.to_density_matrix(state)), rho_ref, atol=1e-10)
    np.testing.assert_allclose(np.asarray(probabilities(state)), np.real(np.diag(rho_ref)), atol=1e-10)
    assert float(state.discarded) < 1e-12


# -- bad input ----------------------------------------------------------------------------------


def test_thermal_relaxation_refuses_t2_above_2t1():
    with pytest.raises(NoiseError, match=r"T2=120 > 2\*T1=100"):
        Circuit(1).thermal_relaxation(50.0, 120.0, 1.0, 0.0, 0)
    with pytest.raises(NoiseError, match="positive"):
        Circuit(1).thermal_relaxation(0.0, 0.0, 1.0, 0.0, 0)
    Circuit(1).thermal_relaxation(50.0, 100.0, 1.0, 0.0, 0)  # T2 = 2 T1 is allowed


@pytest.mark.parametrize(
    "name, params, culprit",
    [
        ("pauli_channel", [0.5, 0.4, 0.2], "pz=0.2"),
        ("correlated_pauli", [0.6, 0.6, 0.0], "pxx=0.6"),
        ("reset_error", [0.7, 0.4], "p1=0.4"),
        ("pauli_channel2", [0.1] * 15, "ZZ=0.1"),
    ],
)
def test_probabilities_summing_above_one_are_refused(name, params, culprit):
    wires = [0, 1] if CHANNELS[name].num_wires == 2 else [0]
    with pytest.raises(NoiseError, match=f"{name}: probabilities sum to .* > 1 .*{culprit}"):
        Circuit(2).add(name, wires, *params)


def test_probability_outside_unit_interval_is_refused():
    with pytest.raises(lretjax.CircuitError, match=r"parameter 1 = 1.5 is outside \[0, 1\]"):
        Circuit(1).generalized_amplitude_damping(0.1, 1.5, 0)
    with pytest.raises(lretjax.CircuitError, match="outside"):
        Circuit(1).pauli_channel(-0.1, 0.0, 0.0, 0)


# -- Choi and Pauli-transfer forms ---------------------------------------------------------------


def test_choi_of_thermal_relaxation_is_qiskits_closed_form():
    t1, t2, tg, pe = 30.0, 50.0, 10.0, 0.1
    r, c = 1 - np.exp(-tg / t1), np.exp(-tg / t2)
    # As written in Qiskit Aer's thermal_relaxation_error (same convention, sum |i><j| (x) E(|i><j|)).
    jq = np.array([[1 - pe * r, 0, 0, c], [0, pe * r, 0, 0],
                   [0, 0, (1 - pe) * r, 0], [c, 0, 0, 1 - (1 - pe) * r]])
    j = np.asarray(choi_matrix(CHANNELS["thermal_relaxation"].kraus(t1, t2, tg, pe)))
    np.testing.assert_allclose(j, jq, atol=1e-12)


@pytest.mark.parametrize("name", NEW)
def test_kraus_from_choi_round_trip(name):
    rng = np.random.default_rng(3)
    params = random_params(name, rng)
    ks = CHANNELS[name].kraus(*params)
    back = jax.jit(kraus_from_choi)(choi_matrix(ks))
    d = ks.shape[-1]
    assert back.shape == (d * d, d, d)
    np.testing.assert_allclose(kraus_superop(back), map_superop(REFERENCES[name](*params), d), atol=1e-10)


def test_ptm_of_pauli_channel_is_diagonal_with_known_entries():
    px, py, pz = 0.05, 0.1, 0.2
    r = np.asarray(ptm(CHANNELS["pauli_channel"].kraus(px, py, pz)))
    # P_j is kept with sign +1 by the Paulis commuting with it and -1 by the others.
    expect = np.diag([1, 1 - 2 * (py + pz), 1 - 2 * (px + pz), 1 - 2 * (px + py)])
    np.testing.assert_allclose(r, expect, atol=1e-12)


def test_ptm_of_amplitude_damping_by_definition():
    g = 0.3
    ks = CHANNELS["amplitude_damping"].kraus(g)
    f = ref_map("amplitude_damping", [g])
    paulis = [I2, X, Y, Z]
    expect = np.array([[np.real(np.trace(pi @ f(pj))) / 2 for pj in paulis] for pi in paulis])
    np.testing.assert_allclose(np.asarray(ptm(ks)), expect, atol=1e-12)
    assert expect[3, 0] == pytest.approx(g)  # the non-unital column


# -- gradients with respect to noise strengths ---------------------------------------------------

# (channel, parameter values, index differentiated, one-sided at a boundary?)
GRAD_CASES = [
    ("depolarizing", [0.1], 0, False),
    ("depolarizing", [0.0], 0, True),
    ("amplitude_damping", [0.0], 0, True),
    ("generalized_amplitude_damping", [0.2, 0.7], 0, False),
    ("generalized_amplitude_damping", [0.0, 1.0], 0, True),
    ("thermal_relaxation", [40.0, 60.0, 5.0, 0.1], 2, False),
    ("thermal_relaxation", [40.0, 60.0, 5.0, 0.1], 1, False),
    ("thermal_relaxation", [40.0, 60.0, 0.0, 0.1], 2, True),  # tg = 0: the Cholesky term is 0
    ("pauli_channel", [0.0, 0.0, 0.0], 1, True),
    ("pauli_channel2", [0.01] * 15, 7, False),
    ("correlated_pauli", [0.0, 0.1, 0.0], 0, True),
    ("reset_error", [0.0, 0.2], 0, True),
    ("over_rotation", [0.3, 0.2], 0, False),
    ("zz_crosstalk", [0.0], 0, False),
]


def _rho0(d, rng):
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    rho = a @ a.conj().T
    return rho / np.trace(rho)


@pytest.mark.parametrize("name, params, idx, boundary", GRAD_CASES)
def test_grad_of_noise_strength_matches_finite_differences(name, params, idx, boundary):
    rng = np.random.default_rng(11)
    d = 2 ** CHANNELS[name].num_wires
    rho = _rho0(d, rng)
    obs = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    obs = obs + obs.conj().T

    def f(x):
        ps = [x if i == idx else p for i, p in enumerate(params)]
        ks = CHANNELS[name].kraus(*ps)
        out = jnp.einsum("kab,bc,kdc->ad", ks, rho, ks.conj())
        return jnp.real(jnp.trace(obs @ out))

    def f_ref(x):
        ps = [x if i == idx else p for i, p in enumerate(params)]
        return float(np.real(np.trace(obs @ ref_map(name, ps)(rho))))

    x0 = float(params[idx])
    g = float(jax.grad(f)(x0))
    assert np.isfinite(g)
    h = 1e-5 * max(1.0, abs(x0))
    if boundary:  # second-order one-sided difference into the allowed range
        fd = (-3 * f_ref(x0) + 4 * f_ref(x0 + h) - f_ref(x0 + 2 * h)) / (2 * h)
    else:
        fd = (f_ref(x0 + h) - f_ref(x0 - h)) / (2 * h)
    assert g == pytest.approx(fd, rel=1e-6, abs=1e-7)
