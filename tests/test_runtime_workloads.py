"""Through the runtime: the peer traces (tests/data/peer-workloads) and a generated GPT-3
iteration."""

from pathlib import Path

import pytest

from sim.comm import closed_form
from sim.fabric import build_topology, single_switch
from sim.runtime import simulate
from workloads.generator import generate

PEER = Path(__file__).parent / "data" / "peer-workloads"  # copies with origins: README.md there


@pytest.mark.parametrize("fidelity", ["flow", "analytical"])
@pytest.mark.parametrize("algo", ["ring", "halving-doubling"])
def test_astra_micro_allreduce_is_compute_plus_allreduce(fidelity, algo):
    path = PEER / "astra-sim-1.0" / "microAllReduce.txt"
    from workloads.io import read_trace

    trace = read_trace(path, world_size=8)
    bw_Bps, lat = 50e9, 500e-9  # noqa: N806
    topo = single_switch(8, link_bandwidth_bps=8 * bw_Bps, link_latency_s=lat)
    res = simulate(trace, topo, fidelity=fidelity, algorithm=algo)
    compute = sum(op.duration_s for op in trace.programs[0].ops if op.kind == "compute")
    assert compute == pytest.approx(15e-9)  # three phases of 5 cycles at 1 GHz
    ar = closed_form("allreduce", algo, 8, 1048576.0, 2 * lat, bw_Bps)
    assert res.iteration_s == pytest.approx(compute + ar, rel=1e-9)
    assert res.summary["exposed_world_s"] == pytest.approx(ar, rel=1e-9)


def test_every_peer_trace_runs_on_a_switch():
    from workloads.io import read_trace

    for path in sorted(PEER.glob("*/*.txt")):
        trace = read_trace(path)
        topo = single_switch(trace.world_size, link_bandwidth_bps=400e9, link_latency_s=1e-6)
        res = simulate(trace, topo, fidelity="analytical")
        compute = res.summary["compute_s"]
        assert res.iteration_s >= compute > 0, path.name


def test_gpt3_175b_tp8_pp8_dp16_on_a_rail_optimized_fabric():
    trace = generate("gpt3-175b", gpus=1024, tp=8, pp=8, global_batch=32, micro_batch=1)
    topo = build_topology("dgx-h100-superpod", gpus=1024, policy="copper-first")
    res = simulate(trace, topo, fidelity="flow")
    meta = trace.metadata
    gpu = meta["gpu"]
    six_pt = 6 * meta["params"] * meta["tokens_per_iteration"] / (
        1024 * gpu["peak_flops"] * gpu["fraction"])
    assert res.summary["compute_s"] == pytest.approx(six_pt, rel=0.05)
    for g in ("tp", "dp", "pp"):
        assert f"exposed_{g}_s" in res.summary
    assert res.summary["exposed_dp_s"] > 0  # the gradient reduce-scatter/all-gather shows
    s = res.summary
    assert s["compute_s"] + s["exposed_comm_s"] + s["bubble_s"] == pytest.approx(
        res.iteration_s, rel=1e-9)
