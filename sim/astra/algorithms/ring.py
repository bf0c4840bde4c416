"""ASTRA-sim's ``ring`` collective phase (class ``Ring``), as ASTRA-sim runs it.

ASTRA-sim semantics (``astra-sim/system/astraccl/native_collectives/collective_algorithm/
Ring.cc :: Ring::Ring, run, insert_packet, ready, iteratable, process_max_count``), not
cposim's textbook ring (``sim/comm/algorithms/ring.py``):

* every message goes to the same neighbour (next NPU of the logical ring, or previous for
  the all-gather phases of a multi-dimensional localBWAware all-reduce) and comes from the
  other one. Message size m: all-reduce / reduce-scatter / all-to-all ``D // n``,
  all-gather ``D`` (so an ET's all-gather ``comm_size`` is the per-NPU *input*).
* sends: all-reduce ``2(n-1)``, reduce-scatter and all-gather ``n-1``, all-to-all
  ``n(n-1)/2`` (ASTRA-sim's ring "all-to-all" is n(n-1)/2 neighbour messages, one after the
  other, not a personalised exchange).
* packets come in rounds of P = 1 zero-latency packet (never reduced) + ``(n-1)P`` others;
  "processed" (a local reduction R(m) after the endpoint delay) = reduce-scatter, or
  all-reduce in odd rounds. Every inserted packet immediately becomes a packet bundle
  (endpoint delay E, + R(m) if processed); each bundle's General event frees one send slot;
  a slot with a pending packet and sends left sends it and posts the matching receive; each
  receive inserts one packet. The phase ends when no sends are left and all P slots are free.

Lock-step closed forms (the rules above with every NPU in step; tests/test_astra_microbench.py
checks them against ASTRA-sim's binaries): AR ``E + 2(n-1)(T+E) + (n-1)R(m)``, RS
``E + (n-1)(T+E+R(m))``, AG ``E + (n-1)(T+E)``, A2A ``E + n(n-1)/2 (T+E)``.
"""

from __future__ import annotations

from collections import deque

from sim.astra.algorithms.base import (ALL_GATHER, ALL_REDUCE, ALL_TO_ALL, REDUCE_SCATTER,
                                       Phase)
from sim.astra.logical import RingTopology


class Ring(Phase):
    __slots__ = ("ring", "direction", "receiver", "sender", "P", "stream_count", "msg",
                 "free", "zero", "nonzero", "toggle", "received", "packets")

    def __init__(self, sys, ctype: str, ring: RingTopology, data: int, queue: int,
                 direction: int, delay_ns: int) -> None:
        n = ring.n
        final = {ALL_REDUCE: data, ALL_GATHER: data * n, REDUCE_SCATTER: data // n,
                 ALL_TO_ALL: data}[ctype]
        super().__init__(sys, ctype, data, queue, n, final, delay_ns)
        self.ring = ring
        self.direction = direction
        self.receiver = ring.receiver(sys.npu, direction)
        self.sender = ring.sender(sys.npu, direction)
        self.P = 1
        if ctype == ALL_REDUCE:
            self.stream_count = 2 * (n - 1)
        elif ctype == ALL_TO_ALL:
            self.stream_count = (n - 1) * n // 2
        else:
            self.stream_count = n - 1
        self.msg = data if ctype == ALL_GATHER else data // n
        self.free = 0
        self.zero = 0
        self.nonzero = 0
        self.toggle = False
        self.received = 0
        self.packets: deque = deque()

    def nonzero_per_round(self) -> int:
        return (self.n - 1) * self.P

    def on_init(self) -> None:
        if self.done:
            return
        for _ in range(self.P):
            self.insert_packet()

    def on_recv(self) -> None:
        if self.done:
            return
        self.received += 1
        self.insert_packet()

    def on_general(self) -> None:
        if self.done:
            return
        self.free += 1
        self.ready()
        self.iteratable()

    def insert_packet(self) -> None:
        if self.zero == 0 and self.nonzero == 0:
            self.zero = self.P
            self.nonzero = self.nonzero_per_round()
            self.toggle = not self.toggle
        if self.zero > 0:
            processed = False
            self.zero -= 1
        else:
            processed = self.ctype == REDUCE_SCATTER or (self.ctype == ALL_REDUCE
                                                         and self.toggle)
            self.nonzero -= 1
        self.packets.append((self.sender, self.receiver))
        stream = self.stream
        self.sys.bundle(self.msg, processed, self.delay_ns, stream.on_general)
        self.advance()

    def advance(self) -> None:
        """After a packet is released: the ring keeps its neighbours."""

    def ready(self) -> bool:
        if not self.packets or self.stream_count == 0 or self.free == 0:
            return False
        src, dst = self.packets.popleft()
        sys, stream, msg = self.sys, self.stream, self.msg   # Phase.send / Phase.recv inlined
        sys.net.send(sys.npu, dst, msg, stream.tag)
        sys.net.recv(src, sys.npu, msg, stream.tag, stream.on_recv)
        self.stream_count -= 1
        self.free -= 1
        return True

    def iteratable(self) -> None:
        if self.stream_count == 0 and self.free == self.P:
            self.done = True
            self.exit()
