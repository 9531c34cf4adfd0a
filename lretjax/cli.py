"""Command line: ``lretjax run circuit.qasm --noise depolarizing=0.01 --max-rank 32 --expval ZZI``.

Subcommands: ``run`` (simulate an OpenQASM 2/3 or LRET JSON file), ``compile`` (optimize,
print before/after statistics, write QASM), ``bench`` (a quick lretjax-vs-dense comparison) and
``info`` (versions, devices, optional extras).

Exit codes: 0 success, 2 bad input (unreadable file, bad QASM/JSON, bad option: the message says
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
    from .channels import CHANNELS, channel_canonical_name

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


def gate_noise_model(noise: list[tuple[str, float]]):
    """``--noise NAME=P`` pairs as a NoiseModel: each channel after every gate, on each of its wires."""
    from .noise.model import NoiseModel

    model = NoiseModel()
    for name, p in noise:
        model = model.gate_noise(name, p)
    return model


def load_job(path: str) -> tuple:
    """(circuit, observables {label: observable}, config dict) of a circuit file: ``.json`` LRET
    JSON, ``.qasm3`` OpenQASM 3, ``.qasm`` OpenQASM 2 or 3 from its header (``lretjax.io.read``)."""
    from . import io

    f = io.read(path)
    return f.circuit, dict(f.observables), f.config


def _load_circuit(path: str):
    return load_job(path)[0]


def _parse_params(specs: list[str]) -> dict[str, float]:
    out = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"--param {spec!r}: expected NAME=VALUE with a number")
    return out


def _load_noise_model(path: str):
    from .noise.model import NoiseModel

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise LretError(f"--noise-model {path}: cannot read: {e.strerror or e}") from None
    except json.JSONDecodeError as e:
        raise LretError(f"--noise-model {path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
    return NoiseModel.from_qiskit_dict(data)


def _bind(circuit, params: dict[str, float]):
    from .errors import ParameterError

    if not circuit.parameters:
        if params:
            raise ParameterError(f"--param given, but the circuit has no parameters ({sorted(params)})")
        return circuit
    missing = [n for n in circuit.parameters if n not in params]
    if missing:
        raise ParameterError(f"the circuit has unbound parameters {missing}; give them with "
                             f"--param {missing[0]}=VALUE")
    return circuit.bind({n: params[n] for n in circuit.parameters})


def _trajectory(state, num_ops: int) -> tuple[list[int], list[int], list[float]]:
    """(ops done, rank, discarded weight) after every channel, from a run that recorded them
    (``simulate(..., record=True)``), starting at |0...0> and ending after the last op."""
    h = state.history
    xs = [0] + [int(i) + 1 for i in h.op]
    ranks = [1] + [int(r) for r in h.rank]
    disc = [0.0] + [float(d) for d in h.discarded]
    if xs[-1] != num_ops:
        xs.append(num_ops)
        ranks.append(int(state.rank))
        disc.append(float(state.discarded))
    return xs, ranks, disc


def _plot(path: str, state, num_ops: int, max_rank: int, epsilon: float) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise LretError("--plot needs matplotlib: pip install matplotlib") from None
    xs, ranks, disc = _trajectory(state, num_ops)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.step(xs, ranks, where="post", color="C0", label="rank of L")
    ax.set_xlabel("operations applied")
    ax.set_ylabel("rank", color="C0")
    ax2 = ax.twinx()
    ax2.step(xs, disc, where="post", color="C3", label="discarded weight")
    ax2.set_ylabel("discarded weight (bounds trace distance)", color="C3")
    ax.set_title(f"max_rank={max_rank}, epsilon={epsilon:g}")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as e:
        raise LretError(f"--plot {path}: cannot write: {e.strerror or e}") from None
    finally:
        plt.close(fig)


def _compilation_cache(args) -> str | None:
    """Turn on JAX's persistent compilation cache unless ``--no-cache``; its directory."""
    if args.no_cache:
        return None
    from .cache import enable_compilation_cache

    try:
        return str(enable_compilation_cache(args.cache_dir))
    except OSError as e:
        raise LretError(f"--cache-dir {args.cache_dir or ''}: cannot use it: {e.strerror or e}") from None


