"""ASTRA-sim's system layer for one NPU: collectives -> chunks (streams) -> phases -> queues.

ASTRA-sim semantics (``astra-sim/system/Sys.cc``, ``StreamBaseline.cc``, ``DataSet.cc``,
``PacketBundle.cc``, ``MemBus.cc``, ``QueueLevelHandler.cc``, ``CommunicatorGroup.cc``),
kept apart from cposim's native collectives (``sim/comm``), which do not change:

* **Chunking** (``Sys::generate_collective, determine_chunk_size``): ``chunk = size //
  preferred-dataset-splits``; except for all-gather, a chunk smaller than the number of NPUs
  becomes that number and the size becomes ``splits * chunk``. Streams are created while
  size > 0, each of exactly ``chunk`` bytes (the remainder is rounded up to a full chunk).
* **Phases per stream**: all-gather visits the logical dimensions in descending order,
  the others ascending; dimensions with one NPU or ``involved_dim`` false are skipped. An
  all-reduce with ``localBWAware`` is ``RS(d0) .. RS(d_{L-1}) AR(d_L) AG(d_{L-1}) .. AG(d0)``
  (the AGs on the Anticlockwise direction); with ``baseline`` it is an all-reduce per
  dimension. Each phase hands its ``final_size`` to the next.
* **Queues and priorities** (``Sys::insert_stream, proceed_to_next_vnet_baseline``,
  ``SchedulerUnit::notify_stream_added/removed``): one queue per logical dimension
  (``--num-queues-per-dim 1``); at most ``active-chunks-per-dimension`` streams *run* on a
  queue at once. Priority: LIFO ``counter++``, FIFO ``counter--``, EXPLICIT the node's
  ``comm_priority``; a queue keeps running streams first, then waiting ones by descending
  priority (FIFO among equals; intra-dimension FIFO and Ascending inter-dimension scheduling
  are hard-wired in ASTRA-sim 2.x). A stream is started the moment it is created, so chunk 1
  runs before chunk 2 exists.
* **Per-message cost** (``PacketBundle``, ``MemBus::send_from_NPU_to_MA``): every packet an
  algorithm inserts waits the endpoint delay E (``endpoint-delay`` x ``--injection-scale``,
  truncated to int; 10 ns "Fast" on a communicator group's Local ring), then, if it carries a
  reduction, ``R(m) = 3 * int(m / (local-mem-bw * 1e9) * 1e9)`` ns (GB = 1e9 here; R = 0 when
  local-mem-bw is 0 or absent).
* ``Sys::try_register_event``: events of one NPU at one tick run together, in registration
  order, at the place of the first registration for that tick in the global event order.
* When a stream's last phase ends, its collective (``DataSet``) is notified *before* the
  stream leaves its queue, so a collective issued by that notification queues behind it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from sim.astra.algorithms.base import (ALL_GATHER, ALL_REDUCE, ALL_TO_ALL, FAST_DELAY_NS,
                                       REDUCE_SCATTER, Phase)
from sim.astra.algorithms.direct import Direct
from sim.astra.algorithms.double_binary_tree import DoubleBinaryTree
from sim.astra.algorithms.halving_doubling import HalvingDoubling
from sim.astra.algorithms.ring import Ring
from sim.astra.config import Impl
from sim.astra.logical import CCW, CW, RingTopology, homogeneous_ring
from sim.errors import CposimError

COLLECTIVE_TAG = 500_000_000     # Sys::FrontEndSendRecvType::COLLECTIVE


@dataclass(frozen=True)
class LogicalDim:
    """One logical dimension of a collective: implementation, NPUs, stride in NPU ids (or an
    explicit ring for a communicator group) and its index in the implementation list."""

    impl: Impl
    n: int
    stride: int
    index: int
    last: bool                      # last entry of the implementation list (DBT numbering)
    ring: RingTopology | None = None


class CommGroup:
    """A communicator group as one NPU sees it (``CommunicatorGroup.cc``): its stream ids
    start at ``id * 1,000,000``; ``dims`` is its one Local-ring logical dimension, or the
    world's dimensions when it holds every NPU."""

    __slots__ = ("id", "members", "num_streams")

    def __init__(self, gid: int, members: tuple[int, ...]) -> None:
        self.id = gid
        self.members = members
        self.num_streams = gid * 1_000_000


