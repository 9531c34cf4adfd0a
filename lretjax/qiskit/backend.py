"""``LretBackend``: a Qiskit ``BackendV2`` that runs circuits on lretjax's low-rank density matrix.

``transpile(qc, backend)`` works against its ``Target`` (every gate lretjax and Qiskit's standard
library share, on a coupling map or on all-to-all qubits, or a device's own target with
``from_backend``), and ``backend.run`` returns a ``qiskit.result.Result`` with counts and memory
laid out as Aer's, so code written for ``AerSimulator(method="density_matrix")`` runs unchanged.
The truncation settings are run options; each experiment's metadata carries them and the
discarded weight, which bounds the trace distance of its final state to the exact one.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import IfElseOp, Parameter
from qiskit.circuit.library import UnitaryGate, get_standard_gate_name_mapping
from qiskit.providers import BackendV2, JobStatus, JobV1, Options
from qiskit.result import Result
from qiskit.transpiler import CouplingMap, Target

from ..errors import ParameterError, SimulationConfigError
from ..frontdoor import Truncation, check_shots, make_rng, sample_bits
from ..frontdoor import state_metadata as _state_metadata
from .prepare import NoiseSource, check_circuit, prepare

# Qiskit's names for the gates lretjax simulates natively (lretjax.io.qiskit maps them).
BASIS_GATES = (
    "id", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg", "rx", "ry", "rz", "p", "u",
    "cx", "cy", "cz", "ch", "swap", "iswap", "ecr", "crx", "cry", "crz", "cp", "rxx", "ryy", "rzz",
    "ccx", "cswap",
)
_RUN_OPTIONS = ("shots", "memory", "seed_simulator", "max_rank", "epsilon", "tolerance",
                "representation", "parameter_binds")


def build_target(num_qubits: int | None = None, coupling_map=None) -> Target:
    """A Target with lretjax's gates, ``measure``, ``reset``, ``delay`` and ``if_else``
    (``if_test`` blocks: classical feed-forward).

    Without a coupling map every gate acts on any qubits (and ``unitary`` is kept whole);
    with one, two-qubit gates act on its edges and three-qubit gates are left to the transpiler
    to decompose.
    """
    gates = get_standard_gate_name_mapping()
    if coupling_map is None:
        target = Target(description="lretjax", num_qubits=num_qubits)
        for name in (*BASIS_GATES, "measure", "reset", "delay"):
            target.add_instruction(gates[name], properties=None, name=name)
        target.add_instruction(UnitaryGate, name="unitary")
        target.add_instruction(IfElseOp, name="if_else")
        return target
    cmap = coupling_map if isinstance(coupling_map, CouplingMap) else CouplingMap(coupling_map)
    n = cmap.size() if num_qubits is None else int(num_qubits)
    if n < cmap.size():
        raise SimulationConfigError(f"num_qubits={n} is smaller than the coupling map's {cmap.size()} qubits")
    edges = {tuple(e): None for e in cmap.get_edges()}
    ones = {(q,): None for q in range(n)}
    target = Target(description="lretjax", num_qubits=n)
    for name in (*BASIS_GATES, "measure", "reset", "delay"):
        width = gates[name].num_qubits
        if width == 1:
            target.add_instruction(gates[name], dict(ones), name=name)
        elif width == 2:
            target.add_instruction(gates[name], dict(edges), name=name)
    target.add_instruction(IfElseOp, name="if_else")
    return target


class LretJob(JobV1):
    """A finished job: lretjax runs synchronously, so the result exists when ``run`` returns."""

    _async = False

    def __init__(self, backend, job_id: str, result: Result):
        super().__init__(backend, job_id)
        self._result = result

    def submit(self):
        return None

    def result(self, timeout=None) -> Result:
        return self._result

    def status(self) -> JobStatus:
        return JobStatus.DONE


class LretBackend(BackendV2):
    """A noisy simulator backend on lretjax's low-rank density matrix rho = L L^dagger.

    Args:
      num_qubits: qubits of the target (None: any number, as Aer's simulators).
      coupling_map: a ``CouplingMap`` or list of edges; two-qubit gates act on its edges.
      noise_model: a ``qiskit_aer.noise.NoiseModel`` (read exactly) or a ``lretjax.NoiseModel``.
      target: a ready ``Target`` instead of ``num_qubits``/``coupling_map``.
      name: the backend's name.
      **options: default run options: ``shots`` (1024), ``memory`` (False), ``seed_simulator``,
        ``max_rank`` (64; None for 2^n, i.e. no cap), ``epsilon`` (0), ``tolerance``,
        ``representation`` ("auto"), ``parameter_binds``.
    """

    def __init__(self, num_qubits: int | None = None, *, coupling_map=None, noise_model=None,
                 target: Target | None = None, name: str = "lretjax", **options):
        from .._version import __version__

        super().__init__(provider=None, name=name, backend_version=__version__,
                         description="noisy circuits as low-rank density matrices (lretjax)")
        self._target = target if target is not None else build_target(num_qubits, coupling_map)
        self._noise = NoiseSource(noise_model)
        self.set_options(**options)

    @classmethod
    def from_backend(cls, backend, **options) -> LretBackend:
        """The backend with ``backend``'s target and noise (``qiskit_aer.noise.NoiseModel.from_backend``:
        thermal relaxation, depolarizing and readout errors per gate and qubit), e.g.
        ``LretBackend.from_backend(FakeTorino())``. Only the qubits a circuit touches are simulated."""
        from qiskit_aer.noise import NoiseModel as AerNoiseModel

        name = getattr(backend, "name", type(backend).__name__)
        return cls(target=backend.target, noise_model=AerNoiseModel.from_backend(backend),
                   name=f"lretjax({name})", **options)

    @classmethod
    def _default_options(cls) -> Options:
        return Options(shots=1024, memory=False, seed_simulator=None, max_rank=64, epsilon=0.0,
                       tolerance=None, representation="auto", parameter_binds=None)

    def set_options(self, **fields):
        """Update default run options (SimulationConfigError for unknown names or bad values)."""
        opts = _checked({**dict(self.options), **fields})
        super().set_options(**{k: opts[k] for k in fields})

    @property
    def target(self) -> Target:
        return self._target

    @property
    def max_circuits(self):
        return None

    @property
    def noise(self) -> NoiseSource:
        """Where this backend's noise comes from (``noise.label``)."""
        return self._noise

    def run(self, run_input, **options) -> LretJob:
        """Run circuits; ``options`` override the defaults for this call (see the class)."""
        opts = _checked({**dict(self.options), **options})
        circuits = [run_input] if isinstance(run_input, QuantumCircuit) else list(run_input)
        for i, qc in enumerate(circuits):
            check_circuit(qc, f"circuit {i}")
        experiments = _bind(circuits, opts["parameter_binds"])
        settings = Truncation(opts["max_rank"], opts["epsilon"], opts["tolerance"], opts["representation"])
        rng = make_rng(opts["seed_simulator"])
        start = time.time()
        results = [self._experiment(qc, opts, settings, rng) for qc in experiments]
        job_id = str(uuid.uuid4())
        return LretJob(self, job_id, Result.from_dict({
            "backend_name": self.name, "backend_version": self.backend_version,
            "job_id": job_id, "qobj_id": "", "success": True, "status": "COMPLETED", "results": results,
            "metadata": {**settings.metadata(), "noise": self._noise.label},
            "time_taken": time.time() - start,
        }))

    def _experiment(self, qc: QuantumCircuit, opts: dict, settings: Truncation, rng) -> dict:
        start = time.time()
        shots = opts["shots"]
        prep = prepare(qc, self._noise, measure=True)
        state = settings.simulate(prep.circuit)
        memory = _memory(sample_bits(state, prep.lowered, shots, rng))
        data = {"counts": dict(Counter(memory))}
        if opts["memory"]:
            data["memory"] = memory
        meta = {**settings.metadata(), **_state_metadata(state), "method": "lretjax",
                "noise": self._noise.label, "num_qubits": prep.circuit.num_wires,
                "active_input_qubits": list(prep.qubits), "measurement_ancillas": prep.ancillas,
                "num_clbits": qc.num_clbits}
        header = {"name": qc.name, "n_qubits": qc.num_qubits, "memory_slots": qc.num_clbits,
                  "creg_sizes": [[c.name, c.size] for c in qc.cregs],
                  "qreg_sizes": [[r.name, r.size] for r in qc.qregs],
                  "global_phase": float(qc.global_phase) if not qc.parameters else 0.0,
                  "metadata": dict(qc.metadata or {})}
        return {"shots": shots, "success": True, "data": data, "header": header, "status": "DONE",
                "seed_simulator": opts["seed_simulator"], "metadata": meta, "time_taken": time.time() - start}


