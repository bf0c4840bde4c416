"""Alpha-beta closed forms of every algorithm: the ``analytical`` fidelity and the test oracle.

A step between two ranks costs ``alpha + bytes / B`` (alpha: one path latency; B: path
bottleneck bandwidth in bytes/s), the model of ASTRA-sim's congestion-unaware backend and
of nccl-tests' ``busbw``. With ``C`` chunks a ``K``-step schedule takes ``K + C - 1``
waves; ranks that take part in several pipelined steps at once share their port.

Each algorithm declares its closed form in its module under :mod:`sim.comm.algorithms`
(ring, halving-doubling, direct, ...: formulas; hierarchical: the sum of its phases, with
per-level α and B). One that declares none (double binary tree) gets :func:`schedule_time`,
the same alpha-beta model summed over the waves of its schedule: each wave costs, over the
port levels it uses (intra- / inter-domain), the longest α + largest port load at that
level / B. :func:`closed_form` reads the registry; it names no algorithm.
"""

from __future__ import annotations

import numpy as np

from sim.comm.algorithms import build_schedule, normalise_algorithm
from sim.comm.algorithms.registry import check, find
from sim.comm.ops import normalise_op
from sim.comm.schedule import Schedule, to_waves
from sim.errors import CposimError


def schedule_time(s: Schedule, chunks: int, alpha_s, bandwidth_Bps) -> float:
    """Alpha-beta time of a schedule, wave by wave (congestion-unaware across ports).

    ``alpha_s`` and ``bandwidth_Bps`` are scalars or per-level pairs ``(intra, inter)``;
    a rank's intra- and inter-domain ports are separate. A wave lasts, over the levels it
    uses, the longest ``α_level + (largest port load at that level) / B_level``.
    """
    w = to_waves(s, chunks)
    if not w.n_waves:
        return 0.0
    a = np.broadcast_to(np.asarray(alpha_s, float), (2,))
    bw = np.broadcast_to(np.asarray(bandwidth_Bps, float), (2,))
    n = s.n
    lev = w.level.astype(np.int64)
    # port load: bytes a rank sends (or receives) at one level during one wave
    kout = (w.wave * 2 + lev) * n + w.src
    kin = (w.wave * 2 + lev) * n + w.dst
    size = w.n_waves * 2 * n
    load = np.maximum(np.bincount(kout, w.flow_bytes, size), np.bincount(kin, w.flow_bytes, size))
    t_level = load.reshape(w.n_waves, 2, n).max(axis=2) / bw[None, :] + a[None, :]
    used = np.zeros((w.n_waves, 2), bool)
    used[w.wave, lev] = True
    return float(np.where(used, t_level, 0.0).max(axis=1).sum())


def flat_time(op: str, alg: str, n: int, S: float, a: float, B: float, C: int,
              root: int) -> float:
    """Seconds for ``op`` with the flat algorithm ``alg`` (a registered name): its closed
    form, or where it declares none, the alpha-beta time of its schedule."""
    if n <= 1:
        return 0.0
    entry = find(alg)
    if entry is None or entry.composite:
        raise CposimError(f"no closed form for {alg!r}", field="algorithm")
    check(alg, op)
    entry.check_group(op, n)
    t = entry.closed_form(op, n, S, a, B, C, root) if entry.closed_form is not None else None
    if t is None:
        t = schedule_time(build_schedule(op, alg, n, S, root=root), C, a, B)
    return t


def closed_form(op: str, algorithm: str, n: int, size_bytes: float, alpha_s: float,
                bandwidth_Bps: float, *, chunks: int = 1, root: int = 0,
                local_size: int | None = None, alpha_inter_s: float | None = None,
                bandwidth_inter_Bps: float | None = None, intra: str = "ring",
                inter: str = "ring") -> float:
    """Seconds for ``op`` with ``algorithm`` on ``n`` ranks moving ``size_bytes`` (nccl-tests S).

    ``hierarchical`` needs ``local_size`` (ranks per scale-up domain, ``L``); its
    inter-domain phase uses ``alpha_inter_s`` / ``bandwidth_inter_Bps`` (default: the
    intra values) and the sub-algorithms ``intra`` / ``inter``. A layout-aware algorithm
    (``rings``) uses ``local_size`` and the inter-domain values where given.
    """
    op = normalise_op(op)
    alg = normalise_algorithm(algorithm)
    if alg == "auto":
        raise CposimError("closed_form needs a concrete algorithm, not 'auto'", field="algorithm")
    check(alg, op)
    if bandwidth_Bps <= 0 or alpha_s < 0 or size_bytes < 0:
        raise CposimError("need bandwidth > 0, alpha >= 0 and size >= 0", field="closed_form")
    C = max(int(chunks), 1)
    entry = find(alg)
    if entry.layout_aware and local_size and n > 1:
        entry.check_group(op, n)
        return entry.closed_form(op, n, size_bytes, alpha_s, bandwidth_Bps, C, root,
                                 local_size=local_size, alpha_inter_s=alpha_inter_s,
                                 bandwidth_inter_Bps=bandwidth_inter_Bps)
    if not entry.composite:
        return flat_time(op, alg, n, size_bytes, alpha_s, bandwidth_Bps, C, root)
    return entry.closed_form(op, n, size_bytes, alpha_s, bandwidth_Bps, C, root,
                             local_size=local_size, alpha_inter_s=alpha_inter_s,
                             bandwidth_inter_Bps=bandwidth_inter_Bps, intra=intra, inter=inter)
