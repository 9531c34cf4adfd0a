"""``compile``: the passes of each optimization level, and routing onto a device.

Level 0: nothing (routing only, when a topology is given).
Level 1: identity removal, then one sweep of inverse cancellation and rotation merging across
  commuting gates.
Level 2: level 1 plus phase-polynomial rotation merging through CX networks, one round; keeps
  the gate set.
Level 3: the level 2 passes repeated to a fixed point, then two-wire runs that need fewer CX
  than they spend rebuilt by KAK resynthesis, then runs of one-wire gates fused into single U3
  gates.
With a topology, three-wire gates are decomposed, the circuit is routed (SABRE) and, from level
1, the routed circuit is swept once more for cancellations; the result is a ``Routed``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..circuit import Circuit
from ..errors import CircuitError
from .cancel import cancel_and_merge, remove_identities
from .decompose import decompose_multi_wire
from .kak import resynthesize_two_wire
from .phase import merge_phases
from .sabre import Routed, route
from .single import fuse_single_wire
from .topology import Topology

Pass = Callable[[Circuit], Circuit]

MAX_ROUNDS = 20

LEVEL_PASSES: dict[int, tuple[Pass, ...]] = {
    0: (),
    1: (remove_identities, cancel_and_merge),
    2: (remove_identities, cancel_and_merge, merge_phases, cancel_and_merge),
    3: (remove_identities, cancel_and_merge, merge_phases, cancel_and_merge),
}


def run_passes(circuit: Circuit, passes: Sequence[Pass]) -> Circuit:
    """Apply ``passes`` in order."""
    for p in passes:
        circuit = p(circuit)
    return circuit


def fixed_point(circuit: Circuit, passes: Sequence[Pass], max_rounds: int = MAX_ROUNDS) -> Circuit:
    """Repeat ``passes`` until a round removes no op (at most ``max_rounds`` rounds)."""
    for _ in range(max_rounds):
        before = len(circuit.ops)
        circuit = run_passes(circuit, passes)
        if len(circuit.ops) >= before:
            break
    return circuit


def _check_level(level) -> None:
    if isinstance(level, bool) or not isinstance(level, int) or level not in LEVEL_PASSES:
        raise CircuitError(f"unknown optimization level {level!r}; levels are 0, 1, 2, 3")


def optimize(circuit: Circuit, level: int = 2) -> Circuit:
    """The optimization passes of ``level`` (0-3) without routing."""
    _check_level(level)
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"compile expects a Circuit, got {type(circuit).__name__}")
    if level == 3:
        circuit = resynthesize_two_wire(fixed_point(circuit, LEVEL_PASSES[3]))
        return cancel_and_merge(fuse_single_wire(circuit))
    return run_passes(circuit, LEVEL_PASSES[level])


def compile(circuit: Circuit, level: int = 2, topology: Topology | str | None = None, *,
            seed: int = 0, trials: int = 8) -> Circuit | Routed:
    """Optimize ``circuit`` at ``level`` (0-3) and, given a topology, route it onto that device.

    Structure is decided in Python and new parameters are jnp expressions of the old ones, so
    this runs inside ``jax.jit`` and ``jax.grad`` flows through merged rotations. Results equal
    the input up to a global phase.

    Args:
      circuit: the circuit; parameters may be numbers, arrays, tracers or symbols.
      level: 0 (nothing) to 3 (fixed point, KAK resynthesis, U3 fusion); see the module docstring.
      topology: a ``Topology`` or a bundled name (``"eagle"``, ``"heron_r2"``, ``"sycamore"``...).
      seed, trials: routing reproducibility and effort (see ``route``).

    Returns:
      The optimized circuit, or a ``Routed`` (circuit on physical wires plus layouts) when a
      topology is given.
    """
    _check_level(level)
    if isinstance(topology, str):
        topology = Topology.load(topology)
    if topology is not None:
        topology.check_fits(circuit.num_wires)
    out = optimize(circuit, level)
    if topology is None:
        return out
    routed = route(decompose_multi_wire(out), topology, seed=seed, trials=trials)
    if level >= 1:
        swept = cancel_and_merge(routed.circuit)
        routed = Routed(swept, routed.topology, routed.initial_layout, routed.final_layout,
                        routed.num_swaps)
    return routed
