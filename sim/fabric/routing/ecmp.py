"""ECMP routes of a batch of flows on a :class:`RouteGraph`, as a CSR table per flow
(indptr, links, coef, latency): paths walked hop by hop for all flows at once.

Among the equal-cost next links of a flow (:mod:`.nexthops`), ``ecmp-hash`` picks one per
flow by a hash of (seed, src, dst, hop) (:mod:`.hashing`) — deterministic, like a 5-tuple hash
with fixed ports — and ``ecmp-even`` splits the flow evenly at every hop (per-packet spraying
in the fluid limit), so a link may carry a fraction ``coef`` of a flow. ``spray_source``
splits a flow evenly over its source GPU's equal-cost NIC ports (one per plane) in both
modes, as multi-plane NICs do.

A route's latency is that of its slowest branch: link latencies plus the latency of every
switch crossed. Each route's links are sorted by link id.
"""

from __future__ import annotations

import functools

import numpy as np

from sim.errors import CposimError
from sim.fabric.routing.entries import _indptr, _segments, _unique_inverse
from sim.fabric.routing.hashing import _flow_key, _hash_offsets
from sim.fabric.routing.nexthops import _check_routed, _no_route, next_hops, scan_next_links

ROUTINGS = ("ecmp-hash", "ecmp-even")


def paths(g, src: np.ndarray, dst: np.ndarray, *, mode: str, seed: int,
          spray_source: bool = False):
    """Routes on graph ``g`` for node pairs -> (indptr, links, coef, latency_s) per pair."""
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    row, ovr = g._dst_tables(dst)
    fkey = _flow_key(src, dst)
    first = scan_next_links(g, src, dst, row, ovr, src)     # a GPU's NIC ports, or a router
    if mode == "ecmp-hash" and not (spray_source and (first[2] > 1).any()):
        return _paths_hashed(g, src, dst, row, ovr, fkey, seed, first)
    return _paths_split(g, src, dst, row, ovr, fkey, seed, first, mode, spray_source)


def _check_converging(topo, hop: int) -> None:
    # a shortest path visits a node at most once: more hops than nodes is a bug
    if hop > topo.n_nodes:
        raise CposimError("routing did not converge", field="topology")


def _paths_hashed(g, src, dst, row, ovr, fkey, seed, first):
    """:func:`paths` when every flow takes one link per hop (hash mode, no NIC port split):
    one entry per flow, in flow order, until it arrives."""
    topo = g.topo
    F = src.size
    fin_lat = np.zeros(F)
    cols = []                         # (flows of the hop's entries, None: all; links)
    ent = None
    v, d_, r_, o_, s_, k_ = src, dst, row, ovr, src, fkey
    e_lat = np.zeros(F)
    parts = [(None,) + first]
    hop = 0
    while True:
        cl = _hash_pick(parts, v.size, k_, seed, hop, topo, s_, d_)
        clat = e_lat + topo.latency_s[cl]
        cw = topo.dst[cl]
        cols.append((ent, cl))
        done = cw == d_
        n_done = int(np.count_nonzero(done))
        if n_done == cw.size:
            f = np.arange(F) if ent is None else ent
            fin_lat[f] = np.maximum(fin_lat[f], clat)
            break
        if n_done:
            f = np.flatnonzero(done) if ent is None else ent[done]
            fin_lat[f] = np.maximum(fin_lat[f], clat[done])
            go = np.flatnonzero(~done)
            ent = go if ent is None else ent[go]
            cw, clat, d_, r_, o_, s_, k_ = (x[go] for x in (cw, clat, d_, r_, o_, s_, k_))
        e_lat = clat + topo.switch_latency_s[cw]
        v = cw
        hop += 1
        _check_converging(topo, hop)
        parts = next_hops(g, v, d_, r_, o_, s_)
    return _unsplit_by_flow(F, topo.n_links, cols) + (fin_lat,)


