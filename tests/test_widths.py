"""Where an eager run starts its width (``engine.loop.start_width``), per platform."""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import lretjax as lj  # noqa: E402
from lretjax.engine import build  # noqa: E402
from lretjax.engine.loop import CHEAP, start_width  # noqa: E402


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
    big = build(_noisy(17, 1))  # 2^17 x 64 entries: over 2^22
    assert start_width(big, 1, 64, platform="gpu") < 64
