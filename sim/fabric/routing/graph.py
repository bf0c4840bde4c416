"""``RouteGraph``: a subset of the topology's directed links as CSR adjacency, and the hop
distances to destinations on it (reverse-BFS *rows*, shared between destinations).

Distances (hops to a destination node, per transit node) are stored as shared rows plus at
most one *override* node per destination:

* A GPU hanging off one switch ``A`` reaches it only through ``A``, so every other transit node
  ``v`` is ``2 + (hops from v to N(A))`` away, ``N(A)`` being the transit nodes with a link into
  ``A``; ``A`` itself is 1 away. All leaves of a pod (same spines above them) share one row,
  and every NVSwitch of the scale-up graph (nothing above it) the one all-unreachable row,
  so a 131k-GPU fabric needs ~10^2 rows, not one per leaf or per NVSwitch.
* Other destinations (multi-plane NICs: several switches; GPUs of direct networks: transit
  themselves; a switch with a link to itself) get a row of their own, the plain reverse BFS.

Rows are filled 64 at a time by a bit-parallel BFS (:meth:`RouteGraph._fill_rows`). The next
hops on these distances are listed in :mod:`.nexthops`, paths walked in :mod:`.ecmp`.
"""

from __future__ import annotations

import numpy as np

from sim.fabric.routing.cache import LevelLinkCache
from sim.fabric.routing.ecmp import paths
from sim.fabric.routing.entries import (_grown, _indptr, _run_starts, _segments, _unique,
                                        _unique_nodes)
from sim.fabric.routing.hashing import _mix


def transit_nodes(topo) -> np.ndarray:
    """Which nodes forward traffic: the switches; every node in a direct network, where the
    GPUs are the routers."""
    return (topo.kind != "gpu") if not topo.direct else np.ones(topo.n_nodes, dtype=bool)


def _unpack(x: np.ndarray, B: int) -> np.ndarray:
    """(n, B) bits 0..B-1 of uint64 ``x`` (uint8 0/1)."""
    return np.unpackbits(x.astype("<u8").view(np.uint8).reshape(-1, 8), axis=1,
                         bitorder="little")[:, :B]


