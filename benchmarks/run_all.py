"""Run the CPU comparisons against peer simulators, print their tables and draw the plots.

    python benchmarks/run_all.py --quick    # under 10 minutes on 2 idle cores
    python benchmarks/run_all.py --tiny     # CI: seconds per script, keeps them working
    python benchmarks/run_all.py            # the full grids (hours: n = 8..14 exact peers)

Results: benchmarks/results/vs_density_matrix_<machine>[_quick].json and
vs_trajectories_<machine>[_quick].json, with PNGs next to them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_vs_density_matrix  # noqa: E402
import bench_vs_trajectories  # noqa: E402
import plots  # noqa: E402


def main(argv=None) -> list[Path]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true")
    mode.add_argument("--tiny", action="store_true")
    ap.add_argument("--out-dir", default=None, help="default benchmarks/results/")
    ap.add_argument("--no-plots", action="store_true")
    a = ap.parse_args(argv)
    flags = ["--quick"] if a.quick else (["--tiny"] if a.tiny else [])
    outputs = []
    for name, module in (("vs_density_matrix", bench_vs_density_matrix),
                         ("vs_trajectories", bench_vs_trajectories)):
        extra = []
        if a.out_dir:
            extra = ["--out", str(Path(a.out_dir) / f"{name}.json")]
        if a.tiny:  # one exact peer and one trajectory peer: CI checks the plumbing, not speed
            dm = module is bench_vs_density_matrix
            extra += ["--peers", "aer"] if dm else ["--tools", "lretjax", "aer"]
        print(f"\n== {name} ==", flush=True)
        t0 = time.perf_counter()
        module.main(flags + extra)
        print(f"({time.perf_counter() - t0:.0f} s)")
        outputs.append(_result_path(module, a, name, flags))
    if not a.no_plots:
        for path in outputs:
            for png in plots.plot(path):
                print(f"wrote {png}")
    return outputs


def _result_path(module, a, name: str, flags) -> Path:
    import platform

    if a.out_dir:
        return Path(a.out_dir) / f"{name}.json"
    tag = "_tiny" if a.tiny else ("_quick" if a.quick else "")
    return Path(module.__file__).parent / "results" / f"{name}_{platform.node() or 'machine'}{tag}.json"


if __name__ == "__main__":
    main()
