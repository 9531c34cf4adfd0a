"""Every path runs the same engine: eager, traced (jit), sharded over 8 devices and 2 MPI processes
agree with each other and with the independent dense reference on 30 random circuits.

The circuits have 3-9 wires and, between them, every gate and every channel (plus user unitaries
and Kraus sets); half run untruncated (equal to the dense reference to 1e-10), half truncate by
epsilon = 1e-2 (the bound holds; the paths keep the same eigen-directions, so they agree to 1e-10).
Epsilon rather than a rank cap: a cap may cut through a group of equal eigenvalues, where any
basis of the group is right and the paths need not pick the same one.

The sharded cases need 8 CPU devices, which must be requested before JAX starts: like
test_distributed.py, ``test_sharded_paths`` reruns this file in a fresh interpreter. The MPI
cases run ``python tests/test_engine_paths.py --mpi`` under ``mpirun -n 2``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

_CHILD = os.environ.get("LRETJAX_DIST_CHILD") == "1"
if _CHILD:
    import jax

    jax.config.update("jax_num_cpu_devices", 8)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp  # noqa: E402

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
import dense  # noqa: E402
from test_noise_channels import REFERENCES, map_kraus, random_params  # noqa: E402

import lretjax  # noqa: E402
from lretjax import Circuit  # noqa: E402
from lretjax.gates import GATES  # noqa: E402
from lretjax.noise.channels import CHANNELS  # noqa: E402

NUM_CASES = 30
TOL = 1e-10


def recipe(i: int):
    """Case i: (num_wires, ops, truncating); ops are (kind, name, wires, values).

    Gates and channels are dealt round-robin so that the 30 cases hold every one of them."""
    rng = np.random.default_rng(1000 + i)
    n = 3 + i % 7
    gate_names = sorted(g for g in GATES if GATES[g].num_wires <= n)
    chan_names = sorted(c for c in CHANNELS if CHANNELS[c].num_wires <= n)
    gates = [gate_names[(i * 3 + j) % len(gate_names)] for j in range(3)]
    gates += list(rng.choice(gate_names, 3))
    # Two channels: an untruncated run keeps its exact rank (at most 16 x 16 here) small enough
    # that every path, the sharded ones included, stays quick.
    chans = [chan_names[(i * 2 + j) % len(chan_names)] for j in range(2)]
    ops = []
    for g in gates:
        spec = GATES[g]
        ops.append(("gate", g, tuple(int(w) for w in rng.choice(n, spec.num_wires, replace=False)),
                    list(rng.uniform(-np.pi, np.pi, spec.num_params))))
    for c in chans:
        spec = CHANNELS[c]
        ops.append(("channel", c, tuple(int(w) for w in rng.choice(n, spec.num_wires, replace=False)),
                    list(random_params(c, rng))))
    if i % 5 == 0:
        w = tuple(int(x) for x in rng.choice(n, 2, replace=False))
        ops.append(("unitary", "unitary", w, dense.random_unitary(rng, 4)))
        ops.append(("kraus", "kraus", w[:1], dense.random_kraus(rng, 2, 3)))
    order = rng.permutation(len(ops))
    return n, [ops[k] for k in order], i % 2 == 1


def build(n, ops, values=None) -> Circuit:
    """The circuit, gate and channel numbers taken in order from ``values`` (traced or not)."""
    c, k = Circuit(n), 0
    for kind, name, wires, params in ops:
        if kind in ("gate", "channel"):
            vals = params if values is None else [values[k + j] for j in range(len(params))]
            c = c.add(name, wires, *vals)
            k += len(params)
        elif kind == "unitary":
            c = c.unitary(params, wires)
        else:
            c = c.kraus(params, wires)
    return c


def flat_values(ops) -> np.ndarray:
    return np.asarray([v for kind, _, _, params in ops if kind in ("gate", "channel") for v in params],
                      dtype=float)


def reference_evolve(circuit) -> np.ndarray:
    """rho from this test suite's own matrices (tests/dense.py, test_noise_channels.py)."""
    n = circuit.num_wires
    rho = np.zeros((2**n, 2**n), complex)
    rho[0, 0] = 1
    for op in circuit.ops:
        if op.kind == "unitary":
            ks = [np.asarray(op.params[0])]
        elif op.kind == "kraus":
            ks = list(np.asarray(op.params[0]))
        else:
            params = [float(p) for p in op.params]
            if op.kind == "gate":
                ks = [dense.GATES[op.name](*params)]
            elif op.name in REFERENCES:
                ks = map_kraus(REFERENCES[op.name](*params), 2 ** len(op.wires))
            else:
                ks = list(dense.CHANNELS[op.name](*params))
        full = [dense.embed(k, op.wires, n) for k in ks]
        rho = sum(k @ rho @ k.conj().T for k in full)
    return rho


def settings(n: int, truncating: bool) -> dict:
    return {"max_rank": 2**n, "epsilon": 1e-2 if truncating else 0.0}


def rho_of(state) -> np.ndarray:
    return np.asarray(lretjax.to_density_matrix(state))


