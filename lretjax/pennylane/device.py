"""The ``lretjax.mixed`` PennyLane device: noisy circuits on the low-rank state rho = L L^dagger.

    >>> dev = qml.device("lretjax.mixed", wires=3, max_rank=32, noise_model=model)
    >>> @qml.qnode(dev, interface="jax", diff_method="backprop")
    ... def f(x): ...

Gradients: ``diff_method="backprop"`` (JAX reverse mode through the simulation, works under
``jax.jit``), ``"device"`` (the device's own Jacobian: lretjax's parameter-shift ``custom_vjp``,
backprop or the adjoint sweep, chosen by ``device_gradient``), or any PennyLane transform such as
``"parameter-shift"``, which calls this device on shifted circuits.
"""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pennylane as qml
from pennylane.devices import Device, ExecutionConfig
from pennylane.devices.modifiers import simulator_tracking, single_tape_support
from pennylane.devices.preprocess import (
    decompose,
    null_postprocessing,
    validate_device_wires,
    validate_measurements,
    validate_observables,
)
from pennylane.exceptions import DeviceError
from pennylane.math import Interface
from pennylane.measurements import (
    DensityMatrixMP,
    ExpectationMP,
    ProbabilityMP,
    PurityMP,
    SampleMeasurement,
    StateMeasurement,
    StateMP,
    VarianceMP,
)
from pennylane.tape import QuantumScript
from pennylane.transforms.core import CompilePipeline

from ..circuit import Circuit, Param
from ..errors import CircuitError, ParameterError, SimulationConfigError
from ..gates import GATES
from ..grad import expval_fn
from ..measure import (
    expval,
    probabilities,
    purity,
    reduced_density_matrix,
    rotated,
    sample,
    to_density_matrix,
)
from ..simulate import DEFAULT_MAX_RANK, check_settings, simulate
from ..state import LowRankState
from . import translate

DEVICE_GRADIENTS = ("backprop", "parameter-shift", "adjoint")
_JAX = {Interface.JAX, Interface.JAX_JIT, Interface.NUMPY, Interface.AUTO}


@qml.transform
def _split_when_sampled(tape: QuantumScript):
    """Split non-commuting observables into separate tapes, but only for finite shots: analytic
    expectation values of any sum are computed directly."""
    if tape.shots and len(tape.measurements) > 0:
        return qml.transforms.split_non_commuting(tape)
    return (tape,), null_postprocessing


def _observable_ok(obs) -> bool:
    return obs.pauli_rep is not None or obs.has_matrix


