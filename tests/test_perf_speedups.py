"""Every speed-up (README, "Performance") against the plain path: results equal to 1e-9 (relative).

Plain path = a fabric built with ``SpeedOptions.plain()`` (every component solved afresh and
in full, no replays), whose collectives follow it (full schedule, wave by wave).
"""

import numpy as np
import pytest
import simpy

from sim.comm import Communicator, run_collective
from sim.comm.periodic import periodic_schedule
from sim.fabric import SpeedOptions, build_topology, make_fabric, single_switch
from sim.faults.inflight import FaultableFlowFabric

REL = 1e-9


def _fabric(topo, fidelity="flow", fast=True, cls=None, speed=None):
    """A fabric with every speed-up (``fast``) or none (the plain path), or ``speed``."""
    env = simpy.Environment()
    if speed is None:
        speed = SpeedOptions() if fast else SpeedOptions.plain()
    fab = cls(env, topo, speed=speed) if cls else make_fabric(env, topo, fidelity=fidelity,
                                                              speed=speed)
    return env, fab


def _same_result(a, b):
    for k in ("time_s", "link_bytes", "energy_j", "bytes_on_wire", "busbw_Bps", "algbw_Bps"):
        assert getattr(a, k) == pytest.approx(getattr(b, k), rel=REL), k
    assert (a.n_steps, a.n_waves, a.algorithm, a.phases) == (b.n_steps, b.n_waves, b.algorithm,
                                                             b.phases)
    np.testing.assert_allclose(a.per_rank_sent_bytes, b.per_rank_sent_bytes, rtol=REL)
    np.testing.assert_allclose(a.per_rank_recv_bytes, b.per_rank_recv_bytes, rtol=REL)
    assert a.link_bytes_by_tech.keys() == b.link_bytes_by_tech.keys()
    for t, v in b.energy_by_tech.items():
        assert a.energy_by_tech[t] == pytest.approx(v, rel=REL)


def _one(topo, n, op, chunks, fast, fidelity="flow", comms=None):
    env, fab = _fabric(topo, fidelity, fast=fast)
    comms = comms or Communicator("w", np.arange(n), np.arange(n))
    ev = run_collective(env, fab, comms, op, 2.0 ** 26, algorithm="ring", chunks=chunks)
    env.run()
    return ev.value, fab


@pytest.mark.parametrize("op", ["allreduce", "allgather", "reducescatter"])
@pytest.mark.parametrize("chunks", [1, 3])
def test_ring_fast_forward_equals_the_plain_path(op, chunks):
    topo = build_topology("fat-tree", gpus=64, policy="copper-first")
    fast, ffab = _one(topo, 64, op, chunks, True)
    plain, pfab = _one(topo, 64, op, chunks, False)
    _same_result(fast, plain)
    np.testing.assert_allclose(ffab.link_bytes, pfab.link_bytes, rtol=REL)
    assert ffab.bytes_delivered == pytest.approx(pfab.bytes_delivered, rel=REL)
    assert ffab.stats["flows"] == pfab.stats["flows"]
    # it really took the closed form: a handful of solves and events instead of one per wave
    assert ffab.stats["ff_waves"] == plain.n_waves
    assert ffab.stats["sim_events"] < 20 < pfab.stats["sim_events"]


def test_periodic_schedule_has_the_bytes_and_steps_of_the_full_one():
    for op in ("allreduce", "allgather", "reducescatter"):
        p = periodic_schedule(op, "ring", 12, 1e6)
        full = p.full()
        assert p.n_steps == full.n_steps and p.n_rows == full.n_rows
        np.testing.assert_allclose(p.sent_bytes(), full.sent_bytes(), rtol=1e-12)
        np.testing.assert_allclose(p.recv_bytes(), full.recv_bytes(), rtol=1e-12)
        pairs, nb, _ = p.pair_bytes()
        fpairs, fnb, _ = full.pair_bytes()
        np.testing.assert_array_equal(pairs, fpairs)
        np.testing.assert_allclose(nb, fnb, rtol=1e-12)
        for c in (1, 2, 5, 20):     # waves of the chunk pipeline carry every byte once
            segs = p.segments(c)
            assert sum(n for _, n in segs) == p.n_steps + c - 1
            assert sum(f * n for f, n in segs) == pytest.approx(p.n_steps)


