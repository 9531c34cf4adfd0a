"""lretjax: noisy quantum circuits simulated in JAX as rho = L L^dagger with truncation."""

from ._version import __version__ as __version__
from .cache import enable_compilation_cache
from .channels import CHANNELS
from .circuit import Circuit, Op, Param
from .errors import (
    CircuitError,
    LretError,
    NoiseError,
    NotUnitaryError,
    NumericalError,
    ObservableError,
    ParameterError,
    QasmError,
    ResourceError,
    SimulationConfigError,
)
from .gates import GATES, gate_matrix
from .measure import counts, expval, fidelity, probabilities, purity, sample, to_density_matrix
from .noise.model import NoiseModel
from .observables import DenseObservable, PauliSum, dense_observable
from .simulate import resume, simulate
from .state import LowRankState

__all__ = [
    "Circuit", "Op", "Param", "simulate", "resume", "NumericalError", "LowRankState",
    "enable_compilation_cache",
    "probabilities", "expval", "sample", "counts", "purity", "fidelity", "to_density_matrix",
    "NoiseModel", "PauliSum", "DenseObservable", "dense_observable", "GATES", "CHANNELS", "gate_matrix",
    "LretError", "CircuitError", "ParameterError", "NotUnitaryError", "NoiseError",
    "ObservableError", "QasmError", "ResourceError", "SimulationConfigError",
]
