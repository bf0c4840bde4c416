"""Stragglers: compute scaled on the listed ranks only, exact waits, and the speed-ups (README,
"Performance") falling back where a straggler breaks the symmetry (results equal to the plain
path)."""

import math

import numpy as np
import pytest

from sim.errors import CposimError
from sim.fabric import SpeedOptions, build_topology, single_switch
from sim.runtime import simulate
from workloads import Op, Program, Trace
from workloads.stragglers import scaled_compute, with_stragglers

REL = 1e-9


def _two_rank_trace(compute_s=1e-3, size=2.0 ** 20):
    ops = [Op(0, "compute", duration_s=compute_s),
           Op(1, "collective", deps=(0,), collective="allreduce", group="world",
              size_bytes=size)]
    return Trace(4, [Program(np.arange(4), ops, "all")]).validate()


def test_compute_scaled_comm_untouched():
    d = Op(0, "compute", duration_s=2e-3)
    r = Op(1, "compute", flops=3e12, mem_bytes=5e9)
    c = Op(2, "collective", collective="allreduce", group="world", size_bytes=8.0)
    assert scaled_compute(d, 1.5).duration_s == pytest.approx(3e-3)
    assert (scaled_compute(r, 2.0).flops, scaled_compute(r, 2.0).mem_bytes) == (6e12, 1e10)
    assert scaled_compute(c, 3.0) is c
    assert scaled_compute(d, 1.0) is d


def test_straggler_gets_its_own_program_and_others_keep_theirs():
    t = _two_rank_trace()
    s = with_stragglers(t, {2: 2.0, "3": 2.0})
    assert [p.ranks.tolist() for p in s.programs] == [[0, 1], [2, 3]]
    assert s.programs[0].ops is t.programs[0].ops            # untouched ranks share the ops
    assert s.programs[1].ops[0].duration_s == pytest.approx(2e-3)
    assert s.metadata["stragglers"] == {2: 2.0, 3: 2.0}
    s.validate()
    # different factors: different programs; factor 1 is no straggler at all
    s2 = with_stragglers(t, {0: 1.5, 1: 3.0, 2: 1.0})
    assert sorted(p.ranks.tolist() for p in s2.programs) == [[0], [1], [2, 3]]
    assert with_stragglers(t, {1: 1.0}) is t


def test_collective_waits_for_the_straggler_exactly():
    # 4 ranks compute 1 ms then all-reduce; rank 3 at 3x finishes its compute 2 ms later,
    # and the all-reduce (same size, same idle fabric) starts and ends exactly 2 ms later
    topo = single_switch(4, link_bandwidth_bps=400e9, link_latency_s=1e-6)
    t = _two_rank_trace()
    for fid in ("analytical", "flow"):
        base = simulate(t, topo, fidelity=fid).iteration_s
        slow = simulate(with_stragglers(t, {3: 3.0}), topo, fidelity=fid).iteration_s
        assert slow - base == pytest.approx(2e-3, rel=1e-9), fid
        # a faster rank changes nothing: the others still hold the collective back
        fast = simulate(with_stragglers(t, {0: 0.5}), topo, fidelity=fid).iteration_s
        assert fast == pytest.approx(base, rel=1e-12), fid


def _per_rank(other_speed_ups: bool) -> SpeedOptions:
    """No rank classes; the other speed-ups on, or all off (the plain path)."""
    return (SpeedOptions(rank_classes=False) if other_speed_ups
            else SpeedOptions.plain())


