"""How steps take their wires (``engine.schedule.default_wires``): static variants or row gathers
by platform and factor size, passed by ``simulate``, and the same state either way against the
dense reference."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(Path(__file__).parent))
import dense  # noqa: E402

import lretjax as lj  # noqa: E402
from lretjax.engine import schedule  # noqa: E402
from lretjax.engine.schedule import GPU_DATA_WIRES_MAX, default_wires  # noqa: E402


def test_accelerators_gather_wires_for_small_factors_only(monkeypatch):
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert default_wires(2**14 * 32) == "auto"  # the 14-wire VQE's factor
    assert default_wires(GPU_DATA_WIRES_MAX) == "auto"
    assert default_wires(GPU_DATA_WIRES_MAX + 1) == "static"
    assert default_wires() == "static"  # size unknown: each pass may count
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert default_wires(2**30) == default_wires() == "auto"


def _circuit(n: int) -> lj.Circuit:
    rng = np.random.default_rng(n)
    c = lj.Circuit(n)
    for layer in range(3):
        for w in range(n):
            c = c.u3(*rng.uniform(0, 2 * np.pi, 3), w).depolarizing(0.01, w)
        for a in range(layer % 2, n - 1, 2):
            c = c.cz(a, a + 1).amplitude_damping(0.02, a + 1)
    return c


@pytest.mark.parametrize("policy", ["static", "data", "auto"])
def test_simulate_passes_its_factor_size_and_every_policy_gives_the_dense_state(monkeypatch, policy):
    seen = []

    def fixed(entries=None):
        seen.append(entries)
        return policy

    monkeypatch.setattr(sys.modules["lretjax.simulate"], "default_wires", fixed)
    c = _circuit(5)
    st = lj.simulate(c, max_rank=64, epsilon=0.0, representation="low-rank")
    assert seen == [2**5 * 32]  # 2^n rows by min(max_rank, 2^n) columns
    np.testing.assert_allclose(np.asarray(lj.to_density_matrix(st)), dense.evolve(c), atol=1e-10)
    traced = jax.jit(lambda: lj.simulate(c, max_rank=64, epsilon=0.0, representation="low-rank"))()
    assert seen == [2**5 * 32] * 2
    np.testing.assert_allclose(np.asarray(lj.to_density_matrix(traced)), dense.evolve(c), atol=1e-10)


def test_the_policy_decides_the_variants():
    c = _circuit(6)
    static = schedule.build(c, wires="static").program.branches
    data = schedule.build(c, wires="data").program.branches
    assert any(len(b.wiresets) > 1 for b in static if hasattr(b, "wiresets"))
    assert all(not getattr(b, "wiresets", ()) for b in data)
