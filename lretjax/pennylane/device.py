"""The ``lretjax.mixed`` PennyLane device: noisy circuits on the low-rank state rho = L L^dagger.

    >>> dev = qml.device("lretjax.mixed", wires=3, max_rank=32, noise_model=model)
    >>> @qml.qnode(dev, interface="jax", diff_method="backprop")
    ... def f(x): ...

Gradients: ``diff_method="backprop"`` (JAX reverse mode through the simulation, works under
``jax.jit``; with the autograd and torch interfaces the same JAX reverse mode reaches autograd or
torch through ``bridge``), ``"device"`` (the device's own Jacobian: lretjax's parameter-shift
``custom_vjp``, backprop or the adjoint sweep, chosen by ``device_gradient``), or any PennyLane
transform such as ``"parameter-shift"``, which calls this device on shifted circuits.

Mid-circuit measurements and ``qml.cond`` run as a lretjax dynamic circuit (``translate``,
``lretjax.dynamic.lower``): no extra device wires, resets as channels, exact statistics of the
measured values (``qml.expval(m)``, ``qml.probs(op=[m0, m1])``, ``qml.sample(m)``, ...).
``mcm_method="deferred"`` asks for PennyLane's ``defer_measurements`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
    CountsMP,
    DensityMatrixMP,
    ExpectationMP,
    ProbabilityMP,
    PurityMP,
    SampleMeasurement,
    StateMeasurement,
    StateMP,
    VarianceMP,
)
from pennylane.ops.mid_measure import MeasurementValue
from pennylane.tape import QuantumScript
from pennylane.transforms.core import CompilePipeline
from pennylane.wires import Wires

from ..circuit import Circuit, Param
from ..dynamic import lower
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
from . import bridge, translate

DEVICE_GRADIENTS = ("backprop", "parameter-shift", "adjoint")
_JAX = {Interface.JAX, Interface.JAX_JIT, Interface.NUMPY, Interface.AUTO}
# Interfaces that differentiate through the device: JAX directly, autograd and torch by the bridge.
_DIFFERENTIABLE = _JAX | set(bridge.INTERFACES)
# mcm_method values: None and "device" run lretjax's dynamic circuits, "deferred" PennyLane's
# defer_measurements (which adds wires: the device needs spare ones).
MCM_METHODS = (None, "device", "deferred")


@qml.transform
def _split_when_sampled(tape: QuantumScript):
    """Split non-commuting observables into separate tapes, but only for finite shots: analytic
    expectation values of any sum are computed directly."""
    if tape.shots and len(tape.measurements) > 0:
        return qml.transforms.split_non_commuting(tape)
    return (tape,), null_postprocessing


def _observable_ok(obs) -> bool:
    return obs.pauli_rep is not None or obs.has_matrix


@dataclass(frozen=True)
class _Run:
    """A simulated tape: its state, the map from wire labels to indices, the number of the
    circuit's own wires (the state may have more: ancillas holding measured bits) and, per
    mid-circuit measurement (by ``meas_uid``), the wire holding its bit (None: reads 0) and the
    readout confusion left to the readers."""

    state: LowRankState
    index: object
    num_wires: int
    bit_wires: dict
    confusions: dict


def _mid_circuit_values(mp) -> list:
    """The mid-circuit measurements a terminal measurement reads, each once, in order."""
    values = mp.mv if isinstance(mp.mv, list) else [mp.mv]
    seen: dict = {}
    for v in values:
        for m in v.measurements:
            seen.setdefault(m.meas_uid, m)
    return list(seen.values())


def _on_bits(mp, measurements: list):
    """``mp`` reading bits instead of wires: measured value j on wire j (so PennyLane's own
    processing of the values, ``m0 + 2 * m1`` and the like, applies unchanged)."""
    position = {m.meas_uid: j for j, m in enumerate(measurements)}

    def remap(v):
        ms = [qml.map_wires(m, {m.wires[0]: position[m.meas_uid]}) for m in v.measurements]
        return MeasurementValue(ms, v.processing_fn if v.has_processing else None)

    mv = [remap(v) for v in mp.mv] if isinstance(mp.mv, list) else remap(mp.mv)
    with qml.QueuingManager.stop_recording():
        if isinstance(mp, CountsMP):
            return CountsMP(obs=mv, all_outcomes=mp.all_outcomes)
        return type(mp)(obs=mv)


def _to_numpy(v):
    """A JAX array as a writable NumPy copy (torch warns on read-only buffers); tracers and what
    PennyLane's readers made, such as counts, stay as they are."""
    return np.array(v) if isinstance(v, jax.Array) and not isinstance(v, jax.core.Tracer) else v


