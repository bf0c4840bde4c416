"""Direct (ASTRA-sim ``direct``): every rank talks to every other rank in one step.

All-to-all is one step of all ``n(n-1)`` pairs (uneven / MoE-style with a byte matrix);
reduce-scatter / all-gather are one step each, all-reduce is the two in sequence.
Broadcast / reduce: the root sends to / receives from everyone at once. ``auto`` picks it
for all-to-all.
"""

from __future__ import annotations

import numpy as np

from sim.comm.algorithms.registry import ANY, Algorithm
from sim.comm.memory import check_transfers
from sim.comm.schedule import Builder, Schedule
from sim.errors import CposimError

NAME = "direct"
OPS = ("allreduce", "allgather", "reducescatter", "alltoall", "broadcast", "reduce")


def build(op: str, n: int, size_bytes: float, root: int = 0,
          split_bytes: np.ndarray | None = None) -> Schedule:
    if op not in ("broadcast", "reduce"):       # n(n-1) pairs per step, all at once
        steps = 2 if op == "allreduce" else 1
        check_transfers(steps * n * (n - 1), f"a direct {op} of {n:,} ranks")
    b = Builder(n)
    src, dst = np.divmod(np.arange(n * n), n)
    off = src != dst
    src, dst = src[off], dst[off]
    if op in ("allreduce", "reducescatter"):
        b.step(src, dst, dst / n, (dst + 1) / n, reduce=True)   # block j goes to rank j
    if op in ("allreduce", "allgather"):
        b.step(src, dst, src / n, (src + 1) / n, reduce=False)  # rank i's block i to all
    if op == "alltoall":
        if split_bytes is None:
            b.raw_step(src, dst, size_bytes / n)
        else:
            m = np.asarray(split_bytes, float)
            if m.shape != (n, n):
                raise CposimError(f"split_bytes must be an {n}x{n} matrix, got shape {m.shape}",
                                  field="split_bytes")
            if (m < 0).any() or not np.isfinite(m).all():
                raise CposimError("split_bytes must be finite and >= 0", field="split_bytes")
            b.raw_step(src, dst, m[src, dst])
    if op == "broadcast":
        others = np.delete(np.arange(n), root)
        b.step(root, others, 0.0, 1.0, reduce=False)
    if op == "reduce":
        others = np.delete(np.arange(n), root)
        b.step(others, root, 0.0, 1.0, reduce=True)
    return b.build(op, NAME, size_bytes, root)


def closed_form(op: str, n: int, S: float, a: float, B: float, C: int, root: int) -> float:
    """``(C+1)·α + 2(n-1)/n·S/B`` all-reduce, ``C·α + (n-1)·S/B`` broadcast / reduce (the
    root's port), ``C·α + (n-1)/n·S/B`` the others."""
    if op == "allreduce":
        return (C + 1) * a + 2 * (n - 1) / n * S / B
    if op in ("broadcast", "reduce"):
        return C * a + (n - 1) * S / B
    return C * a + (n - 1) / n * S / B


ALGORITHM = Algorithm(
    name=NAME, ops=OPS, build=build, order=40, closed_form=closed_form,
    uneven_alltoall=True, auto={"alltoall": ANY})
