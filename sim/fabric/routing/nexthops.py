"""The equal-cost next links of a batch of path entries on a :class:`RouteGraph`: the links
toward a node one hop closer to the entry's destination (or straight to it), by link id — the
ECMP candidates :mod:`.ecmp` chooses or splits among.

Two exact ways, chosen per hop for speed; both give the same lists:

* a few entries cost every out-link of their node (:func:`scan_next_links`);
* many are split by their distance ``d``: straight to the destination (``d == 1``), to the one
  switch ``A`` above a destination GPU (``d == 2``, from ``A``'s in-neighbour slots), or to a
  transit node at ``d - 1``, which depends on (node, row) only and is listed once per distinct
  pair — in the dense :class:`.cache.LevelLinkCache` while it is small, else per hop. A
  (row, level) group of such pairs is listed by *pushing* (scanning its nodes' transit
  out-links) or, when cheaper, *pulling* (the in-links of the row's next level): a core has a
  link to every pod's spine, but the 32 spines above the destination leaf have only ~2k
  in-links; scanning 128 core ports per pair was most of the routing time.

The functions take the graph as first argument ``g`` and read its adjacency and distance rows
(:mod:`.graph`).
"""

from __future__ import annotations

import numpy as np

from sim.errors import CposimError
from sim.fabric.routing.entries import (_csr, _indptr, _run_starts, _segments, _unique,
                                        _unique_inverse, _unique_nodes)

_INF = np.int64(1 << 29)       # "unreachable" in computed costs


def _no_route(topo, s: int, d: int) -> CposimError:
    return CposimError(f"no route from node {topo.node_name[s]} to {topo.node_name[d]}",
                       field="topology")


def _check_routed(topo, stuck: np.ndarray, src, dst, flows=None) -> None:
    """Raise :func:`_no_route` for the first entry with ``stuck`` set (its flow ``flows[i]``,
    or ``i``), if any."""
    if stuck.any():
        bad = np.flatnonzero(stuck)[0]
        if flows is not None:
            bad = flows[bad]
        raise _no_route(topo, src[bad], dst[bad])


