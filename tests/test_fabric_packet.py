"""The ``packet`` model: closed form for one flow, agreement with ``flow``, conservation."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from sim.errors import CposimError
from sim.fabric import build_topology, make_fabric, single_switch

MiB = 2 ** 20


def run(topo, src, dst, size, **kw):
    env = simpy.Environment()
    fab = make_fabric(env, topo, **kw)
    ev = fab.start_flows(np.asarray(src), np.asarray(dst), np.asarray(size, dtype=float))
    env.run()
    return fab, ev.value


@pytest.mark.parametrize("switching", ["cut-through", "store-and-forward"])
@pytest.mark.parametrize("size", [MiB, 3 * MiB + 123])
def test_one_flow_within_one_percent(switching, size):
    topo = single_switch(4, link_bandwidth_bps=400e9, link_latency_s=1e-6, switch_latency_s=3e-7)
    fab, t = run(topo, [0], [3], [size], fidelity="packet", switching=switching)
    expected = 2e-6 + 3e-7 + size * 8 / 400e9
    assert abs(t[0] - expected) / expected < 0.01
    assert fab.stats["packets"] == 2 * -(-size // 4096)
    if switching == "cut-through":
        # the pipeline is exact: the last packet leaves at S/C and crosses the path latency
        assert t[0] == pytest.approx(expected, rel=1e-12)
    else:
        # store-and-forward adds one MTU serialisation per switch hop
        assert t[0] == pytest.approx(expected + 4096 * 8 / 400e9, rel=1e-12)


def test_one_flow_physical_multi_hop():
    topo = build_topology("leaf-spine", gpus=32, su_gpus=8, radix=8)
    env = simpy.Environment()
    fab = make_fabric(env, topo, fidelity="packet", mtu_bytes=8192)
    ev = fab.start_flow(0, 31, 4 * MiB)
    env.run()
    expected = fab.path_latency_s(0, 31) + 4 * MiB * 8 / fab.path_bottleneck_bps(0, 31)
    assert abs(ev.value[0] - expected) / expected < 0.01


@pytest.mark.parametrize("oversubscription", [1, 2])
def test_flow_and_packet_agree_on_permutation(oversubscription):
    # a two-tier fabric of 32 hosts, 1 MiB per host to a random permutation partner
    topo = build_topology("leaf-spine", gpus=32, su_gpus=8, radix=8,
                          oversubscription=oversubscription)
    assert topo.notes["tiers"] == 2
    rng = np.random.default_rng(11)
    dst = rng.permutation(32)
    f_flow, t_flow = run(topo, np.arange(32), dst, np.full(32, MiB), fidelity="flow")
    f_pkt, t_pkt = run(topo, np.arange(32), dst, np.full(32, MiB), fidelity="packet")
    moving = dst != np.arange(32)
    assert abs(t_pkt.max() / t_flow.max() - 1) < 0.05
    assert abs(t_pkt[moving].mean() / t_flow[moving].mean() - 1) < 0.05
    # same routes, so each link carries exactly the same bytes in both models
    assert np.allclose(f_pkt.link_bytes, f_flow.link_bytes, rtol=1e-12)
    for f in (f_flow, f_pkt):
        assert f.bytes_delivered == f.bytes_offered == 32 * MiB


def test_fair_queueing_shares_a_bottleneck():
    # 4 senders into one receiver: each finishes at ~4 S / C, as in max-min
    topo = single_switch(5, link_bandwidth_bps=100e9, link_latency_s=5e-7)
    _, t = run(topo, [1, 2, 3, 4], [0, 0, 0, 0], np.full(4, MiB), fidelity="packet")
    expected = 1e-6 + 4 * MiB * 8 / 100e9
    assert np.all(np.abs(t / expected - 1) < 0.01)


def test_credit_backpressure_gives_max_min_shares():
    # three flows into GPU 0 (C/3 each) and one more from GPU 1 to GPU 4 that shares GPU 1's
    # uplink with the flow 1 -> 0. Max-min: 1 -> 4 gets 2C/3 and ends at 1.5 S/C. Without
    # backpressure the uplink's round robin would give it only C/2 (ends at 2 S/C).
    topo = single_switch(5, link_bandwidth_bps=100e9, link_latency_s=5e-7, switch_latency_s=3e-7)
    S = 8 * MiB
    unit = S * 8 / 100e9
    args = (np.array([1, 2, 3, 1]), np.array([0, 0, 0, 4]), np.full(4, S))
    _, t = run(topo, *args, fidelity="packet")
    assert t[3] / unit == pytest.approx(1.5, rel=0.01)
    assert np.allclose(t[:3] / unit, 3.0, rtol=0.01)
    _, t_inf = run(topo, *args, fidelity="packet", buffer_bytes=None)
    assert t_inf[3] / unit == pytest.approx(2.0, rel=0.01)
    _, t_flow = run(topo, *args)
    assert np.allclose(t, t_flow, rtol=0.01)


def test_zero_and_local_flows_and_bad_options():
    topo = single_switch(3, link_bandwidth_bps=100e9, link_latency_s=1e-6)
    fab, t = run(topo, [0, 1], [1, 1], [0, MiB], fidelity="packet")
    assert t[0] == pytest.approx(2e-6) and t[1] == 0.0
    assert fab.bytes_delivered == fab.bytes_offered
    with pytest.raises(CposimError):
        make_fabric(simpy.Environment(), topo, fidelity="packet", switching="wormhole")
    with pytest.raises(CposimError):
        make_fabric(simpy.Environment(), topo, fidelity="packet", mtu_bytes=0)
    with pytest.raises(CposimError):
        make_fabric(simpy.Environment(), topo, fidelity="packet", routing="ecmp-even")
    with pytest.raises(CposimError):
        make_fabric(simpy.Environment(), topo, fidelity="packet", buffer_bytes=100)


def test_flow_and_packet_agree_under_pxn_relays():
    # rail-optimized: cross-rail pairs of different servers are relayed over NVLink onto the
    # destination's rail (the default routing); packets follow the same single path per flow
    topo = build_topology("dgx-h100-superpod", gpus=32)
    src = np.arange(32)
    dst = (src + 9) % 32                                # next server, next rail
    f_flow, t_flow = run(topo, src, dst, np.full(32, MiB), fidelity="flow", routing="pxn")
    f_pkt, t_pkt = run(topo, src, dst, np.full(32, MiB), fidelity="packet", routing="pxn")
    assert f_pkt.routing == f_flow.routing == "pxn"
    assert abs(t_pkt.max() / t_flow.max() - 1) < 0.05
    assert np.allclose(f_pkt.link_bytes, f_flow.link_bytes, rtol=1e-12)
    # each flow crosses its NVLink leg (2 hops) and a rail (2 hops, one leaf): 4 x 32 MiB
    assert f_pkt.link_bytes.sum() == pytest.approx(4 * 32 * MiB, rel=1e-12)
    assert f_pkt.bytes_delivered == f_pkt.bytes_offered == 32 * MiB
