"""PyTorch front door: noisy expectation values as ``torch.autograd.Function`` and ``nn.Module``.

``expval_fn(circuit, observables)`` returns ``f(params: torch.Tensor) -> torch.Tensor``. The
forward pass runs the jitted JAX simulation; the backward pass runs its jitted JAX VJP (the
residuals of the forward pass are kept, so nothing is simulated twice). Gradients are therefore
JAX's own, for ``diff_method="backprop"`` or ``"parameter-shift"`` (``lretjax.grad``), never a
torch re-implementation. Tensors cross by DLPack: no host copy when torch and JAX see the same
device; dtype (float32/float64) and device are preserved.

``jax_enable_x64`` is a process-wide JAX flag read when a function is traced, so this module never
flips it (that would silently change every other JAX computation in the process). float64 tensors
need it on (``jax.config.update("jax_enable_x64", True)`` at start-up) and raise
``SimulationConfigError`` otherwise; float32 tensors work either way.

    >>> f = expval_fn(circuit, ["Z0", "Z1"])
    >>> energy = f(theta).sum(); energy.backward()
    >>> layer = QuantumLayer(circuit, ["Z0", "Z1"], inputs=["x0", "x1"])
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 2), layer, torch.nn.Linear(2, 1))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp

try:
    import torch
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError("lretjax.torch needs PyTorch: pip install 'lretjax[torch]'") from e

from . import grad as _grad
from .circuit import Circuit
from .errors import CircuitError, ParameterError, SimulationConfigError
from .measure import expval
from .observables import DenseObservable, PauliSum, as_observable
from .simulate import DEFAULT_MAX_RANK, check_settings, simulate

__all__ = ["expval_fn", "QuantumLayer", "to_jax", "to_torch"]

_FLOATS = (torch.float32, torch.float64)


# -- crossing the border -------------------------------------------------------------------------


def to_jax(t: torch.Tensor) -> jax.Array:
    """A torch tensor as a JAX array on the same device, sharing memory through DLPack."""
    t = t.detach()
    if not t.is_contiguous():  # stride-0 gradients (from .sum()) and views: DLPack wants compact
        t = t.contiguous()
    try:
        return jax.dlpack.from_dlpack(t)
    except Exception as e:  # noqa: BLE001 - re-raised with the cause attached
        raise SimulationConfigError(
            f"cannot hand a torch tensor on {t.device} to JAX (JAX devices: {jax.devices()}): "
            "install the JAX build for that device, or move the tensor (e.g. .cpu())"
        ) from e


def to_torch(x: jax.Array) -> torch.Tensor:
    """A JAX array as a torch tensor on the same device, sharing memory through DLPack."""
    return torch.utils.dlpack.from_dlpack(x)


# -- the JAX side --------------------------------------------------------------------------------


def _is_single(obs) -> bool:
    return isinstance(obs, (str, Mapping, PauliSum, DenseObservable)) or (
        isinstance(obs, (list, tuple)) and len(obs) > 0 and all(
            isinstance(t, (list, tuple)) and len(t) == 2 for t in obs
        )
    )


def _values_fn(circuit: Circuit, observables: Sequence, diff_method: str, max_rank: int,
               epsilon: float, tolerance: float | None) -> Callable[[jax.Array], jax.Array]:
    """A JAX function params (P,) -> (K,), the values of the K observables, in params' dtype."""
    if diff_method in ("backprop", "adjoint"):
        obs = [as_observable(o, circuit.num_wires) for o in observables]

        def values(params):
            # One simulation serves every observable.
            state = simulate(circuit, params, max_rank=max_rank, epsilon=epsilon, tolerance=tolerance,
                             adjoint=diff_method == "adjoint")
            return jnp.stack([expval(state, o) for o in obs]).astype(params.dtype)

        return values
    # Parameter-shift gradients come from lretjax.grad (one custom_vjp per observable).
    fs = [_grad.expval_fn(circuit, o, diff_method=diff_method, max_rank=max_rank, epsilon=epsilon,
                          tolerance=tolerance) for o in observables]

    def values(params):
        return jnp.stack([f(params) for f in fs]).astype(params.dtype)

    return values