def _hops_left(g, row: np.ndarray, ovr: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Hops from node ``v[i]`` to the destination of (``row[i]``, ``ovr[i]``) (its distance
    row and override node, :meth:`RouteGraph._dst_tables`); ``_INF`` for non-transit or
    unreachable nodes."""
    ti = g.tidx[v]
    if not g.n_transit:                    # GPU-to-GPU links only
        return np.full(v.size, _INF)
    d = g._rows[row, np.maximum(ti, 0)].astype(np.int64)
    d[(ti < 0) | (d == g._unreach)] = _INF
    d[v == ovr] = 1
    return d


def scan_next_links(g, v, dst, row, ovr, src):
    """Equal-cost next links of entries at node ``v[i]`` (of a flow ``src[i]`` -> ``dst[i]``)
    by costing every out-link: 0 straight to the destination, else the hops left from its end
    -> (links, start, count) per entry; no way on: the error names the first such flow."""
    deg = g._out_deg[v]
    if v.size and deg.min() == 1 == deg.max():       # one NIC port each: no choice
        idx = g.out_ptr[v]
        w = g._out_dst[idx]
        cost = _hops_left(g, row, ovr, w)
        cost[w == dst] = 0
        _check_routed(g.topo, cost >= _INF, src, dst)
        return g.out_links[idx], np.arange(v.size), deg
    rep, idx = _segments(g.out_ptr[v], deg)
    links = g.out_links[idx]
    w = g._out_dst[idx]
    cost = _hops_left(g, row[rep], ovr[rep], w)
    cost[w == dst[rep]] = 0
    _check_routed(g.topo, deg == 0, src, dst)
    cmin = np.minimum.reduceat(cost, np.cumsum(deg) - deg)
    _check_routed(g.topo, cmin >= _INF, src, dst)
    cand = cost == cmin[rep]
    return (links[cand],) + _csr(rep[cand], v.size)


def next_hops(g, v, dst, row, ovr, src) -> list:
    """Equal-cost next links of entries at transit node ``v[i]`` (on a shortest path, so
    ``d = dist(v) >= 1``) -> parts ``(entries, links, start, count)``: entry ``entries[j]``
    (``None``: every entry, in order) may take ``links[start[j]:start[j] + count[j]]``, by
    link id. A few entries scan their out-links (:func:`scan_next_links`); many are split by
    ``d``:

    * ``d == 1``: the link(s) straight to the destination (a GPU on one switch ``A``: all its
      in-links, which come from ``A``, unless a GPU links to it as well);
    * ``d == 2`` with an override ``A``: the link(s) to ``A`` (the only node 1 away), from
      the slot of ``v`` among ``A``'s in-neighbours (= ``v``'s rank among the row's seeds);
    * otherwise the links to a transit node at ``d - 1``, which depend on ``(v, row)`` only
      (``A`` is never a neighbour then): listed once per distinct pair and kept.
    """
    E = v.size
    t = g.tidx[v]
    if (not g.n_transit or (E <= g.scan_links and g._out_deg[v].sum() <= g.scan_links)
            or t.min() < 0):                  # (not a transit node: cannot be on a path)
        return [(None,) + scan_next_links(g, v, dst, row, ovr, src)]
    d = g._rows[row, t]
    d[v == ovr] = 1
    parts = []
    one = d == 1
    n1 = int(np.count_nonzero(one))
    if n1:
        e1 = None if n1 == E else np.flatnonzero(one)
        parts += _to_dst(g, e1, v, dst, ovr)
    if n1 == E:
        return parts
    two = (d == 2) & (ovr >= 0)
    n2 = int(np.count_nonzero(two))
    if n2:              # the links v -> A
        if n2 == E:
            e2, r2, t2, a2 = None, row, t, ovr
        else:
            e2 = np.flatnonzero(two)
            r2, t2, a2 = row[e2], t[e2], ovr[e2]
        slot = g._att_slot[a2] + g._rank[r2, t2]
        st = g._slot_ptr[slot]
        parts.append((e2, g._slot_links, st, g._slot_ptr[slot + 1] - st))
    if n1 + n2 < E:
        if n1 + n2 == 0:
            parts.append((None,) + _level_links(g, row, t, v))
        else:
            e3 = np.flatnonzero(~(one | two))
            parts.append((e3,) + _level_links(g, row[e3], t[e3], v[e3]))
    return parts


def _to_dst(g, ent, v, dst, ovr) -> list:
    """Parts of :func:`next_hops` for entries ``ent`` one hop from their destination."""
    if ent is not None:
        v, dst, ovr = v[ent], dst[ent], ovr[ent]
    fast = ovr >= 0                           # at A, the one switch above the GPU
    if g._gpu_in is not None:
        fast &= ~g._gpu_in[dst]
    nf = int(np.count_nonzero(fast))
    parts = []
    if nf:
        if nf == dst.size:
            ef, x = ent, dst
        else:
            sel = np.flatnonzero(fast)
            ef, x = (sel if ent is None else ent[sel]), dst[sel]
        parts.append((ef, g.in_links, g.in_ptr[x], g._in_deg[x]))
    if nf < dst.size:                         # the destination's in-links from v
        sel = np.flatnonzero(~fast)
        es = sel if ent is None else ent[sel]
        x = dst[sel]
        rep, idx = _segments(g.in_ptr[x], g._in_deg[x])
        ok = g._in_src[idx] == v[sel][rep]
        parts.append((es, g.in_links[idx[ok]]) + _csr(rep[ok], x.size))
    return parts


def _level_links(g, row, t, v):
    """(links, start, count) of the out-links of ``v[i]`` (transit index ``t[i]``) to a
    transit node one step closer in row ``row[i]``: from the dense (row, node) cache while it
    is small enough, listing the pairs not seen yet; else per distinct pair."""
    T = g.n_transit
    cache = g._nl
    # (sized by the rows' capacity, not their count: it grows as seldom as the rows do)
    if g._rows.shape[0] * T <= g.cache_entries and not cache.full:
        cache.reserve(g._rows.shape[0] * T)
        key = row * T + t
        sc = cache.lookup(key)
        miss = sc[:, 0] == 0
        if miss.any():
            _list_level_links(g, _unique(key[miss]))
            sc = cache.lookup(key)
        return cache.links, sc[:, 0] - 1, sc[:, 1]     # (int32)
    n = g.topo.n_nodes
    upair, inv = _unique_inverse(row * n + v)
    links, ptr = _next_level_links(g, upair % n, upair // n)
    return links, ptr[:-1][inv], (ptr[1:] - ptr[:-1])[inv]


def _pull_groups(g, r, t, d):
    """The (row, level) groups of pairs (row ``r[i]``, transit index ``t[i]`` at ``d[i]``
    hops) cheaper to list by pulling -> (group of each pair, [(group, row, level, the nodes
    at level - 1)]); (None, []) when no group can be (pushing all costs at most one row)."""
    deg = g._tt_deg[t]
    T = g.n_transit
    if deg.sum() <= T:
        return None, []
    D = int(d.max()) + 1
    R = int(r.max()) + 1
    if R * D <= r.size + (1 << 16):
        ugrp, grp = _unique_nodes(r * D + d, R * D)
    else:
        ugrp, grp = _unique_inverse(r * D + d)
    push_cost = np.bincount(grp, weights=deg, minlength=ugrp.size)
    pulled = []
    for gi in np.flatnonzero(push_cost > T).tolist():
        rg, lev = divmod(int(ugrp[gi]), D)
        nodes, cost = g._level(rg, lev - 1)
        if cost < push_cost[gi]:
            pulled.append((gi, rg, lev, nodes))
    return grp, pulled


def _pull_in_links(g, pulled: list):
    """The transit in-links into the next-level nodes of each pulled group -> (index into
    ``pulled``, transit index of the link's source, link) per link."""
    w = np.concatenate([p[3] for p in pulled])
    gw = np.repeat(np.arange(len(pulled)), [p[3].size for p in pulled])
    rep, idx = _segments(g.in_ptr[w], g._in_deg[w])
    tu = g.tidx[g._in_src[idx]]
    ok = np.flatnonzero(tu >= 0)
    return gw[rep[ok]], tu[ok], g.in_links[idx[ok]]


def _push_level_links(g, row, t, d, sel=None):
    """(pair, link) of the transit out-links of pairs ``sel`` (all: None) at transit index
    ``t`` and ``d`` hops in ``row`` to a node at ``d - 1``, by pair and link id."""
    if sel is None:
        e_pair, idx = _segments(g._tt_ptr[t], g._tt_deg[t])
    else:
        ts = t[sel]
        e_pair, idx = _segments(g._tt_ptr[ts], g._tt_deg[ts])
        e_pair = sel[e_pair]
    ok = g._rows[row[e_pair], g._tt_dst[idx]] == d[e_pair] - 1
    return e_pair[ok], g._tt_links[idx[ok]]


def _list_level_links(g, keys: np.ndarray) -> None:
    """Fill the cache entries ``keys`` (row * n_transit + transit index, sorted): as
    :func:`_next_level_links`, but a pulled (row, level) group is listed for every node of the
    level at once (its next level's in-links give them all), so the ~10^3 cores of a row take
    one pass instead of one per batch of flows."""
    T = g.n_transit
    cache = g._nl
    r, t = np.divmod(keys, T)
    d = g._rows[r, t].astype(np.int64)
    _, pulled = _pull_groups(g, r, t, d)
    if pulled:
        j, tu, links = _pull_in_links(g, pulled)
        g_r = np.array([p[1] for p in pulled], dtype=np.int64)[j]
        g_lev = np.array([p[2] for p in pulled], dtype=np.int64)[j]
        at = g._rows[g_r, tu] == g_lev            # from a node of the pulled level
        key, links = g_r[at] * T + tu[at], links[at]
        new = cache.missing(key)                  # (not listed by a scan before)
        key, links = key[new], links[new]
        order = np.argsort(key * g.topo.n_links + links)
        key, links = key[order], links[order]
        first = _run_starts(key)
        cache.store(key[first], links, np.r_[first, key.size])
        left = cache.missing(keys)
        keys, r, t, d = keys[left], r[left], t[left], d[left]
    if keys.size:
        pairs, links = _push_level_links(g, r, t, d)
        cache.store(keys, links, _indptr(np.bincount(pairs, minlength=keys.size)))


def _next_level_links(g, v: np.ndarray, row: np.ndarray):
    """Out-links of node ``v[i]`` to a transit node one step closer in row ``row[i]``, by link
    id, for distinct (node, row) pairs sorted by (row, node) -> (links, CSR pointer per pair).

    Per (row, level) group of pairs the cheaper of two exact listings: push (scan the transit
    out-links of the group's nodes, a leaf's 32 up-links) or pull (the in-links of the row's
    next level, from the group's nodes). A row's levels are listed once (reading a whole
    row), and only for groups whose scan costs more than that.
    """
    T = g.n_transit
    P = v.size
    t = g.tidx[v]
    d = g._rows[row, t].astype(np.int64)
    grp, pulled = _pull_groups(g, row, t, d)
    push = None                                # pairs listed by a scan (None: all)
    if pulled:
        G = len(pulled)
        local = np.full(int(grp.max()) + 1, -1, dtype=np.int64)
        local[[p[0] for p in pulled]] = np.arange(G)
        lg = local[grp]
        sel = np.flatnonzero(lg >= 0)
        where = np.full(G * T, -1, dtype=np.int64)       # (group, node) -> pair
        where[lg[sel] * T + t[sel]] = sel
        j, tu, links = _pull_in_links(g, pulled)
        pos = where[j * T + tu]
        hit = pos >= 0
        pulled_pairs, pulled_links = pos[hit], links[hit]
        push = np.flatnonzero(lg < 0)
    pairs, links = _push_level_links(g, row, t, d, push)
    if pulled:
        pairs = np.concatenate([pairs, pulled_pairs])
        links = np.concatenate([links, pulled_links])
        order = np.argsort(pairs * g.topo.n_links + links)
        pairs, links = pairs[order], links[order]
    return links, _indptr(np.bincount(pairs, minlength=P))
