"""The one engine every path runs: the circuit as data, one step, one loop.

- ``schedule.build``: a circuit (and, when sharded, its swap plan) becomes a ``Schedule``: a
  static ``Program`` of distinct step shapes and ``Tables`` of arrays indexed per step;
- ``commute.commuted``: a traced run's order of the ops, depolarizing channels moved forward past
  ops on other wires to where they merge;
- ``step.make_step``: a gate, a channel with its truncation, or a global/local swap, with the
  collectives passed in;
- ``loop.evolve`` (traced: widths from the rank's bound) and ``loop.drive`` (eager: widths from
  the rank kept, read at segment ends) run the steps as JAX loops.

docs/engine.md explains the schedule, the widths and the compilation cache.
"""

from .collectives import LOCAL, ONE_DEVICE, LocalCollectives, OneDevice
from .loop import drive, evolve, resize, width_for
from .schedule import Apply, Program, Schedule, Swap, Tables, build
from .step import Carry, Settings, start_carry

__all__ = [
    "build", "Schedule", "Program", "Tables", "Apply", "Swap", "Carry", "Settings", "start_carry",
    "evolve", "drive", "resize", "width_for", "LOCAL", "ONE_DEVICE", "LocalCollectives", "OneDevice",
]
