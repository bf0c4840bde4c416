"""Collective schedules as data: they compute their collective, and move the bytes they must."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.comm import (ALGORITHMS, Communicator, build_schedule, busbw_factor, check_schedule,
                      communicators_from_groups, domain_layout, parallel_groups, to_waves)
from sim.comm.algorithms import hierarchical, registry
from sim.comm.schedule import Builder
from sim.errors import CposimError

# the flat algorithms, as registered (constraints, e.g. halving-doubling's power of two,
# come from each algorithm's declaration)
FLAT = [a for a in ALGORITHMS if not registry.get(a).composite]


def _cases(sizes):
    for n in sizes:
        for alg in FLAT:
            for op in ALGORITHMS[alg]:
                if registry.get(alg).allows(op, n):
                    yield n, alg, op


@pytest.mark.parametrize("n,alg,op", list(_cases([1, 2, 3, 4, 6, 7, 8, 16])))
def test_every_flat_schedule_computes_its_collective(n, alg, op):
    for root in sorted({0, n - 1, n // 2}) if op in ("broadcast", "reduce") else [0]:
        s = build_schedule(op, alg, n, 1e6, root=root)
        assert check_schedule(s) == []


@settings(max_examples=40, deadline=None)
@given(domains=st.integers(2, 4), local=st.integers(2, 5), seed=st.integers(0, 10**6),
       op=st.sampled_from(ALGORITHMS["hierarchical"]),
       intra=st.sampled_from(FLAT), inter=st.sampled_from(FLAT))
def test_hierarchical_computes_its_collective_for_any_layout(domains, local, seed, op, intra,
                                                             inter):
    n = domains * local
    rng = np.random.default_rng(seed)
    layout = rng.permutation(n).reshape(domains, local)
    root = int(rng.integers(n))
    for phase in hierarchical.PHASES[op]:
        where, sub = phase.split()
        alg, k = (intra, local) if where == "intra" else (inter, domains)
        if not registry.get(alg).allows(sub, k):
            with pytest.raises(CposimError):
                build_schedule(op, "hierarchical", n, 1.0, root=root, layout=layout,
                               intra=intra, inter=inter)
            return
    s = build_schedule(op, "hierarchical", n, 1.0, root=root, layout=layout, intra=intra,
                       inter=inter)
    assert check_schedule(s) == []


def test_checker_catches_a_wrong_schedule():
    good = build_schedule("allreduce", "ring", 4, 1.0)
    assert check_schedule(good) == []
    # drop the last all-gather step: some rank misses a block
    b = Builder(4)
    for k in range(good.n_steps - 1):
        m = good.step == k
        b.step(good.src[m], good.dst[m], good.lo[m], good.hi[m], bool(good.reduce[m][0]))
    assert check_schedule(b.build("allreduce", "ring", 1.0)) != []
    # reduce the same block twice: double counting
    b = Builder(2)
    b.step([0, 1], [1, 0], 0.0, 1.0, reduce=True)
    b.step([0, 1], [1, 0], 0.0, 1.0, reduce=True)
    assert any("exactly once" in e for e in check_schedule(b.build("allreduce", "x", 1.0)))


def _per_rank_expected(op, alg, n, S, root=0):
    """Bytes each rank sends and receives, from the algorithm's definition (by hand)."""
    if op == "allreduce":
        return np.full(n, 2 * (n - 1) / n * S), np.full(n, 2 * (n - 1) / n * S)
    if op in ("allgather", "reducescatter", "alltoall"):
        return np.full(n, (n - 1) / n * S), np.full(n, (n - 1) / n * S)
    recv = np.full(n, S)
    if op == "broadcast":
        recv[root] = 0
        return None, recv
    sent = np.full(n, S)
    sent[root] = 0
    return sent, None


@pytest.mark.parametrize("n,alg,op", list(_cases([2, 4, 5, 8])))
def test_each_rank_moves_exactly_its_share(n, alg, op):
    S = 3.0e6
    if alg == "double-binary-tree":
        # each tree moves S/2 up and S/2 down every edge: every non-root node sends and
        # receives S/2 per tree it is not the root of, i.e. 2 * (S/2) * (#trees where non-root)
        # per tree (S/2 each): a non-root sends S/2 up and gets S/2 down; a node with k
        # children gets k*S/2 up and sends k*S/2 down
        s = build_schedule(op, alg, n, S)
        non_root = 2 - np.isin(np.arange(n), [0, n - 1 if n % 2 == 0 else 1])
        want = (non_root + _children(n)) * S / 2
        np.testing.assert_allclose(s.sent_bytes(), want)
        np.testing.assert_allclose(s.recv_bytes(), want)
        return
    s = build_schedule(op, alg, n, S, root=n - 1)
    sent, recv = _per_rank_expected(op, alg, n, S, root=n - 1)
    if sent is not None:
        np.testing.assert_allclose(s.sent_bytes(), sent)
    if recv is not None:
        np.testing.assert_allclose(s.recv_bytes(), recv)
    assert s.sent_bytes().sum() == pytest.approx(s.recv_bytes().sum())


