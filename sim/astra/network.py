"""ASTRA-sim's two analytical network backends and their send/receive matching.

ASTRA-sim semantics (astra-network-analytical, ``NA/`` below), not cposim's fabric models:

* **congestion-unaware** (``NA/congestion_unaware/basic-topology/BasicTopology.cpp :: send,
  compute_communication_delay``; ``MultiDimTopology.cpp :: send, get_dim_to_transfer``):
  a message of m bytes from src to dst takes ``int(hops * latency_d + m / B_d)`` ns, charged
  only in the *first* dimension d where their coordinates differ (dim 0 varies fastest).
  Hops: Ring ``min(cw, n - cw)`` (bidirectional), Switch 2, FullyConnected 1
  (``Ring.cpp / Switch.cpp / FullyConnected.cpp :: compute_hops_count``). No state: any number
  of messages in flight each take exactly that.
* **congestion-aware** (``NA/congestion_aware/``; 1-D only, ``Helper.cpp :: construct_topology``
  refuses more): devices joined by directed links (Ring: i<->i+1, both directions separate;
  Switch: every NPU <-> an extra switch device; FullyConnected: one per ordered pair). The
  whole message is one chunk, store-and-forward per link (``Link.cpp :: send,
  schedule_chunk_transmission, link_become_free``): on a free link at t it arrives at the next
  device at ``t + int(latency + m / B)`` (scheduled first) and frees the link at
  ``t + int(m / B)`` (scheduled second); a busy link queues chunks FIFO. Ring routes clockwise
  unless anticlockwise is strictly shorter (``Ring::route``).
* ``B = bw * 2^30 / 1e9`` bytes per ns (``NA/common/NetworkFunction.cpp :: bw_GBps_to_Bpns``).
* Matching (``astra-sim/network_frontend/analytical/common/CommonNetworkApi.cc``,
  ``CallbackTracker.cc``, ``ChunkIdGenerator.cc``): a message is keyed by (tag, src, dst,
  size, n) where n counts earlier sends (receives) with the same (tag, src, dst, size). On
  arrival the send handler runs, then the receive handler if the receive was posted; a receive
  posted after arrival runs its handler through a 0-delay event. A 0-byte message trips
  ``assert(chunk_size > 0)``: an error here.
"""

from __future__ import annotations

from collections import deque

from sim.astra.config import NetworkConfig
from sim.astra.events import EventQueue
from sim.errors import CposimError

BACKENDS = ("congestion-unaware", "congestion-aware")


class Network:
    """Send/receive matching shared by both backends (``CommonNetworkApi``)."""

    def __init__(self, cfg: NetworkConfig, eq: EventQueue) -> None:
        self.cfg = cfg
        self.eq = eq
        self.npus = cfg.npus
        self._send_seq: dict[tuple, int] = {}
        self._recv_seq: dict[tuple, int] = {}
        # key -> [send handler or None, recv handler or None, arrived]
        self._tracker: dict[tuple, list] = {}
        self.messages = 0

    def send(self, src: int, dst: int, size: int, tag: int, on_sent=None) -> None:
        if size <= 0:
            raise CposimError(
                f"a {size}-byte message from NPU {src} to {dst}: the collective's chunk shrank "
                "to 0 bytes (ASTRA-sim aborts: ChunkIdGenerator asserts chunk_size > 0); use "
                "a larger comm_size or fewer preferred-dataset-splits",
                file=self.where, field="comm_size")
        if src == dst:
            raise CposimError(f"NPU {src} sends a message to itself (ASTRA-sim's topology "
                              "asserts src != dest)", file=self.where, field="comm_dst")
        k = (tag, src, dst, size)
        n = self._send_seq.get(k, 0)
        self._send_seq[k] = n + 1
        key = (tag, src, dst, size, n)
        ent = self._tracker.get(key)
        if ent is None:
            self._tracker[key] = [on_sent, None, False]
        else:
            ent[0] = on_sent
        self.messages += 1
        self._transmit(src, dst, size, key)

    def recv(self, src: int, dst: int, size: int, tag: int, handler) -> None:
        k = (tag, src, dst, size)
        n = self._recv_seq.get(k, 0)
        self._recv_seq[k] = n + 1
        key = (tag, src, dst, size, n)
        ent = self._tracker.get(key)
        if ent is None:
            self._tracker[key] = [None, handler, False]
        elif ent[2]:
            del self._tracker[key]
            self.eq.schedule(self.eq.now_ns, handler)
        else:
            ent[1] = handler

    def _arrived(self, key: tuple) -> None:
        ent = self._tracker[key]
        if ent[1] is not None:
            del self._tracker[key]
            if ent[0] is not None:
                ent[0]()
            ent[1]()
        else:
            if ent[0] is not None:
                ent[0]()
            ent[2] = True

    def _transmit(self, src: int, dst: int, size: int, key: tuple) -> None:
        raise NotImplementedError

    where = "<network>"


