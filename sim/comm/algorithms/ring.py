"""Ring (NCCL / ASTRA-sim ``ring``): rank i talks only to i+1.

All-reduce = reduce-scatter then all-gather around the ring, ``2(n-1)`` steps of ``S/n``;
all-gather / reduce-scatter ``n-1`` steps. Broadcast and reduce are the ring opened into a
chain from / to the root (NCCL's ring broadcast), which only pays off with chunking.
Rank i ends a reduce-scatter holding block i (NCCL's convention).
"""

from __future__ import annotations

import numpy as np

from sim.comm.schedule import Builder, Schedule

NAME = "ring"
OPS = ("allreduce", "allgather", "reducescatter", "broadcast", "reduce")


def build(op: str, n: int, size_bytes: float, root: int = 0) -> Schedule:
    b = Builder(n)
    i = np.arange(n)
    nxt = (i + 1) % n
    if op in ("allreduce", "reducescatter"):
        for s in range(n - 1):
            blk = (i - s - (0 if op == "allreduce" else 1)) % n
            b.step(i, nxt, blk / n, (blk + 1) / n, reduce=True)
    if op in ("allreduce", "allgather"):
        for s in range(n - 1):
            blk = (i + (1 if op == "allreduce" else 0) - s) % n
            b.step(i, nxt, blk / n, (blk + 1) / n, reduce=False)
    if op == "broadcast":
        order = (root + np.arange(n)) % n
        for k in range(n - 1):
            b.step(order[k], order[k + 1], 0.0, 1.0, reduce=False)
    if op == "reduce":
        order = (root + 1 + np.arange(n)) % n  # ends at the root
        for k in range(n - 1):
            b.step(order[k], order[k + 1], 0.0, 1.0, reduce=True)
    return b.build(op, NAME, size_bytes, root)
