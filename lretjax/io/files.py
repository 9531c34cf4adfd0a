"""Circuit files by format: which reader or writer a path needs, from its extension and header.

    >>> from lretjax import io
    >>> circuit = io.load("examples/circuits/random_brickwork_10.qasm")   # OpenQASM 2, from its header
    >>> io.dump(circuit, "out.qasm3")                                      # OpenQASM 3, from the extension

Formats: ``"qasm2"`` and ``"qasm3"`` (OpenQASM; a ``.qasm`` file is read as the version its
``OPENQASM`` line names, a ``.qasm3`` file as OpenQASM 3) and ``"json"`` (the LRET JSON format,
``.json``, which also carries observables and run settings).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..circuit import Circuit
from ..errors import LretError
from . import json_format, qasm2, qasm3

FORMATS = ("qasm2", "qasm3", "json")


@dataclass(frozen=True)
class CircuitFile:
    """What a circuit file holds.

    Attributes:
      circuit: the circuit.
      observables: (label, observable) pairs the file asks for (LRET JSON only).
      config: run settings the file gives (LRET JSON's ``config``: ``max_rank``, ``epsilon``, ...).
      format: the format it was read as.
    """

    circuit: Circuit
    observables: tuple[tuple[str, Any], ...] = ()
    config: dict = field(default_factory=dict)
    format: str = "qasm2"


def format_of(path: str | os.PathLike) -> str:
    """'json', 'qasm3' or 'qasm2': from the extension, and for ``.qasm`` from the OPENQASM line."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix == ".qasm3":
        return "qasm3"
    try:
        with open(p, encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
    except OSError as e:
        raise LretError(f"{path}: cannot read: {e}") from None
    body = re.sub(r"//[^\n]*|/\*.*?\*/", " ", head, flags=re.DOTALL)
    m = re.search(r"OPENQASM\s+([0-9]+)", body)
    return "qasm3" if m and m.group(1) == "3" else "qasm2"


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise LretError(f"unknown circuit file format {fmt!r}; known: {', '.join(FORMATS)}")
    return fmt


def read(path: str | os.PathLike, *, format: str | None = None) -> CircuitFile:
    """The circuit (and, for LRET JSON, observables and settings) of a file in any known format."""
    if not Path(path).is_file():
        raise LretError(f"{os.fspath(path)}: no such file")
    fmt = _check_format(format) if format is not None else format_of(path)
    if fmt == "json":
        prog = json_format.load_program(path)
        return CircuitFile(prog.circuit, tuple(prog.observables), dict(prog.config), fmt)
    reader = qasm3 if fmt == "qasm3" else qasm2
    return CircuitFile(reader.load(path), format=fmt)


def load(path: str | os.PathLike, *, format: str | None = None) -> Circuit:
    """The circuit of a file in any known format (``format`` overrides what the path says)."""
    return read(path, format=format).circuit


def dump_format(circuit: Circuit, path: str | os.PathLike) -> str:
    """The format ``dump`` writes to ``path``: from the extension (``.json``, ``.qasm3``), else
    OpenQASM 2, or OpenQASM 3 when the circuit has symbols (OpenQASM 2 has none)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return "json"
    return "qasm3" if suffix == ".qasm3" or circuit.parameters else "qasm2"


def dump(circuit: Circuit, path: str | os.PathLike, *, format: str | None = None) -> None:
    """Write a circuit in ``format``, or in the format its path says (``dump_format``)."""
    fmt = _check_format(format) if format is not None else dump_format(circuit, path)
    {"json": json_format, "qasm3": qasm3, "qasm2": qasm2}[fmt].dump(circuit, path)
