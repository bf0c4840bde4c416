"""Routes of a set of GPU pairs, gathered once and reused.

A training iteration asks about the same pairs again and again: the all-gathers and
reduce-scatters of one pipeline stage's data-parallel communicators use the same ring
neighbours, for every bucket size. Looking their routes up, gathering their hops and finding
the distinct links they cross once per pair set (instead of per collective) leaves a
bincount per collective for its link bytes.

With ``ecmp-even`` routing a pair's route is its whole shortest-path fan-out (a cross-pod
pair of a 3-tier fat-tree crosses ~600 links), so per-pair hop lists grow as pairs x paths
(18 M entries at 16k GPUs, ~10^8 at 131k). There, a GPU with one scale-out link each way
(single-homed NIC) makes the route of ``s -> d`` its own link up to leaf ``A``, the route
from ``A`` to leaf ``B`` and ``B``'s link down to ``d``: the middle part is shared by every
pair on the same two leaves, routed once (:class:`FactoredPairRoutes`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sim.fabric.accounting import LinkBytes
from sim.fabric.routing import _unique_nodes, route_entries

_CACHE_ENTRIES = 4_000_000      # hop entries kept per fabric (~100 MB); oldest sets go first


class PairRoutes(NamedTuple):
    """The routes of pairs ``src[i] -> dst[i]``: per pair ``latency_s`` and
    ``bottleneck_bps``; per hop entry its pair (``e_pair``), share of the pair's bytes
    (``coef``) and position ``inv`` in ``links`` (the distinct link ids, sorted)."""

    latency_s: np.ndarray
    bottleneck_bps: np.ndarray
    e_pair: np.ndarray
    coef: np.ndarray
    links: np.ndarray
    inv: np.ndarray

    @property
    def size(self) -> int:
        """Hop entries kept."""
        return self.e_pair.size

    def link_bytes(self, pair_bytes: np.ndarray) -> LinkBytes:
        """Bytes per link when pair ``i`` carries ``pair_bytes[i]``; summed in hop-entry
        order, as :meth:`LinkBytes.of` sums them (bit-identical)."""
        w = pair_bytes[self.e_pair] * self.coef
        return LinkBytes(self.links, np.bincount(self.inv, weights=w, minlength=self.links.size))


class FactoredPairRoutes:
    """:class:`PairRoutes` of pairs whose routes share their middle part (``ecmp-even``):
    per pair ``latency_s`` and ``bottleneck_bps``; :meth:`link_bytes` adds the pairs' bytes
    per middle part first, then spreads them over its links. Pairs that do not factor keep
    their own hop entries (``rest``)."""

    def __init__(self, latency_s, bottleneck_bps, fac, pair_class, n_class, m_class, m_coef,
                 rest, rest_entries, links, inv):
        self.latency_s = latency_s
        self.bottleneck_bps = bottleneck_bps
        self._fac = fac                  # indices of the factored pairs
        self._cls = pair_class           # their middle part
        self._n_class = n_class
        self._m_class, self._m_coef = m_class, m_coef         # middle parts' hop entries
        self._rest = rest                # indices of the other pairs
        self._r_pair, self._r_coef = rest_entries
        self.links, self._inv = links, inv
        # hop entries kept; ``links`` / ``inv`` list the middle parts' entries, then each
        # factored pair's first and last link, then the other pairs' entries
        self.size = m_class.size + 2 * fac.size + self._r_pair.size

    def link_bytes(self, pair_bytes: np.ndarray) -> LinkBytes:
        b = pair_bytes[self._fac]
        per_class = np.bincount(self._cls, weights=b, minlength=self._n_class)
        w = np.concatenate((per_class[self._m_class] * self._m_coef, b, b,
                            pair_bytes[self._rest][self._r_pair] * self._r_coef))
        return LinkBytes(self.links, np.bincount(self._inv, weights=w,
                                                 minlength=self.links.size))


def _single_homed(topo) -> tuple[np.ndarray, np.ndarray]:
    """Per GPU: its one scale-out link up and down (-1 where it has none or several)."""
    g = topo.gpu_node
    out = np.flatnonzero(topo.tier != "scaleup")
    pos = np.full(topo.n_nodes, -1, dtype=np.int64)
    pos[g] = np.arange(g.size)
    res = []
    for end in (topo.src, topo.dst):
        gi = pos[end[out]]
        mine = gi >= 0
        count = np.bincount(gi[mine], minlength=g.size)
        link = np.full(g.size, -1, dtype=np.int64)
        link[gi[mine]] = out[mine]
        link[count != 1] = -1
        res.append(link)
    return res[0], res[1]


def _factored(cache: PairRouteCache, topo, router, src, dst):
    """:class:`FactoredPairRoutes` of the pairs, or None when too few of them factor."""
    from sim.fabric.routing import Router, _unique_inverse

    if type(router) is not Router or router.mode != "ecmp-even" or topo.direct \
            or src.size < 64:
        return None
    up, down = cache.single_homed(router)
    # the pairs routed on the scale-out graph, single-homed at both ends
    ok = (router.graph_of(src, dst) == 1) & (topo.gpu_node[src] != topo.gpu_node[dst]) \
        & (up[src] >= 0) & (down[dst] >= 0)
    fac = np.flatnonzero(ok)
    if fac.size < src.size // 2:
        return None
    first, last = up[src[fac]], down[dst[fac]]
    leaf_a, leaf_b = topo.dst[first], topo.src[last]
    _, cls = _unique_inverse(leaf_a * topo.n_nodes + leaf_b)
    rep = fac[np.unique(cls, return_index=True)[1]]            # one pair per middle part
    rids = router.route_ids(src[rep], dst[rep])
    ptr, links, coef, lat, bneck = router.table()
    e_rep, idx = route_entries(ptr, rids)
    r_first, r_last = up[src[rep]], down[dst[rep]]
    l_e = links[idx]
    ends = (l_e == r_first[e_rep]) | (l_e == r_last[e_rep])
    if not np.all(coef[idx][ends] == 1.0) or np.count_nonzero(ends) != 2 * rep.size:
        return None                      # not the shape assumed above: take the plain path
    mid = ~ends
    m_class, m_links, m_coef = e_rep[mid], l_e[mid], coef[idx][mid]
    cap = topo.capacity_bps
    mid_b = np.full(rep.size, np.inf)
    with np.errstate(divide="ignore"):
        np.minimum.at(mid_b, m_class, cap[m_links] / m_coef)
    mid_lat = lat[rids] - topo.latency_s[r_first] - topo.latency_s[r_last]
    n = src.size
    latency = np.empty(n)
    bott = np.empty(n)
    latency[fac] = topo.latency_s[first] + mid_lat[cls] + topo.latency_s[last]
    bott[fac] = np.minimum(np.minimum(cap[first], mid_b[cls]), cap[last])
    rest = np.flatnonzero(~ok)
    r_pair = np.zeros(0, np.int64)
    r_links, r_coef = np.zeros(0, np.int64), np.zeros(0)
    if rest.size:
        rr = router.route_ids(src[rest], dst[rest])
        ptr, links, coef, lat, bneck = router.table()
        r_pair, ridx = route_entries(ptr, rr)
        r_links, r_coef = links[ridx], coef[ridx]
        latency[rest], bott[rest] = lat[rr], bneck[rr]
    ulinks, inv = _distinct(np.concatenate((m_links, first, last, r_links)), topo.n_links)
    return FactoredPairRoutes(latency, bott, fac, cls, rep.size, m_class, m_coef, rest,
                              (r_pair, r_coef), ulinks, inv)


class PairRouteCache:
    """The pair-route memo of a fabric (the fabric owns it; a scratch copy of the fabric with
    the same router may share it): :class:`PairRoutes` by pair set, for one router at a time
    — a new router (after a link failure) starts afresh — and that router's table of
    single-homed NIC links. At most ``_CACHE_ENTRIES`` hop entries are kept; the oldest pair
    sets go first."""

    def __init__(self) -> None:
        self._router = None
        self._sets: dict = {}
        self._size = 0
        self._single = None

    def _follow(self, router) -> None:
        if router is not self._router:
            self._router, self._sets, self._size, self._single = router, {}, 0, None

    def single_homed(self, router) -> tuple[np.ndarray, np.ndarray]:
        """Per GPU of ``router``'s topology: its one scale-out link up and down (-1 where it
        has none or several)."""
        self._follow(router)
        if self._single is None:
            self._single = _single_homed(router.topo)
        return self._single

    def routes(self, router, topology, src: np.ndarray, dst: np.ndarray) -> PairRoutes:
        """:class:`PairRoutes` of GPU pairs on ``router`` (links of ``topology``), memoised by
        the pairs."""
        src = np.ascontiguousarray(src, dtype=np.int64)
        dst = np.ascontiguousarray(dst, dtype=np.int64)
        self._follow(router)
        sets = self._sets
        key = (src.tobytes(), dst.tobytes())
        got = sets.get(key)
        if got is not None:
            return got
        got = _factored(self, topology, router, src, dst)
        if got is None:
            rids = router.route_ids(src, dst)
            ptr, links, coef, lat, bneck = router.table()
            e_pair, idx = route_entries(ptr, rids)
            ulinks, inv = _distinct(links[idx], topology.n_links)
            got = PairRoutes(lat[rids], bneck[rids], e_pair, coef[idx], ulinks, inv)
        n = got.size
        while sets and self._size + n > _CACHE_ENTRIES:
            old = sets.pop(next(iter(sets)))
            self._size -= old.size
        if n <= _CACHE_ENTRIES:
            sets[key] = got
            self._size += n
        return got


def pair_routes(fabric, src: np.ndarray, dst: np.ndarray) -> PairRoutes:
    """:class:`PairRoutes` of GPU pairs on ``fabric``'s router, from the fabric's own memo
    (:meth:`FabricBase.pair_routes`)."""
    return fabric.pair_routes(src, dst)


def _distinct(ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct ids, position of each id among them) for ids in ``0 .. n - 1``:
    marking an ``n``-long table beats sorting once there are more than ~1% of ``n``."""
    if 128 * ids.size > n:
        return _unique_nodes(ids, n)
    u, inv = np.unique(ids, return_inverse=True)
    return u, inv.ravel()
