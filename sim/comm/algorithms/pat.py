"""PAT, "Parallel Aggregated Trees" (NCCL 2.23+): all-gather and reduce-scatter in log steps.

Sources: NCCL 2.23.4-1 release notes ("Parallel Aggregated Trees, variation of Bruck
algorithm. Logarithmic number of network steps for small sizes at scale. Only supports one
rank per node at the moment"); the NVIDIA blog "New Scaling Algorithm and Initialization with
NVIDIA Collective Communications Library 2.23"; S. Jeaugey, "PAT: a new algorithm for
all-gather and reduce-scatter operations at scale", arXiv:2506.20252; NCCL's source:
``src/include/collectives.h`` (``PatAGAlgorithm`` / ``PatRSAlgorithm``: which data goes on
which dimension at which step), ``src/device/prims_simple.h`` (a rank's peers are the ranks
at distance ``2^d``), ``src/graph/tuning.cc`` (``ncclPatEnable``, PAT's cost model).

Structure (ours, from reading those): one binomial tree per rank, all of them the same tree
shifted by the rank ("parallel trees"), over rank offsets ``0..n-1`` padded to the next
power of two with the edges beyond ``n`` dropped, so any ``n`` works. In the all-gather
tree the node at offset ``s`` (holding the data of rank ``r + s`` at rank ``r``) forwards it
to offset ``s + 2^d`` (rank ``r - 2^d``) for every ``d`` below the lowest set bit of ``s``;
the root, offset 0, to every ``d``. Step by step, every tree uses the same distance at once,
and a rank's transfers to the same peer in one step travel as one message ("aggregated"):

* all-gather: ``K = ceil(log2 n)`` steps, distance ``2^(K-1)`` first, down to 1: the long
  hops carry one block, the short ones up to ``n/2`` (Bruck's order reversed, which keeps
  the big transfers between near ranks);
* reduce-scatter: the same trees reversed in time and direction, distance 1 first; a rank
  adds what it receives to its own contribution before passing it on.

At step with distance ``2^d`` every rank sends ``c_d = ceil((n - 2^d) / 2^(d+1))`` blocks of
``S/n`` to one peer and receives as many from another; the ``c_d`` sum to ``n - 1``. Every
port carries the same load in every wave, so the alpha-beta time with ``C`` chunks is

    (ceil(log2 n) + C - 1)·α + (n-1)/n·S/B

the bytes of the ring, in log steps, for any group size.

What is modelled, and what is not:

* NCCL's placement: one rank per node (NCCL enables PAT by default only when
  ``nNodes == nRanks``). The schedule is the rank-level one; ``--algo pat`` on a group with
  several ranks in one scale-up domain runs it anyway (NCCL does likewise under
  ``NCCL_PAT_ENABLE=1``), those pairs taking their in-domain paths.
* Full aggregation: each step sends one message per peer, holding all the blocks of that
  distance. NCCL aggregates like this for small operations (while the data fits its
  connection buffer); for large ones it posts the same tree transfers as separate,
  pipelined chunk-sized messages. The bytes, hence the bandwidth term, are the same; the
  extra messages' latency is not modelled, nor the 2.8 µs per rank that NCCL's tuner adds to
  PAT's latency at any size (a cost of its GPU-side implementation).
* ``auto`` never picks PAT. NCCL chooses it over ring from its tuned cost model (PAT bus
  bandwidth x 0.75, latency ``log2(nodes)·net latency/3.5 + 2.8 µs per rank``, platform
  constants) only for one rank per node; reproducing that faithfully needs NCCL's
  per-platform tuner constants, and a rough copy would change today's ``auto`` results
  (the default study's data-parallel all-gathers and reduce-scatters run on groups with one
  rank per node).
"""

from __future__ import annotations

import numpy as np

from sim.comm.algorithms.registry import Algorithm
from sim.comm.schedule import Builder, Schedule

NAME = "pat"
OPS = ("allgather", "reducescatter")


def n_steps(n: int) -> int:
    """``ceil(log2 n)``: one step per tree level (distance ``2^d``, ``d < K``)."""
    return (n - 1).bit_length()


def _offsets(n: int, d: int) -> np.ndarray:
    """Tree offsets ``s`` that forward at distance ``2^d``: multiples of ``2^(d+1)`` whose
    child ``s + 2^d`` is a rank (the padded tree's other edges are dropped)."""
    s = np.arange(0, n, 2 << d, dtype=np.int64)
    return s[s + (1 << d) < n]


def build(op: str, n: int, size_bytes: float, root: int = 0) -> Schedule:
    b = Builder(n)
    k = n_steps(n)
    rank = np.arange(n, dtype=np.int64)
    dists = range(k - 1, -1, -1) if op == "allgather" else range(k)
    for d in dists:
        offs = _offsets(n, d)
        src = np.repeat(rank, offs.size)
        s = np.tile(offs, n)
        if op == "allgather":
            # rank r holds rank (r + s)'s block and passes it to r - 2^d (offset s + 2^d)
            blk = (src + s) % n
            b.step(src, (src - (1 << d)) % n, blk / n, (blk + 1) / n, reduce=False)
        else:
            # reversed: rank r, at offset s + 2^d of block r + s + 2^d's tree, sends its
            # partial sum of that block to r + 2^d (offset s), which adds it to its own
            blk = (src + s + (1 << d)) % n
            b.step(src, (src + (1 << d)) % n, blk / n, (blk + 1) / n, reduce=True)
    return b.build(op, NAME, size_bytes, root)


def closed_form(op: str, n: int, S: float, a: float, B: float, C: int, root: int) -> float:
    """``(ceil(log2 n) + C-1)·α + (n-1)/n·S/B`` (derived above; equal to the schedule's
    alpha-beta time)."""
    return (n_steps(n) + C - 1) * a + (n - 1) / n * S / B


# no constraints (any n), no periodic form (each step has its own distance and size), no
# auto claim (see above)
ALGORITHM = Algorithm(name=NAME, ops=OPS, build=build, order=50, closed_form=closed_form,
                      aliases=("parallel-aggregated-trees",))
