"""NCCL's PAT (Parallel Aggregated Trees) all-gather / reduce-scatter: the schedule computes
its collective with exactly the bytes the op needs, in ceil(log2 n) steps; closed form ==
the schedule's alpha-beta time == flow fidelity on a non-blocking switch; reachable by name
from the CLI; never chosen by auto."""

import json
import math

import numpy as np
import pytest
import simpy

from sim.cli import main
from sim.comm import (Communicator, build_schedule, check_schedule, closed_form,
                      normalise_algorithm, run_collective, schedule_time)
from sim.comm.algorithms import registry
from sim.comm.run import _auto_flat, choose_algorithm
from sim.errors import CposimError
from sim.fabric import make_fabric, single_switch

OPS = ("allgather", "reducescatter")
A, B = 1.3e-6, 25e9
SIZES = list(range(2, 34)) + [48, 64, 100, 128]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("n", SIZES)
def test_schedule_computes_the_collective_moving_exactly_its_bytes(op, n):
    S = 3.0e6
    s = build_schedule(op, "pat", n, S)
    if n <= 64:                       # the checker holds ranks^2 x pieces counters
        assert check_schedule(s) == []
    # every rank sends and receives (n-1)/n of the buffer: no block twice, none missing
    np.testing.assert_allclose(s.sent_bytes(), (n - 1) / n * S, rtol=1e-12)
    np.testing.assert_allclose(s.recv_bytes(), (n - 1) / n * S, rtol=1e-12)
    assert s.n_steps == math.ceil(math.log2(n))


@pytest.mark.parametrize("n", [2, 5, 8, 12, 16, 31])
def test_steps_are_distances_two_to_the_d_farthest_first_for_allgather(n):
    k = math.ceil(math.log2(n))
    for op, sign, dists in (("allgather", -1, [2 ** d for d in reversed(range(k))]),
                            ("reducescatter", +1, [2 ** d for d in range(k)])):
        s = build_schedule(op, "pat", n, float(n))     # one byte per block
        sent = []
        for step, dist in enumerate(dists):
            m = s.step == step
            # one peer per rank per step, at the step's distance (NCCL: ranks +/- 2^d)
            np.testing.assert_array_equal(s.dst[m], (s.src[m] + sign * dist) % n)
            per_rank = np.bincount(s.src[m], weights=s.flow_bytes[m], minlength=n).round(9)
            assert (per_rank == per_rank[0]).all()
            assert per_rank[0] == math.ceil((n - dist) / (2 * dist))   # c_d blocks
            sent.append(int(per_rank[0]))
        assert sum(sent) == n - 1
        if op == "allgather":
            assert sent[0] == 1 and sent == sorted(sent)     # long hops carry the least


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("n", [2, 3, 4, 5, 7, 8, 12, 16, 17, 33, 64, 100])
@pytest.mark.parametrize("chunks", [1, 3, 8])
def test_closed_form_is_the_schedules_alpha_beta_time(op, n, chunks):
    S = 7.7e6
    k = math.ceil(math.log2(n))
    want = (k + chunks - 1) * A + (n - 1) / n * S / B        # written out, not from the code
    got = closed_form(op, "pat", n, S, A, B, chunks=chunks)
    assert got == pytest.approx(want, rel=1e-12)
    s = build_schedule(op, "pat", n, S)
    assert schedule_time(s, chunks, A, B) == pytest.approx(got, rel=1e-12)


LINK_BW, LAT = 50e9, 500e-9


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("n,size,chunks", [(2, 2**20, 1), (3, 1e6, 1), (5, 3e7, 1),
                                           (8, 2**24, 4), (12, 1e6, 3), (16, 2**20, 1),
                                           (33, 5e6, 2)])
@pytest.mark.parametrize("fidelity", ["flow", "analytical"])
def test_flow_on_a_non_blocking_switch_equals_the_closed_form(op, n, size, chunks, fidelity):
    env = simpy.Environment()
    fab = make_fabric(env, single_switch(n, link_bandwidth_bps=8 * LINK_BW, link_latency_s=LAT),
                      fidelity=fidelity)
    ev = run_collective(env, fab, Communicator("w", np.arange(n), np.arange(n)), op, size,
                        algorithm="pat", chunks=chunks)
    env.run()
    r = ev.value
    assert r.algorithm == "pat"
    assert r.time_s == pytest.approx(closed_form(op, "pat", n, size, 2 * LAT, LINK_BW,
                                                 chunks=chunks), rel=1e-9)
    assert r.bytes_on_wire == pytest.approx(n * (n - 1) / n * size, rel=1e-12)


def test_declared_ops_and_constraints():
    pat = registry.get("pat")
    assert pat.ops == OPS and pat.constraints == ()        # any group size
    assert all(pat.allows(op, n) for op in OPS for n in (1, 3, 6, 1000))
    assert normalise_algorithm("PAT") == normalise_algorithm("parallel_aggregated_trees") == "pat"
    for op in ("allreduce", "alltoall", "broadcast", "reduce"):
        with pytest.raises(CposimError, match="does not implement"):
            build_schedule(op, "pat", 8, 1.0)
        with pytest.raises(CposimError, match="does not implement"):
            closed_form(op, "pat", 8, 1.0, A, B)
    assert closed_form("allgather", "pat", 1, 1e9, A, B) == 0.0


def test_auto_never_picks_pat():
    # NCCL's rule (1 rank per node, its tuned cost model) is not reproduced: auto keeps ring
    dom = np.arange(64) // 8
    one_per_domain = Communicator("dp", np.arange(8), np.arange(0, 64, 8))
    for op in OPS:
        assert _auto_flat(op) == "ring"
        assert choose_algorithm(op, one_per_domain, dom) == "ring"
    assert "pat" not in {registry.auto_choice(op, s) for op in OPS for s in registry.SITUATIONS}


def test_composes_as_the_inter_domain_phase_of_hierarchical():
    D, L, S = 6, 4, 3e6
    layout = np.arange(D * L).reshape(D, L)
    for op in OPS:
        s = build_schedule(op, "hierarchical", D * L, S, layout=layout, intra="ring",
                           inter="pat")
        assert check_schedule(s) == []
        cf = closed_form(op, "hierarchical", D * L, S, A, B, local_size=L, alpha_inter_s=4 * A,
                         bandwidth_inter_Bps=B / 5, intra="ring", inter="pat")
        assert schedule_time(s, 1, (A, 4 * A), (B, B / 5)) == pytest.approx(cf, rel=1e-12)


def test_cli_runs_pat_by_name(capsys):
    assert main(["collective", "--op", "allgather", "--algo", "pat", "--gpus", "12", "--size",
                 "1MiB", "--link-bandwidth", "50GB/s", "--link-latency", "500ns",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["algorithm"] == "pat" and out["steps"] == 4
    want = (4 * 2 * 500e-9) + 11 / 12 * 2**20 / 50e9
    assert out["time_s"] == pytest.approx(want, rel=1e-9)
    assert out["closed_form_time_s"] == pytest.approx(want, rel=1e-12)
    assert main(["collective", "--op", "allreduce", "--algo", "pat", "--size", "1MiB"]) == 2
    err = capsys.readouterr().err
    assert "algorithm" in err and "does not implement allreduce" in err


def test_cli_help_lists_pat(capsys):
    with pytest.raises(SystemExit):
        main(["collective", "--help"])
    assert "pat" in capsys.readouterr().out