class DataSet:
    """One collective on one NPU: done when all its streams are (``DataSet.cc``)."""

    __slots__ = ("total", "finished", "notify")

    def __init__(self, notify) -> None:
        self.total = 0
        self.finished = 0
        self.notify = notify

    def stream_finished(self) -> None:
        self.finished += 1
        if self.finished == self.total:
            self.notify()


class Stream:
    """One chunk of a collective walking its phases (``StreamBaseline.cc``)."""

    __slots__ = ("dataset", "id", "tag", "phases", "priority", "queue", "initialized", "cur",
                 "finished")

    def __init__(self, dataset: DataSet, sid: int, phases: list[Phase], priority: int) -> None:
        self.dataset = dataset
        self.id = sid
        self.tag = COLLECTIVE_TAG + sid % COLLECTIVE_TAG
        self.phases = deque(phases)
        self.priority = priority
        self.queue = -1
        self.initialized = False
        self.cur: Phase | None = None
        self.finished = False
        for p in phases:
            p.stream = self

    def init(self) -> None:
        self.initialized = True
        self.cur.on_init()

    def on_general(self) -> None:
        if not self.finished:
            self.cur.on_general()

    def on_recv(self) -> None:
        if not self.finished:
            self.cur.on_recv()


class Sys:
    def __init__(self, sim, npu: int) -> None:
        self.sim = sim
        self.npu = npu
        self.net = sim.net
        self.eq = sim.eq
        cfg = sim.system
        self.E = sim.endpoint_delay_ns
        self.local_mem_bw = cfg.local_mem_bw_GBps * 1e9
        self.splits = cfg.preferred_dataset_splits
        self.policy = cfg.scheduling_policy
        self.opt = cfg.collective_optimization
        self.threshold = cfg.active_chunks_per_dimension   # ceil(A / queues per dim), 1 queue
        self._events: dict[int, list] = {}
        self.priority_counter = 0
        self.ready: list[Stream] = []
        self.active: dict[int, list[Stream]] = {}
        self.running: dict[int, int] = {}
        self.num_streams = 0
        self.dbt_counter: dict[tuple[str, int], int] = {}
        self._rings: dict[tuple[int, int], RingTopology] = {}

    # ------------------------------------------------------------------ events
    def register(self, delta_ns: int, fn) -> None:
        """``Sys::try_register_event``."""
        t = self.eq.now_ns + delta_ns
        lst = self._events.get(t)
        if lst is None:
            lst = self._events[t] = []
            self.eq.schedule(t, lambda: self._call_events(t))
        lst.append(fn)

    def _call_events(self, t: int) -> None:
        lst = self._events[t]
        i = 0
        self.sim.in_sys_events = True
        while i < len(lst):       # items registered for t while running join this pass
            lst[i]()
            i += 1
        self.sim.in_sys_events = False
        del self._events[t]

    def reduction_ns(self, size: int) -> int:
        if self.local_mem_bw <= 0:
            return 0
        return 3 * int(size / self.local_mem_bw * 1e9)

    def bundle(self, size: int, processed: bool, delay_ns: int, on_done) -> None:
        if processed:
            self.register(delay_ns, lambda: self.register(self.reduction_ns(size), on_done))
        else:
            self.register(delay_ns, on_done)

    # ------------------------------------------------------------------ collectives
    def generate_collective(self, ctype: str, size: int, dims: list[LogicalDim],
                            involved: list[bool], explicit_priority: int,
                            group: CommGroup | None, on_done, where: str) -> None:
        """``Sys::generate_collective`` (native implementations)."""
        total = self.sim.npus
        chunk = size // self.splits
        if ctype != ALL_GATHER and total > chunk:
            chunk = total
            size = self.splits * chunk
        if chunk == 0:
            raise CposimError(f"an all-gather of {size} B split into "
                              f"{self.splits} chunks gives 0-byte chunks (ASTRA-sim loops "
                              "forever); use a larger comm_size or fewer "
                              "preferred-dataset-splits", file=where, field="comm_size")
        if len(involved) < len(dims):
            raise CposimError(f"involved_dim has {len(involved)} entries but the collective has "
                              f"{len(dims)} logical dimensions (ASTRA-sim reads past the end)",
                              file=where, field="involved_dim")
        if self.policy == "LIFO":
            pri = self.priority_counter
            self.priority_counter += 1
        elif self.policy == "FIFO":
            pri = self.priority_counter
            self.priority_counter -= 1
        else:
            pri = explicit_priority
        ds = DataSet(on_done)
        count = 0
        while size > 0:
            count += 1
            size = 0 if chunk > size else size - chunk
            phases = self._phases(ctype, dims, involved, chunk, where)
            if not phases:
                raise CposimError("the collective has no dimension to run on (every logical "
                                  "dimension has one NPU or involved_dim false); ASTRA-sim "
                                  "would wait for it forever", file=where, field="involved_dim")
            if group is None:
                sid = self.num_streams
                self.num_streams += 1
            else:
                sid = group.num_streams
                group.num_streams += 1
            self._insert_into_ready_list(Stream(ds, sid, phases, pri))
        ds.total = count

    def _phases(self, ctype: str, dims: list[LogicalDim], involved: list[bool], chunk: int,
                where: str) -> list[Phase]:
        order = list(range(len(dims)))
        if ctype == ALL_GATHER:
            order.reverse()
        use = [dims[d].n != 1 and involved[d] for d in range(len(dims))]
        phases: list[Phase] = []
        remain = chunk
        if ctype != ALL_REDUCE or self.opt == "baseline":
            for d in order:
                if use[d]:
                    ph = self._phase(ctype, ctype, dims[d], remain, CW, where)
                    phases.append(ph)
                    remain = ph.final_size
            return phases
        last = 0
        for i, d in enumerate(order):
            if use[d]:
                last = i
        i = 0
        while i < last:
            if use[order[i]]:
                ph = self._phase(ctype, REDUCE_SCATTER, dims[order[i]], remain, CW, where)
                phases.append(ph)
                remain = ph.final_size
            i += 1
        while i > 0 and not use[order[i]]:
            i -= 1
        if use[order[i]]:
            ph = self._phase(ctype, ALL_REDUCE, dims[order[i]], remain, CW, where)
            phases.append(ph)
            remain = ph.final_size
        i -= 1
        while i >= 0:
            if use[order[i]]:
                ph = self._phase(ctype, ALL_GATHER, dims[order[i]], remain, CCW, where)
                phases.append(ph)
                remain = ph.final_size
            i -= 1
        return phases

    def _ring(self, dim: LogicalDim) -> RingTopology:
        if dim.ring is not None:
            return dim.ring
        key = (dim.n, dim.stride)
        ring = self._rings.get(key)
        if ring is None:
            ring = self._rings[key] = homogeneous_ring(self.npu, dim.n, dim.stride)
        return ring

    def _phase(self, requested: str, ctype: str, dim: LogicalDim, size: int, direction: int,
               where: str) -> Phase:
        """``Sys::generate_collective_phase``; the queue is the logical dimension."""
        impl = dim.impl
        key = f"{requested}-implementation"
        src = self.sim.system.source
        queue = dim.index
        if impl.kind == "doubleBinaryTree":
            if dim.ring is not None:
                raise CposimError("doubleBinaryTree cannot run on a communicator group smaller "
                                  "than all NPUs (ASTRA-sim passes the group's ring where a "
                                  "tree is expected: undefined behaviour)", file=src, field=key)
            c = self.dbt_counter.get((requested, dim.index), 0)
            self.dbt_counter[(requested, dim.index)] = c + 1
            npu, off, n = self.npu, dim.stride, dim.n
            start = npu % off if dim.last else (npu - npu % (off * n)) + npu % off
            tree = self.sim.tree("max" if c % 2 == 0 else "min", n, start, off)
            return DoubleBinaryTree(self, tree, size, queue, self.E, src, key)
        ring = self._ring(dim)
        delay = FAST_DELAY_NS if ring.local else self.E
        if impl.kind == "ring":
            return Ring(self, ctype, ring, size, queue, direction, delay)
        if impl.kind == "direct":
            if impl.window != -1 and self.sim.aware_ring:
                self.sim.warn_once(
                    ("direct-window", src), "%s: ASTRA-sim 518bd51 crashes (heap corruption) on "
                    "windowed direct (%s) with the congestion-aware Ring backend, so there is "
                    "no ASTRA-sim number to compare this run with", src, impl.text)
            return Direct(self, ctype, ring, size, queue, direction, delay, impl.window)
        if ctype == ALL_TO_ALL:
            raise CposimError("halvingDoubling is not defined for all-to-all (ASTRA-sim exits: "
                              "unknown communication type)", file=src, field=key)
        if ring.n & (ring.n - 1):
            # ASTRA-sim truncates log2(n): all-reduce and reduce-scatter deadlock (reported as
            # an error when the queue drains), all-gather finishes after floor(log2 n) steps.
            self.sim.suspect(src, key, f"halvingDoubling on a dimension of {ring.n} NPUs (not "
                             "a power of two) deadlocks in ASTRA-sim")
        return HalvingDoubling(self, ctype, ring, size, queue, delay)

    # ------------------------------------------------------------------ scheduling
    @staticmethod
    def _insert_stream(lst: list[Stream], s: Stream) -> None:
        i = 0
        n = len(lst)
        while i < n and (lst[i].initialized or lst[i].priority >= s.priority):
            i += 1
        lst.insert(i, s)

    def _insert_into_ready_list(self, s: Stream) -> None:
        self._insert_stream(self.ready, s)
        while self.ready:                      # Sys::schedule drains the ready list at once
            head = self.ready[0]
            self.proceed_to_next(head)
            self.ready.pop(0)

    def proceed_to_next(self, s: Stream) -> None:
        """``Sys::proceed_to_next_vnet_baseline``."""
        prev = s.queue
        if not s.phases:
            s.dataset.stream_finished()
        if prev >= 0:
            lst = self.active[prev]
            for i, x in enumerate(lst):
                if x is s:
                    del lst[i]
                    break
        if not s.phases:
            s.finished = True
            if prev >= 0:
                self._notify_removed(prev)
            return
        s.cur = s.phases.popleft()
        s.queue = s.cur.queue
        s.initialized = False
        q = self.active.get(s.queue)
        if q is None:
            q = self.active[s.queue] = []
            self.running[s.queue] = 0
        self._insert_stream(q, s)
        if prev >= 0:
            self._notify_removed(prev)
        self._fill(s.queue)

    def _fill(self, q: int) -> None:
        lst = self.active[q]
        i = self.running[q]
        while i < len(lst) and self.running[q] < self.threshold:
            lst[i].init()
            self.running[q] += 1
            i += 1

    def _notify_removed(self, q: int) -> None:
        self.running[q] -= 1
        self._fill(q)


def world_dims(impls: tuple[Impl, ...], npus_count: tuple[int, ...], src: str,
               key: str) -> list[LogicalDim]:
    """``GeneralComplexTopology``: the logical dimensions of one collective type."""
    if len(impls) > len(npus_count):
        raise CposimError(f"{len(impls)} implementations for a {len(npus_count)}-dimensional "
                          "network (ASTRA-sim asserts the list is not longer)", file=src,
                          field=key)
    total = math.prod(npus_count)
    out: list[LogicalDim] = []
    stride = 1
    last = len(impls) - 1
    for d, impl in enumerate(impls):
        if impl.one:
            out.append(LogicalDim(impl, total, 1, d, d == last))
            break
        out.append(LogicalDim(impl, npus_count[d], stride, d, d == last))
        stride *= npus_count[d]
    return out
