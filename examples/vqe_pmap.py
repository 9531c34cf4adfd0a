"""Multi-device VQE three ways: ``jax.pmap`` (legacy), ``jax.shard_map``, and row-sharded L.

Every step needs the energy at 2P parameter-shifted points (the exact gradient of a circuit of
RY rotations); those evaluations are independent, so they are spread over the devices:

- ``jax.pmap``: the classic data-parallel map (what many VQE codes use; legacy in current JAX);
- ``jax.shard_map`` over a 1-D ``batch`` mesh: the modern spelling of the same thing;
- ``lretjax.distributed.simulate_sharded`` on a 2 x 4 mesh: L's rows split over 2 devices and
  the parameter points over 4, for states too large for one device.

On a CPU-only machine it makes 8 simulated devices:

    python examples/vqe_pmap.py --steps 20
"""

from __future__ import annotations

import argparse

import jax

# Must happen before JAX starts its backend; ignored on GPUs (it sets the CPU device count).
jax.config.update("jax_num_cpu_devices", 8)

import numpy as np  # noqa: E402
from jax.sharding import Mesh, NamedSharding  # noqa: E402
from jax.sharding import PartitionSpec as P  # noqa: E402

import lretjax  # noqa: E402
from lretjax import distributed as dist  # noqa: E402

N = 4
LAYERS = 2
# Transverse-field Ising chain: sum Z_i Z_{i+1} + 0.7 sum X_i.
HAMILTONIAN = {**{f"Z{i} Z{i + 1}": 1.0 for i in range(N - 1)}, **{f"X{i}": 0.7 for i in range(N)}}
MAX_RANK = 16


def ansatz() -> lretjax.Circuit:
    c = lretjax.Circuit(N)
    k = 0
    for _ in range(LAYERS):
        for w in range(N):
            c = c.ry(lretjax.Param(f"t{k}"), w).depolarizing(0.005, w)
            k += 1
        for w in range(N - 1):
            c = c.cx(w, w + 1)
    return c


CIRCUIT = ansatz()
NUM_PARAMS = len(CIRCUIT.parameters)


def energy(theta):
    return lretjax.expval(lretjax.simulate(CIRCUIT, theta, max_rank=MAX_RANK), HAMILTONIAN)


def shifted_points(theta):
    """The 2P points of the parameter-shift rule (shift pi/2 for RY = exp(-i t Y / 2))."""
    eye = np.eye(NUM_PARAMS) * (np.pi / 2)
    return np.concatenate([theta + eye, theta - eye])


def gradient_from(energies):
    return (energies[:NUM_PARAMS] - energies[NUM_PARAMS:]) / 2


def pad_to(x, k):
    extra = (-x.shape[0]) % k
    return np.concatenate([x, np.repeat(x[-1:], extra, axis=0)]), x.shape[0]


def make_pmap_eval(ndev):
    f = jax.pmap(jax.vmap(energy))

    def run(points):
        pts, m = pad_to(points, ndev)
        return np.asarray(f(pts.reshape(ndev, -1, NUM_PARAMS))).reshape(-1)[:m]

    return run


def make_shard_map_eval(ndev):
    mesh = Mesh(np.asarray(jax.devices()[:ndev]), ("batch",))
    batch = NamedSharding(mesh, P("batch"))
    f = jax.jit(jax.shard_map(jax.vmap(energy), mesh=mesh, in_specs=P("batch"), out_specs=P("batch")))

    def run(points):
        pts, m = pad_to(points, ndev)
        return np.asarray(f(jax.device_put(pts, batch)))[:m]

    return run


def make_row_sharded_eval(ndev):
    mesh = dist.make_mesh(2, num_batch=ndev // 2)

    def run(points):
        pts, m = pad_to(points, ndev // 2)
        st = dist.simulate_sharded(CIRCUIT, pts, mesh=mesh, max_rank=MAX_RANK)
        return np.asarray(dist.expval(st, HAMILTONIAN))[:m]

    return run


def vqe(evaluate, steps, lr=0.1, seed=0):
    theta = np.random.default_rng(seed).uniform(0, 0.3, NUM_PARAMS)
    history = []
    for _ in range(steps):
        e = evaluate(np.concatenate([theta[None], shifted_points(theta)]))
        history.append(float(e[0]))
        theta = theta - lr * gradient_from(e[1:])
    return theta, history


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args(argv)
    ndev = jax.device_count()
    if ndev < 2 or ndev & (ndev - 1):
        raise SystemExit(f"needs a power-of-two number of devices >= 2, found {ndev}")
    print(f"{ndev} devices ({jax.devices()[0].platform}); {NUM_PARAMS} parameters; "
          f"{2 * NUM_PARAMS + 1} circuits per step")
    results = {}
    for name, make in [("pmap", make_pmap_eval), ("shard_map", make_shard_map_eval),
                       ("row-sharded", make_row_sharded_eval)]:
        _, hist = vqe(make(ndev), args.steps)
        results[name] = hist
        print(f"{name:>12}: energy {hist[0]:+.6f} -> {hist[-1]:+.6f}")
    ref = np.asarray(results["pmap"])
    for name, hist in results.items():
        gap = float(np.max(np.abs(np.asarray(hist) - ref)))
        print(f"{name:>12}: max |difference to pmap| = {gap:.2e}")
    return results


if __name__ == "__main__":
    main()
