"""Replay a schedule on symbolic data to prove it computes its collective.

Every rank starts with its own contribution; the state is, per rank and per elementary
piece of the buffer, how many times each rank's contribution is in it. A reduce row *adds*
the sender's counts to the receiver's, a copy row *overwrites*; rows of one step read the
state as it was before the step (steps are synchronous). Double counting (a contribution
reduced twice) shows up as a count of 2, a missing one as 0. All-to-all rows carry bytes,
not blocks; they are checked against the byte matrix instead.

Meant for tests and debugging (memory grows as ranks^2 x pieces).
"""

from __future__ import annotations

import numpy as np

from sim.comm.schedule import Schedule


def _pieces(s: Schedule) -> np.ndarray:
    edges = np.concatenate([[0.0, 1.0], s.lo, s.hi])
    return np.unique(np.round(edges, 12))


def check_schedule(s: Schedule, split_bytes: np.ndarray | None = None) -> list[str]:
    """Problems found (empty list: the schedule computes ``s.op`` for ``s.root``)."""
    n = s.n
    errors: list[str] = []
    if s.op == "alltoall":
        want = (np.full((n, n), s.size_bytes / n) if split_bytes is None
                else np.asarray(split_bytes, float).copy())
        np.fill_diagonal(want, 0.0)
        got = np.zeros((n, n))
        np.add.at(got, (s.src, s.dst), s.flow_bytes)
        if not np.allclose(got, want, rtol=1e-12, atol=1e-9):
            errors.append("all-to-all byte matrix differs from the requested one")
        return errors
    if np.isnan(s.lo).any():
        return ["rows without blocks in a block-based collective"]
    edges = _pieces(s)
    p = edges.size - 1
    lo_i = np.searchsorted(edges, np.round(s.lo, 12))
    hi_i = np.searchsorted(edges, np.round(s.hi, 12))
    eye = np.eye(n, dtype=np.int64)
    state = np.zeros((n, p, n), np.int64)   # [rank, piece, contributor]
    owner_piece = np.floor((edges[:-1] + edges[1:]) / 2 * n).astype(int)  # block of each piece
    if s.op == "allgather":
        state[owner_piece, np.arange(p)] = eye[owner_piece]
    elif s.op == "broadcast":
        state[s.root] = eye[s.root]
    else:  # allreduce, reducescatter, reduce: everyone contributes everything
        state[:] = eye[:, None, :]
    # the bytes of a row must match its block
    if not np.allclose(s.flow_bytes, (s.hi - s.lo) * s.size_bytes, rtol=1e-9, atol=1e-9):
        errors.append("row bytes do not match the blocks they carry")
    order = np.argsort(s.step, kind="stable")
    bounds = np.searchsorted(s.step[order], np.arange(s.n_steps + 1))
    for k in range(s.n_steps):
        rows = order[bounds[k]:bounds[k + 1]]
        before = state.copy()
        written = np.zeros((n, p), bool)
        for r in rows:
            a, z, src, dst = lo_i[r], hi_i[r], s.src[r], s.dst[r]
            if s.reduce[r]:
                state[dst, a:z] += before[src, a:z]
            else:
                if written[dst, a:z].any():
                    errors.append(f"step {k}: rank {dst} receives a copy of one piece twice")
                state[dst, a:z] = before[src, a:z]
                written[dst, a:z] = True
    full = np.ones(n, np.int64)
    if s.op == "allreduce":
        bad = np.flatnonzero((state != full).any(axis=(1, 2)))
        if bad.size:
            errors.append(f"ranks {bad.tolist()[:8]} do not end with the full sum exactly once")
    elif s.op == "allgather":
        want = eye[owner_piece]
        bad = np.flatnonzero((state != want[None]).any(axis=(1, 2)))
        if bad.size:
            errors.append(f"ranks {bad.tolist()[:8]} do not end with every rank's block")
    elif s.op == "reducescatter":
        mine = state[owner_piece, np.arange(p)]
        if (mine != full).any():
            errors.append("some rank does not end with its block fully reduced exactly once")
    elif s.op == "broadcast":
        if (state != eye[s.root][None, None]).any():
            errors.append("some rank does not end with the root's buffer")
    elif s.op == "reduce":
        if (state[s.root] != full).any():
            errors.append("the root does not end with the full sum exactly once")
    return errors
