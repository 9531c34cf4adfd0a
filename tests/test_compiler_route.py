"""Topologies and SABRE routing: every routed circuit checked on random states against the
original, with logical wire q read from physical wire final_layout[q]."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_compiler import random_circuit
from test_compiler_reference import phase_distance, run

from lretjax import Circuit, CircuitError
from lretjax.compiler import Routed, Topology, compile, route
from lretjax.compiler.decompose import decompose_multi_wire


def embed(psi: np.ndarray, layout, m: int, index) -> np.ndarray:
    """States of n logical wires (2^n, b) placed on physical wires layout[q] of m, others |0>."""
    n = len(layout)
    b = psi.shape[1]
    full = np.zeros((2**n, 2 ** (m - n), b), dtype=complex)
    full[:, 0, :] = psi
    t = full.reshape((2,) * m + (b,))
    t = np.moveaxis(t, list(range(n)), [index[p] for p in layout])
    return t.reshape(2**m, b)


def assert_routed_equivalent(original: Circuit, routed: Routed, atol=1e-10):
    topo = routed.topology
    edges = set(topo.edges)
    for op in routed.circuit.ops:
        if len(op.wires) == 2:
            assert tuple(sorted(op.wires)) in edges, op
    small, wires = routed.restrict()
    index = {p: i for i, p in enumerate(wires)}
    n, m = original.num_wires, small.num_wires
    rng = np.random.default_rng(1)
    psi = rng.normal(size=(2**n, 3)) + 1j * rng.normal(size=(2**n, 3))
    want = embed(run(original, psi), routed.final_layout, m, index)
    got = run(small, embed(psi, routed.initial_layout, m, index))
    assert phase_distance(got, want) < atol * np.abs(want).max()


# -- topologies ---------------------------------------------------------------------------------


def test_builtin_shapes():
    assert Topology.line(5).edges == ((0, 1), (1, 2), (2, 3), (3, 4))
    assert Topology.ring(5).num_edges == 5
    g = Topology.grid(3, 4)
    assert g.num_qubits == 12 and g.num_edges == 3 * 3 + 2 * 4
    assert Topology.all_to_all(5).num_edges == 10
    d = g.distances()
    assert d[0][11] == 5 and d[5][6] == 1


@pytest.mark.parametrize(
    "name, qubits, edges, max_degree",
    [("eagle", 127, 144, 3), ("heron_r1", 133, 150, 3), ("heron_r2", 156, 176, 3), ("sycamore", 54, 88, 4)],
)
def test_bundled_devices(name, qubits, edges, max_degree):
    t = Topology.load(name)
    assert (t.num_qubits, t.num_edges) == (qubits, edges)
    assert t.is_connected
    assert max(len(t.neighbors(q)) for q in range(qubits)) == max_degree
    if name != "sycamore":
        known = [e for e in t.errors if e is not None]
        assert len(known) > 0.9 * edges and all(0 < e < 1 for e in known)


def test_topology_errors():
    with pytest.raises(CircuitError, match="unknown topology"):
        Topology.load("falcon")
    with pytest.raises(CircuitError, match="bad edge"):
        Topology.from_edges(3, [(0, 3)])
    with pytest.raises(CircuitError, match="bad edge"):
        Topology.from_edges(3, [(1, 1)])
    with pytest.raises(CircuitError, match="only 4 qubits"):
        compile(Circuit(5).cx(0, 4), level=1, topology=Topology.line(4))
    split = Topology.from_edges(4, [(0, 1), (2, 3)], name="split")
    with pytest.raises(CircuitError, match="disconnected"):
        route(Circuit(2).cx(0, 1), split)
    with pytest.raises(CircuitError, match="initial_layout"):
        route(Circuit(2).cx(0, 1), Topology.line(3), initial_layout=(0, 0))
    with pytest.raises(CircuitError, match="at most two"):
        route(Circuit(3).ccx(0, 1, 2), Topology.line(3))


# -- routing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "topology", [Topology.line(5), Topology.ring(6), Topology.grid(2, 3), Topology.line(7)],
    ids=lambda t: t.name,
)
@pytest.mark.parametrize("seed", range(3))
def test_route_random(topology, seed):
    rng = np.random.default_rng(seed)
    c = decompose_multi_wire(random_circuit(rng, 5, 50))
    r = route(c, topology, seed=seed, trials=3)
    assert r.num_swaps == sum(op.name == "swap" for op in r.circuit.ops) - sum(
        op.name == "swap" for op in c.ops
    )
    assert r.circuit.num_wires == topology.num_qubits
    assert_routed_equivalent(c, r)


def test_compile_onto_devices():
    rng = np.random.default_rng(3)
    c = random_circuit(rng, 6, 60)
    for name in ("eagle", "sycamore"):
        r = compile(c, level=2, topology=name, trials=2)
        assert isinstance(r, Routed) and r.topology.num_qubits in (127, 54)
        assert_routed_equivalent(c, r)


def test_route_is_reproducible_and_adjacent_circuits_need_no_swaps():
    c = Circuit(4).cx(0, 1).cx(1, 2).cx(2, 3).h(0).cx(3, 2)
    r = route(c, Topology.line(4), trials=2)
    assert r.num_swaps == 0
    rng = np.random.default_rng(5)
    c = decompose_multi_wire(random_circuit(rng, 6, 80))
    a = route(c, Topology.grid(2, 4), seed=4, trials=2)
    b = route(c, Topology.grid(2, 4), seed=4, trials=2)
    assert a.circuit.ops == b.circuit.ops and a.final_layout == b.final_layout


@pytest.mark.parametrize("errors, chosen", [((0.5, 0.01), (1, 2)), ((0.01, 0.5), (0, 1))])
def test_noise_aware_tie_break(errors, chosen):
    # Logical 0 and 2 start two hops apart; swapping on either edge makes them adjacent.
    topo = Topology.from_edges(3, [(0, 1), (1, 2)], errors=errors)
    r = route(Circuit(3).cx(0, 2), topo, trials=1, layout_passes=0, initial_layout=(0, 1, 2))
    assert r.num_swaps == 1
    assert tuple(sorted(r.circuit.ops[0].wires)) == chosen
    assert_routed_equivalent(Circuit(3).cx(0, 2), r)


def test_channels_route_with_their_wires():
    c = Circuit(3).h(0).cx(0, 2).depolarizing(0.1, 2).rz(math.pi / 3, 1).cx(1, 0)
    r = route(c, Topology.line(3), trials=2)
    assert [op.name for op in r.circuit.ops if op.is_channel] == ["depolarizing"]
    unitary_part = Circuit(3, [op for op in c.ops if not op.is_channel])
    routed_unitary = Routed(
        Circuit(3, [op for op in r.circuit.ops if not op.is_channel]), r.topology,
        r.initial_layout, r.final_layout, r.num_swaps,
    )
    assert_routed_equivalent(unitary_part, routed_unitary)
