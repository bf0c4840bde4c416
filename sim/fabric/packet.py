"""The ``packet`` fabric model: packets through SimPy link processes, for small-scale validation.

* A flow is cut into packets of ``mtu_bytes`` payload (the last one shorter). Only payload is
  counted, as in the ``flow`` model, so the two compare like for like; header overhead would
  scale both equally.
* Every directed link is a small state machine driven by SimPy events (a callback process:
  the same events as a generator process, without the resume cost) that serialises packets
  (``bytes / capacity``) from its output queue and hands each on after the link latency
  (PHY + propagation): two events per packet per hop. The output
  queue is round-robin over the flows waiting at it (per-flow queues, infinite buffers:
  a lossless fabric with fair scheduling, whose steady state is the max-min allocation).
* Switches add ``switch_latency_s`` before a packet joins the next output queue.
  ``cut-through``: a packet may start on the next link once its head has arrived, but cannot
  finish before its tail has; ``store-and-forward``: it waits for its tail.
* Sources inject lazily: a flow's first-hop queue makes its packets on demand.
* Routing is per-flow ECMP hash (``ecmp-even`` would need per-packet spraying; not modelled).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import simpy
from simpy.events import Timeout

from sim.errors import CposimError
from sim.fabric.base import FabricBase

SWITCHING = ("cut-through", "store-and-forward")


class _Flow:
    __slots__ = ("path", "last_hop", "size", "n_pkts", "mtu", "injected", "sent_last",
                 "qs", "group", "index")

    def __init__(self, path, size, mtu, group, index):
        self.path = path
        self.last_hop = len(path) - 1
        self.size = size
        self.mtu = mtu
        self.n_pkts = int(-(-size // mtu))
        self.injected = 0
        self.sent_last = 0
        self.qs = [None] + [deque() for _ in path[1:]]
        self.group = group
        self.index = index


class _Group:
    __slots__ = ("event", "finish", "left", "bytes")


class PacketFabric(FabricBase):
    fidelity = "packet"

    def __init__(self, env: simpy.Environment, topology, *, routing: str = "ecmp-hash",
                 seed: int = 0, mtu_bytes: int = 4096, switching: str = "cut-through") -> None:
        super().__init__(env, topology, routing=routing, seed=seed)
        if routing != "ecmp-hash":
            raise CposimError("the packet model routes by per-flow hash only (ecmp-hash)",
                              field="routing")
        if switching not in SWITCHING:
            raise CposimError(f"unknown switching '{switching}' (choose from "
                              f"{', '.join(SWITCHING)})", field="switching")
        if not mtu_bytes or mtu_bytes <= 0:
            raise CposimError("MTU must be > 0 bytes", field="mtu_bytes")
        self.mtu = int(mtu_bytes)
        self.cut_through = switching == "cut-through"
        n = topology.n_links
        self._cap_Bps = (topology.capacity_bps / 8.0).tolist()
        self._lat = topology.latency_s.tolist()
        self._swlat = topology.switch_latency_s[topology.dst].tolist()  # at the link's far end
        self._rr = [deque() for _ in range(n)]
        self._busy = [False] * n
        self._bytes = [0.0] * n
        self._n_pkts = 0
        self._n_events = 0

    @property
    def stats(self) -> dict:
        out = dict(self._stats)
        out["packets"] = self._n_pkts
        out["sim_events"] = self._stats["sim_events"] + self._n_events
        return out

    @stats.setter
    def stats(self, value: dict) -> None:
        self._stats = value

    @property
    def link_bytes(self) -> np.ndarray:
        return np.asarray(self._bytes, dtype=np.float64)

    def _ordered_path(self, links: np.ndarray, src_node: int) -> list[int]:
        topo = self.topology
        by_src = {int(topo.src[l]): int(l) for l in links}
        out, node = [], src_node
        while node in by_src:
            link = by_src.pop(node)
            out.append(link)
            node = int(topo.dst[link])
        return out

    def start_flows(self, src_gpu, dst_gpu, size_bytes) -> simpy.Event:
        src, dst, size = self._check(src_gpu, dst_gpu, size_bytes)
        env = self.env
        ev = simpy.Event(env)
        n = size.size
        self._stats["flows"] += n
        grp = _Group()
        grp.event = ev
        grp.bytes = float(size.sum())
        self.bytes_offered += grp.bytes
        grp.finish = np.zeros(n)
        grp.left = 0
        if n == 0:
            ev.succeed(grp.finish)
            return ev
        rids = self.router.route_ids(src, dst)
        ptr, links, _, lat, _ = self.router.table()
        grp.finish = env.now + lat[rids]
        idle = []
        for i in range(n):
            r = int(rids[i])
            if size[i] <= 0 or ptr[r + 1] == ptr[r]:
                continue
            path = self._ordered_path(links[ptr[r]:ptr[r + 1]], int(self.topology.gpu_node[src[i]]))
            f = _Flow(path, float(size[i]), self.mtu, grp, i)
            grp.left += 1
            first = path[0]
            self._rr[first].append((f, 0))
            idle.append(first)
        if grp.left == 0:
            def done(_ev):
                self.bytes_delivered += grp.bytes
                ev.succeed(grp.finish)
            self._at(float(grp.finish.max()) - env.now, done)
            return ev
        for link in idle:
            self._kick(link)
        return ev

    def _kick(self, link: int) -> None:
        if not self._busy[link]:
            self._send(link)

    def _send(self, link: int) -> None:
        """Start serialising the next packet of ``link``'s round-robin queue."""
        rr = self._rr[link]
        env = self.env
        flow, hop = rr.popleft()
        now = env._now
        if hop == 0:
            k = flow.injected
            flow.injected = k + 1
            size = flow.mtu if k + 1 < flow.n_pkts else flow.size - flow.mtu * k
            tail_in = now
            if k + 1 < flow.n_pkts:
                rr.append((flow, 0))
        else:
            q = flow.qs[hop]
            size, tail_in = q.popleft()
            if q:
                rr.append((flow, hop))
        tx_end = now + size / self._cap_Bps[link]
        if tx_end < tail_in:
            tx_end = tail_in           # cut-through: cannot finish before the tail is in
        tail_out = tx_end + self._lat[link]
        self._bytes[link] += size
        self._n_pkts += 1
        if hop == flow.last_hop:
            flow.sent_last += 1
            if flow.sent_last == flow.n_pkts:
                t = Timeout(env, tail_out - now, flow)
                t.callbacks.append(self._flow_done)
                self._n_events += 1
        else:
            ready = (now + self._lat[link] + self._swlat[link]) if self.cut_through \
                else (tail_out + self._swlat[link])
            t = Timeout(env, ready - now, (flow, hop + 1, size, tail_out))
            t.callbacks.append(self._enqueue)
        self._busy[link] = True
        t = Timeout(env, tx_end - now, link)
        t.callbacks.append(self._tx_done)
        self._n_events += 2

    def _tx_done(self, ev) -> None:
        link = ev._value
        if self._rr[link]:
            self._send(link)
        else:
            self._busy[link] = False

    def _enqueue(self, ev) -> None:
        flow, hop, size, tail = ev._value
        q = flow.qs[hop]
        q.append((size, tail))
        if len(q) == 1:
            link = flow.path[hop]
            self._rr[link].append((flow, hop))
            self._kick(link)

    def _flow_done(self, ev) -> None:
        flow = ev._value
        grp = flow.group
        grp.finish[flow.index] = self.env.now
        grp.left -= 1
        if grp.left == 0:
            self.bytes_delivered += grp.bytes
            grp.event.succeed(grp.finish)
