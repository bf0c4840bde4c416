"""Recursive halving-doubling (ASTRA-sim ``halvingDoubling``; Thakur et al. 2005).

All-reduce = recursive-halving reduce-scatter (partners at distance n/2, n/4, ..., 1, each
step exchanging half of what is left) then recursive-doubling all-gather (the reverse):
``2 log2 n`` steps moving ``2(n-1)/n * S`` per rank. Needs a power-of-two group.
Broadcast / reduce are binomial trees (``ceil(log2 n)`` steps of the whole buffer), which
work for any group size; ``auto`` picks them outside a multi-domain layout.
"""

from __future__ import annotations

import math

import numpy as np

from sim.comm.algorithms.registry import ANY, Algorithm, Constraint, power_of_two
from sim.comm.schedule import Builder, Schedule

NAME = "halving-doubling"
OPS = ("allreduce", "allgather", "reducescatter", "broadcast", "reduce")
# partners at distance n/2, n/4, ... must pair every rank: a power-of-two group
POW2 = Constraint(("allreduce", "allgather", "reducescatter"), power_of_two,
                  "{alg} {op} needs a power-of-two group size, got {n} (use ring or direct)")


def build(op: str, n: int, size_bytes: float, root: int = 0) -> Schedule:
    """The schedule (the registry checks :data:`POW2` first)."""
    b = Builder(n)
    i = np.arange(n)
    if op in ("allreduce", "allgather", "reducescatter"):
        k = n.bit_length() - 1
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


def closed_form(op: str, n: int, S: float, a: float, B: float, C: int, root: int) -> float:
    """``(2·log2 n + C-1)·α + 2(n-1)/n·S/B`` all-reduce, ``(log2 n + C-1)·α + (n-1)/n·S/B``
    all-gather / reduce-scatter; binomial broadcast / reduce ``(⌈log2 n⌉ + C-1)·α +
    ⌈log2 n⌉·S/B`` (the root is busy in every step)."""
    if op in ("broadcast", "reduce"):
        k = math.ceil(math.log2(n))
        return (k + C - 1) * a + k * S / B
    k = int(math.log2(n))
    if op == "allreduce":
        return (2 * k + C - 1) * a + 2 * (n - 1) / n * S / B
    return (k + C - 1) * a + (n - 1) / n * S / B


ALGORITHM = Algorithm(
    name=NAME, ops=OPS, build=build, order=30, closed_form=closed_form, constraints=(POW2,),
    aliases=("hd", "rhd", "recursive-halving-doubling"),
    auto={"broadcast": ANY, "reduce": ANY})