@pytest.mark.parametrize("fidelity", ["analytical", "flow"])
def test_ring_across_nvlink_domains_mixed_classes(fidelity):
    # ring over 4 NVL8 domains: every step mixes NVLink and scale-out flows (several rate
    # epochs per wave in flow, the per-wave schedule time in analytical) -> must still match
    topo = build_topology("dgx-h100-superpod", gpus=32, policy="copper-first")
    fast, ffab = _one(topo, 32, "allreduce", 1, True, fidelity)
    plain, _ = _one(topo, 32, "allreduce", 1, False, fidelity)
    _same_result(fast, plain)


@pytest.mark.parametrize("start_frac", [0.0, 0.3, 0.5 + 1e-3, 0.9999])
def test_reservation_breaks_exactly_when_other_traffic_arrives(start_frac):
    # a ring on 8 GPUs of one switch, and a p2p flow that lands on its links mid-collective
    topo = single_switch(8, link_bandwidth_bps=400e9, link_latency_s=2e-6)
    ring_t = _one(topo, 8, "allreduce", 1, False)[0].time_s
    out = {}
    for fast in (True, False):
        env, fab = _fabric(topo, fast=fast)
        coll = run_collective(env, fab, Communicator("w", np.arange(8), np.arange(8)),
                              "allreduce", 2.0 ** 26, algorithm="ring")
        got = {}

        def other(env=env, fab=fab, got=got):
            yield env.timeout(start_frac * ring_t)
            got["p2p"] = yield fab.start_flows([0, 3], [1, 7], [2.0 ** 24, 2.0 ** 23])

        env.process(other())
        env.run()
        out[fast] = (coll.value, got["p2p"], fab)
    _same_result(out[True][0], out[False][0])
    np.testing.assert_allclose(out[True][1], out[False][1], rtol=REL)
    np.testing.assert_allclose(out[True][2].link_bytes, out[False][2].link_bytes, rtol=REL)
    assert out[True][2].bytes_delivered == pytest.approx(out[False][2].bytes_delivered, rel=REL)
    assert out[True][2].stats["ff_breaks"] == 1
    if start_frac < 0.9:                        # the extra traffic did slow the ring down
        assert out[True][0].time_s > ring_t * (1 + 1e-6)


def test_two_rings_sharing_links_started_apart():
    topo = build_topology("leaf-spine", gpus=64, policy="copper-first")
    out = {}
    for fast in (True, False):
        env, fab = _fabric(topo, fast=fast)
        a = run_collective(env, fab, Communicator("a", np.arange(32), np.arange(32)),
                           "allreduce", 2.0 ** 25, algorithm="ring")
        res = {}

        def later(env=env, fab=fab, res=res):
            yield env.timeout(1e-4)
            ranks = np.arange(16, 48)
            res["b"] = yield run_collective(env, fab, Communicator("b", ranks, ranks),
                                            "allgather", 2.0 ** 24, algorithm="ring")

        env.process(later())
        env.run()
        out[fast] = (a.value, res["b"], fab.link_bytes)
    _same_result(out[True][0], out[False][0])
    _same_result(out[True][1], out[False][1])
    np.testing.assert_allclose(out[True][2], out[False][2], rtol=REL)


def test_no_fast_forward_on_a_fabric_with_failures():
    topo = build_topology("leaf-spine", gpus=64, policy="copper-first")
    out = {}
    for fast in (True, False):
        env, fab = _fabric(topo, fast=fast, cls=FaultableFlowFabric)
        up = np.flatnonzero(topo.tier[:] != "scaleup")[-4:]
        fab.fail_links_at(2e-4, up)
        fab.restore_links_at(6e-4, up)
        ev = run_collective(env, fab, Communicator("w", np.arange(64), np.arange(64)),
                            "allreduce", 2.0 ** 26, algorithm="ring")
        env.run()
        out[fast] = (ev.value, fab)
    _same_result(out[True][0], out[False][0])
    assert out[True][1].stats["ff_waves"] == 0
    # capacities may change: the speed-ups that time traffic once are declined
    caps = out[True][1].capabilities
    assert not caps.fixed_capacities and not caps.replay


