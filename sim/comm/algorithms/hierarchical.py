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

A registry entry like the flat algorithms, but *composite*: it needs the layout and two flat
algorithms, and its closed form per-level alpha and bandwidth. ``auto`` picks it for every op
it implements when a communicator spans several scale-up domains evenly.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from sim.comm.algorithms.registry import (AUTO, SPANS_DOMAINS, Algorithm, check, get,
                                          normalise)
from sim.comm.schedule import Builder, Schedule
from sim.errors import CposimError

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


def _flat_pair(intra: str, inter: str) -> tuple[str, str]:
    """The phase algorithms' registered names; both must be flat (no nesting, no auto)."""
    intra, inter = normalise(intra, "intra"), normalise(inter, "inter")
    for name, sub in (("intra", intra), ("inter", inter)):
        if sub == AUTO or get(sub).composite:
            raise CposimError(f"{name} algorithm must be a flat algorithm", field=name)
    return intra, inter


def build(op: str, n: int, size_bytes: float, root: int = 0, *, layout: np.ndarray | None,
          intra: str = "ring", inter: str = "ring") -> Schedule:
    """The schedule on ``layout`` (``(domains, ranks per domain)`` of rank indices) with the
    flat algorithms ``intra`` / ``inter`` (any spelling the registry accepts)."""
    if layout is None:
        raise CposimError("hierarchical needs the communicator to span several scale-up "
                          "domains with the same number of ranks in each", field="algorithm")
    intra, inter = _flat_pair(intra, inter)
    for where, sub_op in (p.split() for p in PHASES[op]):
        check(intra if where == "intra" else inter, sub_op, where)
    return compose(op, layout, size_bytes, root, get(intra).flat_schedule,
                   get(inter).flat_schedule)


def compose(op: str, layout: np.ndarray, size_bytes: float, root: int,
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


def closed_form(op: str, n: int, S: float, alpha_s: float, bandwidth_Bps: float, C: int,
                root: int, *, local_size: int | None = None, alpha_inter_s: float | None = None,
                bandwidth_inter_Bps: float | None = None, intra: str = "ring",
                inter: str = "ring") -> float:
    """The sum of the phases' closed forms (C=1), intra-domain phases with ``(α, B)`` on S
    bytes, the inter-domain phase with ``(alpha_inter_s, bandwidth_inter_Bps)`` on S/L; with
    chunks, the alpha-beta time of the schedule wave by wave, per level."""
    # imported here: sim.comm.closed_form imports this package
    from sim.comm.algorithms import build_schedule
    from sim.comm.closed_form import flat_time, schedule_time
    if not local_size or n % local_size:
        raise CposimError(f"hierarchical needs local_size dividing n={n}", field="local_size")
    L, D = int(local_size), n // int(local_size)
    ai = alpha_s if alpha_inter_s is None else alpha_inter_s
    bi = bandwidth_Bps if bandwidth_inter_Bps is None else bandwidth_inter_Bps
    intra, inter = normalise(intra, "intra"), normalise(inter, "inter")
    if C > 1:
        layout = np.arange(n).reshape(D, L)
        s = build_schedule(op, NAME, n, S, root=root, layout=layout, intra=intra, inter=inter)
        return schedule_time(s, C, (alpha_s, ai), (bandwidth_Bps, bi))
    d_root, l_root = divmod(root, L)
    total = 0.0
    for phase in PHASES[op]:
        where, sub_op = phase.split()
        if where == "intra":
            total += flat_time(sub_op, intra, L, S, alpha_s, bandwidth_Bps, 1, l_root)
        else:
            size = S if op in ("broadcast", "reduce") else S / L
            total += flat_time(sub_op, inter, D, size, ai, bi, 1, d_root)
    return total


ALGORITHM = Algorithm(
    name=NAME, ops=OPS, build=build, order=90, closed_form=closed_form, composite=True,
    aliases=("hier", "2d"), auto={op: SPANS_DOMAINS for op in OPS})