def _run(args) -> dict:
    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    cache = _compilation_cache(args)
    from . import measure
    from .dynamic import lower
    from .frontdoor import without_ancillas
    from .simulate import simulate

    circuit, file_obs, config = load_job(args.circuit)
    # Command-line options win over the file's config, which wins over the defaults.
    for key, cast, default in (("max_rank", int, 64), ("epsilon", float, 0.0), ("shots", int, 0),
                               ("seed", int, 0)):
        if getattr(args, key) is None:
            try:
                setattr(args, key, cast(config.get(key, default)))
            except (TypeError, ValueError):
                raise LretError(f"{args.circuit}: config.{key} = {config[key]!r} is not a number") from None
    circuit = _bind(circuit, args.params)
    if args.noise_model:
        circuit = _load_noise_model(args.noise_model).apply(circuit)
    circuit = gate_noise_model(args.noise).apply(circuit)
    # A dynamic circuit (mid-circuit measurement, reset, if) runs lowered: ancilla wires after the
    # circuit's own hold the classical bits (lretjax.dynamic); they are read for the registers and
    # traced out for everything else.
    lowered = lower(circuit) if circuit.is_dynamic else None
    run = circuit if lowered is None else lowered.circuit
    t0 = time.perf_counter()
    with _progress(enabled=not args.json and not args.quiet, total=len(run.ops)) as report:
        full = simulate(run, max_rank=args.max_rank, epsilon=args.epsilon, tolerance=args.tolerance,
                        progress=report, record=bool(args.plot), representation=args.representation)
        state = without_ancillas(full, circuit.num_wires)
        probs = measure.probabilities(state)
        jax.block_until_ready(probs)
    seconds = time.perf_counter() - t0
    result: dict = {
        "circuit": args.circuit,
        "num_wires": circuit.num_wires,
        "num_ops": len(run.ops),
        "num_channels": run.num_channels,
        "max_rank": args.max_rank,
        "epsilon": args.epsilon,
        "tolerance": args.tolerance,
        "rank": int(full.rank),
        "discarded_weight": float(full.discarded),
        "trace": float(full.trace()),
        "seconds": seconds,
        "dtype": str(full.dtype),
        "representation": full.representation,
        "compilation_cache": cache,
    }
    observables = {**file_obs, **{obs: obs for obs in args.expval}}
    result["expval"] = {label: float(measure.expval(state, obs)) for label, obs in observables.items()}
    k = min(args.top, probs.shape[0])
    order = jax.numpy.argsort(-probs)[:k]
    n = circuit.num_wires
    result["top_probabilities"] = {format(int(i), f"0{n}b"): float(probs[i]) for i in order}
    if lowered is not None:
        result.update(_registers(full, lowered, args))
    if args.shots:
        bits = measure.sample(state, args.shots, jax.random.key(args.seed))
        result["counts"] = dict(list(measure.counts(bits).items())[: args.top])
    if args.exact:
        from . import reference

        rho = reference.simulate_dense(run)
        result["exact_trace_distance"] = float(
            reference.trace_distance(rho, measure.to_density_matrix(full))
        )
    if args.plot:
        _plot(args.plot, full, len(run.ops), args.max_rank, args.epsilon)
        result["plot"] = args.plot
    return result


# --json lists every value of a register up to this many bits, else its --top most probable;
# the table lists at most _TABLE_VALUES values of each register, the most probable first.
_FULL_REGISTER_BITS = 12
_TABLE_VALUES = 16


