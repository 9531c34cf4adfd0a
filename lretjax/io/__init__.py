"""Readers and writers of circuit files (OpenQASM 2.0)."""

from .qasm2 import dump as dump_qasm
from .qasm2 import dumps as dumps_qasm
from .qasm2 import load as load_qasm
from .qasm2 import loads as loads_qasm

__all__ = ["load_qasm", "loads_qasm", "dumps_qasm", "dump_qasm"]
