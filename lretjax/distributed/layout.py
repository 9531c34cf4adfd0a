"""Static schedule of global/local wire swaps for row-sharded L (decided in Python, before tracing).

L's rows are indexed by n bits; the first g *physical* bits pick the device (2^g shards), the
other n - g are local. ``perm[w]`` is the physical bit that holds logical wire w. A gate may run
without communication only when all its wires sit on local bits; otherwise each global wire it
touches is first swapped with a local bit (one pairwise exchange of half of every shard).

The victim local bit is the one whose wire is needed furthest in the future (Belady's rule), and
when the state starts in |0...0> (identical under any wire permutation) the wires used last are
placed on the global bits for free. Both keep the swap count low; ``Plan.num_swaps`` reports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..engine.schedule import Apply, Swap
from ..errors import SimulationConfigError

_NEVER = 1 << 60


@dataclass(frozen=True)
class Plan:
    """The schedule: ``steps`` in order, the layout before and after, and the swap count."""

    num_wires: int
    num_global: int
    initial_perm: tuple[int, ...]
    final_perm: tuple[int, ...]
    steps: tuple[Swap | Apply, ...]

    @property
    def num_swaps(self) -> int:
        return sum(isinstance(s, Swap) for s in self.steps)


def perms_along(plan: Plan) -> list[tuple[int, ...]]:
    """perms[i]: the layout before step i of the plan (perms[-1]: after the last)."""
    perm = list(plan.initial_perm)
    out = [tuple(perm)]
    for step in plan.steps:
        if isinstance(step, Swap):
            a, b = perm.index(step.glob), perm.index(step.loc)
            perm[a], perm[b] = step.loc, step.glob
        out.append(tuple(perm))
    return out


def _next_use(wire_lists: Sequence[Sequence[int]], n: int) -> list[list[int]]:
    """nxt[i][w]: index of the first op at or after i touching w (or _NEVER)."""
    nxt = [[_NEVER] * n for _ in range(len(wire_lists) + 1)]
    for i in range(len(wire_lists) - 1, -1, -1):
        row = list(nxt[i + 1])
        for w in wire_lists[i]:
            row[w] = i
        nxt[i] = row
    return nxt


def free_initial_perm(wire_lists: Sequence[Sequence[int]], n: int, g: int) -> tuple[int, ...]:
    """A start layout for a permutation-invariant state: the wires first used last go global."""
    first = _next_use(wire_lists, n)[0] if wire_lists else [_NEVER] * n
    # Stable order: latest first use (never used first), ties by wire number.
    order = sorted(range(n), key=lambda w: (-first[w], w))
    perm = [0] * n
    for pos, w in enumerate(order):
        perm[w] = pos
    return tuple(perm)


def plan_swaps(
    wire_lists: Sequence[Sequence[int]], n: int, g: int, initial_perm: Sequence[int] | None = None
) -> Plan:
    """Schedule swaps so every op in ``wire_lists`` (logical wires per op) acts on local bits."""
    if not 0 <= g <= n:
        raise SimulationConfigError(f"cannot shard {n} wires over 2^{g} devices")
    for i, ws in enumerate(wire_lists):
        if len(ws) > n - g:
            raise SimulationConfigError(
                f"op {i} acts on {len(ws)} wires but only {n - g} wires are local on each of "
                f"2^{g} shards; use fewer devices for this {n}-wire circuit"
            )
    perm = list(initial_perm if initial_perm is not None else free_initial_perm(wire_lists, n, g))
    if sorted(perm) != list(range(n)):
        raise SimulationConfigError(f"layout {perm} is not a permutation of {n} wires")
    start = tuple(perm)
    where = {p: w for w, p in enumerate(perm)}  # physical bit -> logical wire
    nxt = _next_use(wire_lists, n)
    steps: list[Swap | Apply] = []
    for i, ws in enumerate(wire_lists):
        busy = {perm[w] for w in ws}
        for w in ws:
            a = perm[w]
            if a >= g:
                continue
            # Evict the local wire needed furthest ahead (ties: highest bit, a fixed choice).
            cands = [b for b in range(g, n) if b not in busy]
            b = max(cands, key=lambda b: (nxt[i][where[b]], b))
            v = where[b]
            perm[w], perm[v] = b, a
            where[a], where[b] = v, w
            busy.add(b)
            steps.append(Swap(a, b))
        steps.append(Apply(i, tuple(perm[w] - g for w in ws)))
    return Plan(n, g, start, tuple(perm), tuple(steps))
