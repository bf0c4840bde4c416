"""Shortest-path routing with ECMP, vectorised over batches of flows.

Rules (what real AI fabrics do):

* GPUs never forward traffic, except in direct networks (ring/torus) where they are the routers.
* Two GPUs of the same scale-up domain talk over the scale-up fabric only (NVLink does not
  spill onto the NIC); GPUs of different domains use the scale-out fabric only, when every
  GPU has one; otherwise the whole graph.
* Among equal-cost (fewest-hop) next hops, ``ecmp-hash`` picks one per flow by a hash of
  (seed, src, dst, hop) — deterministic, like a 5-tuple hash with fixed ports — and
  ``ecmp-even`` splits the flow evenly at every hop (per-packet spraying in the fluid limit),
  so a link may carry a fraction ``coef`` of a flow.
* A GPU whose NIC has several equal-cost ports (multi-plane: one port per plane) spreads each
  flow evenly over them in both modes, as multi-plane NICs do (``spray_planes``).

Distances (hops to a destination node, per transit node) are stored as shared *rows* plus at
most one *override* node per destination:

* A GPU hanging off one switch ``A`` reaches it only through ``A``, so every other transit node
  ``v`` is ``2 + (hops from v to N(A))`` away, ``N(A)`` being the transit nodes with a link into
  ``A``; ``A`` itself is 1 away. All leaves of a pod (same spines above them) share one row,
  and every NVSwitch of the scale-up graph (nothing above it) the one all-unreachable row,
  so a 131k-GPU fabric needs ~10^2 rows, not one per leaf or per NVSwitch.
* Other destinations (multi-plane NICs: several switches; GPUs of direct networks: transit
  themselves; a switch with a link to itself) get a row of their own, the plain reverse BFS.

Paths of a batch are walked hop by hop for all flows at once. At each hop the equal-cost next
links of a flow are those toward a node one hop closer (or straight to the destination); with
many flows they are listed once per distinct (node, row) and each flow picks from its list, by
link id as a scan of the node's out-links would give them (the same ECMP choices either way).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import numpy as np

from sim.errors import CposimError

ROUTINGS = ("ecmp-hash", "ecmp-even")
_INF = np.int64(1 << 29)       # "unreachable" in computed costs


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 (wrapping arithmetic)."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x


def _flow_key(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """What the ECMP hash of a flow (src, dst node) reads."""
    with np.errstate(over="ignore"):
        return src.astype(np.uint64) * np.uint64(1 << 32) + dst.astype(np.uint64)


def _flow_hash(key: np.ndarray, seed: int, hop: int) -> np.ndarray:
    """The ECMP hash of flows at ``hop``: one salt per (seed, hop)."""
    return _mix(key ^ np.uint64(_salt(int(seed), int(hop))))


@functools.lru_cache(maxsize=4096)
def _salt(seed: int, hop: int) -> int:
    """:func:`_mix` of (seed, hop) on Python ints (one value: numpy's per-call cost is 10x)."""
    m = 0xFFFFFFFFFFFFFFFF
    x = (seed * 0x9E3779B97F4A7C15 + hop * 0x632BE59BD9B4E019) & m
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & m
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & m
    return x ^ (x >> 31)


def _unique(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values (``np.unique`` without the inverse hashes on numpy 2.x, ~20x
    slower than a sort for 10^6 int64)."""
    x = np.sort(x)
    return x[np.r_[True, x[1:] != x[:-1]]] if x.size else x


def _unique_inverse(x: np.ndarray):
    """``np.unique(x, return_inverse=True)`` by a stable sort: the keys of a batch of flows
    come in runs (a ring's consecutive GPUs), which a merge sort takes in ~linear time."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    first = np.r_[True, xs[1:] != xs[:-1]] if x.size else np.zeros(0, dtype=bool)
    inv = np.empty(x.size, dtype=np.int64)
    inv[order] = np.cumsum(first) - 1
    return xs[first], inv


def _unique_nodes(x: np.ndarray, n: int):
    """``np.unique(x, return_inverse=True)`` for node ids ``0 <= x < n``, by marking instead
    of sorting (10^5 destination GPUs at once)."""
    seen = np.zeros(n, dtype=bool)
    seen[x] = True
    u = np.flatnonzero(seen)
    where = np.zeros(n, dtype=np.int64)
    where[u] = np.arange(u.size)
    return u, where[x]


def _segments(starts: np.ndarray, counts: np.ndarray):
    """(segment of each element, flat index) of the concatenated ranges
    ``starts[i] .. starts[i] + counts[i]``."""
    seg = np.repeat(np.arange(counts.size), counts)
    idx = np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(seg.size)
    return seg, idx


def route_entries(ptr: np.ndarray, rids: np.ndarray):
    """Entries of routes ``rids`` in a CSR route table (pointer ``ptr``), route by route:
    (index into ``rids`` of each entry, index into the table's links / coef)."""
    return _segments(ptr[rids], ptr[rids + 1] - ptr[rids])


def _csr(rep: np.ndarray, n: int):
    """(start, count) of each of ``n`` groups in an array grouped by ``rep`` (sorted)."""
    count = np.bincount(rep, minlength=n)
    return np.cumsum(count) - count, count


def _no_route(topo, s: int, d: int) -> CposimError:
    return CposimError(f"no route from node {topo.node_name[s]} to {topo.node_name[d]}",
                       field="topology")


class RouteGraph:
    """Shortest paths on a subset of the topology's directed links."""

    def __init__(self, topo, link_ids: np.ndarray) -> None:
        self.topo = topo
        # sorted: every list of equal-cost links below is in link-id order, the ECMP order
        self.link_ids = np.sort(np.asarray(link_ids, dtype=np.int64), kind="stable")
        n = topo.n_nodes
        self.transit = (topo.kind != "gpu") if not topo.direct else np.ones(n, dtype=bool)
        src = topo.src[self.link_ids]
        order = np.argsort(src, kind="stable")
        self.out_links = self.link_ids[order]                         # global link ids
        self.out_ptr = np.concatenate(([0], np.cumsum(np.bincount(src, minlength=n))))
        dst = topo.dst[self.link_ids]
        order = np.argsort(dst, kind="stable")
        self.in_links = self.link_ids[order]
        self.in_ptr = np.concatenate(([0], np.cumsum(np.bincount(dst, minlength=n))))
        # distance rows index only the transit nodes of this graph (the scale-up graph of a
        # 131k-GPU fabric has 16k of the 26k switches, the scale-out graph 9k)
        in_graph = np.zeros(n, dtype=bool)
        in_graph[src] = True
        in_graph[dst] = True
        t_nodes = np.flatnonzero(self.transit & in_graph)
        self.tidx = np.full(n, -1, dtype=np.int64)
        self.tidx[t_nodes] = np.arange(t_nodes.size)
        self._t_nodes = t_nodes
        self.n_transit = t_nodes.size
        # transit -> transit links (transit indices), by source: the reverse BFS groups by it
        os_, od = topo.src[self.out_links], topo.dst[self.out_links]
        tt = self.transit[os_] & self.transit[od]
        self._tt_src = self.tidx[os_[tt]]
        self._tt_dst = self.tidx[od[tt]]
        # which GPUs have any link in this graph
        self.has_link = np.zeros(n, dtype=bool)
        self.has_link[src] = True
        self._by_pair = None             # lazily: see _lookup
        # a hop whose entries have at most this many out-links in all scans them (a few
        # numpy calls); more are split by distance and share per-(node, row) link lists
        self.scan_links = 4096
        # distance rows (int16 while hop counts fit) in a buffer that grows by doubling
        self._dtype = np.int16 if self.n_transit + 3 < np.iinfo(np.int16).max else np.int32
        self._unreach = np.iinfo(self._dtype).max
        self._rows = np.zeros((0, self.n_transit), dtype=self._dtype)
        self._n_rows = 0
        self._row_of: dict = {}          # (first level, seed transit indices) -> row
        # per destination node: its row and override node (-1: not known yet / none)
        self._node_row = np.full(n, -1, dtype=np.int64)
        self._node_ovr = np.full(n, -1, dtype=np.int64)
        self._att = None                 # lazily: see _attachments
        self._rows_ready = False
        self._bfs_order = None

    # -- distance rows ----------------------------------------------------------------
    def _attachments(self):
        """(the one transit node each non-transit node hangs off, -1: none or several;
        whether each transit node has a link to itself)."""
        if self._att is None:
            topo = self.topo
            inl = self.in_links                       # grouped by destination
            ok = self.transit[topo.src[inl]] & ~self.transit[topo.dst[inl]]
            d, u = topo.dst[inl[ok]], topo.src[inl[ok]]
            single = np.full(topo.n_nodes, -1, dtype=np.int64)
            if d.size:
                first = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
                lo, hi = np.minimum.reduceat(u, first), np.maximum.reduceat(u, first)
                single[d[first[lo == hi]]] = lo[lo == hi]
            loop = np.zeros(self.n_transit, dtype=bool)
            loop[self._tt_src[self._tt_src == self._tt_dst]] = True
            self._att = (single, loop)
        return self._att

    def _new_row(self, d0: int, seeds, pending: list) -> int:
        """Row index of the BFS from transit indices ``seeds`` at level ``d0``; a new row is
        queued in ``pending`` and filled by :meth:`_fill_rows`."""
        key = (d0 if len(seeds) else None, tuple(seeds))
        r = self._row_of.get(key)
        if r is None:
            r = self._n_rows
            if r >= self._rows.shape[0]:
                grown = np.zeros((max(16, 2 * r), self.n_transit), dtype=self._dtype)
                grown[:r] = self._rows[:r]
                self._rows = grown
            self._n_rows += 1
            self._row_of[key] = r
            pending.append((r, d0, np.asarray(seeds, dtype=np.int64)))
        return r

    def _dst_tables(self, nodes: np.ndarray):
        """(row, override node) of each destination node, making the missing ones."""
        nodes = np.asarray(nodes, dtype=np.int64)
        if not self._rows_ready:
            # every GPU hanging off one switch, at once: their ~10^2 shared rows then take a
            # few BFS passes instead of a few per batch of flows
            self._rows_ready = True
            single = self._attachments()[0]
            self._add_dsts(np.flatnonzero(single >= 0))
        miss = _unique(nodes[self._node_row[nodes] < 0])
        if miss.size:
            self._add_dsts(miss)
        return self._node_row[nodes], self._node_ovr[nodes]

    def _add_dsts(self, nodes: np.ndarray) -> None:
        single, loop = self._attachments()
        pending: list = []
        a = np.where(self.transit[nodes], -1, single[nodes])
        two = a >= 0
        two[two] = ~loop[self.tidx[a[two]]]
        # one attachment A: the row of N(A) from level 2, A overridden to 1
        ua, inv = _unique_nodes(a[two], self.topo.n_nodes)
        ptr, nb = self._in_neighbours(ua)
        rows = np.zeros(ua.size, dtype=np.int64)
        empty = ptr[1:] == ptr[:-1]
        if empty.any():                       # nothing above A (an NVSwitch): unreachable
            rows[empty] = self._new_row(2, (), pending)
        ptr, nb = ptr.tolist(), nb.tolist()
        for i in np.flatnonzero(~empty).tolist():
            rows[i] = self._new_row(2, nb[ptr[i]:ptr[i + 1]], pending)
        self._node_row[nodes[two]] = rows[inv]
        self._node_ovr[nodes[two]] = ua[inv]
        # the rest get a row of their own: the BFS from the node itself (a transit node), or
        # from every switch it hangs off (several, none, or one with a link to itself)
        rest = nodes[~two]
        tr = self.transit[rest]
        for x in rest[tr].tolist():               # (no link in this graph: unreachable)
            seeds = (int(self.tidx[x]),) if self.tidx[x] >= 0 else ()
            self._node_row[x] = self._new_row(0, seeds, pending)
        gpus = rest[~tr]
        ptr, nb = self._in_neighbours(gpus)
        ptr, nb = ptr.tolist(), nb.tolist()
        for i, x in enumerate(gpus.tolist()):
            self._node_row[x] = self._new_row(1, nb[ptr[i]:ptr[i + 1]], pending)
        self._fill_rows(pending)

    def _in_neighbours(self, nodes: np.ndarray):
        """Distinct transit in-neighbours of each of ``nodes`` as sorted transit indices
        -> (CSR pointer per node, indices)."""
        topo = self.topo
        rep, idx = _segments(self.in_ptr[nodes], self.in_ptr[nodes + 1] - self.in_ptr[nodes])
        u = topo.src[self.in_links[idx]]
        keep = self.transit[u]
        key = _unique(rep[keep] * topo.n_nodes + u[keep])
        ptr = np.concatenate(([0], np.cumsum(np.bincount(key // topo.n_nodes,
                                                         minlength=nodes.size))))
        return ptr, self.tidx[key % topo.n_nodes]

    def _fill_rows(self, pending: list) -> None:
        """Reverse BFS of the queued rows: bit-parallel, 64 rows per pass over the transit
        links (one pass per row was 3 ms each on a 131k-GPU fabric's 0.5 M links)."""
        if self._bfs_order is None:
            src = self._tt_src                       # sorted: grouped by source
            starts = (np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
                      if src.size else np.zeros(0, dtype=np.int64))
            self._bfs_order = (self._tt_dst, starts, src[starts])
        dst_sorted, starts, usrc = self._bfs_order
        T = self.n_transit
        for d0 in sorted({p[1] for p in pending}):
            todo = [p for p in pending if p[1] == d0]
            for lo in range(0, len(todo), 64):
                batch = todo[lo:lo + 64]
                B = len(batch)
                bits = np.left_shift(np.uint64(1), np.arange(B, dtype=np.uint64))
                sb = np.repeat(np.arange(B), [p[2].size for p in batch])
                st = np.concatenate([p[2] for p in batch])
                dist = np.full((B, T), self._unreach, dtype=self._dtype)
                dist[sb, st] = d0
                frontier = np.zeros(T, dtype=np.uint64)
                np.bitwise_or.at(frontier, st, bits[sb])
                visited = frontier.copy()
                level = d0
                while dst_sorted.size and frontier.any():
                    reach = np.zeros(T, dtype=np.uint64)
                    reach[usrc] = np.bitwise_or.reduceat(frontier[dst_sorted], starts)
                    frontier = reach & ~visited
                    nz = np.flatnonzero(frontier)
                    if not nz.size:
                        break
                    level += 1
                    visited |= frontier
                    hit = (frontier[nz][:, None] & bits[None, :]) != 0      # (nodes, rows)
                    r, c = np.nonzero(hit)
                    dist[c, nz[r]] = level
                self._rows[[p[0] for p in batch]] = dist

    def _dist(self, row: np.ndarray, ovr: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Hops from node ``v[i]`` to the destination of (``row[i]``, ``ovr[i]``);
        ``_INF`` for non-transit or unreachable nodes."""
        ti = self.tidx[v]
        if not self.n_transit:                    # GPU-to-GPU links only
            return np.full(v.size, _INF)
        d = self._rows[row, np.maximum(ti, 0)].astype(np.int64)
        d[(ti < 0) | (d == self._unreach)] = _INF
        d[v == ovr] = 1
        return d

    # -- next hops --------------------------------------------------------------------
    def _lookup(self, a: np.ndarray, b: np.ndarray):
        """Link ids a[i] -> b[i] (parallel links allowed, by link id): (entry -> i, link ids)."""
        n = self.topo.n_nodes
        if self._by_pair is None:      # distinct (src, dst) keys, their first link, links
            # (out-links are grouped by source already: a stable sort of them is ~linear)
            pk = self.topo.src[self.out_links] * n + self.topo.dst[self.out_links]
            order = np.argsort(pk, kind="stable")
            pk = pk[order]
            first = np.flatnonzero(np.r_[True, pk[1:] != pk[:-1]]) if pk.size else order[:0]
            self._by_pair = (pk[first], np.r_[first, pk.size], self.out_links[order])
        keys, ptr, links = self._by_pair
        if not keys.size:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        key = a * n + b
        pos = np.minimum(np.searchsorted(keys, key), keys.size - 1)
        rep, idx = _segments(ptr[pos], np.where(keys[pos] == key, ptr[pos + 1] - ptr[pos], 0))
        return rep, links[idx]

    def _scan(self, v, dst, row, ovr, src):
        """Equal-cost next links of entries at node ``v[i]`` (of a flow ``src[i]`` ->
        ``dst[i]``) by costing every out-link: 0 straight to the destination, else the hops
        left from its end -> (links, start, count) per entry; no way on: the error names the
        first such flow."""
        deg = self.out_ptr[v + 1] - self.out_ptr[v]
        rep, idx = _segments(self.out_ptr[v], deg)
        links = self.out_links[idx]
        w = self.topo.dst[links]
        cost = self._dist(row[rep], ovr[rep], w)
        cost[w == dst[rep]] = 0
        if np.any(deg == 0):
            bad = np.flatnonzero(deg == 0)[0]
            raise _no_route(self.topo, src[bad], dst[bad])
        cmin = np.minimum.reduceat(cost, np.cumsum(deg) - deg)
        if np.any(cmin >= _INF):
            bad = np.flatnonzero(cmin >= _INF)[0]
            raise _no_route(self.topo, src[bad], dst[bad])
        cand = cost == cmin[rep]
        return (links[cand],) + _csr(rep[cand], v.size)

    def _next_hops(self, v, dst, row, ovr, src):
        """Equal-cost next links of entries at transit node ``v[i]`` (on a shortest path, so
        ``d = dist(v) >= 1``) -> (links, start, count) per entry. A few entries scan their
        out-links (:meth:`_scan`); many are split by ``d``:

        * ``d == 1``: the link(s) straight to the destination;
        * ``d == 2`` with an override ``A``: the link(s) to ``A`` (the only node 1 away);
        * otherwise the links to a transit node at ``d - 1``, which depend on ``(v, row)``
          only (``A`` is never a neighbour then): listed once per distinct pair.
        """
        topo = self.topo
        if (self.out_ptr[v + 1] - self.out_ptr[v]).sum() <= self.scan_links:
            return self._scan(v, dst, row, ovr, src)
        d = self._dist(row, ovr, v)
        parts = []          # (entries, start in the part's links, count, the part's links)
        one = np.flatnonzero(d == 1)
        if one.size:        # the destination's in-links from v (a GPU has a few)
            x = dst[one]
            rep, idx = _segments(self.in_ptr[x], self.in_ptr[x + 1] - self.in_ptr[x])
            links = self.in_links[idx]
            ok = topo.src[links] == v[one][rep]
            parts.append((one, *_csr(rep[ok], one.size), links[ok]))
        two = np.flatnonzero((d == 2) & (ovr >= 0))
        if two.size:        # the links v -> A
            rep, links = self._lookup(v[two], ovr[two])
            parts.append((two, *_csr(rep, two.size), links))
        if one.size + two.size < v.size:
            rest = np.flatnonzero((d > 2) | ((d == 2) & (ovr < 0)))
            n_nodes = topo.n_nodes
            upair, inv = _unique_inverse(row[rest] * n_nodes + v[rest])
            links, ptr = self._next_level_links(upair % n_nodes, upair // n_nodes)
            parts.append((rest, ptr[:-1][inv], (ptr[1:] - ptr[:-1])[inv], links))
        if len(parts) == 1 and parts[0][0].size == v.size:
            return parts[0][3], parts[0][1], parts[0][2]
        start = np.empty(v.size, dtype=np.int64)
        count = np.empty(v.size, dtype=np.int64)
        off = 0
        for ent, st, c, links in parts:
            start[ent] = off + st
            count[ent] = c
            off += links.size
        return np.concatenate([p[3] for p in parts]), start, count

    def _next_level_links(self, v: np.ndarray, row: np.ndarray):
        """Out-links of node ``v[i]`` to a transit node one step closer in row ``row[i]``, by
        link id, for distinct (node, row) pairs sorted by (row, node) -> (links, CSR pointer
        per pair).

        Per (row, level) group of pairs the cheaper of two exact listings: scan the out-links
        of the group's nodes (a leaf's 64 ports), or the in-links of the row's next level (a
        core has a link to every pod's spine, but the 32 spines above the destination leaf
        have only ~2k in-links; scanning 128 core ports per pair was most of the routing
        time). Finding a level reads a whole row, so only groups whose scan costs more than
        that are considered.
        """
        rows, topo, T = self._rows, self.topo, self.n_transit
        n = topo.n_nodes
        d = rows[row, self.tidx[v]].astype(np.int64)
        deg_out = self.out_ptr[v + 1] - self.out_ptr[v]
        push = np.ones(v.size, dtype=bool)
        parts = []                                 # (pair, link) lists
        if deg_out.sum() > T:                      # else no group can be worth a pull
            ugrp, grp = _unique_inverse(row * (1 << 32) + d)
            push_cost = np.bincount(grp, weights=deg_out, minlength=ugrp.size)
            cands = np.flatnonzero(push_cost > T)
        else:
            cands = np.zeros(0, dtype=np.int64)
        step = max(1, (1 << 22) // max(T, 1))           # rows read at once: ~4M entries
        for lo in range(0, cands.size, step):
            g = cands[lo:lo + step]
            g_row, g_d = ugrp[g] >> 32, ugrp[g] & 0xFFFFFFFF
            lg, lt = np.nonzero(rows[g_row] == (g_d - 1)[:, None])     # the next levels
            level = self._t_nodes[lt]
            n_in = self.in_ptr[level + 1] - self.in_ptr[level]
            pull = np.bincount(lg, weights=n_in, minlength=g.size) < push_cost[g]
            if not pull.any():
                continue
            sel = pull[lg]
            rep, idx = _segments(self.in_ptr[level[sel]], n_in[sel])
            links = self.in_links[idx]
            # the pair (row, link source), if asked about and in this group
            key = g_row[lg[sel][rep]] * n + topo.src[links]
            pos = np.minimum(np.searchsorted(row * n + v, key), v.size - 1)
            hit = (row[pos] * n + v[pos] == key) & (grp[pos] == g[lg[sel][rep]])
            parts.append((pos[hit], links[hit]))
            push[np.isin(grp, g[pull])] = False
        sel = np.flatnonzero(push)
        e_pair, idx = _segments(self.out_ptr[v[sel]], deg_out[sel])
        e_pair = sel[e_pair]
        e_link = self.out_links[idx]
        ti = self.tidx[topo.dst[e_link]]
        ok = (ti >= 0) & (rows[row[e_pair], np.maximum(ti, 0)] == d[e_pair] - 1)
        pairs = np.concatenate([e_pair[ok]] + [p[0] for p in parts])
        links = np.concatenate([e_link[ok]] + [p[1] for p in parts])
        if parts:
            order = np.argsort(pairs * topo.n_links + links)
            pairs, links = pairs[order], links[order]
        return links, np.concatenate(([0], np.cumsum(np.bincount(pairs, minlength=v.size))))

    # -- paths ------------------------------------------------------------------------
    def paths(self, src: np.ndarray, dst: np.ndarray, *, mode: str, seed: int,
              spray_source: bool = False):
        """Routes for node pairs -> (indptr, links, coef, latency_s) per pair; each route's
        links sorted by link id.

        ``spray_source``: split evenly over a source GPU's equal-cost NIC ports (planes) even
        in hash mode; the hash then picks one path within each.
        """
        topo = self.topo
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        row, ovr = self._dst_tables(dst)
        fkey = _flow_key(src, dst)
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
            if hop == 0:                 # a GPU's NIC ports, or a router of a direct network
                cand, start, count = self._scan(src, dst, row, ovr, src)
            else:
                cand, start, count = self._next_hops(e_node, dst[e_f], row[e_f], ovr[e_f],
                                                     src[e_f])
                if np.any(count == 0):          # cannot happen on a shortest path
                    bad = e_f[np.flatnonzero(count == 0)[0]]
                    raise _no_route(topo, src[bad], dst[bad])
            if mode == "ecmp-hash" and not (spray_source and hop == 0):
                pick = np.zeros(e_f.size, dtype=np.int64)
                multi = np.flatnonzero(count > 1)          # the hash decides only these
                if multi.size:
                    h = _flow_hash(fkey[e_f[multi]], seed, hop)
                    pick[multi] = h % count[multi].astype(np.uint64)
                cl = cand[start + pick]
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
                key = cf * topo.n_nodes + cw
                uk, inv = _unique_inverse(key)
                frac = np.bincount(inv, weights=frac)
                lat = np.zeros(uk.size)
                np.maximum.at(lat, inv, clat)
                cf, cw, clat = uk // topo.n_nodes, uk % topo.n_nodes, lat
            e_f, e_node, e_frac, e_lat = cf, cw, frac, clat
            hop += 1
            if hop > topo.n_nodes:
                raise CposimError("routing did not converge", field="topology")
        if not split:                    # one link per flow and hop, each with all of it
            return _paths_by_flow(F, topo.n_links, out_f, out_l) + (fin_lat,)
        return _by_flow(F, topo.n_links, out_f, out_l, out_c) + (fin_lat,)


def _paths_by_flow(F: int, n_links: int, out_f: list, out_l: list):
    """:func:`_by_flow` of unsplit flows (at most one link per flow and hop, coef 1): a
    (flow, hop) matrix sorted row by row, when that is not mostly padding."""
    H = len(out_l)
    n = sum(x.size for x in out_l)
    if F * H > 4 * n + 1024:
        return _by_flow(F, n_links, out_f, out_l, [np.ones(x.size) for x in out_l])
    m = np.full((F, H), n_links, dtype=np.int64)          # n_links: no link at this hop
    for h, (f, links) in enumerate(zip(out_f, out_l)):
        m[f, h] = links
    m.sort(axis=1)
    has = m < n_links
    return (np.concatenate(([0], np.cumsum(has.sum(axis=1)))), m[has], np.ones(n))


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
    return np.concatenate(([0], np.cumsum(np.bincount(f, minlength=F)))), links, coef


class _PairIndex(Mapping):
    """GPU pair key -> route id of every pair routed so far, as a few sorted runs (a run is
    merged into the one before when that is at most twice its size, so there are
    O(log n) runs and each key is moved O(log n) times). A dict cost ~1 us per pair to fill
    and probe, ~0.5 s for the 5 * 10^5 pairs of a 131k-GPU iteration. Reads like a dict
    (``get``, ``keys``, ``values``; keys in order)."""

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []    # (keys, ids), longest first

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Route ids of ``keys`` (-1: not known)."""
        out = np.full(keys.size, -1, dtype=np.int64)
        for k, v in self._runs:
            pos = np.minimum(np.searchsorted(k, keys), k.size - 1)
            hit = k[pos] == keys
            out[hit] = v[pos[hit]]
        return out

    def add(self, keys: np.ndarray, ids: np.ndarray) -> None:
        """Add new keys (sorted, distinct, not known yet)."""
        if keys.size:
            self._runs.append((keys, ids))
        while len(self._runs) > 1 and self._runs[-2][0].size <= 2 * self._runs[-1][0].size:
            self._merge_last()

    def _merge_last(self) -> None:
        (k2, v2), (k1, v1) = self._runs.pop(), self._runs.pop()
        pos = np.searchsorted(k1, k2)
        self._runs.append((np.insert(k1, pos, k2), np.insert(v1, pos, v2)))

    def _merged(self):
        while len(self._runs) > 1:
            self._merge_last()
        return self._runs[0] if self._runs else (np.zeros(0, np.int64),) * 2

    def __getitem__(self, key) -> int:
        rid = int(self.lookup(np.array([key], dtype=np.int64))[0])
        if rid < 0:
            raise KeyError(key)
        return rid

    def __len__(self) -> int:
        return sum(k.size for k, _ in self._runs)

    def __iter__(self):
        return iter(self._merged()[0].tolist())

    def keys(self):
        return self._merged()[0].tolist()

    def values(self):
        return self._merged()[1].tolist()


class Router:
    """Routes between GPUs with the scale-up / scale-out split; caches every pair's route."""

    def __init__(self, topo, *, routing: str = "ecmp-hash", seed: int = 0,
                 spray_planes: bool = True) -> None:
        if routing not in ROUTINGS:
            raise CposimError(f"unknown routing '{routing}' (choose from {', '.join(ROUTINGS)})",
                              field="routing")
        self.topo = topo
        self.mode = routing
        self.seed = int(seed)
        # a GPU with several equal-cost NIC ports (a multi-plane NIC) spreads each flow over
        # them; not in direct networks, where a GPU's links are the network itself
        self.spray = bool(spray_planes) and not topo.direct
        up = np.flatnonzero(topo.tier == "scaleup")
        out = np.flatnonzero(topo.tier != "scaleup")
        self.g_up = RouteGraph(topo, up) if up.size else None
        self.g_out = RouteGraph(topo, out) if out.size else None
        self._g_all = None             # the whole graph, built when a pair needs it
        g = topo.gpu_node
        self.out_ok = self.g_out is not None and bool(self.g_out.has_link[g].all())
        self.up_ok = (np.zeros(topo.n_gpus, dtype=bool) if self.g_up is None
                      else self.g_up.has_link[g])
        self._rid = _PairIndex()                       # every known pair -> route id
        self._n_routes = 0
        self._nnz = 0
        self._ptr = np.zeros(1024, dtype=np.int64)
        self._links = np.zeros(4096, dtype=np.int64)
        self._coef = np.zeros(4096)
        self._lat = np.zeros(1024)
        self._bneck = np.zeros(1024)

    @property
    def g_all(self) -> RouteGraph:
        if self._g_all is None:
            self._g_all = RouteGraph(self.topo, np.arange(self.topo.n_links))
        return self._g_all

    @g_all.setter
    def g_all(self, graph: RouteGraph) -> None:
        self._g_all = graph

    # route table: CSR over route ids
    def route_ids(self, src_gpu: np.ndarray, dst_gpu: np.ndarray) -> np.ndarray:
        src_gpu = np.asarray(src_gpu, dtype=np.int64)
        dst_gpu = np.asarray(dst_gpu, dtype=np.int64)
        n = self.topo.n_gpus
        if src_gpu.size and (min(src_gpu.min(), dst_gpu.min()) < 0 or
                             max(src_gpu.max(), dst_gpu.max()) >= n):
            raise CposimError(f"GPU index out of range 0..{n - 1}", field="gpu")
        pairs = src_gpu * n + dst_gpu
        rids = self._rid.lookup(pairs)
        miss = np.flatnonzero(rids < 0)
        if miss.size:
            uniq, inv = _unique_inverse(pairs[miss])
            found = self._add(uniq // n, uniq % n)
            self._rid.add(uniq, found)
            rids[miss] = found[inv]
        return rids

    def _add(self, s: np.ndarray, d: np.ndarray) -> np.ndarray:
        topo = self.topo
        sn, dn = topo.gpu_node[s], topo.gpu_node[d]
        same = topo.scaleup_domain[s] == topo.scaleup_domain[d]
        use_up = same & self.up_ok[s] & self.up_ok[d]
        graphs = np.where(use_up, 0, np.where(self.out_ok, 1, 2))
        ptr = np.zeros(s.size + 1, dtype=np.int64)
        base = self._n_routes
        lens = np.zeros(s.size, dtype=np.int64)
        lat = np.zeros(s.size)
        order = []
        for gi in range(3):
            m = np.flatnonzero(graphs == gi)
            m = m[sn[m] != dn[m]]      # a GPU to itself: no links
            if m.size:
                g = self.g_up if gi == 0 else self.g_out if gi == 1 else self.g_all
                ip, ll, cc, la = g.paths(sn[m], dn[m], mode=self.mode, seed=self.seed,
                                         spray_source=self.spray and g is not self.g_up)
                lens[m] = np.diff(ip)
                lat[m] = la
                order.append((m, ip, ll, cc))
        if len(order) == 1 and order[0][0].size == s.size:     # one graph, nothing to merge
            _, ip, ll, cc = order[0]
            self._append(ip, ll, cc, lat)
            return base + np.arange(s.size)
        # assemble in the order of s
        ptr[1:] = np.cumsum(lens)
        L = np.zeros(ptr[-1], dtype=np.int64)
        C = np.zeros(ptr[-1])
        for m, ip, ll, cc in order:
            seg = np.diff(ip)
            dst_pos = np.repeat(ptr[m], seg) + (np.arange(ip[-1]) - np.repeat(ip[:-1], seg))
            L[dst_pos] = ll
            C[dst_pos] = cc
        self._append(ptr, L, C, lat)
        return base + np.arange(s.size)

    def table(self):
        """(indptr, links, coef, latency_s, bottleneck_bps) over all route ids so far (views)."""
        n, m = self._n_routes, self._nnz
        return (self._ptr[:n + 1], self._links[:m], self._coef[:m], self._lat[:n],
                self._bneck[:n])

    def _grow(self, name: str, need: int) -> None:
        # by 4x: fewer copies of a table of 10^6 links; the spare tail is never written, so
        # the OS never backs it with memory (np.zeros: calloc, pages mapped on first touch)
        arr = getattr(self, name)
        if need > arr.size:
            new = np.zeros(max(need, 4 * arr.size), dtype=arr.dtype)
            new[:arr.size] = arr
            setattr(self, name, new)

    def _append(self, ptr: np.ndarray, links: np.ndarray, coef: np.ndarray,
                lat: np.ndarray) -> None:
        """Append routes (amortised O(new) — routes are added one pair at a time too)."""
        n, m, k = self._n_routes, self._nnz, lat.size
        self._grow("_ptr", n + k + 1)
        self._grow("_lat", n + k)
        self._grow("_bneck", n + k)
        self._grow("_links", m + links.size)
        self._grow("_coef", m + links.size)
        self._ptr[n + 1:n + k + 1] = m + ptr[1:]
        self._links[m:m + links.size] = links
        self._coef[m:m + links.size] = coef
        self._lat[n:n + k] = lat
        lens = np.diff(ptr)
        bneck = np.full(k, np.inf)
        nz = lens > 0
        if nz.any():
            with np.errstate(divide="ignore"):
                per = self.topo.capacity_bps[links] / coef
            bneck[nz] = np.minimum.reduceat(per, ptr[:-1][nz])
        self._bneck[n:n + k] = bneck
        self._n_routes += k
        self._nnz += links.size
