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
* Hop-by-hop credit flow control (lossless, as InfiniBand credits or PFC): a flow may have at
  most ``buffer_bytes`` queued at or in flight to the next port (``"auto"``, the default: two
  bandwidth-delay products of that hop, i.e. enough for full rate); a port skips flows
  without credit. This backpressure lets a flow bottlenecked downstream leave its upstream
  share to others, so the allocation approaches max-min quickly. ``None``: infinite buffers.
* Sources inject lazily: a flow's first-hop queue makes its packets on demand.
* Routing is per-flow ECMP hash on one path (``ecmp-even`` and the ``flow`` model's spreading
  of a flow over a multi-plane NIC's ports would need per-packet spraying; not modelled).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import simpy
from simpy.events import NORMAL

from sim.errors import CposimError
from sim.fabric.base import FabricBase
from sim.fabric.interface import Capabilities
from sim.fabric.routing import DEFAULT_ROUTING
from sim.fabric.speed import SpeedOptions

SWITCHING = ("cut-through", "store-and-forward")


class _At(simpy.Event):
    """A timeout with one callback and a value: what ``Timeout`` does, minus its checks."""

    def __init__(self, env, delay, value, callback):
        self.env = env
        self.callbacks = [callback]
        self._value = value
        self._ok = True
        env.schedule(self, NORMAL, delay)


class _Port:
    """The output port feeding one directed link: round-robin over per-flow queues."""
    __slots__ = ("link", "rr", "busy", "cap_Bps", "lat", "hop_lat", "bytes")

    def __init__(self, link, cap_Bps, lat, hop_lat):
        self.link = link
        self.rr = deque()
        self.busy = False
        self.cap_Bps = cap_Bps
        self.lat = lat
        self.hop_lat = hop_lat     # link latency + the far-end switch latency (cut-through)
        self.bytes = 0.0


class _Flow:
    __slots__ = ("ports", "last_hop", "size", "n_pkts", "mtu", "last_size", "injected",
                 "sent_last", "qs", "group", "index", "swlat", "credit", "blocked")

    def __init__(self, ports, swlat, size, mtu, group, index, credit):
        self.ports = ports
        self.swlat = swlat
        self.last_hop = len(ports) - 1
        self.size = size
        self.mtu = mtu
        self.n_pkts = int(-(-size // mtu))
        self.last_size = size - mtu * (self.n_pkts - 1)
        self.injected = 0
        self.sent_last = 0
        self.qs = [None] + [deque() for _ in ports[1:]]
        self.credit = credit                     # packets it may still send into hop h + 1
        self.blocked = [False] * len(ports)
        self.group = group
        self.index = index


class _Group:
    __slots__ = ("event", "finish", "left", "bytes")


class PacketFabric(FabricBase):
    fidelity = "packet"
    # the validation model: it is given every row of a schedule (its packetisation of a flow
    # must see the schedule's exact bytes) and nothing is timed once and replayed
    capabilities = Capabilities(periodic_schedules=False, replay=False)

    def __init__(self, env: simpy.Environment, topology, *, routing: str = DEFAULT_ROUTING,
                 seed: int = 0, mtu_bytes: int = 4096, switching: str = "cut-through",
                 buffer_bytes: float | str | None = "auto",
                 speed: SpeedOptions | None = None) -> None:
        super().__init__(env, topology, routing=routing, seed=seed, spray_planes=False,
                         speed=speed)
        self._options = {"mtu_bytes": mtu_bytes, "switching": switching,
                         "buffer_bytes": buffer_bytes}
        # one path per flow: the hash, and pxn's relays (a relayed route is one path too)
        if routing not in ("ecmp-hash", "pxn"):
            raise CposimError("the packet model routes each flow on one path (ecmp-hash or "
                              "pxn), not split (ecmp-even)", field="routing")
        if switching not in SWITCHING:
            raise CposimError(f"unknown switching '{switching}' (choose from "
                              f"{', '.join(SWITCHING)})", field="switching")
        if not mtu_bytes or mtu_bytes <= 0:
            raise CposimError("MTU must be > 0 bytes", field="mtu_bytes")
        self.mtu = int(mtu_bytes)
        n_links = topology.n_links
        if buffer_bytes == "auto":
            # two bandwidth-delay products of the hop (credit loop: serialise, cross the link
            # and the switch) — enough for full rate, small enough to push back at once
            loop_s = topology.latency_s + topology.switch_latency_s[topology.dst]
            bdp = topology.capacity_bps / 8.0 * loop_s + self.mtu
            self._credit = np.maximum(2, np.ceil(2.0 * bdp / self.mtu)).astype(int).tolist()
        elif buffer_bytes is None:
            self._credit = [1 << 62] * n_links
        else:
            try:
                ok = float(buffer_bytes) >= self.mtu
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise CposimError("the per-flow buffer must hold at least one packet, or be "
                                  "'auto' or None", field="buffer_bytes")
            self._credit = [int(float(buffer_bytes) // self.mtu)] * n_links
        self.cut_through = switching == "cut-through"
        n = topology.n_links
        swlat = topology.switch_latency_s[topology.dst]          # at the link's far end
        self._swlat = swlat.tolist()
        self._ports = [_Port(i, c, l, l + s) for i, (c, l, s) in enumerate(zip(
            (topology.capacity_bps / 8.0).tolist(), topology.latency_s.tolist(), self._swlat))]
        self._n_pkts = 0
        self._last_sent = 0         # packets sent on a last hop (no hand-on event)
        self._flows_moving = 0

    def _scratch(self, env: simpy.Environment, speed: SpeedOptions) -> PacketFabric:
        return PacketFabric(env, self.topology, routing=self.routing, seed=self.seed,
                            speed=speed, **self._options)

    @property
    def stats(self) -> dict:
        out = dict(self._stats)
        out["packets"] = self._n_pkts
        # per packet-hop: one serialisation event, plus one hand-on event except at the last
        # hop; per flow one delivery event (counted here, not in the hot path)
        out["sim_events"] = (self._stats["sim_events"] + 2 * self._n_pkts
                             - self._last_sent + self._flows_moving)
        return out

    @stats.setter
    def stats(self, value: dict) -> None:
        self._stats = value

    @property
    def link_bytes(self) -> np.ndarray:
        return np.fromiter((p.bytes for p in self._ports), dtype=np.float64, count=len(self._ports))

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
            f = _Flow([self._ports[l] for l in path], [self._swlat[l] for l in path],
                      float(size[i]), self.mtu, grp, i, [self._credit[l] for l in path])
            grp.left += 1
            self._flows_moving += 1
            first = f.ports[0]
            first.rr.append((f, 0))
            idle.append(first)
        if grp.left == 0:
            def done(_ev):
                self.bytes_delivered += grp.bytes
                ev.succeed(grp.finish)
            self._at(float(grp.finish.max()) - env.now, done)
            return ev
        for port in idle:
            if not port.busy:
                self._send(port)
        return ev

    def _send(self, port: _Port) -> None:
        """Start serialising the next sendable packet of ``port``'s round-robin queue."""
        rr = port.rr
        while rr:
            flow, hop = rr.popleft()
            if hop < flow.last_hop and flow.credit[hop] <= 0:
                flow.blocked[hop] = True    # parked until the next hop frees buffer space
                continue
            break
        else:
            port.busy = False
            return
        env = self.env
        now = env._now
        freed = None
        if hop == 0:
            k = flow.injected + 1
            flow.injected = k
            if k < flow.n_pkts:
                size = flow.mtu
                rr.append((flow, 0))
            else:
                size = flow.last_size
            tail_in = now
        else:
            q = flow.qs[hop]
            size, tail_in = q.popleft()
            if q:
                rr.append((flow, hop))
            flow.credit[hop - 1] += 1       # its buffer slot here is free again
            if flow.blocked[hop - 1]:
                flow.blocked[hop - 1] = False
                freed = flow.ports[hop - 1]
                freed.rr.append((flow, hop - 1))
        tx_end = now + size / port.cap_Bps
        if tx_end < tail_in:
            tx_end = tail_in           # cut-through: cannot finish before the tail is in
        tail_out = tx_end + port.lat
        port.bytes += size
        self._n_pkts += 1
        if hop == flow.last_hop:
            flow.sent_last += 1
            self._last_sent += 1
            if flow.sent_last == flow.n_pkts:
                _At(env, tail_out - now, flow, self._flow_done)
        else:
            flow.credit[hop] -= 1
            if self.cut_through:
                _At(env, port.hop_lat, (flow, hop + 1, size, tail_out), self._enqueue)
            else:
                _At(env, tail_out + flow.swlat[hop] - now, (flow, hop + 1, size, tail_out),
                    self._enqueue)
        port.busy = True
        _At(env, tx_end - now, port, self._tx_done)
        if freed is not None and not freed.busy:
            self._send(freed)

    def _tx_done(self, ev) -> None:
        port = ev._value
        port.busy = False
        if port.rr:
            self._send(port)

    def _enqueue(self, ev) -> None:
        flow, hop, size, tail = ev._value
        q = flow.qs[hop]
        q.append((size, tail))
        if len(q) == 1:
            port = flow.ports[hop]
            port.rr.append((flow, hop))
            if not port.busy:
                self._send(port)

    def _flow_done(self, ev) -> None:
        flow = ev._value
        grp = flow.group
        grp.finish[flow.index] = self.env.now
        grp.left -= 1
        if grp.left == 0:
            self.bytes_delivered += grp.bytes
            grp.event.succeed(grp.finish)
