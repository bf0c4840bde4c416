"""ASTRA-sim's event queue, in integer nanosecond ticks.

``extern/network_backend/analytical/common/event-queue/EventQueue.cpp``: events are kept per
time in FIFO lists; an event scheduled for the *current* time while that time is being
processed joins the current list and runs in the same pass. A heap keyed by (time, insertion
number) runs events in exactly that order. ``proceed()`` asserts that the next time is later
than the current one, and the clock starts at 0: an event scheduled for t = 0 before the loop
starts aborts ASTRA-sim (why ``endpoint-delay: 0`` crashes it). We raise instead.

Ticks are ASTRA-sim's "cycles" (``CLOCK_PERIOD = 1``, ``astra-sim/system/Common.hh``) = ns.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from sim.errors import CposimError


class EventQueue:
    __slots__ = ("now_ns", "_heap", "_seq")

    def __init__(self) -> None:
        self.now_ns = 0
        self._heap: list = []
        self._seq = 0

    def schedule(self, t_ns: int, fn: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t_ns, self._seq, fn))

    def run(self, where: str = "<workload>") -> None:
        heap = self._heap
        if heap and heap[0][0] == 0:
            raise CposimError("an event falls at t = 0 before the simulation starts (e.g. a "
                              "zero-delay first message or remote-memory access); ASTRA-sim "
                              "aborts here (EventQueue::proceed assertion)", file=where)
        pop = heapq.heappop
        while heap:
            t, _, fn = pop(heap)
            self.now_ns = t
            fn()
