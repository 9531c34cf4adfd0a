"""Gradients of noisy circuits: backprop, parameter-shift and checkpointed backprop agree with each
other and with central finite differences of the independent dense reference (tests/dense.py)."""

import dense
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lretjax import Circuit, Param, SimulationConfigError, expval, simulate
from lretjax.errors import ParameterError
from lretjax.gates import GATES, GateSpec
from lretjax.grad import GENERATOR_SPECTRA, ShiftRule, expval_fn, frequencies, shift_rule

PARAM_GATES = sorted(g for g, s in GATES.items() if s.num_params > 0)
# Pauli flips are mixtures of unitaries like depolarizing, which stands for them here (they failed
# under jit when these cases were drawn; adding them changes every drawn case).
CHANNELS_1 = ["depolarizing", "amplitude_damping", "phase_damping"]
FD_STEP = 1e-5
TOL = 1e-7


# -- random parameterised noisy circuits ----------------------------------------------------------


def random_case(seed: int, n: int, num_gates: int, num_channels: int):
    """A circuit whose parameterised gates cycle through every gate, with noise mixed in.

    Symbols are shared between slots and sometimes affine (coefficient and offset), so the
    chain rule of ``Param`` is exercised.
    """
    rng = np.random.default_rng(seed)
    c = Circuit(n)
    for w in range(n):  # a start that is not an eigenstate of the rotations below
        c = c.h(w) if w % 2 == 0 else c.sx(w)
    names = [f"t{i}" for i in range(max(2, num_gates // 2))]
    gates = [PARAM_GATES[(seed * 5 + i) % len(PARAM_GATES)] for i in range(num_gates)]
    where_noise = set(rng.choice(num_gates, size=min(num_channels, num_gates), replace=False).tolist())
    for i, g in enumerate(gates):
        spec = GATES[g]
        wires = [int(w) for w in rng.choice(n, spec.num_wires, replace=False)]
        params = []
        for _ in range(spec.num_params):
            p = Param(str(rng.choice(names)))
            if rng.random() < 0.4:
                p = float(rng.choice([-2.0, 0.5, 1.5])) * p + float(rng.uniform(-1, 1))
            params.append(p)
        c = c.add(g, wires, *params)
        if i in where_noise:
            ch = CHANNELS_1[int(rng.integers(len(CHANNELS_1)))]
            c = c.add(ch, [int(rng.integers(n))], float(rng.uniform(0.02, 0.3)))
        if rng.random() < 0.3 and n > 1:
            a, b = (int(w) for w in rng.choice(n, 2, replace=False))
            c = c.cx(a, b)
    paulis = ["".join(rng.choice(list("IXYZ"), n)) for _ in range(3)]
    paulis = [p if set(p) != {"I"} else "Z" + p[1:] for p in paulis]
    obs = {p: float(rng.uniform(-1, 1)) for p in paulis}
    params = rng.uniform(-np.pi, np.pi, size=c.num_parameters)
    return c, obs, params


def dense_value(circuit, obs, params) -> float:
    rho = dense.evolve(circuit, params)
    return sum(coef * dense.expval(rho, p) for p, coef in obs.items())


def dense_fd_grad(circuit, obs, params) -> np.ndarray:
    g = np.zeros(len(params))
    for i in range(len(params)):
        e = np.zeros(len(params))
        e[i] = FD_STEP
        g[i] = (dense_value(circuit, obs, params + e) - dense_value(circuit, obs, params - e)) / (2 * FD_STEP)
    return g


# (seed, wires, parameterised gates, channels); max_rank stays above the exact rank so no
# truncation error enters and every method differentiates the same function.
# Kept small: compiling each distinct circuit is what costs test time (~1-3 s each on 2 cores), so
# the first 12 (which already cover every gate) run by default and the rest are marked slow.
DEFAULT_CASES = [(s, 2 + s % 2, 3 + s % 3, 1 + s % 2) for s in range(12)]
CASES = DEFAULT_CASES + [
    pytest.param(s, 2 + s % 2, 3 + s % 3, 1 + s % 2, marks=pytest.mark.slow) for s in range(12, 20)
] + [
    pytest.param(20, 5, 5, 2, marks=pytest.mark.slow),
    pytest.param(21, 8, 4, 2, marks=pytest.mark.slow),
]


@pytest.mark.parametrize("cases", [DEFAULT_CASES, CASES])
def test_cases_cover_every_parameterised_gate(cases):
    seen = set()
    for case in cases:
        c, _, _ = random_case(*getattr(case, "values", case))
        seen |= {op.name for op in c.ops if any(isinstance(p, Param) for p in op.params)}
    assert seen == set(PARAM_GATES)
    assert set(GENERATOR_SPECTRA) == set(PARAM_GATES)
    assert len(CASES) >= 20


@pytest.mark.parametrize("seed,n,num_gates,num_channels", CASES)
def test_methods_agree_with_dense_finite_differences(seed, n, num_gates, num_channels):
    c, obs, params = random_case(seed, n, num_gates, num_channels)
    assert c.num_channels >= 1
    max_rank = min(2**n, 4**num_channels)
    reference = dense_fd_grad(c, obs, params)
    grads = {}
    for method in ("backprop", "parameter-shift", "adjoint"):
        f = expval_fn(c, obs, diff_method=method, max_rank=max_rank)
        value, grads[method] = jax.value_and_grad(f)(jnp.asarray(params))
        np.testing.assert_allclose(value, dense_value(c, obs, params), atol=1e-10)
    if seed % 10 == 0:
        f = expval_fn(c, obs, checkpoint=True, max_rank=max_rank)
        grads["checkpoint"] = jax.grad(f)(jnp.asarray(params))
    for method, g in grads.items():
        assert np.all(np.isfinite(g)), method
        np.testing.assert_allclose(g, reference, atol=TOL, err_msg=method)
        np.testing.assert_allclose(g, grads["backprop"], atol=1e-9, err_msg=method)


def test_plain_jax_grad_through_simulate_is_backprop():
    c, obs, params = random_case(3, 2, 4, 2)
    f = jax.jit(lambda p: expval(simulate(c, p, max_rank=8), obs))
    np.testing.assert_allclose(jax.grad(f)(jnp.asarray(params)), dense_fd_grad(c, obs, params), atol=TOL)


# -- shift rules ----------------------------------------------------------------------------------


def test_two_and_four_term_rules():
    two = shift_rule((-0.5, 0.5))
    assert two.shifts == pytest.approx((np.pi / 2, -np.pi / 2))
    assert two.coeffs == pytest.approx((0.5, -0.5))
    assert shift_rule((0.0, 1.0)) == two  # phase gates: one frequency
    four = shift_rule((-0.5, 0.0, 0.5))
    cp, cm = (np.sqrt(2) + 1) / (4 * np.sqrt(2)), (np.sqrt(2) - 1) / (4 * np.sqrt(2))
    assert four.shifts == pytest.approx((np.pi / 2, -np.pi / 2, 3 * np.pi / 2, -3 * np.pi / 2))
    assert four.coeffs == pytest.approx((cp, -cp, -cm, cm))


@pytest.mark.parametrize("eigs", [(-0.5, 0.5), (-0.5, 0, 0.5), (-1, 0, 0, 1), (0, 1, 3), (0, 1, np.sqrt(2))])
def test_shift_rule_is_exact_on_trig_polynomials(eigs):
    rng = np.random.default_rng(7)
    freqs = np.asarray(frequencies(eigs))
    a, b, c0 = rng.normal(size=len(freqs)), rng.normal(size=len(freqs)), rng.normal()

    def f(t):
        return c0 + np.sum(a * np.cos(freqs * t) + b * np.sin(freqs * t))

    rule = shift_rule(eigs)
    for t in (0.0, 0.7, -2.1):
        exact = np.sum(freqs * (-a * np.sin(freqs * t) + b * np.cos(freqs * t)))
        got = sum(c * f(t + s) for s, c in zip(rule.shifts, rule.coeffs, strict=True))
        assert got == pytest.approx(exact, abs=1e-12)


def test_user_gate_declares_its_generator(monkeypatch):
    # exp(-i t (XX + YY) / 2): generator eigenvalues -1, 0, 0, 1, frequencies 1 and 2.
    xx_yy = np.kron(dense.X, dense.X) + np.kron(dense.Y, dense.Y)
    evals, evecs = np.linalg.eigh(xx_yy / 2)

    def matrix(t):
        return jnp.asarray(evecs) @ jnp.diag(jnp.exp(-1j * t * evals)) @ jnp.asarray(evecs.conj().T)

    monkeypatch.setitem(GATES, "xy", GateSpec("xy", 2, 1, matrix))
    t = Param("t")
    c = Circuit(2).h(0).ry(0.4, 1).add("xy", [0, 1], t).depolarizing(0.1, 1).add("xy", [1, 0], 0.5 * t)
    with pytest.raises(ParameterError, match="shift_rules"):
        expval_fn(c, "ZX", diff_method="parameter-shift")
    f = expval_fn(c, {"ZX": 1.0, "XY": 0.5}, diff_method="parameter-shift", shift_rules={"xy": [evals]})
    p = jnp.array([0.8])
    fd = (f(p + FD_STEP) - f(p - FD_STEP)) / (2 * FD_STEP)
    np.testing.assert_allclose(jax.grad(f)(p), fd, atol=TOL)
    np.testing.assert_allclose(jax.grad(f)(p), jax.grad(expval_fn(c, {"ZX": 1.0, "XY": 0.5}))(p), atol=1e-10)
    rule = ShiftRule((np.pi / 2, -np.pi / 2), (0.5, -0.5))  # a wrong rule is used as given
    g = expval_fn(c, {"ZX": 1.0}, diff_method="parameter-shift", shift_rules={"xy": [rule]})
    assert np.isfinite(jax.grad(g)(p)).all()


# -- degenerate Gram eigenvalues and rank caps ----------------------------------------------------


def degenerate_circuit():
    """A Bell pair hit by depolarizing: Gram eigenvalues 1 - p, p/3, p/3, p/3 (exactly degenerate),
    then depolarizing(0.75) on |0>: the maximally mixed qubit doubles every multiplicity."""
    a, b = Param("a"), Param("b")
    return (
        Circuit(3).h(0).cx(0, 1).depolarizing(0.3, 0).depolarizing(0.75, 2)
        .rx(a, 0).cry(b, 0, 2).depolarizing(0.3, 1).crz(a, 1, 2).phase_damping(0.5, 2)
    )


@pytest.mark.parametrize("max_rank,epsilon", [(1, 0.0), (2, 0.0), (3, 0.0), (5, 0.05), (8, 0.0), (8, 0.05)])
def test_no_nan_at_degenerate_eigenvalues_and_rank_caps(max_rank, epsilon):
    # Caps 2 and 3 cut inside the degenerate p/3 group; epsilon drops part of it.
    c = degenerate_circuit()

    def f(p):
        return expval(simulate(c, p, max_rank=max_rank, epsilon=epsilon), {"ZZZ": 1.0, "XIY": 0.4})

    points = jnp.asarray([[0.0, 0.0], [0.3, -1.2], [np.pi, np.pi / 2]])
    g = jax.jit(jax.vmap(jax.grad(f)))(points)
    assert np.all(np.isfinite(g))


@pytest.mark.parametrize("method", ["backprop", "adjoint"])
def test_degenerate_case_is_exact_when_uncapped(method):
    c = degenerate_circuit()
    obs = {"ZZZ": 1.0, "XIY": 0.4, "IXX": -0.7}
    p = np.array([0.3, -1.2])
    g = jax.grad(expval_fn(c, obs, max_rank=8, diff_method=method))(jnp.asarray(p))
    np.testing.assert_allclose(g, dense_fd_grad(c, obs, p), atol=TOL)


@pytest.mark.parametrize("method", ["backprop", "adjoint", "parameter-shift"])
def test_gradient_at_zero_noise_strength(method):
    # Channels at strength exactly 0 open new eigen-directions of weight 0 whose derivative is not
    # 0; the traced truncation keeps them while the width has room, so the gradient stays exact.
    a, b = Param("a"), Param("b")
    c = (Circuit(3).h(0).rx(a, 0).cx(0, 1).depolarizing(0.0, 1).cry(b, 1, 2).amplitude_damping(0.0, 2)
         .depolarizing(0.1, 0).rz(a, 2).phase_damping(0.0, 0))
    obs = {"ZZI": 1.0, "XIY": 0.4, "IXX": -0.7}
    p = np.array([0.7, -1.1])
    g = jax.grad(expval_fn(c, obs, max_rank=8, diff_method=method))(jnp.asarray(p))
    np.testing.assert_allclose(g, dense_fd_grad(c, obs, p), atol=TOL)


def test_adjoint_equals_backprop_through_capped_ranks_up_to_the_reconstruction_error():
    # Truncated, the adjoint sweep differentiates at reconstructed factors: its gradient differs
    # from backprop's (the exact derivative of the truncated run) by about the discarded weight.
    c, obs, params = random_case(7, 4, 8, 6)
    x = jnp.asarray(params)
    gb = jax.grad(expval_fn(c, obs, max_rank=4))(x)
    ga = jax.grad(expval_fn(c, obs, max_rank=4, diff_method="adjoint"))(x)
    d = float(simulate(c, params, max_rank=4).discarded)
    assert 1e-4 < d < 0.2  # truncation is active
    assert np.all(np.isfinite(ga))
    np.testing.assert_allclose(ga, gb, atol=4 * d)


def two_channel_circuit(n: int):
    """Rotations, a depolarizing and an amplitude damping channel, entanglers across all n wires:
    rank at most 4 x 2 = 8, so max_rank=8 truncates nothing."""
    a, b, c = Param("a"), Param("b"), Param("c")
    circuit = Circuit(n)
    for w in range(n):
        circuit = circuit.ry(0.4 + 0.3 * w, w)
    circuit = circuit.rx(a, 0).cx(0, 1).depolarizing(0.2, 1).cry(b, 1, 2)
    for w in range(2, n - 1):
        circuit = circuit.cx(w, w + 1)
    return circuit.amplitude_damping(0.3, n - 1).rz(c, n - 1).crz(a, n - 1, 0)


@pytest.mark.parametrize("n,budget,stores", [(7, None, True), (7, 0, False), (3, None, False)])
def test_adjoint_reusing_the_forward_eigendecomposition_is_exact(n, budget, stores, monkeypatch):
    # Where (m w)^2 <= 2^n w (engine.step.keeps_eig) and all of them fit the budget
    # (engine.adjoint.EIG_BYTES, or one L) the adjoint forward stores every channel's Gram
    # eigendecomposition and the backward's re-run differentiates at it without solving again
    # (ops.eigh.given_eigh); elsewhere it solves again. Both are exact.
    from lretjax.engine import adjoint as adjoint_module
    from lretjax.engine.schedule import build
    from lretjax.engine.step import keeps_eig

    if budget is not None:  # two channels' decompositions (32 KB) exceed one L (16 KB) at n = 7
        monkeypatch.setattr(adjoint_module, "EIG_BYTES", budget)
    circuit = two_channel_circuit(n)
    obs = {"ZZ" + "I" * (n - 2): 1.0, "X" + "I" * (n - 2) + "Y": 0.4, "I" * (n - 1) + "Z": -0.7}
    p = np.array([0.3, -1.2, 0.7])
    x = jnp.asarray(p)
    assert keeps_eig(build(circuit, params=x).program, 8) == (n == 7)
    adjoint = expval_fn(circuit, obs, max_rank=8, diff_method="adjoint")
    ga = jax.grad(adjoint)(x)
    gb = jax.grad(expval_fn(circuit, obs, max_rank=8))(x)
    np.testing.assert_allclose(ga, gb, atol=1e-12)
    np.testing.assert_allclose(ga, dense_fd_grad(circuit, obs, p), atol=1e-9)
    # Reusing, the gradient solves no more eigenproblems than the forward pass alone.
    solves = [str(jax.make_jaxpr(f)(x)).count("eigh[") for f in (adjoint, jax.grad(adjoint))]
    assert (solves[1] == solves[0]) == stores


def test_adjoint_channel_undo_is_within_sqrt_discarded():
    from lretjax.noise.channels import amplitude_damping, depolarizing
    from lretjax.ops.channel import channel_factor, channel_gram, channel_unfactor, wires_back, wires_last
    from lretjax.ops.truncate import select

    rng = np.random.default_rng(3)
    n, r = 4, 4
    L = jnp.asarray(rng.normal(size=(2**n, r)) + 1j * rng.normal(size=(2**n, r))) / 8
    for kraus, k in ((depolarizing(0.2), 3), (amplitude_damping(0.3), 2), (depolarizing(0.2), 16)):
        kraus = jnp.asarray(kraus, L.dtype)
        Lw = wires_last(L, (1,), n)
        sel = select(channel_gram(Lw, kraus), k)
        new = wires_back(channel_factor(Lw, kraus, sel.vectors), (1,), n)
        back = wires_back(channel_unfactor(wires_last(new, (1,), n), kraus, sel.vectors), (1,), n)
        err = float(jnp.linalg.norm(back - L))
        assert err <= np.sqrt(float(sel.discarded)) + 1e-12
        if k == 16:  # nothing dropped: the undo is exact
            assert err < 1e-12


def test_gradient_through_noise_strength():
    def circuit(p, gamma):
        return Circuit(2).ry(1.1, 0).cx(0, 1).depolarizing(p, 0).amplitude_damping(gamma, 1).rx(0.4, 1)

    obs = {"ZZ": 1.0, "IZ": 0.5, "XX": 0.3}

    def f(x):
        return expval(simulate(circuit(x[0], x[1]), max_rank=4), obs)

    x = np.array([0.12, 0.3])
    g = jax.jit(jax.grad(f))(jnp.asarray(x))
    fd = []
    for i in range(2):
        e = np.eye(2)[i] * FD_STEP
        hi, lo = dense.evolve(circuit(*(x + e))), dense.evolve(circuit(*(x - e)))
        diff = sum(c * (dense.expval(hi, q) - dense.expval(lo, q)) for q, c in obs.items())
        fd.append(diff / (2 * FD_STEP))
    np.testing.assert_allclose(g, fd, atol=TOL)


# -- transformations and errors -------------------------------------------------------------------


def test_parameter_shift_under_jit_vmap_and_optax():
    optax = pytest.importorskip("optax")
    c, obs, _ = random_case(5, 2, 3, 1)
    f = expval_fn(c, obs, diff_method="parameter-shift", max_rank=4)
    batch = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, size=(3, c.num_parameters)))
    vg = jax.jit(jax.vmap(jax.grad(f)))(batch)
    for i in range(3):
        np.testing.assert_allclose(vg[i], jax.grad(f)(batch[i]), atol=1e-12)
    opt = optax.adam(0.1)

    def train(fn, steps=5):
        @jax.jit
        def step(params, state):
            loss, g = jax.value_and_grad(fn)(params)
            updates, state = opt.update(g, state)
            return optax.apply_updates(params, updates), state, loss

        params, state, losses = batch[0], opt.init(batch[0]), []
        for _ in range(steps):
            params, state, loss = step(params, state)
            losses.append(float(loss))
        return params, losses

    p_shift, l_shift = train(f)
    p_back, l_back = train(expval_fn(c, obs, max_rank=4))
    np.testing.assert_allclose(p_shift, p_back, atol=1e-9)  # the same optimisation path
    np.testing.assert_allclose(l_shift, l_back, atol=1e-10)
    assert l_shift[-1] < l_shift[0]


def test_bad_requests_raise_typed_errors():
    c, obs, _ = random_case(1, 2, 4, 2)
    with pytest.raises(SimulationConfigError, match="diff_method"):
        expval_fn(c, obs, diff_method="adjoints")
    with pytest.raises(SimulationConfigError):
        expval_fn(c, obs, diff_method="parameter-shift", checkpoint=True)
    with pytest.raises(SimulationConfigError):
        expval_fn(c, obs, diff_method="adjoint", checkpoint=True)
    with pytest.raises(ParameterError, match="no symbolic parameters"):
        expval_fn(Circuit(1).rx(0.1, 0), "Z")
    f = expval_fn(c, obs)
    with pytest.raises(ParameterError, match="vector of"):
        f(jnp.zeros(c.num_parameters + 1))


# -- the rho = L L^dagger branch of truncation (width > 2^n) -------------------------------------


def _degenerate_wide_factor(seed=0):
    """A 4 x 8 factor whose rho has eigenvalues 0.5, 0.2, 0.2, 0.1 (a degenerate pair)."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4)))
    w, _ = np.linalg.qr(rng.normal(size=(8, 8)) + 1j * rng.normal(size=(8, 8)))
    L0 = (u * np.sqrt([0.5, 0.2, 0.2, 0.1])) @ np.eye(4, 8) @ w
    d = rng.normal(size=L0.shape) + 1j * rng.normal(size=L0.shape)
    o = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    return L0, d, o + o.conj().T


def _fd(f, h=1e-6):
    return (f(h) - f(-h)) / (2 * h)


@pytest.mark.parametrize("k", [4, 3, 1])
def test_psd_factor_gradient_is_exact_inside_degenerate_groups(k):
    from lretjax.ops.eigh import psd_factor, safe_eigh

    L0, d, o = _degenerate_wide_factor()

    def f(t):
        L = jnp.asarray(L0) + t * jnp.asarray(d)
        rho = L @ L.conj().T
        lam, u = safe_eigh(rho)
        lk = psd_factor(rho, lam[::-1], u[:, ::-1], jnp.ones(k, bool))
        return jnp.real(jnp.trace(jnp.asarray(o) @ lk @ lk.conj().T))

    np.testing.assert_allclose(jax.grad(f)(0.0), _fd(f), atol=1e-7)


@pytest.mark.parametrize("k", [4, 3])
def test_truncate_wide_branch_gradient_inside_degenerate_groups(k):
    from lretjax.ops import truncate

    L0, d, o = _degenerate_wide_factor()

    def f(t):
        lk = truncate(jnp.asarray(L0) + t * jnp.asarray(d), k).L
        return jnp.real(jnp.trace(jnp.asarray(o) @ lk @ lk.conj().T))

    np.testing.assert_allclose(jax.grad(f)(0.0), _fd(f), atol=1e-7)


def test_parameter_shift_in_batches_equals_one_batch(monkeypatch):
    """Shifted circuits that do not fit SHIFT_BATCH_BYTES run as a loop of vmapped batches."""
    import lretjax.grad as grad_mod

    c = Circuit(3).ry(Param("a"), 0).cx(0, 1).depolarizing(0.02, 1).rz(Param("b"), 1).crx(Param("c"), 1, 2)
    x = jnp.asarray([0.3, -0.7, 1.1])
    whole = jax.grad(grad_mod.expval_fn(c, "Z0 Z2", diff_method="parameter-shift"))(x)
    assert grad_mod.shift_batch_size(8, len(c.ops), 3, 64) == 8
    per_circuit = len(c.ops) * 2**3 * 8 * 16
    monkeypatch.setattr(grad_mod, "SHIFT_BATCH_BYTES", 3 * per_circuit)  # batches of 3 (and a rest)
    assert grad_mod.shift_batch_size(8, len(c.ops), 3, 64) == 3
    f = grad_mod.expval_fn(c, "Z0 Z2", diff_method="parameter-shift")
    batched = jax.grad(f)(x)
    np.testing.assert_allclose(batched, whole, atol=1e-13)
    fd = [(f(x + h) - f(x - h)) / 2e-6 for h in 1e-6 * np.eye(3)]
    np.testing.assert_allclose(batched, fd, atol=1e-7)
