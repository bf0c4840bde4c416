"""Collectives on the fabric: flow fidelity against the closed forms, sharing, composition,
and byte conservation against the fabric's own per-link counters."""

import numpy as np
import pytest
import simpy

from sim.comm import (Communicator, build_schedule, busbw_factor, closed_form, run_collective,
                      run_p2p)
from sim.fabric import TopologyBuilder, make_fabric, single_switch

B = 50e9          # bytes/s per GPU-switch link
LAT = 500e-9      # per link; one step between two GPUs on a switch costs 2 x LAT
ALPHA = 2 * LAT


def _switch(n, fidelity="flow"):
    env = simpy.Environment()
    topo = single_switch(n, link_bandwidth_bps=8 * B, link_latency_s=LAT)
    return env, make_fabric(env, topo, fidelity=fidelity)


def _run(env, fab, comm, op, size, **kw):
    ev = run_collective(env, fab, comm, op, size, **kw)
    env.run()
    return ev.value


def _world(n):
    return Communicator("world", np.arange(n), np.arange(n))


CASES = [("allreduce", "ring"), ("allgather", "ring"), ("reducescatter", "ring"),
         ("allreduce", "halving-doubling"), ("alltoall", "direct"), ("allreduce", "direct"),
         ("allreduce", "double-binary-tree"), ("broadcast", "ring"), ("reduce", "ring"),
         ("broadcast", "halving-doubling"), ("allgather", "halving-doubling")]


@pytest.mark.parametrize("op,alg", CASES)
@pytest.mark.parametrize("n,size,chunks", [(8, 2**20, 1), (16, 3e7, 1), (8, 2**24, 4)])
def test_flow_matches_closed_form_on_a_switch(op, alg, n, size, chunks):
    env, fab = _switch(n)
    r = _run(env, fab, _world(n), op, size, algorithm=alg, chunks=chunks)
    want = closed_form(op, alg, n, size, ALPHA, B, chunks=chunks)
    assert r.time_s == pytest.approx(want, rel=1e-3)
    assert r.busbw_Bps == pytest.approx(size / r.time_s * busbw_factor(op, n), rel=1e-12)


def test_issue_formulas_in_flow_and_analytical():
    n, S = 8, 2**20
    want = {("allreduce", "ring"): 2 * (n - 1) * (ALPHA + S / (n * B)),
            ("allgather", "ring"): (n - 1) * (ALPHA + S / (n * B)),
            ("reducescatter", "ring"): (n - 1) * (ALPHA + S / (n * B)),
            ("allreduce", "halving-doubling"): 2 * 3 * ALPHA + 2 * (n - 1) / n * S / B,
            ("alltoall", "direct"): ALPHA + (n - 1) / n * S / B}
    for (op, alg), t in want.items():
        env, fab = _switch(n)
        assert _run(env, fab, _world(n), op, S, algorithm=alg).time_s == pytest.approx(t, rel=1e-3)
        env, fab = _switch(n, "analytical")
        r = _run(env, fab, _world(n), op, S, algorithm=alg)
        assert r.time_s == pytest.approx(t, rel=1e-12)
        assert r.fidelity == "analytical"
        assert fab.stats["flows"] == 0          # analytical: no per-flow work at all


def test_two_collectives_sharing_links_slow_each_other_as_max_min_predicts():
    # A: ring all-reduce on GPUs {0, 1} (2 steps of S_A/2 each way), B: all-gather on {0, 2}
    # (1 step of S_B/2 each way), both started at t=0. GPU 0's up- and downlink carry one
    # flow of each, so each gets B/2 while both are active and the whole link when alone.
    # A's step 1 ends its bytes at S_A/B, is delivered at S_A/B + α; during that α, B's flows
    # run alone at B; A's step 2 shares again for S_A/B. So A takes 2α + 2 S_A/B, and B, whose
    # flows have then moved S_A + α·B of their S_B/2 bytes, needs (S_B/2 - S_A - αB)/B more:
    # B takes α + S_A/B + S_B/(2B)  (valid while S_B/2 > S_A + αB).
    SA, SB = 4e6, 40e6
    env, fab = _switch(4)
    a = run_collective(env, fab, Communicator("A", [0, 1], [0, 1]), "allreduce", SA,
                       algorithm="ring")
    b = run_collective(env, fab, Communicator("B", [0, 1], [0, 2]), "allgather", SB,
                       algorithm="ring")
    env.run()
    assert a.value.time_s == pytest.approx(2 * ALPHA + 2 * SA / B, rel=1e-9)
    assert b.value.time_s == pytest.approx(ALPHA + SA / B + SB / (2 * B), rel=1e-9)
    # alone, each would have been faster
    env, fab = _switch(4)
    alone = _run(env, fab, Communicator("B", [0, 1], [0, 2]), "allgather", SB, algorithm="ring")
    assert alone.time_s == pytest.approx(ALPHA + SB / (2 * B), rel=1e-9)