def _mcm_method(config: ExecutionConfig | None):
    method = None if config is None else config.mcm_config.mcm_method
    return None if method is None else str(getattr(method, "value", method))


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
        self._bridge_cache = bridge.Cache()  # autograd / torch backprop: compiled pullbacks

    # -- configuration ---------------------------------------------------------------------------

    def supports_derivatives(self, execution_config=None, circuit=None) -> bool:
        if execution_config is None:
            return True
        method = execution_config.gradient_method
        if method not in {"backprop", "best", "device"}:
            return False
        interface = Interface(execution_config.interface)
        if interface not in _DIFFERENTIABLE:
            if method == "best":
                return False  # PennyLane falls back to its parameter-shift transform
            raise SimulationConfigError(
                f"lretjax.mixed cannot give diff_method={method!r} to interface='{interface.value}': "
                "use interface='jax' (or 'autograd' or 'torch'), or diff_method='parameter-shift'"
            )
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
        if _mcm_method(config) not in MCM_METHODS:
            raise SimulationConfigError(
                f"lretjax.mixed runs mid-circuit measurements natively (mcm_method=None or 'device') "
                f"or by mcm_method='deferred', not mcm_method={_mcm_method(config)!r}"
            )
        return replace(config, **updated)

    def preprocess_transforms(self, execution_config: ExecutionConfig | None = None) -> CompilePipeline:
        program = CompilePipeline()
        if _mcm_method(execution_config) == "deferred":
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
        bits = {op.meas_uid: k for k, op in enumerate(o for o in ops if isinstance(o, qml.ops.MidMeasure))}
        circuit = Circuit(n, cregs={"mcm": len(bits)} if bits else None)
        for i, op in enumerate(ops):
            if isinstance(op, qml.operation.StatePrepBase):
                raise CircuitError(f"{op.name} is only supported as the first operation")
            p = None if params is None else params.get(i)
            if isinstance(op, qml.ops.MidMeasure):
                circuit = translate.add_measurement(circuit, op, index, bits[op.meas_uid])
            elif isinstance(op, qml.ops.Conditional):
                circuit = translate.add_conditional(circuit, op, index, bits, p)
            else:
                circuit = translate.add_operation(circuit, op, index, p)
        if noise and self.noise_model is not None and not isinstance(self.noise_model, qml.NoiseModel):
            circuit = self.noise_model.apply(circuit)
        return circuit, initial, index, n

    def _simulate(self, tape: QuantumScript) -> _Run:
        circuit, initial, index, n = self._circuit(tape)
        bit_wires, confusions = {}, {}
        if circuit.cregs:
            # A dynamic circuit: lowered to a static one whose extra wires hold measured bits.
            uids = [op.meas_uid for op in tape.operations if isinstance(op, qml.ops.MidMeasure)]
            low = lower(circuit)
            bit_wires = dict(zip(uids, low.bit_wires, strict=True))
            confusions = {uids[b]: c for b, c in low.confusions}
            static = low.circuit  # measured wires dephased (``lower``'s post_measurement)
            if initial is not None and low.ancillas:
                initial = jnp.kron(initial, jnp.zeros(2**low.ancillas, initial.dtype).at[0].set(1))
            circuit = static
        state = simulate(circuit, max_rank=self.max_rank, epsilon=self.epsilon, tolerance=self.tolerance,
                         initial_state=initial, representation="low-rank",
                         adjoint=self.device_gradient == "adjoint")
        return _Run(state, index, n, bit_wires, confusions)

    @staticmethod
    def _rotated(state: LowRankState, obs, index) -> LowRankState:
        """The state in the eigenbasis of ``obs`` (its diagonalizing gates applied)."""
        gates = obs.diagonalizing_gates()
        return rotated(state, [(qml.matrix(g, wire_order=g.wires), [index(w) for w in g.wires])
                               for g in gates])

    @staticmethod
    def _source(run: _Run, m):
        """The wire holding mid-circuit measurement ``m``'s value (None: it reads 0). After
        ``mcm_method="deferred"`` the measurement's own wire holds it."""
        return run.bit_wires[m.meas_uid] if m.meas_uid in run.bit_wires else run.index(m.wires[0])

    def _bit_probabilities(self, run: _Run, measurements: list):
        """Joint distribution of mid-circuit measured values (the first one the high bit), read
        errors left to the readers applied."""
        uids = [m.meas_uid for m in measurements]
        sources = [self._source(run, m) for m in measurements]
        wires = list(dict.fromkeys(w for w in sources if w is not None))
        table = probabilities(run.state, wires) if wires else jnp.ones(1, jnp.result_type(float))
        k, m = len(uids), len(wires)
        outcome = np.arange(2**m)
        index = np.zeros(2**m, dtype=np.int64)
        for j, w in enumerate(sources):
            if w is not None:
                index |= ((outcome >> (m - 1 - wires.index(w))) & 1) << (k - 1 - j)
        p = jnp.zeros(2**k, table.dtype).at[index].add(table).reshape((2,) * k)
        for j, u in enumerate(uids):
            if u in run.confusions:  # C[true, read]
                c = jnp.asarray(run.confusions[u], dtype=p.dtype)
                p = jnp.moveaxis(jnp.tensordot(c, jnp.moveaxis(p, j, 0), axes=([0], [0])), 0, j)
        return p.reshape(-1)

    def _analytic(self, mp, run: _Run, order):
        state, index, n = run.state, run.index, run.state.num_wires
        if getattr(mp, "mv", None) is not None:
            measurements = _mid_circuit_values(mp)
            p = self._bit_probabilities(run, measurements)
            rho = jnp.diag(p.astype(jnp.result_type(p.dtype, jnp.complex64)))
            return _on_bits(mp, measurements).process_density_matrix(rho, Wires(range(len(measurements))))
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
            if run.num_wires < n:  # ancillas hold measured bits: trace them out
                return mp.process_density_matrix(reduced_density_matrix(state, range(run.num_wires)), order)
            return mp.process_density_matrix(to_density_matrix(state), order)
        raise DeviceError(f"lretjax.mixed cannot return {type(mp).__name__} without shots")

    def _keys(self, num: int):
        return jax.random.split(jax.random.key(int(self._rng.integers(2**31))), num)

    def _sampled(self, mp, run: _Run, shots: int, order):
        """A measurement of an observable: samples of the state in its eigenbasis."""
        state = self._rotated(run.state, mp.obs, run.index)
        key, readout_key = self._keys(2)
        bits = sample(state, shots, key, list(range(run.num_wires)))
        if self._readout():
            bits = self._readout().readout_samples(bits, readout_key)
        return mp.process_samples(bits, order)

    def _draw(self, run: _Run, shots: int) -> dict:
        """One set of computational-basis shots shared by the tape's measurements that need no
        rotation: the device's wires (read out) and the wires holding measured values, from the
        same shots, so their correlations are the state's."""
        n = run.num_wires
        ancillas = list(dict.fromkeys(w for w in run.bit_wires.values() if w is not None and w >= n))
        key, readout_key, flip_key = self._keys(3)
        raw = np.asarray(sample(run.state, shots, key, list(range(n)) + ancillas))
        wires = raw[:, :n]
        if self._readout():
            wires = np.asarray(self._readout().readout_samples(wires, readout_key))
        flips = {}  # read errors left to the readers: flip a true t with C[t, 1 - t]
        for j, (u, c) in enumerate(run.confusions.items()):
            flips[u] = (np.asarray(c, dtype=np.float64), np.asarray(
                jax.random.uniform(jax.random.fold_in(flip_key, j), (shots,))))
        return {"raw": raw, "wires": wires, "column": {w: i for i, w in enumerate(list(range(n)) + ancillas)},
                "flips": flips}

    def _from_draw(self, mp, run: _Run, draw: dict, order):
        if getattr(mp, "mv", None) is None:
            return mp.process_samples(draw["wires"], order)
        measurements = _mid_circuit_values(mp)
        raw = draw["raw"]
        cols = []
        for m in measurements:
            w = self._source(run, m)
            col = np.zeros(len(raw), dtype=raw.dtype) if w is None else raw[:, draw["column"][w]]
            if m.meas_uid in draw["flips"]:
                c, u = draw["flips"][m.meas_uid]
                col = np.where(u < c[col, 1 - col], 1 - col, col).astype(raw.dtype)
            cols.append(col)
        return _on_bits(mp, measurements).process_samples(np.stack(cols, axis=1), Wires(range(len(cols))))

    def _readout(self):
        """The lretjax noise model when it has readout errors (applied to probs and samples), or
        errors before measurement (which its readout refuses: they act on the state)."""
        model = self.noise_model
        reads = getattr(model, "readout", None) or getattr(model, "has_measure_noise", False)
        return model if reads else None

    def _run(self, tape: QuantumScript):
        run = self._simulate(tape)
        order = self._wire_order(tape)
        if not tape.shots:
            out = tuple(self._analytic(mp, run, order) for mp in tape.measurements)
            return out[0] if len(out) == 1 else out
        per_shots = []
        for s in tape.shots:
            draw = None
            out = []
            for mp in tape.measurements:
                if mp.obs is not None:
                    out.append(self._sampled(mp, run, s, order))
                    continue
                draw = draw or self._draw(run, s)
                out.append(self._from_draw(mp, run, draw, order))
            per_shots.append(out[0] if len(out) == 1 else tuple(out))
        return tuple(per_shots) if tape.shots.has_partitioned_shots else per_shots[0]

    def execute(self, circuits, execution_config: ExecutionConfig | None = None):
        config = execution_config or ExecutionConfig()
        interface = Interface(config.interface)
        if interface in bridge.INTERFACES and config.gradient_method == "backprop":
            # The tapes carry autograd boxes or torch tensors: autograd or torch differentiates
            # the simulation through JAX's reverse mode.
            return tuple(bridge.execute(self._run, tape, interface, self._bridge_cache, self.name)
                         for tape in circuits)
        results = tuple(self._run(tape) for tape in circuits)
        if interface in {Interface.JAX, Interface.JAX_JIT}:
            return results
        # Other interfaces (numpy, autograd, torch via parameter-shift) expect NumPy results.
        return jax.tree_util.tree_map(_to_numpy, results)

    # -- device derivatives ----------------------------------------------------------------------

    def compute_derivatives(self, circuits, execution_config: ExecutionConfig | None = None):
        jacobians = tuple(self._jacobian(tape) for tape in circuits)
        interface = Interface((execution_config or ExecutionConfig()).interface)
        if interface in {Interface.JAX, Interface.JAX_JIT}:
            return jacobians
        return jax.tree_util.tree_map(_to_numpy, jacobians)

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
        if any(isinstance(op, (qml.ops.MidMeasure, qml.ops.Conditional)) for op in ops):
            return None  # lretjax.grad runs static circuits; backprop differentiates dynamic ones
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

