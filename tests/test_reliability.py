"""Numerical health checks, renormalisation, memory estimates and determinism."""

import dense
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lretjax
from lretjax import Circuit, Param, simulate
from lretjax.circuit import Op, _trusted
from lretjax.errors import NumericalError, ParameterError, ResourceError, SimulationConfigError
from lretjax.health import Checks, assert_finite, check_channel, checked
from lretjax.resources import check_fits, estimate, largest_rank_that_fits
from lretjax.state import LowRankState, zero_state


def base():
    return Circuit(3).h(0).cx(0, 1).depolarizing(0.1, 1).rx(0.3, 2).amplitude_damping(0.2, 0).cz(1, 2)


def with_op(circuit, index, op):
    """``circuit`` with an op inserted unchecked (how a bad matrix would slip past validation)."""
    ops = list(circuit.ops)
    return Circuit(circuit.num_wires, ops[:index] + [_trusted(op)] + ops[index:])


def bad_unitary(wire, scale=1.1):
    return Op("unitary", (wire,), (np.diag([scale, 1.0]).astype(complex),), "unitary")


# -- health checks ----------------------------------------------------------------------------------


def test_checks_pass_on_healthy_runs_and_change_nothing():
    c = base()
    on, off = simulate(c), simulate(c, checks=False)
    assert np.array_equal(np.asarray(on.L), np.asarray(off.L))
    rho = dense.evolve(c)
    np.testing.assert_allclose(np.asarray(lretjax.to_density_matrix(on)), rho, atol=1e-10)


@pytest.mark.parametrize("index", [0, 3, 6])
def test_non_unitary_op_is_named(index):
    c = with_op(base(), index, bad_unitary(1))
    with pytest.raises(NumericalError, match=rf"after op {index} \(unitary\[1\] on wires \[1\]\).*Tr rho"):
        simulate(c)
    simulate(c, checks=False)  # switched off: the user asked for it


def test_bad_gate_found_inside_a_long_window_of_gates():
    # 40 gates, no channel: only the final check runs, then the replay names op 23.
    c = Circuit(2)
    for k in range(40):
        c = c.rx(0.1 * k, k % 2)
    c = with_op(c, 23, bad_unitary(0, 0.99))
    with pytest.raises(NumericalError, match=r"after op 23 \(unitary\[0\] on wires \[0\]\)"):
        simulate(c, checks=Checks(every=1000))


def test_nan_matrix_is_reported():
    nan = Op("unitary", (2,), (np.array([[np.nan, 0], [0, 1]], complex),), "unitary")
    with pytest.raises(NumericalError, match=r"after op 2 \(unitary\[2\].*NaN or inf"):
        simulate(with_op(base(), 2, nan))


def test_non_trace_preserving_kraus_is_reported():
    k = np.stack([np.eye(2) * 1.05, np.zeros((2, 2))]).astype(complex)
    op = Op("kraus", (0,), (k,), "kraus")
    with pytest.raises(NumericalError, match=r"after op 4 \(kraus\[0\] on wires \[0\]\)"):
        simulate(with_op(base(), 4, op))


def test_channel_check_reads_negative_weight():
    # Tr G = kept + discarded - (negative eigenvalues): a deficit is negative weight.
    assert check_channel(1.0, 0.9, 0.1, 1e-8) is None
    f = check_channel(1.0, 0.8, 0.1, 1e-8)
    assert f is not None and "negative eigenvalues of total weight 0.1" in f.what
    assert "NaN" in check_channel(float("nan"), 0.9, 0.1, 1e-8).what


def test_truncation_that_loses_weight_is_reported(monkeypatch):
    # The engine's channel step forms the kept factor with channel_factor (S V without stacking
    # S), or with truncate when S has more columns than rows: shrink both, and drop compiled
    # segments so the patched functions are traced.
    from lretjax.engine import step

    factor, truncate = step.channel_factor, step.truncate

    def lossy_factor(Lw, kraus, vectors):
        return factor(Lw, kraus, vectors) * 0.9

    def lossy_truncate(S, k, epsilon, **options):
        t = truncate(S, k, epsilon, **options)
        return t._replace(L=t.L * 0.9)

    monkeypatch.setattr(step, "channel_factor", lossy_factor)
    monkeypatch.setattr(step, "truncate", lossy_truncate)
    jax.clear_caches()
    try:
        with pytest.raises(NumericalError, match=r"after op 2 \(depolarizing\(0.1\)\[1\] on wires \[1\]\)"):
            simulate(base())
    finally:
        monkeypatch.undo()
        jax.clear_caches()