def test_memoised_solves_are_bitwise_the_fresh_ones():
    topo = build_topology("leaf-spine", gpus=128, su_gpus=32, oversubscription=4, radix=64,
                          policy="copper-first")
    rng = np.random.default_rng(3)
    perms = [rng.permutation(128) for _ in range(3)]
    out = {}
    for memo in (True, False):
        env, fab = _fabric(topo, speed=SpeedOptions.plain(memoise=memo))   # the memo alone

        fins = []

        def proc(env=env, fab=fab, fins=fins):
            for rep in range(4):             # the same flow sets again and again
                for p in perms:
                    fins.append((yield fab.start_flows(np.arange(128), p,
                                                       np.full(128, 2.0 ** 20 * (1 + rep % 2)))))
        env.process(proc())
        env.run()
        out[memo] = (np.concatenate(fins), fab.stats)
    np.testing.assert_array_equal(out[True][0] - out[True][0][0], out[False][0] - out[False][0][0])
    assert out[True][1]["memo_hits"] > 0
    assert out[True][1]["solves"] < out[False][1]["solves"]


@pytest.mark.parametrize("fidelity", ["flow", "analytical"])
def test_gpt3_iteration_equal_with_and_without_every_speed_up(fidelity):
    # pipeline sends (replayed from a memo in analytical), TP in NVLink, DP rings across
    from sim.runtime import simulate
    from workloads.generator import generate

    trace = generate("gpt3-175b", gpus=256, tp=8, pp=16, global_batch=4, micro_batch=1)
    topo = build_topology("dgx-h100-superpod", gpus=256, policy="copper-first")
    # rank classes against one control loop per rank: test_runtime_pipeline, stragglers
    fast = simulate(trace, topo, fidelity=fidelity, speed=SpeedOptions())
    plain = simulate(trace, topo, fidelity=fidelity, speed=SpeedOptions.plain(rank_classes=True))
    assert fast.iteration_s == pytest.approx(plain.iteration_s, rel=REL)
    assert fast.summary["collectives_replayed"] > 0 == plain.summary["collectives_replayed"]
    for k, v in plain.summary.items():
        if isinstance(v, float):
            assert fast.summary[k] == pytest.approx(v, rel=REL, abs=1e-15), k
    a = fast.ops.sort_values(["class", "op_id"])["end_s"].to_numpy()
    b = plain.ops.sort_values(["class", "op_id"])["end_s"].to_numpy()
    np.testing.assert_allclose(a, b, rtol=REL)


@pytest.mark.parametrize("fidelity", ["flow", "analytical"])
def test_runtime_link_bytes_and_energy_equal_with_replayed_sends(fidelity):
    from sim.runtime.engine import Runtime
    from workloads.generator import generate

    trace = generate("gpt3-175b", gpus=128, tp=8, pp=16, global_batch=2, micro_batch=1)
    topo = build_topology("dgx-h100-superpod", gpus=128, policy="cpo")
    out = {}
    for ff in (True, False):
        env, fab = _fabric(topo, fidelity, fast=ff)
        rt = Runtime(env, fab, trace)
        rt.run()
        out[ff] = (fab.link_bytes, fab.bytes_delivered, fab.energy_j(), rt)
    np.testing.assert_allclose(out[True][0], out[False][0], rtol=REL)
    assert out[True][1] == pytest.approx(out[False][1], rel=REL)
    assert out[True][2] == pytest.approx(out[False][2], rel=REL)
    if fidelity == "analytical":
        assert out[True][3].fastpath.p2p_replayed > 0


