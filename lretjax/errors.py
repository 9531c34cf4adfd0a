"""One exception family for everything lretjax refuses, raised at the front door before tracing."""

from __future__ import annotations


class LretError(Exception):
    """Base class of every error lretjax raises on purpose."""


class CircuitError(LretError, ValueError):
    """A circuit is malformed: unknown gate, wire out of range, wrong parameter count."""


class ParameterError(CircuitError):
    """Parameters do not match the circuit's symbolic slots."""


class NotUnitaryError(CircuitError):
    """A user matrix given as a gate is not unitary."""


class ClassicalError(CircuitError):
    """Classical bits are misused: a measurement to an undeclared bit, a condition on a bit or
    register that does not exist, a dynamic circuit given where only static ones run."""


class NoiseError(LretError, ValueError):
    """A channel or noise model is malformed: not trace-preserving, probability out of range."""


class ChannelParameterError(NoiseError, CircuitError):
    """A channel strength is outside its range (a noise error placed in a circuit)."""


class ObservableError(LretError, ValueError):
    """An observable does not fit the state: bad Pauli letter, wrong length, wrong shape."""


class QasmError(LretError, ValueError):
    """An OpenQASM program cannot be read; carries the file, line and column."""

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None,
                 source: str | None = None):
        self.line, self.column, self.source = line, column, source
        where = ":".join(str(x) for x in (source or "<qasm>", line, column) if x is not None)
        super().__init__(f"{where}: {message}" if line is not None else message)


class ResourceError(LretError, MemoryError):
    """The requested simulation would not fit in memory; says how much it needs and what to change."""


class SimulationConfigError(LretError, ValueError):
    """Simulation settings are invalid (max_rank < 1, epsilon outside [0, 1), ...)."""


class NumericalError(LretError, ArithmeticError):
    """A health check failed during a simulation (NaN/inf, trace drift, negative eigenvalues);
    names the op index, the gate and the wires after which it was first seen."""
