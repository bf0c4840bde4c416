"""What every ASTRA-sim collective phase shares: its stream, messages and packet bundles.

ASTRA-sim semantics (``astra-sim/system/astraccl/Algorithm.cc``, ``CollectivePhase.cc``,
``PacketBundle.cc``, ``MemBus.cc``): a phase runs one collective type on one logical
dimension for one stream (chunk). It gets three kinds of events from its stream — StreamInit,
General (a packet bundle finished its endpoint delay and any local reduction) and
PacketReceived — always delivered to the stream's *current* phase. Messages are tagged with
the stream id (``Sys::front_end_sim_send``, COLLECTIVE tags ``500000000 + id mod 500000000``).
``final_size`` is the data size handed to the stream's next phase (``Sys::generate_collective``).
"""

from __future__ import annotations

ALL_REDUCE, REDUCE_SCATTER, ALL_GATHER, ALL_TO_ALL = ("all-reduce", "reduce-scatter",
                                                      "all-gather", "all-to-all")
FAST_DELAY_NS = 10      # MemBus "Fast" transmission (a communicator group's Local ring)


class Phase:
    __slots__ = ("sys", "ctype", "data", "queue", "n", "final_size", "stream", "delay_ns",
                 "done")

    def __init__(self, sys, ctype: str, data: int, queue: int, n: int, final_size: int,
                 delay_ns: int) -> None:
        self.sys = sys
        self.ctype = ctype
        self.data = data
        self.queue = queue
        self.n = n
        self.final_size = final_size
        self.delay_ns = delay_ns
        self.stream = None
        self.done = False

    def send(self, dst: int, size: int) -> None:
        self.sys.net.send(self.sys.npu, dst, size, self.stream.tag)

    def recv(self, src: int, size: int) -> None:
        self.sys.net.recv(src, self.sys.npu, size, self.stream.tag, self.stream.on_recv)

    def bundle(self, size: int, processed: bool) -> None:
        """``PacketBundle::send_to_MA`` -> MemBus delay -> ``PacketBundle::call``."""
        self.sys.bundle(size, processed, self.delay_ns, self.stream.on_general)

    def exit(self) -> None:
        self.sys.proceed_to_next(self.stream)

    def on_init(self) -> None:
        raise NotImplementedError

    def on_general(self) -> None:
        raise NotImplementedError

    def on_recv(self) -> None:
        raise NotImplementedError