def _registers(state, lowered, args) -> dict:
    """The classical registers of a dynamic circuit: the probability of each value (keys are the
    value's bits, highest first, as Qiskit writes them), and ``--shots`` counts of all of them
    (Qiskit's keys, registers in reverse order)."""
    import jax
    import numpy as np

    from . import classical

    res = classical.DynamicResult(state, lowered)
    out: dict = {"ancillas": lowered.ancillas, "registers": {}}
    for name, size in lowered.cregs:
        p = classical.register_probabilities(res, name)
        values = range(p.size) if size <= _FULL_REGISTER_BITS else np.argsort(-p, kind="stable")[: args.top]
        out["registers"][name] = {format(int(v), f"0{size}b"): float(p[v]) for v in values}
    if args.shots:
        counts = classical.counts(res, args.shots, jax.random.fold_in(jax.random.key(args.seed), 1))
        out["register_counts"] = dict(list(counts.items())[: args.top])
    return out


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
    wires = str(r["num_wires"]) + (f" (+{r['ancillas']} holding bits)" if r.get("ancillas") else "")
    t.add_row("wires / ops / channels", f"{wires} / {r['num_ops']} / {r['num_channels']}")
    if r.get("representation") == "dense":
        t.add_row("representation", "dense rho from the point where it was cheaper (exact from there)")
    else:
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
    for name, table in r.get("registers", {}).items():
        shown = sorted(((p, v) for v, p in table.items() if p >= 1e-12), key=lambda x: -x[0])
        for p, v in shown[:_TABLE_VALUES]:
            t.add_row(f"P({name} = {v})", f"{p:.6f}")
    for bits, c in r.get("register_counts", {}).items():
        t.add_row(f"register counts {bits}", str(c))
    _console().print(t)


def _stats_dict(stats) -> dict:
    return {"num_wires": stats.num_wires, "num_ops": stats.num_ops, "num_gates": stats.num_gates,
            "num_channels": stats.num_channels, "two_wire": stats.two_wire, "depth": stats.depth}


def _compile(args) -> dict:
    from .compiler import analyze, compile

    circuit = _load_circuit(args.circuit)
    if not 0 <= args.level <= 3:
        raise LretError(f"--level {args.level}: expected 0, 1, 2 or 3")
    t0 = time.perf_counter()
    out = compile(circuit, level=args.level, topology=args.topology)
    seconds = time.perf_counter() - t0
    result: dict = {"circuit": args.circuit, "level": args.level, "seconds": seconds,
                    "before": _stats_dict(analyze(circuit))}
    if args.topology is not None:
        result.update(topology=args.topology, num_swaps=out.num_swaps,
                      final_layout=list(out.final_layout))
        out = out.circuit
    result["after"] = _stats_dict(analyze(out))
    if args.output:
        from . import io

        try:
            io.dump(out, args.output)
        except OSError as e:
            raise LretError(f"--output {args.output}: cannot write: {e.strerror or e}") from None
        result["output"] = args.output
    return result


def _print_compile(r: dict) -> None:
    from rich.table import Table

    t = Table(title=f"lretjax compile {Path(r['circuit']).name} (level {r['level']})")
    for col in ("", "before", "after"):
        t.add_column(col, justify="right" if col else "left")
    for key, label in (("num_ops", "ops"), ("num_gates", "gates"), ("two_wire", "two-wire gates"),
                       ("num_channels", "channels"), ("depth", "depth"), ("num_wires", "wires")):
        t.add_row(label, str(r["before"][key]), str(r["after"][key]))
    if "num_swaps" in r:
        t.add_row("swaps inserted", "", str(r["num_swaps"]))
    t.caption = f"{r['seconds'] * 1e3:.1f} ms" + (f"; written to {r['output']}" if "output" in r else "")
    _console().print(t)


def bench_circuit(n: int, depth: int, p: float, seed: int = 0):
    """The LRET paper's family: random rotations + brickwork CZ, depolarizing p after every gate."""
    import numpy as np

    from .circuit import Circuit

    rng = np.random.default_rng(seed)
    c = Circuit(n)
    for layer in range(depth):
        for w in range(n):
            c = c.ry(float(rng.uniform(0, np.pi)), w).rz(float(rng.uniform(0, 2 * np.pi)), w)
        for w in range(layer % 2, n - 1, 2):
            c = c.cz(w, w + 1)
    return gate_noise_model([("depolarizing", p)] if p > 0 else []).apply(c)


