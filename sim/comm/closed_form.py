"""Alpha-beta closed forms of every algorithm: the ``analytical`` fidelity and the test oracle.

A step between two ranks costs ``alpha + bytes / B`` (alpha: one path latency; B: path
bottleneck bandwidth in bytes/s), the model of ASTRA-sim's congestion-unaware backend and
of nccl-tests' ``busbw``. With ``C`` chunks a ``K``-step schedule takes ``K + C - 1``
waves; ranks that take part in several pipelined steps at once share their port.

* ring all-reduce ``(2(n-1) + C - 1)·α + 2(n-1)/n·S/B`` (C=1: ``2(n-1)(α + S/(nB))``);
  all-gather / reduce-scatter ``(n-1 + C-1)·α + (n-1)/n·S/B``;
  broadcast / reduce (chain) ``(n-1 + C-1)·(α + S/(C·B))``
* halving-doubling all-reduce ``(2·log2 n + C-1)·α + 2(n-1)/n·S/B``, all-gather /
  reduce-scatter ``(log2 n + C-1)·α + (n-1)/n·S/B``; binomial broadcast / reduce
  ``(⌈log2 n⌉ + C-1)·α + ⌈log2 n⌉·S/B`` (the root is busy in every step)
* direct all-to-all / all-gather / reduce-scatter ``C·α + (n-1)/n·S/B``, all-reduce
  ``(C+1)·α + 2(n-1)/n·S/B``, broadcast / reduce ``C·α + (n-1)·S/B`` (the root's port)
* double binary tree and chunked hierarchical: the same alpha-beta model summed over the
  waves of the schedule (:func:`schedule_time`): each wave costs, over the port levels it
  uses (intra- / inter-domain), the longest α + largest port load at that level / B.
* hierarchical (C=1): the sum of its phases, intra-domain phases with ``(α, B)``, the
  inter-domain phase with ``(alpha_inter_s, bandwidth_inter_Bps)`` on S/L bytes.
"""

from __future__ import annotations

import math

import numpy as np

from sim.comm.algorithms import build_schedule, hierarchical, normalise_algorithm, _check
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


def _flat(op: str, alg: str, n: int, S: float, a: float, B: float, C: int, root: int) -> float:
    if n <= 1:
        return 0.0
    if alg == "ring":
        if op == "allreduce":
            return (2 * (n - 1) + C - 1) * a + 2 * (n - 1) / n * S / B
        if op in ("allgather", "reducescatter"):
            return (n - 1 + C - 1) * a + (n - 1) / n * S / B
        return (n - 1 + C - 1) * (a + S / (C * B))           # chain broadcast / reduce
    if alg == "halving-doubling":
        if op in ("broadcast", "reduce"):
            k = math.ceil(math.log2(n))
            return (k + C - 1) * a + k * S / B
        k = int(math.log2(n))
        if 1 << k != n:
            raise CposimError(f"halving-doubling {op} needs a power-of-two group, got {n}",
                              field="algorithm")
        if op == "allreduce":
            return (2 * k + C - 1) * a + 2 * (n - 1) / n * S / B
        return (k + C - 1) * a + (n - 1) / n * S / B
    if alg == "direct":
        if op == "allreduce":
            return (C + 1) * a + 2 * (n - 1) / n * S / B
        if op in ("broadcast", "reduce"):
            return C * a + (n - 1) * S / B
        return C * a + (n - 1) / n * S / B
    if alg == "double-binary-tree":
        return schedule_time(build_schedule(op, alg, n, S, root=root), C, a, B)
    raise CposimError(f"no closed form for {alg!r}", field="algorithm")


def closed_form(op: str, algorithm: str, n: int, size_bytes: float, alpha_s: float,
                bandwidth_Bps: float, *, chunks: int = 1, root: int = 0,
                local_size: int | None = None, alpha_inter_s: float | None = None,
                bandwidth_inter_Bps: float | None = None, intra: str = "ring",
                inter: str = "ring") -> float:
    """Seconds for ``op`` with ``algorithm`` on ``n`` ranks moving ``size_bytes`` (nccl-tests S).

    ``hierarchical`` needs ``local_size`` (ranks per scale-up domain, ``L``); its
    inter-domain phase uses ``alpha_inter_s`` / ``bandwidth_inter_Bps`` (default: the
    intra values) and the sub-algorithms ``intra`` / ``inter``.
    """
    op = normalise_op(op)
    alg = normalise_algorithm(algorithm)
    if alg == "auto":
        raise CposimError("closed_form needs a concrete algorithm, not 'auto'", field="algorithm")
    _check(alg, op)
    if bandwidth_Bps <= 0 or alpha_s < 0 or size_bytes < 0:
        raise CposimError("need bandwidth > 0, alpha >= 0 and size >= 0", field="closed_form")
    C = max(int(chunks), 1)
    if alg != "hierarchical":
        return _flat(op, alg, n, size_bytes, alpha_s, bandwidth_Bps, C, root)
    if not local_size or n % local_size:
        raise CposimError(f"hierarchical needs local_size dividing n={n}", field="local_size")
    L, D = int(local_size), n // int(local_size)
    ai = alpha_s if alpha_inter_s is None else alpha_inter_s
    bi = bandwidth_Bps if bandwidth_inter_Bps is None else bandwidth_inter_Bps
    intra, inter = normalise_algorithm(intra, "intra"), normalise_algorithm(inter, "inter")
    if C > 1:
        layout = np.arange(n).reshape(D, L)
        s = build_schedule(op, alg, n, size_bytes, root=root, layout=layout, intra=intra,
                           inter=inter)
        return schedule_time(s, C, (alpha_s, ai), (bandwidth_Bps, bi))
    d_root, l_root = divmod(root, L)
    total = 0.0
    for phase in hierarchical.PHASES[op]:
        where, sub_op = phase.split()
        if where == "intra":
            size = size_bytes
            total += _flat(sub_op, intra, L, size, alpha_s, bandwidth_Bps, 1, l_root)
        else:
            size = size_bytes if op in ("broadcast", "reduce") else size_bytes / L
            total += _flat(sub_op, inter, D, size, ai, bi, 1, d_root)
    return total
