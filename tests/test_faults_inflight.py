"""Link failures inside an iteration: hand-computed finish times on a 2-leaf / 2-spine fabric."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from sim.comm import run_collective
from sim.comm.communicator import Communicator
from sim.errors import CposimError
from sim.fabric.flow import FlowFabric
from sim.fabric.topology import TopologyBuilder
from sim.faults.inflight import FaultableFlowFabric

BW_BPS = 100e9          # every link, per direction
LAT_S = 1e-6            # every link; switches 0
HOPS = 4                # gpu -> leaf -> spine -> leaf -> gpu
RATE_BPS = BW_BPS / 8   # bytes/s of one link


def leaf_spine():
    """8 GPUs, 4 per leaf, 2 leaves, 2 spines, one cable leaf-spine: 2:1 oversubscribed."""
    b = TopologyBuilder("ls", switch_latency_s=0.0)
    g = [b.add_gpu(f"g{i}", rack=-1, domain=i) for i in range(8)]
    leaves = [b.add_switch(f"leaf{i}", "leaf", rack=-1) for i in range(2)]
    spines = [b.add_switch(f"spine{i}", "spine", rack=-1) for i in range(2)]
    b.add_cables(g, [leaves[i // 4] for i in range(8)], "leaf", bandwidth_bps=BW_BPS,
                 latency_s=LAT_S)
    for leaf in leaves:
        b.add_cables([leaf, leaf], spines, "spine", bandwidth_bps=BW_BPS, latency_s=LAT_S)
    return b.build()


def cross_flows(routing, size, t_fail=None, t_restore=None, which=("leaf0", "spine0")):
    env = simpy.Environment()
    fab = FaultableFlowFabric(env, leaf_spine(), routing=routing)
    ev = fab.start_flows(np.arange(4), np.arange(4) + 4, np.full(4, size))
    link = fab.link_ids_between(*which)
    if t_fail is not None:
        fab.fail_links_at(t_fail, link)
    if t_restore is not None:
        fab.restore_links_at(t_restore, link)
    env.run()
    return np.asarray(ev.value), fab


def test_no_failure_is_the_plain_flow_model():
    size = 1e9
    got, _ = cross_flows("ecmp-even", size)
    env = simpy.Environment()
    ref = FlowFabric(env, leaf_spine(), routing="ecmp-even")
    ev = ref.start_flows(np.arange(4), np.arange(4) + 4, np.full(4, size))
    env.run()
    np.testing.assert_allclose(got, ev.value, rtol=1e-12)
    # 4 flows share 2 uplinks: 2 x 100G / 4 = 50 Gb/s each
    np.testing.assert_allclose(got, size / (RATE_BPS / 2) + HOPS * LAT_S, rtol=1e-12)


@pytest.mark.parametrize("t_fail", [0.01, 0.05, 0.1])
def test_lost_uplink_halves_the_rate_of_the_remaining_bytes(t_fail):
    """Before: 4 flows over 2 uplinks, 50 Gb/s each. After one uplink dies at t_f they share
    one: 25 Gb/s. finish = t_f + (S - r1 t_f) / r2 + path latency."""
    size = 1e9
    r1, r2 = RATE_BPS / 2, RATE_BPS / 4
    got, fab = cross_flows("ecmp-even", size, t_fail=t_fail)
    want = t_fail + (size - r1 * t_fail) / r2 + HOPS * LAT_S
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # the delay is exactly what the lost capacity predicts
    no_fail = size / r1 + HOPS * LAT_S
    np.testing.assert_allclose(got - no_fail, (size - r1 * t_fail) * (1 / r2 - 1 / r1),
                               rtol=1e-9)
    # bytes: each link carried what went over it; the up-links of leaf0 share 4 S in total
    lb = fab.link_bytes
    up0, up1 = fab.link_ids_between("leaf0", "spine0"), fab.link_ids_between("leaf0", "spine1")
    assert lb[up0].sum() == pytest.approx(4 * 0.5 * r1 * t_fail, rel=1e-12)
    assert lb[up0].sum() + lb[up1].sum() == pytest.approx(4 * size, rel=1e-12)


def test_hash_routing_ends_on_one_uplink_whatever_the_hash():
    """With ecmp-hash the pre-failure split depends on the hash; after the failure all four
    flows share the one surviving uplink, so the last finish is fixed by conservation:
    all 4 S bytes leave leaf0 over 100G + 100G before, 100G after t_f."""
    size = 1e9
    t_fail = 0.02
    got, fab = cross_flows("ecmp-hash", size, t_fail=t_fail)
    up0, up1 = fab.link_ids_between("leaf0", "spine0"), fab.link_ids_between("leaf0", "spine1")
    lb = fab.link_bytes
    assert lb[up0].sum() + lb[up1].sum() == pytest.approx(4 * size, rel=1e-12)
    # after t_f the one surviving 100G uplink stays busy until the last byte (a lone flow
    # fills it too: its NIC is 100G), so the last finish is t_f + (bytes left) / r
    env = simpy.Environment()
    ref = FlowFabric(env, leaf_spine(), routing="ecmp-hash")
    ev = ref.start_flows(np.arange(4), np.arange(4) + 4, np.full(4, size))
    env.run(until=t_fail)
    before = ref.link_bytes
    left = 4 * size - before[up0].sum() - before[up1].sum()
    assert got.max() == pytest.approx(t_fail + left / RATE_BPS + HOPS * LAT_S, rel=1e-9)


def test_cut_off_gpu_stalls_and_resumes_on_restore():
    """GPU 0's only NIC link goes down: its flow stalls (rate 0) until the restore, then
    finishes its remaining bytes; the other three flows speed up meanwhile."""
    size = 1e9
    t_fail, t_restore = 0.02, 0.5
    r1 = RATE_BPS / 2
    got, fab = cross_flows("ecmp-even", size, t_fail=t_fail, t_restore=t_restore,
                           which=("g0", "leaf0"))
    # flow 0: r1 until t_f, nothing until t_r, then alone on its NIC at ... the others are
    # done by then (3 flows on 2 uplinks: 66.7 Gb/s each, capped by nothing else)
    r_three = 2 * RATE_BPS / 3
    t_others = t_fail + (size - r1 * t_fail) / r_three + HOPS * LAT_S
    np.testing.assert_allclose(got[1:], t_others, rtol=1e-12)
    assert t_others < t_restore
    want0 = t_restore + (size - r1 * t_fail) / RATE_BPS + HOPS * LAT_S
    assert got[0] == pytest.approx(want0, rel=1e-12)
    assert fab.stats["reroutes"] == 2


def test_stalled_count_and_bad_input():
    env = simpy.Environment()
    fab = FaultableFlowFabric(env, leaf_spine(), routing="ecmp-even")
    fab.start_flows(np.arange(4), np.arange(4) + 4, np.full(4, 1e9))
    fab.fail_links_at(0.01, fab.link_ids_between("leaf0", "spine0"))
    fab.fail_links_at(0.01, fab.link_ids_between("leaf0", "spine1"))
    env.run(until=0.02)
    assert fab.stalled_flows == 4
    assert fab.down_links.sum() == 4            # two cables, both directions
    with pytest.raises(CposimError):
        fab.fail_links([10_000])
    with pytest.raises(CposimError):
        fab.fail_links_at(-1.0, [0])
    with pytest.raises(CposimError):
        fab.link_ids_between("leaf0", "nowhere")


def test_new_flows_after_a_failure_avoid_the_dead_link():
    env = simpy.Environment()
    fab = FaultableFlowFabric(env, leaf_spine(), routing="ecmp-even")
    dead = fab.link_ids_between("leaf0", "spine0")
    fab.fail_links(dead)
    ev = fab.start_flows([0], [4], [1e9])
    env.run()
    assert fab.link_bytes[dead].sum() == 0
    # one flow alone: its NIC (100G) is the bottleneck, the surviving uplink is not
    assert ev.value[0] == pytest.approx(1e9 / RATE_BPS + HOPS * LAT_S, rel=1e-12)


def test_collective_mid_failure_finishes_later_by_the_lost_capacity():
    """Four 2-rank all-reduces (GPU i with GPU i+4), ring: two steps, each rank sends S/2 to
    its peer per step, all 8 flows cross the spines (4 up through each leaf). Uplinks:
    2 x 100G per leaf for 4 flows = 50 Gb/s each. The leaf0-spine0 cable dies during step 1
    (both directions, so leaf1's traffic to leaf0 also loses spine0): 25 Gb/s from then on."""
    size = 2e9
    half = size / 2
    r1, r2 = RATE_BPS / 2, RATE_BPS / 4
    lat = HOPS * LAT_S
    comms = [Communicator(f"dp{i}", [i, i + 4], [i, i + 4]) for i in range(4)]

    def run(t_fail):
        env = simpy.Environment()
        fab = FaultableFlowFabric(env, leaf_spine(), routing="ecmp-even")
        if t_fail is not None:
            fab.fail_links_at(t_fail, fab.link_ids_between("leaf0", "spine0"))
        ev = run_collective(env, fab, comms, "allreduce", size, algorithm="ring")
        env.run()
        return ev.value.time_s

    base = run(None)
    assert base == pytest.approx(2 * (half / r1 + lat), rel=1e-9)
    t_fail = 0.05
    assert t_fail < half / r1
    got = run(t_fail)
    want = (t_fail + (half - r1 * t_fail) / r2 + lat) + (half / r2 + lat)
    assert got == pytest.approx(want, rel=1e-9)
    assert got - base == pytest.approx((half - r1 * t_fail) * (1 / r2 - 1 / r1)
                                       + half * (1 / r2 - 1 / r1), rel=1e-9)


def test_overlapping_outages_nest():
    env = simpy.Environment()
    fab = FaultableFlowFabric(env, leaf_spine(), routing="ecmp-even")
    link = fab.link_ids_between("leaf0", "spine0")
    fab.fail_links(link)
    fab.fail_links(link)
    fab.restore_links(link)
    assert fab.down_links[link].all()
    fab.restore_links(link)
    assert not fab.down_links.any()


def test_the_flow_fabrics_public_hook_is_the_network_side():
    """Failures are part of the network layer: a flow fabric built with ``failures=True``
    takes links down through ``set_down_links`` (both directions of the cable given here),
    with the same result as the fault-process wrapper."""
    from sim.fabric import make_fabric

    size, t_fail = 1e9, 0.05
    want, _ = cross_flows("ecmp-even", size, t_fail=t_fail)
    env = simpy.Environment()
    topo = leaf_spine()
    fab = make_fabric(env, topo, fidelity="flow", routing="ecmp-even", failures=True)
    assert not fab.capabilities.fixed_capacities and not fab.capabilities.replay
    ev = fab.start_flows(np.arange(4), np.arange(4) + 4, np.full(4, size))
    names = topo.node_name
    a, b = np.flatnonzero(names == "leaf0")[0], np.flatnonzero(names == "spine0")[0]
    down = ((topo.src == a) & (topo.dst == b)) | ((topo.src == b) & (topo.dst == a))
    env.timeout(t_fail).callbacks.append(lambda _e: fab.set_down_links(down))
    env.run()
    np.testing.assert_allclose(ev.value, want, rtol=1e-12)
    assert fab.stats["reroutes"] == 1 and fab.down_links.sum() == 2


def test_capacities_are_fixed_unless_failures_are_asked_for():
    from sim.fabric import make_fabric

    topo = leaf_spine()
    fab = make_fabric(simpy.Environment(), topo, fidelity="flow")
    assert fab.capabilities.fixed_capacities
    with pytest.raises(CposimError, match="failures=True"):
        fab.set_down_links(np.ones(topo.n_links, dtype=bool))
    with pytest.raises(CposimError, match="flow fidelity"):
        make_fabric(simpy.Environment(), topo, fidelity="analytical", failures=True)


def test_the_fault_wrapper_uses_only_public_fabric_methods():
    """FaultableFlowFabric touches no private attribute it does not define itself."""
    import ast
    import inspect

    from sim.faults import inflight

    tree = ast.parse(inspect.getsource(inflight.FaultableFlowFabric))
    own = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    own |= {t.attr for n in ast.walk(tree) if isinstance(n, ast.Assign) for t in n.targets
            if isinstance(t, ast.Attribute)}
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id == "self"}
    private = {a for a in used if a.startswith("_") and not a.startswith("__")}
    assert private <= own, private - own
