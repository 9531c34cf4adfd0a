"""Checkpoints: atomic writes, checksums, fallback to the last good one, kill-and-resume."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from lretjax import Circuit, simulate
from lretjax import checkpoint as ckpt
from lretjax.engine import build
from lretjax.errors import SimulationConfigError
from lretjax.simulate import resume


def circuit(seed=3, layers=6, n=4):
    rng = np.random.default_rng(seed)
    c = Circuit(n)
    for layer in range(layers):
        for w in range(n):
            c = c.rx(rng.uniform(-3, 3), w).rz(rng.uniform(-3, 3), w)
        for w in range(layer % 2, n - 1, 2):
            c = c.cx(w, w + 1).depolarizing(0.05, w).amplitude_damping(0.1, w + 1)
    return c


SETTINGS = dict(max_rank=8, epsilon=1e-12)


def same(a, b):
    return (np.asarray(a.L).tobytes() == np.asarray(b.L).tobytes()
            and np.asarray(a.discarded).tobytes() == np.asarray(b.discarded).tobytes()
            and int(a.rank) == int(b.rank))


@pytest.fixture(scope="module")
def uninterrupted():
    return simulate(circuit(), **SETTINGS)


def test_checkpointing_changes_nothing_and_resume_is_bitwise(tmp_path, uninterrupted):
    s = simulate(circuit(), **SETTINGS, checkpoint_every=7, checkpoint_dir=tmp_path)
    assert same(s, uninterrupted)
    files = sorted(os.listdir(tmp_path))
    assert len(files) == 2 and all(f.startswith("ckpt-") for f in files)  # keeps the newest two
    ck, skipped = ckpt.latest(str(tmp_path))
    # The newest lands at the first step boundary at or after the last multiple of 7 ops (a step
    # may run a run of gates and the channel they fold into: ``engine.build``).
    last = (len(circuit().ops) - 1) // 7 * 7
    assert skipped == [] and ck.ops_done == min(int(o) for o in build(circuit()).op_index if o >= last)
    assert ck.meta["max_rank"] == 8 and ck.meta["epsilon"] == 1e-12
    assert same(resume(tmp_path, circuit()), uninterrupted)


def _flip_byte(path):
    """Flip one bit inside the stored L (the bulk of the file)."""
    offset_from_end = os.path.getsize(path) * 2 // 3
    with open(path, "r+b") as f:
        f.seek(-offset_from_end, os.SEEK_END)
        b = f.read(1)
        f.seek(-offset_from_end, os.SEEK_END)
        f.write(bytes([b[0] ^ 0x40]))


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_damaged_newest_checkpoint_falls_back(tmp_path, uninterrupted, damage):
    simulate(circuit(), **SETTINGS, checkpoint_every=5, checkpoint_dir=tmp_path)
    newest, older = ckpt._listing(str(tmp_path))
    if damage == "flip":
        _flip_byte(newest)
    else:
        size = os.path.getsize(newest)
        with open(newest, "r+b") as f:
            f.truncate(size // 2 if damage == "truncate" else 0)
    ck, skipped = ckpt.latest(str(tmp_path))
    assert ck.path == older and [p for p, _ in skipped] == [newest]
    assert same(resume(tmp_path, circuit()), uninterrupted)


def test_checksum_covers_metadata(tmp_path):
    path = ckpt.save(str(tmp_path), np.eye(4, 2, dtype=complex), np.float64(0.0), np.int32(2),
                     {"ops_done": 3})
    ck = ckpt.read(path)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["meta"] = np.asarray(str(arrays["meta"]).replace('"ops_done": 3', '"ops_done": 4'))
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="checksum mismatch"):
        ckpt.read(path)
    assert ck.ops_done == 3


def test_resume_refuses_other_circuit_and_empty_dirs(tmp_path):
    with pytest.raises(SimulationConfigError, match="no usable checkpoint.*no checkpoint files"):
        resume(tmp_path, circuit())
    simulate(circuit(), **SETTINGS, checkpoint_every=20, checkpoint_dir=tmp_path)
    with pytest.raises(SimulationConfigError, match="different circuit"):
        resume(tmp_path, circuit(seed=4))
    for p in ckpt._listing(str(tmp_path)):
        _flip_byte(p)
    with pytest.raises(SimulationConfigError, match=r"no usable checkpoint.*(checksum mismatch|Bad CRC-32)"):
        resume(tmp_path, circuit())


def test_checkpoint_settings_are_checked(tmp_path):
    import jax

    with pytest.raises(SimulationConfigError, match="both"):
        simulate(circuit(), checkpoint_every=3)
    with pytest.raises(SimulationConfigError, match="positive integer"):
        simulate(circuit(), checkpoint_every=0, checkpoint_dir=tmp_path)
    with pytest.raises(SimulationConfigError, match="concrete inputs"):
        jax.jit(lambda t: simulate(Circuit(1).rx(t, 0), checkpoint_every=1, checkpoint_dir=tmp_path).L)(0.1)


# The child simulates with checkpoints; at its third checkpoint it has written the temp file
# and announces it, then sleeps before the atomic rename: the parent kills it right there.
CHILD = textwrap.dedent("""
    import os, sys, time
    import jax
    jax.config.update("jax_enable_x64", True)
    sys.path.insert(0, {tests!r})
    from test_checkpoint import circuit, SETTINGS
    from lretjax import checkpoint, simulate

    real, calls = checkpoint._publish, []
    def publish(tmp, final):
        calls.append(final)
        if len(calls) == 3:
            open({flag!r}, "w").close()
            time.sleep(120)
        real(tmp, final)
    checkpoint._publish = publish
    simulate(circuit(), **SETTINGS, checkpoint_every=5, checkpoint_dir={dir!r})
    open({done!r}, "w").close()
""")


def test_kill_mid_write_then_resume_equals_uninterrupted(tmp_path, uninterrupted):
    d, flag, done = tmp_path / "ck", tmp_path / "writing", tmp_path / "done"
    script = CHILD.format(tests=os.path.dirname(__file__), flag=str(flag), dir=str(d), done=str(done))
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    child = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 240
        while not flag.exists():
            assert child.poll() is None, "the child exited before its third checkpoint"
            assert time.monotonic() < deadline, "the child never reached its third checkpoint"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL and not done.exists()
    names = sorted(os.listdir(d))
    # every 5 ops, at the first step boundary at or after each multiple
    at = [min(int(o) for o in build(circuit()).op_index if o >= m) for m in (5, 10, 15)]
    assert names[0].startswith(f".ckpt-{at[2]:09d}.npz.tmp-")  # the write that never got published
    assert names[1:] == [f"ckpt-{at[0]:09d}.npz", f"ckpt-{at[1]:09d}.npz"]
    resumed = resume(d, circuit())
    assert same(resumed, uninterrupted)
