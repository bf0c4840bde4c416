"""Routes of a set of GPU pairs, gathered once and reused.

A training iteration asks about the same pairs again and again: the all-gathers and
reduce-scatters of one pipeline stage's data-parallel communicators use the same ring
neighbours, for every bucket size. Looking their routes up, gathering their hops and finding
the distinct links they cross once per pair set (instead of per collective) leaves a
bincount per collective for its link bytes.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sim.fabric.base import LinkBytes
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

    def link_bytes(self, pair_bytes: np.ndarray) -> LinkBytes:
        """Bytes per link when pair ``i`` carries ``pair_bytes[i]``; summed in hop-entry
        order, as :meth:`LinkBytes.of` sums them (bit-identical)."""
        w = pair_bytes[self.e_pair] * self.coef
        return LinkBytes(self.links, np.bincount(self.inv, weights=w, minlength=self.links.size))


def pair_routes(fabric, src: np.ndarray, dst: np.ndarray) -> PairRoutes:
    """:class:`PairRoutes` of GPU pairs on ``fabric``'s router, memoised per fabric by the
    pairs (a new router — after a link failure — starts a new memo)."""
    src = np.ascontiguousarray(src, dtype=np.int64)
    dst = np.ascontiguousarray(dst, dtype=np.int64)
    router = fabric.router
    memo = fabric.__dict__.get("_pair_routes")
    if memo is None or memo[0] is not router:
        memo = (router, {}, [0])
        fabric.__dict__["_pair_routes"] = memo
    sets, size = memo[1], memo[2]
    key = (src.tobytes(), dst.tobytes())
    got = sets.get(key)
    if got is not None:
        return got
    rids = router.route_ids(src, dst)
    ptr, links, coef, lat, bneck = router.table()
    e_pair, idx = route_entries(ptr, rids)
    ulinks, inv = _distinct(links[idx], fabric.topology.n_links)
    got = PairRoutes(lat[rids], bneck[rids], e_pair, coef[idx], ulinks, inv)
    while sets and size[0] + idx.size > _CACHE_ENTRIES:
        old = sets.pop(next(iter(sets)))
        size[0] -= old.e_pair.size
    if idx.size <= _CACHE_ENTRIES:
        sets[key] = got
        size[0] += idx.size
    return got


def _distinct(ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct ids, position of each id among them) for ids in ``0 .. n - 1``:
    marking an ``n``-long table beats sorting once there are more than ~1% of ``n``."""
    if 128 * ids.size > n:
        return _unique_nodes(ids, n)
    u, inv = np.unique(ids, return_inverse=True)
    return u, inv.ravel()