class CongestionUnaware(Network):
    def __init__(self, cfg: NetworkConfig, eq: EventQueue) -> None:
        super().__init__(cfg, eq)
        self._bw = cfg.bandwidth_Bpns
        self._lat = cfg.latency_ns
        self._delay: dict[tuple, int] = {}

    def coords(self, npu: int) -> list[int]:
        """``MultiDimTopology::translate_address``: dim 0 varies fastest."""
        out = []
        for n in self.cfg.npus_count:
            out.append(npu % n)
            npu //= n
        return out

    def delay_ns(self, src: int, dst: int, size: int) -> int:
        a, b = self.coords(src), self.coords(dst)
        d = next(i for i in range(len(a)) if a[i] != b[i])
        n, kind = self.cfg.npus_count[d], self.cfg.topology[d]
        if kind == "Ring":
            cw = (b[d] - a[d]) % n
            hops = min(cw, n - cw)
        elif kind == "Switch":
            hops = 2
        else:
            hops = 1
        return int(hops * self._lat[d] + size / self._bw[d])

    def _transmit(self, src: int, dst: int, size: int, key: tuple) -> None:
        k = (src, dst, size)
        d = self._delay.get(k)
        if d is None:
            d = self._delay[k] = self.delay_ns(src, dst, size)
        eq = self.eq
        eq.schedule(eq.now_ns + d, lambda: self._arrived(key))


class _Link:
    __slots__ = ("busy", "pending")

    def __init__(self) -> None:
        self.busy = False
        self.pending: deque = deque()


class CongestionAware(Network):
    def __init__(self, cfg: NetworkConfig, eq: EventQueue) -> None:
        super().__init__(cfg, eq)
        if cfg.dims != 1:
            raise CposimError(f"the congestion-aware backend supports 1-dimensional networks "
                              f"only, this one has {cfg.dims} (ASTRA-sim refuses too: "
                              "Helper.cpp :: construct_topology)", file=cfg.source,
                              field="topology")
        n, kind = cfg.npus_count[0], cfg.topology[0]
        if kind == "Ring" and n == 2:
            raise CposimError("a 2-NPU Ring is not valid for the congestion-aware backend "
                              "(ASTRA-sim asserts in Device::connect: the 1->0 link is built "
                              "twice); use Switch or FullyConnected, or the congestion-unaware "
                              "backend", file=cfg.source, field="npus_count")
        self._n, self._kind = n, kind
        self._bw = cfg.bandwidth_Bpns[0]
        self._lat = cfg.latency_ns[0]
        self._links: dict[tuple[int, int], _Link] = {}

    def _link(self, a: int, b: int) -> _Link:
        link = self._links.get((a, b))
        if link is None:
            link = self._links[(a, b)] = _Link()
        return link

    def route(self, src: int, dst: int) -> list[int]:
        n = self._n
        if self._kind == "Ring":
            cw = (dst - src) % n
            step = -1 if n - cw < cw else 1
            r, cur = [src], src
            while cur != dst:
                cur = (cur + step) % n
                r.append(cur)
            return r
        if self._kind == "Switch":
            return [src, n, dst]
        return [src, dst]

    def _transmit(self, src: int, dst: int, size: int, key: tuple) -> None:
        self._hop([size, self.route(src, dst), 0, key])

    def _hop(self, chunk: list) -> None:
        size, route, i, _ = chunk
        link = self._link(route[i], route[i + 1])
        if link.busy:
            link.pending.append(chunk)
        else:
            self._start(link, chunk)

    def _start(self, link: _Link, chunk: list) -> None:
        link.busy = True
        eq = self.eq
        size = chunk[0]
        eq.schedule(eq.now_ns + int(self._lat + size / self._bw), lambda: self._next(chunk))
        eq.schedule(eq.now_ns + int(size / self._bw), lambda: self._free(link))

    def _free(self, link: _Link) -> None:
        link.busy = False
        if link.pending:
            self._start(link, link.pending.popleft())

    def _next(self, chunk: list) -> None:
        chunk[2] += 1
        if chunk[2] == len(chunk[1]) - 1:
            self._arrived(chunk[3])
        else:
            self._hop(chunk)


def make_network(backend: str, cfg: NetworkConfig, eq: EventQueue, where: str) -> Network:
    if backend == "congestion-unaware":
        net: Network = CongestionUnaware(cfg, eq)
    elif backend == "congestion-aware":
        net = CongestionAware(cfg, eq)
    else:
        raise CposimError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}",
                          field="backend")
    net.where = where
    return net
