"""lretjax against the exact density-matrix simulators users would pick instead, in one run.

The LRET paper's family (Chen, Farquhar & Parrish, npj QI 7:61, 2021): n wires, D layers of
random RX/RY/RZ and CZ brickwork, a one-wire channel after every gate on each wire it touched
(depolarizing p = 1e-3 and 1e-2, amplitude damping). Peers: Qiskit Aer ``density_matrix``,
Cirq ``DensityMatrixSimulator``, PennyLane ``default.mixed`` (NumPy, and JAX under ``jax.jit``).

    python benchmarks/bench_vs_density_matrix.py            # n = 8..14, the issue's grid
    python benchmarks/bench_vs_density_matrix.py --quick    # n = 8, 10: minutes
    python benchmarks/bench_vs_density_matrix.py --tiny     # CI: n = 3, seconds

Every case runs in its own subprocess (``--worker``), so that peak memory is the subprocess's
``ru_maxrss`` (native allocations included) and a case over its time or memory budget is killed
and recorded as "timeout" / "memory" instead of hanging. Times: the first run (compilation
included) and, where the first run took under ``--rerun-below`` seconds, the median of warm
re-runs. Distortion of lretjax (trace distance, fidelity) is computed inside each exact peer's
worker against the saved factor L, and taken from the fastest exact peer. Up to ``--td-max`` wires
the peer also diagonalises rho, which gives the floor: the least trace distance any state of
lretjax's rank could reach, and the least rank for each of ``TD_TARGETS``. Writes
benchmarks/results/vs_density_matrix_<machine>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = ("aer", "cirq", "pennylane", "pennylane-jax")
NOISES = {
    "dep1e-3": ("depolarizing", 1e-3),
    "dep1e-2": ("depolarizing", 1e-2),
    "ad1e-2": ("amplitude_damping", 1e-2),
}


# ---------------------------------------------------------------- subprocess machinery (shared)

def machine_meta(argv, script: str) -> dict:
    """Machine, versions, load and command, for the JSON meta."""
    import importlib.metadata as md

    versions = {}
    for pkg in ("jax", "numpy", "qiskit", "qiskit-aer", "pennylane", "cirq-core", "qsimcirq"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    import importlib.util

    spec = importlib.util.find_spec("lretjax")
    try:
        head = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        head = None
    return {
        "lretjax_from": spec.origin if spec else None, "git_head": head,
        "machine": platform.node(), "processor": platform.processor() or platform.machine(),
        "cores": os.cpu_count(), "python": platform.python_version(), "versions": versions,
        "loadavg_start": list(os.getloadavg()),
        "command": " ".join(["python", f"benchmarks/{script}", *argv]),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run_worker(script: Path, spec: dict, timeout: float, mem_gb: float) -> dict:
    """Run ``script --worker`` on ``spec`` in a subprocess under a time and memory budget.

    The worker writes its result JSON to a file as it goes; whatever it wrote before a kill is
    kept, with ``status`` set to "timeout" or "memory".
    """
    import psutil

    with tempfile.NamedTemporaryFile("r", suffix=".json", delete=False) as f:
        result_path = f.name
    spec = {**spec, "result": result_path}
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(
        [sys.executable, str(script), "--worker", json.dumps(spec)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    ps = psutil.Process(proc.pid)
    t0, status, peak_rss = time.perf_counter(), None, 0
    while proc.poll() is None:
        try:
            rss = ps.memory_info().rss
        except psutil.Error:
            rss = 0
        peak_rss = max(peak_rss, rss)
        if rss > mem_gb * 2**30:
            status = "memory"
        elif time.perf_counter() - t0 > timeout:
            status = "timeout"
        if status:
            proc.kill()
            break
        time.sleep(0.1)
    out, _ = proc.communicate()
    try:
        with open(result_path) as f:
            res = json.load(f)
    except (OSError, ValueError):
        res = {}
    os.unlink(result_path)
    if status is None and proc.returncode != 0:
        status = "error"
        res["error_tail"] = out[-2000:]
    res["status"] = status or res.get("status", "ok")
    res["wall_seconds"] = time.perf_counter() - t0
    res["polled_peak_mb"] = peak_rss / 2**20
    return res


class Recorder:
    """The worker's result file, rewritten after every step (so a kill keeps what was done)."""

    def __init__(self, path: str):
        self.path, self.data = path, {}

    def __call__(self, **kw):
        self.data.update(kw)
        with open(self.path, "w") as f:
            json.dump(self.data, f)


def maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def timed_runs(fn, rerun_below: float, repeats: int, rec: Recorder, compiled: bool = False):
    """First run (compile included), then warm re-runs: ``repeats`` if the first was short, else
    one for a ``compiled`` tool (its first run is mostly compilation) and none for the others."""
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    rec(first_seconds=first, seconds=first, peak_mb=maxrss_mb())
    reruns = repeats if first < rerun_below else int(compiled)
    if reruns > 0:
        times = []
        for _ in range(reruns):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        rec(seconds=statistics.median(times), warm_runs=len(times))
    rec(peak_mb=maxrss_mb())
    return out


# ------------------------------------------------------------------------------ the circuits

def build_circuit(n: int, depth: int, seed: int, channel: str, p: float):
    sys.path.insert(0, str(HERE))
    from families import lret_paper_circuit, with_gate_noise

    return with_gate_noise(lret_paper_circuit(n, depth, seed), channel, p)


def _from_qiskit_order(rho, n: int):
    """Reorder a Qiskit density matrix (qubit 0 = low bit) to lretjax's order (wire 0 = high bit)."""
    import numpy as np

    axes = list(range(n))[::-1]
    t = np.asarray(rho).reshape((2,) * (2 * n)).transpose(axes + [n + a for a in axes])
    return t.reshape(2**n, 2**n)


def peer_density_matrix(tool: str, circuit, threads: int, single: bool):
    """A function that runs ``circuit`` on peer ``tool`` and returns rho in lretjax's order."""
    import numpy as np

    n = circuit.num_wires
    if tool == "aer":
        from qiskit_aer import AerSimulator

        from lretjax.io.qiskit import to_qiskit

        qc = to_qiskit(circuit)
        qc.save_density_matrix()
        sim = AerSimulator(method="density_matrix", max_parallel_threads=threads,
                           precision="single" if single else "double")

        def run():
            return sim.run(qc, shots=1).result().data()["density_matrix"]

        return run, lambda rho: _from_qiskit_order(np.asarray(rho), n)
    if tool == "cirq":
        import cirq

        from lretjax.io.cirq import to_cirq

        cc = to_cirq(circuit)
        qubits = cirq.LineQubit.range(n)
        sim = cirq.DensityMatrixSimulator(dtype=np.complex64 if single else np.complex128)

        def run():
            return sim.simulate(cc, qubit_order=qubits).final_density_matrix

        return run, np.asarray
    if tool in ("pennylane", "pennylane-jax"):
        import pennylane as qml

        names = {"rx": qml.RX, "ry": qml.RY, "rz": qml.RZ, "cz": qml.CZ, "cx": qml.CNOT,
                 "depolarizing": qml.DepolarizingChannel, "amplitude_damping": qml.AmplitudeDamping}
        ops = [(names[op.name], [float(x) for x in op.params], list(op.wires)) for op in circuit.ops]
        dev = qml.device("default.mixed", wires=n)
        jax_backend = tool == "pennylane-jax"

        @qml.qnode(dev, interface="jax" if jax_backend else None)
        def f():
            for cls, params, wires in ops:
                cls(*params, wires=wires)
            return qml.density_matrix(wires=range(n))

        if jax_backend:
            import jax

            run_jit = jax.jit(f)

            def run():
                return jax.block_until_ready(run_jit())

            return run, np.asarray
        return f, np.asarray
    raise ValueError(f"unknown peer {tool!r}")


# ---------------------------------------------------------------------------------- workers

# Trace distances for which the exact peers report the least rank that can reach them.
TD_TARGETS = (1e-3, 1e-2, 8e-2)


