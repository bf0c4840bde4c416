"""The fast-forward of isolated collectives never changes a result (the speed-up rule,
README "Performance")."""

import numpy as np
import pytest
import simpy

from sim.fabric import SpeedOptions, build_topology, make_fabric, single_switch
from sim.runtime import simulate
from sim.runtime.engine import Runtime
from sim.runtime.fastpath import _ordered_on_group
from workloads.generator import generate
from workloads.trace import Op


def _compare(trace, topo, fidelity):
    fast = simulate(trace, topo, fidelity=fidelity, speed=SpeedOptions())
    plain = simulate(trace, topo, fidelity=fidelity, speed=SpeedOptions.plain(rank_classes=True))
    assert fast.iteration_s == pytest.approx(plain.iteration_s, rel=1e-9)
    for k, v in plain.summary.items():
        if isinstance(v, float):
            assert fast.summary[k] == pytest.approx(v, rel=1e-9, abs=1e-15), k
    a = fast.ops.sort_values(["class", "op_id"])["end_s"].to_numpy()
    b = plain.ops.sort_values(["class", "op_id"])["end_s"].to_numpy()
    np.testing.assert_allclose(a, b, rtol=1e-9)
    return fast, plain


@pytest.mark.parametrize("fidelity", ["flow", "analytical"])
def test_generated_tp_dp_iteration_equal_with_and_without_fast_forward(fidelity):
    trace = generate("llama3-8b", gpus=32, tp=8, pp=1, global_batch=8, micro_batch=1)
    topo = build_topology("dgx-h100-superpod", gpus=32, policy="copper-first")
    fast, _ = _compare(trace, topo, fidelity)
    assert fast.summary["collectives_replayed"] > 0  # the test exercises the fast path


def test_link_bytes_and_energy_booked_for_replayed_collectives():
    trace = generate("llama3-8b", gpus=16, tp=8, pp=1, global_batch=4, micro_batch=1)
    topo = build_topology("dgx-h100-superpod", gpus=16, policy="cpo")
    out = {}
    for ff in (True, False):
        env = simpy.Environment()
        fab = make_fabric(env, topo, fidelity="flow")
        speed = SpeedOptions() if ff else SpeedOptions(replay=False, periodic=False)
        rt = Runtime(env, fab, trace, speed=speed)
        rt.run()
        out[ff] = (fab.link_bytes, fab.bytes_delivered, fab.energy_j())
    np.testing.assert_allclose(out[True][0], out[False][0], rtol=1e-12)
    assert out[True][1] == pytest.approx(out[False][1], rel=1e-12)
    assert out[True][2] == pytest.approx(out[False][2], rel=1e-12)


def test_shared_links_are_not_fast_forwarded():
    # two groups whose communicators share the switch uplinks: all-reduce on "a" and on "b"
    # concurrently -> contention, so neither may be replayed from an isolated timing.
    from workloads.trace import Group, Program, Trace

    ops = [Op(0, "collective", "ar_a", (), collective="allreduce", group="a", size_bytes=2**22),
           Op(1, "collective", "ar_b", (), collective="allreduce", group="b", size_bytes=2**22)]
    groups = {"a": Group("a", [[0, 1, 2, 3]]), "b": Group("b", [[0, 2], [1, 3]])}
    trace = Trace(4, [Program(np.arange(4), ops)], groups).validate()
    topo = single_switch(4, link_bandwidth_bps=400e9, link_latency_s=1e-6)
    fast, plain = _compare(trace, topo, "flow")
    assert fast.summary["collectives_replayed"] == 0


def test_chain_detection():
    c = lambda i, deps: Op(i, "collective", f"c{i}", deps, collective="allreduce",  # noqa: E731
                           group="g", size_bytes=1.0)
    chain = [c(0, ()), Op(1, "compute", "x", (0,), duration_s=1.0), c(2, (1,)), c(3, (2,))]
    assert _ordered_on_group(chain, "g")
    fork = [c(0, ()), c(1, ())]
    assert not _ordered_on_group(fork, "g")
    assert _ordered_on_group(fork, "other")


@pytest.mark.parametrize("fast", [True, False])
def test_analytical_books_the_bytes_flow_carries(fast):
    """No flows run under ``analytical``, yet every collective's and send's bytes land on the
    links their routes cross: the same per-link bytes as ``flow`` (the routes are shared),
    so energy and utilisation reports do not depend on the fidelity's timing model."""
    trace = generate("gpt3-175b", gpus=64, tp=8, pp=4, global_batch=4, micro_batch=1)
    topo = build_topology("dgx-h100-superpod", gpus=64, policy="copper-first")
    speed = SpeedOptions() if fast else SpeedOptions.plain(rank_classes=True)
    ana = simulate(trace, topo, fidelity="analytical", speed=speed).fabric
    flow = simulate(trace, topo, fidelity="flow").fabric
    assert flow.bytes_delivered > 0
    assert ana.bytes_delivered == pytest.approx(flow.bytes_delivered, rel=1e-12)
    np.testing.assert_allclose(ana.link_bytes, flow.link_bytes, rtol=1e-9, atol=1e-3)
    assert ana.energy_j() == pytest.approx(flow.energy_j(), rel=1e-9)


def test_no_replay_where_the_fabric_does_not_promise_it():
    """The runtime asks the fabric: the packet model and a fabric whose capacities may change
    (failures) get no fast path; the replay switch turns it off everywhere."""
    trace = generate("llama3-8b", gpus=16, tp=8, pp=1, global_batch=2, micro_batch=1)
    topo = build_topology("dgx-h100-superpod", gpus=16, policy="copper-first")
    for kw, replays in (({"fidelity": "flow"}, True), ({"fidelity": "packet"}, False),
                        ({"fidelity": "flow", "failures": True}, False),
                        ({"fidelity": "analytical", "speed": SpeedOptions(replay=False)},
                         False)):
        fab = make_fabric(simpy.Environment(), topo, **kw)
        assert (Runtime(fab.env, fab, trace).fastpath is not None) == replays, kw
