"""The alpha-beta closed forms: the textbook formulas, and the wave-by-wave model they summarise."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.comm import ALGORITHMS, build_schedule, closed_form, schedule_time
from sim.comm.algorithms import registry
from sim.errors import CposimError

A, B = 1.3e-6, 25e9


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 64), S=st.floats(0, 2**32))
def test_issue_formulas(n, S):
    # written out from the alpha-beta step counts and nccl-tests' bus-bandwidth factors, not
    # from the code
    assert closed_form("allreduce", "ring", n, S, A, B) == pytest.approx(
        2 * (n - 1) * (A + S / (n * B)), rel=1e-12)
    for op in ("allgather", "reducescatter"):
        assert closed_form(op, "ring", n, S, A, B) == pytest.approx(
            (n - 1) * (A + S / (n * B)), rel=1e-12)
    assert closed_form("alltoall", "direct", n, S, A, B) == pytest.approx(
        A + (n - 1) / n * S / B, rel=1e-12)
    k = 1 << (n.bit_length() - 1)   # largest power of two <= n
    assert closed_form("allreduce", "halving-doubling", k, S, A, B) == pytest.approx(
        2 * math.log2(k) * A + 2 * (k - 1) / k * S / B, rel=1e-12, abs=1e-18)


def _flat_cases():
    for n in (2, 3, 4, 8, 12, 16):
        for alg, ops in ALGORITHMS.items():
            if registry.get(alg).composite:
                continue
            for op in ops:
                if registry.get(alg).allows(op, n):     # e.g. halving-doubling: power of two
                    yield n, alg, op


@pytest.mark.parametrize("n,alg,op", list(_flat_cases()))
@pytest.mark.parametrize("chunks", [1, 3, 8])
def test_closed_forms_equal_the_wave_model_of_the_schedule(n, alg, op, chunks):
    """Two independent derivations: the formula, and summing α + max port load / B per wave."""
    S = 7.7e6
    s = build_schedule(op, alg, n, S, root=n - 1)
    assert closed_form(op, alg, n, S, A, B, chunks=chunks, root=n - 1) == pytest.approx(
        schedule_time(s, chunks, A, B), rel=1e-12)


@pytest.mark.parametrize("op", ALGORITHMS["hierarchical"])
def test_hierarchical_is_the_sum_of_its_phases(op):
    D, L, S = 4, 8, 3e8
    Ai, Bi = 5e-6, 5e9    # scale-out: slower, longer
    h = closed_form(op, "hierarchical", D * L, S, A, B, local_size=L, alpha_inter_s=Ai,
                    bandwidth_inter_Bps=Bi)
    ring = lambda o, k, s, a, b: closed_form(o, "ring", k, s, a, b)  # noqa: E731
    want = {
        "allreduce": ring("reducescatter", L, S, A, B) + ring("allreduce", D, S / L, Ai, Bi)
        + ring("allgather", L, S, A, B),
        "allgather": ring("allgather", D, S / L, Ai, Bi) + ring("allgather", L, S, A, B),
        "reducescatter": ring("reducescatter", L, S, A, B)
        + ring("reducescatter", D, S / L, Ai, Bi),
        "broadcast": ring("broadcast", D, S, Ai, Bi) + ring("broadcast", L, S, A, B),
        "reduce": ring("reduce", L, S, A, B) + ring("reduce", D, S, Ai, Bi),
    }[op]
    assert h == pytest.approx(want, rel=1e-12)
    # and the same from the schedule, wave by wave
    s = build_schedule(op, "hierarchical", D * L, S, layout=np.arange(D * L).reshape(D, L))
    assert schedule_time(s, 1, (A, Ai), (B, Bi)) == pytest.approx(h, rel=1e-12)


def test_chunking_trades_latency_for_pipelining():
    n, S = 16, 1e9
    # ring all-reduce: chunks only add latency (every port is busy in every step already)
    assert closed_form("allreduce", "ring", n, S, A, B, chunks=4) == pytest.approx(
        closed_form("allreduce", "ring", n, S, A, B) + 3 * A)
    # a chain broadcast pipelines: (n-1+C-1)(α + S/(C B)) -> ~S/B for many chunks
    t64 = closed_form("broadcast", "ring", n, S, A, B, chunks=64)
    assert t64 == pytest.approx((n - 1 + 63) * (A + S / (64 * B)))
    assert t64 < closed_form("broadcast", "ring", n, S, A, B) / 5
    # double binary tree gets faster with chunks too
    assert (closed_form("allreduce", "dbt", n, S, A, B, chunks=16)
            < closed_form("allreduce", "dbt", n, S, A, B) / 2)


def test_closed_form_rejects_nonsense():
    # the constraint's one message, the same as build_schedule's
    with pytest.raises(CposimError, match="power-of-two group size, got 6"):
        closed_form("allreduce", "halving-doubling", 6, 1.0, A, B)
    with pytest.raises(CposimError):
        closed_form("allreduce", "ring", 4, 1.0, A, 0.0)
    with pytest.raises(CposimError):
        closed_form("allreduce", "hierarchical", 12, 1.0, A, B, local_size=5)
    with pytest.raises(CposimError):
        closed_form("allreduce", "auto", 4, 1.0, A, B)
    assert closed_form("allreduce", "ring", 1, 1e9, A, B) == 0.0
