"""Pair-route sets (sim.fabric.pairs): the same numbers as reading the route table directly,
memoised per router; and a run leaves nothing for the cyclic garbage collector."""

import gc
import weakref

import numpy as np
import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.fabric import build_topology, make_fabric
from sim.fabric.base import LinkBytes
from sim.fabric.pairs import _distinct, pair_routes
from sim.fabric.routing import route_entries


@pytest.fixture(scope="module")
def fabric():
    topo = build_topology("dgx-h100-superpod", gpus=256, policy="copper-first")
    return make_fabric(simpy.Environment(), topo, fidelity="analytical")


def _direct(fab, src, dst, w):
    rids = fab.router.route_ids(src, dst)
    ptr, links, coef, lat, bneck = fab.router.table()
    e, idx = route_entries(ptr, rids)
    return lat[rids], bneck[rids], LinkBytes.of(links[idx], w[e] * coef[idx], fab.topology.n_links)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 600))
def test_pair_routes_equal_the_route_table_bit_for_bit(fabric, seed, n):
    rng = np.random.default_rng(seed)
    src = rng.integers(0, 256, n)
    dst = rng.integers(0, 256, n)
    w = rng.uniform(0, 1e9, n) * (rng.random(n) < 0.9)      # some pairs carry nothing
    lat, bn, lb = _direct(fabric, src, dst, w)
    r = pair_routes(fabric, src, dst)
    assert np.array_equal(r.latency_s, lat) and np.array_equal(r.bottleneck_bps, bn)
    got = r.link_bytes(w)
    # the same links (those the pairs cross) and bitwise the same sums
    assert np.array_equal(got.links, lb.links) and np.array_equal(got.bytes, lb.bytes)
    assert pair_routes(fabric, src.copy(), dst.copy()) is r            # memoised by value


def test_distinct_both_ways_agree():
    rng = np.random.default_rng(1)
    for n, m in ((50, 3), (50, 500), (10**6, 100), (10**6, 50_000)):
        ids = rng.integers(0, n, m)
        u, inv = _distinct(ids, n)
        assert np.array_equal(u, np.unique(ids)) and np.array_equal(u[inv], ids)


def test_a_new_router_starts_a_new_memo(fabric):
    from sim.fabric.routing import Router

    src, dst = np.arange(0, 64), np.arange(64, 128)
    first = pair_routes(fabric, src, dst)
    old = fabric.router
    try:
        fabric.router = Router(fabric.topology, routing="ecmp-hash", seed=7)
        again = pair_routes(fabric, src, dst)
        assert again is not first
        rids = fabric.router.route_ids(src, dst)
        assert np.array_equal(again.latency_s, fabric.router.table()[3][rids])
    finally:
        fabric.router = old


def test_a_run_leaves_no_cycles_and_restores_the_collector():
    """The runtime and its fast path must not hold each other: the trace of a 131k-GPU job
    (10^5 ops) would then live until a full collection."""
    from sim.runtime import engine
    from sim.runtime.result import simulate
    from workloads.generator import generate

    trace = generate("gpt3-175b", gpus=256, tp=8, pp=4, global_batch=16, micro_batch=1)
    topo = build_topology("dgx-h100-superpod", gpus=256, policy="copper-first")
    seen = []
    init = engine.Runtime.__init__

    def spy(self, *a, **k):
        seen.append(weakref.ref(self))
        init(self, *a, **k)

    engine.Runtime.__init__ = spy
    was = gc.isenabled()
    gc.disable()
    try:
        res = simulate(trace, topo, fidelity="analytical")
        assert not gc.isenabled()                 # a paused collector stays paused
        assert res.iteration_s > 0 and len(seen) == 1
        assert seen[0]() is None                  # freed by reference counting alone
    finally:
        engine.Runtime.__init__ = init
        if was:
            gc.enable()
    simulate(trace, topo, fidelity="analytical")
    assert gc.isenabled() == was


def test_flow_route_id_memo_follows_the_router():
    from sim.fabric.routing import Router

    topo = build_topology("dgx-h100-superpod", gpus=256, policy="copper-first")
    fab = make_fabric(simpy.Environment(), topo, fidelity="flow")
    src, dst = np.arange(0, 128), np.arange(128, 256)
    a = fab._route_ids(src, dst)
    assert np.array_equal(a, fab.router.route_ids(src, dst))
    assert fab._route_ids(src.astype(np.int32), dst) is a       # same ids, same entry
    with pytest.raises(ValueError):
        a[0] = 1                                               # shared: read-only
    fab.router = Router(topo, routing="ecmp-hash", seed=3)
    b = fab._route_ids(src, dst)
    assert b is not a and np.array_equal(b, fab.router.route_ids(src, dst))


@pytest.fixture(scope="module")
def even_fabric():
    topo = build_topology("dgx-h100-superpod", gpus=2048, policy="copper-first")
    return make_fabric(simpy.Environment(), topo, fidelity="analytical", routing="ecmp-even")


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(64, 3000), st.sampled_from([1, 8, 256, 1024]))
def test_ecmp_even_factored_routes_equal_the_route_table(even_fabric, seed, n, stride):
    # pairs to a GPU `stride` away (ring neighbours of TP / rail / DP communicators) and
    # random ones, some inside a node (NVLink, not factored), a few to themselves
    from sim.fabric.pairs import FactoredPairRoutes

    fab = even_fabric
    rng = np.random.default_rng(seed)
    src = rng.integers(0, 2048, n)
    dst = np.where(rng.random(n) < 0.7, (src + stride) % 2048, rng.integers(0, 2048, n))
    w = rng.uniform(0, 1e9, n) * (rng.random(n) < 0.9)
    lat, bn, lb = _direct(fab, src, dst, w)
    r = pair_routes(fab, src, dst)
    assert isinstance(r, FactoredPairRoutes) or stride == 1
    np.testing.assert_allclose(r.latency_s, lat, rtol=1e-12, atol=0)
    assert np.array_equal(r.bottleneck_bps, bn)
    got = r.link_bytes(w)
    assert np.array_equal(got.links, lb.links)          # the links the pairs cross
    np.testing.assert_allclose(got.bytes, lb.bytes, rtol=1e-12, atol=1e-3)
    assert r.size <= _direct_entries(fab, src, dst)       # never more hop entries kept


def _direct_entries(fab, src, dst):
    rids = fab.router.route_ids(src, dst)
    ptr = fab.router.table()[0]
    return int((ptr[rids + 1] - ptr[rids]).sum())


def test_ecmp_even_analytical_iteration_same_with_and_without_factoring(monkeypatch):
    import sim.fabric.pairs as pairs
    from sim.runtime import simulate
    from workloads.generator import generate

    trace = generate("gpt3-175b", gpus=2048, tp=8, pp=16, global_batch=32, micro_batch=1)
    topo = build_topology("dgx-h100-superpod", gpus=2048, policy="copper-first")
    a = simulate(trace, topo, fidelity="analytical", routing="ecmp-even")
    monkeypatch.setattr(pairs, "_factored", lambda *a, **k: None)
    b = simulate(trace, topo, fidelity="analytical", routing="ecmp-even")
    assert a.iteration_s == pytest.approx(b.iteration_s, rel=1e-12)
    np.testing.assert_allclose(a.fabric.link_bytes, b.fabric.link_bytes, rtol=1e-12)
    assert a.fabric.energy_j() == pytest.approx(b.fabric.energy_j(), rel=1e-12)
    assert a.fabric.bytes_delivered == pytest.approx(b.fabric.bytes_delivered, rel=1e-12)
