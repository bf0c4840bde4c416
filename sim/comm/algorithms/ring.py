"""Ring (NCCL / ASTRA-sim ``ring``): rank i talks only to i+1.

All-reduce = reduce-scatter then all-gather around the ring, ``2(n-1)`` steps of ``S/n``;
all-gather / reduce-scatter ``n-1`` steps. Broadcast and reduce are the ring opened into a
chain from / to the root (NCCL's ring broadcast), which only pays off with chunking.
Rank i ends a reduce-scatter holding block i (NCCL's convention).

All-reduce / all-gather / reduce-scatter are periodic: every step sends ``S/n`` from each
rank to the next, only the block changes (:mod:`sim.comm.periodic` times them from one step).
``auto`` picks ring for them outside a multi-domain layout.
"""

from __future__ import annotations

import numpy as np

from sim.comm.algorithms.registry import ANY, Algorithm
from sim.comm.schedule import Builder, Schedule

NAME = "ring"
OPS = ("allreduce", "allgather", "reducescatter", "broadcast", "reduce")
PERIODIC_OPS = ("allreduce", "allgather", "reducescatter")


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


def closed_form(op: str, n: int, S: float, a: float, B: float, C: int, root: int) -> float:
    """``(2(n-1) + C-1)·α + 2(n-1)/n·S/B`` all-reduce, ``(n-1 + C-1)·α + (n-1)/n·S/B``
    all-gather / reduce-scatter, ``(n-1 + C-1)·(α + S/(C·B))`` the broadcast / reduce chain."""
    if op == "allreduce":
        return (2 * (n - 1) + C - 1) * a + 2 * (n - 1) / n * S / B
    if op in ("allgather", "reducescatter"):
        return (n - 1 + C - 1) * a + (n - 1) / n * S / B
    return (n - 1 + C - 1) * (a + S / (C * B))           # chain broadcast / reduce


def periodic_step(op: str, n: int, size_bytes: float):
    """(steps, src, dst, bytes) of one step of the periodic ops: ``S/n`` from i to i+1."""
    i = np.arange(n, dtype=np.int64)
    k = 2 * (n - 1) if op == "allreduce" else n - 1
    return k, i, (i + 1) % n, np.full(n, size_bytes / n)


ALGORITHM = Algorithm(
    name=NAME, ops=OPS, build=build, order=10, closed_form=closed_form,
    periodic_ops=PERIODIC_OPS, periodic_step=periodic_step,
    auto={"allreduce": ANY, "allgather": ANY, "reducescatter": ANY})
