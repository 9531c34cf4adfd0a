"""lretjax against noisy statevector trajectories where no exact density matrix fits (n = 16..20).

Same circuit family as bench_vs_density_matrix.py (LRET paper: random rotations, CZ brickwork,
a one-wire channel after every gate). Two quantities: <Z_i Z_j> on the middle pair, and the
global fidelity to the noiseless state F = <psi|rho|psi>.

- lretjax is deterministic: |estimate - exact| <= ||O|| * discarded for ||O|| <= 1 (the dropped
  weight bounds the trace norm of rho - L L^dagger; channels do not increase it).
- Qiskit Aer ``statevector`` with the channels as Aer errors (depolarizing as a Pauli mixture),
  ``shots`` trajectories; <ZZ> and F (by echo: the noiseless inverse circuit, then the probability
  of |0...0>) per shot, so the error is the 1-sigma standard error std/sqrt(shots).
- qsimcirq (if installed): <ZZ> by ``ev_noisy_repetitions`` in batches (error from the spread of
  batch means), F by echo and sampling all-zeros.

Time to reach a target accuracy is measured for lretjax (fastest epsilon whose bound meets it)
and extrapolated for trajectories (shots needed = (std/target)^2, at the measured time per shot).

    python benchmarks/bench_vs_trajectories.py            # n = 16, 18, 20
    python benchmarks/bench_vs_trajectories.py --quick    # n = 16
    python benchmarks/bench_vs_trajectories.py --tiny     # CI: n = 4

Writes benchmarks/results/vs_trajectories_<machine>.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_vs_density_matrix import (  # noqa: E402
    NOISES,
    Recorder,
    build_circuit,
    machine_meta,
    maxrss_mb,
    run_worker,
)

TOOLS = ("lretjax", "aer", "qsim")
TARGETS = (1e-2, 1e-3)


def _pair(n: int) -> tuple[int, int]:
    return n // 2 - 1, n // 2


def _noiseless(circuit):
    from lretjax import Circuit

    return Circuit(circuit.num_wires, [op for op in circuit.ops if not op.is_channel])


def _stats(values) -> tuple[float, float, float]:
    """Mean, per-sample std and standard error of the mean."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    std = float(v.std(ddof=1)) if v.size > 1 else float("nan")
    return float(v.mean()), std, std / math.sqrt(v.size)


def _lret(spec, circuit, rec) -> None:
    import jax

    import lretjax as lj

    i, j = _pair(circuit.num_wires)
    ideal = lj.simulate(_noiseless(circuit), max_rank=1)

    def run():
        s = lj.simulate(circuit, max_rank=spec["max_rank"], epsilon=spec["epsilon"])
        zz = lj.expval(s, f"Z{i} Z{j}")
        f = lj.fidelity(s, ideal)
        return jax.block_until_ready((s, zz, f))

    t0 = time.perf_counter()
    run()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    s, zz, f = run()
    rec(first_seconds=first, seconds=time.perf_counter() - t0, peak_mb=maxrss_mb(), rank=int(s.rank),
        discarded=float(s.discarded), zz=float(zz), fidelity=float(f),
        zz_error=float(s.discarded), fidelity_error=float(s.discarded), error_kind="bound")


def _aer(spec, circuit, rec) -> None:
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import Pauli
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import amplitude_damping_error, depolarizing_error

    n = circuit.num_wires
    i, j = _pair(n)
    qc, ideal = QuantumCircuit(n), QuantumCircuit(n)
    for op in circuit.ops:  # wire w -> qubit w; <ZZ> and F do not depend on the bit order
        if op.name == "depolarizing":
            qc.append(depolarizing_error(4 * float(op.params[0]) / 3, 1), list(op.wires))  # lam = 4p/3
        elif op.name == "amplitude_damping":
            qc.append(amplitude_damping_error(float(op.params[0])), list(op.wires))
        else:
            for c in (qc, ideal):
                getattr(c, op.name)(*[float(x) for x in op.params], *op.wires)
    qc.save_expectation_value(Pauli("ZZ"), [i, j], pershot=True, label="zz")
    qc.compose(ideal.inverse(), inplace=True)
    qc.save_amplitudes_squared([0], pershot=True, label="f")
    sim = AerSimulator(method="statevector", max_parallel_threads=os.cpu_count(),
                       precision="double" if spec.get("x64") else "single")
    sim.run(qc, shots=2, seed_simulator=1).result()  # warm-up (transpile caches, thread pools)
    t0 = time.perf_counter()
    data = sim.run(qc, shots=spec["shots"], seed_simulator=spec["seed"]).result().data()
    secs = time.perf_counter() - t0
    zz, zz_std, zz_err = _stats(data["zz"])
    f, f_std, f_err = _stats([x[0] for x in data["f"]])
    rec(seconds=secs, peak_mb=maxrss_mb(), shots=spec["shots"], zz=zz, zz_std=zz_std, zz_error=zz_err,
        fidelity=f, fidelity_std=f_std, fidelity_error=f_err, error_kind="stderr")


