"""What every fabric model shares: routing, path queries, byte and energy accounting.

:class:`FabricBase` implements the parts of the :class:`sim.fabric.interface.Fabric`
protocol that do not depend on the network model: routes and their costs (memoised per pair
set), byte and energy accounting, the options and capabilities. A model adds
``start_flows(src_gpu, dst_gpu, size_bytes) -> simpy.Event`` — starts the flows now; the
event fires when every one has been delivered, with the per-flow delivery times (absolute
simulated seconds, input order) as its value. Zero-byte flows complete after the path
latency; a GPU sending to itself completes at once.
"""

from __future__ import annotations

import numpy as np
import simpy

from sim.errors import CposimError
from sim.fabric.accounting import LinkBytes, TechTable, TechTableCache, dynamic_energy_j
from sim.fabric.interface import Capabilities
from sim.fabric.pairs import PairRouteCache, PairRoutes
from sim.fabric.routing import DEFAULT_ROUTING, Router
from sim.fabric.speed import SpeedOptions

__all__ = ["PRIORITY_LOW", "FabricBase", "LinkBytes"]

# SimPy orders same-time events by priority (URGENT=0, NORMAL=1). A fabric's re-solve runs
# at LOW so every flow started at this instant — by any process — joins one solve.
PRIORITY_LOW = 2


