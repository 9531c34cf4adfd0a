"""Row-sharded simulation on 8 simulated CPU devices equals single-device ``lretjax.simulate``.

The device tests need 8 CPU devices, which must be requested before JAX starts its backend.
When this process has fewer (the usual case: conftest and other test files already started
JAX), ``test_on_eight_devices`` reruns this file in a fresh interpreter with
``jax_num_cpu_devices=8`` and the device tests here are skipped.
"""

import os
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
import jax.numpy as jnp  # noqa: E402

import lretjax  # noqa: E402
from lretjax import distributed as dist  # noqa: E402
from lretjax.distributed import sharded  # noqa: E402
from lretjax.distributed.layout import Apply, Swap, plan_swaps  # noqa: E402
from lretjax.errors import SimulationConfigError  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
import dense  # noqa: E402
import mpi_run  # noqa: E402

needs8 = pytest.mark.skipif(jax.device_count() < 8, reason="run by test_on_eight_devices")


# ---- the schedule (pure Python) --------------------------------------------------------------


def _replay(wire_lists, plan):
    """Follow the plan's swaps: every op must find all its wires on local bits."""
    perm = list(plan.initial_perm)
    g = plan.num_global
    for step in plan.steps:
        if isinstance(step, Swap):
            assert step.glob < g <= step.loc
            a, b = perm.index(step.glob), perm.index(step.loc)
            perm[a], perm[b] = step.loc, step.glob
        else:
            assert isinstance(step, Apply)
            assert step.local_wires == tuple(perm[w] - g for w in wire_lists[step.index])
            assert all(x >= 0 for x in step.local_wires)
    assert tuple(perm) == plan.final_perm


@pytest.mark.parametrize("g", [0, 1, 2, 3])
def test_plan_replays(g):
    rng = np.random.default_rng(g)
    n = 6
    wire_lists = [tuple(rng.choice(n, size=int(rng.integers(1, 3)), replace=False)) for _ in range(60)]
    plan = plan_swaps(wire_lists, n, g)
    _replay(wire_lists, plan)
    if g == 0:
        assert plan.num_swaps == 0


def test_plan_keeps_swaps_few():
    # Wires 4, 5 are touched only at the end: they start global and cost nothing before.
    ops = [(0,), (1, 2), (3,), (0, 1), (4,), (5,)]
    plan = plan_swaps(ops, 6, 2)
    assert set(plan.initial_perm[w] for w in (4, 5)) == {0, 1}
    assert plan.num_swaps == 2
    # From the identity layout wires 0 and 1 come in (2 swaps), evicting the wires needed
    # last (4 and 5), which come back once each: 4, the minimum for this sequence.
    plan2 = plan_swaps(ops, 6, 2, tuple(range(6)))
    _replay(ops, plan2)
    assert plan2.num_swaps == 4


def test_plan_refuses_too_wide_gates():
    with pytest.raises(SimulationConfigError, match="local"):
        plan_swaps([(0, 1, 2)], 4, 2)


def test_comm_volume_counts_swaps():
    c = mpi_run.build_circuit()
    plan = plan_swaps([op.wires for op in c.ops], c.num_wires, 3)
    vol = dist.comm_volume(plan, c, 1, 6, 16)
    assert vol["swaps"] == plan.num_swaps
    assert vol["swap_bytes"] > 0 and vol["psum_bytes"] > 0


# ---- on 8 devices ----------------------------------------------------------------------------


def _rho(state):
    return np.asarray(lretjax.to_density_matrix(state))


@pytest.fixture(scope="module")
def circuit():
    return mpi_run.build_circuit()


@pytest.fixture(scope="module")
def reference(circuit):
    return lretjax.simulate(circuit, max_rank=mpi_run.MAX_RANK)


@needs8
@pytest.mark.parametrize("shards", [2, 8])
def test_sharded_equals_single_device(circuit, reference, shards):
    st = dist.simulate_sharded(circuit, mesh=dist.make_mesh(shards), max_rank=mpi_run.MAX_RANK)
    full = dist.gather(st)
    assert float(reference.discarded) > 1e-4  # truncation is active
    np.testing.assert_allclose(_rho(full), _rho(reference), atol=1e-12)
    np.testing.assert_allclose(float(st.discarded), float(reference.discarded), atol=1e-12)
    assert int(st.rank) == int(reference.rank)
    g = shards.bit_length() - 1
    assert st.swaps == plan_swaps([op.wires for op in circuit.ops], circuit.num_wires, g).num_swaps
    assert st.swaps > 0

    obs = mpi_run.OBSERVABLE
    np.testing.assert_allclose(float(dist.expval(st, obs)), float(lretjax.expval(reference, obs)),
                               atol=1e-12)
    np.testing.assert_allclose(np.asarray(dist.probabilities(st)),
                               np.asarray(lretjax.probabilities(reference)), atol=1e-12)
    np.testing.assert_allclose(np.asarray(dist.probabilities(st, (3, 0, 4))),
                               np.asarray(lretjax.probabilities(reference, (3, 0, 4))), atol=1e-12)
    np.testing.assert_allclose(float(dist.purity(st)), float(lretjax.purity(reference)), atol=1e-12)
    # A dense observable on wires that may sit on global bits: swapped in for the readout.
    m = np.arange(16.0).reshape(4, 4)
    dense_obs = lretjax.dense_observable((m + m.T).astype(complex), (st.perm.index(0), 4))
    np.testing.assert_allclose(float(dist.expval(st, dense_obs)),
                               float(lretjax.expval(reference, dense_obs)), atol=1e-12)


