"""lretjax inside PyTorch: H2 VQE with torch.optim.Adam, and a small hybrid classifier.

    python examples/vqe_torch.py            # 150 VQE steps (noiseless and noisy), 60 classifier epochs
    python examples/vqe_torch.py --quick    # 40 steps, 15 epochs (for tests)

VQE: the H2 problem of examples/vqe_h2_optax.py (STO-3G, 0.7414 Angstrom, 4 qubits, Jordan-Wigner,
15 Pauli terms; the coefficients and their source are in that file and imported from it, not copied),
with the energy computed by lretjax.torch.expval_fn and minimised by torch.optim.Adam. The gradient
torch sees is JAX's (the bridge calls the jitted JAX VJP).

Classifier: two interleaved half moons (400 points), Linear(2, 2) -> tanh * pi -> QuantumLayer (two
qubits: RY encoding, two trained layers of rotations and CZ, depolarizing noise) -> Linear(2, 1),
trained with binary cross-entropy; the quantum layer's inputs come from the first Linear layer.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import jax
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vqe_h2_optax import (  # noqa: E402 - the shared H2 problem lives beside this file
    BOND_ANGSTROM,
    CHEMICAL_ACCURACY,
    HAMILTONIAN,
    ansatz,
    exact_ground_energy,
)

from lretjax import Circuit, Param  # noqa: E402
from lretjax.torch import QuantumLayer, expval_fn  # noqa: E402

jax.config.update("jax_enable_x64", True)


def vqe(steps: int, *, noise: float = 0.0, lr: float = 0.1, seed: int = 0) -> list[float]:
    """Minimise <H> with torch.optim.Adam; returns the energy before every step and at the end."""
    circuit = ansatz(noise)
    energy = expval_fn(circuit, HAMILTONIAN, max_rank=16)
    gen = torch.Generator().manual_seed(seed)
    params = torch.nn.Parameter(
        (torch.rand(circuit.num_parameters, generator=gen, dtype=torch.float64) - 0.5) * 0.6
    )
    opt = torch.optim.Adam([params], lr=lr)
    energies = []
    for _ in range(steps):
        opt.zero_grad()
        e = energy(params)
        e.backward()
        opt.step()
        energies.append(e.item())
    with torch.no_grad():
        energies.append(energy(params).item())
    return energies


def moons(num: int, *, noise: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved half circles in 2-D, labels 0 and 1, centred and scaled to about [-1, 1]."""
    gen = torch.Generator().manual_seed(seed)
    t = torch.rand(num, generator=gen, dtype=torch.float64) * math.pi
    label = torch.arange(num) % 2
    x = torch.where(label == 0, torch.cos(t), 1 - torch.cos(t))
    y = torch.where(label == 0, torch.sin(t), 0.5 - torch.sin(t))
    jitter = noise * torch.randn(num, 2, generator=gen, dtype=torch.float64)
    pts = torch.stack([x - 0.5, y - 0.25], dim=1) + jitter
    return pts, label.to(torch.float64)


def classifier_circuit(noise: float = 0.01) -> Circuit:
    """RY(x0), RY(x1) encoding, then two layers of trained RY/RZ and CZ, with depolarizing noise."""
    c = Circuit(2).ry(Param("x0"), 0).ry(Param("x1"), 1)
    for layer in range(2):
        for w in range(2):
            c = c.ry(Param(f"a{layer}{w}"), w).rz(Param(f"b{layer}{w}"), w)
        c = c.cz(0, 1).depolarizing(noise, 0).depolarizing(noise, 1)
    return c


class Scale(torch.nn.Module):
    """tanh(x) * pi: maps features to rotation angles."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x) * math.pi


def classify(epochs: int, *, seed: int = 0, lr: float = 0.05) -> dict[str, float]:
    """Train the hybrid model on half moons; returns the first and last loss and the accuracies."""
    torch.manual_seed(seed)
    x, y = moons(400, seed=seed)
    train, test = slice(0, 300), slice(300, 400)
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 2, dtype=torch.float64),
        Scale(),
        QuantumLayer(classifier_circuit(), ["Z0", "Z1"], inputs=["x0", "x1"], dtype=torch.float64,
                     max_rank=4),
        torch.nn.Linear(2, 1, dtype=torch.float64),
    )
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    losses = []
    for _ in range(epochs):
        for batch in torch.arange(300).split(50):  # 6 minibatches of 50 per epoch
            opt.zero_grad()
            loss = loss_fn(model(x[train][batch]).squeeze(-1), y[train][batch])
            loss.backward()
            opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        acc = {
            name: ((model(x[part]).squeeze(-1) > 0).to(torch.float64) == y[part]).double().mean().item()
            for name, part in (("train", train), ("test", test))
        }
    return {"first_loss": losses[0], "last_loss": losses[-1], "train_accuracy": acc["train"],
            "test_accuracy": acc["test"]}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150, help="VQE Adam steps")
    parser.add_argument("--epochs", type=int, default=60, help="classifier epochs")
    parser.add_argument("--quick", action="store_true", help="40 VQE steps, 15 epochs (for tests)")
    parser.add_argument("--noise", type=float, default=0.01, help="depolarizing p of the noisy VQE (0: skip)")
    args = parser.parse_args(argv)
    steps, epochs = (40, 15) if args.quick else (args.steps, args.epochs)

    exact = exact_ground_energy()
    print(f"H2 at {BOND_ANGSTROM} A: exact ground energy {exact:.6f} Ha ({len(HAMILTONIAN)} terms)")
    runs = {"noiseless": 0.0} | ({f"depolarizing p={args.noise:g}": args.noise} if args.noise else {})
    result: dict = {"exact": exact, "vqe": {}}
    for label, p in runs.items():
        e = vqe(steps, noise=p)
        result["vqe"][label] = e
        print(f"{label:<24} start {e[0]:+.6f} Ha  final {e[-1]:+.6f} Ha  "
              f"error vs exact {1e3 * (e[-1] - exact):+.3f} mHa")
    err = result["vqe"]["noiseless"][-1] - exact
    ok = abs(err) <= CHEMICAL_ACCURACY
    print(f"noiseless within chemical accuracy ({1e3 * CHEMICAL_ACCURACY:.1f} mHa): {ok}")

    c = classify(epochs)
    result["classifier"] = c
    print(
        f"hybrid classifier ({epochs} epochs): loss {c['first_loss']:.3f} -> {c['last_loss']:.3f}, "
        f"train accuracy {c['train_accuracy']:.2f}, test accuracy {c['test_accuracy']:.2f}"
    )
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
