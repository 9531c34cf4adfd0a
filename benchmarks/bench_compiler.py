"""Compiler benchmark on the Nam suite: gate and CX reduction per level, routing SWAPs, vs Qiskit L3.

For each circuit of ../shared/benchmarks/nam (34 circuits, gates h, x, rz, cx):
- gates and CX before and after lretjax levels 1-3 and Qiskit ``transpile(optimization_level=3)``
  (basis u3, cx: the setting of the published 12.2% / 2.1%), with compile times;
- SWAPs inserted when mapping onto IBM Eagle-127, IBM Heron r2-156 and Google Sycamore-54,
  lretjax ``compile(level=3, topology=...)`` beside Qiskit level 3 (SWAPs counted after its
  layout and routing, before they are translated to CX);
- every lretjax output checked equivalent to its input, up to global phase and, after routing,
  up to the final layout: on a random state (NumPy state vector) up to ``--verify-max`` wires,
  beyond that on 4 random basis states followed sparsely (these reversible circuits keep them
  sparse) with one global phase for all; a circuit whose sparse state outgrows 2^14 terms is
  marked unverified.

    python benchmarks/bench_compiler.py            # everything (tens of minutes on 2 cores)
    python benchmarks/bench_compiler.py --quick    # circuits up to 500 gates, fewer trials

Writes benchmarks/results/compiler_<machine>.json (``compiler_<machine>_quick.json`` with
--quick). Qiskit is optional: without it, its columns are empty.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import re
import sys
import time

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from lretjax.compiler import Routed, Topology, analyze, compile  # noqa: E402
from lretjax.io import qasm2  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
NAM = ROOT.parent / "shared" / "benchmarks" / "nam"
TOPOLOGIES = ("ibm_eagle_127", "ibm_heron_r2_156", "google_sycamore_54")


# -- a plain state-vector simulator for the equivalence checks ------------------------------------


def _matrix(op, cache: dict) -> np.ndarray:
    key = (op.name, op.kind, tuple(float(np.asarray(p)) for p in op.params)) if op.kind == "gate" else None
    if key is None:
        return np.asarray(op.matrix(), dtype=complex)
    if key not in cache:
        cache[key] = np.asarray(op.matrix(), dtype=complex)
    return cache[key]


def run_states(circuit, psi: np.ndarray) -> np.ndarray:
    """Columns of psi (2^n, b) evolved by the (noise-free) circuit; wire 0 = most significant."""
    n = circuit.num_wires
    b = psi.shape[1]
    t = np.array(psi, dtype=complex).reshape((2,) * n + (b,))
    cache: dict = {}
    for op in circuit.ops:
        if op.is_channel:
            raise ValueError("the benchmark verifies noise-free circuits only")
        if op.kind == "gate" and op.name == "cx":
            c, x = op.wires
            v = np.moveaxis(t, (c, x), (0, 1))
            v[1] = v[1, ::-1].copy()
            continue
        if op.kind == "gate" and op.name == "swap":
            t = np.swapaxes(t, *op.wires).copy()
            continue
        u = _matrix(op, cache)
        if len(op.wires) == 1:
            v = np.moveaxis(t, op.wires[0], 0)
            if abs(u[0, 1]) == 0 and abs(u[1, 0]) == 0:
                v[0] *= u[0, 0]
                v[1] *= u[1, 1]
            else:
                a0, a1 = v[0].copy(), v[1]
                v[0] = u[0, 0] * a0 + u[0, 1] * a1
                v[1] = u[1, 0] * a0 + u[1, 1] * a1
            continue
        k = len(op.wires)
        out = np.tensordot(u.reshape((2,) * (2 * k)), t, axes=(list(range(k, 2 * k)), list(op.wires)))
        t = np.moveaxis(out, list(range(k)), list(op.wires))
    return t.reshape(2**n, b)


def phase_distance(a: np.ndarray, b: np.ndarray) -> float:
    k = np.unravel_index(np.argmax(np.abs(b)), b.shape)
    ph = a[k] / b[k]
    ph = ph / abs(ph)
    return float(np.max(np.abs(a - ph * b)) / np.max(np.abs(b)))  # relative to the largest amplitude


def random_states(n: int, b: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    psi = rng.normal(size=(2**n, b)) + 1j * rng.normal(size=(2**n, b))
    return psi / np.linalg.norm(psi, axis=0)


def embed(psi: np.ndarray, layout, wires) -> np.ndarray:
    index = {p: i for i, p in enumerate(wires)}
    n, m, b = len(layout), len(wires), psi.shape[1]
    full = np.zeros((2**n, 2 ** (m - n), b), dtype=complex)
    full[:, 0, :] = psi
    t = np.moveaxis(full.reshape((2,) * m + (b,)), list(range(n)), [index[p] for p in layout])
    return t.reshape(2**m, b)


def check_optimized(original, compiled, expected, psi) -> float:
    return phase_distance(run_states(compiled, psi), expected)


def check_routed(original_out: np.ndarray, psi: np.ndarray, routed: Routed) -> float:
    small, wires = routed.restrict()
    got = run_states(small, embed(psi, routed.initial_layout, wires))
    return phase_distance(got, embed(original_out, routed.final_layout, wires))


# -- sparse check for circuits too wide for a state vector ----------------------------------------
# Reversible circuits with a few Hadamards keep basis states sparse, so the action on random
# basis states (one global phase for all of them) can be followed on 30-100 wires.

SPARSE_CAP = 1 << 14


def run_sparse(circuit, state: dict, cache: dict, cap: int = SPARSE_CAP):
    """Evolve {basis index: amplitude} (wire 0 = most significant bit); None past ``cap`` terms."""
    n = circuit.num_wires
    for op in circuit.ops:
        bits = [1 << (n - 1 - w) for w in op.wires]
        name = op.name if op.kind == "gate" else None
        if name == "x":
            state = {k ^ bits[0]: a for k, a in state.items()}
        elif name == "cx":
            c, t = bits
            state = {(k ^ t if k & c else k): a for k, a in state.items()}
        elif name == "swap":
            b0, b1 = bits
            state = {(k ^ b0 ^ b1 if bool(k & b0) != bool(k & b1) else k): a for k, a in state.items()}
        elif len(bits) == 1 and not op.is_channel:
            u, b = _matrix(op, cache), bits[0]
            if u[0, 1] == 0 and u[1, 0] == 0:
                state = {k: a * (u[1, 1] if k & b else u[0, 0]) for k, a in state.items()}
                continue
            new: dict = {}
            for k, a in state.items():
                v = 1 if k & b else 0
                for out, kk in ((0, k & ~b), (1, k | b)):
                    amp = u[out, v] * a
                    if amp != 0:
                        new[kk] = new.get(kk, 0) + amp
            state = {k: a for k, a in new.items() if abs(a) > 1e-13}
            if len(state) > cap:
                return None
        else:
            return None
    return state


def _move_bits(k: int, layout, n: int, m: int) -> int:
    """Basis index of n logical wires placed on physical wires layout[q] of an m-wire register."""
    out = 0
    for q in range(n):
        if k >> (n - 1 - q) & 1:
            out |= 1 << (m - 1 - layout[q])
    return out


def sparse_check(original, compiled, inputs, routed: Routed | None = None):
    """Worst amplitude error over basis-state inputs, or None when a state grew too large."""
    n, cache, phase, worst = original.num_wires, {}, None, 0.0
    for k in inputs:
        a = run_sparse(original, {k: 1.0}, cache)
        if a is None:
            return None
        if routed is not None:
            m = compiled.num_wires
            a = {_move_bits(x, routed.final_layout, n, m): v for x, v in a.items()}
            k = _move_bits(k, routed.initial_layout, n, m)
        b = run_sparse(compiled, {k: 1.0}, cache)
        if b is None:
            return None
        if phase is None:
            top = max(a, key=lambda x: abs(a[x]))
            phase = b.get(top, 0) / a[top]
        worst = max(worst, max(abs(b.get(x, 0) - phase * a.get(x, 0)) for x in set(a) | set(b)))
    return float(worst)


def random_basis(n: int, count: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return [int.from_bytes(rng.bytes((n + 7) // 8), "big") % (1 << n) for _ in range(count)]


# -- Qiskit -------------------------------------------------------------------------------------


def qiskit_optimize(path: pathlib.Path):
    from qiskit import QuantumCircuit, transpile

    qc = QuantumCircuit.from_qasm_file(str(path))
    t = time.perf_counter()
    out = transpile(qc, basis_gates=["u3", "cx"], optimization_level=3, seed_transpiler=0)
    dt = time.perf_counter() - t
    ops = out.count_ops()
    return sum(ops.values()), ops.get("cx", 0), dt


def qiskit_swaps(path: pathlib.Path, topo: Topology):
    from qiskit import QuantumCircuit
    from qiskit.transpiler import CouplingMap, generate_preset_pass_manager

    qc = QuantumCircuit.from_qasm_file(str(path))
    cm = CouplingMap([list(e) for e in topo.edges] + [[b, a] for a, b in topo.edges])
    pm = generate_preset_pass_manager(optimization_level=3, coupling_map=cm, seed_transpiler=0)
    most = [0]

    def callback(pass_, dag, **_):
        # The input has no SWAP; routing inserts them, later stages translate them to CX.
        most[0] = max(most[0], dag.count_ops().get("swap", 0))

    t = time.perf_counter()
    pm.run(qc, callback=callback)
    return most[0], time.perf_counter() - t


def have_qiskit() -> bool:
    try:
        import qiskit  # noqa: F401
    except ImportError:
        return False
    return True


# -- main ---------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="circuits up to 500 gates, fewer trials")
    ap.add_argument("--max-gates", type=int, default=None, help="skip circuits with more gates")
    ap.add_argument("--only", default=None, help="regular expression on circuit names")
    ap.add_argument("--verify-max", type=int, default=20, help="widest circuit verified by state vector")
    ap.add_argument("--trials", type=int, default=None, help="routing trials (default 16, quick 4)")
    ap.add_argument("--no-routing", action="store_true")
    ap.add_argument("--no-qiskit", action="store_true")
    ap.add_argument("--machine", default=platform.node() or "unknown")
    args = ap.parse_args(argv)
    max_gates = args.max_gates if args.max_gates is not None else (500 if args.quick else 10**9)
    trials = args.trials or (4 if args.quick else 16)
    use_qiskit = have_qiskit() and not args.no_qiskit

    # Warm up jnp (U3 synthesis) so the first circuit's level-3 time is not JAX start-up.
    from lretjax import Circuit

    compile(Circuit(2).h(0).t(0).cx(0, 1), level=3)
    paths = sorted(NAM.glob("*.qasm"))
    if args.only:
        paths = [p for p in paths if re.search(args.only, p.stem)]
    rows, routing = [], []
    topologies = [] if args.no_routing else [Topology.load(t) for t in TOPOLOGIES]
    print(f"{'circuit':16} {'n':>3} {'gates':>6} {'cx':>5} | " + " | ".join(
        f"L{lv} gates   cx    s" for lv in (1, 2, 3)) + " | qiskit L3 gates  cx     s | verified")
    for path in paths:
        c = qasm2.load(str(path))
        before = analyze(c)
        if before.num_gates > max_gates:
            continue
        row = {"circuit": path.stem, "wires": c.num_wires, "gates": before.num_gates, "cx": before.two_wire}
        verify = c.num_wires <= args.verify_max
        psi = random_states(c.num_wires, 1, 0) if verify else None
        expected = run_states(c, psi) if verify else None
        inputs = random_basis(c.num_wires, 4, 0)
        worst, method = 0.0, "state vector" if verify else "basis states"
        for level in (1, 2, 3):
            t = time.perf_counter()
            out = compile(c, level=level)
            dt = time.perf_counter() - t
            s = analyze(out)
            row[f"L{level}"] = {"gates": s.num_gates, "cx": s.two_wire, "seconds": dt}
            err = check_optimized(c, out, expected, psi) if verify else sparse_check(c, out, inputs)
            row[f"L{level}"]["error"] = err
            worst = None if worst is None or err is None else max(worst, err)
        row["verified"] = bool(worst is not None and worst < 1e-8)
        row["verified_by"] = method if worst is not None else None
        row["max_error"] = worst
        if use_qiskit:
            g, x, dt = qiskit_optimize(path)
            row["qiskit_L3"] = {"gates": g, "cx": x, "seconds": dt}
        rows.append(row)
        q = row.get("qiskit_L3", {"gates": "-", "cx": "-", "seconds": float("nan")})
        print(f"{path.stem:16} {c.num_wires:3} {row['gates']:6} {row['cx']:5} | " + " | ".join(
            f"{row[f'L{lv}']['gates']:8} {row[f'L{lv}']['cx']:5} {row[f'L{lv}']['seconds']:5.2f}"
            for lv in (1, 2, 3)) + f" | {q['gates']:>15} {q['cx']:>4} {q['seconds']:5.2f} | "
            + (method if row["verified"] else "no (too large)" if worst is None else f"FAIL {worst:.1e}"),
            flush=True)

        for topo in topologies:
            if c.num_wires > topo.num_qubits:
                routing.append({"circuit": path.stem, "topology": topo.name, "skipped": "too few qubits"})
                continue
            t = time.perf_counter()
            r = compile(c, level=3, topology=topo, trials=trials)
            dt = time.perf_counter() - t
            entry = {"circuit": path.stem, "topology": topo.name, "swaps": r.num_swaps, "seconds": dt,
                     "cx_after": analyze(r.circuit).two_wire - sum(op.name == "swap" for op in r.circuit.ops)}
            active = len(r.active_wires())
            if verify and active <= args.verify_max:
                entry["error"], entry["verified_by"] = check_routed(expected, psi, r), "state vector"
            else:
                entry["error"] = sparse_check(c, r.circuit, inputs, routed=r)
                entry["verified_by"] = "basis states" if entry["error"] is not None else None
            entry["verified"] = bool(entry["error"] is not None and entry["error"] < 1e-8)
            if use_qiskit:
                qs, qdt = qiskit_swaps(path, topo)
                entry["qiskit_swaps"], entry["qiskit_seconds"] = qs, qdt
            routing.append(entry)
            qsec = entry.get("qiskit_seconds", float("nan"))
            print(f"    {topo.name:20} swaps {r.num_swaps:6} ({dt:6.2f} s)   qiskit L3 "
                  f"{entry.get('qiskit_swaps', '-'):>6} ({qsec:6.2f} s)   verified {entry['verified']}",
                  flush=True)

    total = {"gates": sum(r["gates"] for r in rows), "cx": sum(r["cx"] for r in rows)}
    summary = {"circuits": len(rows), "before": total}
    print("\nTotals over", len(rows), "circuits: gates", total["gates"], "cx", total["cx"])
    for key in ("L1", "L2", "L3", "qiskit_L3"):
        if not rows or key not in rows[0]:
            continue
        g = sum(r[key]["gates"] for r in rows)
        x = sum(r[key]["cx"] for r in rows)
        sec = sum(r[key]["seconds"] for r in rows)
        summary[key] = {"gates": g, "cx": x, "gate_reduction": 1 - g / total["gates"],
                        "cx_reduction": 1 - x / total["cx"], "seconds": sec}
        print(f"  {key:10} gates {g:7} ({100 * (1 - g / total['gates']):5.1f}% fewer)  cx {x:7} "
              f"({100 * (1 - x / total['cx']):5.1f}% fewer)  compile {sec:7.2f} s")
    for topo in topologies:
        done = [e for e in routing if e["topology"] == topo.name and "swaps" in e]
        if not done:
            continue
        ours = sum(e["swaps"] for e in done)
        line = f"  {topo.name:20} swaps ours {ours:7}"
        summary[f"swaps_{topo.name}"] = {"ours": ours, "circuits": len(done),
                                         "ours_seconds": sum(e["seconds"] for e in done)}
        if use_qiskit:
            theirs = sum(e["qiskit_swaps"] for e in done)
            summary[f"swaps_{topo.name}"].update(
                qiskit=theirs, ratio=ours / max(theirs, 1),
                qiskit_seconds=sum(e["qiskit_seconds"] for e in done))
            line += f"  qiskit L3 {theirs:7}  ratio {ours / max(theirs, 1):.3f}"
        print(line)
    verified = sum(r["verified"] for r in rows)
    failed = [r["circuit"] for r in rows if r["max_error"] is not None and r["max_error"] >= 1e-8]
    failed += [f"{e['circuit']}@{e['topology']}" for e in routing if (e.get("error") or 0) >= 1e-8]
    routed_ok = sum(e.get("verified", False) for e in routing)
    print(f"  verified {routed_ok}/{sum('swaps' in e for e in routing)} routed circuits")
    print(f"  verified {verified}/{len(rows)} optimized circuits (state vector or basis states); "
          f"failures: {failed or 'none'}")

    out = {
        "benchmark": "compiler_nam",
        "machine": args.machine,
        "command": "python benchmarks/bench_compiler.py" + (" --quick" if args.quick else ""),
        "argv": sys.argv[1:] if argv is None else list(argv),
        "jax": jax.__version__,
        "qiskit": __import__("qiskit").__version__ if use_qiskit else None,
        "routing_trials": trials,
        "summary": summary,
        "circuits": rows,
        "routing": routing,
        "failures": failed,
    }
    label = re.sub(r"[^A-Za-z0-9_.-]", "_", args.machine) + ("_quick" if args.quick else "")
    dest = ROOT / "benchmarks" / "results" / f"compiler_{label}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=1))
    print("wrote", dest.relative_to(ROOT))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
