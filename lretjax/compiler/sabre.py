"""Initial layout and SWAP routing onto a coupling graph, in the manner of SABRE and LightSABRE.

Li, Ding and Xie, "Tackling the qubit mapping problem for NISQ-era quantum devices" (ASPLOS
2019); Zou et al., "LightSABRE" (2024). The front layer of the dependency graph is executed
as far as the layout allows; when every front gate is blocked, the SWAP on an edge next to a
front gate with the lowest cost (front distance + weighted lookahead distance, times a decay
that discourages reusing the same qubits) is inserted. The initial layout comes from
alternating forward and backward passes from random starts; the best of several trials wins.
When errors are known, equal-cost SWAPs are decided by the lower edge error.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..circuit import Circuit, Op, _from_trusted, _trusted
from ..errors import CircuitError
from ._rules import make_op
from .topology import Topology

EXTENDED_SIZE = 20
EXTENDED_WEIGHT = 0.5
# Front-layer distances summed as they are (LightSABRE's constant scaling); lookahead averaged.
NORMALIZE_FRONT = False
DECAY_STEP = 0.001
DECAY_RESET = 5


@dataclass(frozen=True)
class Routed:
    """A circuit mapped onto a device, with the layouts needed to read its results.

    Attributes:
      circuit: the routed circuit on ``topology.num_qubits`` physical wires; every two-wire op
        acts on a coupled pair; inserted SWAPs appear as ``swap`` gates.
      topology: the device it was routed onto.
      initial_layout: physical qubit of each logical wire at the start.
      final_layout: physical qubit of each logical wire at the end: logical wire ``q`` of the
        original circuit is read from physical wire ``final_layout[q]``.
      num_swaps: SWAPs inserted.
    """

    circuit: Circuit
    topology: Topology
    initial_layout: tuple[int, ...]
    final_layout: tuple[int, ...]
    num_swaps: int

    def active_wires(self) -> tuple[int, ...]:
        """Physical wires that carry a logical wire or are touched by an op, sorted."""
        used = set(self.initial_layout) | set(self.final_layout)
        for op in self.circuit.ops:
            used.update(op.wires)
        return tuple(sorted(used))

    def restrict(self) -> tuple[Circuit, tuple[int, ...]]:
        """The routed circuit on its active physical wires only, and those wires (new wire i is
        physical ``wires[i]``): small enough to simulate when the device is large."""
        wires = self.active_wires()
        index = {p: i for i, p in enumerate(wires)}
        ops = tuple(
            Op(op.name, tuple(index[w] for w in op.wires), op.params, op.kind) for op in self.circuit.ops
        )
        return Circuit(len(wires), ops), wires


class _Dag:
    """Dependencies between ops through shared wires, forward and reversed."""

    def __init__(self, wires: list[tuple[int, ...]]):
        last: dict[int, int] = {}
        self.succ: list[list[int]] = [[] for _ in wires]
        self.pred: list[list[int]] = [[] for _ in wires]
        for i, ws in enumerate(wires):
            for w in ws:
                j = last.get(w)
                if j is not None and j not in self.pred[i]:
                    self.pred[i].append(j)
                    self.succ[j].append(i)
                last[w] = i
        self.wires = wires


def _route_pass(dag: _Dag, reverse: bool, l2p: list[int], dist, adj, rng: random.Random,
                errors, collect: bool):
    """One SABRE pass; returns (emitted ops, final layout, swap count)."""
    wires = dag.wires
    succ = dag.pred if reverse else dag.succ
    indeg = [len(p) for p in (dag.succ if reverse else dag.pred)]
    l2p = list(l2p)
    p2l = [0] * len(l2p)
    for q, p in enumerate(l2p):
        p2l[p] = q
    num_phys = len(l2p)
    decay = [1.0] * num_phys
    out: list = []
    swaps = 0
    front = [i for i, d in enumerate(indeg) if d == 0]
    if reverse:
        front.reverse()

    def advance(stack):
        blocked = []
        progressed = False
        while stack:
            i = stack.pop()
            ws = wires[i]
            if len(ws) == 2 and dist[l2p[ws[0]]][l2p[ws[1]]] != 1:
                blocked.append(i)
                continue
            progressed = True
            if collect:
                out.append((i, tuple(l2p[w] for w in ws)))
            for s in succ[i]:
                indeg[s] -= 1
                if indeg[s] == 0:
                    stack.append(s)
        return blocked, progressed

    def do_swap(p, r):
        nonlocal swaps
        a, b = p2l[p], p2l[r]
        p2l[p], p2l[r] = b, a
        l2p[a], l2p[b] = r, p
        swaps += 1
        if collect:
            out.append((None, (p, r)))

    front, _ = advance(front)
    since_progress = 0
    valve = 10 * max(max(row) for row in dist) + 10
    while front:
        # Lookahead: the next two-wire gates after the front layer, breadth first.
        ext: list[int] = []
        seen = set(front)
        queue = list(front)
        qi = 0
        while qi < len(queue) and len(ext) < EXTENDED_SIZE:
            for s in succ[queue[qi]]:
                if s not in seen:
                    seen.add(s)
                    queue.append(s)
                    if len(wires[s]) == 2:
                        ext.append(s)
                        if len(ext) >= EXTENDED_SIZE:
                            break
            qi += 1

        if since_progress > valve:
            # Release valve (LightSABRE): walk the closest front gate together along a shortest path.
            g = min(front, key=lambda i: dist[l2p[wires[i][0]]][l2p[wires[i][1]]])
            pa, pb = l2p[wires[g][0]], l2p[wires[g][1]]
            while dist[pa][pb] > 1:
                nxt = min(adj[pa], key=lambda r: dist[r][pb])
                do_swap(pa, nxt)
                pa = nxt
        else:
            touching: dict[int, list[tuple[int, int, float]]] = {}
            front_w = 1.0 / len(front) if NORMALIZE_FRONT else 1.0
            for gates, weight in ((front, front_w), (ext, EXTENDED_WEIGHT / max(len(ext), 1))):
                for i in gates:
                    a, b = wires[i]
                    item = (i, a, b, weight)
                    touching.setdefault(l2p[a], []).append(item)
                    touching.setdefault(l2p[b], []).append(item)
            base = front_w * sum(dist[l2p[wires[i][0]]][l2p[wires[i][1]]] for i in front)
            if ext:
                ext_sum = sum(dist[l2p[wires[i][0]]][l2p[wires[i][1]]] for i in ext)
                base += EXTENDED_WEIGHT * ext_sum / len(ext)
            best, best_key = [], None
            cands = set()
            for i in front:
                for w in wires[i]:
                    p = l2p[w]
                    for r in adj[p]:
                        cands.add((p, r) if p < r else (r, p))
            for p, r in cands:
                delta = 0.0
                items = touching.get(p, []) + touching.get(r, [])
                done = set()
                for i, a, b, weight in items:
                    if i in done:
                        continue
                    done.add(i)
                    pa, pb = l2p[a], l2p[b]
                    na = r if pa == p else p if pa == r else pa
                    nb = r if pb == p else p if pb == r else pb
                    delta += weight * (dist[na][nb] - dist[pa][pb])
                score = max(decay[p], decay[r]) * (base + delta)
                err = errors.get((p, r)) if errors else None
                k = (round(score, 9), err if err is not None else 1.0)
                if best_key is None or k < best_key:
                    best, best_key = [(p, r)], k
                elif k == best_key:
                    best.append((p, r))
            p, r = best[0] if len(best) == 1 else rng.choice(sorted(best))
            do_swap(p, r)
            decay[p] += DECAY_STEP
            decay[r] += DECAY_STEP
            if swaps % DECAY_RESET == 0:
                decay = [1.0] * num_phys
        front, progressed = advance(front)
        if progressed:
            since_progress = 0
            decay = [1.0] * num_phys
        else:
            since_progress += 1
    return out, l2p, swaps


def _compact_layout(dist, num_phys: int) -> list[int]:
    """Physical qubits in breadth-first order from the graph's centre: a dense first guess."""
    centre = min(range(num_phys), key=lambda q: (max(dist[q]), q))
    return sorted(range(num_phys), key=lambda q: (dist[centre][q], q))


