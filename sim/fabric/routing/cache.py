"""The caches of routing: ``_PairIndex`` (GPU pair -> route id, the Router's memory of every
pair routed so far) and ``LevelLinkCache`` (per (distance row, transit node), the out-links
one hop closer to the row's destinations, shared by every flow through that node).

Both hold only what was computed already: a cold and a warm lookup give the same routes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from sim.fabric.routing.entries import _grown, _run_heads


class LevelLinkCache:
    """Next-level links per (row, transit node) key ``row * n_transit + t``, in a dense
    table of (start + 1 (0: not listed yet), count) into ``links``.

    int32 pairs (10 MB on a 131k-GPU fabric, touched at random), read as one int64 per key
    (one gather per entry instead of two); starts must therefore stay below 2^31
    (:attr:`full`). :mod:`.nexthops` decides what to list and when the table is worth
    keeping.
    """

    def __init__(self) -> None:
        self._table = np.zeros((0, 2), dtype=np.int32)
        self._t64 = self._table.view(np.int64).reshape(-1)
        self.links = np.zeros(0, dtype=np.int64)
        self._n = 0                       # links used

    @property
    def full(self) -> bool:
        return self._n >= (1 << 30)

    def reserve(self, keys: int) -> None:
        """Room for keys ``0 .. keys - 1`` (distance rows were added)."""
        if self._table.shape[0] < keys:
            self._table = _grown(self._table, self._table.shape[0], keys, 1)
            self._t64 = self._table.view(np.int64).reshape(-1)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """(n, 2) int32: start + 1 (0: not listed yet) and count of each key."""
        return self._t64[keys].view(np.int32).reshape(-1, 2)

    def missing(self, keys: np.ndarray) -> np.ndarray:
        return self._table[keys, 0] == 0

    def store(self, keys: np.ndarray, links: np.ndarray, ptr: np.ndarray) -> None:
        """Key ``keys[i]`` gets ``links[ptr[i]:ptr[i + 1]]``."""
        base, need = self._n, self._n + links.size
        self.links = _grown(self.links, base, need, 2, 1024)
        self.links[base:need] = links
        self._table[keys, 0] = base + ptr[:-1] + 1
        self._table[keys, 1] = ptr[1:] - ptr[:-1]
        self._n = need


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
        first = _run_heads(s)            # a source's keys are in a run
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