def trace_distance_floor(spectrum, rank: int) -> float:
    """The least trace distance to rho of any PSD matrix of rank <= ``rank``.

    ``spectrum``: rho's eigenvalues, descending. By Mirsky's inequality ||rho - sigma||_1 >=
    sum_i |lam_i(rho) - lam_i(sigma)|, and lam_i(sigma) = 0 for i >= rank, so the trace distance is
    at least half the tail sum_{i >= rank} lam_i; keeping rho's leading eigenpairs attains it.
    """
    import numpy as np

    return float(0.5 * np.sum(np.clip(spectrum[rank:], 0.0, None)))


def min_rank_for(spectrum, target: float) -> int:
    """The least rank at which ``trace_distance_floor`` is <= ``target``."""
    import numpy as np

    tail = np.cumsum(np.clip(spectrum, 0.0, None)[::-1])[::-1]  # tail[k] = sum_{i >= k} lam_i
    tail = np.append(tail, 0.0)
    return int(np.argmax(0.5 * tail <= target))


def subtract_gram(a, L, rows: int = 1024):
    """a - L L^dagger in place, a block of rows at a time (no second dim x dim temporary)."""
    for i in range(0, a.shape[0], rows):
        a[i:i + rows] -= L[i:i + rows] @ L.conj().T
    return a


def eigvalsh_inplace(a):
    """Eigenvalues (ascending) of a Hermitian matrix, overwriting it: at n = 14 a copy is 4 GiB."""
    import scipy.linalg

    return scipy.linalg.eigvalsh(a, overwrite_a=True, check_finite=False, driver="evd")


def distortion(rho, L_path: str, spectrum=None) -> dict:
    """Fidelity of L L^dagger to rho (complex128) and, given rho's ``spectrum`` (descending), the
    trace distance (a full eigensolve of rho - L L^dagger) and the floor any factor of L's rank
    could reach. F = (sum sqrt(eig(L^dag rho L)))^2, since sqrt(sigma) rho sqrt(sigma) and
    L^dag rho L share their nonzero spectrum when sigma = L L^dag."""
    import numpy as np

    L = np.load(L_path).astype(np.complex128)
    if os.path.exists(L_path + ".rho"):  # lretjax went on with rho itself (``representation``)
        out = {"trace_distance": float(0.5 * np.sum(np.abs(eigvalsh_inplace(rho - L))))}
        if spectrum is not None:
            out["floor_rank_for_reached"] = min_rank_for(spectrum, out["trace_distance"])
        return out
    ev = np.clip(np.linalg.eigvalsh(L.conj().T @ rho @ L), 0.0, None)
    out = {"fidelity": float(np.sum(np.sqrt(ev)) ** 2)}
    if spectrum is not None:
        out["trace_distance"] = float(0.5 * np.sum(np.abs(eigvalsh_inplace(subtract_gram(rho.copy(), L)))))
        rank = int(np.count_nonzero(np.linalg.norm(L, axis=0) > 0))
        out["trace_distance_floor"] = trace_distance_floor(spectrum, rank)
        # the least rank any state needs for the trace distance this one reached
        out["floor_rank_for_reached"] = min_rank_for(spectrum, out["trace_distance"])
    return out


def worker(spec: dict) -> None:
    rec = Recorder(spec["result"])
    rec(tool=spec["tool"], status="running")
    threads = os.cpu_count() or 1
    x64 = spec.get("x64", False)
    if spec["tool"] == "lretjax" or spec["tool"] == "pennylane-jax" or x64:
        import jax

        jax.config.update("jax_enable_x64", bool(x64 or spec["tool"] == "pennylane-jax"))
    circuit = build_circuit(spec["n"], spec["depth"], spec["seed"], spec["channel"], spec["p"])
    rec(baseline_mb=maxrss_mb(), ops=len(circuit.ops))
    if spec["tool"] == "lretjax":
        import jax
        import numpy as np

        import lretjax as lj

        if spec.get("tolerance") is not None:  # a total budget; the engine may go on with rho
            settings = {"max_rank": 2 ** spec["n"], "tolerance": spec["tolerance"]}
        else:
            settings = {"max_rank": spec["max_rank"], "epsilon": spec["epsilon"]}

        def run():
            return jax.block_until_ready(lj.simulate(circuit, **settings))

        state = timed_runs(run, spec["rerun_below"], spec["repeats"], rec, compiled=True)
        dense = state.L is None
        np.save(spec["save_L"], np.asarray(state.rho if dense else state.L))
        if dense:  # a factor may be square too: the peer tells rho from L by this marker
            Path(spec["save_L"] + ".rho").touch()
        rec(rank=int(state.rank), discarded=float(state.discarded), representation=state.representation,
            status="ok")
        return
    run, to_rho = peer_density_matrix(spec["tool"], circuit, threads, single=not x64)
    out = timed_runs(run, spec["rerun_below"], spec["repeats"], rec, compiled=spec["tool"] == "pennylane-jax")
    import numpy as np

    # complex128 once for every comparison below (at n = 14 each copy of rho is 2-4 GiB)
    rho = np.asarray(to_rho(out), dtype=np.complex128)
    del out
    rec(status="ok", trace=float(abs(rho.trace())))
    spectrum = None
    if spec["n"] <= spec["td_max"]:
        spectrum = eigvalsh_inplace(rho.copy())[::-1]
        rec(min_rank_for_trace_distance={str(t): min_rank_for(spectrum, t) for t in TD_TARGETS})
    dist = {}
    for key, path in spec.get("compare", {}).items():
        dist[key] = distortion(rho, path, spectrum)
        rec(distortion=dist)


