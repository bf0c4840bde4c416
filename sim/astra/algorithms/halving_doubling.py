"""ASTRA-sim's ``halvingDoubling`` collective phase (class ``HalvingDoubling``).

ASTRA-sim semantics (``.../collective_algorithm/HalvingDoubling.cc``), not cposim's
``sim/comm`` halving-doubling:

* n must be a power of two (ASTRA-sim truncates log2 and deadlocks otherwise: an error here);
  all-to-all is not defined ("unknown communication type", exit 1: an error here).
* partner at offset o: ring index +- o, + when ``(index // o)`` is even. One message at a time,
  each sent after the previous one was received (+ endpoint delay, + reduction if processed).
* all-reduce: reduce-scatter half with m = D/2, D/4, ... at o = 1, 2, ..., then the all-gather
  half back (m doubling, o halving); reduce-scatter: the first half; all-gather: m = D, 2D, ...
  at o = n/2, n/4, ...; sizes are integer-divided at every step (a size reaching 0 aborts
  ASTRA-sim: an error here). The reduction is charged on the next outgoing message's size,
  k-1 times (rounds of 1 zero-latency packet + ``log2(n) - 1`` others).

Closed form (the rules above, every NPU in step; tests/test_astra_microbench.py checks it
against ASTRA-sim's binaries), AR: ``(2k+1)E + 2 sum_j T(D/2^j, o=2^(j-1)) +
sum_{j>=2} R(D/2^j)``.
"""

from __future__ import annotations

import math
from collections import deque

from sim.astra.algorithms.base import (ALL_GATHER, ALL_REDUCE, REDUCE_SCATTER, Phase)
from sim.astra.logical import CCW, CW, RingTopology


class HalvingDoubling(Phase):
    __slots__ = ("ring", "stream_count", "msg", "rank_offset", "mult", "P", "free", "zero",
                 "nonzero", "toggle", "packets", "receiver", "sender")

    def __init__(self, sys, ctype: str, ring: RingTopology, data: int, queue: int,
                 delay_ns: int) -> None:
        n = ring.n
        final = {ALL_REDUCE: data, ALL_GATHER: data * n, REDUCE_SCATTER: data // n}[ctype]
        super().__init__(sys, ctype, data, queue, n, final, delay_ns)
        self.ring = ring
        lg = math.log2(n)
        self.stream_count = int(2 * lg) if ctype == ALL_REDUCE else int(lg)
        if ctype == ALL_GATHER:
            self.msg, self.rank_offset, self.mult = data, n // 2, 0.5
        else:
            self.msg, self.rank_offset, self.mult = data // 2, 1, 2
        self.P = 1
        self.free = 0
        self.zero = 0
        self.nonzero = 0
        self.toggle = False
        self.packets: deque = deque()
        self._set_partner()

    def _set_partner(self) -> None:
        o = self.rank_offset
        d = CW if o == 0 or (self.ring.index(self.sys.npu) // o) % 2 == 0 else CCW
        r = self.sys.npu
        for _ in range(o):
            r = self.ring.receiver(r, d)
        self.receiver = self.sender = r

    def on_init(self) -> None:
        if self.done:
            return
        for _ in range(self.P):
            self.insert_packet()

    def on_recv(self) -> None:
        if self.done:
            return
        self.insert_packet()

    def on_general(self) -> None:
        if self.done:
            return
        self.free += 1
        self.ready()
        if self.stream_count == 0 and self.free == self.P:
            self.done = True
            self.exit()

    def insert_packet(self) -> None:
        if self.zero == 0 and self.nonzero == 0:
            self.zero = self.P
            self.nonzero = int(math.log2(self.n) - 1 * self.P)
            self.toggle = not self.toggle
        if self.zero > 0:
            processed = False
            self.zero -= 1
        else:
            processed = self.ctype == REDUCE_SCATTER or (self.ctype == ALL_REDUCE
                                                         and self.toggle)
            self.nonzero -= 1
        self.packets.append((self.msg, self.sender, self.receiver))
        # process_max_count: the bundle carries the current size, then offset and size move
        self.bundle(self.msg, processed)
        self.rank_offset = int(self.rank_offset * self.mult)
        self.msg = int(self.msg / self.mult)
        if self.rank_offset == self.n and self.ctype == ALL_REDUCE:
            self.mult = 0.5
            self.rank_offset = int(self.rank_offset * self.mult)
            self.msg = int(self.msg / self.mult)
        self._set_partner()

    def ready(self) -> None:
        if not self.packets or self.stream_count == 0 or self.free == 0:
            return
        size, src, dst = self.packets.popleft()
        self.send(dst, size)
        self.recv(src, size)
        self.stream_count -= 1
        self.free -= 1
