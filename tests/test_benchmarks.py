"""CI keeps the peer-comparison benchmarks working: ``run_all.py --tiny`` end to end.

The tiny grids (3-4 wires, depth 2) check the plumbing (subprocess workers, JSON, plots) and
the physics that must hold at any size: the exact peer agrees with lretjax within lretjax's
own bound, and so do the trajectories within their statistical error.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("qiskit_aer")
pytest.importorskip("matplotlib")
pytest.importorskip("psutil")

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"

# lretjax runs in complex64 in the benchmarks (their default): round-off of its trace distance
F32_ROUNDOFF = 1e-5


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    sys.path.insert(0, str(BENCH))
    try:
        import run_all

        paths = run_all.main(["--tiny", "--out-dir", str(out)])
    finally:
        sys.path.remove(str(BENCH))
    return out, [json.loads(Path(p).read_text()) for p in paths]


def test_density_matrix_rows(results):
    _, (dm, _) = results
    assert dm["meta"]["loadavg_start"] and dm["meta"]["cores"]
    (row,) = dm["rows"]
    assert row["lretjax"]["status"] == "ok"
    assert row["peers"]["aer"]["status"] == "ok"
    assert row["fastest_exact"] == "aer"
    assert row["speedup_vs_fastest_exact"] > 0
    assert row["lretjax"]["peak_mb"] > 0
    # the trace distance to the exact state never exceeds the discarded weight
    assert 0 <= row["trace_distance"] <= row["lretjax"]["discarded"] + F32_ROUNDOFF
    # sigma = L L^dag has trace 1 - d and ||rho - sigma||_1 <= d, so the normalised sigma is within
    # trace distance d of rho and Fuchs-van de Graaf gives 1 - sqrt(F) <= 2 d
    assert 0 < row["fidelity"] <= 1 + F32_ROUNDOFF
    assert 1 - math.sqrt(row["fidelity"]) <= 2 * row["lretjax"]["discarded"] + F32_ROUNDOFF


def test_trajectories_agree_with_lretjax(results):
    _, (_, tr) = results
    rows = {r["tool"]: r for r in tr["rows"]}
    lret = next(r for name, r in rows.items() if name.startswith("lretjax"))
    aer = rows["aer"]
    assert lret["status"] == aer["status"] == "ok"
    assert lret["error_kind"] == "bound" and aer["error_kind"] == "stderr"
    for what in ("zz", "fidelity"):
        # |aer - lret| <= lretjax's bound + 5 sigma of the trajectory mean (+ f32 round-off)
        allowed = lret[f"{what}_error"] + 5 * aer[f"{what}_error"] + F32_ROUNDOFF
        assert abs(aer[what] - lret[what]) <= allowed
    assert lret["zz_seconds_to"]["0.01"] is not None and math.isfinite(lret["zz_seconds_to"]["0.01"])


def test_plots_written(results):
    out, _ = results
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["vs_density_matrix_distortion_vs_rank.png", "vs_density_matrix_time_vs_n.png",
                    "vs_trajectories_accuracy_vs_time.png"]
    assert all((out / p).stat().st_size > 1000 for p in pngs)


def test_density_matrix_floor(results):
    """The exact peer's spectral floor is below lretjax's trace distance, and min ranks are sane."""
    _, (dm, _) = results
    (row,) = dm["rows"]
    assert 0 <= row["trace_distance_floor"] <= row["trace_distance"] + F32_ROUNDOFF
    ranks = row["min_rank_for_trace_distance"]
    assert [ranks[str(t)] for t in sorted(map(float, ranks), reverse=True)] == sorted(ranks.values())
    assert all(1 <= k <= 2 ** row["n"] for k in ranks.values())


def test_trace_distance_floor_is_tight_lower_bound():
    """Against NumPy: no rank-k PSD matrix is closer to rho than the floor; rho's top-k part is."""
    import numpy as np

    sys.path.insert(0, str(BENCH))
    try:
        from bench_vs_density_matrix import min_rank_for, trace_distance_floor
    finally:
        sys.path.remove(str(BENCH))
    rng = np.random.default_rng(7)
    a = rng.normal(size=(16, 16)) + 1j * rng.normal(size=(16, 16))
    rho = a @ a.conj().T
    rho /= np.trace(rho).real
    lam, u = np.linalg.eigh(rho)
    lam, u = lam[::-1], u[:, ::-1]

    def td(x, y):
        return 0.5 * np.sum(np.abs(np.linalg.eigvalsh(x - y)))

    for k in (0, 1, 3, 8, 16):
        floor = trace_distance_floor(lam, k)
        best = (u[:, :k] * lam[:k]) @ u[:, :k].conj().T
        np.testing.assert_allclose(td(rho, best), floor, rtol=0, atol=1e-12)
        for _ in range(20):
            b = rng.normal(size=(16, k)) + 1j * rng.normal(size=(16, k))
            sigma = b @ b.conj().T * rng.uniform(0.01, 2.0) / max(np.trace(b @ b.conj().T).real, 1e-300)
            assert td(rho, sigma) >= floor - 1e-12
    for target in (1e-3, 1e-2, 0.1, 0.3):
        k = min_rank_for(lam, target)
        assert trace_distance_floor(lam, k) <= target
        assert k == 0 or trace_distance_floor(lam, k - 1) > target