@needs8
def test_swaps_are_schedule_steps_compiled_once_per_pair(circuit):
    """The plan's swaps run as steps of the one schedule: exactly ``plan.num_swaps`` of them, and
    the compiled loop holds one all_to_all per distinct (global, local) pair of bits, not one per
    swap, so the program does not grow with the circuit."""
    import functools

    from lretjax.distributed.placement import MeshPlacement
    from lretjax.engine import Settings, build, start_carry
    from lretjax.engine.loop import _segment_body
    from lretjax.engine.schedule import SwapBranch

    mesh = sharded.as_bit_mesh(dist.make_mesh(8))
    plan = plan_swaps([op.wires for op in circuit.ops], circuit.num_wires, 3)
    schedule = build(circuit, plan.steps, num_global=3)
    kinds = [None] + list(schedule.program.branches)
    swap_steps = [i for i, (b, _, _) in enumerate(schedule.code) if isinstance(kinds[b], SwapBranch)]
    assert len(swap_steps) == plan.num_swaps > 0
    pairs = {(s.glob, s.loc) for s in plan.steps if isinstance(s, Swap)}
    assert len(pairs) < plan.num_swaps  # some pair recurs: compiled once, run twice
    carry = start_carry(jnp.zeros((32, 8), complex), 0.0, 1)
    run = functools.partial(_segment_body, program=schedule.program, settings=Settings(6, 8),
                            placement=MeshPlacement(mesh))
    hlo = jax.jit(run).lower(carry, schedule.tables, jnp.zeros(()), jnp.ones(()), jnp.int32(0),
                             jnp.int32(schedule.num_steps)).as_text()
    assert hlo.count("all_to_all") + hlo.count("all-to-all") == len(pairs)


@needs8
def test_untruncated_equals_dense_reference():
    # An independent reference: dense rho evolved with matrices written in tests/dense.py.
    rng = np.random.default_rng(1)
    n = 4
    c = lretjax.Circuit(n)
    for w in range(n):
        c = c.ry(float(rng.uniform(0, 6)), w).depolarizing(0.03 * (w + 1), w)
    c = c.cz(0, 3).crx(0.7, 2, 1).amplitude_damping(0.2, 0).swap(1, 3)
    st = dist.simulate_sharded(c, mesh=dist.make_mesh(4), max_rank=64)  # 2 wires local
    np.testing.assert_allclose(_rho(dist.gather(st)), dense.evolve(c), atol=1e-12)


@needs8
def test_batch_axis_runs_one_simulation_per_row():
    theta = lretjax.Param("theta")
    phi = lretjax.Param("phi")
    n = 4
    c = lretjax.Circuit(n)
    for w in range(n):
        c = c.rx(theta * (w + 1), w).depolarizing(0.01 * (w + 1), w)
    c = c.cx(0, 1).cx(2, 3).rz(phi, 0).ry(phi, 3).amplitude_damping(0.1, 3)
    params = np.array([[0.1, 0.2], [0.7, -0.3], [1.3, 0.9], [2.0, 2.5]])
    mesh = dist.make_mesh(2, num_batch=4)
    st = dist.simulate_sharded(c, params, mesh=mesh, max_rank=4)
    energies = np.asarray(dist.expval(st, "Z0 Z3"))
    assert energies.shape == (4,)
    for i, p in enumerate(params):
        ref = lretjax.simulate(c, p, max_rank=4)
        np.testing.assert_allclose(energies[i], float(lretjax.expval(ref, "Z0 Z3")), atol=1e-12)
        np.testing.assert_allclose(_rho(dist.gather(dist.state_at(st, i))), _rho(ref), atol=1e-12)


class _Stop(Exception):
    pass