@simulator_tracking
@single_tape_support
class LretDevice(Device):
    """PennyLane device ``lretjax.mixed``: LRET simulation of noisy qubit circuits in JAX.

    Args:
      wires: number of wires or an iterable of labels of any hashable kind.
      shots: None (analytic) or a number / shot vector.
      max_rank: static cap on the columns of L (see ``lretjax.simulate``).
      epsilon: relative eigenvalue weight dropped after each channel.
      tolerance: instead of epsilon, a bound on the total discarded weight (``lretjax.simulate``).
      noise_model: a ``lretjax.NoiseModel`` (applied to every circuit, wires in device order) or
        a ``qml.NoiseModel`` (added as PennyLane's ``add_noise`` transform).
      seed: seed of the sampling keys (an int or None).
      device_gradient: what ``diff_method="device"`` computes: "backprop", "parameter-shift"
        (lretjax's exact shift rules; expectation values of named gates' parameters only,
        otherwise it falls back to backprop) or "adjoint" (the backward sweep that undoes the
        steps instead of storing them: memory independent of depth; it then also serves
        ``diff_method="backprop"``; ``lretjax.grad``).
    """

    @property
    def name(self) -> str:
        return "lretjax.mixed"

    def __init__(
        self,
        wires=None,
        shots=None,
        *,
        max_rank: int = DEFAULT_MAX_RANK,
        epsilon: float = 0.0,
        tolerance: float | None = None,
        noise_model=None,
        seed: int | None = None,
        device_gradient: str = "backprop",
    ) -> None:
        check_settings(max_rank, epsilon, tolerance)
        if device_gradient not in DEVICE_GRADIENTS:
            raise SimulationConfigError(
                f"device_gradient must be one of {DEVICE_GRADIENTS}, got {device_gradient!r}"
            )
        if noise_model is not None and not (
            hasattr(noise_model, "apply") or isinstance(noise_model, qml.NoiseModel)
        ):
            raise SimulationConfigError(
                "noise_model must be a lretjax.NoiseModel or a qml.NoiseModel, got "
                f"{type(noise_model).__name__}"
            )
        super().__init__(wires=wires, shots=shots)
        self.max_rank = int(max_rank)
        self.epsilon, self.tolerance = epsilon, tolerance
        self.noise_model = noise_model
        self.device_gradient = device_gradient
        self._rng = np.random.default_rng(seed)

    # -- configuration ---------------------------------------------------------------------------

    def supports_derivatives(self, execution_config=None, circuit=None) -> bool:
        if execution_config is None:
            return True
        if execution_config.gradient_method not in {"backprop", "best", "device"}:
            return False
        if Interface(execution_config.interface) not in _JAX:
            return False
        return circuit is None or not circuit.shots

    def setup_execution_config(self, config: ExecutionConfig | None = None, circuit=None) -> ExecutionConfig:
        config = config or ExecutionConfig()
        updated = {}
        if config.gradient_method == "best":
            updated["gradient_method"] = "backprop"
        method = updated.get("gradient_method", config.gradient_method)
        updated["use_device_gradient"] = method in {"backprop", "device"}
        updated["use_device_jacobian_product"] = False
        updated["grad_on_execution"] = False
        updated["interface"] = Interface(config.interface)
        if config.device_options:
            raise DeviceError(f"lretjax.mixed takes no device options, got {dict(config.device_options)}")
        return replace(config, **updated)

    def preprocess_transforms(self, execution_config: ExecutionConfig | None = None) -> CompilePipeline:
        program = CompilePipeline()
        program.add_transform(qml.defer_measurements, allow_postselect=False)
        if isinstance(self.noise_model, qml.NoiseModel):
            program.add_transform(qml.add_noise, self.noise_model)
        program.add_transform(
            decompose, stopping_condition=translate.supports_operation, name=self.name
        )
        program.add_transform(validate_device_wires, self.wires, name=self.name)
        program.add_transform(
            validate_measurements,
            analytic_measurements=lambda m: isinstance(m, (StateMeasurement, ExpectationMP, VarianceMP)),
            sample_measurements=lambda m: isinstance(m, SampleMeasurement),
            name=self.name,
        )
        program.add_transform(validate_observables, stopping_condition=_observable_ok, name=self.name)
        program.add_transform(_split_when_sampled)
        program.add_transform(qml.transforms.broadcast_expand)  # one circuit per batch entry
        return program

    # -- execution -------------------------------------------------------------------------------

    def _wire_order(self, tape: QuantumScript) -> qml.wires.Wires:
        return self.wires if self.wires is not None else tape.wires

    def _circuit(self, tape: QuantumScript, params: dict | None = None, noise: bool = True):
        """The lretjax circuit of ``tape`` and its initial state vector (None for |0...0>).

        ``params`` maps an operation's position to replacement parameters (symbols)."""
        order = self._wire_order(tape)
        n = max(len(order), 1)

        def index(label):
            return order.index(label)

        ops = list(tape.operations)
        initial = None
        if ops and isinstance(ops[0], qml.operation.StatePrepBase):
            initial = jnp.asarray(ops[0].state_vector(wire_order=order)).reshape(-1)
            ops = ops[1:]
        circuit = Circuit(n)
        for i, op in enumerate(ops):
            if isinstance(op, qml.operation.StatePrepBase):
                raise CircuitError(f"{op.name} is only supported as the first operation")
            p = None if params is None else params.get(i)
            circuit = translate.add_operation(circuit, op, index, p)
        if noise and self.noise_model is not None and not isinstance(self.noise_model, qml.NoiseModel):
            circuit = self.noise_model.apply(circuit)
        return circuit, initial, index, n

    def _state(self, tape: QuantumScript):
        circuit, initial, index, n = self._circuit(tape)
        state = simulate(circuit, max_rank=self.max_rank, epsilon=self.epsilon, tolerance=self.tolerance,
                         initial_state=initial, representation="low-rank",
                         adjoint=self.device_gradient == "adjoint")
        return state, index, n

    @staticmethod
    def _rotated(state: LowRankState, obs, index) -> LowRankState:
        """The state in the eigenbasis of ``obs`` (its diagonalizing gates applied)."""
        gates = obs.diagonalizing_gates()
        return rotated(state, [(qml.matrix(g, wire_order=g.wires), [index(w) for w in g.wires])
                               for g in gates])

    def _analytic(self, mp, state: LowRankState, index, n: int, order):
        if isinstance(mp, ExpectationMP):
            return expval(state, translate.observable(mp.obs, index, n))
        if isinstance(mp, VarianceMP):
            mean = expval(state, translate.observable(mp.obs, index, n))
            second = expval(state, translate.observable(translate.squared(mp.obs), index, n))
            return second - mean**2
        if isinstance(mp, ProbabilityMP):
            if mp.obs is not None:
                state, wires = self._rotated(state, mp.obs, index), mp.obs.wires
            else:
                wires = mp.wires if len(mp.wires) else order
            wires = [index(w) for w in wires]
            p = probabilities(state, wires)
            return self._readout().readout_probabilities(p, wires) if self._readout() else p
        if isinstance(mp, DensityMatrixMP) or type(mp) is StateMP:
            wires = mp.wires if len(mp.wires) else order
            return reduced_density_matrix(state, [index(w) for w in wires])
        if isinstance(mp, PurityMP):
            wires = mp.wires if len(mp.wires) else order
            return purity(state, [index(w) for w in wires])
        if isinstance(mp, StateMeasurement):
            return mp.process_density_matrix(to_density_matrix(state), order)
        raise DeviceError(f"lretjax.mixed cannot return {type(mp).__name__} without shots")

    def _sampled(self, mp, state: LowRankState, index, shots: int, order):
        if mp.obs is not None:
            state = self._rotated(state, mp.obs, index)
        key, readout_key = jax.random.split(jax.random.key(int(self._rng.integers(2**31))))
        bits = sample(state, shots, key)
        if self._readout():
            bits = self._readout().readout_samples(bits, readout_key)
        return mp.process_samples(bits, order)

    def _readout(self):
        """The lretjax noise model when it has readout errors (applied to probs and samples)."""
        model = self.noise_model
        return model if getattr(model, "readout", None) else None

    def _run(self, tape: QuantumScript):
        state, index, n = self._state(tape)
        order = self._wire_order(tape)
        if not tape.shots:
            out = tuple(self._analytic(mp, state, index, n, order) for mp in tape.measurements)
            return out[0] if len(out) == 1 else out
        per_shots = []
        for s in tape.shots:
            out = tuple(self._sampled(mp, state, index, s, order) for mp in tape.measurements)
            per_shots.append(out[0] if len(out) == 1 else out)
        return tuple(per_shots) if tape.shots.has_partitioned_shots else per_shots[0]

    def execute(self, circuits, execution_config: ExecutionConfig | None = None):
        results = tuple(self._run(tape) for tape in circuits)
        interface = Interface((execution_config or ExecutionConfig()).interface)
        if interface in {Interface.JAX, Interface.JAX_JIT}:
            return results
        # Other interfaces (numpy, autograd, torch via parameter-shift) expect NumPy results.
        return jax.tree_util.tree_map(
            lambda v: v if isinstance(v, jax.core.Tracer) else np.asarray(v), results
        )

    # -- device derivatives ----------------------------------------------------------------------

    def compute_derivatives(self, circuits, execution_config: ExecutionConfig | None = None):
        return tuple(self._jacobian(tape) for tape in circuits)

    def execute_and_compute_derivatives(self, circuits, execution_config: ExecutionConfig | None = None):
        return self.execute(circuits, execution_config), self.compute_derivatives(circuits, execution_config)

    def _jacobian(self, tape: QuantumScript):
        trainable = list(tape.trainable_params)
        real = jnp.result_type(float)
        values = [jnp.asarray(p, dtype=real) for p in tape.get_parameters(trainable_only=True)]
        num_mps = len(tape.measurements)
        if not trainable:
            return tuple(() for _ in range(num_mps)) if num_mps > 1 else ()
        jac = None
        if self.device_gradient == "parameter-shift":
            jac = self._shift_jacobian(tape, trainable, values)
        if jac is None:

            def f(*ps):
                out = self._run(tape.bind_new_parameters(list(ps), trainable))
                return out if num_mps > 1 else (out,)

            # One compiled program: op-by-op dispatch of a traced Jacobian is far slower.
            jac = jax.jit(jax.jacobian(f, argnums=tuple(range(len(values)))))(*values)
        jac = tuple(j[0] if len(values) == 1 else tuple(j) for j in jac)
        return jac if num_mps > 1 else jac[0]

    def _shift_jacobian(self, tape: QuantumScript, trainable: list[int], values: list):
        """Jacobian from lretjax.grad's parameter-shift custom_vjp; None where it does not apply."""
        if not all(isinstance(mp, ExpectationMP) for mp in tape.measurements):
            return None
        ops = list(tape.operations)
        if ops and isinstance(ops[0], qml.operation.StatePrepBase):
            return None
        # Tape parameter k lives in operation position -> slot; give trainable ones symbols.
        symbols: dict[int, list] = {}
        k = 0
        names: dict[int, str] = {}
        for i, op in enumerate(ops):
            data = list(op.data)
            for j in range(len(data)):
                if k in trainable:
                    name = translate.GATE_NAMES.get(op.name)
                    if name is None or not GATES[name].spectra:  # no parameter-shift rule
                        return None
                    names[k] = f"t{k}"
                    data[j] = Param(f"t{k}")
                k += 1
            symbols[i] = tuple(data)
        if len(names) != len(trainable):
            return None  # a trainable parameter sits in an observable
        circuit = self._circuit(tape, symbols, noise=False)[0]  # expval_fn applies the noise
        noise = self.noise_model
        order = self._wire_order(tape)
        index, n = order.index, max(len(order), 1)
        # circuit.parameters is in first-appearance order; map our values to it.
        position = {f"t{t}": v for t, v in zip(trainable, values, strict=True)}
        vec = jnp.stack([position[p] for p in circuit.parameters])
        where = {p: i for i, p in enumerate(circuit.parameters)}
        rows = []
        try:
            for mp in tape.measurements:
                f = expval_fn(
                    circuit, translate.observable(mp.obs, index, n), diff_method="parameter-shift",
                    max_rank=self.max_rank, epsilon=self.epsilon, tolerance=self.tolerance,
                    noise=None if isinstance(noise, qml.NoiseModel) else noise,
                )
                g = jax.grad(f)(vec)
                rows.append(tuple(g[where[f"t{t}"]] for t in trainable))
        except (ParameterError, CircuitError):
            return None
        return rows

