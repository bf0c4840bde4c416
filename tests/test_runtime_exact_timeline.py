"""Exact per-op timelines: a hand-written 4-rank trace, every op's start and end pinned.

Like SimPy's own tests, these state the clock value of every event in advance, derived by
hand below from the alpha-beta model, and compare every op of ``simulate(...).ops``
(``start_s``: the op was posted / started; ``comm_start_s``: its transfer began, once every
party had posted; ``end_s``: it finished) in each fidelity, with the speed-ups on and off.

The fabric: ``single_switch`` with links of 8 Gb/s = B = 1e9 bytes/s (one byte per ns) and a
link latency of L = 1 us, no switch latency. A transfer between two GPUs crosses two links
(GPU -> switch -> GPU), so one step costs

    alpha = 2 L = 2 us,   and moving S bytes alone on the path takes  alpha + S / B.

All times below are in microseconds.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.fabric import single_switch
from sim.runtime import simulate
from workloads.trace import Group, Op, Program, Trace

US = 1e-6
B = 1e9           # bytes per second on every GPU-switch link
L = 1 * US        # latency of one link
ALPHA = 2 * L     # GPU -> switch -> GPU
REL = 1e-12


def _topology():
    return single_switch(4, link_bandwidth_bps=8 * B, link_latency_s=L)


def _speed(fast: bool) -> dict:
    """simulate() keywords for every speed-up on (``fast``) or the plain path."""
    try:
        from sim.fabric import SpeedOptions
    except ImportError:                         # before the one SpeedOptions object
        return {"fast_forward": fast}
    return {"speed": SpeedOptions() if fast else SpeedOptions.plain()}


def _one_program_per_rank(programs, groups=None) -> Trace:
    progs = [Program(np.array([r]), ops, f"rank{r}") for r, ops in enumerate(programs)]
    return Trace(len(progs), progs, groups or {}).validate()


# ------------------------------------------------------------------------ the main timeline
S_AR = 20_000     # all-reduce bytes (nccl-tests S)
S_P2P = 5_000     # send/recv bytes


def _trace() -> Trace:
    """rank 0: compute 10 us -> all-reduce with rank 1 -> compute 3 us
    rank 1: compute 15 us -> all-reduce with rank 0 -> {send 5 kB to rank 2, compute 4 us}
    rank 2: compute 5 us -> recv 5 kB from rank 1 -> compute 2 us
    rank 3: compute 8 us -> compute 6 us (talks to nobody)"""
    ar = dict(kind="collective", name="ar", collective="allreduce", group="pair",
              size_bytes=S_AR, algorithm="ring")
    return _one_program_per_rank([
        [Op(0, "compute", "c0", duration_s=10 * US),
         Op(1, deps=(0,), **ar),
         Op(2, "compute", "c1", deps=(1,), duration_s=3 * US)],
        [Op(0, "compute", "c0", duration_s=15 * US),
         Op(1, deps=(0,), **ar),
         Op(2, "send", "send", deps=(1,), peer=2, size_bytes=S_P2P, tag=7),
         Op(3, "compute", "c1", deps=(1,), duration_s=4 * US)],
        [Op(0, "compute", "c0", duration_s=5 * US),
         Op(1, "recv", "recv", deps=(0,), peer=1, size_bytes=S_P2P, tag=7),
         Op(2, "compute", "c1", deps=(1,), duration_s=2 * US)],
        [Op(0, "compute", "c0", duration_s=8 * US),
         Op(1, "compute", "c1", deps=(0,), duration_s=6 * US)],
    ], {"pair": Group("pair", np.array([[0, 1], [2, 3]]))})


def _expected() -> dict[tuple[int, str], tuple[float, float, float]]:
    """(rank, op name) -> (start, comm_start, end) in seconds; NaN comm_start for compute."""
    nan = float("nan")
    # Ring all-reduce on n = 2 ranks of S bytes: reduce-scatter then all-gather, n - 1 steps
    # each, every step moving S / n bytes each way over disjoint links (0->1 and 1->0):
    #   T_ar = 2 (n - 1) (alpha + S / (n B)) = 2 (2 us + 10,000 B / 1e9 B/s) = 2 x 12 = 24 us.
    t_ar = 2 * (2 - 1) * (ALPHA + S_AR / (2 * B)) / US
    assert t_ar == pytest.approx(24.0, rel=REL)
    # send/recv alone on the path 1 -> switch -> 2:  alpha + S / B = 2 + 5 = 7 us.
    t_p2p = (ALPHA + S_P2P / B) / US
    assert t_p2p == pytest.approx(7.0, rel=REL)

    # rank 0 posts the all-reduce at 10, but it starts only when rank 1 posts it at 15
    # (a collective starts once every member has arrived), and ends at 15 + 24 = 39.
    ar_start, ar_end = 15.0, 15.0 + t_ar
    # rank 2 posts its recv at 5; rank 1 posts the send when the all-reduce ends (39): the
    # transfer starts at max(5, 39) = 39 and both ops end at 39 + 7 = 46.
    p2p_start, p2p_end = max(5.0, ar_end), max(5.0, ar_end) + t_p2p
    us = {
        (0, "c0"): (0.0, nan, 10.0),
        (0, "ar"): (10.0, ar_start, ar_end),
        (0, "c1"): (ar_end, nan, ar_end + 3.0),                 # 39 -> 42
        (1, "c0"): (0.0, nan, 15.0),
        (1, "ar"): (15.0, ar_start, ar_end),
        (1, "send"): (ar_end, p2p_start, p2p_end),              # posted 39, 39 -> 46
        (1, "c1"): (ar_end, nan, ar_end + 4.0),                 # beside the send: 39 -> 43
        (2, "c0"): (0.0, nan, 5.0),
        (2, "recv"): (5.0, p2p_start, p2p_end),                 # posted 5, 39 -> 46
        (2, "c1"): (p2p_end, nan, p2p_end + 2.0),               # 46 -> 48
        (3, "c0"): (0.0, nan, 8.0),
        (3, "c1"): (8.0, nan, 14.0),
    }
    return {k: tuple(x * US for x in v) for k, v in us.items()}


def _check(res, expected, iteration_s):
    ops = res.ops
    assert len(ops) == len(expected)
    seen = set()
    for row in ops.itertuples():
        key = (int(row.first_rank), row.name)
        assert int(row.n_ranks) == 1 and key not in seen
        seen.add(key)
        start, comm_start, end = expected[key]
        assert row.start_s == pytest.approx(start, rel=REL, abs=0), (key, "start")
        assert row.end_s == pytest.approx(end, rel=REL, abs=0), (key, "end")
        if np.isnan(comm_start):
            assert np.isnan(row.comm_start_s), key
        else:
            assert row.comm_start_s == pytest.approx(comm_start, rel=REL, abs=0), (key, "comm")
    assert seen == set(expected)
    assert res.iteration_s == pytest.approx(iteration_s, rel=REL)


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("fidelity", ["analytical", "flow", "packet"])
def test_every_op_starts_and_ends_when_the_alpha_beta_model_says(fidelity, fast):
    # No two transfers ever share a link here (the all-reduce's two directions use disjoint
    # links, the send runs alone), so all three fidelities agree exactly. The packet model
    # (4096-byte packets, cut-through, equal link rates) too: a packet starts on the switch's
    # output link when its head arrives and cannot finish before its tail has, which on equal
    # rates is the same instant, so a flow still takes L + S / B + L, with no per-packet
    # pipeline fill.
    res = simulate(_trace(), _topology(), fidelity=fidelity, **_speed(fast))
    _check(res, _expected(), 48 * US)
    assert res.summary["critical_rank"] == 2          # rank 2 finishes last, at 48 us


# ------------------------------------------------------ contention: where the fidelities differ
S_IN = 8_000      # bytes each of ranks 0 and 1 send to rank 2 at t = 0 (incast)


def _incast() -> Trace:
    return _one_program_per_rank([
        [Op(0, "send", "s0", peer=2, size_bytes=S_IN, tag=1)],
        [Op(0, "send", "s1", peer=2, size_bytes=S_IN, tag=2)],
        [Op(0, "recv", "r0", peer=0, size_bytes=S_IN, tag=1),
         Op(1, "recv", "r1", peer=1, size_bytes=S_IN, tag=2),
         Op(2, "compute", "c", deps=(0, 1), duration_s=1 * US)],
        [Op(0, "compute", "c", duration_s=1 * US)],
    ])


def _incast_expected(fidelity) -> tuple[dict, float]:
    nan = float("nan")
    if fidelity == "analytical":
        # congestion-unaware (ASTRA-sim's analytical backend): each transfer costs
        # alpha + S / B = 2 + 8 = 10 us as if alone.
        end0 = end1 = (ALPHA + S_IN / B) / US
    elif fidelity == "flow":
        # max-min: both flows cross the switch -> GPU 2 link and get B / 2 each; their bytes
        # are out at 2 S / B = 16 us and delivered one path latency later: 2 + 16 = 18 us.
        end0 = end1 = (ALPHA + 2 * S_IN / B) / US
    else:
        # packets of 4096 B: each flow is 4096 + 3904 B. Both first packets' heads reach the
        # switch at L = 1 us; its output port to GPU 2 serves the flows round-robin in the
        # order they started (rank 0's first), cut-through:
        #   r0 pkt 1: 1      -> 5.096    r1 pkt 1: 5.096  -> 9.192
        #   r0 pkt 2: 9.192  -> 13.096   r1 pkt 2: 13.096 -> 17.0
        # each delivered L later: rank 0's flow at 14.096 us, rank 1's at 18 us (= the flow
        # model's: the port never idles, so the last byte leaves at L + 2 S / B).
        end0 = (L + (2 * 4096 + 3904) / B + L) / US
        end1 = (L + 2 * S_IN / B + L) / US
        assert (end0, end1) == (pytest.approx(14.096, rel=REL), pytest.approx(18.0, rel=REL))
    last = max(end0, end1)
    us = {(0, "s0"): (0.0, 0.0, end0), (1, "s1"): (0.0, 0.0, end1),
          (2, "r0"): (0.0, 0.0, end0), (2, "r1"): (0.0, 0.0, end1),
          (2, "c"): (last, nan, last + 1.0), (3, "c"): (0.0, nan, 1.0)}
    return {k: tuple(x * US for x in v) for k, v in us.items()}, (last + 1.0) * US


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("fidelity", ["analytical", "flow", "packet"])
def test_incast_timeline_in_each_fidelity(fidelity, fast):
    res = simulate(_incast(), _topology(), fidelity=fidelity, **_speed(fast))
    expected, iteration = _incast_expected(fidelity)
    _check(res, expected, iteration)
