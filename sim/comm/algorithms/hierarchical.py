"""Hierarchical (multi-dimensional) collectives: scale-up domain first, then scale-out.

Like ASTRA-sim's per-dimension implementations with ``localBWAware`` ordering: the
communicator is laid out as ``(D domains) x (L ranks per domain)``; the *intra* algorithm
runs inside every domain (level 0), the *inter* algorithm across domains among the ranks
with the same local index (level 1), all groups of a phase side by side.

* all-reduce: intra reduce-scatter (S) -> inter all-reduce (S/L) -> intra all-gather (S)
* all-gather: inter all-gather (output S/L) -> intra all-gather (output S)
* reduce-scatter: intra reduce-scatter (input S) -> inter reduce-scatter (input S/L)
* broadcast: inter broadcast among the root's column -> intra broadcast in every domain
* reduce: intra reduce to the root's column -> inter reduce to the root
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from sim.comm.schedule import Builder, Schedule

NAME = "hierarchical"
OPS = ("allreduce", "allgather", "reducescatter", "broadcast", "reduce")

PHASES = {
    "allreduce": ("intra reducescatter", "inter allreduce", "intra allgather"),
    "allgather": ("inter allgather", "intra allgather"),
    "reducescatter": ("intra reducescatter", "inter reducescatter"),
    "broadcast": ("inter broadcast", "intra broadcast"),
    "reduce": ("intra reduce", "inter reduce"),
}

SubBuild = Callable[[str, int, float, int], Schedule]  # (op, n, size, root) -> Schedule


def build(op: str, layout: np.ndarray, size_bytes: float, root: int,
          intra: SubBuild, inter: SubBuild) -> Schedule:
    """``layout[d, l]`` = communicator rank index of local rank ``l`` in domain ``d``."""
    layout = np.asarray(layout, np.int64)
    n_dom, loc = layout.shape
    n = layout.size
    b = Builder(n)
    whole = np.array([[0.0, 1.0]])
    blk = layout / n                       # rank r owns block r: [r/n, (r+1)/n)
    own = np.stack([blk, blk + 1.0 / n], axis=-1)           # (D, L, 2)
    col_blocks = own.transpose(1, 0, 2)                      # (L, D, 2): blocks of column l
    per_local = np.stack([[[l / loc, (l + 1) / loc]] for l in range(loc)])  # (L, 1, 2)
    d_root, l_root = (int(x[0]) for x in np.nonzero(layout == root))
    s_inter = size_bytes / loc

    def rows(sub_op, size, seg_of_row, sub_root=0):
        s = intra(sub_op, loc, size, sub_root)
        return [(s, layout[d], seg_of_row(d)) for d in range(n_dom)]

    def cols(sub_op, size, seg_of_col, sub_root=0, only=None):
        s = inter(sub_op, n_dom, size, sub_root)
        ls = range(loc) if only is None else [only]
        return [(s, layout[:, l], seg_of_col(l)) for l in ls]

    if op == "allreduce":
        b.phase(rows("reducescatter", size_bytes, lambda d: whole), 0)
        b.phase(cols("allreduce", s_inter, lambda l: per_local[l]), 1)
        b.phase(rows("allgather", size_bytes, lambda d: whole), 0)
    elif op == "allgather":
        # column l gathers the blocks of its members; then local rank l holds them all
        b.phase(cols("allgather", s_inter, lambda l: col_blocks[l]), 1)
        b.phase(rows("allgather", size_bytes, lambda d: col_blocks.reshape(-1, 2)), 0)
    elif op == "reducescatter":
        b.phase(rows("reducescatter", size_bytes, lambda d: col_blocks.reshape(-1, 2)), 0)
        b.phase(cols("reducescatter", s_inter, lambda l: col_blocks[l]), 1)
    elif op == "broadcast":
        b.phase(cols("broadcast", size_bytes, lambda l: whole, d_root, only=l_root), 1)
        b.phase(rows("broadcast", size_bytes, lambda d: whole, l_root), 0)
    elif op == "reduce":
        b.phase(rows("reduce", size_bytes, lambda d: whole, l_root), 0)
        b.phase(cols("reduce", size_bytes, lambda l: whole, d_root, only=l_root), 1)
    return b.build(op, NAME, size_bytes, root, PHASES[op])
