"""``routing = "pxn"``: NCCL's rail-local relays. Cross-rail pairs of different scale-up
domains go over NVLink to the source server's GPU on the destination's rail, then on that
rail; everything else routes exactly as ``ecmp-hash``. Exact with every speed-up."""

from __future__ import annotations

import numpy as np
import pytest

from sim.errors import CposimError
from sim.fabric import ROUTINGS, SpeedOptions, build_topology, single_switch
from sim.fabric.routing import Router
from sim.fabric.routing.pxn import relays
from sim.runtime import simulate


def _route(r: Router, s: int, d: int):
    rid = r.route_ids(np.array([s]), np.array([d]))[0]
    ptr, links, coef, lat, _ = r.table()
    return set(links[ptr[rid]:ptr[rid + 1]].tolist()), float(lat[rid])


def _names(topo, links) -> set[str]:
    return {f"{topo.node_name[topo.src[i]]}>{topo.node_name[topo.dst[i]]}" for i in links}


@pytest.fixture(scope="module")
def pod():
    return build_topology("dgx-h100-superpod", gpus=512)     # 8 rails, 8 GPUs per node


def test_pxn_is_a_routing_choice():
    assert "pxn" in ROUTINGS
    with pytest.raises(CposimError) as e:
        Router(single_switch(4, link_bandwidth_bps=400e9, link_latency_s=1e-6), routing="pxm")
    assert e.value.field == "routing" and "pxn" in str(e.value)


def test_a_cross_rail_pair_goes_over_nvlink_then_its_rail(pod):
    r, e = Router(pod, routing="pxn"), Router(pod, routing="ecmp-hash")
    # GPU 0 (rail 0) -> GPU 9 (node 1, rail 1): relay GPU 1, then leaf 1 only, no spine
    links, lat = _route(r, 0, 9)
    assert _names(pod, links) == {"gpu0>nvs0", "nvs0>gpu1", "gpu1>leaf1", "leaf1>gpu9"}
    up, lat_up = _route(e, 0, 1)
    rail, lat_rail = _route(e, 1, 9)
    assert links == up | rail and lat == pytest.approx(lat_up + lat_rail, rel=1e-12)
    assert not any("spine" in n for n in _names(pod, links))
    # another SU: the rail leg climbs to a spine of that rail, never another rail's leaf
    far = _names(pod, _route(r, 0, 300)[0])
    assert {"gpu0>nvs0", "nvs0>gpu4", "gpu4>leaf4"} <= far and "leaf12>gpu300" in far


@pytest.mark.parametrize("s, d", [(0, 8), (0, 1), (5, 13), (8, 0)])
def test_same_rail_and_same_node_pairs_route_as_ecmp_hash(pod, s, d):
    assert _route(Router(pod, routing="pxn"), s, d) == _route(Router(pod, routing="ecmp-hash"),
                                                               s, d)


@pytest.mark.parametrize("topo", [single_switch(16, link_bandwidth_bps=400e9, link_latency_s=1e-6),
                                  build_topology("leaf-spine", gpus=64)])
def test_without_rails_every_route_is_ecmp_hash(topo):
    rng = np.random.default_rng(1)
    s, d = rng.integers(0, topo.n_gpus, 200), rng.integers(0, topo.n_gpus, 200)
    keep = s != d
    s, d = s[keep], d[keep]
    a, b = Router(topo, routing="pxn"), Router(topo, routing="ecmp-hash")
    ra, rb = a.route_ids(s, d), b.route_ids(s, d)
    pa, la, ca, ta, _ = a.table()
    pb, lb, cb, tb, _ = b.table()
    for i, j in zip(ra, rb):
        assert la[pa[i]:pa[i + 1]].tolist() == lb[pb[j]:pb[j + 1]].tolist()
        assert ta[i] == tb[j]


def test_the_relay_is_on_the_source_server_on_large_nvlink_domains():
    # GB200 NVL72: 72 GPUs per NVLink domain, 4 rails, 4 GPUs per tray: relay in the tray
    topo = build_topology("gb200-nvl72", gpus=144)
    s = np.array([0, 5, 70, 71])
    d = np.array([73, 72, 143, 75])
    out = relays(topo, s, d, np.ones(4, dtype=bool), np.ones(topo.n_gpus, dtype=bool))
    assert out.tolist() == [1, 4, 71, -1]        # 71 -> 75: same rail (3), direct


def test_the_all_to_alls_of_node_disjoint_ep_groups_share_no_link(pod):
    # two EP16 groups (nodes 0-1 and 2-3): under ecmp-hash their cross-rail flows meet on the
    # spines; under pxn no link carries both groups' flows
    groups = [np.arange(0, 16), np.arange(16, 32)]

    def used(routing):
        r = Router(pod, routing=routing)
        out = []
        for g in groups:
            s, d = np.repeat(g, g.size), np.tile(g, g.size)
            keep = s != d
            rid = r.route_ids(s[keep], d[keep])
            ptr, links, *_ = r.table()
            out.append({int(x) for i in rid for x in links[ptr[i]:ptr[i + 1]]})
        return out

    a, b = used("ecmp-hash")
    assert a & b                                   # shared spine links today
    a, b = used("pxn")
    assert not a & b


def test_rail_aligned_training_is_unchanged_by_pxn():
    # GPT-3 TP8: DP and PP peers share their local rank, so no pair is relayed
    from workloads.generator import generate

    trace = generate("gpt3-175b", gpus=128, tp=8, pp=4, global_batch=8, micro_batch=1)
    topo = build_topology("dgx-h100-superpod", gpus=128)
    a = simulate(trace, topo, fidelity="flow", routing="ecmp-hash")
    b = simulate(trace, topo, fidelity="flow", routing="pxn")
    assert a.iteration_s == b.iteration_s
    np.testing.assert_array_equal(a.fabric.link_bytes, b.fabric.link_bytes)


def test_moe_under_pxn_every_speed_up_equals_the_plain_path():
    from workloads.generator import generate

    trace = generate("deepseek-v3", gpus=256, tp=1, pp=8, ep=32, global_batch=64)
    topo = build_topology("dgx-h100-superpod", gpus=256)
    fast = simulate(trace, topo, fidelity="flow", routing="pxn")
    plain = simulate(trace, topo, fidelity="flow", routing="pxn",
                     speed=SpeedOptions.plain(rank_classes=True))
    assert fast.iteration_s == pytest.approx(plain.iteration_s, rel=1e-9)
    np.testing.assert_allclose(fast.fabric.link_bytes, plain.fabric.link_bytes, rtol=1e-9)
    # and the relays change the answer: the all-to-alls no longer cross the spines
    ecmp = simulate(trace, topo, fidelity="flow", routing="ecmp-hash")
    spine = np.array(["spine" in f"{topo.node_name[a]}{topo.node_name[b]}"
                      for a, b in zip(topo.src, topo.dst)])
    assert fast.fabric.link_bytes[spine].sum() < ecmp.fabric.link_bytes[spine].sum()


def test_every_entry_point_defaults_to_nccls_pxn():
    import argparse
    import inspect

    import sim.api
    from sim.cli import collective as cli_collective
    from sim.fabric import DEFAULT_ROUTING
    from sim.study import StudyConfig

    assert DEFAULT_ROUTING == "pxn"
    assert StudyConfig().routing == DEFAULT_ROUTING
    assert inspect.signature(sim.api.collective).parameters["routing"].default == DEFAULT_ROUTING
    parser = argparse.ArgumentParser()
    cli_collective.register(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["collective", "--op", "allreduce", "--size", "1MiB"])
    assert args.routing == DEFAULT_ROUTING
