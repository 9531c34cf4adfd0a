"""Where a run starts its width, per platform: eager (``engine.loop.start_width``) and traced
(``engine.loop.lifted_segments``)."""

from __future__ import annotations

import sys
from pathlib import Path

import jax
import pytest

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(Path(__file__).parent))
import dense  # noqa: E402

import lretjax as lj  # noqa: E402
from lretjax.engine import build  # noqa: E402
from lretjax.engine.loop import CHEAP, LIFT_STEPS, bound_segments, lifted_segments, start_width  # noqa: E402


def _noisy(n: int, layers: int = 3) -> lj.Circuit:
    c = lj.Circuit(n)
    for _ in range(layers):
        for w in range(n):
            c = c.ry(0.3 + 0.1 * w, w)
        for w in range(0, n - 1, 2):
            c = c.cz(w, w + 1)
    return lj.NoiseModel().gate_noise("depolarizing", 1e-3).apply(c)


def test_a_cheap_factor_starts_at_the_widest_its_rank_reaches():
    s = build(_noisy(10))  # 2^10 x 64 entries, 256 stacked columns: cheap on a GPU, not a CPU
    assert 2**10 * 64 <= CHEAP["gpu"][0] and 4 * 64 <= CHEAP["gpu"][1] and 4 * 64 > CHEAP["cpu"][1]
    assert start_width(s, 1, 64, platform="gpu") == 64
    assert start_width(s, 1, 64, platform="cpu") < 64
    assert start_width(s, 1, 64, platform="tpu") == start_width(s, 1, 64, platform="cpu")
    # Past the GPU's bounds it starts where its first channel needs, as on a CPU.
    assert start_width(s, 1, 1024, platform="gpu") == start_width(s, 1, 1024, platform="cpu") < 64
    big = build(_noisy(23, 1))  # 2^23 x 64 entries: over 2^28
    assert 2**23 * 64 > CHEAP["gpu"][0]
    assert start_width(big, 1, 64, platform="gpu") < 64


def test_a_trace_lifts_its_growth_phase_to_the_widest_width_its_bound_reaches_early():
    s = build(_noisy(10))
    bound = bound_segments(s, 1, 64)
    assert [w for *_, w in bound] == [4, 16, 64]  # the bound grows 4x a channel to the cap
    # The bound reaches 64 columns in the first steps: one loop, on every platform (the steps
    # lifted are few; 4 x 64 stacked columns are not cheap on a CPU, and need not be).
    assert bound[2][0] <= LIFT_STEPS * s.num_steps and 4 * 64 > CHEAP["cpu"][1]
    assert lifted_segments(s, 1, 64) == [(0, s.num_steps, 64)]
    # From a later start the segments cover the same steps, whatever the lift.
    for start in (3, s.num_steps // 2):
        lifted = lifted_segments(s, 1, 64, start)
        assert lifted[0][0] == start and lifted[-1][1] == s.num_steps
        assert all(a[1] == b[0] for a, b in zip(lifted, lifted[1:], strict=False))


def test_a_late_first_channel_is_not_lifted_to():
    # A pure prefix of most of the circuit: running it at the channel's width would cost that
    # width on every gate (and backprop would store it), so the segments stay as bounded.
    c = lj.Circuit(6)
    for _ in range(40):
        c = c.h(0).cx(0, 1)
    s = build(c.depolarizing(1e-3, 0).depolarizing(1e-3, 1))
    bound = bound_segments(s, 1, 16)
    assert bound[1][0] > LIFT_STEPS * s.num_steps
    assert lifted_segments(s, 1, 16) == bound


def test_lifted_traced_runs_agree_with_the_bounded_ones():
    import numpy as np

    from lretjax.engine import loop

    c = _noisy(6, 2)
    want = lj.to_density_matrix(jax.jit(lambda: lj.simulate(c, max_rank=64, epsilon=0.0))())
    # ``want`` ran lifted, in one loop; the bound's own segments run it in three.
    assert len(loop.lifted_segments(build(c), 1, 64)) == 1 < len(loop.bound_segments(build(c), 1, 64))
    calls = []

    def bounded(*args, **kwargs):
        calls.append(args[1:3])
        return loop.bound_segments(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(loop, "lifted_segments", bounded)
        got = lj.to_density_matrix(jax.jit(lambda: lj.simulate(c, max_rank=64, epsilon=0.0))())
    assert calls  # the traced run took its segments from the bound
    np.testing.assert_allclose(got, want, atol=1e-12)
    np.testing.assert_allclose(want, dense.evolve(c), atol=1e-12)


def test_off_the_cpu_l_grows_to_the_widest_cheap_width_then_on_a_coarser_grid(monkeypatch):
    from lretjax.engine import loop
    from lretjax.engine.loop import grown_width

    dim = 2**14
    # n = 14, one-wire channels (4 Kraus): 64 columns stack to 256, the widest cheap on a GPU.
    assert grown_width(5, 4, 1024, dim, "gpu", 4) == 64
    assert grown_width(64, 32, 1024, dim, "gpu", 4) == 64
    # Past it: two grid steps per octave (96, 128, 192, ...) where the CPU takes four.
    assert grown_width(65, 64, 1024, dim, "gpu", 4) == 96
    assert grown_width(110, 96, 1024, dim, "gpu", 4) == 192
    assert grown_width(110, 96, 1024, dim, "cpu", 4) == 160
    assert grown_width(300, 256, 1024, dim, "gpu", 4) == 384
    # A two-wire channel (16 Kraus) keeps the stack at 256: 16 columns.
    assert grown_width(5, 4, 1024, dim, "gpu", 16) == 16
    # The cap and 2^n still bound it.
    assert grown_width(5, 4, 8, dim, "gpu", 4) == 8
    assert grown_width(900, 768, 1024, dim, "gpu", 4) == 1024
    assert grown_width(3, 2, 64, 4, "gpu", 4) == 4
    # The grid's steps are read when called (bench_engine sets them to compare policies).
    monkeypatch.setattr(loop, "GRID_STEPS", 1)
    assert grown_width(110, 96, 1024, dim, "cpu", 4) == 256
