"""Max-min solver: textbook cases exactly, and the definition checked on random instances."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.fabric.maxmin import maxmin_rates


def csr(paths):
    indptr = np.concatenate(([0], np.cumsum([len(p) for p in paths])))
    return indptr, np.concatenate([np.asarray(p, dtype=np.int64) for p in paths])


def assert_maxmin(indptr, links, cap, rate, coef=None, weight=None, rtol=1e-9):
    """The definition: feasible, and every flow crosses a saturated link on which no other
    flow gets a higher rate."""
    n = indptr.size - 1
    coef = np.ones(links.size) if coef is None else coef
    weight = np.ones(n) if weight is None else weight
    flow_of = np.repeat(np.arange(n), np.diff(indptr))
    load = np.bincount(links, weights=weight[flow_of] * coef * rate[flow_of], minlength=cap.size)
    assert (load <= cap * (1 + rtol)).all(), "a link is above capacity"
    assert (rate > 0).all()
    for f in range(n):
        ok = False
        for l in links[indptr[f]:indptr[f + 1]]:
            if load[l] < cap[l] * (1 - rtol):
                continue
            others = flow_of[links == l]
            if rate[f] >= rate[others].max() * (1 - rtol):
                ok = True
                break
        assert ok, f"flow {f} has no bottleneck link"


@pytest.mark.parametrize("n", [1, 2, 3, 7, 100])
def test_n_flows_on_one_link_get_c_over_n(n):
    indptr, links = csr([[0]] * n)
    rate = maxmin_rates(indptr, links, np.array([10.0]))
    assert np.allclose(rate, 10.0 / n, rtol=0, atol=1e-12)


def test_parking_lot_equal_capacities():
    # a long flow over links 0,1,2 and one short flow on each link: everyone gets C/2
    indptr, links = csr([[0, 1, 2], [0], [1], [2]])
    rate = maxmin_rates(indptr, links, np.array([1.0, 1.0, 1.0]))
    assert np.array_equal(rate, [0.5, 0.5, 0.5, 0.5])


def test_parking_lot_unequal_capacities():
    # link 0 (C=1) shared by the long flow and one short flow; link 1 (C=2) by the long flow
    # and two short flows; link 2 (C=10) by the long flow and one short flow.
    # Level 1: link 0 fair share 1/2, link 1 2/3 -> link 0 first: long=0.5, s0=0.5.
    # Link 1 then has 1.5 left for two flows -> 0.75 each; link 2 has 9.5 for one flow.
    indptr, links = csr([[0, 1, 2], [0], [1], [1], [2]])
    rate = maxmin_rates(indptr, links, np.array([1.0, 2.0, 10.0]))
    assert np.allclose(rate, [0.5, 0.5, 0.75, 0.75, 9.5], rtol=1e-15)


def test_weighted_row_equals_its_copies():
    # one row of weight 3 behaves exactly like three identical rows
    indptr, links = csr([[0, 1], [1]])
    r_w = maxmin_rates(indptr, links, np.array([4.0, 6.0]), weight=np.array([3.0, 1.0]))
    indptr2, links2 = csr([[0, 1]] * 3 + [[1]])
    r_c = maxmin_rates(indptr2, links2, np.array([4.0, 6.0]))
    assert np.allclose(r_w, [r_c[0], r_c[3]], rtol=1e-15)
    assert np.allclose(r_c, [4 / 3] * 3 + [2.0])


def test_fractional_split_flow():
    # a flow split evenly over links 0 and 1 (coef 0.5 each), a second flow alone on link 1,
    # C0 = C1 = 1. Link 1 carries 0.5 r + r and fills at r = 2/3 (link 0 then carries only
    # 1/3): both flows get 2/3.
    indptr, links = csr([[0, 1], [1]])
    coef = np.array([0.5, 0.5, 1.0])
    rate = maxmin_rates(indptr, links, np.array([1.0, 1.0]), coef=coef)
    assert np.allclose(rate, [2 / 3, 2 / 3], rtol=1e-14)


def test_empty_and_invalid():
    assert maxmin_rates(np.array([0]), np.zeros(0, dtype=int), np.array([1.0])).size == 0
    with pytest.raises(ValueError):
        maxmin_rates(np.array([0, 0]), np.zeros(0, dtype=int), np.array([1.0]))


@st.composite
def instances(draw):
    n_links = draw(st.integers(1, 12))
    n_flows = draw(st.integers(1, 25))
    cap = np.array(draw(st.lists(st.sampled_from([1.0, 2.0, 3.0, 10.0, 0.5, 7.3]),
                                 min_size=n_links, max_size=n_links)))
    paths = [sorted(draw(st.sets(st.integers(0, n_links - 1), min_size=1, max_size=4)))
             for _ in range(n_flows)]
    weighted = draw(st.booleans())
    weight = np.array(draw(st.lists(st.integers(1, 4), min_size=n_flows, max_size=n_flows)),
                      dtype=float) if weighted else None
    split = draw(st.booleans())
    return cap, paths, weight, split


@settings(max_examples=300, deadline=None)
@given(instances())
def test_random_instances_are_maxmin_fair(inst):
    cap, paths, weight, split = inst
    indptr, links = csr(paths)
    coef = None
    if split:
        coef = np.repeat(1.0 / np.diff(indptr), np.diff(indptr))
    rate = maxmin_rates(indptr, links, cap, coef=coef, weight=weight)
    assert_maxmin(indptr, links, cap, rate, coef=coef, weight=weight)


def progressive_filling(indptr, links, cap):
    """Textbook global-minimum progressive filling (slow, obviously correct) as an oracle."""
    n = indptr.size - 1
    rate = np.zeros(n)
    frozen = np.zeros(n, dtype=bool)
    rem = cap.astype(float).copy()
    flow_of = np.repeat(np.arange(n), np.diff(indptr))
    sat = np.zeros(cap.size, dtype=bool)
    while not frozen.all():
        act = ~frozen[flow_of]
        cnt = np.bincount(links[act], minlength=cap.size)
        with np.errstate(divide="ignore"):
            inc = np.where((cnt > 0) & ~sat, rem / np.maximum(cnt, 1), np.inf)
        d = inc.min()
        rate[~frozen] += d
        rem -= d * cnt
        newly = (cnt > 0) & (rem <= 1e-12 * cap) & ~sat
        sat |= newly
        for f in np.flatnonzero(~frozen):
            if sat[links[indptr[f]:indptr[f + 1]]].any():
                frozen[f] = True
    return rate


@settings(max_examples=150, deadline=None)
@given(instances())
def test_matches_textbook_progressive_filling(inst):
    cap, paths, _, _ = inst
    indptr, links = csr(paths)
    assert np.allclose(maxmin_rates(indptr, links, cap), progressive_filling(indptr, links, cap),
                       rtol=1e-9, atol=0)