def _children(n):
    """How many children each rank has over both trees of NCCL's double binary tree."""
    from sim.comm.algorithms.double_binary_tree import dtree_parents
    kids = np.zeros(n)
    for p in dtree_parents(n):
        np.add.at(kids, p[p >= 0], 1)
    return kids


def test_dtree_leaves_of_one_tree_are_inner_nodes_of_the_other():
    from sim.comm.algorithms.double_binary_tree import dtree_parents
    for n in (4, 8, 16, 7, 9):
        t1, t2 = dtree_parents(n)
        for t in (t1, t2):
            assert (t < 0).sum() == 1                    # one root
            kids = np.bincount(t[t >= 0], minlength=n)
            assert kids.max() <= 2                       # binary
        inner1 = np.bincount(t1[t1 >= 0], minlength=n) > 0
        inner2 = np.bincount(t2[t2 >= 0], minlength=n) > 0
        # no node is inner in both trees (NCCL's mirror, even n); the shift used for odd n
        # leaves one node inner in both
        assert (inner1 & inner2).sum() == (0 if n % 2 == 0 else 1)


def test_uneven_alltoall_moves_the_matrix():
    rng = np.random.default_rng(3)
    m = rng.integers(0, 1000, (6, 6)).astype(float)
    s = build_schedule("alltoall", "direct", 6, m.sum(1).mean(), split_bytes=m)
    assert check_schedule(s, m) == []
    np.fill_diagonal(m, 0)
    np.testing.assert_allclose(s.sent_bytes(), m.sum(1))
    np.testing.assert_allclose(s.recv_bytes(), m.sum(0))


@pytest.mark.parametrize("chunks", [1, 2, 5])
def test_chunking_keeps_bytes_and_adds_waves(chunks):
    s = build_schedule("allreduce", "halving-doubling", 8, 1e6)
    w = to_waves(s, chunks)
    assert w.n_waves == s.n_steps + chunks - 1
    assert w.flow_bytes.sum() == pytest.approx(s.flow_bytes.sum())
    # every (wave, src, dst) is one flow
    key = (w.wave * 8 + w.src) * 8 + w.dst
    assert np.unique(key).size == key.size


def test_busbw_factors_are_nccl_tests():
    n = 8
    assert busbw_factor("allreduce", n) == 2 * 7 / 8
    for op in ("allgather", "reducescatter", "alltoall"):
        assert busbw_factor(op, n) == 7 / 8
    assert busbw_factor("broadcast", n) == 1.0
    assert busbw_factor("reduce", n) == 1.0


def test_bad_requests_are_cposim_errors():
    with pytest.raises(CposimError, match="power-of-two"):
        build_schedule("allreduce", "halving-doubling", 6, 1.0)
    with pytest.raises(CposimError, match="does not implement"):
        build_schedule("alltoall", "ring", 4, 1.0)
    with pytest.raises(CposimError, match="unknown algorithm"):
        build_schedule("allreduce", "bogus", 4, 1.0)
    with pytest.raises(CposimError, match="unknown collective"):
        build_schedule("allsum", "ring", 4, 1.0)
    with pytest.raises(CposimError, match="root"):
        build_schedule("broadcast", "ring", 4, 1.0, root=4)
    with pytest.raises(CposimError, match="hierarchical"):
        build_schedule("allreduce", "hierarchical", 4, 1.0)


def test_parallel_groups_partition_the_world_megatron_order():
    g = parallel_groups(32, tp=4, pp=2, ep=2)
    assert g["tp"].shape == (8, 4) and g["dp"].shape == (8, 4) and g["pp"].shape == (16, 2)
    for key in ("tp", "dp", "pp", "ep"):
        assert sorted(g[key].ravel().tolist()) == list(range(32))   # a partition
    assert g["tp"][0].tolist() == [0, 1, 2, 3]                       # TP is innermost
    assert g["dp"][0].tolist() == [0, 4, 8, 12]
    assert g["pp"][0].tolist() == [0, 16]
    assert set(g["ep"][0]) <= set(g["dp"][0])                        # EP inside DP
    with pytest.raises(CposimError):
        parallel_groups(30, tp=4, pp=2)


def test_communicators_and_domain_layout():
    comms = communicators_from_groups(np.array([[0, 1], [2, 3]]),
                                      placement=np.array([10, 11, 12, 13]), name="tp")
    assert [c.name for c in comms] == ["tp0", "tp1"]
    assert comms[1].endpoints.tolist() == [12, 13]
    with pytest.raises(CposimError):
        Communicator("x", np.arange(2), np.array([5, 5]))
    dom = np.arange(16) // 8
    assert domain_layout(np.arange(16), dom).tolist() == [list(range(8)), list(range(8, 16))]
    assert domain_layout(np.array([8, 0, 9, 1]), dom).tolist() == [[0, 2], [1, 3]]
    assert domain_layout(np.arange(8), dom) is None            # one domain
    assert domain_layout(np.array([0, 1, 8]), dom) is None     # uneven
