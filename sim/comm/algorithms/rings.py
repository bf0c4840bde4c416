"""NCCL's multi-channel rings (``rings``): ``C`` rings side by side, one per NIC of a node.

NCCL does not run one ring: it builds several (its *channels*), splits the buffer among
them, and on a multi-node job makes each ring leave and enter a node through a different
NIC, rail-aligned (``src/graph/search.cc`` searches ring graphs ``NET n -> GPUs -> NET n``;
``src/graph/connect.cc`` chains the nodes' rings). So a node's traffic to the next node
uses all its NICs, where a single ring (``ring``) funnels it through one GPU's NIC.

Structure (ours). A communicator laid out over ``D`` scale-up domains with ``L`` ranks in
each (``layout[d, l]``, :func:`sim.comm.communicator.domain_layout`) gets ``C = L``
channels. Channel ``k`` is a ring over all ``n = D·L`` members, domain after domain; inside
domain ``d`` it enters at local rank ``(k + c_d) mod L``, visits the others in rotated
order, and leaves from local rank ``(k + c_{d+1}) mod L``, which sends to the *same* local
rank of domain ``d+1`` — every inter-domain hop is rail to same rail. The shifts ``c_d``
(0, 1, 0, 1, ...; the last one 2 when ``D`` is odd and ``L >= 3``) keep a domain's entry
and exit apart; since they are a rotation by ``k``, over the ``C`` channels every rank of
a domain leaves it exactly once and enters it exactly once: each NIC carries one channel
each way. (``L = 2`` with ``D`` odd: the closing hop is rail ``k+1`` to rail ``k``.) NCCL
hides the send from the exit GPU to the entry GPU's NIC (PXN, over NVLink); here the exit
rank sends itself, on its own rail.

Blocks: the buffer is cut into ``n`` rank blocks (rank ``r`` owns ``[r/n, (r+1)/n)``, the
convention of ``ring``) and each into ``C`` sub-blocks; channel ``k`` runs the ring
algorithm on sub-block ``k`` of every block, ``2(n-1)`` steps for all-reduce, ``n-1`` for
all-gather / reduce-scatter, all channels in the same steps. Every step each rank sends
``S/(n·C)`` on each channel: one transfer to the next domain, ``C-1`` inside its domain.

Alpha-beta time (per-level α and B, ``K`` steps, ``ch`` pipelined chunks, ``m_w`` chunks in
flight in wave ``w``)::

    sum over waves of max(α_intra + m_w·(C-1)·S/(n·C·ch·B_intra),
                          α_inter + m_w·S/(n·C·ch·B_inter))

with one chunk ``K·max(...)``: ``2(n-1)/n · S/(C·B_nic)`` when the NIC is the bottleneck,
the ring's time with the NIC bandwidth multiplied by ``C``. It equals the schedule's
alpha-beta time (:func:`sim.comm.closed_form.schedule_time`).

What is modelled, and what is not:

* A group without an even multi-domain layout (one rank per domain, a single domain, an
  uneven spread) has ``C = 1``: ``rings`` *is* ``ring`` there (same schedule, closed form
  and periodic form; the periodic form is only planned for such groups).
* ``C`` is the ranks per domain (NCCL's default on a DGX is more channels, two or more per
  NIC; the bytes per NIC are the same).
* ``auto`` never picks it: today's results (studies, figures) stay as they are.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sim.comm.algorithms import ring
from sim.comm.algorithms.registry import Algorithm
from sim.comm.schedule import Builder, Schedule
from sim.errors import CposimError

NAME = "rings"
OPS = ("allreduce", "allgather", "reducescatter")


def _shifts(D: int, L: int) -> np.ndarray:
    """``c_d``: where each domain's channel-0 ring enters it (``c_D`` wraps to ``c_0``)."""
    c = np.arange(D, dtype=np.int64) % 2
    if D % 2 and L >= 3:
        c[-1] = 2
    return c


def ring_orders(layout: np.ndarray) -> np.ndarray:
    """``(C, n)``: the rank indices channel ``k`` visits, in ring order (``C = L``)."""
    layout = np.asarray(layout, np.int64)
    D, L = layout.shape
    c = _shifts(D, L)
    orders = np.empty((L, D * L), np.int64)
    for k in range(L):
        parts = []
        for d in range(D):
            s, e = (k + c[d]) % L, (k + c[(d + 1) % D]) % L
            if e == s:                       # L = 2, D odd: the closing hop changes rail
                e = (s + 1) % L
            rot = [(s + t) % L for t in range(L)]
            rot.remove(e)
            parts.append(layout[d, rot + [e]])
        orders[k] = np.concatenate(parts)
    return orders


