"""Double binary tree all-reduce (NCCL 2.4+, ASTRA-sim ``doubleBinaryTree``).

Two binary trees in which every leaf of one is an inner node of the other (NCCL
``ncclGetDtree``: tree 1 from ``ncclGetBtree``, tree 2 its mirror for even n or its shift
by one for odd n). Each tree all-reduces half of the buffer: reduce up the tree (a node
sends once all its children have), then broadcast down. A node sends up at step
``height(node)`` and receives down at step ``H + depth(node) - 1``; ``2H`` steps in all,
``H`` the tree height. Chunking pipelines the trees, which is what makes them fast.
No closed form of its own: its time is the alpha-beta time of the schedule, wave by wave.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from sim.comm.algorithms.registry import Algorithm
from sim.comm.schedule import Builder, Schedule

NAME = "double-binary-tree"
OPS = ("allreduce",)


def btree_parent(n: int) -> np.ndarray:
    """Parent of each rank in NCCL's binary tree (``ncclGetBtree``); the root 0 has -1."""
    parent = np.full(n, -1, dtype=np.int64)
    for r in range(1, n):
        bit = r & -r                     # lowest set bit
        up = (r ^ bit) | (bit << 1)
        if up >= n:
            up = r ^ bit
        parent[r] = up
    return parent


@lru_cache(maxsize=64)
def dtree_parents(n: int) -> tuple[np.ndarray, np.ndarray]:
    t1 = btree_parent(n)
    if n % 2:   # shift by one
        s = (np.arange(n) - 1) % n
        p = t1[s]
        t2 = np.where(p < 0, -1, (p + 1) % n)
    else:       # mirror
        s = n - 1 - np.arange(n)
        p = t1[s]
        t2 = np.where(p < 0, -1, n - 1 - p)
    return t1, t2


def _height_depth(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = parent.size
    depth = np.zeros(n, np.int64)
    for r in range(n):                   # depth by walking up (trees are O(log n) deep)
        d, x = 0, r
        while parent[x] >= 0:
            x = parent[x]
            d += 1
        depth[r] = d
    height = np.zeros(n, np.int64)
    for r in np.argsort(-depth, kind="stable"):  # children before parents
        if parent[r] >= 0:
            height[parent[r]] = max(height[parent[r]], height[r] + 1)
    return height, depth


def build(op: str, n: int, size_bytes: float, root: int = 0) -> Schedule:
    b = Builder(n)
    if n > 1:
        trees = dtree_parents(n)
        hd = [_height_depth(p) for p in trees]
        big_h = max(int(h.max()) for h, _ in hd)
        halves = ((0.0, 0.5), (0.5, 1.0))
        for s in range(big_h):           # reduce up, both trees at once
            src, dst, lo, hi = [], [], [], []
            for parent, (height, _), (a, z) in zip(trees, hd, halves):
                m = (height == s) & (parent >= 0)
                r = np.flatnonzero(m)
                src.append(r), dst.append(parent[r]), lo.append(np.full(r.size, a))
                hi.append(np.full(r.size, z))
            b.step(np.concatenate(src), np.concatenate(dst), np.concatenate(lo),
                   np.concatenate(hi), reduce=True)
        for s in range(big_h):           # broadcast down
            src, dst, lo, hi = [], [], [], []
            for parent, (_, depth), (a, z) in zip(trees, hd, halves):
                r = np.flatnonzero(depth == s + 1)
                src.append(parent[r]), dst.append(r), lo.append(np.full(r.size, a))
                hi.append(np.full(r.size, z))
            b.step(np.concatenate(src), np.concatenate(dst), np.concatenate(lo),
                   np.concatenate(hi), reduce=False)
    return b.build(op, NAME, size_bytes, root)


ALGORITHM = Algorithm(name=NAME, ops=OPS, build=build, order=20, aliases=("dbt", "tree"))
