"""complex64 drift over deep circuits, measured against complex128 (and the health-check overhead).

Run as a script for the table in docs/reliability.md:
    python tests/test_reliability_drift.py [out.json]
The slow test asserts the documented bounds on the smallest case.
"""

import json
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lretjax
from lretjax import Circuit, simulate
from lretjax.state import zero_state


def brickwork(n, layers, p, seed=0):
    """Random RX/RZ on every wire, a CZ brickwork, depolarizing p on both wires of each CZ."""
    rng = np.random.default_rng(seed)
    c = Circuit(n)
    for layer in range(layers):
        for w in range(n):
            c = c.rx(rng.uniform(-np.pi, np.pi), w).rz(rng.uniform(-np.pi, np.pi), w)
        for w in range(layer % 2, n - 1, 2):
            c = c.cz(w, w + 1)
            if p:
                c = c.depolarizing(p, w).depolarizing(p, w + 1)
    return c


def drift(c, max_rank):
    """Errors of complex64 runs (plain and renormalised) against the complex128 run."""
    n = c.num_wires
    ref = simulate(c, max_rank=max_rank)
    rho = np.asarray(lretjax.to_density_matrix(ref))
    zs = ["I" * w + "Z" + "I" * (n - w - 1) for w in range(n)]
    z_ref = np.array([float(lretjax.expval(ref, z)) for z in zs])
    out = {"ops": len(c.ops), "channels": c.num_channels, "c128_trace_err":
           abs(float(ref.trace()) - (1 - float(ref.discarded)))}
    for renorm in (False, True):
        s = simulate(c, max_rank=max_rank, initial_state=zero_state(n, jnp.complex64), renormalize=renorm)
        r = np.asarray(lretjax.to_density_matrix(s)).astype(complex)
        z = np.array([float(lretjax.expval(s, q)) for q in zs])
        key = "renorm" if renorm else "plain"
        out[f"{key}_trace_err"] = abs(float(s.trace()) - (1 - float(s.discarded)))
        out[f"{key}_trace_distance"] = 0.5 * float(np.sum(np.abs(np.linalg.eigvalsh(r - rho))))
        out[f"{key}_max_z_err"] = float(np.max(np.abs(z - z_ref)))
        out[f"{key}_discarded_diff"] = abs(float(s.discarded) - float(ref.discarded))
    return out


def overhead(c, max_rank, repeats=3):
    """Wall time with checks on / off (after a warm-up run of each), best of ``repeats``."""
    times = {}
    for checks in (False, True):
        simulate(c, max_rank=max_rank, checks=checks).L.block_until_ready()
        best = np.inf
        for _ in range(repeats):
            t = time.perf_counter()
            simulate(c, max_rank=max_rank, checks=checks).L.block_until_ready()
            best = min(best, time.perf_counter() - t)
        times[checks] = best
    return times[True] / times[False]


CASES = [  # (n, layers, p, max_rank)
    (6, 60, 1e-3, 16),
    (6, 60, 0.0, 16),
    (6, 500, 0.0, 16),
    (6, 150, 1e-3, 16),
]


@pytest.mark.slow
def test_complex64_drift_within_documented_bounds():
    r = drift(brickwork(6, 60, 1e-3), 16)
    assert r["ops"] >= 1000
    assert r["renorm_trace_err"] <= 4 * np.finfo(np.float32).eps
    assert r["plain_trace_distance"] < 1e-3 and r["renorm_trace_distance"] < 1e-3


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    rows = []
    for n, layers, p, rank in CASES:
        c = brickwork(n, layers, p)
        t = time.perf_counter()
        row = dict(n=n, layers=layers, p=p, max_rank=rank, **drift(c, rank))
        row["seconds"] = time.perf_counter() - t
        rows.append(row)
        print(json.dumps(row), flush=True)
    ratio = overhead(brickwork(6, 20, 1e-3), 16)
    print(json.dumps({"checks_on_over_off": ratio}), flush=True)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            json.dump({"rows": rows, "checks_on_over_off": ratio, "jax": jax.__version__,
                       "backend": jax.default_backend()}, f, indent=1)
