"""Flax front door: a noisy variational circuit as a ``flax.nnx`` layer (``pip install lretjax[flax]``).

    >>> from flax import nnx
    >>> layer = QuantumLayer(3, num_layers=2, noise=lretjax.NoiseModel().gate_noise("depolarizing", 1e-3),
    ...                      rngs=nnx.Rngs(0))
    >>> y = layer(x)          # x: (batch, features <= 3) -> y: (batch, 3), <Z_i> per wire

Each sample runs its own circuit: the features are encoded as RY angles (re-uploaded before
every layer when ``reupload``), then each layer applies RZ RY RZ on every wire with trainable
angles (``nnx.Param`` of shape (num_layers, num_wires, 3)) and a ring of CNOTs. The noise model
inserts its channels; the low-rank simulation runs under ``vmap`` over the batch, so the layer
trains with ``nnx.grad`` / optax like any other module.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from .circuit import Circuit
from .errors import CircuitError, ObservableError, SimulationConfigError
from .measure import expval
from .observables import as_observable
from .simulate import DEFAULT_MAX_RANK, check_settings, simulate

# The layer's circuit depends on the parameters through its gate matrices (not symbolic slots),
# so parameter-shift, which shifts slots, is not offered here.
LAYER_DIFF_METHODS = ("backprop", "adjoint")


class QuantumLayer(nnx.Module):
    """Data encoding + trainable ansatz + measured observables, on the low-rank noisy simulator.

    Args:
      num_wires: qubits of the circuit; inputs may have up to this many features.
      num_layers: ansatz layers.
      observables: what to measure, any ``lretjax.expval`` spelling; default Z on each wire.
      noise: a ``lretjax.NoiseModel`` (or ``Circuit -> Circuit`` function) applied to the circuit.
      reupload: encode the features again before every layer (more expressive classifiers).
      input_scale: features are multiplied by this before they become angles.
      max_rank, epsilon, tolerance: truncation settings, as in ``lretjax.simulate``.
      diff_method: "backprop" (JAX reverse mode through the simulation) or "adjoint" (a backward
        sweep that undoes the steps: memory independent of depth; ``lretjax.grad``).
      rngs: ``nnx.Rngs`` for the initial angles (uniform in [0, 2 pi)).
    """

    def __init__(
        self,
        num_wires: int,
        num_layers: int = 2,
        observables: Sequence | None = None,
        *,
        noise=None,
        reupload: bool = True,
        input_scale: float = 1.0,
        max_rank: int = DEFAULT_MAX_RANK,
        epsilon: float = 0.0,
        tolerance: float | None = None,
        diff_method: str = "backprop",
        rngs: nnx.Rngs,
    ):
        if isinstance(num_wires, bool) or not isinstance(num_wires, int) or num_wires < 1:
            raise CircuitError(f"num_wires must be a positive integer, got {num_wires!r}")
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise CircuitError(f"num_layers must be a positive integer, got {num_layers!r}")
        check_settings(max_rank, epsilon, tolerance)
        if diff_method not in LAYER_DIFF_METHODS:
            raise SimulationConfigError(
                f"diff_method must be one of {LAYER_DIFF_METHODS}, got {diff_method!r}")
        self.diff_method = diff_method
        if observables is None:
            observables = [f"Z{w}" for w in range(num_wires)]
        if isinstance(observables, str) or not len(observables):
            raise ObservableError("observables must be a non-empty list (one output per observable)")
        self.observables = nnx.data(tuple(as_observable(o, num_wires) for o in observables))
        self.num_wires, self.num_layers = num_wires, num_layers
        self.noise, self.reupload, self.input_scale = noise, reupload, input_scale
        self.max_rank, self.epsilon, self.tolerance = max_rank, epsilon, tolerance
        self.weights = nnx.Param(
            jax.random.uniform(rngs.params(), (num_layers, num_wires, 3), maxval=2 * jnp.pi)
        )

    def circuit(self, x: jax.Array, weights: jax.Array) -> Circuit:
        """The (noisy) circuit for one sample ``x`` of shape (features,)."""
        n = self.num_wires
        c = Circuit(n)
        for layer in range(self.num_layers):
            if layer == 0 or self.reupload:
                for i in range(x.shape[0]):
                    c = c.ry(self.input_scale * x[i], i)
            for w in range(n):
                c = c.rz(weights[layer, w, 0], w).ry(weights[layer, w, 1], w).rz(weights[layer, w, 2], w)
            if n > 1:
                for w in range(n if n > 2 else 1):
                    c = c.cx(w, (w + 1) % n)
        if self.noise is not None:
            c = self.noise.apply(c) if hasattr(self.noise, "apply") else self.noise(c)
        return c

    def _single(self, x, weights):
        state = simulate(self.circuit(x, weights), max_rank=self.max_rank, epsilon=self.epsilon,
                         tolerance=self.tolerance, adjoint=self.diff_method == "adjoint")
        return jnp.stack([expval(state, o) for o in self.observables])

    def __call__(self, x: jax.Array) -> jax.Array:
        """Expectation values, shape (..., num_observables), for inputs of shape (..., features)."""
        x = jnp.asarray(x)
        if x.ndim == 0 or x.shape[-1] > self.num_wires:
            raise CircuitError(
                f"QuantumLayer on {self.num_wires} wires takes inputs of shape (..., features <= "
                f"{self.num_wires}), got {x.shape}"
            )
        weights = self.weights[...]
        flat = x.reshape(-1, x.shape[-1])
        out = jax.vmap(self._single, in_axes=(0, None))(flat, weights)
        return out.reshape(x.shape[:-1] + (len(self.observables),))
