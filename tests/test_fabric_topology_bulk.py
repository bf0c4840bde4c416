"""The vectorised topology build: bulk nodes, grouped PHY resolution, lazy names.

Properties that pin it without the old one-cable-at-a-time code: every link carries exactly
what ``sim.phy.resolve_link`` says for its technology and length (the first feasible one of
its policy), node and link counts follow the preset's closed form, bulk and one-by-one
construction give the same record, and impossible topologies fail with the same message.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from sim.errors import CposimError
from sim.fabric import TopologyBuilder, build_topology
from sim.fabric.builders import _place, _place_one
from sim.fabric.placement import Floor
from sim.fabric.policy import (CABLE_FIELDS, POLICIES, policy_candidates, policy_for_tier,
                               resolve_cable, resolve_lengths)
from sim.fabric.topology import Topology
from sim.phy import load_parameters, resolve_link

FIELDS = [f for f in Topology.__dataclass_fields__]


def _same(a: Topology, b: Topology) -> None:
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, f
            assert np.array_equal(x, y), f
        else:
            assert x == y, f


@pytest.mark.parametrize("name,kw", [
    ("dgx-h100-superpod", dict(gpus=1024)),
    ("dgx-h100-superpod", dict(gpus=16384, policy="copper-lpo")),
    ("gb200-nvl72", dict(gpus=576, tier_policy={"spine": "cpo"})),
    ("nvl576-optical", dict(gpus=1152, policy="lpo")),
    ("fat-tree", dict(gpus=2048, policy="optical-io")),
    ("leaf-spine", dict(gpus=256, oversubscription=4, policy="copper-cpo")),
    ("multiplane", dict(gpus=256, geometry={"row_pitch_m": 0.4, "rise_m": 0.3, "slack_m": 0.5})),
    ("torus2d", dict(gpus=64, policy="pluggable")),
])
def test_every_link_is_its_phy_answer(name, kw):
    """Per distinct (tier, lane rate, length to the mm): the first feasible technology of the
    tier's policy, and exactly its latency, energy; capacity and power x lanes / PHY lanes."""
    topo = build_topology(name, **kw)
    policy, tp = topo.policy, topo.tier_policy
    assert np.array_equal(topo.capacity_bps[topo.lanes > 0] > 0, np.ones((topo.lanes > 0).sum(),
                                                                       dtype=bool))
    n = topo.n_links // 2
    mm = np.rint(np.round(topo.length_m[:n], 3) * 1000).astype(np.int64)
    seen = {}
    for i in range(n):
        key = (topo.tier[i], topo.lane_rate_bps[i], int(mm[i]), topo.lanes[i])
        if key not in seen:
            seen[key] = i
    assert len(seen) > 1
    for (tier, rate, length_mm, lanes), i in seen.items():
        cands = policy_candidates(policy_for_tier(tier, policy, tp))
        results = [resolve_link(t, rate, length_mm / 1000.0) for t in cands]
        r = next(x for x in results if x.feasible)
        assert topo.tech[i] == r.tech
        assert topo.latency_s[i] == r.latency_s                 # bit for bit
        assert topo.energy_pj_per_bit[i] == r.energy_pj_per_bit
        assert topo.capacity_bps[i] == r.capacity_bps * (lanes / r.lanes)
        assert topo.capacity_bps[i] == pytest.approx(lanes * rate, rel=1e-12)
        assert topo.port_power_w[i] == r.port_power_w * (lanes / r.lanes)
        assert topo.port_total_power_w[i] == r.port_total_power_w * (lanes / r.lanes)
        assert topo.optical[i] == r.optical
        assert topo.transceivers[i] == float(r.transceivers) * (lanes / r.lanes)
    # both directions of a cable are the same record
    for f in ("capacity_bps", "latency_s", "tech", "tier", "length_m", "energy_pj_per_bit"):
        assert np.array_equal(getattr(topo, f)[:n], getattr(topo, f)[n:])
    assert np.array_equal(topo.src[:n], topo.dst[n:])


def _divisor_at_least(n: int, lo: int) -> int:
    return next((d for d in range(max(1, lo), n + 1) if n % d == 0), n)


def _superpod_counts(g: int) -> tuple[int, int]:
    """(nodes, directed links) of dgx-h100-superpod: NVL8 + 8 rails per SU of 256 GPUs,
    radix-64 leaves with as many up as down (32; fewer GPUs than one SU: g / 8); 2 tiers up to
    64 leaves, else pods of 32 leaves."""
    leaves = math.ceil(g / 256) * 8
    up = math.ceil(min(g, 256) / 8)
    cables = 2 * g                                            # NVLink + NIC
    if leaves <= 64:
        sp = _divisor_at_least(up, math.ceil(leaves * up / 64))
        switches = leaves + sp
        cables += leaves * sp
    else:
        pods = math.ceil(leaves / 32)
        core = _divisor_at_least(32, math.ceil(pods * 32 / 64))
        switches = leaves + pods * 32 + 32 * core
        cables += leaves * 32 + pods * 32 * core
    return g + g // 8 + switches, 2 * cables


