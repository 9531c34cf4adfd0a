"""Overhead of the PyTorch bridge (lretjax.torch) over calling the same JAX function directly.

    python benchmarks/bench_torch.py                 # GPU target: n = 20 wires, max_rank = 16
    python benchmarks/bench_torch.py --quick         # 6 wires, rank 4: checks the script on a CPU

Circuit: `layers` layers of RY/RZ on every wire (symbolic parameters), a CZ brickwork and one-qubit
depolarizing(p) on every wire; observables Z_i on every wire (one output each). The torch tensor
lives on the device JAX computes on (cuda when both see a GPU), so DLPack crosses without copies.

Rows, each the median of repeated runs after a compiling warm-up:
- forward: ``jax.jit(values)(params)`` vs ``expval_fn(...)(tensor)`` under ``torch.no_grad``;
- forward+backward: one fused ``jax.jit(value_and_grad)`` call, the bridge's own two jitted JAX calls
  (``jax.vjp`` forward with residuals, then the VJP) called directly, and the bridge
  (``f(tensor) @ w`` then ``.backward()``).
overhead = bridge / JAX - 1 (goal: < 5 % at n = 20, r = 16 on a GPU). Writes
benchmarks/results/torch_<device>.json (torch_<device>_quick.json with --quick).
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

# torch and JAX share the GPU: JAX must not grab 75 % of its memory up front.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from lretjax import Circuit, Param  # noqa: E402
from lretjax.torch import _values_fn, expval_fn  # noqa: E402


def ansatz(n: int, layers: int, p: float) -> Circuit:
    c = Circuit(n)
    k = 0
    for layer in range(layers):
        for w in range(n):
            c = c.ry(Param(f"t{k}"), w).rz(Param(f"t{k + 1}"), w)
            k += 2
        for a in range(layer % 2, n - 1, 2):
            c = c.cz(a, a + 1)
        for w in range(n):
            c = c.depolarizing(p, w)
    return c


def median_time(fn, repeats: int) -> float:
    fn()  # compile / warm up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wires", type=int, default=20)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=None, help="default 20 (5 with --quick)")
    parser.add_argument("--x64", action="store_true", help="float64 tensors (turns jax_enable_x64 on)")
    parser.add_argument("--quick", action="store_true", help="6 wires, rank 4, 5 repeats")
    parser.add_argument("--out", default=None, help="JSON path (default: benchmarks/results/)")
    args = parser.parse_args(argv)
    if args.quick:
        args.wires, args.rank = 6, 4
    if args.repeats is None:
        args.repeats = 5 if args.quick else 20
    if args.x64:
        jax.config.update("jax_enable_x64", True)
    dtype = torch.float64 if args.x64 else torch.float32

    on_gpu = jax.default_backend() == "gpu" and torch.cuda.is_available()
    device = torch.device("cuda", 0) if on_gpu else torch.device("cpu")
    sync = torch.cuda.synchronize if on_gpu else (lambda: None)
    name = torch.cuda.get_device_name(0) if on_gpu else platform.node() or "cpu"

    n = args.wires
    circuit = ansatz(n, args.layers, args.noise)
    obs = ["I" * i + "Z" + "I" * (n - i - 1) for i in range(n)]
    num_params = circuit.num_parameters
    rng = np.random.default_rng(0)
    p_np = rng.uniform(-np.pi, np.pi, num_params)
    w_np = rng.normal(size=n)

    # Pure JAX: the same function the bridge calls, on a JAX array on the same device.
    values = _values_fn(circuit, obs, "backprop", args.rank, 0.0)
    jdev = jax.devices()[0] if on_gpu else jax.devices("cpu")[0]
    p_j = jax.device_put(jnp.asarray(p_np, dtype=jnp.float64 if args.x64 else jnp.float32), jdev)
    w_j = jax.device_put(jnp.asarray(w_np, dtype=p_j.dtype), jdev)
    fwd = jax.jit(values)
    fused = jax.jit(jax.value_and_grad(lambda p: values(p) @ w_j))
    split_fwd = jax.jit(lambda p: jax.vjp(values, p))
    split_bwd = jax.jit(lambda vjp, ct: vjp(ct))

    def jax_split():
        y, vjp = split_fwd(p_j)
        return split_bwd(vjp, w_j)[0].block_until_ready()

    # The bridge.
    f = expval_fn(circuit, obs, max_rank=args.rank)
    p_t = torch.tensor(p_np, dtype=dtype, device=device, requires_grad=True)
    w_t = torch.tensor(w_np, dtype=dtype, device=device)

    def bridge_fwd():
        with torch.no_grad():
            f(p_t)
        sync()

    def bridge_grad():
        p_t.grad = None
        (f(p_t) @ w_t).backward()
        sync()

    # The two sides must agree before they are timed.
    with torch.no_grad():
        diff = np.max(np.abs(f(p_t).cpu().numpy() - np.asarray(fwd(p_j))))
    bridge_grad()
    gdiff = np.max(np.abs(p_t.grad.cpu().numpy() - np.asarray(fused(p_j)[1])))
    tol = 1e-10 if args.x64 else 1e-4
    if diff > tol or gdiff > tol:
        sys.exit(f"bridge and JAX disagree: values {diff:.2e}, gradients {gdiff:.2e}")

    r = args.repeats
    t = {
        "jax_forward": median_time(lambda: fwd(p_j).block_until_ready(), r),
        "bridge_forward": median_time(bridge_fwd, r),
        "jax_grad_fused": median_time(lambda: fused(p_j)[1].block_until_ready(), r),
        "jax_grad_split": median_time(jax_split, r),
        "bridge_grad": median_time(bridge_grad, r),
    }
    rows = [
        ("forward", "jax.jit(values)", t["jax_forward"], t["bridge_forward"]),
        ("forward+backward", "fused value_and_grad", t["jax_grad_fused"], t["bridge_grad"]),
        ("forward+backward", "same 2 jitted calls", t["jax_grad_split"], t["bridge_grad"]),
    ]
    print(f"lretjax.torch bridge overhead on {name} ({device}): n = {n}, max_rank = {args.rank}, "
          f"{num_params} parameters, {len(circuit.ops)} ops, {dtype}, median of {r}")
    print(f"{'pass':<18} {'JAX reference':<22} {'JAX ms':>10} {'bridge ms':>10} {'overhead':>9}")
    for what, ref, tj, tb in rows:
        print(f"{what:<18} {ref:<22} {1e3 * tj:>10.3f} {1e3 * tb:>10.3f} {100 * (tb / tj - 1):>8.1f}%")

    result = {
        "device": name, "torch_device": str(device), "jax": jax.__version__, "torch": torch.__version__,
        "wires": n, "max_rank": args.rank, "layers": args.layers, "num_params": num_params,
        "dtype": str(dtype), "repeats": r, "seconds": t,
        "overhead": {
            "forward": t["bridge_forward"] / t["jax_forward"] - 1,
            "grad_vs_fused": t["bridge_grad"] / t["jax_grad_fused"] - 1,
            "grad_vs_split": t["bridge_grad"] / t["jax_grad_split"] - 1,
        },
        "max_abs_difference": {"values": float(diff), "gradients": float(gdiff)},
    }
    tag = "".join(ch if ch.isalnum() else "_" for ch in name)
    out = Path(args.out) if args.out else (
        Path(__file__).resolve().parent / "results" / f"torch_{tag}{'_quick' if args.quick else ''}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
