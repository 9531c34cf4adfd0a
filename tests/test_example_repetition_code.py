"""examples/repetition_code.py runs (quick mode) and its correction works without noise."""

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "repetition_code.py"


def test_repetition_code_example_quick():
    env = {"JAX_PLATFORMS": "cpu", **os.environ}
    out = subprocess.run([sys.executable, str(EXAMPLE), "--quick"], capture_output=True, text=True,
                         timeout=600, check=True, env=env).stdout
    ideal, noisy = (float(x) for x in re.findall(r"P\(data = 000 after correction\) = (\S+)", out))
    # one flip of wire 1 with probability sin^2(0.3): the syndrome (11) finds and corrects it
    assert abs(ideal - 1.0) < 1e-9
    assert 0.5 < noisy < ideal
