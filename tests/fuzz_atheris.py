"""Coverage-guided fuzzing of the front doors with atheris (libFuzzer), run for a bounded time.

    python tests/fuzz_atheris.py qasm -max_total_time=60          # the OpenQASM 2 reader
    python tests/fuzz_atheris.py circuit -max_total_time=60       # Circuit building + simulate

Every input must either succeed or raise an ``lretjax.errors`` exception; anything else is a
crash that libFuzzer reports with the input that caused it. Not collected by pytest (no test_
prefix); tests/test_fuzz.py is the bounded hypothesis suite that CI runs. Figures of the long
runs are in docs/reliability.md.
"""

import sys

import atheris

with atheris.instrument_imports(include=["lretjax"]):
    import jax

    jax.config.update("jax_enable_x64", True)
    import numpy as np

    import lretjax
    from lretjax.errors import LretError
    from lretjax.gates import GATES
    from lretjax.io import qasm2
    from lretjax.noise.channels import CHANNELS

NAMES = sorted(GATES) + sorted(CHANNELS) + ["nope"]
STATS = {"inputs": 0, "accepted": 0, "refused": 0}


def fuzz_qasm(data: bytes) -> None:
    STATS["inputs"] += 1
    text = data.decode("utf-8", errors="replace")
    try:
        qasm2.loads(text)
        STATS["accepted"] += 1
    except LretError:
        STATS["refused"] += 1


def fuzz_circuit(data: bytes) -> None:
    """Ops from bytes on at most 3 wires (small: compiled steps are cached by wires and width)."""
    STATS["inputs"] += 1
    fdp = atheris.FuzzedDataProvider(data)
    try:
        c = lretjax.Circuit(fdp.ConsumeIntInRange(-1, 3))
        for _ in range(fdp.ConsumeIntInRange(0, 6)):
            name = NAMES[fdp.ConsumeIntInRange(0, len(NAMES) - 1)]
            wires = [fdp.ConsumeIntInRange(-1, 3) for _ in range(fdp.ConsumeIntInRange(0, 3))]
            params = [fdp.ConsumeFloat() for _ in range(fdp.ConsumeIntInRange(0, 3))]
            c = c.add(name, wires, *params)
        state = lretjax.simulate(c, max_rank=fdp.ConsumeIntInRange(-1, 8), epsilon=fdp.ConsumeFloat())
    except LretError:
        STATS["refused"] += 1
        return
    STATS["accepted"] += 1
    tr, disc = float(state.trace()), float(state.discarded)
    if not abs(tr - (1 - disc)) < 1e-9 or not np.all(np.asarray(lretjax.probabilities(state)) >= -1e-12):
        raise AssertionError(f"invariant broken by {c!r}: trace {tr}, discarded {disc}")


def main() -> None:
    target = {"qasm": fuzz_qasm, "circuit": fuzz_circuit}[sys.argv[1]]
    argv = [sys.argv[0]] + sys.argv[2:]
    import atexit

    atexit.register(lambda: print(f"lretjax fuzz {sys.argv[1]}: {STATS}", file=sys.stderr))
    atheris.Setup(argv, target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
