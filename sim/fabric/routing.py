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
    """The ECMP hash of flows at ``hop``: one salt per (seed, hop) (:func:`_mix` in place)."""
    x = key ^ np.uint64(_salt(int(seed), int(hop)))
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


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
    where = np.empty(n, dtype=np.int64)     # read only where ``seen``: no need to clear
    where[u] = np.arange(u.size)
    return u, where[x]


def _unpack(x: np.ndarray, B: int) -> np.ndarray:
    """(n, B) bits 0..B-1 of uint64 ``x`` (uint8 0/1)."""
    return np.unpackbits(x.astype("<u8").view(np.uint8).reshape(-1, 8), axis=1,
                         bitorder="little")[:, :B]


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

    def __init__(self, topo, link_ids: np.ndarray, *, transit: np.ndarray | None = None) -> None:
        self.topo = topo
        # sorted: every list of equal-cost links below is in link-id order, the ECMP order
        ids = np.asarray(link_ids, dtype=np.int64)
        if ids.size > 1 and not (ids[1:] >= ids[:-1]).all():
            ids = np.sort(ids, kind="stable")
        self.link_ids = ids
        n = topo.n_nodes
        if transit is None:          # (the Router passes it: one string compare per fabric)
            transit = (topo.kind != "gpu") if not topo.direct else np.ones(n, dtype=bool)
        self.transit = transit
        src, dst = topo.src[ids], topo.dst[ids]
        out_deg = np.bincount(src, minlength=n)
        in_deg = np.bincount(dst, minlength=n)
        order = np.argsort(src, kind="stable")
        self.out_links = ids[order]                                   # global link ids
        self._out_dst = dst[order]                                    # and where they go
        out_src = np.repeat(np.arange(n), out_deg)                  # (= src[order])
        self.out_ptr = np.concatenate(([0], np.cumsum(out_deg)))
        self._out_deg = out_deg
        order = np.argsort(dst, kind="stable")
        self.in_links = ids[order]
        self._in_src = src[order]
        self.in_ptr = np.concatenate(([0], np.cumsum(in_deg)))
        self._in_deg = in_deg
        # distance rows index only the transit nodes of this graph (the scale-up graph of a
        # 131k-GPU fabric has 16k of the 26k switches, the scale-out graph 9k)
        t_nodes = np.flatnonzero(transit & ((out_deg > 0) | (in_deg > 0)))
        self.tidx = np.full(n, -1, dtype=np.int64)
        self.tidx[t_nodes] = np.arange(t_nodes.size)
        self._t_nodes = t_nodes
        self.n_transit = t_nodes.size
        # transit -> transit links (transit indices), by source: the reverse BFS groups by it
        ts, td = transit[out_src], transit[self._out_dst]
        tt = ts & td
        self._tt_src = self.tidx[out_src[tt]]
        self._tt_dst = self.tidx[self._out_dst[tt]]
        self._tt_links = self.out_links[tt]
        self._tt_deg = np.bincount(self._tt_src, minlength=self.n_transit)
        self._tt_ptr = np.concatenate(([0], np.cumsum(self._tt_deg)))
        self._levels: dict = {}          # (row, level) -> its transit nodes, their in-links
        # GPUs with a link from another GPU (none in the built fabrics): their in-links are
        # not all from the switch they hang off
        gg = ~(ts | td)
        self._gpu_in = None
        if gg.any():
            self._gpu_in = np.zeros(n, dtype=bool)
            self._gpu_in[self._out_dst[gg]] = True
        # which GPUs have any link in this graph
        self.has_link = out_deg > 0
        # a hop whose entries have at most this many out-links in all scans them (a few
        # numpy calls); more are split by distance and share per-(node, row) link lists
        self.scan_links = 4096
        # the per-(row, node) link lists are kept in a dense (row, transit node) table while
        # it has at most this many entries (~10^6 on a 131k-GPU fabric), else listed per hop
        self.cache_entries = 1 << 22
        # distance rows (int16 while hop counts fit) in a buffer that grows by doubling
        self._dtype = np.int16 if self.n_transit + 3 < np.iinfo(np.int16).max else np.int32
        self._unreach = np.iinfo(self._dtype).max
        self._rows = np.zeros((0, self.n_transit), dtype=self._dtype)
        # per level-2 row (a GPU on one switch A): each seed's rank among the row's seeds, A's
        # transit in-neighbours in node order (see _add_dsts)
        self._rank = np.zeros((0, self.n_transit), dtype=self._dtype)
        self._n_rows = 0
        self._row_of: dict = {}          # (first level, seed transit indices) -> row
        # per destination node: its row and override node (-1: not known yet / none)
        self._node_row = np.full(n, -1, dtype=np.int64)
        self._node_ovr = np.full(n, -1, dtype=np.int64)
        # the links into a switch A from its k-th transit in-neighbour: slot _att_slot[A] + k
        # of a CSR (_slot_ptr, _slot_links), by link id
        self._att_slot = np.full(n, -1, dtype=np.int64)
        self._slot_ptr = np.zeros(1, dtype=np.int64)
        self._slot_links = np.zeros(0, dtype=np.int64)
        # dense cache of next-level links per (row, transit node): (start + 1 (0: not listed
        # yet), count) in _nl_links (int32: 10 MB on a 131k-GPU fabric, touched randomly)
        self._nl = np.zeros((0, 2), dtype=np.int32)
        self._nl64 = self._nl.view(np.int64).reshape(-1)      # one gather per entry
        self._nl_links = np.zeros(0, dtype=np.int64)
        self._nl_n = 0
        self._att = None                 # lazily: see _attachments
        self._rows_ready = False
        self._bfs_order = None

    # -- distance rows ----------------------------------------------------------------
    def _attachments(self):
        """(the one transit node each non-transit node hangs off, -1: none or several;
        whether each transit node has a link to itself)."""
        if self._att is None:
            n = self.topo.n_nodes
            nodes = np.flatnonzero(~self.transit & (self._in_deg > 0))
            rep, idx = _segments(self.in_ptr[nodes], self._in_deg[nodes])
            u = self._in_src[idx]                 # in-links grouped by destination
            ok = self.transit[u]
            d, u = nodes[rep[ok]], u[ok]
            single = np.full(n, -1, dtype=np.int64)
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
                for name in ("_rows", "_rank"):
                    grown = np.zeros((max(16, 2 * r), self.n_transit), dtype=self._dtype)
                    grown[:r] = getattr(self, name)[:r]
                    setattr(self, name, grown)
            self._n_rows += 1
            self._row_of[key] = r
            seeds = np.asarray(seeds, dtype=np.int64)
            if d0 == 2 and seeds.size:
                self._rank[r, seeds] = np.arange(seeds.size)
            pending.append((r, d0, seeds))
        return r

    def _shared_rows(self, d0: int, ptr: np.ndarray, nb: np.ndarray, sel: np.ndarray,
                     pending: list) -> np.ndarray:
        """:meth:`_new_row` of the seed lists ``nb[ptr[i]:ptr[i + 1]]`` for ``i`` in ``sel``
        (non-empty), rows made in order of first appearance: the ~10^4 lists of a big fabric
        are grouped by a hash (and checked), so only the ~10^2 distinct ones reach Python."""
        lens = ptr[sel + 1] - ptr[sel]
        rep, idx = _segments(ptr[sel], lens)
        vals = nb[idx]
        with np.errstate(over="ignore"):
            h = np.add.reduceat(_mix(vals + 1), np.cumsum(lens) - lens) ^ _mix(lens)
        _, first, inv = np.unique(h, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
        head = first[inv]                     # the first list of each list's group
        ok = lens == lens[head]               # and equal to it (not a hash collision)
        e_ok = ok[rep]
        off = np.repeat(ptr[sel[head]] - ptr[sel], lens)
        ok[rep[e_ok][nb[idx[e_ok] + off[e_ok]] != vals[e_ok]]] = False
        g_row = np.empty(first.size, dtype=np.int64)
        for g in np.argsort(first, kind="stable").tolist():
            i = int(sel[first[g]])
            g_row[g] = self._new_row(d0, nb[ptr[i]:ptr[i + 1]].tolist(), pending)
        out = g_row[inv]
        for k in np.flatnonzero(~ok).tolist():
            i = int(sel[k])
            out[k] = self._new_row(d0, nb[ptr[i]:ptr[i + 1]].tolist(), pending)
        return out

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
        ptr, nb, slot_ptr, slot_links = self._in_neighbours(ua, links=True)
        rows = np.zeros(ua.size, dtype=np.int64)
        empty = ptr[1:] == ptr[:-1]
        if empty.any():                       # nothing above A (an NVSwitch): unreachable
            rows[empty] = self._new_row(2, (), pending)
        sel = np.flatnonzero(~empty)
        if sel.size:
            rows[sel] = self._shared_rows(2, ptr, nb, sel, pending)
        self._node_row[nodes[two]] = rows[inv]
        self._node_ovr[nodes[two]] = ua[inv]
        # the links into A from its k-th transit in-neighbour (the k-th seed of its row)
        self._att_slot[ua] = self._slot_ptr.size - 1 + ptr[:-1]
        self._slot_ptr = np.concatenate((self._slot_ptr, self._slot_ptr[-1] + slot_ptr[1:]))
        self._slot_links = np.concatenate((self._slot_links, slot_links))
        # the rest get a row of their own: the BFS from the node itself (a transit node), or
        # from every switch it hangs off (several, none, or one with a link to itself)
        rest = nodes[~two]
        tr = self.transit[rest]
        for x in rest[tr].tolist():               # (no link in this graph: unreachable)
            seeds = (int(self.tidx[x]),) if self.tidx[x] >= 0 else ()
            self._node_row[x] = self._new_row(0, seeds, pending)
        gpus = rest[~tr]
        ptr, nb = self._in_neighbours(gpus)
        empty = ptr[1:] == ptr[:-1]
        if empty.any():
            self._node_row[gpus[empty]] = self._new_row(1, (), pending)
        sel = np.flatnonzero(~empty)
        if sel.size:
            self._node_row[gpus[sel]] = self._shared_rows(1, ptr, nb, sel, pending)
        self._fill_rows(pending)

    def _in_neighbours(self, nodes: np.ndarray, links: bool = False):
        """Distinct transit in-neighbours of each of ``nodes`` as sorted transit indices
        -> (CSR pointer per node, indices); with ``links`` also the links from each of them
        (CSR pointer per (node, neighbour) slot, links by link id)."""
        n = self.topo.n_nodes
        rep, idx = _segments(self.in_ptr[nodes], self._in_deg[nodes])
        u = self._in_src[idx]
        keep = self.transit[u]
        key = rep[keep] * n + u[keep]
        if links:
            lk = self.in_links[idx[keep]]
            order = np.argsort(key, kind="stable")         # (node, neighbour, link id)
            key, lk = key[order], lk[order]
            first = (np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size
                     else np.zeros(0, dtype=np.int64))
            key = key[first]
            slot_ptr = np.r_[first, lk.size]
        else:
            key = _unique(key)
        ptr = np.concatenate(([0], np.cumsum(np.bincount(key // n, minlength=nodes.size))))
        if links:
            return ptr, self.tidx[key % n], slot_ptr, lk
        return ptr, self.tidx[key % n]

    def _fill_rows(self, pending: list) -> None:
        """Reverse BFS of the queued rows: bit-parallel, 64 rows per pass over the transit
        links (one pass per row was 3 ms each on a 131k-GPU fabric's 0.5 M links). Each
        node's level is kept as bit planes (bit b of plane p: bit p of the level in row b)
        and unpacked once at the end."""
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
                frontier = np.zeros(T, dtype=np.uint64)
                np.bitwise_or.at(frontier, st, bits[sb])
                visited = frontier.copy()
                planes: list = []
                level = d0
                while True:
                    for p in range(level.bit_length()):
                        if p == len(planes):
                            planes.append(np.zeros(T, dtype=np.uint64))
                        if level >> p & 1:
                            planes[p] |= frontier
                    if not dst_sorted.size:
                        break
                    reach = np.zeros(T, dtype=np.uint64)
                    reach[usrc] = np.bitwise_or.reduceat(frontier[dst_sorted], starts)
                    frontier = reach & ~visited
                    if not frontier.any():
                        break
                    level += 1
                    visited |= frontier
                dist = np.zeros((T, B), dtype=self._dtype)
                for p, plane in enumerate(planes):
                    if plane.any():
                        dist += _unpack(plane, B).astype(self._dtype) << p
                dist[_unpack(visited, B) == 0] = self._unreach
                self._rows[[p[0] for p in batch]] = dist.T

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
    def _scan(self, v, dst, row, ovr, src):
        """Equal-cost next links of entries at node ``v[i]`` (of a flow ``src[i]`` ->
        ``dst[i]``) by costing every out-link: 0 straight to the destination, else the hops
        left from its end -> (links, start, count) per entry; no way on: the error names the
        first such flow."""
        deg = self._out_deg[v]
        if v.size and deg.min() == 1 == deg.max():       # one NIC port each: no choice
            idx = self.out_ptr[v]
            w = self._out_dst[idx]
            cost = self._dist(row, ovr, w)
            cost[w == dst] = 0
            if np.any(cost >= _INF):
                bad = np.flatnonzero(cost >= _INF)[0]
                raise _no_route(self.topo, src[bad], dst[bad])
            return self.out_links[idx], np.arange(v.size), deg
        rep, idx = _segments(self.out_ptr[v], deg)
        links = self.out_links[idx]
        w = self._out_dst[idx]
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

    def _next_hops(self, v, dst, row, ovr, src) -> list:
        """Equal-cost next links of entries at transit node ``v[i]`` (on a shortest path, so
        ``d = dist(v) >= 1``) -> parts ``(entries, links, start, count)``: entry
        ``entries[j]`` (``None``: every entry, in order) may take ``links[start[j]:start[j] +
        count[j]]``, by link id. A few entries scan their out-links (:meth:`_scan`); many are
        split by ``d``:

        * ``d == 1``: the link(s) straight to the destination (a GPU on one switch ``A``:
          all its in-links, which come from ``A``, unless a GPU links to it as well);
        * ``d == 2`` with an override ``A``: the link(s) to ``A`` (the only node 1 away), from
          the slot of ``v`` among ``A``'s in-neighbours (= ``v``'s rank among the row's seeds);
        * otherwise the links to a transit node at ``d - 1``, which depend on ``(v, row)``
          only (``A`` is never a neighbour then): listed once per distinct pair and kept.
        """
        E = v.size
        t = self.tidx[v]
        if (not self.n_transit or (E <= self.scan_links and
                                   self._out_deg[v].sum() <= self.scan_links)
                or t.min() < 0):                  # (not a transit node: cannot be on a path)
            return [(None,) + self._scan(v, dst, row, ovr, src)]
        d = self._rows[row, t]
        d[v == ovr] = 1
        parts = []
        one = d == 1
        n1 = int(np.count_nonzero(one))
        if n1:
            e1 = None if n1 == E else np.flatnonzero(one)
            parts += self._to_dst(e1, v, dst, ovr)
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
            slot = self._att_slot[a2] + self._rank[r2, t2]
            st = self._slot_ptr[slot]
            parts.append((e2, self._slot_links, st, self._slot_ptr[slot + 1] - st))
        if n1 + n2 < E:
            if n1 + n2 == 0:
                parts.append((None,) + self._level_links(row, t, v))
            else:
                e3 = np.flatnonzero(~(one | two))
                parts.append((e3,) + self._level_links(row[e3], t[e3], v[e3]))
        return parts

    def _to_dst(self, ent, v, dst, ovr) -> list:
        """Parts of :meth:`_next_hops` for entries ``ent`` one hop from their destination."""
        if ent is not None:
            v, dst, ovr = v[ent], dst[ent], ovr[ent]
        fast = ovr >= 0                           # at A, the one switch above the GPU
        if self._gpu_in is not None:
            fast &= ~self._gpu_in[dst]
        nf = int(np.count_nonzero(fast))
        parts = []
        if nf:
            if nf == dst.size:
                ef, x = ent, dst
            else:
                sel = np.flatnonzero(fast)
                ef, x = (sel if ent is None else ent[sel]), dst[sel]
            parts.append((ef, self.in_links, self.in_ptr[x], self._in_deg[x]))
        if nf < dst.size:                         # the destination's in-links from v
            sel = np.flatnonzero(~fast)
            es = sel if ent is None else ent[sel]
            x = dst[sel]
            rep, idx = _segments(self.in_ptr[x], self._in_deg[x])
            ok = self._in_src[idx] == v[sel][rep]
            parts.append((es, self.in_links[idx[ok]]) + _csr(rep[ok], x.size))
        return parts

    def _level_links(self, row, t, v):
        """(links, start, count) of the out-links of ``v[i]`` (transit index ``t[i]``) to a
        transit node one step closer in row ``row[i]``: from the dense (row, node) cache
        while it is small enough, listing the pairs not seen yet; else per distinct pair."""
        T = self.n_transit
        if self._rows.shape[0] * T <= self.cache_entries and self._nl_n < (1 << 30):
            if self._nl.shape[0] < self._rows.shape[0] * T:         # rows were added
                grown = np.zeros((self._rows.shape[0] * T, 2), dtype=np.int32)
                grown[:self._nl.shape[0]] = self._nl
                self._nl = grown
                self._nl64 = grown.view(np.int64).reshape(-1)
            key = row * T + t
            sc = self._nl64[key].view(np.int32).reshape(-1, 2)
            miss = sc[:, 0] == 0
            if miss.any():
                self._list_level_links(_unique(key[miss]))
                sc = self._nl64[key].view(np.int32).reshape(-1, 2)
            return self._nl_links, sc[:, 0] - 1, sc[:, 1]     # (int32)
        n = self.topo.n_nodes
        upair, inv = _unique_inverse(row * n + v)
        links, ptr = self._next_level_links(upair % n, upair // n)
        return links, ptr[:-1][inv], (ptr[1:] - ptr[:-1])[inv]

    def _list_level_links(self, keys: np.ndarray) -> None:
        """Fill the cache entries ``keys`` (row * n_transit + transit index, sorted): as
        :meth:`_next_level_links`, but a (row, level) group worth pulling is listed for
        every node of the level at once (its next level's in-links give them all), so the
        ~10^3 cores of a row take one pass instead of one per batch of flows."""
        T = self.n_transit
        r, t = np.divmod(keys, T)
        d = self._rows[r, t].astype(np.int64)
        deg = self._tt_deg[t]
        if deg.sum() > T:                          # else no group can be worth a pull
            D = int(d.max()) + 1
            R = int(r.max()) + 1
            if R * D <= keys.size + (1 << 16):
                ugrp, grp = _unique_nodes(r * D + d, R * D)
            else:
                ugrp, grp = _unique_inverse(r * D + d)
            push_cost = np.bincount(grp, weights=deg, minlength=ugrp.size)
            pulled = []                            # (row, level, the next level's nodes)
            for g in np.flatnonzero(push_cost > T).tolist():
                rg, lev = divmod(int(ugrp[g]), D)
                nodes, cost = self._level(rg, lev - 1)
                if cost < push_cost[g]:
                    pulled.append((rg, lev, nodes))
            if pulled:
                self._pull_level_links(pulled)
                left = self._nl[keys, 0] == 0
                keys, r, t, d = keys[left], r[left], t[left], d[left]
        if keys.size:
            pairs, links = self._push_level_links(r, t, d)
            self._store_level_links(keys, links,
                                    np.concatenate(([0], np.cumsum(np.bincount(
                                        pairs, minlength=keys.size)))))

    def _pull_level_links(self, pulled: list) -> None:
        """Cache the next-level links of every node at level ``lev`` of row ``r`` for each
        ``(r, lev, nodes at lev - 1)``: the transit in-links of those nodes from there."""
        T = self.n_transit
        w = np.concatenate([x for _, _, x in pulled])
        gw = np.repeat(np.arange(len(pulled)), [x.size for _, _, x in pulled])
        rep, idx = _segments(self.in_ptr[w], self._in_deg[w])
        tu = self.tidx[self._in_src[idx]]
        g_r = np.array([p[0] for p in pulled], dtype=np.int64)[gw[rep]]
        g_lev = np.array([p[1] for p in pulled], dtype=np.int64)[gw[rep]]
        ok = np.flatnonzero(tu >= 0)
        ok = ok[self._rows[g_r[ok], tu[ok]] == g_lev[ok]]
        key = g_r[ok] * T + tu[ok]
        links = self.in_links[idx[ok]]
        new = self._nl[key, 0] == 0               # (not listed by a scan before)
        key, links = key[new], links[new]
        order = np.argsort(key * self.topo.n_links + links)
        key, links = key[order], links[order]
        first = (np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size
                 else np.zeros(0, dtype=np.int64))
        self._store_level_links(key[first], links, np.r_[first, key.size])

    def _store_level_links(self, keys, links, ptr) -> None:
        base, need = self._nl_n, self._nl_n + links.size
        if need > self._nl_links.size:
            grown = np.zeros(max(need, 2 * self._nl_links.size, 1024), dtype=np.int64)
            grown[:base] = self._nl_links[:base]
            self._nl_links = grown
        self._nl_links[base:need] = links
        self._nl[keys, 0] = base + ptr[:-1] + 1
        self._nl[keys, 1] = ptr[1:] - ptr[:-1]
        self._nl_n = need

    def _push_level_links(self, row, t, d, sel=None):
        """(pair, link) of the transit out-links of pairs ``sel`` (all: None) at transit
        index ``t`` and ``d`` hops in ``row`` to a node at ``d - 1``, by pair and link id."""
        if sel is None:
            e_pair, idx = _segments(self._tt_ptr[t], self._tt_deg[t])
        else:
            ts = t[sel]
            e_pair, idx = _segments(self._tt_ptr[ts], self._tt_deg[ts])
            e_pair = sel[e_pair]
        ok = self._rows[row[e_pair], self._tt_dst[idx]] == d[e_pair] - 1
        return e_pair[ok], self._tt_links[idx[ok]]

    def _next_level_links(self, v: np.ndarray, row: np.ndarray):
        """Out-links of node ``v[i]`` to a transit node one step closer in row ``row[i]``, by
        link id, for distinct (node, row) pairs sorted by (row, node) -> (links, CSR pointer
        per pair).

        Per (row, level) group of pairs the cheaper of two exact listings: scan the transit
        out-links of the group's nodes (a leaf's 32 up-links), or the in-links of the row's
        next level (a core has a link to every pod's spine, but the 32 spines above the
        destination leaf have only ~2k in-links; scanning 128 core ports per pair was most
        of the routing time). A row's levels are listed once (reading a whole row), and only
        for groups whose scan costs more than that.
        """
        rows, T = self._rows, self.n_transit
        P = v.size
        t = self.tidx[v]
        d = rows[row, t].astype(np.int64)
        deg = self._tt_deg[t]
        parts = []                                 # (pair, link) lists
        push = None                                # pairs listed by a scan (None: all)
        if deg.sum() > T:                          # else no group can be worth a pull
            D = int(d.max()) + 1
            R = int(row.max()) + 1
            if R * D <= P + (1 << 16):
                ugrp, grp = _unique_nodes(row * D + d, R * D)
            else:
                ugrp, grp = _unique_inverse(row * D + d)
            push_cost = np.bincount(grp, weights=deg, minlength=ugrp.size)
            pulled = []                            # (group, its next level's nodes)
            for g in np.flatnonzero(push_cost > T).tolist():
                r, lev = divmod(int(ugrp[g]), D)
                nodes, cost = self._level(r, lev - 1)
                if cost < push_cost[g]:
                    pulled.append((g, nodes))
            if pulled:
                G = len(pulled)
                local = np.full(ugrp.size, -1, dtype=np.int64)
                local[[g for g, _ in pulled]] = np.arange(G)
                lg = local[grp]
                sel = np.flatnonzero(lg >= 0)
                where = np.full(G * T, -1, dtype=np.int64)       # (group, node) -> pair
                where[lg[sel] * T + t[sel]] = sel
                w = np.concatenate([x for _, x in pulled])
                gw = np.repeat(np.arange(G), [x.size for _, x in pulled])
                rep, idx = _segments(self.in_ptr[w], self._in_deg[w])
                tu = self.tidx[self._in_src[idx]]
                ok = np.flatnonzero(tu >= 0)
                pos = where[gw[rep[ok]] * T + tu[ok]]
                hit = pos >= 0
                parts.append((pos[hit], self.in_links[idx[ok[hit]]]))
                push = np.flatnonzero(lg < 0)
        pairs, links = self._push_level_links(row, t, d, push)
        if parts:
            pairs = np.concatenate([pairs] + [p[0] for p in parts])
            links = np.concatenate([links] + [p[1] for p in parts])
            order = np.argsort(pairs * self.topo.n_links + links)
            pairs, links = pairs[order], links[order]
        return links, np.concatenate(([0], np.cumsum(np.bincount(pairs, minlength=P))))

    def _level(self, r: int, lev: int):
        """(nodes at ``lev`` hops in row ``r``, their in-links in all)."""
        out = self._levels.get((r, lev))
        if out is None:
            nodes = self._t_nodes[np.flatnonzero(self._rows[r] == lev)]
            out = self._levels[(r, lev)] = (nodes, int(self._in_deg[nodes].sum()))
        return out

    # -- paths ------------------------------------------------------------------------
    def paths(self, src: np.ndarray, dst: np.ndarray, *, mode: str, seed: int,
              spray_source: bool = False):
        """Routes for node pairs -> (indptr, links, coef, latency_s) per pair; each route's
        links sorted by link id.

        ``spray_source``: split evenly over a source GPU's equal-cost NIC ports (planes) even
        in hash mode; the hash then picks one path within each.
        """
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        row, ovr = self._dst_tables(dst)
        fkey = _flow_key(src, dst)
        first = self._scan(src, dst, row, ovr, src)     # a GPU's NIC ports, or a router
        if mode == "ecmp-hash" and not (spray_source and (first[2] > 1).any()):
            return self._paths_hashed(src, dst, row, ovr, fkey, seed, first)
        return self._paths_split(src, dst, row, ovr, fkey, seed, first, mode, spray_source)

    def _paths_hashed(self, src, dst, row, ovr, fkey, seed, first):
        """:meth:`paths` when every flow takes one link per hop (hash mode, no NIC port split):
        one entry per flow, in flow order; the links of hop ``h`` make column ``h`` of a
        (flow, hop) matrix."""
        topo = self.topo
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
            if hop > topo.n_nodes:
                raise CposimError("routing did not converge", field="topology")
            parts = self._next_hops(v, d_, r_, o_, s_)
        n = sum(c[1].size for c in cols)
        H = len(cols)
        if F * H > 4 * n + 1024:
            out_f = [np.arange(F) if e is None else e for e, _ in cols]
            out_l = [c for _, c in cols]
            return _by_flow(F, topo.n_links, out_f, out_l,
                            [np.ones(x.size) for x in out_l]) + (fin_lat,)
        x = []
        for e, c in cols:
            if e is not None:
                full = np.full(F, topo.n_links, dtype=np.int64)    # n_links: no link here
                full[e] = c
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
            return np.arange(F + 1) * H, m.reshape(-1), np.ones(n), fin_lat
        has = m < topo.n_links
        return np.concatenate(([0], np.cumsum(has.sum(axis=1)))), m[has], np.ones(n), fin_lat

    def _paths_split(self, src, dst, row, ovr, fkey, seed, first, mode, spray_source):
        """:meth:`paths` when flows split (``ecmp-even``, or over a GPU's NIC ports)."""
        topo = self.topo
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
                    self._next_hops(e_node, dst[e_f], row[e_f], ovr[e_f], src[e_f]), e_f.size)
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


@functools.lru_cache(maxsize=None)
def _sorting_network(n: int) -> tuple:
    """Batcher's odd-even merge sort comparators (i < j: min to i, max to j) for ``n``
    values: the network for the next power of two, without the comparators that only touch
    its padding (+inf, never moved)."""
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


def _compact(parts: list, E: int):
    """Parts of :meth:`RouteGraph._next_hops` -> (links, start, count) per entry, each
    entry's candidates in a run of ``links``."""
    if len(parts) == 1 and parts[0][0] is None:
        _, links, st, c = parts[0]
        c = c.astype(np.int64)
        rep, idx = _segments(st, c)
        return links[idx], np.cumsum(c) - c, c
    start = np.empty(E, dtype=np.int64)
    count = np.empty(E, dtype=np.int64)
    cand, off = [], 0
    for ent, links, st, c in parts:
        rep, idx = _segments(st, c)
        cand.append(links[idx])
        start[ent] = off + np.cumsum(c) - c
        count[ent] = c
        off += idx.size
    return np.concatenate(cand), start, count


def _hash_pick(parts: list, E: int, fkey, seed: int, hop: int, topo, src, dst) -> np.ndarray:
    """The link each of ``E`` entries takes at ``hop`` (one per entry, ECMP hash among its
    candidates, see :meth:`RouteGraph._next_hops`); none: the first such entry's flow is
    named."""
    out = None
    bad = E
    for ent, links, st, c in parts:
        k = fkey if ent is None else fkey[ent]
        lo = c.min() if c.size else 1
        if lo == 0:                                    # cannot happen on a shortest path
            z = np.flatnonzero(c == 0)[0]
            bad = min(bad, int(z if ent is None else ent[z]))
            continue
        if c.size and c.max() > 1:
            multi = c > 1
            if multi.all():
                st = st + (_flow_hash(k, seed, hop) % c.astype(np.uint64)).view(np.int64)
            else:                                      # the hash decides only these
                m = np.flatnonzero(multi)
                st = st.astype(np.int64)
                st[m] += (_flow_hash(k[m], seed, hop) % c[m].astype(np.uint64)).view(np.int64)
        if ent is None:
            out = links[st]
        else:
            if out is None:
                out = np.empty(E, dtype=np.int64)
            out[ent] = links[st]
    if bad < E:
        raise _no_route(topo, src[bad], dst[bad])
    return out


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
    """GPU pair key ``src * n + dst`` -> route id of every pair routed so far. A GPU talks to
    a few peers, so the first ``W`` pairs of each source sit in a (source, slot) table (a
    lookup is a row gather and a compare); the others in a few sorted runs (a run is merged
    into the one before when that is at most twice its size, so there are O(log n) runs and
    each key is moved O(log n) times). A dict cost ~1 us per pair to fill and probe, ~0.5 s
    for the 5 * 10^5 pairs of a 131k-GPU iteration; sorted runs alone ~0.1 s. Reads like a
    dict (``get``, ``keys``, ``values``; keys in order)."""

    W = 4

    def __init__(self, n: int) -> None:
        self._n = int(n)
        # dst + 1 (0: free slot) and route id per (source, slot), int32 (a route id beyond
        # that goes to the runs); slots used per source
        self._dst = np.zeros((self._n, self.W), dtype=np.int32)
        self._ids = np.zeros((self._n, self.W), dtype=np.int32)
        self._fill = np.zeros(self._n, dtype=np.int8)
        self._n_tab = 0
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []    # (keys, ids), longest first

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Route ids of ``keys`` (-1: not known)."""
        if not self._n_tab:
            out = np.full(keys.size, -1, dtype=np.int64)
        else:
            s, d = np.divmod(keys, self._n)
            eq = self._dst[s] == (d + 1)[:, None]
            j = eq.argmax(axis=1)
            hit = eq[np.arange(keys.size), j]
            out = np.where(hit, self._ids[s, j].astype(np.int64), -1)
        if self._runs:
            rest = np.flatnonzero(out < 0)
            k = keys[rest]
            for rk, rv in self._runs:
                pos = np.minimum(np.searchsorted(rk, k), rk.size - 1)
                hit = rk[pos] == k
                out[rest[hit]] = rv[pos[hit]]
        return out

    def add(self, keys: np.ndarray, ids: np.ndarray) -> None:
        """Add new keys (sorted, distinct, not known yet)."""
        if not keys.size:
            return
        s, d = np.divmod(keys, self._n)
        i = np.arange(keys.size)
        first = np.r_[True, s[1:] != s[:-1]]              # a source's keys are in a run
        rank = i - np.maximum.accumulate(np.where(first, i, 0))
        slot = self._fill[s] + rank
        ok = (slot < self.W) & (ids < (1 << 31) - 1)
        if ok.all():
            self._dst[s, slot] = d + 1
            self._ids[s, slot] = ids
            self._n_tab += keys.size
        else:
            self._dst[s[ok], slot[ok]] = d[ok] + 1
            self._ids[s[ok], slot[ok]] = ids[ok]
            self._n_tab += int(np.count_nonzero(ok))
            self._add_run(keys[~ok], ids[~ok])
        runs = np.flatnonzero(first)
        self._fill[s[runs]] = np.minimum(slot[np.r_[runs[1:], keys.size] - 1] + 1, self.W)

    def _add_run(self, keys: np.ndarray, ids: np.ndarray) -> None:
        self._runs.append((keys, ids))
        while len(self._runs) > 1 and self._runs[-2][0].size <= 2 * self._runs[-1][0].size:
            (k2, v2), (k1, v1) = self._runs.pop(), self._runs.pop()
            pos = np.searchsorted(k1, k2)
            self._runs.append((np.insert(k1, pos, k2), np.insert(v1, pos, v2)))

    def _items(self):
        """(keys, ids), by key."""
        s, j = np.nonzero(self._dst)
        keys = [s * self._n + self._dst[s, j] - 1] + [k for k, _ in self._runs]
        ids = [self._ids[s, j]] + [v for _, v in self._runs]
        keys, ids = np.concatenate(keys), np.concatenate(ids)
        order = np.argsort(keys, kind="stable")
        return keys[order], ids[order]

    def __getitem__(self, key) -> int:
        key = int(key)
        rid = (int(self.lookup(np.array([key], dtype=np.int64))[0])
               if 0 <= key < self._n * self._n else -1)
        if rid < 0:
            raise KeyError(key)
        return rid

    def __len__(self) -> int:
        return self._n_tab + sum(k.size for k, _ in self._runs)

    def __iter__(self):
        return iter(self._items()[0].tolist())

    def keys(self):
        return self._items()[0].tolist()

    def values(self):
        return self._items()[1].tolist()


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
        is_up = topo.tier == "scaleup"             # (an object array: ~10 ms at 10^6 links)
        up = np.flatnonzero(is_up)
        out = np.flatnonzero(~is_up)
        n = topo.n_nodes
        self._transit = (topo.kind != "gpu") if not topo.direct else np.ones(n, dtype=bool)
        self.g_up = RouteGraph(topo, up, transit=self._transit) if up.size else None
        self.g_out = RouteGraph(topo, out, transit=self._transit) if out.size else None
        self._g_all = None             # the whole graph, built when a pair needs it
        g = topo.gpu_node
        self.out_ok = self.g_out is not None and bool(self.g_out.has_link[g].all())
        self.up_ok = (np.zeros(topo.n_gpus, dtype=bool) if self.g_up is None
                      else self.g_up.has_link[g])
        self._rid = _PairIndex(topo.n_gpus)            # every known pair -> route id
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
            self._g_all = RouteGraph(self.topo, np.arange(self.topo.n_links),
                                     transit=self._transit)
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
            p = pairs[miss] if miss.size < pairs.size else pairs
            if p.size == 1 or (p[1:] > p[:-1]).all():       # sorted and distinct already
                uniq, inv = p, None
            else:
                uniq, inv = _unique_inverse(p)
            found = self._add(*np.divmod(uniq, n))
            self._rid.add(uniq, found)
            rids[miss] = found if inv is None else found[inv]
        return rids

    def graph_of(self, s: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Which graph routes GPU pair ``s -> d``: 0 the scale-up links (both in one scale-up
        domain), 1 the scale-out links, 2 all links (when the scale-out misses a GPU)."""
        topo = self.topo
        use_up = (topo.scaleup_domain[s] == topo.scaleup_domain[d]) & self.up_ok[s] \
            & self.up_ok[d]
        return np.where(use_up, 0, np.where(self.out_ok, 1, 2))

    def _add(self, s: np.ndarray, d: np.ndarray) -> np.ndarray:
        topo = self.topo
        sn, dn = topo.gpu_node[s], topo.gpu_node[d]
        graphs = self.graph_of(s, d)
        base = self._n_routes
        order = []
        for gi in range(3):
            m = np.flatnonzero(graphs == gi)
            m = m[sn[m] != dn[m]]      # a GPU to itself: no links
            if m.size:
                g = self.g_up if gi == 0 else self.g_out if gi == 1 else self.g_all
                ip, ll, cc, la = g.paths(sn[m], dn[m], mode=self.mode, seed=self.seed,
                                         spray_source=self.spray and g is not self.g_up)
                order.append((m, ip, ll, cc, la))
        if len(order) == 1 and order[0][0].size == s.size:     # one graph, nothing to merge
            _, ip, ll, cc, la = order[0]
            self._append(ip, ll, cc, la)
            return base + np.arange(s.size)
        # assemble in the order of s
        lens = np.zeros(s.size, dtype=np.int64)
        lat = np.zeros(s.size)
        for m, ip, _, _, la in order:
            lens[m] = np.diff(ip)
            lat[m] = la
        ptr = np.zeros(s.size + 1, dtype=np.int64)
        ptr[1:] = np.cumsum(lens)
        L = np.zeros(ptr[-1], dtype=np.int64)
        C = np.zeros(ptr[-1])
        for m, ip, ll, cc, _ in order:
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
        lens = ptr[1:] - ptr[:-1]
        per = self.topo.capacity_bps[links]
        if not (coef == 1.0).all():                    # (x / 1.0 is x, bit for bit)
            with np.errstate(divide="ignore"):
                per = per / coef
        H = int(lens[0]) if k else 0
        if k and 0 < H <= 16 and per.size == k * H and lens.min() == H:
            # routes of H links each: the same left fold as minimum.reduceat, by column
            p = per.reshape(k, H)
            b = p[:, 0]
            for h in range(1, H):
                b = np.minimum(b, p[:, h])
            self._bneck[n:n + k] = b
        elif (nz := lens > 0).all():
            self._bneck[n:n + k] = np.minimum.reduceat(per, ptr[:-1]) if k else per[:0]
        else:
            bneck = np.full(k, np.inf)
            if nz.any():
                bneck[nz] = np.minimum.reduceat(per, ptr[:-1][nz])
            self._bneck[n:n + k] = bneck
        self._n_routes += k
        self._nnz += links.size
