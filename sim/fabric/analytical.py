"""The ``analytical`` fabric: congestion-unaware, like ASTRA-sim's analytical backend.

Each flow takes ``path latency + bytes / path bottleneck`` as if it were alone; flows do not
share bandwidth. A planned collective or transfer is timed by its closed form
(:meth:`AnalyticalFabric.closed_form_time`: the alpha-beta model the collectives layer writes
for it, on this fabric's route latencies and bottlenecks) instead of by flows.
"""

from __future__ import annotations

import numpy as np
import simpy

from sim.fabric.base import FabricBase, LinkBytes
from sim.fabric.interface import Capabilities


class AnalyticalFabric(FabricBase):
    fidelity = "analytical"
    capabilities = Capabilities(closed_form=True)

    def closed_form_time(self, plan) -> float:
        """Every plan is timed in closed form here: no flows, no contention."""
        return plan.closed_form_s(self)

    def costs(self, src: np.ndarray, dst: np.ndarray, size: np.ndarray):
        """Per-flow times alone (latency + bytes / bottleneck) and the links' bytes.

        -> (per-flow time_s, :class:`LinkBytes`); no simulation state is touched."""
        if size.size == 0:
            return np.zeros(0), LinkBytes.empty()
        r = self.pair_routes(src, dst)
        with np.errstate(divide="ignore", invalid="ignore"):
            ser = np.where(size > 0, size * 8.0 / r.bottleneck_bps, 0.0)
        return r.latency_s + ser, r.link_bytes(size)

    def start_flows(self, src_gpu, dst_gpu, size_bytes) -> simpy.Event:
        src, dst, size = self._check(src_gpu, dst_gpu, size_bytes)
        ev = simpy.Event(self.env)
        self.stats["flows"] += size.size
        total = float(size.sum())
        self.bytes_offered += total
        if size.size == 0:
            ev.succeed(np.zeros(0))
            return ev
        times, carried = self.costs(src, dst, size)
        finish = self.env.now + times

        def done(_ev):
            self.bytes_delivered += total
            self._link_bytes_done[carried.links] += carried.bytes
            ev.succeed(finish)
        self._at(float(finish.max()) - self.env.now, done)
        return ev
