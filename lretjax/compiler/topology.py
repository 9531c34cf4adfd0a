"""Device coupling graphs: which pairs of physical qubits a two-wire gate may act on.

    >>> from lretjax.compiler import Topology
    >>> Topology.grid(2, 3).num_qubits
    6
    >>> Topology.load("ibm_eagle_127").num_edges
    144
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources

from ..errors import CircuitError

# Bundled device graphs (lretjax/compiler/data/*.json) and their short names.
BUNDLED = {
    "ibm_eagle_127": "ibm_eagle_127",
    "eagle": "ibm_eagle_127",
    "ibm_heron_r1_133": "ibm_heron_r1_133",
    "heron_r1": "ibm_heron_r1_133",
    "ibm_heron_r2_156": "ibm_heron_r2_156",
    "heron_r2": "ibm_heron_r2_156",
    "heron": "ibm_heron_r2_156",
    "google_sycamore_54": "google_sycamore_54",
    "sycamore": "google_sycamore_54",
}


@dataclass(frozen=True, eq=False)
class Topology:
    """An undirected coupling graph on ``num_qubits`` physical qubits, with optional edge errors.

    Attributes:
      name: label used in messages and benchmark tables.
      num_qubits: physical qubits, numbered 0..num_qubits-1.
      edges: sorted pairs (a, b), a < b, each coupler once.
      errors: two-qubit gate error per edge (same order as ``edges``), or None when unknown;
        routing uses them to break ties between equally good SWAPs.
    """

    name: str
    num_qubits: int
    edges: tuple[tuple[int, int], ...]
    errors: tuple[float | None, ...] | None = None
    _adj: tuple[tuple[int, ...], ...] = field(init=False, repr=False)

    def __post_init__(self):
        n = self.num_qubits
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise CircuitError(f"topology {self.name!r}: num_qubits must be a positive integer, got {n!r}")
        clean = set()
        for e in self.edges:
            a, b = (int(x) for x in e)
            if a == b or not (0 <= a < n and 0 <= b < n):
                raise CircuitError(f"topology {self.name!r}: bad edge {tuple(e)} for {n} qubits")
            clean.add((min(a, b), max(a, b)))
        edges = tuple(sorted(clean))
        errors = self.errors
        if errors is not None:
            if len(errors) != len(self.edges):
                raise CircuitError(
                    f"topology {self.name!r}: {len(errors)} errors for {len(self.edges)} edges"
                )
            by_edge = {tuple(sorted(map(int, e))): err for e, err in zip(self.edges, errors, strict=True)}
            errors = tuple(by_edge[e] for e in edges)
        adj: list[list[int]] = [[] for _ in range(n)]
        for a, b in edges:
            adj[a].append(b)
            adj[b].append(a)
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "errors", errors)
        object.__setattr__(self, "_adj", tuple(tuple(sorted(x)) for x in adj))

    # -- constructors ---------------------------------------------------------------------------

    @classmethod
    def from_edges(cls, num_qubits: int, edges: Iterable[Sequence[int]], errors=None, name: str = "custom"):
        """A topology from a list of coupled pairs (direction ignored) and optional per-edge errors."""
        edges = tuple(tuple(e) for e in edges)
        if isinstance(errors, Mapping):
            errors = tuple(errors.get(e, errors.get(e[::-1])) for e in edges)
        return cls(name, num_qubits, edges, None if errors is None else tuple(errors))

    @classmethod
    def line(cls, n: int) -> Topology:
        return cls(f"line_{n}", n, tuple((i, i + 1) for i in range(n - 1)))

    @classmethod
    def ring(cls, n: int) -> Topology:
        if n <= 2:
            return cls(f"ring_{n}", n, tuple((i, i + 1) for i in range(n - 1)))
        edges = tuple((i, (i + 1) % n) for i in range(n))
        return cls(f"ring_{n}", n, edges)

    @classmethod
    def grid(cls, rows: int, cols: int) -> Topology:
        """Rows x cols square lattice, qubit r * cols + c."""
        edges = [(r * cols + c, r * cols + c + 1) for r in range(rows) for c in range(cols - 1)]
        edges += [(r * cols + c, (r + 1) * cols + c) for r in range(rows - 1) for c in range(cols)]
        return cls(f"grid_{rows}x{cols}", rows * cols, tuple(edges))

    @classmethod
    def all_to_all(cls, n: int) -> Topology:
        return cls(f"all_to_all_{n}", n, tuple((a, b) for a in range(n) for b in range(a + 1, n)))

    @classmethod
    def load(cls, name: str) -> Topology:
        """A bundled device: ``ibm_eagle_127`` (``eagle``), ``ibm_heron_r1_133`` (``heron_r1``),
        ``ibm_heron_r2_156`` (``heron_r2``, ``heron``), ``google_sycamore_54`` (``sycamore``)."""
        key = BUNDLED.get(name.lower())
        if key is None:
            raise CircuitError(f"unknown topology {name!r}; bundled: {', '.join(sorted(BUNDLED))}")
        text = resources.files(__package__).joinpath("data", f"{key}.json").read_text()
        data = json.loads(text)
        errors = data.get("errors")
        return cls(data["name"], data["num_qubits"], tuple(map(tuple, data["edges"])),
                   None if errors is None else tuple(errors))

    # -- queries --------------------------------------------------------------------------------

    @property
    def num_edges(self) -> int:
        return len(self.edges)

    def neighbors(self, q: int) -> tuple[int, ...]:
        return self._adj[q]

    def edge_error(self, a: int, b: int) -> float | None:
        if self.errors is None:
            return None
        return self._error_map().get((min(a, b), max(a, b)))

    def _error_map(self) -> dict[tuple[int, int], float | None]:
        return dict(zip(self.edges, self.errors or (), strict=False))

    def components(self) -> list[list[int]]:
        """Connected components, each a sorted list of qubits."""
        seen = [False] * self.num_qubits
        comps = []
        for s in range(self.num_qubits):
            if seen[s]:
                continue
            seen[s], comp, queue = True, [], deque([s])
            while queue:
                q = queue.popleft()
                comp.append(q)
                for r in self._adj[q]:
                    if not seen[r]:
                        seen[r] = True
                        queue.append(r)
            comps.append(sorted(comp))
        return comps

    @property
    def is_connected(self) -> bool:
        return len(self.components()) == 1

    def distances(self) -> list[list[int]]:
        """All-pairs hop distances (BFS from every qubit); -1 between components."""
        n = self.num_qubits
        out = []
        for s in range(n):
            d = [-1] * n
            d[s] = 0
            queue = deque([s])
            while queue:
                q = queue.popleft()
                for r in self._adj[q]:
                    if d[r] < 0:
                        d[r] = d[q] + 1
                        queue.append(r)
            out.append(d)
        return out

    def check_fits(self, num_wires: int) -> None:
        """CircuitError unless a circuit of ``num_wires`` wires can be routed here."""
        if num_wires > self.num_qubits:
            raise CircuitError(
                f"the circuit has {num_wires} wires but topology {self.name!r} has only "
                f"{self.num_qubits} qubits"
            )
        comps = self.components()
        if len(comps) > 1:
            sizes = sorted((len(c) for c in comps), reverse=True)
            raise CircuitError(
                f"topology {self.name!r}: the coupling graph is disconnected "
                f"({len(comps)} components of sizes {sizes[:8]}); routing needs a connected graph"
            )

    def __repr__(self) -> str:
        return f"Topology({self.name!r}, num_qubits={self.num_qubits}, edges={self.num_edges})"
