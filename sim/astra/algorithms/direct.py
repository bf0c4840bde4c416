"""ASTRA-sim's ``direct`` / ``direct<W>`` collective phase (class ``AllToAll``, a ``Ring``).

ASTRA-sim semantics (``.../collective_algorithm/AllToAll.cc :: AllToAll::AllToAll, run,
process_max_count, get_non_zero_latency_packets``), not cposim's ``sim/comm`` direct:

* P = n-1 packets in flight (``W`` = window: ``min(W, n-1)``); packet i of the phase goes to
  NPU ``id+i`` of the ring (skipping itself, cycling over the other n-1) and comes from
  ``id-i``. Message sizes and reductions as ``ring``; all-to-all sends n-1 messages.
* rounds hold P zero-latency packets + P others (``(n-1)P`` on a communicator group's Local
  ring).
* all-reduce: in the second half (``stream_count <= n-1``) nothing is sent until all n-1
  first-half messages have been *received*; then each General event sends up to P packets.

Lock-step closed forms (the rules above, every NPU in step and all destinations equally far;
tests/test_astra_microbench.py checks them against ASTRA-sim's binaries): A2A ``2E + T_max``,
RS ``2E + T_max + R(m)``, AG ``2E + T_max`` (m = D), AR ``3E + 2T + R(m)``.
"""

from __future__ import annotations

from sim.astra.algorithms.base import ALL_REDUCE, ALL_TO_ALL
from sim.astra.algorithms.ring import Ring
from sim.astra.logical import RingTopology


class Direct(Ring):
    __slots__ = ("middle",)

    def __init__(self, sys, ctype: str, ring: RingTopology, data: int, queue: int,
                 direction: int, delay_ns: int, window: int) -> None:
        super().__init__(sys, ctype, ring, data, queue, direction, delay_ns)
        n = ring.n
        self.middle = n - 1
        self.P = n - 1 if window == -1 else min(window, n - 1)
        if ctype == ALL_TO_ALL:
            self.stream_count = n - 1

    def nonzero_per_round(self) -> int:
        return (self.n - 1) * self.P if self.ring.local else self.P

    def on_general(self) -> None:
        if self.done:
            return
        self.free += 1
        if self.ctype == ALL_REDUCE and self.stream_count <= self.middle:
            if self.received < self.middle:
                return
            for _ in range(self.P):
                self.ready()
            self.iteratable()
        else:
            self.ready()
            self.iteratable()

    def advance(self) -> None:
        me, ring, d = self.sys.npu, self.ring, self.direction
        self.receiver = ring.receiver(self.receiver, d)
        if self.receiver == me:
            self.receiver = ring.receiver(self.receiver, d)
        self.sender = ring.sender(self.sender, d)
        if self.sender == me:
            self.sender = ring.sender(self.sender, d)
