"""Sparse per-link byte sums (LinkBytes) equal the dense bincount they replace, bit for bit."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.fabric.base import LinkBytes


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 50), st.lists(st.tuples(st.integers(0, 49),
                                             st.floats(0, 1e12, allow_nan=False)),
                                   max_size=300))
def test_sparse_and_dense_paths_equal_the_dense_bincount(n_links, entries):
    ids = np.array([i % n_links for i, _ in entries], dtype=np.int64)
    w = np.array([x for _, x in entries], dtype=float)
    ref = np.bincount(ids, weights=w, minlength=n_links) if ids.size else np.zeros(n_links)
    for lb in (LinkBytes.of(ids, w), LinkBytes.of(ids, w, n_links)):
        assert np.array_equal(lb.links, np.unique(ids))
        assert np.array_equal(lb.dense(n_links), ref)          # exact, not approximate
    assert LinkBytes.from_dense(ref).dense(n_links).tolist() == ref.tolist()


def test_booked_sparse_bytes_add_up_when_read():
    import simpy

    from sim.fabric import make_fabric, single_switch

    fab = make_fabric(simpy.Environment(), single_switch(4, link_bandwidth_bps=1e11, link_latency_s=1e-7),
                      fidelity="analytical")
    lb = LinkBytes(np.array([1, 3]), np.array([10.0, 2.5]))
    for _ in range(3):
        fab.account(lb, 12.5)
    out = fab.link_bytes
    assert out[1] == 30.0 and out[3] == 7.5 and out.sum() == 37.5
    assert fab.bytes_delivered == 37.5
