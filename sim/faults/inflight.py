"""Link failures inside an iteration: take links down (and back up) at simulated times on the
``flow`` fabric model; active and future flows re-route over the remaining equal-cost paths,
or stall until a path comes back.

The network side is the flow fabric's public hook (:meth:`sim.fabric.flow.FlowFabric.
set_down_links` on a fabric built with ``failures=True``, routing with
:class:`sim.fabric.failures.MaskedRouter`). :class:`FaultableFlowFabric` is that fabric plus
the fault-process API, written on public methods only:

* ``fail_links(link_ids, both_directions=True)`` / ``restore_links(...)`` — now;
* ``fail_links_at(t_s, link_ids)`` / ``restore_links_at(t_s, link_ids)`` — at a simulated time;
* ``down_links`` (bool mask), ``stalled_flows`` (flows with no path right now),
  ``link_ids_between(a, b)``.

Outages nest (a cable fails, then its switch): a link is down while any outage holds it. A
cable fails whole (both directions) unless ``both_directions=False``.
"""

from __future__ import annotations

import numpy as np
import simpy

from sim.errors import CposimError
from sim.fabric.failures import MaskedRouter
from sim.fabric.routing import DEFAULT_ROUTING
from sim.fabric.flow import FlowFabric
from sim.fabric.speed import SpeedOptions

__all__ = ["FaultableFlowFabric", "MaskedRouter"]


class FaultableFlowFabric(FlowFabric):
    """The ``flow`` model with links that fail and recover during the run."""

    def __init__(self, env: simpy.Environment, topology, *, routing: str = DEFAULT_ROUTING,
                 seed: int = 0, speed: SpeedOptions | None = None) -> None:
        super().__init__(env, topology, routing=routing, seed=seed, speed=speed, failures=True)
        # outages may overlap (a cable fails, then its switch): a link is down while any is
        self._down_count = np.zeros(topology.n_links, dtype=np.int64)

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
        topo = self.intact_topology
        names = topo.node_name
        ia, ib = np.flatnonzero(names == a), np.flatnonzero(names == b)
        if not ia.size or not ib.size:
            raise CposimError(f"no node named {a if not ia.size else b!r}", field="link")
        return np.flatnonzero((topo.src == ia[0]) & (topo.dst == ib[0]))

    # -- internals ----------------------------------------------------------------------
    def _later(self, t_s: float, action) -> simpy.Event:
        if not (np.isfinite(t_s) and t_s >= self.env.now):
            raise CposimError(f"time {t_s!r} is not a finite time >= now ({self.env.now})",
                              field="t_s")
        # NORMAL priority: flows started at the same instant join before the solve (LOW)
        ev = self.env.timeout(t_s - self.env.now)
        ev.callbacks.append(lambda _ev: action())
        return ev

    def _set(self, link_ids, value: bool, both_directions: bool) -> None:
        topo = self.intact_topology
        ids = np.atleast_1d(np.asarray(link_ids, dtype=np.int64))
        if ids.size and (ids.min() < 0 or ids.max() >= topo.n_links):
            raise CposimError(f"link id out of range 0..{topo.n_links - 1}", field="link_ids")
        if both_directions and ids.size:
            ids = np.flatnonzero(np.isin(topo.cable, topo.cable[ids]))
        ids = np.unique(ids)
        if value:
            self._down_count[ids] += 1
        else:
            self._down_count[ids] = np.maximum(self._down_count[ids] - 1, 0)
        self.set_down_links(self._down_count > 0)