def test_traced_checks_through_checkify():
    theta = Param("t")
    c = with_op(Circuit(2).rx(theta, 0).depolarizing(0.1, 0), 1, bad_unitary(1))
    f = checked(lambda p: simulate(c, p, checks=True).trace())
    with pytest.raises(NumericalError, match=r"after op 1 \(unitary\[1\] on wires \[1\]\)"):
        f(jnp.array([0.3]))
    good = checked(lambda p: simulate(base().compose(Circuit(3).rx(theta, 0)), p, checks=True).trace())
    assert abs(float(good(jnp.array([0.3]))) - 1) < 1e-12
    # Off by default under jit (no checkify needed).
    assert jnp.isfinite(jax.jit(lambda p: simulate(c, p).trace())(jnp.array([0.3])))


def test_assert_finite_names_the_leaf():
    assert_finite({"a": jnp.ones(3)})
    with pytest.raises(NumericalError, match=r"gradient\['b'\] contains NaN or inf \(1 entries\)"):
        assert_finite({"a": jnp.ones(3), "b": jnp.array([1.0, jnp.nan])})


def test_bad_settings_are_config_errors():
    with pytest.raises(SimulationConfigError, match="checks must be"):
        simulate(base(), checks="yes")
    with pytest.raises(SimulationConfigError, match="renormalize must be"):
        simulate(base(), renormalize=1)
    with pytest.raises(ParameterError, match="finite"):
        simulate(Circuit(1).rx(Param("t"), 0), params=[np.nan])
    with pytest.raises(ParameterError, match="real"):
        simulate(Circuit(1).rx(Param("t"), 0), params=np.array([1j]))


# -- renormalisation --------------------------------------------------------------------------------


def deep(n=3, layers=12, p=0.02, seed=1):
    rng = np.random.default_rng(seed)
    c = Circuit(n)
    for layer in range(layers):
        for w in range(n):
            c = c.rx(rng.uniform(-3, 3), w).rz(rng.uniform(-3, 3), w)
        for w in range(layer % 2, n - 1, 2):
            c = c.cz(w, w + 1).depolarizing(p, w)
    return c


def test_renormalize_keeps_trace_exact_and_state_unchanged_in_x64():
    c = deep()
    plain, renorm = simulate(c, max_rank=4), simulate(c, max_rank=4, renormalize=True)
    assert abs(float(renorm.trace()) - (1 - float(renorm.discarded))) < 4e-16
    np.testing.assert_allclose(np.asarray(renorm.L), np.asarray(plain.L), atol=1e-13)
    traced = jax.jit(lambda: simulate(c, max_rank=4, renormalize=True))()
    # The same rho: a traced channel may diagonalise the Gram matrix where the eager one takes rho
    # (engine.step.GRAM_ROUTE_MAX), so L itself can differ by a unitary on its columns.
    def rho(L):
        L = np.asarray(L)
        return L @ L.conj().T

    np.testing.assert_allclose(rho(traced.L), rho(renorm.L), atol=1e-12)


def test_renormalize_removes_complex64_trace_drift():
    c = deep(layers=30)
    init = zero_state(3, jnp.complex64)
    drift = []
    for renorm in (False, True):
        s = simulate(c, max_rank=4, initial_state=init, renormalize=renorm)
        assert s.L.dtype == jnp.complex64
        drift.append(abs(float(s.trace()) - (1 - float(s.discarded))))
    assert drift[1] <= 4 * np.finfo(np.float32).eps
    assert drift[1] < drift[0]


# -- resources --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n,rank,m", [(8, 8, 4), (10, 16, 4), (9, 64, 16), (4, 8, 4), (12, 64, 16), (14, 16, 16)]
)
def test_estimate_covers_xla_accounting_of_a_channel_step(n, rank, m):
    """The estimate bounds what XLA allocates for one channel step (arguments, output, temps)
    of the traced path, and is not wildly above it."""
    c = Circuit(n).depolarizing(0.1, 0) if m == 4 else Circuit(n).depolarizing2(0.1, 0, 1)
    L0 = jnp.zeros((2**n, min(rank, 2**n)), jnp.complex128).at[0, 0].set(1)

    def step(L):
        st = LowRankState(L, jnp.zeros(()), jnp.ones((), jnp.int32), n)
        return simulate(c, initial_state=st, max_rank=rank).L

    ma = jax.jit(step).lower(L0).compile().memory_analysis()
    xla = ma.argument_size_in_bytes + ma.output_size_in_bytes + ma.temp_size_in_bytes
    est = estimate(n, rank, m, 16).total
    assert est >= xla, (est, xla)
    assert est <= 4 * xla, (est, xla)


