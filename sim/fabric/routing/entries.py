"""Index helpers over flat arrays of entries: CSR pointers and segments (``route_entries``),
runs and distinct values of sorted keys, and the growth of append-only buffers.

Everything in routing works on flat numpy arrays of *entries* (a route's links, a node's
out-links, a flow's candidates at one hop) grouped into consecutive *segments*; these are the
few index computations all of it shares.
"""

from __future__ import annotations

import numpy as np


def _indptr(counts: np.ndarray) -> np.ndarray:
    """CSR pointer (``n + 1`` offsets, int64) of ``n`` consecutive groups of ``counts``."""
    return np.concatenate(([0], np.cumsum(counts)))


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


def _run_heads(x: np.ndarray) -> np.ndarray:
    """Mask of the elements of sorted ``x`` that differ from the one before (the first
    element of each run of equal values)."""
    heads = np.empty(x.size, dtype=bool)
    if x.size:
        heads[0] = True
        np.not_equal(x[1:], x[:-1], out=heads[1:])
    return heads


def _run_starts(x: np.ndarray) -> np.ndarray:
    """Index of the first element of each run of equal values in sorted ``x``."""
    return np.flatnonzero(_run_heads(x))


def _unique(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values (``np.unique`` without the inverse hashes on numpy 2.x, ~20x
    slower than a sort for 10^6 int64)."""
    x = np.sort(x)
    return x[_run_heads(x)]


def _unique_inverse(x: np.ndarray):
    """``np.unique(x, return_inverse=True)`` by a stable sort: the keys of a batch of flows
    come in runs (a ring's consecutive GPUs), which a merge sort takes in ~linear time."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    first = _run_heads(xs)
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


def _grown(arr: np.ndarray, used: int, need: int, factor: int = 2,
           minimum: int = 0) -> np.ndarray:
    """``arr`` if it has ``need`` rows, else a zeroed copy of its first ``used`` rows with
    ``max(need, factor * rows, minimum)`` rows. Only the used rows are copied: np.zeros maps
    pages on first touch, so the spare tail costs no memory until it is written."""
    if need <= arr.shape[0]:
        return arr
    new = np.zeros((max(need, factor * arr.shape[0], minimum),) + arr.shape[1:],
                   dtype=arr.dtype)
    new[:used] = arr[:used]
    return new
