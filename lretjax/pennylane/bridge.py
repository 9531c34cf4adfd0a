"""Backprop for PennyLane's autograd and torch interfaces: the simulation stays one JAX program.

With ``diff_method="backprop"`` PennyLane hands the device tapes whose parameters are autograd
boxes or torch tensors that require grad, and differentiates whatever the device returns. The
device cannot simulate on those types, so ``execute`` turns the tape into a JAX function of its
trainable parameters, flat and real, ``f: R^p -> R^q`` (complex results as real and imaginary
parts), and hands it to autograd (a primitive) or torch (an ``autograd.Function``). Its
derivative is JAX's pullback of ``f``, jitted, and given to autograd or torch as the same kind of
function, so it is differentiable again: ``qml.grad``, ``qml.jacobian``,
``torch.autograd.grad`` and their Hessians all reach JAX's reverse mode through the simulation,
truncation included.

A device keeps the functions of the last few tape structures (``Cache``), so an optimisation
loop or a Jacobian row by row compiles each pullback once, not once per call.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from pennylane.math import Interface

from ..errors import ParameterError

INTERFACES = (Interface.AUTOGRAD, Interface.TORCH)


def _split(vec, sizes):
    out, start = [], 0
    for s in sizes:
        out.append(vec[start:start + s])
        start += s
    return out


class _Flat:
    """A JAX function of flat real vectors to one flat real vector, as autograd and torch
    functions whose derivatives are again ``_Flat`` (each level made once, when first needed)."""

    def __init__(self, fn: Callable):
        self.fn = fn
        self._pullback: _Flat | None = None
        self._autograd: Callable | None = None
        self._torch: Callable | None = None

    @property
    def pullback(self) -> _Flat:
        """(x_1, ..., x_k, g) -> the cotangents of all x_i, concatenated."""
        if self._pullback is None:
            fn = self.fn

            def pull(*args):
                *xs, g = args
                _, vjp = jax.vjp(fn, *xs)
                return jnp.concatenate([jnp.ravel(c) for c in vjp(g)])

            self._pullback = _Flat(jax.jit(pull))
        return self._pullback

    def autograd(self) -> Callable:
        if self._autograd is None:
            from autograd.extend import defvjp_argnums, primitive

            fn = self.fn

            @primitive
            def call(*args):
                return np.asarray(fn(*(jnp.asarray(a) for a in args)), dtype=np.float64)

            def vjp_maker(argnums, ans, args, kwargs):
                pull = self.pullback.autograd()
                sizes = [int(np.size(a)) for a in args]

                def vjp(g):
                    parts = _split(pull(*args, g), sizes)
                    return tuple(parts[i] for i in argnums)

                return vjp

            defvjp_argnums(call, vjp_maker)
            self._autograd = call
        return self._autograd

    def torch(self) -> Callable:
        if self._torch is None:
            import torch

            flat = self

            class Function(torch.autograd.Function):
                @staticmethod
                def forward(ctx, *args):
                    ctx.save_for_backward(*args)
                    out = flat.fn(*(jnp.asarray(a.detach().cpu().numpy()) for a in args))
                    # torch.tensor copies: torch warns on JAX's read-only buffers.
                    return torch.tensor(np.asarray(out, dtype=np.float64), device=args[0].device)

                @staticmethod
                def backward(ctx, g):
                    args = ctx.saved_tensors
                    cot = flat.pullback.torch()(*args, g)
                    return tuple(_split(cot, [a.numel() for a in args]))

            self._torch = Function.apply
        return self._torch


class Cache:
    """The flat functions of a device's last ``size`` tape structures (least recently used out)."""

    def __init__(self, size: int = 16):
        self.size = size
        self._entries: OrderedDict = OrderedDict()

    def get(self, key, make: Callable):
        if key in self._entries:
            self._entries.move_to_end(key)
        else:
            self._entries[key] = make()
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return self._entries[key]


def _trainable(p, interface: Interface) -> bool:
    if interface == Interface.AUTOGRAD:
        from autograd.tracer import Box

        return isinstance(p, Box)
    import torch

    return isinstance(p, torch.Tensor) and p.requires_grad


def _concrete(p, interface: Interface):
    """A parameter's value with every autograd box or torch graph stripped."""
    if interface == Interface.AUTOGRAD:
        from autograd.tracer import getval

        return getval(p)
    import torch

    return p.detach().cpu().numpy() if isinstance(p, torch.Tensor) else p


def _exact(v):
    a = np.asarray(v)
    return (a.dtype.str, a.shape, a.tobytes()) if a.dtype != object else repr(v)


def _key(base, values, trainable):
    """The tape's structure and its untrained values, exactly (``tape.hash`` rounds numbers)."""
    zeroed = base.bind_new_parameters([np.zeros(np.shape(values[i])) for i in trainable], trainable)
    fixed = tuple(_exact(v) for i, v in enumerate(values) if i not in trainable)
    return zeroed.hash, fixed, tuple(trainable), tuple(np.shape(values[i]) for i in trainable)


def _entry(run: Callable, base, trainable: list[int], shapes: list):
    sizes = [math.prod(s) for s in shapes]
    layout: list = []  # the result's tree and leaves, recorded by the first call

    def f(x):
        values = [v.reshape(s) for v, s in zip(_split(x, sizes), shapes, strict=True)]
        out = run(base.bind_new_parameters(values, trainable))
        leaves, tree = jax.tree_util.tree_flatten(out)
        layout[:] = [tree, [(jnp.shape(v), jnp.iscomplexobj(v)) for v in leaves]]
        parts = []
        for v in leaves:
            parts.append(jnp.ravel(jnp.real(v)))
            if jnp.iscomplexobj(v):
                parts.append(jnp.ravel(jnp.imag(v)))
        return jnp.concatenate(parts)

    return _Flat(f), layout


def execute(run: Callable, tape, interface: Interface, cache: Cache, where: str):
    """``run(tape)`` (a JAX result pytree) for a tape whose parameters may be autograd boxes or
    torch tensors, as results of that framework that it can differentiate (any order)."""
    params = tape.get_parameters(trainable_only=False)
    trainable = [i for i, p in enumerate(params) if _trainable(p, interface)]
    values = [_concrete(p, interface) for p in params]
    base = tape.bind_new_parameters(values, list(range(len(params))))
    if not trainable:
        if interface == Interface.TORCH:
            import torch

            return jax.tree_util.tree_map(lambda v: torch.tensor(np.asarray(v)), run(base))
        return jax.tree_util.tree_map(np.asarray, run(base))
    for i in trainable:
        if np.iscomplexobj(values[i]):
            raise ParameterError(
                f"{where}: trainable parameter {i} of the tape is complex; backprop with "
                f"interface='{interface.value}' takes real parameters: use interface='jax'"
            )
    shapes = [np.shape(values[i]) for i in trainable]
    flat, layout = cache.get(_key(base, values, trainable), lambda: _entry(run, base, trainable, shapes))
    if interface == Interface.AUTOGRAD:
        import autograd.numpy as anp

        x = anp.concatenate([anp.ravel(params[i]) * 1.0 for i in trainable])
        y = flat.autograd()(x)
    else:
        import torch

        x = torch.cat([params[i].reshape(-1).to(torch.float64) for i in trainable])
        y = flat.torch()(x)
    tree, leaves = layout
    out, start = [], 0
    for shape, is_complex in leaves:
        size = math.prod(shape)
        v = y[start:start + size].reshape(shape)
        start += size
        if is_complex:
            v = v + 1j * y[start:start + size].reshape(shape)
            start += size
        out.append(v)
    return jax.tree_util.tree_unflatten(tree, out)
