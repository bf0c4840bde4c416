"""A collective as data: rows of (step, src, dst, bytes) between communicator rank indices.

Every algorithm in :mod:`sim.comm.algorithms` returns a :class:`Schedule`. Rows of one step
run concurrently; step ``k+1`` starts when step ``k`` has been delivered. Block-based
collectives also say *which part* of the buffer each row carries (``lo``..``hi`` as
fractions of the buffer) and whether the receiver *adds* it (reduce) or *stores* it (copy);
:mod:`sim.comm.semantics` replays that to prove the schedule computes the collective.

Chunking (ASTRA-sim ``preferred-dataset-splits``) is a pipelined wavefront: the buffer is
cut into ``C`` chunks and chunk ``c`` performs step ``k`` in wave ``c + k``, so a schedule
of ``K`` steps takes ``K + C - 1`` waves. Rows of one wave with the same (src, dst) merge
into one flow (one connection per peer, as NCCL's channels do).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

_I = np.int64


class PairBytesMixin:
    """Per-rank totals from ``pair_bytes()`` (pairs keyed src * n + dst, bytes per pair)."""

    def sent_bytes(self) -> np.ndarray:
        pairs, nb, _ = self.pair_bytes()
        return np.bincount(pairs // self.n, weights=nb, minlength=self.n)

    def recv_bytes(self) -> np.ndarray:
        pairs, nb, _ = self.pair_bytes()
        return np.bincount(pairs % self.n, weights=nb, minlength=self.n)


@dataclass(frozen=True, eq=False)
class Schedule(PairBytesMixin):
    op: str
    algorithm: str
    n: int
    size_bytes: float
    n_steps: int
    step: np.ndarray        # int64, 0..n_steps-1
    src: np.ndarray         # communicator rank index
    dst: np.ndarray
    flow_bytes: np.ndarray  # float64
    lo: np.ndarray          # fraction of the buffer carried (NaN: not block-based, e.g. all-to-all)
    hi: np.ndarray
    reduce: np.ndarray      # bool: receiver adds (True) or stores (False)
    level: np.ndarray       # int8: 0 = within a scale-up domain / flat, 1 = across domains
    root: int = 0
    phases: tuple[str, ...] = ()

    @property
    def n_rows(self) -> int:
        return int(self.step.size)

    def pair_bytes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(pair key src*n+dst, bytes per pair, row -> pair index)`` over the whole schedule.

        Computed once (chunking only splits these bytes); callers must not modify it.
        """
        return self._pairs

    @cached_property
    def _pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = self.src * self.n + self.dst
        if self.n * self.n <= 1 << 24:   # dense bincount beats sorting millions of rows
            counts = np.bincount(key, minlength=self.n * self.n)
            uniq = np.flatnonzero(counts)
            index = np.full(self.n * self.n, -1, dtype=_I)
            index[uniq] = np.arange(uniq.size)
            inv = index[key]
        else:
            uniq, inv = np.unique(key, return_inverse=True)
        return uniq, np.bincount(inv, weights=self.flow_bytes, minlength=uniq.size), inv

    @cached_property
    def _waves(self) -> dict:
        """:func:`to_waves` per chunk count (filled by it)."""
        return {}

    def with_level(self, level: int) -> "Schedule":
        return replace(self, level=np.full(self.n_rows, level, dtype=np.int8))