class _Bridge(torch.autograd.Function):
    """forward: jitted JAX values (and the VJP residuals when a gradient is wanted);
    backward: the jitted JAX VJP applied to torch's cotangent."""

    @staticmethod
    def forward(ctx, params, fns, want_grad):
        forward, forward_vjp, backward = fns
        p = to_jax(params)
        if want_grad:
            values, vjp = forward_vjp(p)
            ctx.vjp, ctx.backward = vjp, backward
            # Saved so torch's version counter catches an in-place change before backward.
            ctx.save_for_backward(params)
        else:
            values = forward(p)
        return to_torch(values)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_values):
        # Reading saved_tensors raises if the parameters were modified in place since forward.
        # The residuals stay on ctx (freed with the graph) so retain_graph=True works.
        (params,) = ctx.saved_tensors
        (g,) = ctx.backward(ctx.vjp, to_jax(grad_values.to(params.dtype)))
        return to_torch(g), None, None


def expval_fn(
    circuit: Circuit,
    observables,
    noise=None,
    diff_method: str = "backprop",
    max_rank: int = DEFAULT_MAX_RANK,
    epsilon: float = 0.0,
    tolerance: float | None = None,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``f(params) -> expectation values`` for torch, differentiable by ``torch.autograd``.

    Args:
      circuit: a circuit with symbolic ``lretjax.Param`` slots, bound in ``circuit.parameters`` order.
      observables: one observable (any spelling ``lretjax.expval`` accepts: "Z0 Z1", a dict of Pauli
        strings, a PauliSum, ...) or a list of them.
      noise: optional ``NoiseModel`` (or ``Circuit -> Circuit``) applied to the circuit once, here.
      diff_method: "backprop" (JAX reverse mode), "adjoint" (the backward sweep that undoes the
        steps, memory independent of depth) or "parameter-shift" (lretjax.grad's custom_vjp).
      max_rank, epsilon, tolerance: truncation settings, as in ``lretjax.simulate``.

    Returns:
      ``f(params)`` for a float32/float64 tensor of shape (P,) or (B, P) (a batch, vmapped in JAX);
      the result has shape (K,) or (B, K) for a list of K observables, () or (B,) for one, with the
      dtype and device of ``params``.
    """
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"expval_fn expects a lretjax.Circuit, got {type(circuit).__name__}")
    if diff_method not in _grad.DIFF_METHODS:
        raise SimulationConfigError(f"diff_method must be one of {_grad.DIFF_METHODS}, got {diff_method!r}")
    check_settings(max_rank, epsilon, tolerance)
    if noise is not None:
        circuit = noise.apply(circuit) if hasattr(noise, "apply") else noise(circuit)
    num_params = circuit.num_parameters
    if num_params == 0:
        raise ParameterError("the circuit has no symbolic parameters (lretjax.Param) to feed from torch")
    single = _is_single(observables)
    obs_list = [observables] if single else list(observables)
    if not obs_list:
        raise SimulationConfigError("observables is empty: give at least one observable")
    for o in obs_list:  # errors now, with the user's spelling, rather than at first call
        as_observable(o, circuit.num_wires)
    values = _values_fn(circuit, obs_list, diff_method, max_rank, epsilon, tolerance)

    def build(batched: bool):
        fn = jax.vmap(values) if batched else values

        def fwd_vjp(p):
            return jax.vjp(fn, p)

        return jax.jit(fn), jax.jit(fwd_vjp), jax.jit(lambda vjp, ct: vjp(ct))

    fns = {False: build(False), True: build(True)}

    def f(params: torch.Tensor) -> torch.Tensor:
        check_params(params, num_params, circuit.parameters)
        want_grad = torch.is_grad_enabled() and params.requires_grad
        out = _Bridge.apply(params, fns[params.ndim == 2], want_grad)
        return out[..., 0] if single else out

    f.num_parameters = num_params  # type: ignore[attr-defined]
    f.parameters = circuit.parameters  # type: ignore[attr-defined]
    f.num_outputs = len(obs_list)  # type: ignore[attr-defined]
    return f


def check_params(params, num_params: int, names: Sequence[str] = ()) -> None:
    """Raise a clear error unless ``params`` is a float32/float64 tensor of shape (P,) or (B, P)."""
    if not isinstance(params, torch.Tensor):
        raise ParameterError(f"expected a torch.Tensor of parameters, got {type(params).__name__}")
    if params.dtype not in _FLOATS:
        raise ParameterError(f"parameters must be float32 or float64, got {params.dtype}")
    if params.ndim not in (1, 2) or params.shape[-1] != num_params:
        raise ParameterError(
            f"expected {num_params} parameters {list(names)} as shape ({num_params},) or "
            f"(batch, {num_params}), got shape {tuple(params.shape)}"
        )
    if params.dtype == torch.float64 and not jax.config.jax_enable_x64:
        raise SimulationConfigError(
            "float64 parameters need JAX's x64 mode: call jax.config.update('jax_enable_x64', True) "
            "at start-up, or pass float32 tensors"
        )


# -- the torch module ----------------------------------------------------------------------------


class QuantumLayer(torch.nn.Module):
    """A circuit as a torch layer: inputs fill designated parameters, the rest are trained.

    Args:
      circuit: a circuit with symbolic parameters.
      observables: what the layer outputs (one value per observable, as in ``expval_fn``).
      inputs: names of the circuit parameters filled from the layer's input, in input-column order.
      encoding: alternatively a circuit whose parameters are all inputs, run before ``circuit``
        (``encoding.compose(circuit)``); its parameter names must differ from the trained ones.
      weights: initial values of the trained parameters (default uniform in [0, 2 pi) from torch's
        generator, so ``torch.manual_seed`` makes it reproducible).
      dtype: of the trained parameters (default ``torch.get_default_dtype()``).
      noise, diff_method, max_rank, epsilon, tolerance: as in ``expval_fn``.

    ``forward(x)`` takes (B, I) or (I,) inputs (I = number of inputs; with no inputs, call it with
    no argument) and returns (B, K) or (K,).
    """

    def __init__(self, circuit: Circuit, observables, *, inputs: Sequence[str] = (),
                 encoding: Circuit | None = None, weights=None, dtype: torch.dtype | None = None,
                 noise=None, diff_method: str = "backprop", max_rank: int = DEFAULT_MAX_RANK,
                 epsilon: float = 0.0, tolerance: float | None = None):
        super().__init__()
        if not isinstance(circuit, Circuit):
            raise CircuitError(f"QuantumLayer expects a lretjax.Circuit, got {type(circuit).__name__}")
        inputs = tuple(inputs)
        if encoding is not None:
            if inputs:
                raise ParameterError("give either inputs=[names] or encoding=circuit, not both")
            if not isinstance(encoding, Circuit):
                raise CircuitError(f"encoding must be a lretjax.Circuit, got {type(encoding).__name__}")
            shared = set(encoding.parameters) & set(circuit.parameters)
            if shared:
                raise ParameterError(f"encoding and circuit share parameter names {sorted(shared)}")
            inputs = encoding.parameters
            circuit = encoding.compose(circuit)
        names = circuit.parameters
        unknown = [n for n in inputs if n not in names]
        if unknown or len(set(inputs)) != len(inputs):
            raise ParameterError(
                f"inputs must be distinct parameter names of the circuit {list(names)}, got {list(inputs)}"
            )
        self.fn = expval_fn(circuit, observables, noise=noise, diff_method=diff_method,
                            max_rank=max_rank, epsilon=epsilon, tolerance=tolerance)
        self.input_names = inputs
        self.weight_names = tuple(n for n in names if n not in inputs)
        # Position of every circuit parameter in cat([inputs, weights]).
        order = {n: i for i, n in enumerate(inputs + self.weight_names)}
        self.register_buffer("_perm", torch.tensor([order[n] for n in names], dtype=torch.long),
                             persistent=False)
        dtype = dtype or torch.get_default_dtype()
        w = len(self.weight_names)
        if weights is None:
            init = torch.rand(w, dtype=dtype) * (2 * math.pi)
        else:
            init = torch.as_tensor(weights, dtype=dtype).detach().clone()
            if init.shape != (w,):
                raise ParameterError(
                    f"weights must have shape ({w},) for {list(self.weight_names)}, got {tuple(init.shape)}"
                )
        self.weights = torch.nn.Parameter(init)

    def forward(self, x: torch.Tensor | None = None) -> torch.Tensor:
        n_in = len(self.input_names)
        if x is None:
            if n_in:
                raise ParameterError(f"this layer takes {n_in} inputs {list(self.input_names)}")
            x = self.weights.new_zeros((0,))
        if not isinstance(x, torch.Tensor) or x.ndim not in (1, 2) or x.shape[-1] != n_in:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ParameterError(
                f"expected inputs of shape ({n_in},) or (batch, {n_in}) for "
                f"{list(self.input_names)}, got {shape}"
            )
        x = x.to(self.weights.dtype)
        w = self.weights if x.ndim == 1 else self.weights.expand(x.shape[0], -1)
        params = torch.cat([x, w], dim=-1).index_select(-1, self._perm)
        return self.fn(params)

    def extra_repr(self) -> str:
        return (f"inputs={list(self.input_names)}, weights={list(self.weight_names)}, "
                f"outputs={self.fn.num_outputs}")