@pytest.mark.parametrize("gpus", [8, 64, 256, 1024, 16384, 131072])
def test_superpod_counts_closed_form(gpus):
    topo = build_topology("dgx-h100-superpod", gpus=gpus)
    assert (topo.n_nodes, topo.n_links) == _superpod_counts(gpus)
    if gpus == 131072:
        assert (topo.n_nodes, topo.n_links) == (156_672, 1_048_576)
    assert topo.n_gpus == gpus and np.array_equal(topo.gpu_node, np.arange(gpus))
    assert np.array_equal(topo.scaleup_domain, np.arange(gpus) // 8)


def test_names_unique_lazy_and_picklable():
    topo = build_topology("fat-tree", gpus=2048)
    clone = pickle.loads(pickle.dumps(topo))          # before anyone read the names
    names = topo.node_name
    assert names.dtype == object and names.size == topo.n_nodes
    assert len(set(names.tolist())) == names.size
    assert names[topo.gpu_node].tolist() == [f"gpu{i}" for i in range(2048)]
    assert topo.node_name is names                    # made once
    assert np.array_equal(clone.node_name, names)
    assert "pod0.spine0" in set(names.tolist()) and "core0.0" in set(names.tolist())
    assert list(topo.links_frame()["src_name"][:2]) == ["gpu0", "gpu1"]


def _small(bulk: bool) -> Topology:
    b = TopologyBuilder("hand", switch_latency_s=250e-9)
    row = b.floor.new_row()
    racks = [b.floor.new_rack(row) for _ in range(3)]
    b.add_switch("first", "spine", -1)                # a single node before the bulk ones
    if bulk:
        g = b.add_nodes("gpu", "gpu", 6, prefix="gpu", rack=np.repeat(racks[:2], 3),
                        domain=[0, 0, 0, 1, 1, 1])
        sw = b.add_nodes("switch", "leaf", 2, names=["la", "lb"], rack=racks[2])
    else:
        g = np.array([b.add_gpu(f"gpu{i}", racks[i // 3], i // 3) for i in range(6)])
        sw = np.array([b.add_switch(n, "leaf", racks[2]) for n in ("la", "lb")])
    b.add_node("switch", "odd", "core", racks[0], 1e-9)
    b.add_cables(g, sw[np.arange(6) % 2], "leaf", lanes=4, lane_rate_bps=100e9)
    b.add_cables(sw, 0, "spine", lanes=8, lane_rate_bps=200e9, length_m=[1.0, 1234.5678])
    b.add_cables(g[:2], g[2:4], "scaleup", bandwidth_bps=1e12, latency_s=1e-7, tech="cpo")
    b.add_cables([], [], "core", lanes=1, lane_rate_bps=100e9)
    return b.build(policy="copper-lpo")


def test_bulk_nodes_equal_one_by_one():
    a, b = _small(True), _small(False)
    _same(a, b)
    assert a.node_name.tolist() == ["first", "gpu0", "gpu1", "gpu2", "gpu3", "gpu4", "gpu5",
                                    "la", "lb", "odd"]
    assert a.switch_latency_s.tolist() == [250e-9] + [0.0] * 6 + [250e-9] * 2 + [1e-9]
    assert a.tech[a.tier == "scaleup"].tolist() == ["cpo"] * 4


def test_floor_new_racks_equals_new_rack():
    rng = np.random.default_rng(5)
    one, bulk = Floor(), Floor()
    for f in (one, bulk):
        for _ in range(4):
            f.new_row()
    for _ in range(20):
        rows = rng.integers(0, 4, size=rng.integers(0, 9))
        ids = [one.new_rack(int(r)) for r in rows]
        assert bulk.new_racks(rows).tolist() == ids
    assert (bulk.row_of, bulk.slot_of, bulk.n_racks) == (one.row_of, one.slot_of, one.n_racks)


@pytest.mark.parametrize("per_rack", [16, 3, 2.5, 1, 0, -2, 0.5, True])
def test_bulk_switch_placement_equals_one_by_one(per_rack):
    rng = np.random.default_rng(7)
    one, bulk = Floor(), Floor()
    fills = {id(one): [None, per_rack], id(bulk): [None, per_rack]}
    for f in (one, bulk):
        f.new_row()
        f.new_row()
    for _ in range(15):
        row, count = int(rng.integers(0, 2)), int(rng.integers(0, 40))
        want = [_place_one(one, fills[id(one)], row, per_rack) for _ in range(count)]
        assert _place(bulk, fills[id(bulk)], row, count, per_rack).tolist() == want
        assert fills[id(one)] == fills[id(bulk)]
    assert (bulk.row_of, bulk.slot_of) == (one.row_of, one.slot_of)


@pytest.mark.parametrize("params", [None, {"channel.fiber.prop_delay": "5.5 ns/m",
                                           "tech.copper_aec.reach_cap": "12 m"}])
def test_resolve_lengths_equals_resolve_cable(params):
    p = None if params is None else load_parameters(params)
    mm = np.unique(np.r_[np.arange(0, 9000, 37), [0, 1, 999, 1000, 1001, 2999, 3000, 3001, 6999,
                                                 7000, 7001, 11999, 12000, 12001, 499_999,
                                                 500_000, 500_001, 1_999_999, 2_000_000,
                                                 2_000_001, 10_000_000]]).astype(np.int64)
    for policy in list(POLICIES) + ["copper-dac", "copper-aec"]:
        for rate in (100e9, 200e9):
            values, ok = resolve_lengths(policy, rate, mm, p)
            for i, m in enumerate(mm.tolist()):
                try:
                    r = resolve_cable(policy, "leaf", rate, m / 1000.0, p)
                except CposimError:
                    assert not ok[i], (policy, rate, m)
                    continue
                assert ok[i], (policy, rate, m)
                want = (r.tech, r.lanes, r.capacity_bps, r.latency_s, r.energy_pj_per_bit,
                        r.port_power_w, r.port_total_power_w, bool(r.optical),
                        float(r.transceivers))
                got = tuple(values[f][i] for f in CABLE_FIELDS)
                assert got == want, (policy, rate, m)


@pytest.mark.parametrize("kw,message", [
    (dict(gpus=1024, policy="copper-dac"),
     "no technology of policy 'copper-dac' reaches 5.60 m at 100 Gb/s per lane on a leaf link "
     "(copper-dac: 5.6 m exceeds the catalogue reach limit of 3 m for copper-dac at 100G/lane)"),
    (dict(gpus=16384, tier_policy={"core": "copper-aec"}),
     "no technology of policy 'copper-aec' reaches 8.00 m at 100 Gb/s per lane on a core link "
     "(copper-aec: 8 m exceeds the AEC reach limit of 7 m for copper-aec at 100G/lane)"),
    (dict(gpus=1024, lane_rate_bps=50e9), "unsupported lane rate 50 Gb/s; supported: 100G, 200G"),
])
def test_impossible_topologies_fail_as_before(kw, message):
    """The first failing cable in the order cables were added (then by length) names the
    error, as when cables were resolved one by one."""
    with pytest.raises(CposimError) as exc:
        build_topology("dgx-h100-superpod", **kw)
    assert exc.value.message == message


def test_build_time_is_linear_in_size():
    """Not a benchmark (those live in experiments/perf.py): a guard against Python per node or
    per link coming back. 8x the GPUs may cost at most ~8x (+ slack for noise)."""
    import time

    def best(gpus):
        build_topology("dgx-h100-superpod", gpus=gpus)
        out = []
        for _ in range(3):
            t = time.perf_counter()
            build_topology("dgx-h100-superpod", gpus=gpus)
            out.append(time.perf_counter() - t)
        return min(out)

    small, large = best(2048), best(16384)
    assert large < 0.5                 # was ~0.15 s with a Python call per node and cable
    assert large < 16 * small + 0.05


@pytest.mark.parametrize("preset, sizes", [("dgx-h100-superpod", (16, 64, 256, 1024)),
                                           ("gb200-nvl72", (72, 144, 288, 576))])
def test_a_cluster_smaller_than_a_scalable_unit_is_not_charged_for_one(preset, sizes):
    # leaves are cabled up for the GPUs they have: scale-out links and power per GPU and the
    # non-blocking leaf (as many up as down) are the same at every size
    from sim.fabric.cost import scaleout_mask

    per_gpu = []
    for n in sizes:
        topo = build_topology(preset, gpus=n, policy="copper-first")
        so = scaleout_mask(topo)
        per_gpu.append(topo.port_total_power_w[so].sum() / n)
        leaf = topo.node_tier.astype(str) == "leaf"
        down = np.bincount(topo.dst[so & (topo.kind[topo.src] == "gpu")],
                           weights=topo.capacity_bps[so & (topo.kind[topo.src] == "gpu")],
                           minlength=topo.n_nodes)
        up = np.bincount(topo.src[so & leaf[topo.src] & (topo.kind[topo.dst] == "switch")],
                         weights=topo.capacity_bps[so & leaf[topo.src]
                                                   & (topo.kind[topo.dst] == "switch")],
                         minlength=topo.n_nodes)
        np.testing.assert_allclose(up[leaf], down[leaf], rtol=1e-12)
    np.testing.assert_allclose(per_gpu, per_gpu[-1], rtol=1e-9)