class RouteGraph:
    """Shortest paths on a subset of the topology's directed links.

    Transit nodes are the switches (every node in a direct network, where GPUs are the
    routers); only they forward. :mod:`.nexthops` and :mod:`.ecmp` read the arrays built here.
    """

    def __init__(self, topo, link_ids: np.ndarray, *, transit: np.ndarray | None = None) -> None:
        self.topo = topo
        # sorted: every list of equal-cost links below is in link-id order, the ECMP order
        ids = np.asarray(link_ids, dtype=np.int64)
        if ids.size > 1 and not (ids[1:] >= ids[:-1]).all():
            ids = np.sort(ids, kind="stable")
        self.link_ids = ids
        n = topo.n_nodes
        if transit is None:          # (the Router passes it: one string compare per fabric)
            transit = transit_nodes(topo)
        self.transit = transit
        src, dst = topo.src[ids], topo.dst[ids]
        out_deg = np.bincount(src, minlength=n)
        in_deg = np.bincount(dst, minlength=n)
        order = np.argsort(src, kind="stable")
        self.out_links = ids[order]                                   # global link ids
        self._out_dst = dst[order]                                    # and where they go
        out_src = np.repeat(np.arange(n), out_deg)                  # (= src[order])
        self.out_ptr = _indptr(out_deg)
        self._out_deg = out_deg
        order = np.argsort(dst, kind="stable")
        self.in_links = ids[order]
        self._in_src = src[order]
        self.in_ptr = _indptr(in_deg)
        self._in_deg = in_deg
        # distance rows index only the transit nodes of this graph (the scale-up graph of a
        # 131k-GPU fabric has 16k of the 26k switches, the scale-out graph 9k)
        t_nodes = np.flatnonzero(transit & ((out_deg > 0) | (in_deg > 0)))
        self.tidx = np.full(n, -1, dtype=np.int64)
        self.tidx[t_nodes] = np.arange(t_nodes.size)
        self._t_nodes = t_nodes
        self.n_transit = t_nodes.size
        # transit -> transit links (transit indices), by source: the reverse BFS and the
        # next-level listings read them
        ts, td = transit[out_src], transit[self._out_dst]
        tt = ts & td
        self._tt_src = self.tidx[out_src[tt]]
        self._tt_dst = self.tidx[self._out_dst[tt]]
        self._tt_links = self.out_links[tt]
        self._tt_deg = np.bincount(self._tt_src, minlength=self.n_transit)
        self._tt_ptr = _indptr(self._tt_deg)
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
        self._nl = LevelLinkCache()      # (see .nexthops._level_links)
        # distance rows (int16 while hop counts fit) in a buffer that grows by doubling
        self._dtype = np.int16 if self.n_transit + 3 < np.iinfo(np.int16).max else np.int32
        self._unreach = np.iinfo(self._dtype).max
        self._rows = np.zeros((0, self.n_transit), dtype=self._dtype)
        # per level-2 row (a GPU on one switch A): each seed's rank among the row's seeds, A's
        # transit in-neighbours in node order (see _add_dsts)
        self._rank = np.zeros((0, self.n_transit), dtype=self._dtype)
        self._n_rows = 0
        self._row_of: dict = {}          # (first level, seed transit indices) -> row
        self._levels: dict = {}          # (row, level) -> its transit nodes, their in-links
        # per destination node: its row and override node (-1: not known yet / none)
        self._node_row = np.full(n, -1, dtype=np.int64)
        self._node_ovr = np.full(n, -1, dtype=np.int64)
        # the links into a switch A from its k-th transit in-neighbour: slot _att_slot[A] + k
        # of a CSR (_slot_ptr, _slot_links), by link id
        self._att_slot = np.full(n, -1, dtype=np.int64)
        self._slot_ptr = np.zeros(1, dtype=np.int64)
        self._slot_links = np.zeros(0, dtype=np.int64)
        self._att = None                 # lazily: see _attachments
        self._rows_ready = False

    def paths(self, src: np.ndarray, dst: np.ndarray, *, mode: str, seed: int,
              spray_source: bool = False):
        """Routes for node pairs -> (indptr, links, coef, latency_s) per pair; each route's
        links sorted by link id (:func:`.ecmp.paths`).

        ``spray_source``: split evenly over a source GPU's equal-cost NIC ports (planes) even
        in hash mode; the hash then picks one path within each.
        """
        return paths(self, src, dst, mode=mode, seed=seed, spray_source=spray_source)

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
                first = _run_starts(d)
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
            # (the dense next-level cache is sized by this capacity: keep it doubling)
            self._rows = _grown(self._rows, r, r + 1, 2, 16)
            self._rank = _grown(self._rank, r, r + 1, 2, 16)
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
            first = _run_starts(key)
            key = key[first]
            slot_ptr = np.r_[first, lk.size]
        else:
            key = _unique(key)
        ptr = _indptr(np.bincount(key // n, minlength=nodes.size))
        if links:
            return ptr, self.tidx[key % n], slot_ptr, lk
        return ptr, self.tidx[key % n]

    def _fill_rows(self, pending: list) -> None:
        """Reverse BFS of the queued rows: bit-parallel, 64 rows per pass over the transit
        links (one pass per row was 3 ms each on a 131k-GPU fabric's 0.5 M links). Each
        node's level is kept as bit planes (bit b of plane p: bit p of the level in row b)
        and unpacked once at the end."""
        # a node's level is one more than the lowest of its transit out-neighbours', so a
        # pass ORs the frontier bits over the out-links grouped by source (_tt_ptr)
        has_out = self._tt_deg > 0
        usrc, starts, dst_sorted = np.flatnonzero(has_out), self._tt_ptr[:-1][has_out], \
            self._tt_dst
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

    def _level(self, r: int, lev: int):
        """(nodes at ``lev`` hops in row ``r``, their in-links in all), cached: the listings
        of next-level links ask for the same few levels of a row again and again."""
        out = self._levels.get((r, lev))
        if out is None:
            nodes = self._t_nodes[np.flatnonzero(self._rows[r] == lev)]
            out = self._levels[(r, lev)] = (nodes, int(self._in_deg[nodes].sum()))
        return out
