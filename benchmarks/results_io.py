"""Where a benchmark's JSON goes: benchmarks/results/, and $OUT on a device machine (so it comes back)."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import jax

RESULTS = Path(__file__).resolve().parent / "results"


def device_tag() -> str:
    """The accelerator's kind on a GPU (e.g. NVIDIA_H100_80GB_HBM3), else the machine's name."""
    if jax.default_backend() == "gpu":
        return jax.devices()[0].device_kind.replace(" ", "_")
    return platform.node() or "cpu"


def write_result(name: str, result: dict) -> Path:
    """``result`` as benchmarks/results/``name`` (and $OUT/``name`` when set); the first path."""
    text = json.dumps(result, indent=1, default=str)
    paths = [RESULTS / name] + ([Path(os.environ["OUT"], name)] if os.environ.get("OUT") else [])
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return paths[0]