def test_iteration_with_failed_spine_links_equal_grouped_and_per_rank():
    # links failing mid-iteration break the fabric's symmetry: the grouped, fast-forwarded run
    # must still give what one control loop per rank gives
    from sim.runtime.engine import Runtime
    from workloads.generator import generate

    trace = generate("gpt3-175b", gpus=128, tp=8, pp=4, global_batch=4, micro_batch=1)
    topo = build_topology("leaf-spine", gpus=128, su_gpus=32, oversubscription=4, radix=64,
                          policy="copper-first")
    spine = np.flatnonzero(topo.tier[:] == "spine")
    down = spine[: spine.size // 2 + 3]

    def run(rank_classes, ff, fail=True):
        speed = SpeedOptions(rank_classes=rank_classes) if ff else SpeedOptions.plain()
        env, fab = _fabric(topo, speed=speed, cls=FaultableFlowFabric)
        if fail:
            fab.fail_links_at(0.3, down)
            fab.restore_links_at(1.05, down)
        rt = Runtime(env, fab, trace)
        rt.run()
        end = max(float(np.nanmax(st.end)) for st in rt.states if len(st.cls.ops))
        return end, fab

    t_g, f_g = run(True, True)
    t_p, f_p = run(False, True)
    assert t_g == pytest.approx(t_p, rel=REL)
    assert f_g.bytes_delivered == pytest.approx(f_p.bytes_delivered, rel=REL)
    np.testing.assert_allclose(f_g.link_bytes, f_p.link_bytes, rtol=REL)
    assert f_g.energy_j() == pytest.approx(f_p.energy_j(), rel=REL)
    assert f_g.stats["reroutes"] > 0
    assert t_g > 1.1 * run(True, True, fail=False)[0]      # the failure did cost time


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_incremental_resolve_after_completions_equals_full_solves(seed):
    """Flows of random sizes started at random instants on an oversubscribed leaf-spine:
    re-solving only the rows at least as fast as the completed ones gives every flow's
    completion time and the link bytes of solving the whole component afresh."""
    rng = np.random.default_rng(seed)
    topo = build_topology("leaf-spine", gpus=64, policy="copper-first")
    out = []
    for incremental in (True, False):
        env, fab = _fabric(topo, speed=SpeedOptions.plain(incremental=incremental))
        finish = {}

        def batch(k, t0, src, dst, size):
            yield env.timeout(t0)
            ev = fab.start_flows(src, dst, size)
            finish[k] = yield ev

        r = np.random.default_rng(seed)
        for k in range(12):
            n = int(r.integers(5, 60))
            src = r.integers(0, 64, n)
            dst = (src + r.integers(1, 64, n)) % 64
            env.process(batch(k, float(r.uniform(0, 2e-3)), src, dst,
                              r.choice([2.0**20, 3 * 2.0**20, 2.0**23], n)))
        env.run()
        out.append((finish, fab.link_bytes.copy(), dict(fab.stats)))
    (fa, la, sa), (fb, lb, sb) = out
    for k in fb:
        np.testing.assert_allclose(fa[k], fb[k], rtol=REL)
    np.testing.assert_allclose(la, lb, rtol=REL, atol=1e-6)
    assert sa.get("incremental_solves", 0) > 0 and "incremental_solves" not in sb
    assert sa["rows_solved"] < sb["rows_solved"]


def test_moe_iteration_equal_with_and_without_the_incremental_resolve():
    """An all-to-all heavy iteration (DeepSeek-style EP over nodes, overlapping pipeline
    stages): the same iteration, bytes and energy with every speed-up and on the plain path."""
    from sim.runtime.result import simulate
    from workloads.generator import generate

    trace = generate("deepseek-v3", gpus=256, tp=1, pp=8, ep=32, global_batch=64)
    topo = build_topology("dgx-h100-superpod", gpus=256, policy="copper-first")
    fast = simulate(trace, topo, fidelity="flow")
    plain = simulate(trace, topo, fidelity="flow", speed=SpeedOptions.plain(rank_classes=True))
    assert fast.iteration_s == pytest.approx(plain.iteration_s, rel=REL)
    for k in ("compute_s", "exposed_comm_s", "bubble_s"):
        assert fast.summary[k] == pytest.approx(plain.summary[k], rel=REL, abs=1e-12), k
    assert fast.fabric.bytes_delivered == pytest.approx(plain.fabric.bytes_delivered, rel=REL)
    np.testing.assert_allclose(fast.fabric.link_bytes, plain.fabric.link_bytes, rtol=REL,
                               atol=1e-3)
    assert fast.fabric_stats.get("incremental_solves", 0) > 0
    assert fast.fabric_stats["solo_replays"] > 0 and plain.fabric_stats["solo_replays"] == 0


def _alltoall(n, gpus, rng):
    """A random-size all-to-all among ``n`` of ``gpus`` GPUs (every ordered pair once)."""
    members = rng.choice(gpus, n, replace=False)
    src, dst = np.meshgrid(members, members, indexing="ij")
    off = src != dst
    return src[off], dst[off], np.full(off.sum(), 3.0 * 2**20)


@pytest.mark.parametrize("break_at", [None, 0.0, 0.05, 0.3, 0.7])
def test_solo_replay_equals_simulating_in_place(break_at):
    """A batch repeated on quiet links is replayed from its solo run; other traffic arriving
    mid-replay (or at its start) turns it back into ordinary rows with the bytes it has left:
    every flow's completion time and every link's bytes equal simulating it in place."""
    rng = np.random.default_rng(7)
    topo = build_topology("leaf-spine", gpus=64, policy="copper-first")
    src, dst, size = _alltoall(12, 64, rng)
    o_src = rng.integers(0, 64, 40)
    o_dst = (o_src + rng.integers(1, 64, 40)) % 64
    out = []
    for fast in (True, False):
        env, fab = _fabric(topo, fast=fast)
        finish = []

        def job():
            for _ in range(3):
                finish.append((yield fab.start_flows(src, dst, size)))
        env.process(job())
        if break_at is not None:
            # the solo duration, measured on a private fabric: the interruption lands at that
            # fraction of the third (replayed) run
            e2, f2 = _fabric(topo, fast=False)
            ev = f2.start_flows(src, dst, size)
            e2.run()
            one = float(ev.value.max())

            def other():
                yield env.timeout(2 * one + break_at * one)
                finish.append((yield fab.start_flows(o_src, o_dst, np.full(40, 2.0**22))))
            env.process(other())
        env.run()
        out.append((finish, fab.link_bytes.copy(), fab.bytes_delivered, dict(fab.stats)))
    (fa, la, da, sa), (fb, lb, db, sb) = out
    assert len(fa) == len(fb)
    for a, b in zip(fa, fb):
        np.testing.assert_allclose(a, b, rtol=REL)
    np.testing.assert_allclose(la, lb, rtol=REL, atol=1e-6)
    assert da == pytest.approx(db, rel=REL)
    assert sa["solo_replays"] >= 1 and sb["solo_replays"] == 0
    if break_at:                   # (at 0.0 the other batch may start first: no replay)
        assert sa["solo_breaks"] == 1


def test_no_runtime_replay_on_a_fabric_whose_links_fail():
    """Regression: the runtime's replay timed isolated collectives once on an intact scratch
    fabric, so NVLink links failing mid-iteration were ignored (0.28 s instead of 10.28 s
    here). A fabric built for failures says its capacities may change; nothing is replayed."""
    from sim.runtime.engine import Runtime
    from workloads.generator import generate

    trace = generate("llama3-8b", gpus=16, tp=8, pp=1, global_batch=4, micro_batch=1)
    topo = build_topology("dgx-h100-superpod", gpus=16, policy="copper-first")
    up = np.flatnonzero(topo.tier[:] == "scaleup")
    out = {}
    for fast in (True, False):
        env, fab = _fabric(topo, fast=fast, cls=FaultableFlowFabric)
        fab.fail_links_at(0.0, up[: up.size // 3])
        fab.restore_links_at(10.0, up[: up.size // 3])
        rt = Runtime(env, fab, trace)
        rt.run()
        assert rt.fastpath is None
        out[fast] = max(float(np.nanmax(st.end)) for st in rt.states if len(st.cls.ops))
    assert out[True] == pytest.approx(out[False], rel=REL)
    assert out[True] > 10.0                      # the outage holds the TP collectives back