def test_resource_error_carries_numbers_and_a_rank_that_fits():
    # An eager run may update L in place in 64 row blocks (about four blocks of it beside L);
    # sharding does not, so the hint to shard counts the whole step.
    whole = estimate(20, 256, 4, 16).total
    lean = estimate(20, 256, 4, 16, 64).total
    have = int(0.75 * lean)
    with pytest.raises(ResourceError) as e:
        check_fits(20, 256, 4, np.complex128, available=have)
    msg = str(e.value)
    fit = largest_rank_that_fits(20, 4, 16, 0.9 * have)
    assert f"Lower max_rank to {fit} (the largest that fits)" in msg
    assert "complex64" in msg and f"shard L over at least {-(-whole // int(0.9 * have))} devices" in msg
    assert "L 2^20 x 256: 4.00 GiB" in msg
    assert "the step's working blocks of L (updated in place, 64 row blocks): 256.00 MiB" in msg
    check_fits(20, fit, 4, np.complex128, available=have)  # the suggestion does fit
    with pytest.raises(ResourceError):
        check_fits(20, fit + 1, 4, np.complex128, available=have)
    with pytest.raises(ResourceError):  # a path that does not split the step counts it whole
        check_fits(20, 256, 4, np.complex128, available=int(whole * 0.9), max_chunks=1)


def test_steps_in_place_hold_one_copy_of_L():
    """With ``Settings.chunks`` a donated eager segment updates L in place: it holds L and a few
    row blocks (what ``estimate(..., chunks)`` counts), where the whole step holds four copies."""
    from lretjax.engine import ONE_DEVICE, build, loop
    from lretjax.engine.step import Settings, start_carry

    n, r = 14, 8
    c = Circuit(n).h(3).depolarizing(0.1, 3).cx(0, 9).depolarizing2(0.1, 0, 9).depolarizing(0.1, 13)
    sch = build(c, wires="static", dtype=jnp.complex128)
    carry = start_carry(jnp.zeros((2**n, r), jnp.complex128), 0.0, 1)
    L_bytes = 2**n * r * 16
    for chunks, fn in ((1, loop._segment_cpu), (8, loop._segment_donated)):
        settings = Settings(r, r, halting=True, chunks=chunks)
        comp = fn.lower(carry, sch.tables, 1e-6, 1.0, np.int32(0), np.int32(sch.num_steps),
                        program=sch.program, settings=settings, placement=ONE_DEVICE).compile()
        ma = comp.memory_analysis()
        held = (ma.argument_size_in_bytes + ma.output_size_in_bytes - ma.alias_size_in_bytes
                + ma.temp_size_in_bytes)
        est = estimate(n, r, 16, 16, chunks)
        assert est.L + est.work + est.kept >= held - 2**20, (chunks, held, est)
        if chunks > 1:
            assert held <= (1 + 4 / chunks) * L_bytes, held


@pytest.mark.parametrize("chunks", [2, 8, 64])
def test_channel_step_in_row_blocks_equals_the_whole_step(chunks):
    """Row blocks change no number: uncapped runs agree with the whole step to round-off, for
    channels on the top, middle and bottom wires (the blocks are cut along other wires)."""
    from lretjax.engine import ONE_DEVICE, build, drive
    from lretjax.engine.step import Settings, start_carry

    n = 9
    c = deep(layers=2, n=n).depolarizing(0.05, 0).depolarizing2(0.05, 4, 8).amplitude_damping(0.1, 8)
    sch = build(c, wires="static", dtype=jnp.complex128)
    L0 = jnp.zeros((2**n, 1), jnp.complex128).at[0, 0].set(1)
    out = [drive(sch, start_carry(L0, 0.0, 1), jnp.float64(1e-3), jnp.float64(1.0),
                 Settings(128, 0, chunks=k), ONE_DEVICE) for k in (1, chunks)]
    assert int(out[0].rank) == int(out[1].rank) < 128
    rho = [np.asarray(o.L @ o.L.conj().T) for o in out]
    np.testing.assert_allclose(rho[1], rho[0], atol=1e-13)
    assert abs(float(out[1].discarded) - float(out[0].discarded)) < 1e-13