def _qsim(spec, circuit, rec) -> None:
    import cirq
    import numpy as np
    import qsimcirq

    n = circuit.num_wires
    i, j = _pair(n)
    qs = cirq.LineQubit.range(n)
    gates = {"rx": cirq.rx, "ry": cirq.ry, "rz": cirq.rz}
    noisy, ideal = [], []
    for op in circuit.ops:
        on = [qs[w] for w in op.wires]
        if op.name == "depolarizing":
            noisy.append(cirq.depolarize(float(op.params[0])).on(*on))  # same convention as lretjax
        elif op.name == "amplitude_damping":
            noisy.append(cirq.amplitude_damp(float(op.params[0])).on(*on))
        else:
            g = cirq.CZ.on(*on) if op.name == "cz" else gates[op.name](float(op.params[0])).on(*on)
            noisy.append(g)
            ideal.append(g)
    noisy_c, ideal_c = cirq.Circuit(noisy), cirq.Circuit(ideal)
    echo = noisy_c + cirq.inverse(ideal_c) + cirq.Circuit(cirq.measure(*qs, key="m"))
    obs = cirq.Z(qs[i]) * cirq.Z(qs[j])
    batches, shots = spec["batches"], spec["shots"]
    per = max(1, shots // batches)
    threads = os.cpu_count() or 1

    def sim(seed, reps=1):
        opts = qsimcirq.QSimOptions(cpu_threads=threads, ev_noisy_repetitions=reps)
        return qsimcirq.QSimSimulator(qsim_options=opts, seed=seed)

    sim(0).simulate_expectation_values(noisy_c, [obs])  # warm-up
    t0 = time.perf_counter()
    means = [sim(spec["seed"] + b, per).simulate_expectation_values(noisy_c, [obs])[0].real
             for b in range(batches)]
    t_zz = time.perf_counter() - t0
    t0 = time.perf_counter()
    bits = sim(spec["seed"]).run(echo, repetitions=per * batches).measurements["m"]
    t_f = time.perf_counter() - t0
    zz, bstd, zz_err = _stats(means)
    zeros = (~bits.any(axis=1)).astype(float)
    f = float(zeros.mean())
    f_std = float(np.sqrt(max(f * (1 - f), 0.0)))
    rec(seconds=t_zz + t_f, zz_seconds=t_zz, fidelity_seconds=t_f, peak_mb=maxrss_mb(),
        shots=per * batches, zz=zz, zz_std=bstd * math.sqrt(per), zz_error=zz_err,
        fidelity=f, fidelity_std=f_std, fidelity_error=f_std / math.sqrt(per * batches),
        error_kind="stderr")


def worker(spec: dict) -> None:
    rec = Recorder(spec["result"])
    rec(tool=spec["tool"], status="running")
    if spec["tool"] == "lretjax":
        import jax

        jax.config.update("jax_enable_x64", bool(spec.get("x64")))
    circuit = build_circuit(spec["n"], spec["depth"], spec["seed"], spec["channel"], spec["p"])
    rec(baseline_mb=maxrss_mb(), ops=len(circuit.ops))
    {"lretjax": _lret, "aer": _aer, "qsim": _qsim}[spec["tool"]](spec, circuit, rec)
    rec(status="ok")


def time_to_target(res: dict, target: float, what: str) -> float | None:
    """Seconds to reach ``target`` error on ``what`` ("zz" or "fidelity"): measured for a
    deterministic run whose bound meets it, extrapolated as (std/target)^2 shots for trajectories."""
    if res.get("status") != "ok":
        return None
    if res["error_kind"] == "bound":
        return res["seconds"] if res[f"{what}_error"] <= target else None
    std = res.get(f"{what}_std")
    if std is None or not math.isfinite(std) or std == 0.0:
        return None  # no error event in any trajectory: the spread is not resolved by these shots
    secs = res.get(f"{what}_seconds", res["seconds"])
    shots_needed = max(1.0, (std / target) ** 2)
    return secs / res["shots"] * shots_needed


def run_cases(a) -> list[dict]:
    script = Path(__file__).resolve()
    rows = []
    for n in a.sizes:
        channel, p = NOISES[a.noise]
        base = {"n": n, "depth": a.depth, "seed": n, "channel": channel, "p": p, "x64": a.x64}
        results = {}
        for eps in a.epsilons:
            results[f"lretjax eps={eps:g}"] = run_worker(
                script, {**base, "tool": "lretjax", "epsilon": eps, "max_rank": a.max_rank},
                a.timeout, a.mem_gb)
        for tool in a.tools:
            if tool != "lretjax":
                results[tool] = run_worker(script, {**base, "tool": tool, "shots": a.shots,
                                                    "batches": a.batches}, a.timeout, a.mem_gb)
        ref = min((r for k, r in results.items() if k.startswith("lretjax") and r.get("status") == "ok"),
                  key=lambda r: r["discarded"], default=None)
        for name, r in results.items():
            row = {"n": n, "depth": a.depth, "noise": a.noise, "tool": name,
                   **{k: r.get(k) for k in ("status", "seconds", "first_seconds", "peak_mb", "rank",
                                            "discarded", "shots", "zz", "zz_error", "fidelity",
                                            "fidelity_error", "error_kind", "zz_std", "fidelity_std",
                                            "zz_seconds", "fidelity_seconds")}}
            for what in ("zz", "fidelity"):
                row[f"{what}_seconds_to"] = {f"{t:g}": time_to_target(r, t, what) for t in TARGETS}
                if ref is not None and r.get("status") == "ok":
                    # agreement with the tightest lretjax run, in units of the combined error
                    err = math.hypot(r[f"{what}_error"], ref[f"{what}_error"]) or float("nan")
                    row[f"{what}_deviation_from_lretjax"] = abs(r[what] - ref[what]) / err
            rows.append(row)
            _print(row)
    return rows


def _f(x, spec):
    return "-" if x is None else format(x, spec)


HEADER = (f"{'n':>3} {'tool':>18} {'seconds':>8} {'<ZZ>':>9} {'+-':>8} {'F':>8} {'+-':>8} "
          f"{'t(ZZ,1e-2)':>10} {'t(ZZ,1e-3)':>10} {'t(F,1e-3)':>10}")


def _print(r) -> None:
    if r["status"] != "ok":
        print(f"{r['n']:>3} {r['tool']:>18} {r['status']:>8}", flush=True)
        return
    t = r["zz_seconds_to"]
    print(f"{r['n']:>3} {r['tool']:>18} {r['seconds']:>8.2f} {r['zz']:>9.5f} {r['zz_error']:>8.1e} "
          f"{r['fidelity']:>8.5f} {r['fidelity_error']:>8.1e} {_f(t['0.01'], '>10.2f')} "
          f"{_f(t['0.001'], '>10.2f')} {_f(r['fidelity_seconds_to']['0.001'], '>10.2f')}", flush=True)


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tiny", action="store_true")
    ap.add_argument("--sizes", type=int, nargs="+")
    ap.add_argument("--depth", type=int, default=None)
    ap.add_argument("--noise", choices=list(NOISES), default=None, help="default dep1e-3 (tiny: dep1e-2)")
    ap.add_argument("--epsilons", type=float, nargs="+", default=[1e-3, 1e-4])
    ap.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    ap.add_argument("--shots", type=int, default=None, help="trajectories per peer")
    ap.add_argument("--batches", type=int, default=8, help="qsim: batches for the error estimate")
    ap.add_argument("--max-rank", type=int, default=256)
    ap.add_argument("--timeout", type=float, default=None)
    ap.add_argument("--mem-gb", type=float, default=8.0)
    ap.add_argument("--x64", action="store_true")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    if a.tiny:
        sizes, depth, shots, timeout = [4], 2, 64, 120.0
        a.epsilons = a.epsilons[:1]
        a.noise = a.noise or "dep1e-2"  # error events in a few dozen trajectories
    elif a.quick:
        sizes, depth, shots, timeout = [16], 6, 64, 240.0
    else:
        sizes, depth, shots, timeout = [16, 18, 20], 8, 256, 1200.0
    a.noise = a.noise or "dep1e-3"
    a.sizes, a.depth = a.sizes or sizes, a.depth or depth
    a.shots, a.timeout = a.shots or shots, a.timeout or timeout
    import importlib.util

    need = {"lretjax": "lretjax", "aer": "qiskit_aer", "qsim": "qsimcirq"}
    a.tools = [t for t in a.tools if importlib.util.find_spec(need[t]) is not None]
    return a


def main(argv=None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parse(argv)
    if a.worker:
        worker(json.loads(a.worker))
        return {}
    meta = machine_meta(argv, "bench_vs_trajectories.py")
    meta.update(depth=a.depth, noise=a.noise, tools=a.tools, shots=a.shots, timeout_s=a.timeout,
                targets=list(TARGETS), precision="double" if a.x64 else "single")
    print(f"# load average {meta['loadavg_start']} on {meta['cores']} cores; depth {a.depth}; "
          f"noise {a.noise}; {a.shots} trajectories per peer; errors: lretjax bound, peers 1-sigma")
    print(HEADER)
    rows = run_cases(a)
    meta["loadavg_end"] = list(os.getloadavg())
    tag = "_tiny" if a.tiny else ("_quick" if a.quick else "")
    out = Path(a.out or HERE / "results" / f"vs_trajectories_{platform.node() or 'machine'}{tag}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"meta": meta, "rows": rows}
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
