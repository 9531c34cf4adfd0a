"""Readers and writers of circuit files: OpenQASM 2 and 3, the LRET JSON format, Qiskit and Cirq.

``load(path)`` and ``dump(circuit, path)`` pick the format from the path (``lretjax.io.files``).
The Qiskit and Cirq converters import those packages only when called.
"""

from . import json_format, qasm2, qasm3
from .cirq import from_cirq, to_cirq
from .files import FORMATS, CircuitFile, dump, format_of, load, read
from .qasm2 import dump as dump_qasm
from .qasm2 import dumps as dumps_qasm
from .qasm2 import load as load_qasm
from .qasm2 import loads as loads_qasm
from .qiskit import from_qiskit, to_qiskit

__all__ = [
    "load", "dump", "read", "format_of", "CircuitFile", "FORMATS", "qasm2",
    "load_qasm", "loads_qasm", "dumps_qasm", "dump_qasm", "qasm3", "json_format",
    "from_qiskit", "to_qiskit", "from_cirq", "to_cirq",
]
