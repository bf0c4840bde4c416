"""Link failures inside an iteration: take links down (and back up) at simulated times on the
``flow`` fabric model; active and future flows re-route over the remaining equal-cost paths,
or stall until a path comes back.

:class:`FaultableFlowFabric` is :class:`sim.fabric.flow.FlowFabric` plus an additive API:

* ``fail_links(link_ids, both_directions=True)`` / ``restore_links(...)`` — now;
* ``fail_links_at(t_s, link_ids)`` / ``restore_links_at(t_s, link_ids)`` — at a simulated time;
* ``down_links`` (bool mask), ``stalled_flows`` (flows with no path right now).

On a change the routes are recomputed on the topology without the down links (shortest
paths with ECMP, as :class:`sim.fabric.routing.Router` does on the whole graph), every active
flow keeps its remaining bytes and moves to its new route, and the max-min rates are
re-solved. The bytes a flow had already sent are credited to the links of its old route, so
per-link byte counts stay exact. A flow whose source or destination lost every path (e.g.
its GPU's only NIC link) stalls at rate 0 and resumes when a restore gives it a route: its
route is then one down link, whose capacity is 0 while it is down (the fabric solves rates
on a copy of the topology with down links at capacity 0).

It lives here, not in ``sim/fabric/``, because the fabric files were being edited by their
owner at the time; the API is additive and could move into ``FlowFabric`` unchanged.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import simpy

from sim.errors import CposimError
from sim.fabric.flow import FlowFabric
from sim.fabric.routing import RouteGraph, Router



class MaskedRouter(Router):
    """A :class:`Router` that routes around the links marked in ``down``.

    The choice of scale-up vs scale-out graph per GPU pair is made on the intact topology, so
    a GPU that lost its NIC link has *no* route rather than a detour through another domain's
    network. A pair with no route gets a one-link route over a down link (a stall).
    """

    def __init__(self, topo, down: np.ndarray, *, routing: str = "ecmp-hash", seed: int = 0,
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
                out[i] = self._n_routes
                self._append(np.array([0, 1]), np.array([sentinel]), np.ones(1), np.zeros(1))
                self.stalled_rids.add(int(out[i]))
        return out


class FaultableFlowFabric(FlowFabric):
    """The ``flow`` model with links that fail and recover during the run."""

    fidelity = "flow"

    def __init__(self, env: simpy.Environment, topology, *, routing: str = "ecmp-hash",
                 seed: int = 0) -> None:
        super().__init__(env, topology, routing=routing, seed=seed)
        self.intact_topology = topology
        self._down = np.zeros(topology.n_links, dtype=bool)
        # outages may overlap (a cable fails, then its switch): a link is down while any is
        self._down_count = np.zeros(topology.n_links, dtype=np.int64)
        self.stats.update({"reroutes": 0})

    # -- public -------------------------------------------------------------------------
    @property
    def down_links(self) -> np.ndarray:
        return self._down.copy()

    @property
    def stalled_flows(self) -> int:
        """Active flows that have no path right now."""
        stalled = getattr(self.router, "stalled_rids", set())
        if not stalled or not self.r_rid.size:
            return 0
        m = np.isin(self.r_rid, np.fromiter(stalled, dtype=np.int64))
        return int(self.r_w[m].sum())

    def fail_links(self, link_ids, *, both_directions: bool = True) -> None:
        """Take directed links down now (with their reverse direction: a cable fails whole).

        Outages nest: a link failed twice comes back after the second restore."""
        self._set(link_ids, True, both_directions)

    def restore_links(self, link_ids, *, both_directions: bool = True) -> None:
        self._set(link_ids, False, both_directions)

    def fail_links_at(self, t_s: float, link_ids, *, both_directions: bool = True):
        return self._later(t_s, lambda: self.fail_links(link_ids, both_directions=both_directions))

    def restore_links_at(self, t_s: float, link_ids, *, both_directions: bool = True):
        return self._later(t_s, lambda: self.restore_links(link_ids,
                                                           both_directions=both_directions))

    def link_ids_between(self, a: str, b: str) -> np.ndarray:
        """Directed link ids from node ``a`` to node ``b`` (by node name)."""
        names = self.intact_topology.node_name
        ia, ib = np.flatnonzero(names == a), np.flatnonzero(names == b)
        if not ia.size or not ib.size:
            raise CposimError(f"no node named {a if not ia.size else b!r}", field="link")
        topo = self.intact_topology
        return np.flatnonzero((topo.src == ia[0]) & (topo.dst == ib[0]))

    # -- internals ----------------------------------------------------------------------
    def _later(self, t_s: float, action) -> simpy.Event:
        if not (np.isfinite(t_s) and t_s >= self.env.now):
            raise CposimError(f"time {t_s!r} is not a finite time >= now ({self.env.now})",
                              field="t_s")
        # NORMAL priority: flows started at the same instant join before the solve (LOW)
        return self._at(t_s - self.env.now, lambda _ev: action())

    def _set(self, link_ids, value: bool, both_directions: bool) -> None:
        topo = self.intact_topology
        ids = np.atleast_1d(np.asarray(link_ids, dtype=np.int64))
        if ids.size and (ids.min() < 0 or ids.max() >= topo.n_links):
            raise CposimError(f"link id out of range 0..{topo.n_links - 1}", field="link_ids")
        if both_directions and ids.size:
            ids = np.flatnonzero(np.isin(topo.cable, topo.cable[ids]))
        ids = np.unique(ids)
        before = self._down.copy()
        if value:
            self._down_count[ids] += 1
        else:
            self._down_count[ids] = np.maximum(self._down_count[ids] - 1, 0)
        self._down = self._down_count > 0
        if (before != self._down).any():
            self._reroute()

    def _pairs_of(self, rids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = self.intact_topology.n_gpus
        rid_map = self.router._rid
        pair_of = np.full(self.router._n_routes, -1, dtype=np.int64)
        if rid_map:
            k = np.fromiter(rid_map.keys(), dtype=np.int64, count=len(rid_map))
            v = np.fromiter(rid_map.values(), dtype=np.int64, count=len(rid_map))
            pair_of[v] = k
        p = pair_of[rids]
        return p // n, p % n

    def _reroute(self) -> None:
        self._advance()
        self.stats["reroutes"] += 1
        if self.r_rid.size:
            # credit what was sent so far to the old routes; from here on only the rest counts
            e_row, e_link, e_coef = self._entries(np.arange(self.r_rid.size))
            sent = np.maximum(self.r_size - self.r_rem, 0.0) * self.r_w
            self._link_bytes_done += np.bincount(e_link, weights=sent[e_row] * e_coef,
                                                 minlength=self._link_bytes_done.size)
            self.r_size = self.r_rem.copy()
            src, dst = self._pairs_of(self.r_rid)
        intact = self.intact_topology
        self.router = MaskedRouter(intact, self._down, routing=self.routing, seed=self.seed)
        cap = np.where(self._down, 0.0, intact.capacity_bps)
        self.topology = replace(intact, capacity_bps=cap)
        if self.r_rid.size:
            self.r_rid = self.router.route_ids(src, dst)
            self.r_lat = self.router.table()[3][self.r_rid]
            self.r_rate = np.zeros(self.r_rid.size)
        self._version += 1                 # the pending completion time is stale
        self._touch_all()