def _paths_split(g, src, dst, row, ovr, fkey, seed, first, mode, spray_source):
    """:func:`paths` when flows split (``ecmp-even``, or over a GPU's NIC ports)."""
    topo = g.topo
    F = src.size
    # entries: (flow, node, frac, latency so far); several per flow when it is split
    e_f = np.arange(F)
    e_node = src.copy()
    e_frac = np.ones(F)
    e_lat = np.zeros(F)
    out_f, out_l, out_c = [], [], []
    fin_lat = np.zeros(F)
    split = False                    # has any flow been split over several links?
    hop = 0
    while e_f.size:
        if hop == 0:
            cand, start, count = first
        else:
            cand, start, count = _compact(
                next_hops(g, e_node, dst[e_f], row[e_f], ovr[e_f], src[e_f]), e_f.size)
            _check_routed(topo, count == 0, src, dst, e_f)   # (not on a shortest path)
        if mode == "ecmp-hash" and not (spray_source and hop == 0):
            cl = cand[start + _hash_offsets(fkey[e_f], count, seed, hop)]
            cf, frac = e_f, e_frac
            clat = e_lat + topo.latency_s[cl]
        else:                                # every candidate, an equal share each
            split = split or bool((count > 1).any())
            rep, idx = _segments(start, count)
            cl = cand[idx]
            cf = e_f[rep]
            frac = np.repeat(e_frac / count, count)
            clat = e_lat[rep] + topo.latency_s[cl]
        cw = topo.dst[cl]
        out_f.append(cf)
        out_l.append(cl)
        out_c.append(frac)
        done = cw == dst[cf]
        if done.any():
            np.maximum.at(fin_lat, cf[done], clat[done])
        go = ~done
        cf, cw, frac, clat = cf[go], cw[go], frac[go], clat[go]
        clat = clat + topo.switch_latency_s[cw]
        if mode == "ecmp-even" and cf.size:
            # parts of a flow that meet at a node go on as one entry (the paths from there
            # are the same): the entries stay as many as the links of a hop, not the paths
            key = cf * topo.n_nodes + cw
            uk, inv = _unique_inverse(key)
            frac = np.bincount(inv, weights=frac)
            lat = np.zeros(uk.size)
            np.maximum.at(lat, inv, clat)
            cf, cw, clat = uk // topo.n_nodes, uk % topo.n_nodes, lat
        e_f, e_node, e_frac, e_lat = cf, cw, frac, clat
        hop += 1
        _check_converging(topo, hop)
    if not split:                    # one link per flow and hop, each with all of it
        return _unsplit_by_flow(F, topo.n_links, list(zip(out_f, out_l))) + (fin_lat,)
    return _by_flow(F, topo.n_links, out_f, out_l, out_c) + (fin_lat,)


def _compact(parts: list, E: int):
    """Parts of :func:`.nexthops.next_hops` -> (links, start, count) per entry, each entry's
    candidates in a run of ``links``."""
    if len(parts) == 1 and parts[0][0] is None:
        _, links, st, c = parts[0]
        c = c.astype(np.int64)
        idx = _segments(st, c)[1]
        return links[idx], np.cumsum(c) - c, c
    start = np.empty(E, dtype=np.int64)
    count = np.empty(E, dtype=np.int64)
    cand, off = [], 0
    for ent, links, st, c in parts:
        idx = _segments(st, c)[1]
        cand.append(links[idx])
        start[ent] = off + np.cumsum(c) - c
        count[ent] = c
        off += idx.size
    return np.concatenate(cand), start, count