def _domain_of(layout: np.ndarray, n: int) -> np.ndarray:
    dom = np.empty(n, np.int64)
    dom[np.asarray(layout, np.int64)] = np.arange(layout.shape[0])[:, None]
    return dom


def build(op: str, n: int, size_bytes: float, root: int = 0, *,
          layout: np.ndarray | None = None) -> Schedule:
    """The schedule on ``layout`` (``(domains, ranks per domain)`` of rank indices); without
    one, the single ring (:func:`sim.comm.algorithms.ring.build`)."""
    if layout is None or np.asarray(layout).shape[1] < 2:
        return replace(ring.build(op, n, size_bytes, root), algorithm=NAME)
    layout = np.asarray(layout, np.int64)
    if layout.size != n:
        raise CposimError(f"rings: layout of {layout.size} ranks for a group of {n}",
                          field="layout")
    orders = ring_orders(layout)                     # (C, n)
    C = orders.shape[0]
    dom = _domain_of(layout, n)
    pos = np.arange(n)
    src = orders                                     # position j of channel k sends ...
    dst = orders[:, (pos + 1) % n]                   # ... to position j+1
    level = (dom[src] != dom[dst]).astype(np.int8)
    sub = np.arange(C)[:, None] / (n * C)            # sub-block k of a rank block

    def step(blk_pos, reduce):
        r = np.take_along_axis(orders, blk_pos, axis=1)   # rank whose block travels
        lo = r / n + sub
        for lv in (0, 1):
            m = level == lv
            if m.any():
                b.step_rows(src[m], dst[m], lo[m], lo[m] + 1.0 / (n * C), reduce, lv)
        b.n_steps += 1

    b = _Builder(n)
    j = np.broadcast_to(pos, (C, n))
    if op in ("allreduce", "reducescatter"):
        for s in range(n - 1):
            step((j - s - (0 if op == "allreduce" else 1)) % n, True)
    if op in ("allreduce", "allgather"):
        for s in range(n - 1):
            step((j + (1 if op == "allreduce" else 0) - s) % n, False)
    return b.build(op, NAME, size_bytes, root)


class _Builder(Builder):
    """A builder whose steps are filled by several calls (one per level)."""

    def step_rows(self, src, dst, lo, hi, reduce: bool, level: int) -> None:
        k = self.n_steps
        self.step(src, dst, lo, hi, reduce, level)
        self.n_steps = k


def closed_form(op: str, n: int, S: float, a: float, B: float, C: int, root: int, *,
                local_size: int | None = None, alpha_inter_s: float | None = None,
                bandwidth_inter_Bps: float | None = None) -> float:
    """The alpha-beta time above with ``local_size`` (``L``) ranks per domain, intra-domain
    ``(a, B)`` and inter-domain ``(alpha_inter_s, bandwidth_inter_Bps)`` (default the
    intra values); without a multi-domain layout (``local_size`` None, 1 or n), the ring's."""
    if not local_size or local_size in (1, n):
        return ring.closed_form(op, n, S, a, B, C, root)
    L = int(local_size)
    if n % L:
        raise CposimError(f"rings needs local_size dividing n={n}", field="local_size")
    ai = a if alpha_inter_s is None else alpha_inter_s
    bi = B if bandwidth_inter_Bps is None else bandwidth_inter_Bps
    K = 2 * (n - 1) if op == "allreduce" else n - 1
    ch = max(int(C), 1)
    w = np.arange(K + ch - 1)
    m = np.minimum.reduce([w + 1, np.full_like(w, ch), np.full_like(w, K), K + ch - 1 - w])
    unit = S / (n * L * ch)                           # one sub-block of one chunk
    intra = a + m * (L - 1) * unit / B
    inter = ai + m * unit / bi
    return float(np.maximum(intra, inter).sum())


ALGORITHM = Algorithm(
    name=NAME, ops=OPS, build=build, order=15, closed_form=closed_form, layout_aware=True,
    aliases=("multi-ring", "nccl-rings"),
    # only planned for groups without a layout, where rings is the single ring
    periodic_ops=ring.PERIODIC_OPS, periodic_step=ring.periodic_step)