# ----------------------------------------------------------------------------------- driver

def run_cases(a, rec_rows: list, dump=lambda: None) -> None:
    """Every (n, noise) group: lretjax per epsilon, then each peer; ``dump`` after each group."""
    script = Path(__file__).resolve()
    skip: dict = {}  # (peer, noise) -> status at a smaller n: larger n would only fail slower
    with tempfile.TemporaryDirectory(prefix="vsdm_") as tmp:
        _run_groups(a, script, skip, tmp, rec_rows, dump)


def _run_groups(a, script, skip, tmp, rec_rows, dump) -> None:
    for n in a.sizes:
        for noise in a.noises:
            channel, p = NOISES[noise]
            base = {"n": n, "depth": a.depth, "seed": n, "channel": channel, "p": p, "x64": a.x64,
                    "rerun_below": a.rerun_below, "repeats": a.repeats, "td_max": a.td_max}
            lret, Ls = {}, {}
            for kind, value in settings(a):
                key = setting_key(kind, value)
                Ls[key] = os.path.join(tmp, f"L_{n}_{noise}_{key}.npy")
                lret[key] = run_worker(script, {**base, "tool": "lretjax", "epsilon": 0.0, kind: value,
                                                "max_rank": a.max_rank, "save_L": Ls[key]},
                                       a.timeout, a.mem_gb)
            peers = {}
            for peer in a.peers:
                if (peer, noise) in skip:
                    peers[peer] = {"status": f"skipped ({skip[peer, noise]} at a smaller n)"}
                    continue
                compare = {k: v for k, v in Ls.items() if lret[k]["status"] == "ok"}
                peers[peer] = run_worker(script, {**base, "tool": peer, "compare": compare},
                                         a.timeout, a.mem_gb)
                if peers[peer]["status"] in ("timeout", "memory"):
                    skip[peer, noise] = peers[peer]["status"]
            for kind, value in settings(a):
                row = _row(n, a.depth, noise, kind, value, lret[setting_key(kind, value)], peers)
                rec_rows.append(row)
                _print_row(row, a.peers)
            dump()
            for path in Ls.values():
                for f in (path, path + ".rho"):
                    if os.path.exists(f):
                        os.unlink(f)


def settings(a) -> list[tuple[str, float]]:
    """lretjax's rows of one group: per-channel epsilons, then total tolerances."""
    return [("epsilon", e) for e in a.epsilons] + [("tolerance", t) for t in a.tolerances]


def setting_key(kind: str, value: float) -> str:
    return str(value) if kind == "epsilon" else f"tol{value}"