def _hash_pick(parts: list, E: int, fkey, seed: int, hop: int, topo, src, dst) -> np.ndarray:
    """The link each of ``E`` entries takes at ``hop`` (one per entry, ECMP hash among its
    candidates, see :func:`.nexthops.next_hops`); none: the first such entry's flow is
    named."""
    out = None
    bad = E
    for ent, links, st, c in parts:
        if c.size and c.min() == 0:                    # cannot happen on a shortest path
            z = np.flatnonzero(c == 0)[0]
            bad = min(bad, int(z if ent is None else ent[z]))
            continue
        if c.size and c.max() > 1:
            st = st + _hash_offsets(fkey if ent is None else fkey[ent], c, seed, hop)
        if ent is None:
            out = links[st]
        else:
            if out is None:
                out = np.empty(E, dtype=np.int64)
            out[ent] = links[st]
    if bad < E:
        raise _no_route(topo, src[bad], dst[bad])
    return out


def _unsplit_by_flow(F: int, n_links: int, cols: list):
    """Routes of flows that each take one link per hop with all of it -> CSR by flow
    (indptr, links, coef 1), links by id within a flow. ``cols``: per hop, (the flows of its
    entries, None: all in order; their links). The hops make the columns of a (flow, hop)
    matrix, sorted row by row, unless that is mostly padding (flows of very different
    lengths): then :func:`_by_flow`."""
    H = len(cols)
    n = sum(c.size for _, c in cols)
    if F * H > 4 * n + 1024:
        return _by_flow(F, n_links, [np.arange(F) if f is None else f for f, _ in cols],
                        [c for _, c in cols], [np.ones(c.size) for _, c in cols])
    x = []
    for f, c in cols:
        if f is not None:
            full = np.full(F, n_links, dtype=np.int64)     # n_links: no link at this hop
            full[f] = c
            c = full
        x.append(c)
    if H <= 16:                       # sort each flow's links: a sorting network
        for a, b in _sorting_network(H):
            lo = np.minimum(x[a], x[b])
            x[b] = np.maximum(x[a], x[b])
            x[a] = lo
        m = np.stack(x, axis=1)
    else:
        m = np.stack(x, axis=1)
        m.sort(axis=1)
    if n == F * H:
        return np.arange(F + 1) * H, m.reshape(-1), np.ones(n)
    has = m < n_links
    return _indptr(has.sum(axis=1)), m[has], np.ones(n)


def _by_flow(F: int, n_links: int, out_f: list, out_l: list, out_c: list):
    """Hop entries (flow, link, share) -> CSR by flow (indptr, links, coef), links by id
    within a flow. The hops' entries are runs sorted by flow, so a stable (merge) sort is
    cheap; a (flow, link) pair repeats only when split parts of a hash-mode flow meet again,
    and then their shares add up."""
    f = np.concatenate(out_f) if out_f else np.zeros(0, np.int64)
    links = np.concatenate(out_l) if out_l else np.zeros(0, np.int64)
    c = np.concatenate(out_c) if out_c else np.zeros(0)
    key = f * n_links + links
    order = np.argsort(key, kind="stable")
    ks = key[order]
    if ks.size > 1 and np.any(ks[1:] == ks[:-1]):
        uk, inv = _unique_inverse(key)
        coef = np.bincount(inv, weights=c)
        f, links = uk // n_links, uk % n_links
    else:
        f, links, coef = f[order], links[order], c[order]
    return _indptr(np.bincount(f, minlength=F)), links, coef


@functools.lru_cache(maxsize=None)
def _sorting_network(n: int) -> tuple:
    """Batcher's odd-even merge sort comparators (i < j: min to i, max to j) for ``n``
    values: the network for the next power of two, without the comparators that only touch
    its padding (+inf, never moved). Sorting the short rows of a (flow, hop) matrix this way
    is a few vector min/max per comparator, where ``np.sort(axis=1)`` loops over the rows."""
    p2 = 1 << max(n - 1, 0).bit_length()
    pairs = []
    p = 1
    while p < p2:
        k = p
        while k >= 1:
            for j in range(k % p, p2 - k, 2 * k):
                for i in range(min(k, p2 - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return tuple((a, b) for a, b in pairs if b < n)
