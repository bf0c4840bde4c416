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

Distances are computed per *destination attachment set* (the switches a GPU hangs off), so a
32k-GPU fabric needs ~one reverse BFS per leaf, not per GPU. Paths of a batch are then walked
hop by hop for all flows at once.
"""

from __future__ import annotations

import numpy as np

from sim.errors import CposimError

ROUTINGS = ("ecmp-hash", "ecmp-even")
_INF = np.int32(1 << 29)
_INF16 = np.int16(32767)   # "unreachable" in the stored (int16) distance tables
_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on uint64 (wrapping arithmetic)."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x


class RouteGraph:
    """Shortest paths on a subset of the topology's directed links."""

    def __init__(self, topo, link_ids: np.ndarray) -> None:
        self.topo = topo
        self.link_ids = np.asarray(link_ids, dtype=np.int64)
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
        # distance tables index only the transit nodes of this graph (the scale-up graph of
        # a 131k-GPU fabric has 16k of the 26k switches, the scale-out graph 9k)
        in_graph = np.zeros(n, dtype=bool)
        in_graph[src] = True
        in_graph[dst] = True
        t_nodes = np.flatnonzero(self.transit & in_graph)
        self.tidx = np.full(n, -1, dtype=np.int64)
        self.tidx[t_nodes] = np.arange(t_nodes.size)
        self.n_transit = t_nodes.size
        # transit -> transit links, for the reverse BFS
        ls, ld = topo.src[self.link_ids], topo.dst[self.link_ids]
        tt = self.transit[ls] & self.transit[ld]
        self._tt_src = self.tidx[ls[tt]]
        self._tt_dst = self.tidx[ld[tt]]
        # which GPUs have any link in this graph
        self.has_link = np.zeros(n, dtype=bool)
        self.has_link[ls] = True
        self._key_of: dict = {}
        # distance tables, one row per destination attachment, stored int16 in a buffer that
        # grows by doubling (re-stacking a list of int32 rows per new key was quadratic and
        # took gigabytes at 131k GPUs)
        self._buf = np.zeros((0, self.n_transit), dtype=np.int16)
        self._n_keys = 0
        self._bfs_order = None
        self._gpu_key: dict[int, int] = {}
        self._single_att: np.ndarray | None = None
        pk = ls * n + ld
        order = np.argsort(pk, kind="stable")
        self._pk, self._pl = pk[order], self.link_ids[order]
        self.big_degree = 64

    def key(self, node: int) -> int:
        """Distance-table index for destination ``node``."""
        k = self._gpu_key.get(node)
        if k is not None:
            return k
        topo = self.topo
        if self.transit[node]:
            att = ("n", int(node))
            seeds = np.array([self.tidx[node]])
            d0 = 0
        else:
            inl = self.in_links[self.in_ptr[node]:self.in_ptr[node + 1]]
            att = tuple(sorted({u for u in topo.src[inl].tolist() if self.transit[u]}))
            seeds = self.tidx[np.array(att, dtype=np.int64)]
            d0 = 1
        k = self._key_of.get(att)
        if k is None:
            dist = np.full(self.n_transit, _INF, dtype=np.int32)
            if seeds.size:
                dist[seeds] = d0
                frontier = np.zeros(self.n_transit, dtype=bool)
                frontier[seeds] = True
                level = d0
                while frontier.any():
                    # predecessors of the frontier not yet reached (a mask, not a sort: one
                    # BFS per leaf of a 131k-GPU fabric adds up)
                    reach = np.zeros(self.n_transit, dtype=bool)
                    reach[self._tt_src[frontier[self._tt_dst]]] = True
                    frontier = reach & (dist == _INF)
                    level += 1
                    dist[frontier] = level
            k = self._store(att, np.where(dist >= _INF, _INF16, dist))
        self._gpu_key[node] = k
        return k

    def _store(self, att, row: np.ndarray) -> int:
        k = self._n_keys
        if k >= self._buf.shape[0]:
            grown = np.zeros((max(16, 2 * k), self.n_transit), dtype=np.int16)
            grown[:k] = self._buf[:k]
            self._buf = grown
        self._buf[k] = row
        self._n_keys += 1
        self._key_of[att] = k
        return k

    def _bfs_many(self, atts: list[int]) -> None:
        """Distance tables of many single-switch attachments at once: a bit-parallel BFS, 64
        destinations per pass over the transit links (the same levels as :meth:`key`'s BFS;
        one pass per destination was 3 ms each on a 131k-GPU fabric's 0.5 M links)."""
        if self._bfs_order is None:
            order = np.argsort(self._tt_src, kind="stable")
            src_sorted = self._tt_src[order]
            starts = (np.flatnonzero(np.r_[True, src_sorted[1:] != src_sorted[:-1]])
                      if src_sorted.size else np.zeros(0, dtype=np.int64))
            self._bfs_order = (self._tt_dst[order], starts, src_sorted[starts])
        dst_sorted, starts, usrc = self._bfs_order
        T = self.n_transit
        for lo in range(0, len(atts), 64):
            batch = atts[lo:lo + 64]
            B = len(batch)
            bits = np.left_shift(np.uint64(1), np.arange(B, dtype=np.uint64))
            dist = np.full((B, T), _INF16, dtype=np.int16)
            seeds = self.tidx[np.asarray(batch, dtype=np.int64)]
            dist[np.arange(B), seeds] = 1
            frontier = np.zeros(T, dtype=np.uint64)
            np.bitwise_or.at(frontier, seeds, bits)
            visited = frontier.copy()
            level = 1
            while dst_sorted.size and frontier.any():
                reach = np.zeros(T, dtype=np.uint64)
                reach[usrc] = np.bitwise_or.reduceat(frontier[dst_sorted], starts)
                frontier = reach & ~visited
                nz = np.flatnonzero(frontier)
                if not nz.size:
                    break
                level += 1
                visited |= frontier
                hit = (frontier[nz][:, None] & bits[None, :]) != 0      # (nodes, keys)
                r, c = np.nonzero(hit)
                dist[c, nz[r]] = level
            for b, u in enumerate(batch):
                self._store((u,), dist[b])

    def keys(self, nodes: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`key`: one Python call per distinct attachment, not per node."""
        if self._single_att is None:
            # the one transit node a non-transit node hangs off (-1: none or several)
            topo = self.topo
            inl = self.in_links
            ok = self.transit[topo.src[inl]] & ~self.transit[topo.dst[inl]]
            d, u = topo.dst[inl[ok]], topo.src[inl[ok]]
            cnt = np.bincount(d, minlength=topo.n_nodes)
            att = np.full(topo.n_nodes, -1, dtype=np.int64)
            one = cnt[d] == 1
            att[d[one]] = u[one]
            self._single_att = att
        nodes = np.asarray(nodes, dtype=np.int64)
        uniq, inv = np.unique(nodes, return_inverse=True)
        att = self._single_att[uniq]
        out = np.empty(uniq.size, dtype=np.int64)
        simple = att >= 0
        ua, ainv = np.unique(att[simple], return_inverse=True)
        fresh = [u for u in ua.tolist() if (u,) not in self._key_of]
        if len(fresh) > 1:
            self._bfs_many(fresh)
        rep = np.zeros(ua.size, dtype=np.int64)                # one node per attachment
        rep[ainv[::-1]] = uniq[simple][::-1]
        by_att = np.array([self.key(int(x)) for x in rep.tolist()], dtype=np.int64)
        out[simple] = by_att[ainv] if ua.size else by_att
        out[~simple] = [self.key(int(x)) for x in uniq[~simple]]
        return out[inv]

    def _matrix(self) -> np.ndarray:
        return self._buf[:self._n_keys]

    def _lookup(self, a: np.ndarray, b: np.ndarray):
        """Link ids a[i] -> b[i] (parallel links allowed): (entry -> i, link ids)."""
        key = a * self.topo.n_nodes + b
        lo = np.searchsorted(self._pk, key, "left")
        hi = np.searchsorted(self._pk, key, "right")
        cnt = hi - lo
        rep = np.repeat(np.arange(a.size), cnt)
        idx = np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(cnt.sum())
        return rep, self._pl[idx]

    def _next_level_links(self, v: np.ndarray, k: np.ndarray, chunk: int = 1 << 22):
        """Out-links of node ``v[i]`` to a transit node one step closer in table ``k[i]``,
        for every distinct (node, table) pair at once -> (links, CSR pointer per pair).
        Vectorised in chunks of ~``chunk`` candidate links (a Python loop per pair cost
        ~40 us each, 10^5 pairs at 131k GPUs)."""
        mat = self._matrix()
        d = mat[k, self.tidx[v]].astype(np.int64)
        deg = np.where(d < _INF16, self.out_ptr[v + 1] - self.out_ptr[v], 0)
        keep_pair, keep_link = [], []
        ends = np.cumsum(deg)
        lo = 0
        while lo < v.size:
            base = ends[lo - 1] if lo else 0
            hi = max(int(np.searchsorted(ends, base + chunk, "right")), lo + 1)
            dg = deg[lo:hi]
            e_pair = np.repeat(np.arange(lo, hi), dg)
            offs = np.arange(e_pair.size) - np.repeat(np.cumsum(dg) - dg, dg)
            e_link = self.out_links[np.repeat(self.out_ptr[v[lo:hi]], dg) + offs]
            ti = self.tidx[self.topo.dst[e_link]]
            ok = (ti >= 0) & (mat[k[e_pair], np.maximum(ti, 0)] == d[e_pair] - 1)
            keep_pair.append(e_pair[ok])
            keep_link.append(e_link[ok])
            lo = hi
        pairs = np.concatenate(keep_pair) if keep_pair else np.zeros(0, np.int64)
        links = np.concatenate(keep_link) if keep_link else np.zeros(0, np.int64)
        ptr = np.concatenate(([0], np.cumsum(np.bincount(pairs, minlength=v.size))))
        return links, ptr

    def _expand(self, cur, dst, keys):
        """Candidate out-links of each cur node and their remaining cost to dst.

        Low-degree nodes: every out-link, costed from the distance table. High-degree nodes
        (a spine with hundreds of ports): look up only the links toward the destination
        itself or toward the next distance level, per distinct (node, table) pair.
        """
        topo = self.topo
        mat = self._matrix()
        deg = self.out_ptr[cur + 1] - self.out_ptr[cur]
        is_big = (deg > self.big_degree) & self.transit[cur]   # sources always scan
        small = np.flatnonzero(~is_big)
        dsm = deg[small]
        rep = np.repeat(small, dsm)
        starts = np.repeat(self.out_ptr[cur[small]], dsm)
        offs = np.arange(rep.size) - np.repeat(np.cumsum(dsm) - dsm, dsm)
        links = self.out_links[starts + offs]
        w = topo.dst[links]
        ti = self.tidx[w]
        cost = mat[keys[rep], np.maximum(ti, 0)].astype(np.int64)
        cost[(ti < 0) | (cost == _INF16)] = _INF
        cost[w == dst[rep]] = 0
        big = np.flatnonzero(is_big)
        if big.size:
            parts_r, parts_l, parts_c = [rep], [links], [cost]
            r_d, l_d = self._lookup(cur[big], dst[big])       # straight to the destination
            parts_r.append(big[r_d])
            parts_l.append(l_d)
            parts_c.append(np.zeros(l_d.size, dtype=np.int64))
            rest = big[np.bincount(r_d, minlength=big.size) == 0]
            if rest.size:
                pair = cur[rest] * self._n_keys + keys[rest]
                upair, inv = np.unique(pair, return_inverse=True)
                p_links, p_ptr = self._next_level_links(upair // self._n_keys,
                                                        upair % self._n_keys)
                cnt = (p_ptr[1:] - p_ptr[:-1])[inv]
                r2 = np.repeat(rest, cnt)
                idx = (np.repeat(p_ptr[:-1][inv] - (np.cumsum(cnt) - cnt), cnt)
                       + np.arange(cnt.sum()))
                l2 = p_links[idx]
                parts_r.append(r2)
                parts_l.append(l2)
                parts_c.append(mat[keys[r2], self.tidx[topo.dst[l2]]].astype(np.int64))
            rep = np.concatenate(parts_r)
            links = np.concatenate(parts_l)
            order = np.lexsort((links, rep))     # same candidate order as the scan: by link id
            rep = rep[order]
            links = links[order]
            cost = np.concatenate(parts_c)[order]
            w = topo.dst[links]
        deg = np.bincount(rep, minlength=cur.size)
        return rep, deg, links, w, cost

    def paths(self, src: np.ndarray, dst: np.ndarray, *, mode: str, seed: int,
              spray_source: bool = False):
        """Routes for node pairs -> (indptr, links, coef, latency_s) per pair.

        ``spray_source``: split evenly over a source GPU's equal-cost NIC ports (planes) even
        in hash mode; the hash then picks one path within each.
        """
        topo = self.topo
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        keys = self.keys(dst)
        F = src.size
        # entries: (flow, node, frac, latency so far)
        e_f = np.arange(F)
        e_node = src.copy()
        e_frac = np.ones(F)
        e_lat = np.zeros(F)
        out_f, out_l, out_c = [], [], []
        fin_lat = np.zeros(F)
        hop = 0
        while e_f.size:
            rep, deg, links, w, cost = self._expand(e_node, dst[e_f], keys[e_f])
            if np.any(deg == 0):
                bad = e_f[np.flatnonzero(deg == 0)[0]]
                raise CposimError(f"no route from node {topo.node_name[src[bad]]} to "
                                  f"{topo.node_name[dst[bad]]}", field="topology")
            starts = np.cumsum(deg) - deg
            cmin = np.minimum.reduceat(cost, starts)
            if np.any(cmin >= _INF):
                bad = e_f[np.flatnonzero(cmin >= _INF)[0]]
                raise CposimError(f"no route from node {topo.node_name[src[bad]]} to "
                                  f"{topo.node_name[dst[bad]]}", field="topology")
            cand = cost == cmin[rep]
            ncand = np.add.reduceat(cand.astype(np.int64), starts)
            if mode == "ecmp-hash" and not (spray_source and hop == 0):
                f = e_f
                with np.errstate(over="ignore"):
                    pair = src[f].astype(np.uint64) * np.uint64(1 << 32) + dst[f].astype(np.uint64)
                    salt = _mix(np.array([(seed * 0x9E3779B97F4A7C15 + hop * 0x632BE59BD9B4E019)
                                          & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
                    h = _mix(pair ^ salt)
                pick = (h % ncand.astype(np.uint64)).astype(np.int64)
                cs = np.cumsum(cand)
                before = cs[starts + deg - 1] - ncand
                rank = cs - np.repeat(before, deg) - 1
                chosen = cand & (rank == pick[rep])
                frac = np.repeat(e_frac, deg)[chosen]
            else:
                chosen = cand
                frac = (np.repeat(e_frac / ncand, deg))[chosen]
            cf = e_f[rep[chosen]]
            cl = links[chosen]
            cw = w[chosen]
            clat = np.repeat(e_lat, deg)[chosen] + topo.latency_s[cl]
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
                uk, inv = np.unique(key, return_inverse=True)
                frac = np.bincount(inv, weights=frac)
                lat = np.zeros(uk.size)
                np.maximum.at(lat, inv, clat)
                cf, cw, clat = uk // topo.n_nodes, uk % topo.n_nodes, lat
            e_f, e_node, e_frac, e_lat = cf, cw, frac, clat
            hop += 1
            if hop > topo.n_nodes:
                raise CposimError("routing did not converge", field="topology")
        f = np.concatenate(out_f) if out_f else np.zeros(0, np.int64)
        l_ = np.concatenate(out_l) if out_l else np.zeros(0, np.int64)
        c = np.concatenate(out_c) if out_c else np.zeros(0)
        # merge duplicate (flow, link) entries; CSR by flow
        key = f * topo.n_links + l_
        uk, inv = np.unique(key, return_inverse=True)
        coef = np.bincount(inv, weights=c)
        ff, ll = uk // topo.n_links, uk % topo.n_links
        indptr = np.concatenate(([0], np.cumsum(np.bincount(ff, minlength=F))))
        return indptr, ll, coef, fin_lat


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
        self.g_all = RouteGraph(topo, np.arange(topo.n_links))
        g = topo.gpu_node
        self.out_ok = self.g_out is not None and bool(self.g_out.has_link[g].all())
        self.up_ok = (np.zeros(topo.n_gpus, dtype=bool) if self.g_up is None
                      else self.g_up.has_link[g])
        self._rid: dict[int, int] = {}                 # every known pair -> route id
        self._sorted = (np.zeros(0, np.int64), np.zeros(0, np.int64))
        self._n_routes = 0
        self._nnz = 0
        self._ptr = np.zeros(1024, dtype=np.int64)
        self._links = np.zeros(4096, dtype=np.int64)
        self._coef = np.zeros(4096)
        self._lat = np.zeros(1024)
        self._bneck = np.zeros(1024)

    # route table: CSR over route ids
    def route_ids(self, src_gpu: np.ndarray, dst_gpu: np.ndarray) -> np.ndarray:
        src_gpu = np.asarray(src_gpu, dtype=np.int64)
        dst_gpu = np.asarray(dst_gpu, dtype=np.int64)
        n = self.topo.n_gpus
        if src_gpu.size and (min(src_gpu.min(), dst_gpu.min()) < 0 or
                             max(src_gpu.max(), dst_gpu.max()) >= n):
            raise CposimError(f"GPU index out of range 0..{n - 1}", field="gpu")
        pairs = src_gpu * n + dst_gpu
        # known pairs: a sorted array (searchsorted) plus a dict of recent additions
        keys, vals = self._sorted
        if keys.size:
            pos = np.minimum(np.searchsorted(keys, pairs), keys.size - 1)
            rids = np.where(keys[pos] == pairs, vals[pos], -1)
        else:
            rids = np.full(pairs.size, -1, dtype=np.int64)
        miss = np.flatnonzero(rids < 0)
        if miss.size:
            uniq, inv = np.unique(pairs[miss], return_inverse=True)
            get = self._rid.get
            found = np.fromiter((get(p, -1) for p in uniq.tolist()), dtype=np.int64,
                                count=uniq.size)
            new = found < 0
            if new.any():
                found[new] = self._add(uniq[new] // n, uniq[new] % n)
                self._rid.update(zip(uniq[new].tolist(), found[new].tolist()))
            rids[miss] = found[inv]
            if len(self._rid) > 1.1 * keys.size + 64:      # fold recent pairs in, amortised
                k = np.fromiter(self._rid.keys(), dtype=np.int64, count=len(self._rid))
                v = np.fromiter(self._rid.values(), dtype=np.int64, count=len(self._rid))
                order = np.argsort(k)
                self._sorted = (k[order], v[order])
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
        for gi, g in enumerate((self.g_up, self.g_out, self.g_all)):
            m = np.flatnonzero(graphs == gi)
            if not m.size:
                continue
            m = m[sn[m] != dn[m]]      # a GPU to itself: no links
            if m.size:
                ip, ll, cc, la = g.paths(sn[m], dn[m], mode=self.mode, seed=self.seed,
                                         spray_source=self.spray and g is not self.g_up)
                lens[m] = np.diff(ip)
                lat[m] = la
                order.append((m, ip, ll, cc))
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
        arr = getattr(self, name)
        if need > arr.size:
            new = np.zeros(max(need, 2 * arr.size), dtype=arr.dtype)
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