def _memory(clbits: np.ndarray) -> list[str]:
    """One hex string per shot (clbit i is bit i), as Aer's ``memory``."""
    if not clbits.shape[1]:
        clbits = np.zeros((clbits.shape[0], 1), dtype=np.uint8)
    rows, inverse = np.unique(clbits, axis=0, return_inverse=True)
    hexes = [hex(sum(1 << int(j) for j in np.flatnonzero(row))) for row in rows]
    return [hexes[j] for j in np.ravel(inverse)]


def _checked(opts: dict) -> dict:
    """Run options checked at the front door (SimulationConfigError naming the bad one)."""
    unknown = sorted(set(opts) - set(_RUN_OPTIONS))
    if unknown:
        raise SimulationConfigError(f"unknown run option(s) {unknown}; known: {list(_RUN_OPTIONS)}")
    check_shots(opts["shots"])
    if not isinstance(opts["memory"], (bool, np.bool_)):
        raise SimulationConfigError(f"memory must be True or False, got {opts['memory']!r}")
    make_rng(opts["seed_simulator"])
    Truncation(opts["max_rank"], opts["epsilon"], opts["tolerance"], opts["representation"])
    return opts


def _bind(circuits: list, binds) -> list:
    """The experiments: each circuit, or one bound copy per value of Aer-style ``parameter_binds``
    (one ``{Parameter: [values]}`` dict per circuit)."""
    if binds is None:
        return circuits
    if isinstance(binds, dict):
        binds = [binds]
    if len(binds) != len(circuits):
        raise ParameterError(f"parameter_binds has {len(binds)} entries for {len(circuits)} circuits")
    out = []
    for i, (qc, table) in enumerate(zip(circuits, binds, strict=True)):
        if not table:
            out.append(qc)
            continue
        by_name = {(p.name if isinstance(p, Parameter) else str(p)): np.atleast_1d(np.asarray(v, float))
                   for p, v in table.items()}
        lengths = {len(v) for v in by_name.values()}
        if len(lengths) != 1:
            raise ParameterError(f"parameter_binds[{i}]: value lists of different lengths {sorted(lengths)}")
        missing = sorted(p.name for p in qc.parameters if p.name not in by_name)
        extra = sorted(set(by_name) - {p.name for p in qc.parameters})
        if missing or extra:
            raise ParameterError(f"parameter_binds[{i}]: missing {missing}, unknown {extra}")
        for k in range(lengths.pop()):
            out.append(qc.assign_parameters({p: by_name[p.name][k] for p in qc.parameters}))
    return out