def test_simulate_splits_the_channel_step_when_memory_is_short(monkeypatch):
    """``simulate`` splits the step when the whole one would not fit, gives the dense reference's
    state, and leaves a caller's initial state intact (the segments take over only L they made)."""
    from lretjax import resources

    n, r = 10, 16
    c = Circuit(n).h(0).cx(0, 5).rx(0.4, 9).depolarizing(0.05, 5).cz(5, 9).amplitude_damping(0.1, 9)
    c = c.ry(0.7, 3).cx(9, 3)
    whole = simulate(c, max_rank=r, epsilon=0.0, representation="low-rank")
    short = int(resources.simulation_bytes(n, r, 4, 16) * 0.75)
    monkeypatch.setattr(resources, "available_bytes", lambda device=None: short)
    assert resources.plan_chunks(n, r, 4, np.complex128) > 1
    init = LowRankState(jnp.zeros((2**n, r), jnp.complex128).at[0, 0].set(1), jnp.zeros(()),
                        jnp.ones((), jnp.int32), n)
    from lretjax.engine import loop

    used, segment = [], loop._segment

    def spy(*args, **kwargs):
        used.append(kwargs["settings"].chunks)
        return segment(*args, **kwargs)

    monkeypatch.setattr(loop, "_segment", spy)
    split = simulate(c, max_rank=r, epsilon=0.0, representation="low-rank", initial_state=init)
    assert used and min(used) > 1  # every segment ran in place
    assert float(init.L[0, 0].real) == 1.0  # still readable: not donated
    rho = dense.evolve(c)
    for st in (whole, split):
        np.testing.assert_allclose(np.asarray(st.L @ st.L.conj().T), rho, atol=1e-12)


# -- determinism ------------------------------------------------------------------------------------


def test_same_inputs_give_bit_identical_results():
    c = deep(layers=4)
    a, b = simulate(c, max_rank=4), simulate(c, max_rank=4)
    assert np.array_equal(np.asarray(a.L), np.asarray(b.L))
    assert np.asarray(a.discarded).tobytes() == np.asarray(b.discarded).tobytes()
    f = jax.jit(lambda: simulate(c, max_rank=4).L)
    assert np.array_equal(np.asarray(f()), np.asarray(f()))
    key = jax.random.key(7)
    s1, s2 = lretjax.sample(a, 500, key), lretjax.sample(b, 500, key)
    assert np.array_equal(np.asarray(s1), np.asarray(s2))
    other = lretjax.sample(a, 500, jax.random.key(8))
    assert not np.array_equal(np.asarray(s1), np.asarray(other))
    # The samples follow the state: chi-square-free check against the exact marginal.
    p = dense.marginal(dense.evolve(c), [0, 1, 2], 3).real
    freq = np.bincount(np.asarray(s1) @ np.array([4, 2, 1]), minlength=8) / 500
    assert np.max(np.abs(freq - p / p.sum())) < 0.1


def test_earlier_carries_are_kept_only_for_the_replay_and_small_factors():
    """The replay naming a failing op needs the carries before each segment; nothing else does.
    Kept for an n = 24, r = 64 run on an H100 (8 GiB per copy of L) they left its 16 GiB of step
    temporaries no room in 59 GiB (docs/performance.md)."""
    from lretjax.engine.loop import KEEP_MAX_BYTES, keeps_carries
    from lretjax.engine.step import Settings

    checks = Checks()
    assert keeps_carries(Settings(64, 0, checks=checks), 2**16, np.complex64)
    assert not keeps_carries(Settings(64, 0, checks=None), 2**16, np.complex64)
    assert not keeps_carries(Settings(64, 0, checks=checks, chunks=8), 2**16, np.complex64)
    big = KEEP_MAX_BYTES // (64 * 8) * 2
    assert not keeps_carries(Settings(64, 0, checks=checks), big, np.complex64)


def test_a_nan_matrix_leading_its_stack_is_named_not_the_first_op():
    """The NaN unitary leads the one-wire gates' stack. The zero that ties an eager carry to its
    inputs once read that entry as x * 0 = NaN, so the state was NaN from step 0 and the replay
    named the CNOT before it."""
    nan = Op("unitary", (2,), (np.array([[np.nan, 0], [0, 1]], complex),), "unitary")
    c = with_op(Circuit(3).cx(0, 1).depolarizing(0.1, 1).h(2), 1, nan)
    with pytest.raises(NumericalError, match=r"after op 1 \(unitary\[2\].*NaN or inf"):
        simulate(c)