@needs8
def test_checkpoint_resume_equals_uninterrupted(circuit, tmp_path):
    mesh = dist.make_mesh(8)
    kw = dict(mesh=mesh, max_rank=mpi_run.MAX_RANK, segment_channels=3)  # 4 segments
    whole = dist.simulate_sharded(circuit, **kw)

    def stop_halfway(done, total):
        if done == total // 2:
            raise _Stop

    with pytest.raises(_Stop):
        dist.simulate_sharded(circuit, checkpoint_dir=str(tmp_path), progress=stop_halfway, **kw)
    seen = []
    end = dist.simulate_sharded(circuit, checkpoint_dir=str(tmp_path),
                                progress=lambda d, t: seen.append(d), **kw)
    assert seen and seen[0] > 1  # resumed after the saved segments, not from the start
    assert end.perm == whole.perm
    np.testing.assert_array_equal(np.asarray(end.L), np.asarray(whole.L))
    assert float(end.discarded) == float(whole.discarded)
    # The checkpoint holds one file per process with a checksum per shard.
    back = dist.restore(str(tmp_path), mesh)
    np.testing.assert_array_equal(np.asarray(back.L), np.asarray(end.L))
    # Other settings never resume from a foreign checkpoint: they start from the first segment.
    seen.clear()

    def record_and_stop(done, total):
        seen.append(done)
        raise _Stop

    with pytest.raises(_Stop):
        dist.simulate_sharded(circuit, checkpoint_dir=str(tmp_path), progress=record_and_stop,
                              mesh=mesh, max_rank=mpi_run.MAX_RANK - 1, segment_channels=5)
    assert seen == [1]


@needs8
def test_sample_follows_probabilities(circuit, reference):
    st = dist.simulate_sharded(circuit, mesh=dist.make_mesh(8), max_rank=mpi_run.MAX_RANK)
    bits = np.asarray(dist.sample(st, 20000, jax.random.key(0)))
    assert bits.shape == (20000, circuit.num_wires)
    p = np.asarray(lretjax.probabilities(reference))
    p = p / p.sum()
    idx = bits @ (1 << np.arange(circuit.num_wires - 1, -1, -1))
    freq = np.bincount(idx, minlength=p.size) / bits.shape[0]
    se = np.sqrt(p * (1 - p) / bits.shape[0])
    assert np.all(np.abs(freq - p) < 5 * se + 1e-9)
    sub = np.asarray(dist.sample(st, 10, jax.random.key(0), wires=(4, 1)))
    np.testing.assert_array_equal(sub, bits[:10][:, [4, 1]])


@needs8
def test_bad_mesh_is_refused():
    with pytest.raises(SimulationConfigError, match="power of two"):
        dist.make_mesh(6)
    with pytest.raises(SimulationConfigError, match="needs 16 devices"):
        dist.make_mesh(8, num_batch=2)


@pytest.mark.skipif(_CHILD or jax.device_count() >= 8, reason="already on 8 devices")
def test_on_eight_devices():
    env = dict(os.environ, LRETJAX_DIST_CHILD="1", JAX_PLATFORMS="cpu")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider", "-x"],
        capture_output=True, text=True, timeout=600, env=env, cwd=Path(__file__).parent.parent,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    last = run.stdout.strip().splitlines()[-1]
    # Everything ran in the child; its only skip is this very test.
    assert " passed" in last and "failed" not in last and ("skipped" not in last or "1 skipped" in last)


@needs8
def test_front_door_simulate_with_mesh(circuit, reference):
    """``lretjax.simulate(..., mesh=)`` and the plain readers work on the sharded state."""
    st = lretjax.simulate(circuit, mesh=dist.make_mesh(8), max_rank=mpi_run.MAX_RANK)
    assert isinstance(st, lretjax.LowRankState) and isinstance(st.layout.placement, dist.MeshPlacement)
    with pytest.warns(DeprecationWarning, match="ShardedState"):
        assert isinstance(st, dist.ShardedState)  # the old name still works, with a warning
    obs = {"Z0 Z1": 1.0, "X2": 0.5}
    np.testing.assert_allclose(float(lretjax.expval(st, obs)), float(lretjax.expval(reference, obs)),
                               atol=1e-12)
    np.testing.assert_allclose(np.asarray(lretjax.probabilities(st, wires=[3, 0])),
                               np.asarray(lretjax.probabilities(reference, wires=[3, 0])), atol=1e-12)
    np.testing.assert_allclose(float(lretjax.purity(st)), float(lretjax.purity(reference)), atol=1e-12)
    # Reduced states and basis rotations, on wires held by global bits too.
    from lretjax.measure import reduced_density_matrix, rotated

    for wires in [(st.perm.index(0), 4), (4, st.perm.index(1), st.perm.index(0))]:  # fits a shard, or not
        np.testing.assert_allclose(np.asarray(reduced_density_matrix(st, wires)),
                                   np.asarray(reduced_density_matrix(reference, wires)), atol=1e-12)
    h = np.array([[1, 1], [1, -1]]) / np.sqrt(2)
    np.testing.assert_allclose(np.asarray(lretjax.probabilities(rotated(st, [(h, [0])]))),
                               np.asarray(lretjax.probabilities(rotated(reference, [(h, [0])]))), atol=1e-12)
    with pytest.raises(SimulationConfigError, match="mesh="):
        lretjax.simulate(circuit, mesh=dist.make_mesh(8), checkpoint_every=3)