def route(circuit: Circuit, topology: Topology, *, trials: int = 8, layout_passes: int = 3,
          seed: int = 0, initial_layout=None) -> Routed:
    """Map ``circuit`` onto ``topology``: choose an initial layout and insert SWAPs.

    Args:
      circuit: ops on at most two wires (see ``decompose_multi_wire``).
      topology: a connected coupling graph with at least ``circuit.num_wires`` qubits.
      trials: random starting layouts tried; the routing with the fewest SWAPs is kept.
      layout_passes: forward-backward pass pairs refining each starting layout.
      seed: seed of the trials' random layouts and tie-breaking (results are reproducible).
      initial_layout: physical qubit for each logical wire to start every trial from (refined
        by ``layout_passes`` unless that is 0); by default the first trial starts from a compact
        breadth-first layout and the others from random ones.
    """
    topology.check_fits(circuit.num_wires)
    for op in circuit.ops:
        if len(op.wires) > 2:
            raise CircuitError(f"{op!r} acts on {len(op.wires)} wires; routing needs at most two")
    if trials < 1 or layout_passes < 0:
        raise CircuitError(
            f"route: trials must be >= 1 and layout_passes >= 0, got {trials}, {layout_passes}"
        )
    n, num_phys = circuit.num_wires, topology.num_qubits
    dist = topology.distances()
    adj = [topology.neighbors(q) for q in range(num_phys)]
    errors = topology._error_map() if topology.errors is not None else None
    dag = _Dag([op.wires for op in circuit.ops])
    fixed = None
    if initial_layout is not None:
        given = [int(p) for p in initial_layout]
        if len(given) != n or len(set(given)) != n or not all(0 <= p < num_phys for p in given):
            raise CircuitError(
                f"initial_layout must give {n} distinct physical qubits in 0..{num_phys - 1}, "
                f"got {list(initial_layout)}"
            )
        fixed = given + [p for p in range(num_phys) if p not in set(given)]

    best = None
    for t in range(trials):
        rng = random.Random(seed * 7919 + t)
        if fixed is not None:
            l2p = list(fixed)
        elif t == 0:
            l2p = _compact_layout(dist, num_phys)
        else:
            l2p = list(range(num_phys))
            rng.shuffle(l2p)
        for _ in range(layout_passes):
            _, l2p, _ = _route_pass(dag, False, l2p, dist, adj, rng, errors, False)
            _, l2p, _ = _route_pass(dag, True, l2p, dist, adj, rng, errors, False)
        start = list(l2p)
        out, final, swaps = _route_pass(dag, False, start, dist, adj, rng, errors, True)
        if best is None or swaps < best[2]:
            best = (start, out, swaps, final)
    start, out, swaps, final = best

    ops = []
    for i, phys in out:
        if i is None:
            ops.append(make_op("swap", phys))
        else:
            op = circuit.ops[i]
            ops.append(Op(op.name, phys, op.params, op.kind))
    routed = _from_trusted(num_phys, tuple(_trusted(o) for o in ops))
    return Routed(routed, topology, tuple(start[:n]), tuple(final[:n]), swaps)