class FabricBase:
    fidelity = "base"
    #: what the model promises the collectives layer and the runtime (see
    #: :class:`~sim.fabric.interface.Capabilities`); models override it
    capabilities = Capabilities()

    def __init__(self, env: simpy.Environment, topology, *, routing: str = DEFAULT_ROUTING,
                 seed: int = 0, spray_planes: bool = True,
                 speed: SpeedOptions | None = None) -> None:
        self.env = env
        self.topology = topology
        self.router = Router(topology, routing=routing, seed=seed, spray_planes=spray_planes)
        self.routing = routing
        self.seed = seed
        self.speed = SpeedOptions() if speed is None else speed
        self.pair_cache = PairRouteCache()
        self.tech_cache = TechTableCache()
        self.bytes_offered = 0.0
        self.bytes_delivered = 0.0
        self._lbd = np.zeros(topology.n_links)
        self._pending: dict[int, tuple[np.ndarray, int]] = {}
        self.stats = {"flows": 0, "solves": 0, "sim_events": 0}
        self._rid_memo: tuple = (None, {})

    def _route_ids(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """``router.route_ids``, memoised by the pairs (read-only result): a collective's
        waves ask about the same 10^5 pairs step after step, and a lookup among 10^6 known
        pairs costs ~100x hashing the arrays. A new router (after a failure) starts afresh."""
        router, memo = self._rid_memo
        if router is not self.router:
            router, memo = self.router, {}
            self._rid_memo = (router, memo)
        src = np.ascontiguousarray(src, dtype=np.int64)     # bytes must mean the same ids
        dst = np.ascontiguousarray(dst, dtype=np.int64)
        key = (src.tobytes(), dst.tobytes())
        rids = memo.get(key)
        if rids is None:
            rids = router.route_ids(src, dst)
            rids.flags.writeable = False
            if len(memo) >= 256:
                memo.pop(next(iter(memo)))
            memo[key] = rids
        return rids

    # -- queries ------------------------------------------------------------------------
    def _route(self, src_gpu, dst_gpu):
        rid = self.router._rid.get(int(src_gpu) * self.topology.n_gpus + int(dst_gpu))
        if rid is None or not 0 <= int(src_gpu) < self.topology.n_gpus:
            rid = int(self.router.route_ids(np.array([src_gpu]), np.array([dst_gpu]))[0])
        ptr, links, coef, lat, bneck = self.router.table()
        return rid, links[ptr[rid]:ptr[rid + 1]], coef[ptr[rid]:ptr[rid + 1]], lat[rid], bneck[rid]

    def path_latency_s(self, src_gpu: int, dst_gpu: int) -> float:
        """One-way latency: PHY + propagation of every link, plus every switch traversed."""
        return float(self._route(src_gpu, dst_gpu)[3])

    def path_bottleneck_bps(self, src_gpu: int, dst_gpu: int) -> float:
        """The rate one flow alone would get on its path(s)."""
        return float(self._route(src_gpu, dst_gpu)[4])

    def path_links(self, src_gpu: int, dst_gpu: int) -> np.ndarray:
        """Directed link ids of the route (all links of all equal-cost paths if split)."""
        return self._route(src_gpu, dst_gpu)[1]

    def path_latencies_s(self, src_gpu, dst_gpu) -> np.ndarray:
        """Vectorised :meth:`path_latency_s` over arrays of GPU pairs."""
        rids = self.router.route_ids(np.atleast_1d(src_gpu), np.atleast_1d(dst_gpu))
        return self.router.table()[3][rids]

    def path_bottlenecks_bps(self, src_gpu, dst_gpu) -> np.ndarray:
        """Vectorised :meth:`path_bottleneck_bps` over arrays of GPU pairs."""
        rids = self.router.route_ids(np.atleast_1d(src_gpu), np.atleast_1d(dst_gpu))
        return self.router.table()[4][rids]

    def pair_routes(self, src_gpu: np.ndarray, dst_gpu: np.ndarray) -> PairRoutes:
        """The routes of the pairs ``src[i] -> dst[i]`` gathered once per pair set (memoised
        for the current router, see :class:`~sim.fabric.pairs.PairRouteCache`)."""
        return self.pair_cache.routes(self.router, self.topology, src_gpu, dst_gpu)

    def route_info(self, src_gpu: np.ndarray, dst_gpu: np.ndarray):
        """Per pair ``(latency_s, bottleneck_bps)``: what the closed forms take as α and B."""
        r = self.pair_routes(src_gpu, dst_gpu)
        return r.latency_s, r.bottleneck_bps

    def carried(self, src_gpu: np.ndarray, dst_gpu: np.ndarray,
                size_bytes: np.ndarray) -> LinkBytes:
        """Bytes per link when pair ``i`` sends ``size_bytes[i]`` along its route (a query:
        nothing is booked)."""
        if not np.size(src_gpu):
            return LinkBytes.empty()
        return self.pair_routes(src_gpu, dst_gpu).link_bytes(size_bytes)

    # -- timing ---------------------------------------------------------------------------
    def closed_form_time(self, plan) -> float | None:
        """The time of a planned collective or transfer without simulating it, or None when
        this model simulates it (``start_flows``). Closed-form models answer with
        ``plan.closed_form_s(self)``, the plan's alpha-beta time on this fabric's routes."""
        return None

    def fast_forward_waves(self, src_gpu, dst_gpu, size_bytes, count: int):
        """Run ``count`` identical waves back to back in closed form (an event whose value is
        the number of waves completed), or None when this model cannot do that exactly now;
        the caller then starts the next wave itself."""
        return None

    def scratch_copy(self, env: simpy.Environment, speed: SpeedOptions | None = None):
        """A private fabric of the same model, topology, routing and options on ``env``
        (``speed`` to override the options), sharing this one's caches (routes, pair routes,
        technology table): the same deterministic routes, computed once."""
        copy = self._scratch(env, self.speed if speed is None else speed)
        copy.router = self.router
        copy.pair_cache = self.pair_cache
        copy.tech_cache = self.tech_cache
        return copy

    def _scratch(self, env: simpy.Environment, speed: SpeedOptions):
        return type(self)(env, self.topology, routing=self.routing, seed=self.seed,
                          speed=speed)

    # -- accounting ---------------------------------------------------------------------
    def tech_table(self) -> TechTable:
        """The topology's per-link technology codes and pJ/bit (made once per fabric, again
        if the topology's technology array is replaced)."""
        return self.tech_cache.of(self.topology)

    def by_technology(self, link_bytes: LinkBytes) -> tuple[dict, dict]:
        """(link bytes by technology, dynamic energy by technology) of ``link_bytes``."""
        return self.tech_table().split(link_bytes)

    @property
    def _link_bytes_done(self) -> np.ndarray:
        """Bytes carried per link by finished traffic, without pending replays (writers
        add to it in place; readers of totals go through :meth:`_settled`)."""
        return self._lbd

    @_link_bytes_done.setter
    def _link_bytes_done(self, value: np.ndarray) -> None:
        self._lbd = value

    def _settled(self) -> np.ndarray:
        """:attr:`_link_bytes_done` with every booked replay folded in."""
        if self._pending:
            for arr, n in self._pending.values():
                if isinstance(arr, LinkBytes):
                    self._lbd[arr.links] += arr.bytes if n == 1 else arr.bytes * n
                else:
                    self._lbd += arr if n == 1 else arr * n
            self._pending.clear()
        return self._lbd

    @property
    def link_bytes(self) -> np.ndarray:
        return self._settled().copy()

    def energy_j(self) -> float:
        """Dynamic link energy so far: bits carried x pJ/bit, summed over directed links."""
        return dynamic_energy_j(self.link_bytes, self.topology.energy_pj_per_bit, total=True)

    def energy_by_tech(self) -> dict:
        e = dynamic_energy_j(self.link_bytes, self.topology.energy_pj_per_bit)
        out: dict = {}
        for tech in np.unique(self.topology.tech):
            out[str(tech)] = float(e[self.topology.tech == tech].sum())
        return out

    def account(self, link_bytes: np.ndarray | LinkBytes, delivered_bytes: float) -> None:
        """Book traffic that was timed elsewhere (a runtime fast-forward of an isolated
        collective, an ``analytical`` collective) so byte, utilisation and energy totals
        still include it. ``link_bytes``: dense per link, or :class:`LinkBytes`.

        ``link_bytes`` must not change afterwards: a replay books the same array thousands of
        times, so bookings are counted per array and added up when the totals are read."""
        n = self._pending.get(id(link_bytes), (link_bytes, 0))[1]
        self._pending[id(link_bytes)] = (link_bytes, n + 1)
        self.bytes_offered += delivered_bytes
        self.bytes_delivered += delivered_bytes

    # -- helpers ------------------------------------------------------------------------
    @staticmethod
    def _check(src_gpu, dst_gpu, size_bytes):
        src = np.atleast_1d(np.asarray(src_gpu, dtype=np.int64))
        dst = np.atleast_1d(np.asarray(dst_gpu, dtype=np.int64))
        size = np.atleast_1d(np.asarray(size_bytes, dtype=np.float64))
        try:
            src, dst, size = np.broadcast_arrays(src, dst, size)
        except ValueError:
            raise CposimError("src, dst and size arrays differ in length", field="flows") from None
        if size.size and (not np.isfinite(size).all() or (size < 0).any()):
            raise CposimError("flow sizes must be finite and >= 0", field="size_bytes")
        return src.copy(), dst.copy(), size.copy()

    def start_flow(self, src_gpu: int, dst_gpu: int, size_bytes: float) -> simpy.Event:
        return self.start_flows(np.array([src_gpu]), np.array([dst_gpu]), np.array([size_bytes]))

    def _at(self, delay: float, callback, priority: int = 1) -> simpy.Event:
        """An event ``delay`` from now that runs ``callback(event)``; no process needed."""
        ev = simpy.Event(self.env)
        ev._ok = True
        ev._value = None
        ev.callbacks.append(callback)
        self.env.schedule(ev, priority, delay)
        self.stats["sim_events"] += 1
        return ev

    def start_flows(self, src_gpu, dst_gpu, size_bytes) -> simpy.Event:  # pragma: no cover
        raise NotImplementedError
