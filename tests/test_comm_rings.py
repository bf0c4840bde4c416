"""NCCL's multi-channel rings (``rings``): one ring per NIC of a node, rail-aligned; the
single ring where a group has one rank per node; closed form == the schedule's alpha-beta
time == flow fidelity on a DGX H100 SuperPOD; never chosen by auto."""

import numpy as np
import pytest
import simpy

from sim.cli import main
from sim.comm import (Communicator, build_schedule, check_schedule, closed_form,
                      normalise_algorithm, run_collective, schedule_time)
from sim.comm.algorithms import registry
from sim.comm.algorithms.rings import ring_orders
from sim.comm.ops import busbw_factor
from sim.comm.run import _auto_flat, choose_algorithm
from sim.errors import CposimError
from sim.fabric import build_topology, make_fabric
from sim.fabric.speed import SpeedOptions

OPS = ("allreduce", "allgather", "reducescatter")
POD = "dgx-h100-superpod"


def _run(gpus, endpoints, op, size, algorithm, *, chunks=1, speed=None, fidelity="flow"):
    env = simpy.Environment()
    fab = make_fabric(env, build_topology(POD, gpus=gpus), fidelity=fidelity, speed=speed)
    eps = np.asarray(endpoints)
    ev = run_collective(env, fab, Communicator("c", np.arange(eps.size), eps), op, size,
                        algorithm=algorithm, chunks=chunks, speed=speed)
    env.run()
    return fab, ev.value


# --- the schedule -------------------------------------------------------------------------
@pytest.mark.parametrize("D,L", [(2, 8), (4, 8), (3, 4), (3, 2), (2, 2), (5, 3)])
def test_channels_are_rail_aligned_rings_using_every_nic_once(D, L):
    layout = np.arange(D * L).reshape(D, L)
    orders = ring_orders(layout)
    assert orders.shape == (L, D * L)
    dom, loc = np.divmod(orders, L)
    for k in range(L):
        assert sorted(orders[k]) == list(range(D * L))          # a ring over all members
        assert (dom[k] == np.repeat(np.arange(D), L)).all()     # domain after domain
    exits = loc[:, L - 1::L]                                    # (channel, domain)
    entries = loc[:, 0::L]
    for d in range(D):                  # every rank of a domain leaves / enters it once
        assert sorted(exits[:, d]) == list(range(L)) == sorted(entries[:, d])
    # rail k -> rail k: the exit rank's local index is the next domain's entry's
    aligned = exits == np.roll(entries, -1, axis=1)
    if D % 2 and L == 2:
        assert aligned[:, :-1].all()    # the closing hop alone changes rail
    else:
        assert aligned.all()


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("D,L", [(2, 8), (3, 4), (2, 2), (3, 2), (4, 4)])
def test_schedule_computes_the_collective_moving_exactly_its_bytes(op, D, L):
    n, S = D * L, 3.0e6
    s = build_schedule(op, "rings", n, S, layout=np.arange(n).reshape(D, L))
    assert s.algorithm == "rings" and check_schedule(s) == []
    k = 2 * (n - 1) if op == "allreduce" else n - 1
    assert s.n_steps == k
    # the nccl-tests convention (sim/comm/ops.py): 2(n-1)/n S per rank for all-reduce
    np.testing.assert_allclose(s.sent_bytes(), k / n * S, rtol=1e-12)
    np.testing.assert_allclose(s.recv_bytes(), k / n * S, rtol=1e-12)
    assert k / n == pytest.approx(busbw_factor(op, n))
    # every step: one S/(nC) transfer per rank to the next domain, C-1 inside its domain
    for step in (0, k - 1):
        m = s.step == step
        cross = s.level[m] == 1
        np.testing.assert_allclose(np.bincount(s.src[m][cross], s.flow_bytes[m][cross], n),
                                   S / (n * L), rtol=1e-12)
        np.testing.assert_allclose(np.bincount(s.src[m][~cross], s.flow_bytes[m][~cross], n),
                                   (L - 1) * S / (n * L), rtol=1e-12)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("n", [2, 3, 5, 8, 13])
