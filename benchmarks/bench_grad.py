"""Cost of one gradient, as a multiple of one forward evaluation, for every way lretjax offers one.

    python benchmarks/bench_grad.py            # 10 wires, P = 16, 64, 256
    python benchmarks/bench_grad.py --quick    # 6 wires, P = 8, 16, seconds
    python benchmarks/bench_grad.py --depths 10 40   # compile and memory against depth (n = 16)

Circuit: a hardware-efficient ansatz on n wires. Parameterised rotations (RY, RZ alternating) are
placed wire by wire; after every sweep of n rotations come a CZ brickwork and one-qubit
depolarizing(p) on every wire. The cost function is sum_i Z_i.

Columns, each the median of repeated runs after a compiling warm-up (compile times separately):
forward, backprop, backprop with checkpoint=True, the adjoint sweep, parameter-shift (one vmapped
call over all shifted circuits), a sequential central finite-difference loop (2P jitted forward
calls from Python) and, where --pennylane-max allows, PennyLane default.mixed with jax backprop
(jitted) on the same circuit.
Ratios are gradient time / forward time of the same simulator; the last two columns compare lretjax
backprop with the finite-difference loop and with PennyLane. Writes benchmarks/results/grad_<machine>.json
(grad_<machine>_quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lretjax import Circuit, Param, simulate
from lretjax.grad import expval_fn


def hea(n: int, num_params: int, p: float) -> Circuit:
    """Hardware-efficient ansatz with ``num_params`` rotations and depolarizing noise per layer."""
    c = Circuit(n)
    for i in range(num_params):
        w = i % n
        c = c.ry(Param(f"t{i}"), w) if (i // n) % 2 == 0 else c.rz(Param(f"t{i}"), w)
        if w == n - 1 or i == num_params - 1:
            layer = i // n
            for a in range(layer % 2, n - 1, 2):
                c = c.cz(a, a + 1)
            for q in range(n):
                c = c.depolarizing(p, q)
    return c


def observable(n: int) -> dict[str, float]:
    return {"I" * i + "Z" + "I" * (n - i - 1): 1.0 for i in range(n)}


CLOCK = time.perf_counter  # --clock process: CPU seconds of this process (for shared machines)


def _time(fn, repeats: int) -> tuple[float, float]:
    """(compile + first run, median of repeats) in seconds."""
    t0 = CLOCK()
    jax.block_until_ready(fn())
    first = CLOCK() - t0
    times = []
    for _ in range(repeats):
        t0 = CLOCK()
        jax.block_until_ready(fn())
        times.append(CLOCK() - t0)
    return first, statistics.median(times)


def _restore_is_concrete() -> None:
    """PennyLane 0.45 calls ``jax.core.is_concrete``, which jax 0.11 removed from the public
    module (its private twin, or its definition, remains); put it back so the peer can run."""
    import jax.core
    from jax._src import core

    if not hasattr(jax.core, "is_concrete"):
        jax.core.is_concrete = getattr(core, "is_concrete", None) or (
            lambda x: core.to_concrete_value(x) is not None
        )


def pennylane_grad(circuit: Circuit, obs: dict[str, float]):
    return jax.jit(jax.grad(pennylane_energy(circuit, obs)))


def pennylane_energy(circuit: Circuit, obs: dict[str, float]):
    """PennyLane ``default.mixed`` QNode (jax backprop) of ``circuit``'s RY/RZ/CZ/depolarizing
    ops, returning <sum_k c_k P_k> for Pauli labels P_k (wire 0 first) over the parameters."""
    import pennylane as qml

    _restore_is_concrete()
    n, names = circuit.num_wires, circuit.parameters
    dev = qml.device("default.mixed", wires=n)
    paulis = {"X": qml.PauliX, "Y": qml.PauliY, "Z": qml.PauliZ}

    def term(label):
        ops = [paulis[ch](i) for i, ch in enumerate(label) if ch != "I"]
        return ops[0] if len(ops) == 1 else qml.prod(*ops)

    h = qml.Hamiltonian(list(obs.values()), [term(s) for s in obs])
    table = {"ry": qml.RY, "rz": qml.RZ, "cz": qml.CZ, "depolarizing": qml.DepolarizingChannel}

    @qml.qnode(dev, interface="jax", diff_method="backprop")
    def qnode(params):
        for op in circuit.ops:
            args = [params[names.index(v.name)] if isinstance(v, Param) else v for v in op.params]
            table[op.name](*args, wires=list(op.wires))
        return qml.expval(h)

    return qnode


def measure(n, num_params, p, max_rank, repeats, pennylane_max, pl=None) -> tuple[dict, dict | None]:
    """One row of the table: every method on one circuit.

    ``pl``: PennyLane's (compile, time, gradient) for this circuit, shared by the rows of a rank
    sweep; its gradient (exact: no truncation) measures the error of lretjax's at ``max_rank``.
    """
    circuit = hea(n, num_params, p)
    obs = observable(n)
    x = jnp.asarray(np.random.default_rng(num_params).uniform(-np.pi, np.pi, num_params))
    fwd = expval_fn(circuit, obs, max_rank=max_rank)
    grads = {
        "backprop": jax.jit(jax.grad(expval_fn(circuit, obs, max_rank=max_rank))),
        "checkpoint": jax.jit(jax.grad(expval_fn(circuit, obs, max_rank=max_rank, checkpoint=True))),
        "adjoint": jax.jit(jax.grad(expval_fn(circuit, obs, max_rank=max_rank, diff_method="adjoint"))),
        "parameter-shift": jax.jit(
            jax.grad(expval_fn(circuit, obs, max_rank=max_rank, diff_method="parameter-shift"))
        ),
    }
    state = simulate(circuit, x, max_rank=max_rank)
    row = {"n": n, "P": num_params, "p": p, "max_rank": max_rank, "ops": len(circuit.ops),
           "channels": circuit.num_channels, "rank": int(state.rank),
           "discarded": float(state.discarded)}
    row["forward_compile_s"], row["forward_s"] = _time(lambda: fwd(x), repeats)
    for name, g in grads.items():
        row[f"{name}_compile_s"], row[f"{name}_s"] = _time(lambda g=g: g(x), repeats)

    def finite_differences(h=1e-4):
        out = []
        for i in range(num_params):
            e = jnp.zeros(num_params).at[i].set(h)
            out.append((fwd(x + e) - fwd(x - e)) / (2 * h))
        return jnp.stack(out)

    # The loop is 2P forward calls; time it once (it is long), after the forward warm-up.
    t0 = CLOCK()
    jax.block_until_ready(finite_differences())
    row["finite_differences_s"] = CLOCK() - t0
    row["pennylane_s"] = row["pennylane_compile_s"] = None
    if pl is None and num_params <= pennylane_max:
        pl = pennylane_run(circuit, obs, x, repeats)
    if pl is not None and "error" in pl:
        row["pennylane_error"] = pl["error"]
    elif pl is not None:
        row["pennylane_compile_s"], row["pennylane_s"] = pl["compile_s"], pl["s"]
        exact = pl["grad"]
        # truncation error of the gradient: lretjax backprop (rank <= max_rank) against PennyLane
        row["grad_error_vs_pennylane"] = float(
            np.max(np.abs(np.asarray(grads["backprop"](x)) - exact)) / np.max(np.abs(exact))
        )
    for name in ("backprop", "checkpoint", "adjoint", "parameter-shift", "finite_differences", "pennylane"):
        t = row[f"{name}_s"]
        row[f"{name}_ratio"] = None if t is None else t / row["forward_s"]
    row["fd_over_parameter_shift"] = row["finite_differences_s"] / row["parameter-shift_s"]
    row["fd_over_backprop"] = row["finite_differences_s"] / row["backprop_s"]
    row["pennylane_over_backprop"] = (
        None if row["pennylane_s"] is None else row["pennylane_s"] / row["backprop_s"]
    )
    return row, pl


def pennylane_run(circuit: Circuit, obs: dict[str, float], x, repeats: int) -> dict:
    """PennyLane's gradient on ``circuit`` at ``x``: times and value, or why it could not run."""
    try:
        g = pennylane_grad(circuit, obs)
        compile_s, s = _time(lambda: g(x), max(1, repeats // 2))
        return {"compile_s": compile_s, "s": s, "grad": np.asarray(g(x))}
    except ImportError:
        return {"error": "pennylane not installed"}
    except AttributeError as err:
        if "jax" not in str(err):
            raise
        # another jax API this PennyLane needs and this jax lacks (see _restore_is_concrete)
        msg = f"pennylane does not run with jax {jax.__version__}: {err}"
        print(msg, flush=True)
        return {"error": msg}


def run(n, sizes, p, max_ranks, repeats, pennylane_max, save=lambda rows: None) -> list[dict]:
    rows = []
    for num_params in sizes:
        pl = None
        for max_rank in max_ranks:
            row, pl = measure(n, num_params, p, max_rank, repeats, pennylane_max, pl)
            rows.append(row)
            print_row(rows[-1])
            save(rows)  # after every row, so a run cut short keeps what it measured
    return rows


def _f(x, fmt="{:8.2f}") -> str:
    return f"{'-':>8}" if x is None else fmt.format(x)


HEADER = (f"{'P':>4} {'ops':>5} {'cap':>4} {'rank':>4} {'discard':>8} {'fwd ms':>8} | {'backprop':>8} "
          f"{'ckpt':>8} {'adjoint':>8} {'p-shift':>8} {'FD loop':>8} {'PL mixed':>8} | {'FD/shift':>8} "
          f"{'FD/bp':>8} {'PL/bp':>8} {'grad err':>8}")


def print_row(r: dict) -> None:
    print(f"{r['P']:>4} {r['ops']:>5} {r['max_rank']:>4} {r['rank']:>4} {r['discarded']:8.1e} "
          f"{1e3 * r['forward_s']:8.2f} | {_f(r['backprop_ratio'])} "
          f"{_f(r['checkpoint_ratio'])} {_f(r['adjoint_ratio'])} {_f(r['parameter-shift_ratio'])} "
          f"{_f(r['finite_differences_ratio'])} "
          f"{_f(r['pennylane_ratio'])} | {_f(r['fd_over_parameter_shift'])} {_f(r['fd_over_backprop'])} "
          f"{_f(r['pennylane_over_backprop'])} {_f(r.get('grad_error_vs_pennylane'), '{:8.1e}')}", flush=True)


def _ram_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def depth_scaling(n: int, depths, max_rank: int, run_depth: int | None) -> list[dict]:
    """Compile time and XLA's planned memory of forward + gradient, backprop against adjoint, for
    the LRET paper family (depolarizing 1e-3 after every gate) at several depths. ``run_depth`` is
    also run, by each method whose planned memory fits 60% of this machine's RAM."""
    sys.path.insert(0, str(Path(__file__).parent))
    from families import lret_paper_circuit, paper_angles, with_gate_noise

    rows = []
    print(f"\nn = {n}, max_rank {max_rank}: compile (s) and planned memory (MB) of jax.grad")
    print(f"{'depth':>5} {'ops':>5} {'method':>9} {'fwd+grad compile':>17} {'grad memory MB':>15} "
          f"{'fwd s':>7} {'grad s':>7}")
    for depth in depths:
        circuit = with_gate_noise(lret_paper_circuit(n, depth, symbolic=True), "depolarizing", 1e-3)
        x = jnp.asarray(paper_angles(n, depth))
        for method in ("backprop", "adjoint"):
            f = expval_fn(circuit, {"Z0": 1.0, "Z1 Z2": 0.5}, max_rank=max_rank, diff_method=method)
            t = time.perf_counter()
            fwd = jax.jit(f).lower(x).compile()
            grad = jax.jit(jax.grad(f)).lower(x).compile()
            row = {"n": n, "depth": depth, "ops": len(circuit.ops), "method": method, "max_rank": max_rank,
                   "compile_s": time.perf_counter() - t}
            mem = grad.memory_analysis()
            row["grad_memory_bytes"] = int(mem.temp_size_in_bytes + mem.argument_size_in_bytes
                                           + mem.output_size_in_bytes)
            row["forward_memory_bytes"] = int(fwd.memory_analysis().temp_size_in_bytes)
            if depth == run_depth and row["grad_memory_bytes"] < 0.6 * _ram_bytes():
                for name, fn in (("forward", fwd), ("grad", grad)):
                    jax.block_until_ready(fn(x))
                    t = time.perf_counter()
                    jax.block_until_ready(fn(x))
                    row[f"{name}_s"] = time.perf_counter() - t
            rows.append(row)
            print(f"{depth:>5} {row['ops']:>5} {method:>9} {row['compile_s']:17.2f} "
                  f"{row['grad_memory_bytes'] / 2**20:15.1f} {_f(row.get('forward_s'), '{:7.2f}')} "
                  f"{_f(row.get('grad_s'), '{:7.2f}')}", flush=True)
    for method in ("backprop", "adjoint"):
        mem = [r["grad_memory_bytes"] for r in rows if r["method"] == method]
        print(f"{method}: memory at depth {depths[-1]} / depth {depths[0]} = {mem[-1] / mem[0]:.2f}")
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="gradient cost per method, as a multiple of one forward pass")
    ap.add_argument("--quick", action="store_true", help="6 wires, P = 8, 16")
    ap.add_argument("--wires", type=int, default=10)
    ap.add_argument("--params", type=int, nargs="+", default=[16, 64, 256])
    ap.add_argument("--p", type=float, default=1e-3, help="depolarizing probability")
    ap.add_argument("--max-rank", "--max-ranks", dest="max_ranks", type=int, nargs="+", default=[32],
                    help="rank caps; several give a sweep (PennyLane runs once per P)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pennylane-max", type=int, default=64, help="largest P run with PennyLane")
    ap.add_argument("--clock", choices=["wall", "process"], default="wall",
                    help="process: CPU time of this process, steadier than wall time on a shared machine")
    ap.add_argument("--x64", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--depths", type=int, nargs="+", help="instead: compile and memory against depth")
    ap.add_argument("--run-depth", type=int, default=None, help="with --depths: also time this depth")
    a = ap.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if a.clock == "process" else time.perf_counter
    if a.x64:
        jax.config.update("jax_enable_x64", True)
    if a.depths:
        n = 16 if a.wires == 10 else a.wires
        rows = depth_scaling(n, a.depths, a.max_ranks[0], a.run_depth)
        name = f"grad_depth_{platform.node() or 'machine'}.json"
        out = Path(a.out or Path(__file__).parent / "results" / name)
        out.write_text(json.dumps({"meta": {"jax": jax.__version__, "device": str(jax.devices()[0]),
                                            "command": " ".join(["python", "benchmarks/bench_grad.py",
                                                                 *(argv or sys.argv[1:])])},
                                   "rows": rows}, indent=2))
        print(f"wrote {out}")
        return
    n, sizes = (6, [8, 16]) if a.quick else (a.wires, a.params)
    print(f"hardware-efficient ansatz, {n} wires, depolarizing p={a.p}; columns after fwd: gradient "
          "time / forward time; grad err: max |backprop - PennyLane| / max |PennyLane|")
    print(HEADER)
    meta = {
        "machine": platform.node(), "processor": platform.processor() or platform.machine(),
        "jax": jax.__version__, "device": str(jax.devices()[0]), "x64": bool(a.x64),
        # lretjax asks for HIGHEST itself; PennyLane's einsums follow this (TF32 on GPUs if unset)
        "default_matmul_precision": jax.config.jax_default_matmul_precision,
        "clock": a.clock, "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "command": " ".join(["python", "benchmarks/bench_grad.py", *(argv or sys.argv[1:])]),
    }
    name = f"grad_{platform.node() or 'machine'}{'_quick' * a.quick}.json"
    out = Path(a.out or Path(__file__).parent / "results" / name)
    out.parent.mkdir(parents=True, exist_ok=True)
    def save(rows):
        out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))

    run(n, sizes, a.p, a.max_ranks, a.repeats, a.pennylane_max, save)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
