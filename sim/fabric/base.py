"""What every fabric model shares: routing, path queries, byte and energy accounting.

Interface (the collectives layer and the runtime code against it):
``start_flows(src_gpu, dst_gpu, size_bytes) -> simpy.Event`` — starts the flows now; the
event fires when every one has been delivered, with the per-flow delivery times (absolute
simulated seconds, input order) as its value. Zero-byte flows complete after the path
latency; a GPU sending to itself completes at once.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import simpy

from sim.errors import CposimError
from sim.fabric.routing import Router


class LinkBytes(NamedTuple):
    """Bytes carried per link, sparse: ``links`` (distinct link ids) and ``bytes``.

    A collective touches a few thousand of a large fabric's 10^6 directed links; dense
    per-link arrays per collective cost more than the collective's own arithmetic."""

    links: np.ndarray
    bytes: np.ndarray

    @classmethod
    def of(cls, link_ids: np.ndarray, weights: np.ndarray, n_links: int = 0) -> LinkBytes:
        """Sum ``weights`` per link id (ids may repeat). With ``n_links`` and many ids, a
        dense count beats sorting them (same sums: both add in input order)."""
        link_ids = np.asarray(link_ids, dtype=np.int64)
        if not link_ids.size:
            return cls(np.zeros(0, np.int64), np.zeros(0))
        if n_links and 16 * link_ids.size > n_links:
            dense = np.bincount(link_ids, weights=weights, minlength=n_links)
            used = np.bincount(link_ids, minlength=n_links) > 0
            links = np.flatnonzero(used)
            return cls(links, dense[links])
        uniq, inv = np.unique(link_ids, return_inverse=True)
        return cls(uniq, np.bincount(inv.ravel(), weights=weights, minlength=uniq.size))

    @classmethod
    def from_dense(cls, per_link: np.ndarray) -> LinkBytes:
        nz = np.flatnonzero(per_link)
        return cls(nz, per_link[nz])

    def total(self) -> float:
        return float(self.bytes.sum())

    def dense(self, n_links: int) -> np.ndarray:
        out = np.zeros(n_links)
        out[self.links] = self.bytes
        return out

# SimPy orders same-time events by priority (URGENT=0, NORMAL=1). A fabric's re-solve runs
# at LOW so every flow started at this instant — by any process — joins one solve.
PRIORITY_LOW = 2


class FabricBase:
    fidelity = "base"

    def __init__(self, env: simpy.Environment, topology, *, routing: str = "ecmp-hash",
                 seed: int = 0, spray_planes: bool = True) -> None:
        self.env = env
        self.topology = topology
        self.router = Router(topology, routing=routing, seed=seed, spray_planes=spray_planes)
        self.routing = routing
        self.seed = seed
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

    # -- accounting ---------------------------------------------------------------------
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
        return float((self.link_bytes * 8.0 * self.topology.energy_pj_per_bit).sum() * 1e-12)

    def energy_by_tech(self) -> dict:
        e = self.link_bytes * 8.0 * self.topology.energy_pj_per_bit * 1e-12
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