def _two_level(domains, local=8, bu=400e9, lu=100e-9, bo=50e9, lo=600e-9, sw=200e-9):
    """``domains`` scale-up switches of ``local`` GPUs, every GPU also on one scale-out switch."""
    b = TopologyBuilder("test-two-level", switch_latency_s=sw)
    leaf = b.add_switch("leaf", "leaf", -1)
    for d in range(domains):
        nvs = b.add_switch(f"nvswitch{d}", "scaleup", -1)
        g = [b.add_gpu(f"gpu{d}.{i}", -1, d) for i in range(local)]
        b.add_cables(g, nvs, "scaleup", bandwidth_bps=8 * bu, latency_s=lu, length_m=0.0,
                     tech="copper-dac")
        b.add_cables(g, leaf, "leaf", bandwidth_bps=8 * bo, latency_s=lo, length_m=0.0,
                     tech="cpo")
    return b.build()


@pytest.mark.parametrize("fidelity", ["flow", "analytical"])
def test_hierarchical_allreduce_is_the_composition_of_its_phases(fidelity):
    D, L, S = 4, 8, 2**26
    topo = _two_level(D, L)
    world = Communicator("world", np.arange(D * L), np.arange(D * L))

    def run(comms, op, size, alg):
        env = simpy.Environment()
        fab = make_fabric(env, topo, fidelity=fidelity)
        ev = run_collective(env, fab, comms, op, size, algorithm=alg)
        env.run()
        return ev.value, fab

    whole, fab = run(world, "allreduce", S, "auto")
    assert whole.algorithm == "hierarchical"
    domains = [Communicator(f"d{d}", np.arange(L), np.arange(d * L, (d + 1) * L))
               for d in range(D)]
    columns = [Communicator(f"c{i}", np.arange(D), np.arange(D) * L + i) for i in range(L)]
    rs, _ = run(domains, "reducescatter", S, "ring")
    ar, _ = run(columns, "allreduce", S / L, "ring")
    ag, _ = run(domains, "allgather", S, "ring")
    assert whole.time_s == pytest.approx(rs.time_s + ar.time_s + ag.time_s, rel=1e-9)
    # and both equal the closed form with per-level α and B from the fabric's paths
    a_up, a_out = fab.path_latency_s(0, 1), fab.path_latency_s(0, L)
    assert a_up == pytest.approx(2 * 100e-9 + 200e-9)
    assert a_out == pytest.approx(2 * 600e-9 + 200e-9)
    want = closed_form("allreduce", "hierarchical", D * L, S, a_up, 400e9, local_size=L,
                       alpha_inter_s=a_out, bandwidth_inter_Bps=50e9)
    assert whole.time_s == pytest.approx(want, rel=1e-9)
    # bytes: intra phases on copper, the inter phase on the scale-out (cpo) links
    per_rank_inter = 2 * (D - 1) / D * S / L
    assert whole.link_bytes_by_tech["cpo"] == pytest.approx(2 * D * L * per_rank_inter)


