"""Hybrid quantum-classical classifier on two moons: a noisy lretjax circuit inside a Flax nnx model.

    python examples/qml_classifier_flax.py --out moons.png          # full run, >= 90% test accuracy
    python examples/qml_classifier_flax.py --quick --out /tmp/m.png   # seconds, for CI

The data (two interleaved half circles with Gaussian jitter) are generated here with NumPy. The
model is ``QuantumLayer`` (2 qubits, angles re-uploaded before each of its layers, depolarizing
noise after every gate) followed by a linear read-out to two logits; optax's Adam trains all
parameters, the circuit's angles included, through ``jax.grad`` of the noisy simulation.
"""

from __future__ import annotations

import argparse
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

import lretjax
from lretjax.flax import QuantumLayer


def two_moons(num: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``num`` points of two interleaved half circles, scaled to about [-1, 1]^2, and 0/1 labels."""
    n0 = num // 2
    t0 = rng.uniform(0, np.pi, n0)
    t1 = rng.uniform(0, np.pi, num - n0)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    x = np.concatenate([upper, lower]) + rng.normal(scale=noise, size=(num, 2))
    y = np.concatenate([np.zeros(n0, int), np.ones(num - n0, int)])
    x = (x - np.array([0.5, 0.25])) / np.array([1.5, 0.75])
    order = rng.permutation(num)
    return x[order], y[order]


class HybridClassifier(nnx.Module):
    """Features -> noisy variational circuit -> <Z0>, <Z1>, <Z0 Z1> -> linear -> two logits."""

    def __init__(self, num_layers: int, noise: float, *, rngs: nnx.Rngs):
        model = lretjax.NoiseModel().gate_noise("depolarizing", noise) if noise > 0 else None
        self.quantum = QuantumLayer(
            2, num_layers, ["Z0", "Z1", "Z0 Z1"], noise=model, input_scale=np.pi / 2, rngs=rngs
        )
        self.readout = nnx.Linear(3, 2, rngs=rngs)

    def __call__(self, x):
        return self.readout(self.quantum(x))


def accuracy(model, x, y) -> float:
    return float(jnp.mean(jnp.argmax(model(x), axis=-1) == y))


def plot_boundary(model, x, y, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = np.linspace(-1.6, 1.6, 41)
    xx, yy = np.meshgrid(g, g)
    grid = np.stack([xx.ravel(), yy.ravel()], axis=1)
    prob = np.asarray(jax.nn.softmax(jax.jit(lambda p: model(p))(grid))[:, 1]).reshape(xx.shape)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.contourf(xx, yy, prob, levels=20, cmap="RdBu_r", alpha=0.7)
    ax.contour(xx, yy, prob, levels=[0.5], colors="k")
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", edgecolors="k", s=18)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="qml_classifier_flax.png", help="PNG of the decision boundary")
    parser.add_argument("--quick", action="store_true", help="small data and few epochs (CI)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--noise", type=float, default=0.01, help="depolarizing p after every gate")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    num_train, num_test = (60, 60) if args.quick else (200, 200)
    epochs = args.epochs or (8 if args.quick else 60)
    rng = np.random.default_rng(args.seed)
    x_train, y_train = two_moons(num_train, 0.1, rng)
    x_test, y_test = two_moons(num_test, 0.1, rng)

    model = HybridClassifier(args.layers, args.noise, rngs=nnx.Rngs(args.seed))
    optimizer = nnx.Optimizer(model, optax.adam(args.lr), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, x, y):
        def loss_fn(model):
            return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)
        optimizer.update(model, grads)
        return loss

    @nnx.jit
    def predict(model, x):
        return jnp.argmax(model(x), axis=-1)

    console = Console()
    batch = 20
    progress = Progress(
        TextColumn("[bold]training"), BarColumn(), TextColumn("{task.completed}/{task.total} epochs"),
        TimeElapsedColumn(), console=console, transient=True,
    )
    test_acc = 0.0
    with progress:
        task = progress.add_task("train", total=epochs)
        for epoch in range(1, epochs + 1):
            order = rng.permutation(num_train)
            losses = []
            for start in range(0, num_train, batch):
                idx = order[start : start + batch]
                losses.append(float(train_step(model, optimizer, x_train[idx], y_train[idx])))
            train_acc = float(np.mean(np.asarray(predict(model, x_train)) == y_train))
            test_acc = float(np.mean(np.asarray(predict(model, x_test)) == y_test))
            progress.console.print(
                f"epoch {epoch:3d}/{epochs}  loss {np.mean(losses):.4f}  "
                f"train accuracy {train_acc:.3f}  test accuracy {test_acc:.3f}"
            )
            progress.advance(task)
    plot_boundary(model, x_test, y_test, args.out, f"noisy QML classifier, test accuracy {test_acc:.1%}")
    console.print(f"final test accuracy: {test_acc:.3f}")
    console.print(f"decision boundary written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