@pytest.mark.parametrize("fidelity, plain_ff", [
    ("analytical", False), ("flow", True),
    pytest.param("flow", False, marks=pytest.mark.slow),   # 10 s: wave by wave, rank by rank
])
def test_speed_ups_fall_back_where_a_straggler_breaks_symmetry(fidelity, plain_ff):
    # GPT-3 TP8 x PP4 x DP4: one slow GPU in stage 0 of one replica holds back its TP group,
    # its pipeline, and the DP all-reduces of stage 0; grouped + fast-forward must give what
    # one control loop per rank on the plain path gives
    from workloads.generator import generate

    trace = generate("gpt3-175b", gpus=128, tp=8, pp=4, global_batch=8, micro_batch=1)
    topo = build_topology("dgx-h100-superpod", gpus=128, policy="copper-first")
    slow = with_stragglers(trace, {5: 1.25})
    assert len(slow.programs) == len(trace.programs) + 1
    fast = simulate(slow, topo, fidelity=fidelity)
    # one control loop per rank; on the flow fabric optionally every other speed-up off too
    plain = simulate(slow, topo, fidelity=fidelity, speed=_per_rank(plain_ff))
    assert fast.iteration_s == pytest.approx(plain.iteration_s, rel=REL)
    for k, v in plain.summary.items():
        if isinstance(v, float) and k not in ("wall_s",):
            assert fast.summary[k] == pytest.approx(v, rel=REL, abs=1e-15), k
    assert fast.fabric.bytes_delivered == pytest.approx(plain.fabric.bytes_delivered, rel=REL)
    np.testing.assert_allclose(fast.fabric.link_bytes, plain.fabric.link_bytes, rtol=REL)
    assert fast.fabric.energy_j() == pytest.approx(plain.fabric.energy_j(), rel=REL)
    # and the straggler costs time: the iteration is longer than without it
    assert fast.iteration_s > simulate(trace, topo, fidelity=fidelity).iteration_s * 1.001


@pytest.mark.parametrize("bad, match", [
    ({4: 2.0}, "not in 0..3"), ({-1: 2.0}, "not in 0..3"), ({"x": 2.0}, "integer"),
    ({1: 0.0}, "positive"), ({1: -2.0}, "positive"), ({1: math.nan}, "positive"),
    ({1: math.inf}, "positive"), ({1: True}, "positive"), ({1: "2"}, "positive"),
    ({1.5: 2.0}, "not in"), ({1: 2.0, "1": 3.0}, "twice"),
])
def test_bad_stragglers_named(bad, match):
    with pytest.raises(CposimError, match=match) as e:
        with_stragglers(_two_rank_trace(), bad, source="study.toml")
    assert "stragglers." in str(e.value) and "study.toml" in str(e.value)


def test_study_config_stragglers():
    from sim.study import StudyConfig, build_workload

    base = {"workload": {"model": "gpt3-175b", "gpus": 128, "tp": 8, "pp": 16,
                         "global_batch": 2, "micro_batch": 1}}
    cfg = StudyConfig.model_validate({**base, "stragglers": {"7": 1.5}})
    t = build_workload(cfg, "s.toml")
    assert t.metadata["stragglers"] == {7: 1.5}
    assert any(7 in p.ranks and len(p.ranks) == 1 for p in t.programs)
    with pytest.raises(CposimError, match=r"stragglers\.128"):
        build_workload(StudyConfig.model_validate({**base, "stragglers": {"128": 2.0}}), "s.toml")


def test_classes_split_only_around_the_straggler():
    from sim.runtime.classes import build_classes
    from workloads.generator import generate

    trace = generate("gpt3-175b", gpus=1024, tp=8, pp=8, global_batch=16, micro_batch=1)
    assert len(build_classes(trace, "grouped")) == len(trace.programs)       # nothing to split
    cls = build_classes(with_stragglers(trace, {5: 1.25}), "grouped")
    sizes = sorted(len(c.ranks) for c in cls)
    assert sum(sizes) == 1024 and len(np.unique(np.concatenate([c.ranks for c in cls]))) == 1024
    assert sizes[0] == 1 and len(cls) < 1024 // 8          # finer only near rank 5
    # the straggler's TP peers are one class, apart from the other stage-0 ranks
    tp = trace.groups["tp"].members
    row = tp[(tp == 5).any(axis=1)][0]
    owner = {int(r): i for i, c in enumerate(cls) for r in c.ranks.tolist()}
    peers = {owner[int(r)] for r in row if r != 5}
    assert len(peers) == 1 and owner[5] not in peers
    assert len(cls[peers.pop()].ranks) == 7


def test_example_straggler_study_loads():
    from pathlib import Path

    from sim.study import build_workload, load_study

    path = Path(__file__).parents[1] / "examples" / "straggler-study.toml"
    cfg = load_study(path)
    assert cfg.stragglers == {5: 1.3}
    assert build_workload(cfg, str(path)).metadata["stragglers"] == {5: 1.3}


