"""``Router``: routes between GPUs under the fabric's rules, one route id per GPU pair, kept
in one CSR route table (links, coef, latency, bottleneck) that grows as pairs are asked for.

* Two GPUs of the same scale-up domain talk over the scale-up fabric only (NVLink does not
  spill onto the NIC); GPUs of different domains use the scale-out fabric only, when every
  GPU has one; otherwise the whole graph (:meth:`Router.graph_of`). Each is a
  :class:`RouteGraph`.
* A GPU whose NIC has several equal-cost ports (multi-plane: one port per plane) spreads each
  flow evenly over them in both modes (``spray_planes``), except in direct networks.
* Every pair routed so far keeps its route id (:class:`.cache._PairIndex`); a pair is routed
  once, whatever batches it comes in.
"""

from __future__ import annotations

import numpy as np

from sim.errors import CposimError
from sim.fabric.routing.cache import _PairIndex
from sim.fabric.routing.ecmp import ROUTINGS
from sim.fabric.routing.entries import _grown, _segments, _unique_inverse, route_entries
from sim.fabric.routing.graph import RouteGraph, transit_nodes
from sim.fabric.routing.pxn import relays

# every routing a fabric accepts: the ECMP modes, and PXN (ECMP hash + rail-local relays)
ROUTING_NAMES = ROUTINGS + ("pxn",)
# NCCL's own default: PXN is on (NCCL_PXN_DISABLE=0) and used as much as possible
# (NCCL_P2P_PXN_LEVEL=2, src/graph/search.cc); where a fabric has no rails it routes as ecmp-hash
DEFAULT_ROUTING = "pxn"


class Router:
    """Routes between GPUs with the scale-up / scale-out split; caches every pair's route."""

    def __init__(self, topo, *, routing: str = DEFAULT_ROUTING, seed: int = 0,
                 spray_planes: bool = True) -> None:
        if routing not in ROUTING_NAMES:
            raise CposimError(f"unknown routing '{routing}' (choose from "
                              f"{', '.join(ROUTING_NAMES)})", field="routing")
        self.topo = topo
        # pxn: hashed ECMP, with cross-rail pairs relayed on their rail (sim.fabric.routing.pxn)
        self.pxn = routing == "pxn"
        self.mode = "ecmp-hash" if self.pxn else routing
        self.seed = int(seed)
        # a GPU with several equal-cost NIC ports (a multi-plane NIC) spreads each flow over
        # them; not in direct networks, where a GPU's links are the network itself
        self.spray = bool(spray_planes) and not topo.direct
        is_up = topo.tier == "scaleup"             # (an object array: ~10 ms at 10^6 links)
        up = np.flatnonzero(is_up)
        out = np.flatnonzero(~is_up)
        self._transit = transit_nodes(topo)
        self.g_up = RouteGraph(topo, up, transit=self._transit) if up.size else None
        self.g_out = RouteGraph(topo, out, transit=self._transit) if out.size else None
        self._g_all = None             # the whole graph, built when a pair needs it
        g = topo.gpu_node
        self.out_ok = self.g_out is not None and bool(self.g_out.has_link[g].all())
        self.up_ok = (np.zeros(topo.n_gpus, dtype=bool) if self.g_up is None
                      else self.g_up.has_link[g])
        self._rid = _PairIndex(topo.n_gpus)            # every known pair -> route id
        # the route table (see table()): CSR over route ids, in buffers grown by _grow
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

    def route_ids(self, src_gpu: np.ndarray, dst_gpu: np.ndarray) -> np.ndarray:
        """Route id (a row of :meth:`table`) of each GPU pair ``src_gpu[i] -> dst_gpu[i]``;
        pairs not seen yet are routed, each distinct pair once, and appended."""
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
        """Route the new pairs ``s[i] -> d[i]`` -> their route ids: PXN relays as their two
        legs joined (each leg a pair of its own), the others directly (:meth:`_add_direct`)."""
        relay = (relays(self.topo, s, d, self.graph_of(s, d) == 1, self.up_ok) if self.pxn
                 else np.full(s.size, -1, dtype=np.int64))
        m = np.flatnonzero(relay >= 0)
        if not m.size:
            return self._add_direct(s, d)
        out = np.empty(s.size, dtype=np.int64)
        direct = np.flatnonzero(relay < 0)
        if direct.size:
            out[direct] = self._add_direct(s[direct], d[direct])
        r1 = self.route_ids(s[m], relay[m])          # NVLink leg (same domain: direct)
        r2 = self.route_ids(relay[m], d[m])          # rail leg (same rail: direct)
        ptr, links, coef, lat, _ = self.table()
        seg1, i1 = route_entries(ptr, r1)
        seg2, i2 = route_entries(ptr, r2)
        row = np.concatenate([seg1, seg2])
        link = np.concatenate([links[i1], links[i2]])
        cf = np.concatenate([coef[i1], coef[i2]])
        order = np.lexsort((link, row))              # each route's links by link id
        new_ptr = np.zeros(m.size + 1, dtype=np.int64)
        new_ptr[1:] = np.cumsum((ptr[r1 + 1] - ptr[r1]) + (ptr[r2 + 1] - ptr[r2]))
        base = self._n_routes
        self._append(new_ptr, link[order], cf[order], lat[r1] + lat[r2])
        out[m] = base + np.arange(m.size)
        return out

    def _add_direct(self, s: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Route the new pairs ``s[i] -> d[i]`` (GPU indices), each on its graph, and append
        them to the table in this order -> their route ids."""
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
            dst_pos = _segments(ptr[m], np.diff(ip))[1]
            L[dst_pos] = ll
            C[dst_pos] = cc
        self._append(ptr, L, C, lat)
        return base + np.arange(s.size)

    def table(self):
        """(indptr, links, coef, latency_s, bottleneck_bps) over all route ids so far (views)."""
        n, m = self._n_routes, self._nnz
        return (self._ptr[:n + 1], self._links[:m], self._coef[:m], self._lat[:n],
                self._bneck[:n])

    def _grow(self, name: str, used: int, need: int) -> None:
        # by 4x: fewer copies of a table of 10^6 links (the spare tail costs no memory until
        # it is written, see _grown)
        setattr(self, name, _grown(getattr(self, name), used, need, 4))

    def _append(self, ptr: np.ndarray, links: np.ndarray, coef: np.ndarray,
                lat: np.ndarray) -> None:
        """Append routes (amortised O(new) — routes are added one pair at a time too)."""
        n, m, k = self._n_routes, self._nnz, lat.size
        self._grow("_ptr", n + 1, n + k + 1)
        self._grow("_lat", n, n + k)
        self._grow("_bneck", n, n + k)
        self._grow("_links", m, m + links.size)
        self._grow("_coef", m, m + links.size)
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