def _best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _bench(args) -> dict:
    import jax

    from . import measure, reference
    from .simulate import simulate

    if not 1 <= args.qubits <= 12:
        raise LretError(f"--qubits {args.qubits}: the dense reference needs 1 <= qubits <= 12")
    circuit = bench_circuit(args.qubits, args.depth, args.noise, args.seed)

    def low_rank():  # lretjax against the dense reference: the low-rank representation throughout
        s = simulate(circuit, max_rank=args.max_rank, representation="low-rank")
        jax.block_until_ready(s.L)
        return s

    state = low_rank()  # compile once, outside the timing
    t_lr = _best_time(low_rank, args.repeat)
    rho = reference.simulate_dense(circuit)
    t_dense = _best_time(lambda: reference.simulate_dense(circuit), args.repeat)
    dist = float(reference.trace_distance(rho, measure.to_density_matrix(state)))
    return {
        "qubits": args.qubits, "depth": args.depth, "noise": args.noise, "max_rank": args.max_rank,
        "num_ops": len(circuit.ops), "num_channels": circuit.num_channels, "rank": int(state.rank),
        "discarded_weight": float(state.discarded), "trace_distance": dist,
        "lretjax_seconds": t_lr, "dense_seconds": t_dense, "speedup": t_dense / t_lr,
        "dtype": str(state.dtype), "backend": jax.default_backend(),
    }


def _print_bench(r: dict) -> None:
    from rich.table import Table

    t = Table(title=f"lretjax bench: {r['qubits']} qubits, depth {r['depth']}, p={r['noise']:g}",
              show_header=False)
    t.add_column("what", style="bold")
    t.add_column("value")
    t.add_row("ops / channels", f"{r['num_ops']} / {r['num_channels']}")
    t.add_row("final rank (max_rank)", f"{r['rank']} ({r['max_rank']})")
    t.add_row("discarded weight", f"{r['discarded_weight']:.3e}")
    t.add_row("trace distance to dense", f"{r['trace_distance']:.3e}")
    t.add_row("dense / lretjax time", f"{r['speedup']:.2f}x  (best of repeats, {r['backend']}, {r['dtype']})")
    _console().print(t)


def _info(args) -> dict:
    import importlib.metadata as md
    import platform

    import jax

    from ._version import __version__

    def version(pkg: str) -> str | None:
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return None

    extras = {pkg: version(pkg) for pkg in ("qiskit", "qiskit-aer", "cirq-core", "pennylane", "optax",
                                             "flax", "mpi4jax", "matplotlib")}
    return {
        "lretjax": __version__, "python": platform.python_version(), "jax": jax.__version__,
        "jaxlib": version("jaxlib"), "numpy": version("numpy"), "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()], "x64": bool(jax.config.jax_enable_x64),
        "extras": extras,
    }


