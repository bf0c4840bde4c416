"""Stragglers: ranks whose compute runs slower (or faster) than their program's.

Real iterations have them (thermal throttling, a slow HBM stack, a noisy neighbour), and peers
ask for them (astra-sim #73 per-NPU compute, #292 delayed NPUs). ``with_stragglers(trace,
{rank: factor})`` returns a trace in which each listed rank runs every compute op ``factor``
times as long; its communication is unchanged, so the collectives it joins wait for it.

A straggler leaves its :class:`~workloads.trace.Program`: ranks slowed by the same factor
share a new program (the same ops, compute scaled) and the rest keep the original. The
runtime drives one class per program, so identical ranks are still simulated once and only
the collectives that meet a straggler fall back to per-class rendezvous.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from sim.errors import CposimError
from workloads.trace import Op, Program, Trace


def _checked(trace: Trace, slowdown: Mapping, source: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for key, factor in slowdown.items():
        field = f"stragglers.{key}"
        try:
            rank = int(key)
        except (TypeError, ValueError):
            raise CposimError(f"a straggler is named by its rank (an integer), got {key!r}",
                              file=source, field=field) from None
        if isinstance(key, float) and key != rank or not 0 <= rank < trace.world_size:
            raise CposimError(f"rank {key!r} is not in 0..{trace.world_size - 1}",
                              file=source, field=field)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) \
                or not math.isfinite(factor) or factor <= 0:
            raise CposimError(f"slowdown must be a finite positive number (2.0 = compute takes "
                              f"twice as long), got {factor!r}", file=source, field=field)
        if rank in out:
            raise CposimError(f"rank {rank} is listed twice", file=source, field=field)
        out[rank] = float(factor)
    return out


def scaled_compute(op: Op, factor: float) -> Op:
    """``op`` with its compute time multiplied by ``factor`` (other ops unchanged).

    A roofline op scales both its FLOPs and its memory traffic: its time is the larger of
    the two bounds, so both must grow for the time to grow by ``factor``."""
    if op.kind != "compute" or factor == 1.0:
        return op
    if op.duration_s is not None:
        return dataclasses.replace(op, duration_s=op.duration_s * factor)
    return dataclasses.replace(
        op, flops=None if op.flops is None else op.flops * factor,
        mem_bytes=None if op.mem_bytes is None else op.mem_bytes * factor)


def with_stragglers(trace: Trace, slowdown: Mapping, source: str = "stragglers") -> Trace:
    """A copy of ``trace`` in which rank ``r`` computes ``slowdown[r]`` times as long.

    Factors of 1 change nothing; factors below 1 make a rank faster. The trace's metadata
    records the stragglers. Bad ranks or factors raise a :class:`CposimError` naming
    ``stragglers.<rank>``."""
    slow = {r: f for r, f in _checked(trace, slowdown, source).items() if f != 1.0}
    if not slow:
        return trace
    ranks = np.fromiter(slow, dtype=np.int64, count=len(slow))
    programs: list[Program] = []
    for prog in trace.programs:
        hit = np.isin(prog.ranks, ranks)
        if not hit.any():
            programs.append(prog)
            continue
        if not hit.all():
            programs.append(Program(prog.ranks[~hit], prog.ops, prog.name))
        mine = prog.ranks[hit]
        f_of = np.array([slow[r] for r in mine.tolist()])
        # ranks slowed alike stay one program, so they are still simulated once
        for f in sorted(set(f_of.tolist())):
            ops = [scaled_compute(op, f) for op in prog.ops]
            programs.append(Program(mine[f_of == f], ops, f"{prog.name or 'program'} x{f:g}"))
    meta = {**trace.metadata,
            "stragglers": {int(r): f for r, f in sorted(slow.items())}}
    return Trace(trace.world_size, programs, dict(trace.groups), meta)