class Builder:
    """Accumulates steps of block transfers; ``build`` turns them into a :class:`Schedule`."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.parts: list[tuple] = []
        self.n_steps = 0

    def step(self, src, dst, lo, hi, reduce: bool, level: int = 0) -> None:
        """Append one step of rows; scalars broadcast against the arrays."""
        src, dst, lo, hi = np.broadcast_arrays(np.asarray(src, _I), np.asarray(dst, _I),
                                               np.asarray(lo, float), np.asarray(hi, float))
        m = src.size
        if m:
            self.parts.append((np.full(m, self.n_steps, _I), src.ravel(), dst.ravel(), lo.ravel(),
                               hi.ravel(), np.full(m, reduce), np.full(m, level, np.int8),
                               None))
        self.n_steps += 1

    def raw_step(self, src, dst, flow_bytes, level: int = 0) -> None:
        """A step of rows that carry a byte count but no block (all-to-all)."""
        src, dst, b = np.broadcast_arrays(np.asarray(src, _I), np.asarray(dst, _I),
                                          np.asarray(flow_bytes, float))
        m = src.size
        if m:
            nan = np.full(m, np.nan)
            self.parts.append((np.full(m, self.n_steps, _I), src.ravel(), dst.ravel(), nan, nan,
                               np.zeros(m, bool), np.full(m, level, np.int8), b.ravel()))
        self.n_steps += 1

    def phase(self, subs: list[tuple["Schedule", np.ndarray, np.ndarray]], level: int) -> None:
        """Run sub-schedules side by side as the next steps (a phase of a hierarchical collective).

        Each entry is ``(sub, rank_map, seg)``: sub rank ``r`` is our rank ``rank_map[r]``, and
        the sub-buffer, cut into ``len(seg)`` equal segments, maps segment ``q`` onto our buffer
        range ``seg[q, 0]..seg[q, 1]``.
        """
        k = max((s.n_steps for s, _, _ in subs), default=0)
        for sub, rank_map, seg in subs:
            if not sub.n_rows:
                continue
            idx, glo, ghi = map_ranges(sub.lo, sub.hi, np.asarray(seg, float))
            m = idx.size
            self.parts.append((sub.step[idx] + self.n_steps, np.asarray(rank_map, _I)[sub.src[idx]],
                               np.asarray(rank_map, _I)[sub.dst[idx]], glo, ghi, sub.reduce[idx],
                               np.full(m, level, np.int8), None))
        self.n_steps += k

    def build(self, op: str, algorithm: str, size_bytes: float, root: int = 0,
              phases: tuple[str, ...] = ()) -> Schedule:
        if self.parts:
            cols = list(zip(*self.parts))
            step, src, dst, lo, hi, red, lev = (np.concatenate(c) for c in cols[:7])
            fb = np.concatenate([b if b is not None else (p[4] - p[3]) * size_bytes
                                 for p, b in zip(self.parts, cols[7])])
        else:
            step = src = dst = np.zeros(0, _I)
            lo = hi = fb = np.zeros(0)
            red = np.zeros(0, bool)
            lev = np.zeros(0, np.int8)
        return Schedule(op, algorithm, self.n, float(size_bytes), self.n_steps, step, src, dst,
                        fb, lo, hi, red, lev, root, phases)


def map_ranges(lo: np.ndarray, hi: np.ndarray, seg: np.ndarray):
    """Split ranges ``lo..hi`` of a sub-buffer at segment boundaries and map them onto ``seg``.

    Returns ``(row index, global lo, global hi)`` with one output row per (row, segment) piece.
    """
    q = len(seg)
    eps = 1e-9
    s0 = np.floor(lo * q + eps).astype(_I)
    s1 = np.maximum(np.ceil(hi * q - eps).astype(_I), s0 + 1)
    counts = s1 - s0
    idx = np.repeat(np.arange(lo.size), counts)
    within = np.arange(idx.size) - np.repeat(np.cumsum(counts) - counts, counts)
    segs = s0[idx] + within
    plo = np.maximum(lo[idx], segs / q)
    phi = np.minimum(hi[idx], (segs + 1) / q)
    width = seg[segs, 1] - seg[segs, 0]
    glo = seg[segs, 0] + (plo * q - segs) * width
    ghi = seg[segs, 0] + (phi * q - segs) * width
    return idx, glo, ghi


@dataclass(frozen=True, eq=False)
class Waves:
    """A schedule with chunking applied: flows per wave, merged per (src, dst)."""

    n_waves: int
    wave: np.ndarray   # wave index of each flow, sorted
    src: np.ndarray
    dst: np.ndarray
    flow_bytes: np.ndarray
    level: np.ndarray
    bounds: np.ndarray  # flows of wave w are rows bounds[w]:bounds[w+1]

    def flows(self, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, b = self.bounds[w], self.bounds[w + 1]
        return self.src[a:b], self.dst[a:b], self.flow_bytes[a:b]


def to_waves(s: Schedule, chunks: int = 1) -> Waves:
    """The flows of every wave with ``chunks`` pipelined chunks (memoised on the schedule)."""
    chunks = max(int(chunks), 1)
    memo = s._waves
    if chunks not in memo:
        memo[chunks] = _to_waves(s, chunks)
    return memo[chunks]


def _to_waves(s: Schedule, chunks: int) -> Waves:
    n_waves = s.n_steps + chunks - 1 if s.n_steps else 0
    m = s.n_rows
    rows = np.tile(np.arange(m), chunks)
    wave = s.step[rows] + np.repeat(np.arange(chunks, dtype=_I), m)
    src, dst, lev = s.src[rows], s.dst[rows], s.level[rows]
    key = (wave * s.n + src) * s.n + dst
    key = key * 2 + lev
    if chunks == 1 and (m < 2 or bool((key[1:] > key[:-1]).all())):
        uniq, fb = key, s.flow_bytes.astype(float)   # already one row per flow, in wave order
    else:
        uniq, inv = np.unique(key, return_inverse=True)
        fb = np.bincount(inv, weights=s.flow_bytes[rows] / chunks, minlength=uniq.size)
    lev = (uniq % 2).astype(np.int8)
    pair = uniq // 2
    dst = pair % s.n
    src = (pair // s.n) % s.n
    wave = pair // (s.n * s.n)
    # zero-byte flows stay: a zero-byte collective (a barrier) still pays the latencies
    bounds = np.searchsorted(wave, np.arange(n_waves + 1))
    return Waves(n_waves, wave, src, dst, fb, lev, bounds)
