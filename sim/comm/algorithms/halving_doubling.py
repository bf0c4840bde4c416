"""Recursive halving-doubling (ASTRA-sim ``halvingDoubling``; Thakur et al. 2005).

All-reduce = recursive-halving reduce-scatter (partners at distance n/2, n/4, ..., 1, each
step exchanging half of what is left) then recursive-doubling all-gather (the reverse):
``2 log2 n`` steps moving ``2(n-1)/n * S`` per rank. Needs a power-of-two group.
Broadcast / reduce are binomial trees (``ceil(log2 n)`` steps of the whole buffer), which
work for any group size.
"""

from __future__ import annotations

import numpy as np

from sim.comm.schedule import Builder, Schedule
from sim.errors import CposimError

NAME = "halving-doubling"
OPS = ("allreduce", "allgather", "reducescatter", "broadcast", "reduce")


def _check_pow2(op: str, n: int) -> int:
    k = n.bit_length() - 1
    if n != 1 << k:
        raise CposimError(f"halving-doubling {op} needs a power-of-two group size, got {n} "
                          "(use ring or direct)", field="algorithm")
    return k


def build(op: str, n: int, size_bytes: float, root: int = 0) -> Schedule:
    b = Builder(n)
    i = np.arange(n)
    if op in ("allreduce", "allgather", "reducescatter"):
        k = _check_pow2(op, n)
        lo = np.zeros(n)
        hi = np.ones(n)
        if op in ("allreduce", "reducescatter"):
            for j in range(k):
                mask = n >> (j + 1)
                upper = (i & mask) != 0
                mid = (lo + hi) / 2
                # send the half I give up: the lower half if I keep the upper one
                b.step(i, i ^ mask, np.where(upper, lo, mid), np.where(upper, mid, hi), reduce=True)
                lo, hi = np.where(upper, mid, lo), np.where(upper, hi, mid)
        else:
            lo, hi = i / n, (i + 1) / n
        if op in ("allreduce", "allgather"):
            for j in range(k):
                mask = 1 << j
                b.step(i, i ^ mask, lo, hi, reduce=False)
                plo, phi = lo[i ^ mask], hi[i ^ mask]
                lo, hi = np.minimum(lo, plo), np.maximum(hi, phi)
    elif op in ("broadcast", "reduce"):
        steps = max(int(np.ceil(np.log2(n))), 0) if n > 1 else 0
        rel = np.arange(n)
        for j in range(steps):
            d = 1 << j
            if op == "broadcast":
                snd = rel[(rel < d) & (rel + d < n)]
                b.step((snd + root) % n, (snd + d + root) % n, 0.0, 1.0, reduce=False)
            else:
                snd = rel[(rel % (2 * d)) == d]
                b.step((snd + root) % n, (snd - d + root) % n, 0.0, 1.0, reduce=True)
    return b.build(op, NAME, size_bytes, root)
