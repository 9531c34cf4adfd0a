"""examples/vqe_pmap.py runs on 8 simulated CPU devices and its three ways agree."""

import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "vqe_pmap.py"


def test_vqe_pmap_three_ways_agree_and_descend():
    # A fresh interpreter: the example sets the CPU device count before JAX starts.
    out = subprocess.run([sys.executable, str(EXAMPLE), "--steps", "3"], capture_output=True,
                         text=True, timeout=600, check=True).stdout
    assert "8 devices" in out
    energies = re.findall(r"(\S+): energy ([-+]\d\.\d+) -> ([-+]\d\.\d+)", out)
    assert [name for name, *_ in energies] == ["pmap", "shard_map", "row-sharded"]
    for _, first, last in energies:
        assert float(last) < float(first)  # a gradient step lowers the energy
    gaps = [float(g) for g in re.findall(r"max \|difference to pmap\| = (\S+)", out)]
    assert len(gaps) == 3 and max(gaps) < 1e-5  # float32, the same circuits evaluated three ways
