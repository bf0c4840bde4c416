"""Run collectives and point-to-point transfers on a fabric: the execution part of the
collectives layer (planning: :mod:`sim.comm.planning`; closed-form cost:
:mod:`sim.comm.cost`; bytes, energy and results: :mod:`sim.comm.accounting`).

Each operation is planned, then handed to the fabric (:class:`sim.fabric.interface.Fabric`):

* A fabric that times plans in closed form (``fabric.closed_form_time(plan)`` is a number)
  gets no flows at all: one ``env.timeout`` of that time, and the operation's bytes are
  booked on the fabric when it ends, as the flow models book them on delivery.
* Otherwise a collective is a SimPy process that starts the flows of one wave (one step of
  every chunk in flight) and waits until they are delivered before the next wave.
  Communicators with an identical schedule run in lockstep and their flows start in one
  ``start_flows`` call per wave (the fabric then solves them together); this is exact when
  their steps finish together, as on a symmetric placement. Communicators with different
  schedules run as separate processes that only share the fabric. Runs of identical waves of
  a periodic schedule are offered to ``fabric.fast_forward_waves``, which runs them in closed
  form where that is exact and declines (None) where it is not.

The speed-ups used here (periodic schedules, the wave fast-forward) follow
:class:`sim.fabric.speed.SpeedOptions`: the call's ``speed``, by default the fabric's.
"""

from __future__ import annotations

import logging

import numpy as np
import simpy

from sim.comm.accounting import (CollectiveResult, P2PResult, collective_result,
                                 transfer_result)
from sim.comm.periodic import PeriodicSchedule
from sim.comm.planning import (_SCHEDULES, TransferPlan, auto_flat, choose_algorithm,
                               plan_collective)
from sim.comm.schedule import Waves
from sim.errors import CposimError
from sim.fabric.speed import SpeedOptions, resolve

log = logging.getLogger(__name__)

# Names other modules (and older callers) import from here.
_auto_flat = auto_flat
__all__ = ["CollectiveResult", "P2PResult", "choose_algorithm", "plan_collective",
           "run_collective", "run_p2p", "_SCHEDULES", "_auto_flat"]


def _lockstep(env, fabric, eps: np.ndarray, w: Waves):
    """One process per group of identically scheduled communicators (eps: (G, n))."""
    for k in range(w.n_waves):
        s, d, b = w.flows(k)
        if s.size:
            yield fabric.start_flows(eps[:, s].ravel(), eps[:, d].ravel(), np.tile(b, eps.shape[0]))


def _lockstep_periodic(env, fabric, eps: np.ndarray, p: PeriodicSchedule, chunks: int,
                       fast_forward: bool):
    """As :func:`_lockstep` for a periodic schedule: runs of identical waves are offered to
    the fabric's closed-form fast-forward (``fabric.fast_forward_waves``, exact) and run wave
    by wave where it declines (other traffic on the links, several rate epochs) or where
    ``fast_forward`` is off."""
    src, dst = eps[:, p.src].ravel(), eps[:, p.dst].ravel()
    ff = fabric.fast_forward_waves if fast_forward else None
    for frac, count in p.segments(chunks):
        b = np.tile(p.flow_bytes * frac, eps.shape[0])
        left = count
        while left:
            ev = ff(src, dst, b, left) if ff is not None else None
            if ev is None:
                yield fabric.start_flows(src, dst, b)
                left -= 1
            else:
                left -= yield ev


def run_collective(env: simpy.Environment, fabric, comms, op: str, size_bytes: float, *,
                   algorithm: str = "auto", chunks: int = 1, split_bytes=None, root: int = 0,
                   intra: str = "ring", inter: str = "ring", speed: SpeedOptions | None = None,
                   fast_forward: bool | None = None) -> simpy.Event:
    """Run ``op`` concurrently on every communicator; the event's value is a
    :class:`CollectiveResult`.

    ``size_bytes`` follows nccl-tests (see :mod:`sim.comm.ops`). ``chunks`` pipelines the
    buffer through the steps. ``split_bytes`` makes an all-to-all uneven: an ``(n,)`` vector
    (bytes every rank sends to each member), an ``(n, n)`` matrix, or one matrix per
    communicator. ``intra`` / ``inter`` are the phase algorithms of ``hierarchical``.

    ``speed`` (default: the fabric's options; results equal to 1e-9): with ``periodic``,
    collectives an algorithm declares periodic (ring all-reduce / all-gather /
    reduce-scatter) are planned from one step where the fabric can take them
    (``capabilities.periodic_schedules``), and with ``fast_forward_waves`` their identical
    waves are offered to the fabric's closed-form fast-forward.
    :meth:`SpeedOptions.plain` is the plain path: every step of the full schedule, wave by
    wave. ``fast_forward`` is the deprecated switch of both.
    """
    speed = resolve(speed, fabric.speed, "run_collective", fast_forward=fast_forward)
    plan = plan_collective(
        fabric, comms, op, size_bytes, algorithm=algorithm, chunks=chunks,
        split_bytes=split_bytes, root=root, intra=intra, inter=inter,
        periodic=speed.periodic and fabric.capabilities.periodic_schedules)
    start = env.now

    t = fabric.closed_form_time(plan)
    if t is not None:
        res, lb = collective_result(fabric, plan, start, t, links=True)
        ev = env.timeout(t, value=res)
        # no flows ran: book the bytes on the fabric as the flow models do on delivery
        ev.callbacks.append(lambda _e: fabric.account(lb, res.bytes_on_wire))
        return ev

    fast_forward_waves = speed.fast_forward_waves

    def proc():
        procs = []
        for g in plan.groups:
            s = g.schedule
            procs.append(env.process(
                _lockstep_periodic(env, fabric, g.eps, s, plan.chunks, fast_forward_waves)
                if isinstance(s, PeriodicSchedule) else _lockstep(env, fabric, g.eps, g.waves)))
        if procs:
            yield simpy.AllOf(env, procs)
        return collective_result(fabric, plan, start, env.now - start)

    return env.process(proc())


def run_p2p(env: simpy.Environment, fabric, src_gpu, dst_gpu, size_bytes) -> simpy.Event:
    """Send/recv (pipeline parallelism): one flow per (src, dst) pair, all started now.

    Scalars or arrays (e.g. every stage boundary of a pipeline at once); the event's value
    is a :class:`P2PResult`. On a fabric that times plans in closed form:
    ``max(α + bytes/B)`` over the pairs.
    """
    try:
        src, dst, nb = (a.copy() for a in np.broadcast_arrays(
            np.atleast_1d(np.asarray(src_gpu, np.int64)),
            np.atleast_1d(np.asarray(dst_gpu, np.int64)),
            np.atleast_1d(np.asarray(size_bytes, float))))
    except ValueError:
        raise CposimError("src, dst and size of the transfers differ in length",
                          field="p2p") from None
    if nb.size and (not np.isfinite(nb).all() or (nb < 0).any()):
        raise CposimError("transfer sizes must be finite and >= 0", field="size_bytes")
    start = env.now
    plan = TransferPlan(src, dst, nb)

    t = fabric.closed_form_time(plan)
    if t is not None:
        res, lb = transfer_result(fabric, plan, start, t)
        ev = env.timeout(t, value=res)
        # no flows ran: book the bytes on the fabric as the flow models do on delivery
        ev.callbacks.append(lambda _e: fabric.account(lb, res.bytes_on_wire))
        return ev

    def proc():
        yield fabric.start_flows(src, dst, nb)
        return transfer_result(fabric, plan, start, env.now - start)[0]

    return env.process(proc())
