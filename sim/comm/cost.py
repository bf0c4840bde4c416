"""The alpha-beta cost of a plan on a fabric's routes, without simulating it.

What a closed-form fabric answers when asked to time a plan
(``fabric.closed_form_time(plan)`` -> ``plan.closed_form_s(fabric)``), and what
``cposim collective`` prints as the closed form beside a simulated time. Congestion-unaware:
concurrent communicators do not slow each other.

A collective: α is the largest path latency and B the smallest path bottleneck among the
pairs the schedule uses, per class of pairs — inside one scale-up domain, and across
domains. A communicator whose pairs are all of one class gets the algorithm's closed form
(:func:`sim.comm.closed_form.closed_form`); a flat algorithm whose steps mix the classes
(e.g. a ring or an all-to-all over several NVLink domains) gets the same alpha-beta model
summed wave by wave, each port class loaded with its own bytes
(:func:`sim.comm.closed_form.schedule_time`). Point-to-point transfers:
``max(α + bytes / B)`` over the pairs.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sim.comm.closed_form import closed_form, schedule_time
from sim.comm.communicator import domain_layout
from sim.comm.periodic import PeriodicSchedule
from sim.comm.planning import PlanGroup, composite


def collective_time(fabric, groups: list[PlanGroup], chunks: int, intra: str = "ring",
                    inter: str = "ring") -> float:
    """Closed-form time of communicators running one collective at once: the longest closed
    form over the groups of identically scheduled communicators."""
    return max(_group_time(fabric, g.schedule, g.eps, chunks, intra, inter) for g in groups)


def transfer_time(fabric, src: np.ndarray, dst: np.ndarray, size_bytes: np.ndarray) -> float:
    """``max(α + bytes / B)`` over the pairs between distinct GPUs (0 if there are none)."""
    off = src != dst
    if not off.any():
        return 0.0
    lat, bn = fabric.route_info(src[off], dst[off])
    return float((lat + size_bytes[off] * 8.0 / bn).max())


def _group_time(fabric, s, eps: np.ndarray, chunks: int, intra: str, inter: str) -> float:
    """Longest closed-form time over communicators sharing schedule ``s`` (endpoints
    ``eps``: (G, n)), with one route query for all."""
    if not s.n_rows:
        return 0.0
    dom = np.asarray(fabric.topology.scaleup_domain)
    pairs = s.pair_bytes()[0]
    a, b = eps[:, pairs // s.n], eps[:, pairs % s.n]              # (G, P)
    cross = dom[a] != dom[b]
    lat, bn = fabric.route_info(a.ravel(), b.ravel())
    lat, bn = lat.reshape(a.shape), bn.reshape(a.shape) / 8.0
    cols = [cross.astype(float)]
    for lv in (0, 1):
        m = cross == bool(lv)
        cols.append(np.where(m, lat, -np.inf).max(axis=1, keepdims=True))
        cols.append(np.where(m, bn, np.inf).min(axis=1, keepdims=True))
    table = np.hstack(cols)
    first = _distinct_rows(table)
    cases = table[first]
    worst = 0.0
    for row, g in zip(cases, first):
        p = cross.shape[1]
        xr = row[:p].astype(bool)
        alpha = [max(row[p], 0.0), max(row[p + 2], 0.0)]
        bw = [row[p + 1], row[p + 3]]
        worst = max(worst, _one_time(fabric, s, eps[g], xr, alpha, bw, chunks, intra, inter))
    return worst


def _distinct_rows(table: np.ndarray) -> np.ndarray:
    """Index of the first occurrence of every distinct row, in the order of the rows'
    bytes (what ``np.unique(axis=0, return_index=True)`` gives, without its slow path for
    wide rows: thousands of communicators x thousands of pairs)."""
    a = np.ascontiguousarray(table)
    v = a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()
    _, first = np.unique(v, return_index=True)
    return np.sort(first)


def _one_time(fabric, s, eps, cross_pairs, alpha, bw, chunks, intra, inter):
    cross_rows = cross_pairs[s.pair_bytes()[2]]
    one_class = bool(cross_rows.size) and cross_rows.min() == cross_rows.max()
    is_composite = composite(s.algorithm)
    if is_composite and chunks == 1:
        layout = domain_layout(eps, fabric.topology.scaleup_domain)
        return closed_form(s.op, s.algorithm, s.n, s.size_bytes, alpha[0], bw[0],
                           chunks=chunks, root=s.root, local_size=layout.shape[1],
                           alpha_inter_s=alpha[1], bandwidth_inter_Bps=bw[1],
                           intra=intra, inter=inter)
    uneven = s.op == "alltoall" and not np.allclose(s.flow_bytes, s.flow_bytes[0])
    if one_class and not is_composite and not uneven:
        lv = int(cross_rows[0])
        return closed_form(s.op, s.algorithm, s.n, s.size_bytes, alpha[lv], bw[lv],
                           chunks=chunks, root=s.root)
    if isinstance(s, PeriodicSchedule):        # steps mix the classes: time them row by row
        s = s.full()
        cross_rows = cross_pairs[s.pair_bytes()[2]]
    tagged = replace(s, level=cross_rows.astype(np.int8))
    return schedule_time(tagged, chunks, alpha, bw)


def analytical_time(fabric, plan) -> float:
    """The closed-form (alpha-beta) time of a planned collective
    (:func:`sim.comm.planning.plan_collective`) or transfer on ``fabric``'s routes, whatever
    the fabric's own model: what ``cposim collective`` prints beside a simulated time."""
    return plan.closed_form_s(fabric)