def _row(n, depth, noise, kind, value, lr: dict, peers: dict) -> dict:
    key = setting_key(kind, value)
    ok = {k: v for k, v in peers.items() if v.get("status") == "ok"}
    fastest = min(ok, key=lambda k: ok[k]["seconds"]) if ok else None
    dist = ok[fastest].get("distortion", {}).get(key, {}) if fastest else {}
    fids = [v["distortion"][key]["fidelity"] for v in ok.values()
            if "fidelity" in v.get("distortion", {}).get(key, {})]
    channel, p = NOISES[noise]
    lr_ok = lr.get("status") == "ok"
    row = {
        "n": n, "depth": depth, "noise": noise, "channel": channel, "p": p,
        "epsilon": value if kind == "epsilon" else None, "tolerance": value if kind == "tolerance" else None,
        "ops": lr.get("ops"),
        "lretjax": {k: lr.get(k) for k in ("status", "seconds", "first_seconds", "peak_mb",
                                            "baseline_mb", "rank", "discarded", "representation",
                                            "error_tail") if k in lr},
        "peers": {k: {f: v.get(f) for f in ("status", "seconds", "first_seconds", "peak_mb",
                                            "baseline_mb", "error_tail") if f in v}
                  for k, v in peers.items()},
        "fastest_exact": fastest,
        "trace_distance": dist.get("trace_distance"),
        # the least trace distance any state of lretjax's rank could have (rho's spectral tail)
        "trace_distance_floor": dist.get("trace_distance_floor"),
        "fidelity": dist.get("fidelity"),
        # the rank used over the least rank any state needs for the trace distance reached
        "rank_over_floor": (lr["rank"] / max(dist["floor_rank_for_reached"], 1))
        if lr_ok and "floor_rank_for_reached" in dist and lr.get("representation") != "dense" else None,
        # the least rank at which any low-rank state reaches each trace distance
        "min_rank_for_trace_distance": ok[fastest].get("min_rank_for_trace_distance") if fastest else None,
        # how far the exact peers disagree about lretjax's fidelity: a convention check
        "peer_fidelity_spread": (max(fids) - min(fids)) if len(fids) > 1 else None,
        "speedup_vs_fastest_exact": (ok[fastest]["seconds"] / lr["seconds"]) if fastest and lr_ok else None,
        "speedup_vs_fastest_exact_cold": (min(v["first_seconds"] for v in ok.values()) / lr["first_seconds"])
        if fastest and lr_ok else None,
    }
    if not ok:
        timed_out = [v for v in peers.values() if v.get("status") == "timeout"]
        row["note"] = "no exact peer finished" + (" (timeouts)" if timed_out else "")
    return row


def _fmt(x, spec):
    return "-" if x is None else format(x, spec)


def _cell(v: dict) -> str:
    if v.get("status") != "ok":
        return f"{(v.get('status') or '-').split(' ')[0]:>10}"
    return f"{v['seconds']:>10.3f}"


def header(peers) -> str:
    return (f"{'n':>3} {'noise':>8} {'eps':>7} {'rank':>5} {'discarded':>9} {'tr.dist':>9} {'floor':>9} "
            f"{'fidelity':>9} {'rank/fl':>7} "
            f"{'lret s':>8} {'lret MB':>7} " + " ".join(f"{p[:10]:>10}" for p in peers)
            + f" {'speedup':>8}")


def _print_row(r, peers) -> None:
    lr = r["lretjax"]
    lret_s = f"{lr['seconds']:>8.3f}" if lr.get("status") == "ok" else f"{lr.get('status'):>8}"
    setting = f"{r['epsilon']:>7.0e}" if r["epsilon"] is not None else f"t{r['tolerance']:>6.0e}"
    if lr.get("representation") == "dense":
        setting += " (dense)"
    print(f"{r['n']:>3} {r['noise']:>8} {setting} {_fmt(lr.get('rank'), '>5')} "
          f"{_fmt(lr.get('discarded'), '>9.2e')} {_fmt(r['trace_distance'], '>9.2e')} "
          f"{_fmt(r['trace_distance_floor'], '>9.2e')} "
          f"{_fmt(r['fidelity'], '>9.6f')} {_fmt(r['rank_over_floor'], '>7.2f')} {lret_s} "
          f"{_fmt(lr.get('peak_mb'), '>7.0f')} "
          + " ".join(_cell(r["peers"].get(p, {})) for p in peers)
          + f" {_fmt(r['speedup_vs_fastest_exact'], '>8.1f')}", flush=True)


