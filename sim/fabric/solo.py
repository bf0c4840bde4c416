"""A batch of flows alone on its links, simulated once and replayed: exact while it stays alone.

Max-min rates decompose by connected component of the flow–link graph: a batch whose links
carry no other traffic evolves exactly as it would on an empty fabric. So the ``flow`` model
simulates such a batch once, alone, on a private scratch fabric, keeps its trajectory — every
row's rate from one re-solve to the next, and when each row's last byte leaves — and, the next
time the same batch (same routes, weights and sizes) starts on quiet links, books the whole
run as one completion event. An all-to-all of an expert-parallel group recurs at every MoE
layer of every micro-batch, and has as many rate epochs as it has distinct flow rates (ECMP
collisions make hundreds): replaying it is where MoE iterations spend no time at all.

If other traffic starts on any of the batch's links before it ends, the replay stops at that
instant: rows already finished are booked, the others become ordinary rows with the bytes the
trajectory says they have left, and from there the fabric simulates everything together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.fabric.base import LinkBytes


@dataclass(frozen=True, eq=False)
class SoloRun:
    """A batch's rows (in the fabric's row order) alone on an idle fabric, from its start."""

    rid: np.ndarray          # route id per row
    w: np.ndarray            # flows per row
    size: np.ndarray         # bytes per flow of the row
    lat: np.ndarray          # path latency per row
    finish_s: np.ndarray     # when each row's last byte is sent, from the batch's start
    seg_row: np.ndarray      # rate segments: row, [t0, t1) from the start, bytes/s
    seg_t0: np.ndarray
    seg_t1: np.ndarray
    seg_rate: np.ndarray
    links: np.ndarray        # links the batch crosses
    link_bytes: LinkBytes    # what the whole batch books
    stats: dict              # the solo simulation's solves, epochs, ...

    @property
    def end_s(self) -> float:
        return float(self.finish_s.max())

    def sent_at(self, t: float) -> np.ndarray:
        """Bytes each row (one flow of it) has sent ``t`` after the start."""
        span = np.clip(t - self.seg_t0, 0.0, self.seg_t1 - self.seg_t0)
        return np.bincount(self.seg_row, weights=self.seg_rate * span, minlength=self.rid.size)

    def rate_at(self, t: float) -> np.ndarray:
        """Each row's rate at ``t`` after the start (0 once it has finished)."""
        out = np.zeros(self.rid.size)
        on = (self.seg_t0 <= t) & (t < self.seg_t1)
        out[self.seg_row[on]] = self.seg_rate[on]
        return out


def segments(records: list[tuple[float, np.ndarray, np.ndarray]], finish_s: np.ndarray,
             t0: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rate segments from the solo run's rate assignments ``(time, rows, rates)``: a row keeps
    a rate until its next assignment or until it finishes."""
    if not records:
        z = np.zeros(0)
        return np.zeros(0, np.int64), z, z, z
    t = np.concatenate([np.full(r.size, time - t0) for time, r, _ in records])
    row = np.concatenate([r for _, r, _ in records]).astype(np.int64)
    rate = np.concatenate([v for _, _, v in records])
    order = np.lexsort((np.arange(t.size), t, row))     # by row, then time, then record order
    t, row, rate = t[order], row[order], rate[order]
    t1 = np.empty_like(t)
    same = row[1:] == row[:-1]
    t1[:-1] = np.where(same, t[1:], finish_s[row[:-1]])
    t1[-1:] = finish_s[row[-1:]]
    return row, t, np.maximum(t1, t), rate
