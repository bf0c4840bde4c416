"""Stragglers: ranks whose compute runs slower (or faster) than their program's, or that stall.

Real iterations have them (thermal throttling, a slow HBM stack, a noisy neighbour), and peers
ask for them (astra-sim #73 per-NPU compute, #292 delayed NPUs). ``with_stragglers(trace,
{rank: factor})`` returns a trace in which each listed rank runs every compute op ``factor``
times as long; its communication is unchanged, so the collectives it joins wait for it.
``with_delays(trace, {rank: seconds}, before=None | op name)`` makes a rank stall once at the
start, or before each op of that name.

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


def _checked(trace: Trace, per_rank: Mapping, source: str, table: str = "stragglers",
             zero_ok: bool = False) -> dict[int, float]:
    """{rank: value} with ranks in the trace and values finite, > 0 (>= 0 if ``zero_ok``)."""
    out: dict[int, float] = {}
    for key, factor in per_rank.items():
        field = f"{table}.{key}"
        try:
            rank = int(key)
        except (TypeError, ValueError):
            raise CposimError(f"{table} are keyed by rank (an integer), got {key!r}",
                              file=source, field=field) from None
        if isinstance(key, float) and key != rank or not 0 <= rank < trace.world_size:
            raise CposimError(f"rank {key!r} is not in 0..{trace.world_size - 1}",
                              file=source, field=field)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) \
                or not math.isfinite(factor) or factor < 0 or (factor == 0 and not zero_ok):
            what = ("a delay must be a finite non-negative number of seconds" if zero_ok else
                    "slowdown must be a finite positive number (2.0 = compute takes twice "
                    "as long)")
            raise CposimError(f"{what}, got {factor!r}", file=source, field=field)
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


def _split(trace: Trace, per_rank: dict[int, float], rewrite, label) -> list[Program]:
    """Programs with each listed rank moved out of its program into one holding the ranks of
    that program with the same value (``rewrite(ops, value)``), so ranks perturbed alike are
    still simulated once."""
    ranks = np.fromiter(per_rank, dtype=np.int64, count=len(per_rank))
    programs: list[Program] = []
    for prog in trace.programs:
        hit = np.isin(prog.ranks, ranks)
        if not hit.any():
            programs.append(prog)
            continue
        if not hit.all():
            programs.append(Program(prog.ranks[~hit], prog.ops, prog.name))
        mine = prog.ranks[hit]
        v_of = np.array([per_rank[r] for r in mine.tolist()])
        for v in sorted(set(v_of.tolist())):
            programs.append(Program(mine[v_of == v], rewrite(prog.ops, v),
                                    f"{prog.name or 'program'} {label(v)}"))
    return programs


def with_stragglers(trace: Trace, slowdown: Mapping, source: str = "stragglers") -> Trace:
    """A copy of ``trace`` in which rank ``r`` computes ``slowdown[r]`` times as long.

    Factors of 1 change nothing; factors below 1 make a rank faster. The trace's metadata
    records the stragglers. Bad ranks or factors raise a :class:`CposimError` naming
    ``stragglers.<rank>``."""
    slow = {r: f for r, f in _checked(trace, slowdown, source).items() if f != 1.0}
    if not slow:
        return trace
    programs = _split(trace, slow, lambda ops, f: [scaled_compute(op, f) for op in ops],
                      lambda f: f"x{f:g}")
    meta = {**trace.metadata,
            "stragglers": {int(r): f for r, f in sorted(slow.items())}}
    return Trace(trace.world_size, programs, dict(trace.groups), meta)


def delayed(ops: list[Op], delay_s: float, before: str | None = None) -> list[Op]:
    """``ops`` with a compute op of ``delay_s`` inserted: before every op named ``before``
    (it inherits that op's dependencies, the op then waits for it), or, with ``before=None``,
    ahead of everything (every op without dependencies waits for it)."""
    new_id = max((op.id for op in ops), default=-1) + 1
    out: list[Op] = []
    if before is None:
        out.append(Op(new_id, "compute", name="delay", duration_s=delay_s, phase="delay"))
    for op in ops:
        if before is None and not op.deps:
            op = dataclasses.replace(op, deps=(new_id,))
        elif before is not None and op.name == before:
            out.append(Op(new_id, "compute", name=f"delay before {before}", deps=op.deps,
                          duration_s=delay_s, phase="delay"))
            op = dataclasses.replace(op, deps=(new_id,))
            new_id += 1
        out.append(op)
    return out


def with_delays(trace: Trace, delays: Mapping, before: str | None = None,
                source: str = "delays") -> Trace:
    """A copy of ``trace`` in which rank ``r`` stalls for ``delays[r]`` seconds: at the start
    of the iteration, or before each of its ops named ``before`` (a late rank at a collective,
    as astra-sim #292 asks). The stall is a compute op ("delay"): the rank's GPU is busy, and
    whoever meets the rank in a collective or a send waits. Delays of 0 change nothing."""
    late = {r: d for r, d in _checked(trace, delays, source, "delays", zero_ok=True).items()
            if d > 0}
    if not late:
        return trace
    if before is not None:
        for prog in trace.programs:
            hit = prog.ranks[np.isin(prog.ranks, list(late))]
            if hit.size and not any(op.name == before for op in prog.ops):
                r = int(hit[0])
                raise CposimError(f"rank {r} has no op named {before!r}", file=source,
                                  field="delay_before")
    programs = _split(trace, late, lambda ops, d: delayed(ops, d, before),
                      lambda d: f"+{d:g}s")
    meta = {**trace.metadata, "delays": {int(r): d for r, d in sorted(late.items())},
            **({"delay_before": before} if before is not None else {})}
    return Trace(trace.world_size, programs, dict(trace.groups), meta)