def test_cases_hold_every_gate_and_channel():
    seen = {name for i in range(NUM_CASES) for _, name, _, _ in recipe(i)[1]}
    assert set(GATES) <= seen and set(CHANNELS) <= seen
    assert {"unitary", "kraus"} <= seen
    assert {recipe(i)[0] for i in range(NUM_CASES)} == set(range(3, 10))


@pytest.fixture(scope="module")
def eager():
    return {i: lretjax.simulate(build(*recipe(i)[:2]), **settings(recipe(i)[0], recipe(i)[2]))
            for i in range(NUM_CASES)}


@pytest.mark.parametrize("i", range(NUM_CASES))
def test_eager_and_traced_agree_with_the_dense_reference(i, eager):
    n, ops, truncating = recipe(i)
    c = build(n, ops)
    state = eager[i]
    exact = reference_evolve(c)
    if truncating:
        d = float(state.discarded)
        assert dense.trace_distance(rho_of(state), exact) <= d + TOL
        assert abs(float(state.trace()) - (1 - d)) < TOL
    else:
        np.testing.assert_allclose(rho_of(state), exact, atol=TOL, rtol=0)
        assert float(state.discarded) < TOL
    traced = jax.jit(lambda v: lretjax.simulate(build(n, ops, v), **settings(n, truncating)))(
        jnp.asarray(flat_values(ops)))
    np.testing.assert_allclose(rho_of(traced), rho_of(state), atol=TOL, rtol=0)
    np.testing.assert_allclose(float(traced.discarded), float(state.discarded), atol=TOL, rtol=0)
    assert int(traced.rank) == int(state.rank)


def _shards(n: int, ops) -> int:
    """The most row shards (at most 8) that leave every op's wires local."""
    widest = max(len(w) for _, _, w, _ in ops)
    g = max(0, min(3, n - widest))
    return 2**g


needs8 = pytest.mark.skipif(jax.device_count() < 8, reason="run by test_sharded_paths")


@needs8
@pytest.mark.parametrize("i", range(NUM_CASES))
def test_sharded_agrees_with_eager(i, eager):
    from lretjax import distributed as dist

    n, ops, truncating = recipe(i)
    st = lretjax.simulate(build(n, ops), mesh=dist.make_mesh(_shards(n, ops)), **settings(n, truncating))
    np.testing.assert_allclose(rho_of(st), rho_of(eager[i]), atol=TOL, rtol=0)
    np.testing.assert_allclose(float(st.discarded), float(eager[i].discarded), atol=TOL, rtol=0)
    assert int(st.rank) == int(eager[i].rank)
    np.testing.assert_allclose(float(lretjax.expval(st, "Z" + "X" * (n - 1))),
                               float(lretjax.expval(eager[i], "Z" + "X" * (n - 1))), atol=TOL)


@pytest.mark.skipif(_CHILD or jax.device_count() >= 8, reason="already on 8 devices")
def test_sharded_paths():
    env = dict(os.environ, LRETJAX_DIST_CHILD="1", JAX_PLATFORMS="cpu")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider", "-x", "-k", "sharded"],
        capture_output=True, text=True, timeout=900, env=env, cwd=HERE.parent,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert f"{NUM_CASES} passed" in run.stdout.strip().splitlines()[-1]


MPIRUN = shutil.which("mpirun", path=str(Path(sys.executable).parent)) or shutil.which("mpirun")


def mpi_main() -> None:
    """Under mpirun: every case on the processes, rho gathered; rank 0 prints JSON."""
    from lretjax.distributed import mpi

    out = []
    for i in range(NUM_CASES):
        n, ops, truncating = recipe(i)
        if n - max(len(w) for _, _, w, _ in ops) < 1:
            out.append(None)
            continue
        st = mpi.simulate_mpi(build(n, ops), **settings(n, truncating))
        rho = rho_of(mpi.gather(st))
        out.append({"re": rho.real.tolist(), "im": rho.imag.tolist(), "discarded": float(st.discarded),
                    "rank": int(st.rank)})
    if mpi._collectives(None).rank == 0:
        json.dump(out, sys.stdout)


@pytest.mark.skipif(_CHILD, reason="run in the parent")
@pytest.mark.skipif(MPIRUN is None, reason="mpirun not found")
def test_two_mpi_processes_agree_with_eager(eager):
    pytest.importorskip("mpi4jax")
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    run = subprocess.run([MPIRUN, "-n", "2", sys.executable, __file__, "--mpi"], capture_output=True,
                         text=True, timeout=900, env=env, cwd=HERE.parent)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout)
    checked = 0
    for i, r in enumerate(results):
        if r is None:
            continue
        rho = np.asarray(r["re"]) + 1j * np.asarray(r["im"])
        np.testing.assert_allclose(rho, rho_of(eager[i]), atol=TOL, rtol=0, err_msg=f"case {i}")
        np.testing.assert_allclose(r["discarded"], float(eager[i].discarded), atol=TOL, rtol=0)
        assert r["rank"] == int(eager[i].rank)
        checked += 1
    assert checked == sum(r is not None for r in results) >= NUM_CASES - 5  # a 3-wire gate on 3 wires


if __name__ == "__main__" and "--mpi" in sys.argv:
    mpi_main()