def test_without_a_layout_it_is_the_ring(op, n):
    a, b = build_schedule(op, "rings", n, 1e6), build_schedule(op, "ring", n, 1e6)
    assert a.algorithm == "rings"
    for f in ("step", "src", "dst", "flow_bytes", "lo", "hi", "reduce", "level"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    for chunks in (1, 4):
        assert closed_form(op, "rings", n, 1e6, 1e-6, 5e10, chunks=chunks) == \
            closed_form(op, "ring", n, 1e6, 1e-6, 5e10, chunks=chunks)


# --- the closed form ----------------------------------------------------------------------
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("D,L", [(2, 8), (4, 8), (3, 4), (2, 2)])
@pytest.mark.parametrize("chunks", [1, 3])
@pytest.mark.parametrize("alphas,bws", [((1e-6, 3e-6), (450e9, 50e9)),     # NIC-bound
                                        ((2e-6, 1e-6), (40e9, 50e9))])     # scale-up-bound
def test_closed_form_is_the_schedules_alpha_beta_time(op, D, L, chunks, alphas, bws):
    n, S = D * L, 7.7e6
    got = closed_form(op, "rings", n, S, alphas[0], bws[0], chunks=chunks, local_size=L,
                      alpha_inter_s=alphas[1], bandwidth_inter_Bps=bws[1])
    s = build_schedule(op, "rings", n, S, layout=np.arange(n).reshape(D, L))
    assert schedule_time(s, chunks, alphas, bws) == pytest.approx(got, rel=1e-12)
    if chunks == 1:                     # written out, not from the code
        k = 2 * (n - 1) if op == "allreduce" else n - 1
        unit = S / (n * L)
        want = k * max(alphas[0] + (L - 1) * unit / bws[0], alphas[1] + unit / bws[1])
        assert got == pytest.approx(want, rel=1e-12)


# --- on a DGX H100 SuperPOD ---------------------------------------------------------------
@pytest.mark.parametrize("gpus", [16, 32])
def test_superpod_busbw_is_every_nic_of_a_node(gpus):
    S, L = float(2**30), 8
    fab, r = _run(gpus, np.arange(gpus), "allreduce", S, "rings")
    _, single = _run(gpus, np.arange(gpus), "allreduce", S, "ring")
    # alpha and B per class of pair, as the closed-form fabric takes them (sim.comm.cost)
    s = build_schedule("allreduce", "rings", gpus, S, layout=np.arange(gpus).reshape(-1, L))
    lat, bn = fab.route_info(s.src, s.dst)
    per = [(lat[s.level == lv].max(), bn[s.level == lv].min() / 8) for lv in (0, 1)]
    want = closed_form("allreduce", "rings", gpus, S, per[0][0], per[0][1], local_size=L,
                       alpha_inter_s=per[1][0], bandwidth_inter_Bps=per[1][1])
    assert r.algorithm == "rings"
    assert r.time_s == pytest.approx(want, rel=1e-6)
    nic, scaleup = per[1][1], per[0][1]
    limit = min(L * nic, scaleup * L / (L - 1))
    factor = 2 * (gpus - 1) / gpus * S / r.time_s / r.busbw_Bps
    assert factor == pytest.approx(1.0)                       # busbw as nccl-tests defines it
    assert 0.97 * limit < r.busbw_Bps <= limit
    assert r.busbw_Bps >= 6 * single.busbw_Bps
    assert r.bytes_on_wire == pytest.approx(gpus * 2 * (gpus - 1) / gpus * S, rel=1e-12)
    np.testing.assert_allclose(r.per_rank_sent_bytes, 2 * (gpus - 1) / gpus * S, rtol=1e-12)


@pytest.mark.parametrize("op", OPS)
def test_one_gpu_per_node_gives_the_rings_time_and_bytes(op):
    eps = np.array([0, 9, 18, 27])                  # one GPU in each of 4 nodes
    _, a = _run(32, eps, op, 2**26, "rings")
    _, b = _run(32, eps, op, 2**26, "ring")
    assert a.algorithm == "rings"
    assert a.time_s == b.time_s and a.bytes_on_wire == b.bytes_on_wire
    assert a.link_bytes == b.link_bytes and a.energy_j == b.energy_j


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("eps", [np.array([0, 9, 18, 27]), np.arange(16)])
def test_periodic_path_equals_the_full_schedule(op, eps):
    fast = _run(32, eps, op, 2**26, "rings", chunks=2)[1]
    plain = _run(32, eps, op, 2**26, "rings", chunks=2, speed=SpeedOptions.plain())[1]
    assert fast.time_s == pytest.approx(plain.time_s, rel=1e-9)
    assert fast.bytes_on_wire == pytest.approx(plain.bytes_on_wire, rel=1e-12)
    assert fast.link_bytes == pytest.approx(plain.link_bytes, rel=1e-12)


def test_analytical_fidelity_is_the_closed_form():
    fab, flow = _run(16, np.arange(16), "allgather", 2**28, "rings")
    _, ana = _run(16, np.arange(16), "allgather", 2**28, "rings", fidelity="analytical")
    assert ana.time_s == pytest.approx(flow.time_s, rel=1e-6)


# --- the registry -------------------------------------------------------------------------
def test_registered_with_its_ops_and_never_chosen_by_auto():
    rings = registry.get("rings")
    assert rings.ops == OPS and rings.layout_aware and not rings.composite
    assert rings.auto == {}
    assert normalise_algorithm("RINGS") == normalise_algorithm("multi_ring") == "rings"
    for op in OPS:
        assert "rings" in registry.for_op(op)
        assert _auto_flat(op) != "rings"
        for situation in registry.SITUATIONS:
            assert registry.auto_choice(op, situation) != "rings"
    comm = Communicator("dp", np.arange(16), np.arange(16))
    dom = np.repeat(np.arange(2), 8)
    assert all(choose_algorithm(op, comm, dom) == "hierarchical" for op in OPS)
    for op in ("alltoall", "broadcast", "reduce"):
        with pytest.raises(CposimError, match="does not implement"):
            build_schedule(op, "rings", 16, 1e6)


def test_reachable_from_the_cli(capsys):
    assert main(["collective", "--op", "allreduce", "--algo", "rings", "--gpus", "16",
                 "--size", "64MiB", "--topology", POD]) == 0
    assert "algorithm        rings" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["collective", "--help"])
    assert "rings" in capsys.readouterr().out