@pytest.mark.parametrize("op,alg", CASES + [("allreduce", "hierarchical")])
def test_every_byte_is_moved_and_counted_by_the_fabric(op, alg):
    D, L, S = 2, 4, 1e6
    topo = _two_level(D, L) if alg == "hierarchical" else single_switch(
        D * L, link_bandwidth_bps=8 * B, link_latency_s=LAT)
    env = simpy.Environment()
    fab = make_fabric(env, topo)
    n = D * L
    r = _run(env, fab, _world(n), op, S, algorithm=alg, chunks=3)
    s = build_schedule(op, alg, n, S, layout=np.arange(n).reshape(D, L))
    np.testing.assert_allclose(r.per_rank_sent_bytes[0], s.sent_bytes())
    # what the fabric delivered out of / into every GPU equals the per-rank counts
    lb = fab.link_bytes
    gpu_node = topo.gpu_node
    out = np.array([lb[np.isin(topo.src, g)].sum() for g in gpu_node])
    into = np.array([lb[np.isin(topo.dst, g)].sum() for g in gpu_node])
    np.testing.assert_allclose(out, r.per_rank_sent_bytes[0], rtol=1e-9)
    np.testing.assert_allclose(into, r.per_rank_recv_bytes[0], rtol=1e-9)
    assert lb.sum() == pytest.approx(r.link_bytes, rel=1e-9)
    assert r.bytes_on_wire == pytest.approx(r.per_rank_sent_bytes.sum(), rel=1e-12)


def test_many_communicators_in_lockstep_and_uneven_alltoall():
    env, fab = _switch(16)
    comms = [Communicator(f"tp{i}", np.arange(4), np.arange(4) + 4 * i) for i in range(4)]
    r = _run(env, fab, comms, "allreduce", 2**22, algorithm="ring")
    assert r.n_comms == 4 and r.per_rank_sent_bytes.shape == (4, 4)
    # disjoint groups on a non-blocking switch do not interfere
    assert r.time_s == pytest.approx(closed_form("allreduce", "ring", 4, 2**22, ALPHA, B), 1e-3)
    # MoE-style: rank j receives split[j] from every other rank; the hot expert's downlink
    # carries (n-1) * split[hot] and sets the time
    split = np.array([1e6, 1e6, 8e6, 1e6])
    env, fab = _switch(4)
    r = _run(env, fab, Communicator("ep", np.arange(4), np.arange(4)), "alltoall", 0.0,
             split_bytes=split)
    assert r.time_s == pytest.approx(ALPHA + 3 * 8e6 / B, rel=1e-3)
    np.testing.assert_allclose(r.per_rank_recv_bytes[0], 3 * split)


def test_p2p_pipeline_sends():
    env, fab = _switch(4)
    ev = run_p2p(env, fab, np.array([0, 2]), np.array([1, 3]), 5e6)
    env.run()
    assert ev.value.time_s == pytest.approx(ALPHA + 5e6 / B, rel=1e-9)
    env, fab = _switch(4, "analytical")
    ev = run_p2p(env, fab, 0, 1, 5e6)
    env.run()
    assert ev.value.time_s == pytest.approx(ALPHA + 5e6 / B, rel=1e-12)


def test_zero_byte_collective_costs_the_latencies():
    env, fab = _switch(8)
    r = _run(env, fab, _world(8), "allreduce", 0.0, algorithm="ring")
    assert r.time_s == pytest.approx(2 * 7 * ALPHA, rel=1e-9)


@pytest.mark.parametrize("op", ["allreduce", "allgather", "reducescatter", "broadcast", "reduce"])
@pytest.mark.parametrize("chunks", [1, 4])
def test_flow_equals_analytical_for_hierarchical_on_separate_ports(op, chunks):
    """Chunks pipeline NVLink and scale-out phases at once; both ports are separate, so flow
    must equal the per-level wave model exactly (and with 1 chunk, the phase sum)."""
    topo = _two_level(4, 8)
    times = []
    for fidelity in ("flow", "analytical"):
        env = simpy.Environment()
        fab = make_fabric(env, topo, fidelity=fidelity)
        r = _run(env, fab, Communicator("w", np.arange(32), np.arange(32)), op, 2**26,
                 chunks=chunks, root=5)
        assert r.algorithm == "hierarchical"
        times.append(r.time_s)
    assert times[0] == pytest.approx(times[1], rel=1e-9)


def test_uneven_alltoall_analytical_is_the_hot_port():
    split = np.array([1e6, 1e6, 8e6, 1e6])
    env, fab = _switch(4, "analytical")
    r = _run(env, fab, Communicator("ep", np.arange(4), np.arange(4)), "alltoall", 0.0,
             split_bytes=split)
    assert r.time_s == pytest.approx(ALPHA + 3 * 8e6 / B, rel=1e-12)
