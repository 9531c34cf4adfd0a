"""Noisy circuits end to end through ``simulate`` on one GPU, in passes over L per op.

    PYTHONPATH=. python3 benchmarks/bench_gpu_e2e.py            # on a GPU machine
    PYTHONPATH=. python3 benchmarks/bench_gpu_e2e.py --quick    # small sizes (CPU works too)

Rows (each in a fresh process, so ``cold_s`` is what a new process pays):

- the LRET paper family at depth 10, depolarizing 1e-3 after every gate, epsilon 1e-4, at
  (n, r) = (16, 64), (20, 64), (24, 64), (26, 16): eager ``simulate`` warm time over
  (ops x one copy pass of L at the final width, measured in the same process) = ``passes_per_op``;
- the C++ LRET's publication benchmark: the paper family at depth 13, depolarizing 1e-3 after
  every gate, epsilon 1e-4 (no rank cap below 1024), n = 14 and 18: time, final rank and
  discarded weight (the C++ LRET reports 110 s at n = 14 and 3,363 s at n = 18 on a CPU);
- n = 28 at r = 16: whether it runs (no dense density matrix of that size exists on any GPU),
  with JAX allowed 97% of the GPU's memory (``XLA_PYTHON_CLIENT_MEM_FRACTION``): L alone is 32 GiB,
  and the channel step, split into row blocks (``resources.plan_chunks``), holds about two copies.

Each row records the peak device memory and the row blocks the channel step used (``chunks``).

Writes benchmarks/results/gpu_e2e_<device>.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

ROWS = [("family", 16, 64, 10), ("family", 20, 64, 10), ("family", 24, 64, 10), ("family", 26, 16, 10),
        ("cpp_lret", 14, 1024, 13), ("cpp_lret", 18, 1024, 13), ("n28", 28, 16, 10)]
QUICK = [("family", 10, 16, 4), ("cpp_lret", 8, 1024, 5)]


class compile_log:
    """Seconds JAX spends tracing, lowering and compiling (``jax.monitoring`` duration events),
    from its creation on: how much of a cold run is compilation, in how many programs, and which
    functions took the most."""

    EVENTS = {"/jax/core/compile/jaxpr_trace_duration": "trace_s",
              "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s",
              "/jax/core/compile/backend_compile_duration": "xla_s"}

    def __init__(self):
        import jax

        self.totals = dict.fromkeys(self.EVENTS.values(), 0.0)
        self.programs, self.longest = 0, 0.0
        self.by_function: dict[str, float] = {}
        jax.monitoring.register_event_duration_secs_listener(self._record)

    def _record(self, event, duration, **kwargs):
        key = self.EVENTS.get(event)
        if key is None:
            return
        self.totals[key] += duration
        name = str(kwargs.get("fun_name", "?"))
        self.by_function[name] = self.by_function.get(name, 0.0) + duration
        if key == "xla_s":
            self.programs += 1
            self.longest = max(self.longest, duration)

    def summary(self, top: int = 6) -> dict:
        heaviest = sorted(self.by_function.items(), key=lambda kv: -kv[1])[:top]
        return {**self.totals, "xla_programs": self.programs, "xla_longest_s": self.longest,
                "heaviest_s": {name: round(t, 3) for name, t in heaviest}}


def worker(spec: dict) -> dict:
    import jax

    sys.path.insert(0, str(HERE))
    from bench_gpu import copy_time, rand_state
    from families import lret_paper_circuit, with_gate_noise
    from toggles import no_pallas, one_step_per_op, steps, wire_policy

    import lretjax as lj

    kind, n, r, depth = spec["kind"], spec["n"], spec["r"], spec["depth"]
    compiles = compile_log()
    representation = spec.get("representation", "low-rank")
    if spec.get("no_fold"):
        one_step_per_op()
    if spec.get("wires_policy"):
        wire_policy(spec["wires_policy"])
    if spec.get("no_pallas"):
        no_pallas()
    circuit = with_gate_noise(lret_paper_circuit(n, depth), "depolarizing", 1e-3)
    out = {"kind": kind, "n": n, "max_rank": r, "depth": depth, "ops": len(circuit.ops),
           "steps": steps(circuit),
           "device": str(jax.devices()[0]), "fold": not spec.get("no_fold"),
           "wires_policy": spec.get("wires_policy") or "default", "pallas": not spec.get("no_pallas"),
           "mem_fraction": spec.get("mem_fraction"), "xla_flags": spec.get("xla_flags", ""),
           "bytes_limit_GiB": (jax.devices()[0].memory_stats() or {}).get("bytes_limit", 0) / 2**30}

    def run():
        st = lj.simulate(circuit, max_rank=r, epsilon=1e-4, checks=False, representation=representation)
        jax.block_until_ready(st.L if st.rho is None else st.rho)
        return st

    from lretjax.resources import plan_chunks

    max_kraus = max(op.num_kraus for op in circuit.ops)
    out["chunks"] = plan_chunks(n, min(r, 2**n), max_kraus, jax.numpy.result_type(complex))

    t = time.perf_counter()
    try:
        st = run()
    except lj.ResourceError as e:
        return {**out, "status": "does not fit", "error": str(e)[:300]}
    out["cold_s"] = time.perf_counter() - t
    out["cold_compile"] = compiles.summary()  # what of cold_s went on tracing, lowering, XLA
    from lretjax.engine import loop

    # segment programs the cold run compiled (one per width and form): what its compile time buys
    out["segment_programs"] = sum(f._cache_size() for f in (loop._segment_cpu, loop._segment_other,
                                                             loop._segment_donated))
    warm = []
    for _ in range(0 if kind == "n28" else 1 if n >= 24 else 2):
        t = time.perf_counter()
        st = run()
        warm.append(time.perf_counter() - t)
    out.update(warm_s=min(warm) if warm else None, rank=int(st.rank), width=st.width,
               discarded=float(st.discarded), status="ok", representation=st.representation,
               peak_GiB=(jax.devices()[0].memory_stats() or {}).get("peak_bytes_in_use", 0) / 2**30)
    del st
    gc.collect()
    out["live_GiB_after"] = sum(a.nbytes for a in jax.live_arrays()) / 2**30  # what a finished run leaves
    if not warm:  # one run only (n = 28): passes per op from the cold run, compile included
        out["warm_s"] = None
        # The copy's four buffers of L do not fit beside each other at n = 28: time it at n - 1
        # (half the bytes, the same bandwidth) and double it.
        try:
            copy_s, bandwidth = copy_time(*rand_state(n - 1, r))
        except Exception as e:  # the run's own figures stand without it
            return {**out, "copy_pass_error": str(e)[:300]}
        copy_s *= 2
        out["copy_pass_note"] = f"measured at n = {n - 1} and doubled"
        out.update(copy_pass_s=copy_s, copy_GBps=bandwidth / 1e9,
                   cold_passes_per_op=out["cold_s"] / (out["ops"] * copy_s))
        return out
    copy_s, bandwidth = copy_time(*rand_state(n, r))
    out.update(copy_pass_s=copy_s, copy_GBps=bandwidth / 1e9,
               passes_per_op=out["warm_s"] / (out["ops"] * copy_s))
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="+", metavar="KIND:N", help="run these rows only, e.g. n28:28 family:26")
    ap.add_argument("--tag", default="", help="suffix of the results file (for a subset of rows)")
    ap.add_argument("--representation", default="low-rank", choices=("low-rank", "auto"),
                    help="auto: let the engine go on with rho where its cost model says rho is cheaper")
    ap.add_argument("--no-fold", action="store_true",
                    help="run every op as its own step (no gate folded into a channel or fused)")
    ap.add_argument("--wires-policy", choices=("static", "data", "auto"),
                    help="how steps take their wires (engine.build's ``wires``); default: the platform's")
    ap.add_argument("--no-pallas", action="store_true",
                    help="lower every gate as XLA elementwise arithmetic, the Pallas kernel nowhere "
                         "(it lowers once per static variant of three wires or more)")
    ap.add_argument("--xla-flags", default="",
                    help="appended to XLA_FLAGS in each worker, e.g. --xla_gpu_autotune_level=0")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        spec = json.loads(a.worker)
        with open(spec["result"], "w") as f:
            json.dump(worker(spec), f)
        return {}
    import jax

    rows = []
    print(f"{'case':>9} {'n':>3} {'r':>5} {'ops':>5} {'cold s':>7} {'warm s':>8} {'rank':>5} "
          f"{'discarded':>10} {'pass ms':>8} {'passes/op':>9}")
    rows_to_run = QUICK if a.quick else ROWS
    if a.only:
        rows_to_run = [row for row in rows_to_run if f"{row[0]}:{row[1]}" in a.only]
    for kind, n, r, depth in rows_to_run:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            path = f.name
        spec = {"kind": kind, "n": n, "r": r, "depth": depth, "result": path,
                "representation": a.representation, "no_fold": a.no_fold,
                "wires_policy": a.wires_policy, "no_pallas": a.no_pallas}
        env = dict(os.environ)
        if a.xla_flags:
            env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {a.xla_flags}".strip()
            spec["xla_flags"] = env["XLA_FLAGS"]
        if kind == "n28":  # an H100's memory on a bigger card: set the fraction yourself
            env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.97")
            spec["mem_fraction"] = float(env["XLA_PYTHON_CLIENT_MEM_FRACTION"])
        proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True,
                              text=True, timeout=900, env=env)
        if proc.returncode != 0:
            row = {"kind": kind, "n": n, "max_rank": r, "status": "error", "error": proc.stderr[-1500:]}
        else:
            row = json.loads(Path(path).read_text())
        os.unlink(path)
        rows.append(row)
        if row.get("status") == "ok" and row.get("warm_s") is None:
            passes = (f"{row['copy_pass_s'] * 1e3:8.3f} {row['cold_passes_per_op']:8.2f}c"
                      if "copy_pass_s" in row else f"{'-':>8} {'-':>9}")
            print(f"{kind:>9} {n:3d} {r:5d} {row['ops']:5d} {row['cold_s']:7.2f} {'-':>8} {row['rank']:5d} "
                  f"{row['discarded']:10.2e} {passes}  peak {row['peak_GiB']:.1f} GiB, "
                  f"chunks {row['chunks']}, left alive {row['live_GiB_after']:.1f} GiB")
        elif row.get("status") == "ok":
            print(f"{kind:>9} {n:3d} {r:5d} {row['ops']:5d} {row['cold_s']:7.2f} {row['warm_s']:8.3f} "
                  f"{row['rank']:5d} {row['discarded']:10.2e} {row['copy_pass_s'] * 1e3:8.3f} "
                  f"{row['passes_per_op']:9.2f}")
        else:
            print(f"{kind:>9} {n:3d} {r:5d}  {row['status']}: {row.get('error', '')[-200:]}")
    command = " ".join(["python", "benchmarks/bench_gpu_e2e.py", *(argv or sys.argv[1:])])
    result = {"meta": {"jax": jax.__version__, "device": str(jax.devices()[0]), "command": command,
                       "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ")},
              "rows": rows, "goals": {"passes_per_op": 2.5, "cold_s": 5.0, "n14_s": 1.0, "n18_s": 10.0}}
    tag = jax.devices()[0].device_kind.replace(" ", "_")
    text = json.dumps(result, indent=2)
    for d in filter(None, [HERE / "results", os.environ.get("OUT")]):
        Path(d).mkdir(parents=True, exist_ok=True)
        suffix = ("_quick" if a.quick else "") + (f"_{a.tag}" if a.tag else "")
        Path(d, f"gpu_e2e_{tag}{suffix}.json").write_text(text)
    return result


if __name__ == "__main__":
    main()
