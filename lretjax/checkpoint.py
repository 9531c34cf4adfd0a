"""Checkpoints of an eager simulation: the state and its position, written atomically, checksummed.

Format: one file ``ckpt-<ops_done:09d>.npz`` per checkpoint in the checkpoint directory, holding
``L`` (the factor at its current width, padding columns included), ``discarded``, ``rank`` and
``meta``: a JSON string with the format tag, the position (``ops_done`` of ``total_ops``), the
circuit's fingerprint (SHA-256 of its ops and bound parameter values), the settings
(max_rank, epsilon, renormalize, checkpoint_every), the dtype, lretjax and jax versions, and
``sha256``: a digest of the three arrays' bytes and the rest of the metadata.

Writing: the file is written to ``.ckpt-*.tmp-<pid>`` in the same directory, flushed and fsynced,
then ``os.replace``d onto its final name (atomic on POSIX), then the directory is fsynced. A
process killed at any moment leaves either the previous checkpoints intact or the new one
complete; a stray temp file is ignored. Reading takes the newest file whose digest matches and
skips (and reports) any that do not, so a corrupted newest checkpoint falls back to the one
before. The last ``keep`` good checkpoints are kept.

Plain ``.npz`` rather than orbax-checkpoint: one array and a few numbers need no tensorstore.
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass, field

import numpy as np

FORMAT = "lretjax-checkpoint/1"
_NAME = re.compile(r"^ckpt-(\d{9})\.npz$")


def circuit_fingerprint(circuit) -> str:
    """SHA-256 of the circuit's wires, op names, kinds, wires and bound parameter values."""
    h = hashlib.sha256(f"wires={circuit.num_wires}".encode())
    for op in circuit.ops:
        h.update(f"|{op.kind}:{op.name}:{list(op.wires)}".encode())
        for p in op.params:
            a = np.asarray(p)
            h.update(f":{a.dtype.str}{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _digest(L: np.ndarray, discarded: np.ndarray, rank: np.ndarray, meta: dict) -> str:
    h = hashlib.sha256()
    for a in (L, discarded, rank):
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(json.dumps({k: v for k, v in meta.items() if k != "sha256"}, sort_keys=True).encode())
    return h.hexdigest()


@dataclass
class Checkpoint:
    """A verified checkpoint, and the newer files that failed verification (path, reason)."""

    path: str
    L: np.ndarray
    discarded: np.ndarray
    rank: np.ndarray
    meta: dict
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ops_done(self) -> int:
        return int(self.meta["ops_done"])


def path_for(directory: str, ops_done: int) -> str:
    return os.path.join(directory, f"ckpt-{ops_done:09d}.npz")


def save(directory: str, L, discarded, rank, meta: dict, *, keep: int = 2) -> str:
    """Write one checkpoint atomically; keep the newest ``keep`` (>= 2) and return its path."""
    os.makedirs(directory, exist_ok=True)
    L, discarded, rank = np.asarray(L), np.asarray(discarded), np.asarray(rank)
    meta = dict(meta, format=FORMAT)
    meta["sha256"] = _digest(L, discarded, rank, meta)
    final = path_for(directory, int(meta["ops_done"]))
    tmp = os.path.join(directory, f".{os.path.basename(final)}.tmp-{os.getpid()}")
    buf = io.BytesIO()
    np.savez(buf, L=L, discarded=discarded, rank=rank, meta=np.asarray(json.dumps(meta, sort_keys=True)))
    with open(tmp, "wb") as f:
        f.write(buf.getbuffer())
        f.flush()
        os.fsync(f.fileno())
    _publish(tmp, final)
    _fsync_dir(directory)
    for old in _listing(directory)[max(keep, 2):]:
        try:
            os.remove(old)
        except OSError:
            pass
    return final


def _publish(tmp: str, final: str) -> None:
    """The atomic step (a seam for the kill-mid-write test)."""
    os.replace(tmp, final)


def _fsync_dir(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _listing(directory: str) -> list[str]:
    """Checkpoint files, newest first."""
    files = [p for p in glob.glob(os.path.join(directory, "ckpt-*.npz")) if _NAME.match(os.path.basename(p))]
    return sorted(files, reverse=True)


def read(path: str) -> Checkpoint:
    """Load and verify one checkpoint file; ValueError with the reason if it is not good."""
    try:
        with open(path, "rb") as f:
            data = f.read()  # np.load leaks its handle when the zip is damaged: read it ourselves
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            L, discarded, rank = z["L"], z["discarded"], z["rank"]
            meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as e:
        raise ValueError(f"unreadable ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} file")
    if meta.get("sha256") != _digest(L, discarded, rank, meta):
        raise ValueError("checksum mismatch (corrupted or partially written)")
    return Checkpoint(path, L, discarded, rank, meta)


def latest(directory: str) -> tuple[Checkpoint | None, list[tuple[str, str]]]:
    """The newest checkpoint in ``directory`` that verifies (or None), and the newer files
    skipped because they did not verify, as (path, reason)."""
    skipped = []
    for path in _listing(directory):
        try:
            ck = read(path)
        except ValueError as e:
            skipped.append((path, str(e)))
            continue
        ck.skipped = skipped
        return ck, skipped
    return None, skipped
