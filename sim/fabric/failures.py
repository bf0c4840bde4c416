"""Routing around links that are down: the network side of failure injection.

:class:`MaskedRouter` is what :meth:`sim.fabric.flow.FlowFabric.set_down_links` routes with
while links are down: shortest paths with ECMP (as :class:`sim.fabric.routing.Router` does on
the whole graph) over the links that are up. The choice of scale-up vs scale-out graph per
GPU pair is made on the intact topology, so a GPU that lost its NIC link has *no* route
rather than a detour through another domain's network; such a pair gets a one-link route over
a down link, whose capacity is 0 while it is down (a stall), and resumes when a restore gives
it a route.
"""

from __future__ import annotations

import numpy as np

from sim.errors import CposimError
from sim.fabric.routing import DEFAULT_ROUTING, RouteGraph, Router


class MaskedRouter(Router):
    """A :class:`Router` that routes around the links marked in ``down``; ``stalled_rids``
    are the route ids of pairs left without a path."""

    def __init__(self, topo, down: np.ndarray, *, routing: str = DEFAULT_ROUTING, seed: int = 0,
                 spray_planes: bool = True) -> None:
        super().__init__(topo, routing=routing, seed=seed, spray_planes=spray_planes)
        self.down = np.asarray(down, dtype=bool).copy()
        self.stalled_rids: set[int] = set()
        if self.down.any():
            ok = ~self.down
            up_tier = topo.tier == "scaleup"
            if self.g_up is not None:
                self.g_up = RouteGraph(topo, np.flatnonzero(up_tier & ok))
            if self.g_out is not None:
                self.g_out = RouteGraph(topo, np.flatnonzero(~up_tier & ok))
            self.g_all = RouteGraph(topo, np.flatnonzero(ok))

    # Router's route-building hooks (``_add`` builds the routes of new pairs, ``_append``
    # stores them): a pair that is cut off gets the one-link stall route instead of an error
    def _add(self, s: np.ndarray, d: np.ndarray) -> np.ndarray:
        try:
            return super()._add(s, d)
        except CposimError:
            if not self.down.any():
                raise
        # some pair is cut off: route pair by pair, stalling the unreachable ones
        out = np.empty(s.size, dtype=np.int64)
        sentinel = int(np.flatnonzero(self.down)[0])
        for i in range(s.size):
            try:
                out[i] = super()._add(s[i:i + 1], d[i:i + 1])[0]
            except CposimError:
                out[i] = self.table()[3].size          # the next route id
                self._append(np.array([0, 1]), np.array([sentinel]), np.ones(1), np.zeros(1))
                self.stalled_rids.add(int(out[i]))
        return out
