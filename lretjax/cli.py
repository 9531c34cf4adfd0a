"""Command line: ``lretjax run circuit.qasm --noise depolarizing=0.01 --max-rank 32 --expval ZZI``.

Exit codes: 0 success, 2 bad input (unreadable file, bad QASM, bad option: the message says
which), 3 resources (the state would not fit), 1 anything unexpected.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .errors import LretError, ResourceError

EXIT_OK, EXIT_BUG, EXIT_INPUT, EXIT_RESOURCE = 0, 1, 2, 3


def _parse_noise(specs: list[str]) -> list[tuple[str, float]]:
    from .noise.channels import CHANNELS, channel_canonical_name

    out = []
    for spec in specs:
        name, sep, value = spec.partition("=")
        key = channel_canonical_name(name.strip())
        if not sep or key not in CHANNELS:
            one_wire = sorted(k for k, c in CHANNELS.items() if c.num_wires == 1 and c.num_params == 1)
            raise argparse.ArgumentTypeError(
                f"--noise {spec!r}: expected NAME=STRENGTH with NAME one of {', '.join(one_wire)}"
            )
        spec_ = CHANNELS[key]
        if spec_.num_wires != 1 or spec_.num_params != 1:
            raise argparse.ArgumentTypeError(f"--noise {name}: only one-wire, one-parameter channels here")
        try:
            p = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--noise {spec!r}: {value!r} is not a number") from None
        out.append((key, p))
    return out


def with_gate_noise(circuit, noise: list[tuple[str, float]]):
    """After every gate, apply each (channel, strength) on every wire the gate touched."""
    from .circuit import Circuit

    if not noise:
        return circuit
    ops = []
    for op in circuit.ops:
        ops.append(op)
        if op.is_channel:
            continue
        for name, p in noise:
            ops.extend((name, [w], [p]) for w in op.wires)
    return Circuit(circuit.num_wires, ops)


def _load_circuit(path: str):
    from .io.qasm2 import load

    p = Path(path)
    if not p.is_file():
        raise LretError(f"{path}: no such file")
    return load(p)


def _run(args) -> dict:
    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    from . import measure
    from .simulate import simulate

    circuit = with_gate_noise(_load_circuit(args.circuit), args.noise)
    t0 = time.perf_counter()
    with _progress(enabled=not args.json and not args.quiet, total=len(circuit.ops)) as report:
        state = simulate(circuit, max_rank=args.max_rank, epsilon=args.epsilon, progress=report)
        probs = measure.probabilities(state)
        jax.block_until_ready(probs)
    seconds = time.perf_counter() - t0
    result: dict = {
        "circuit": args.circuit,
        "num_wires": circuit.num_wires,
        "num_ops": len(circuit.ops),
        "num_channels": circuit.num_channels,
        "max_rank": args.max_rank,
        "epsilon": args.epsilon,
        "rank": int(state.rank),
        "discarded_weight": float(state.discarded),
        "trace": float(state.trace()),
        "seconds": seconds,
        "dtype": str(state.L.dtype),
    }
    result["expval"] = {obs: float(measure.expval(state, obs)) for obs in args.expval}
    k = min(args.top, probs.shape[0])
    order = jax.numpy.argsort(-probs)[:k]
    n = circuit.num_wires
    result["top_probabilities"] = {format(int(i), f"0{n}b"): float(probs[i]) for i in order}
    if args.shots:
        bits = measure.sample(state, args.shots, jax.random.key(args.seed))
        result["counts"] = dict(list(measure.counts(bits).items())[: args.top])
    if args.exact:
        from . import reference

        rho = reference.simulate_dense(circuit)
        result["exact_trace_distance"] = float(
            reference.trace_distance(rho, measure.to_density_matrix(state))
        )
    return result


class _progress:
    """A rich progress bar for runs long enough to want one; a no-op callback otherwise."""

    def __init__(self, *, enabled: bool, total: int):
        self.enabled, self.total, self.bar = enabled, total, None

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(
            TextColumn("simulating"), BarColumn(), TextColumn("{task.completed}/{task.total} ops"),
            TimeElapsedColumn(), transient=True, console=_console(stderr=True),
        )
        self.bar.start()
        task = self.bar.add_task("sim", total=self.total)
        return lambda done, total: self.bar.update(task, completed=done)

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.stop()
        return False


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr)


def _print_table(r: dict) -> None:
    from rich.table import Table

    t = Table(title=f"lretjax run {r['circuit']}", show_header=False)
    t.add_column("what", style="bold")
    t.add_column("value")
    t.add_row("wires / ops / channels", f"{r['num_wires']} / {r['num_ops']} / {r['num_channels']}")
    t.add_row("final rank (max_rank)", f"{r['rank']} ({r['max_rank']})")
    t.add_row("discarded weight", f"{r['discarded_weight']:.3e}  (bounds the trace distance to exact)")
    if "exact_trace_distance" in r:
        t.add_row("trace distance to exact", f"{r['exact_trace_distance']:.3e}")
    t.add_row("time", f"{r['seconds']:.3f} s  ({r['dtype']})")
    for obs, v in r["expval"].items():
        t.add_row(f"<{obs}>", f"{v:+.8f}")
    for bits, p in r["top_probabilities"].items():
        t.add_row(f"P({bits})", f"{p:.6f}")
    for bits, c in r.get("counts", {}).items():
        t.add_row(f"counts {bits}", str(c))
    _console().print(t)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lretjax", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="simulate a noisy OpenQASM 2 circuit")
    run.add_argument("circuit", help="path to an OpenQASM 2.0 file")
    run.add_argument(
        "--noise", action="append", default=[], metavar="NAME=P",
        help="after every gate, this one-wire channel on each wire it touches (repeatable)",
    )
    run.add_argument("--max-rank", type=int, default=64, help="static cap on the rank of L")
    run.add_argument("--epsilon", type=float, default=0.0, help="truncation threshold (fraction of trace)")
    run.add_argument("--shots", type=int, default=0, help="also sample this many shots")
    run.add_argument("--seed", type=int, default=0, help="PRNG seed for sampling")
    run.add_argument("--expval", action="append", default=[], metavar="PAULI",
                     help="Pauli string to measure, e.g. ZZI or 'Z0 Z2' (repeatable)")
    run.add_argument("--top", type=int, default=8, help="how many outcomes to list")
    run.add_argument("--exact", action="store_true", help="also compare with the dense reference (n <= 12)")
    run.add_argument("--x64", action="store_true", help="complex128 instead of complex64")
    run.add_argument("--json", action="store_true", help="print machine-readable JSON only")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        args.noise = _parse_noise(args.noise)
    except argparse.ArgumentTypeError as e:
        parser.print_usage(sys.stderr)
        print(f"lretjax: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except SystemExit as e:  # argparse's own usage errors
        return EXIT_INPUT if e.code else EXIT_OK
    try:
        result = _run(args)
    except ResourceError as e:
        print(f"lretjax: {e}", file=sys.stderr)
        return EXIT_RESOURCE
    except LretError as e:
        print(f"lretjax: {e}", file=sys.stderr)
        return EXIT_INPUT
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_table(result)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
