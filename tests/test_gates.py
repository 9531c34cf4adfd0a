"""Every gate and channel against matrices written independently from their definitions."""

import dense
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lretjax
from lretjax.gates import ALIASES, GATES, canonical_name, gate_matrix
from lretjax.noise.channels import CHANNELS

RNG = np.random.default_rng(1234)


def _params(k: int) -> list[float]:
    return list(RNG.uniform(-2 * np.pi, 2 * np.pi, size=k))


def test_registry_matches_reference_names():
    assert set(GATES) == set(dense.GATES)
    # The noise layer adds channels with their own tests; the core ones must all be here.
    assert set(dense.CHANNELS) <= set(CHANNELS)


@pytest.mark.parametrize("name", sorted(GATES))
def test_gate_matrix_matches_definition(name):
    spec = GATES[name]
    assert spec.name == name
    for _ in range(3):
        ps = _params(spec.num_params)
        got = np.asarray(spec.matrix(*ps))
        want = dense.GATES[name](*ps)
        assert got.shape == (2**spec.num_wires,) * 2
        np.testing.assert_allclose(got, want, atol=1e-12, rtol=0)
        np.testing.assert_allclose(got.conj().T @ got, np.eye(got.shape[0]), atol=1e-12, rtol=0)
        if spec.diagonal:
            assert np.count_nonzero(np.abs(got - np.diag(np.diag(got))) > 1e-14) == 0
        if spec.num_params == 0:
            break


@pytest.mark.parametrize("name", sorted(GATES))
def test_diagonal_flag_is_exact(name):
    """The compiler commutes gates flagged diagonal, so a wrong flag would reorder wrongly."""
    spec = GATES[name]
    m = dense.GATES[name](*_params(spec.num_params))
    assert spec.diagonal == bool(np.allclose(m, np.diag(np.diag(m)), atol=0))


def test_sx_squares_to_x_and_iswap_permutes_with_i():
    # sanity of the reference itself
    np.testing.assert_allclose(dense.GATES["sx"]() @ dense.GATES["sx"](), dense.X, atol=1e-14)
    want = np.array([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]])
    np.testing.assert_allclose(dense.GATES["iswap"](), want, atol=1e-14)


@pytest.mark.parametrize("alias", sorted(dense.ALIAS_TARGETS))
def test_alias(alias):
    target = dense.ALIAS_TARGETS[alias]
    assert ALIASES[alias] == target
    assert canonical_name(alias.upper()) == target
    ps = _params(GATES[target].num_params)
    np.testing.assert_allclose(
        np.asarray(gate_matrix(alias, *ps)), dense.GATES[target](*ps), atol=1e-12, rtol=0
    )


def test_builder_methods_cover_every_gate_and_channel():
    for name in list(GATES) + list(CHANNELS):
        assert callable(getattr(lretjax.Circuit, name))


def _channel_params(spec, rng):
    """Random parameters inside the spec's ranges that pass its joint check."""
    from lretjax.errors import NoiseError

    for _ in range(200):
        ps = []
        for lo, hi in spec.param_ranges or ((0.0, 1.0),) * spec.num_params:
            lo, hi = max(lo, -3.0), min(hi, 3.0)
            ps.append(float(rng.uniform(lo, hi) / (spec.num_params if hi <= 1 else 1)))
        try:
            if spec.check is not None:
                spec.check(*ps)
            return ps
        except NoiseError:
            continue
    raise AssertionError(f"no valid parameters found for {spec.name}")


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_every_channel_is_trace_preserving(name):
    spec = CHANNELS[name]
    rng = np.random.default_rng(5)
    d = 2**spec.num_wires
    for _ in range(3):
        ks = np.asarray(spec.kraus(*_channel_params(spec, rng)))
        assert ks.shape == (spec.num_kraus, d, d)
        np.testing.assert_allclose(
            np.einsum("kji,kjl->il", ks.conj(), ks), np.eye(d), atol=1e-12, rtol=0
        )


@pytest.mark.parametrize("name", sorted(dense.CHANNELS))
def test_channel_kraus_matches_definition(name):
    spec = CHANNELS[name]
    assert spec.num_wires == dense.CHANNEL_WIRES.get(name, 1)
    for p in (0.0, 0.37, 1.0):
        ks = np.asarray(spec.kraus(p))
        d = 2**spec.num_wires
        assert ks.shape == (spec.num_kraus, d, d)
        np.testing.assert_allclose(
            np.einsum("kji,kjl->il", ks.conj(), ks), np.eye(d), atol=1e-12, rtol=0
        )
        want = dense.CHANNELS[name](p)
        # Same channel (Kraus sets may differ by a unitary mixing) ...
        np.testing.assert_allclose(
            dense.superoperator(ks), dense.superoperator(want), atol=1e-12, rtol=0
        )
        # ... and here the very same operators, so the rank growth is the documented one.
        np.testing.assert_allclose(ks, want, atol=1e-12, rtol=0)


def test_every_gate_matrix_traces_under_jit():
    """The traced path builds matrices from tracers; one jit over all gates checks that at once."""
    names = sorted(GATES)
    ps = {g: _params(GATES[g].num_params) for g in names}
    flat = jnp.asarray([p for g in names for p in ps[g]])

    @jax.jit
    def all_matrices(v):
        out, i = {}, 0
        for g in names:
            k = GATES[g].num_params
            out[g] = GATES[g].matrix(*[v[i + j] for j in range(k)])
            i += k
        return out

    got = all_matrices(flat)
    for g in names:
        np.testing.assert_allclose(np.asarray(got[g]), dense.GATES[g](*ps[g]), atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", sorted(CHANNELS))
def test_every_channel_kraus_traces_under_jit(name):
    spec = CHANNELS[name]
    ps = _channel_params(spec, np.random.default_rng(6))
    got = jax.jit(lambda v: spec.kraus(*[v[i] for i in range(spec.num_params)]))(jnp.asarray(ps))
    np.testing.assert_allclose(np.asarray(got), np.asarray(spec.kraus(*ps)), atol=1e-12, rtol=0)



def test_gate_facts_live_on_the_specs():
    """Spectra, aliases and library names are read from the specs by every consumer."""
    from lretjax import grad
    from lretjax.gates import GENERATOR_SPECTRA
    from lretjax.io import qasm2, qasm3, qiskit

    assert dict(grad.GENERATOR_SPECTRA) == dict(GENERATOR_SPECTRA)
    assert set(GENERATOR_SPECTRA) == {g for g, s in GATES.items() if s.num_params > 0}
    assert all(len(s.spectra) in (0, s.num_params) for s in GATES.values())
    assert ALIASES == {a: g for g, s in GATES.items() for a in s.aliases}
    assert qasm2._WRITE_NAMES == {g: s.qasm2[0] for g, s in GATES.items() if s.qasm2}
    assert qasm3._WRITE_NAMES == {g: s.qasm3[0] for g, s in GATES.items() if s.qasm3}
    assert qiskit._FROM == {n: g for g, s in GATES.items() for n in s.qiskit}