def _print_info(r: dict) -> None:
    from rich.table import Table

    t = Table(title="lretjax info", show_header=False)
    t.add_column("what", style="bold")
    t.add_column("value")
    for key in ("lretjax", "python", "jax", "jaxlib", "numpy", "backend"):
        t.add_row(key, str(r[key]))
    t.add_row("devices", ", ".join(r["devices"]))
    for pkg, v in r["extras"].items():
        t.add_row(pkg, v or "[dim]not installed[/dim]")
    _console().print(t)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lretjax", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="simulate a noisy circuit file (OpenQASM 2/3, LRET JSON)")
    run.add_argument("circuit", help="a .qasm (OpenQASM 2 or 3), .qasm3 or .json (LRET) file")
    run.add_argument("--param", dest="params", action="append", default=[], metavar="NAME=VALUE",
                     help="value of a symbolic parameter (QASM 3 input, JSON symbol; repeatable)")
    run.add_argument("--noise-model", metavar="FILE.json",
                     help="a Qiskit Aer NoiseModel.to_dict() saved as JSON")
    run.add_argument(
        "--noise", action="append", default=[], metavar="NAME=P",
        help="after every gate, this one-wire channel on each wire it touches (repeatable)",
    )
    run.add_argument("--max-rank", type=int, default=None,
                     help="static cap on the rank of L (default: the file's config, else 64)")
    run.add_argument("--epsilon", type=float, default=None,
                     help="truncation threshold, fraction of trace (default: config, else 0)")
    run.add_argument("--tolerance", type=float, default=None,
                     help="instead of --epsilon: bound on the final discarded weight (trace distance)")
    run.add_argument("--shots", type=int, default=None, help="also sample this many shots")
    run.add_argument("--seed", type=int, default=None, help="PRNG seed for sampling")
    run.add_argument("--expval", action="append", default=[], metavar="PAULI",
                     help="Pauli string to measure, e.g. ZZI or 'Z0 Z2' (repeatable)")
    run.add_argument("--top", type=int, default=8, help="how many outcomes to list")
    run.add_argument("--exact", action="store_true", help="also compare with the dense reference (n <= 12)")
    run.add_argument("--x64", action="store_true", help="complex128 instead of complex64")
    run.add_argument("--json", action="store_true", help="print machine-readable JSON only")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--plot", metavar="OUT.png", help="plot rank and discarded weight along the circuit")
    run.add_argument("--representation", choices=("auto", "low-rank", "dense"), default="auto",
                     help="go on with the dense rho where it is cheaper (auto, default), never, or always")
    run.add_argument("--cache-dir", metavar="DIR",
                     help="JAX compilation cache (default: $LRETJAX_CACHE_DIR or ~/.cache/lretjax/jax)")
    run.add_argument("--no-cache", action="store_true", help="do not use the compilation cache")

    comp = sub.add_parser("compile", help="optimize a circuit file and write it as QASM")
    comp.add_argument("circuit", help="a .qasm, .qasm3 or .json file")
    comp.add_argument("-O", "--level", type=int, default=2, help="optimization level 0-3 (default 2)")
    comp.add_argument("--topology", help="route onto a device: a bundled name (eagle, heron_r2, ...)")
    comp.add_argument("-o", "--output", help="write the result (.qasm: OpenQASM 2, .qasm3: OpenQASM 3, "
                      ".json: LRET JSON)")
    comp.add_argument("--json", action="store_true", help="print machine-readable JSON only")

    bench = sub.add_parser("bench", help="a quick benchmark: lretjax against a dense density matrix")
    bench.add_argument("--qubits", type=int, default=8, help="number of qubits (dense reference: <= 12)")
    bench.add_argument("--depth", type=int, default=6, help="layers of rotations + CZ brickwork")
    bench.add_argument("--noise", type=float, default=1e-3, help="depolarizing p after every gate")
    bench.add_argument("--max-rank", type=int, default=32, help="static cap on the rank of L")
    bench.add_argument("--repeat", type=int, default=3, help="timed repetitions (best is reported)")
    bench.add_argument("--seed", type=int, default=0, help="seed of the random angles")
    bench.add_argument("--json", action="store_true", help="print machine-readable JSON only")

    info = sub.add_parser("info", help="versions, devices and optional extras")
    info.add_argument("--json", action="store_true", help="print machine-readable JSON only")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "run":
            args.noise = _parse_noise(args.noise)
            args.params = _parse_params(args.params)
    except argparse.ArgumentTypeError as e:
        parser.print_usage(sys.stderr)
        print(f"lretjax: error: {e}", file=sys.stderr)
        return EXIT_INPUT
    except SystemExit as e:  # argparse's own usage errors
        return EXIT_INPUT if e.code else EXIT_OK
    commands = {"run": (_run, _print_table), "compile": (_compile, _print_compile),
                "bench": (_bench, _print_bench), "info": (_info, _print_info)}
    compute, show = commands[args.command]
    try:
        result = compute(args)
    except ResourceError as e:
        print(f"lretjax: {e}", file=sys.stderr)
        return EXIT_RESOURCE
    except LretError as e:
        print(f"lretjax: {e}", file=sys.stderr)
        return EXIT_INPUT
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        show(result)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