def available_peers(wanted) -> list[str]:
    import importlib.util

    need = {"aer": "qiskit_aer", "cirq": "cirq", "pennylane": "pennylane", "pennylane-jax": "pennylane"}
    return [p for p in wanted if importlib.util.find_spec(need[p]) is not None]


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="n = 8, 10; minutes on 2 cores")
    ap.add_argument("--tiny", action="store_true", help="n = 3, depth 2: CI keeps the script working")
    ap.add_argument("--sizes", type=int, nargs="+")
    ap.add_argument("--depth", type=int, default=None)
    ap.add_argument("--noises", nargs="+", choices=list(NOISES), default=None)
    ap.add_argument("--epsilons", type=float, nargs="*", default=None,
                    help="per-channel truncation thresholds (default 1e-3 1e-4 1e-5; quick 1e-4 1e-5)")
    ap.add_argument("--tolerances", type=float, nargs="+", default=[],
                    help="total budgets (simulate(tolerance=)), uncapped rank; the engine may go on "
                         "with rho itself where that is cheaper")
    ap.add_argument("--peers", nargs="+", choices=PEERS, default=None)
    ap.add_argument("--max-rank", type=int, default=None, help="default 512 (--quick: 256)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per case (subprocess)")
    ap.add_argument("--mem-gb", type=float, default=12.0, help="memory budget per case")
    ap.add_argument("--td-max", type=int, default=12,
                    help="largest n for the full trace distance and rho's spectrum")
    ap.add_argument("--rerun-below", type=float, default=5.0,
                    help="re-run warm (median of --repeats) when the first run took less")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--x64", action="store_true", help="double precision for lretjax and the peers")
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    if a.tiny:
        sizes, depth, noises, timeout, eps = [3], 2, ["dep1e-2"], 120.0, [1e-4]
        a.repeats = 1
    elif a.quick:
        sizes, depth, noises, timeout, eps = [8, 10], 8, ["dep1e-3", "dep1e-2", "ad1e-2"], 300.0, [1e-4, 1e-5]
    else:
        sizes, depth, noises, timeout, eps = list(range(8, 15)), 12, list(NOISES), 1800.0, [1e-3, 1e-4, 1e-5]
    a.sizes = a.sizes or sizes
    a.depth = a.depth or depth
    a.noises = a.noises or noises
    a.timeout = a.timeout or timeout
    if a.epsilons is None:  # the defaults, unless only tolerances were asked for
        a.epsilons = [] if a.tolerances else eps
    # --quick keeps the whole run_all under 10 minutes: at n = 10 the dep1e-2 and ad1e-2 cases
    # reach any cap, and a 512 cap's (4 x 512)^2 eigensolves took 20-47 s per case.
    a.max_rank = a.max_rank or (256 if a.quick else 512)
    a.peers = available_peers(a.peers or (["aer", "cirq", "pennylane"] if (a.tiny or a.quick) else PEERS))
    return a


def main(argv=None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = parse(argv)
    if a.worker:
        worker(json.loads(a.worker))
        return {}
    meta = machine_meta(argv, "bench_vs_density_matrix.py")
    meta.update(depth=a.depth, peers=a.peers, timeout_s=a.timeout, max_rank=a.max_rank,
                mem_gb=a.mem_gb, x64=a.x64, threads=os.cpu_count(),
                precision="double" if a.x64 else "single (pennylane: double)")
    print(f"# load average {meta['loadavg_start']} on {meta['cores']} cores; depth {a.depth}; "
          f"budget {a.timeout:.0f} s / {a.mem_gb:.0f} GiB per case")
    print(header(a.peers))
    tag = "_tiny" if a.tiny else ("_quick" if a.quick else "")
    out = Path(a.out or HERE / "results" / f"vs_density_matrix_{platform.node() or 'machine'}{tag}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    rows: list = []
    result = {"meta": meta, "rows": rows}

    def dump(final=False):  # after every group, so a long run that is stopped keeps its rows
        meta["loadavg_end"] = list(os.getloadavg())
        meta["finished_utc" if final else "partial_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        out.write_text(json.dumps(result, indent=2))

    run_cases(a, rows, dump)
    meta.pop("partial_utc", None)
    dump(final=True)
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main()