# ---- delays --------------------------------------------------------------------------------
def test_start_delay_shifts_the_iteration_exactly():
    from workloads.stragglers import with_delays

    topo = single_switch(4, link_bandwidth_bps=400e9, link_latency_s=1e-6)
    t = _two_rank_trace()
    for fid in ("analytical", "flow"):
        base = simulate(t, topo, fidelity=fid).iteration_s
        late = with_delays(t, {2: 5e-4})
        assert [p.ranks.tolist() for p in late.programs] == [[0, 1, 3], [2]]
        assert simulate(late, topo, fidelity=fid).iteration_s == pytest.approx(
            base + 5e-4, rel=1e-9), fid
    assert with_delays(t, {2: 0.0}) is t


def test_delay_before_a_named_op():
    from workloads.stragglers import delayed, with_delays

    ops = [Op(0, "compute", name="a", duration_s=1e-3),
           Op(1, "collective", name="ar", deps=(0,), collective="allreduce", group="world",
              size_bytes=2.0 ** 20),
           Op(2, "compute", name="b", deps=(1,), duration_s=1e-3)]
    d = delayed(ops, 2e-4, before="ar")
    assert [(o.id, o.name, o.deps) for o in d] == [
        (0, "a", ()), (3, "delay before ar", (0,)), (1, "ar", (3,)), (2, "b", (1,))]
    t = Trace(4, [Program(np.arange(4), ops, "all")]).validate()
    topo = single_switch(4, link_bandwidth_bps=400e9, link_latency_s=1e-6)
    base = simulate(t, topo, fidelity="analytical").iteration_s
    late = with_delays(t, {0: 2e-4}, before="ar").validate()
    assert simulate(late, topo, fidelity="analytical").iteration_s == pytest.approx(
        base + 2e-4, rel=1e-9)
    with pytest.raises(CposimError, match="no op named 'nope'"):
        with_delays(t, {0: 1e-3}, before="nope")
    with pytest.raises(CposimError, match=r"delays\.1.*non-negative"):
        with_delays(t, {1: -1e-3})


@pytest.mark.parametrize("fidelity", ["analytical", "flow"])
def test_delayed_rank_grouped_equals_per_rank(fidelity):
    from workloads.generator import generate
    from workloads.stragglers import with_delays

    trace = generate("gpt3-175b", gpus=128, tp=8, pp=4, global_batch=8, micro_batch=1)
    topo = build_topology("dgx-h100-superpod", gpus=128, policy="copper-first")
    late = with_delays(trace, {5: 3e-3})     # stage 0: on the critical path (stage 1 hides it)
    fast = simulate(late, topo, fidelity=fidelity)
    plain = simulate(late, topo, fidelity=fidelity, speed=_per_rank(fidelity == "flow"))
    assert fast.iteration_s == pytest.approx(plain.iteration_s, rel=REL)
    np.testing.assert_allclose(fast.fabric.link_bytes, plain.fabric.link_bytes, rtol=REL)
    assert fast.iteration_s > simulate(trace, topo, fidelity=fidelity).iteration_s


def test_study_config_delays():
    from sim.study import StudyConfig, build_workload

    base = {"workload": {"model": "gpt3-175b", "gpus": 128, "tp": 8, "pp": 16,
                         "global_batch": 2, "micro_batch": 1}}
    t = build_workload(StudyConfig.model_validate({**base, "delays": {"3": 0.01}}), "s.toml")
    assert t.metadata["delays"] == {3: 0.01}
    with pytest.raises(CposimError, match="delay_before"):
        build_workload(StudyConfig.model_validate({**base, "delay_before": "x"}), "s.toml")


def test_send_to_a_rank_without_program_is_named():
    ops = [Op(0, "send", peer=3, size_bytes=1e6)]
    t = Trace(4, [Program(np.array([0, 1]), ops, "a"),
                  Program(np.array([2]), [Op(0, "compute", duration_s=1e-3)], "b")]).validate()
    topo = single_switch(4, link_bandwidth_bps=400e9, link_latency_s=1e-6)
    with pytest.raises(CposimError, match="runs no program"):
        simulate(t, topo, fidelity="analytical")
