"""The ``analytical`` fabric: congestion-unaware, like ASTRA-sim's analytical backend.

Each flow takes ``path latency + bytes / path bottleneck`` as if it were alone; flows do not
share bandwidth. The collectives layer builds its closed-form models on the same path
queries; this object only gives them the common fabric interface.
"""

from __future__ import annotations

import numpy as np
import simpy

from sim.fabric.base import FabricBase


class AnalyticalFabric(FabricBase):
    fidelity = "analytical"

    def start_flows(self, src_gpu, dst_gpu, size_bytes) -> simpy.Event:
        src, dst, size = self._check(src_gpu, dst_gpu, size_bytes)
        ev = simpy.Event(self.env)
        self.stats["flows"] += size.size
        total = float(size.sum())
        self.bytes_offered += total
        if size.size == 0:
            ev.succeed(np.zeros(0))
            return ev
        rids = self.router.route_ids(src, dst)
        ptr, links, coef, lat, bneck = self.router.table()
        with np.errstate(divide="ignore", invalid="ignore"):
            ser = np.where(size > 0, size * 8.0 / bneck[rids], 0.0)
        finish = self.env.now + lat[rids] + ser
        lens = ptr[rids + 1] - ptr[rids]
        e_flow = np.repeat(np.arange(size.size), lens)
        idx = np.repeat(ptr[rids] - (np.cumsum(lens) - lens), lens) + np.arange(lens.sum())
        carried = np.bincount(links[idx], weights=size[e_flow] * coef[idx],
                              minlength=self.topology.n_links)

        def done(_ev):
            self.bytes_delivered += total
            self._link_bytes_done += carried
            ev.succeed(finish)
        self._at(float(finish.max()) - self.env.now, done)
        return ev
