"""Ranks as SimPy-driven control loops walking the trace's dependency graph.

Each rank class (see :mod:`sim.runtime.classes`) runs its program: an op starts once all its
dependencies have finished. Compute ops share one compute stream per rank (a GPU runs one
kernel sequence; ties go to program order), communication ops run asynchronously beside it,
so compute and communication overlap exactly as far as the dependencies allow.

Collectives rendezvous per communicator (NCCL semantics: the k-th collective a rank issues on a
communicator matches the k-th of every other member) and then run on the fabric through
:func:`sim.comm.run_collective`. Send/recv are rendezvous too: the transfer starts when both
sides have posted, and both ops finish when the bytes are delivered. The scheduler is
callback-driven (no SimPy process per op), so its cost is a few Python calls per op.

Speed-ups (:class:`sim.fabric.speed.SpeedOptions`, by default the fabric's): ``rank_classes``
drives each class of identical ranks once (off: one class per rank), ``replay`` fast-forwards
isolated collectives (:mod:`sim.runtime.fastpath`) where the fabric promises replayable timing
(``capabilities.replay``); the options reach every collective this runtime launches.

Progress: an optional ``progress(ops_done, ops_total)`` callback hears how many of the ops the
runtime will run (one per op per rank class) have finished — at the start, at most every
:data:`PROGRESS_INTERVAL_S` of wall time while running (the clock is read once per
:data:`PROGRESS_EVERY_OPS` ops, never per event), and once at the end. It only observes: the
simulation is the same with or without it.
"""

from __future__ import annotations

import heapq
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import simpy

from sim.errors import CposimError
from sim.fabric.speed import SpeedOptions, resolve
from sim.runtime.classes import Membership, RankClass, build_classes
from workloads.trace import Op, Trace

# A finished op costs one increment and one comparison; the clock is read once per this many
# ops (a few µs of work each even on the analytical fabric), the callback called at most once
# per interval — a progress bar redrawn more often than ~5 times a second is wasted time.
PROGRESS_EVERY_OPS = 64
PROGRESS_INTERVAL_S = 0.2


@dataclass(frozen=True)
class ComputeModel:
    """Roofline for compute ops that give FLOPs/bytes instead of a duration."""

    peak_flops: float
    hbm_Bps: float  # noqa: N815
    fraction: float = 1.0

    def duration_s(self, op: Op) -> float:
        t_flops = (op.flops or 0.0) / (self.peak_flops * self.fraction)
        t_mem = (op.mem_bytes or 0.0) / (self.hbm_Bps * self.fraction)
        return max(t_flops, t_mem)


class _ClassState:
    __slots__ = ("cls", "waiting", "children", "queue", "busy", "start", "comm_start", "end",
                 "coll_count", "done")

    def __init__(self, cls: RankClass) -> None:
        n = len(cls.ops)
        self.cls = cls
        pos = cls.position
        # plain lists: the scheduler touches them once per op edge (numpy scalars cost more)
        self.waiting = [0] * n
        self.children: list[list[int]] = [[] for _ in range(n)]
        for i, op in enumerate(cls.ops):
            self.waiting[i] = len(op.deps)
            for d in op.deps:
                self.children[pos[d]].append(i)
        self.queue: list[int] = []
        self.busy = False
        self.start = np.full(n, np.nan)
        self.comm_start = np.full(n, np.nan)
        self.end = np.full(n, np.nan)
        self.coll_count: dict[str, int] = defaultdict(int)
        self.done = 0


class Runtime:
    def __init__(self, env: simpy.Environment, fabric, trace: Trace, *,
                 placement: np.ndarray | None = None, compute_model: ComputeModel | None = None,
                 algorithm: str = "auto", chunks: int = 1, speed: SpeedOptions | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 mode: str | None = None, fast_forward: bool | None = None) -> None:
        """``speed``: the speed-ups (default: the fabric's options). ``mode`` and
        ``fast_forward`` are deprecated aliases (``mode="per-rank"``:
        ``rank_classes=False``; ``fast_forward=False``: no replay, no periodic schedules)."""
        from sim.comm import Communicator, run_collective  # the comm layer sits above us
        from sim.comm.ops import as_collective

        self._Communicator = Communicator
        self._run_collective = run_collective
        self._as_collective = as_collective
        self.env = env
        self.fabric = fabric
        self.trace = trace
        self.speed = resolve(speed, fabric.speed, "Runtime", fast_forward=fast_forward,
                             mode=mode)
        self.mode = self.speed.mode
        self.algorithm = algorithm
        self.chunks = chunks
        self.compute_model = compute_model
        n_gpus = fabric.topology.n_gpus
        if placement is None:
            if trace.world_size > n_gpus:
                raise CposimError(f"the trace has {trace.world_size} ranks but the topology only "
                                  f"{n_gpus} GPUs", field="gpus")
            placement = np.arange(trace.world_size)
        self.placement = np.asarray(placement, dtype=np.int64)
        if len(self.placement) != trace.world_size or (self.placement >= n_gpus).any():
            raise CposimError("placement must map every rank to a GPU of the topology",
                              field="placement")
        self.classes = build_classes(trace, self.mode)
        self.members = Membership(trace, self.classes)
        self.states = [_ClassState(c) for c in self.classes]
        self.ops_total = sum(len(c.ops) for c in self.classes)
        self.ops_done = 0
        self._progress = progress
        # without a callback the threshold is never reached (ops_done ends at ops_total)
        self._progress_at = PROGRESS_EVERY_OPS if progress is not None else self.ops_total + 1
        self._progress_t = time.perf_counter()
        self._pending_coll: dict[tuple, dict] = {}
        self._pending_p2p: dict[tuple, dict[str, deque]] = defaultdict(
            lambda: {"send": deque(), "recv": deque()})
        self._comm_cache: dict[str, list] = {}
        self._peers: dict[tuple, tuple[np.ndarray, int]] = {}
        self._coll_of: dict[tuple[int, str], tuple] = {}    # (class, group) -> component
        self._p2p_eps: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        self.collectives_launched = 0
        self.fastpath = None
        if self.speed.replay and fabric.capabilities.replay:
            from sim.runtime.fastpath import FastPath

            self.fastpath = FastPath(self)

    # ---- driving ---------------------------------------------------------------------------
    def start(self) -> None:
        for st in self.states:
            for i in [i for i, w in enumerate(st.waiting) if w == 0]:
                self._ready(st, i)

    def run(self) -> None:
        if self._progress is not None:
            self._progress(0, self.ops_total)
        self.start()
        self.env.run()
        if self._progress is not None:     # before the deadlock check: a stuck run shows < 100 %
            self._progress(self.ops_done, self.ops_total)
        self._check_finished()

    def _report_progress(self) -> None:
        self._progress_at = self.ops_done + PROGRESS_EVERY_OPS
        now = time.perf_counter()
        if now - self._progress_t >= PROGRESS_INTERVAL_S:
            self._progress_t = now
            self._progress(self.ops_done, self.ops_total)

    def _check_finished(self) -> None:
        for st in self.states:
            if st.done < len(st.cls.ops):
                i = int(np.nonzero(np.isnan(st.end))[0][0])
                op = st.cls.ops[i]
                started = "started" if not np.isnan(st.start[i]) else "never started"
                raise CposimError(
                    f"deadlock: rank {int(st.cls.ranks[0])} stops at op {op.id} "
                    f"'{op.name}' ({op.kind}, {started}); its peers never reached the matching "
                    f"collective or send/recv", field="trace")

    # ---- op lifecycle ----------------------------------------------------------------------
    def _ready(self, st: _ClassState, i: int) -> None:
        op = st.cls.ops[i]
        if op.kind == "compute":
            heapq.heappush(st.queue, i)
            self._next_compute(st)
        elif op.kind == "collective":
            st.start[i] = self.env.now
            self._post_collective(st, i, op)
        else:
            st.start[i] = self.env.now
            self._post_p2p(st, i, op)

    def _finish(self, st: _ClassState, i: int) -> None:
        st.end[i] = self.env.now
        st.done += 1
        self.ops_done += 1
        if self.ops_done >= self._progress_at:
            self._report_progress()
        waiting = st.waiting
        for c in st.children[i]:
            waiting[c] -= 1
            if not waiting[c]:
                self._ready(st, c)

    def _next_compute(self, st: _ClassState) -> None:
        if st.busy or not st.queue:
            return
        i = heapq.heappop(st.queue)
        op = st.cls.ops[i]
        if op.duration_s is not None:
            dur = op.duration_s
        elif self.compute_model is not None:
            dur = self.compute_model.duration_s(op)
        else:
            raise CposimError(f"compute op {op.id} '{op.name}' has no duration and no GPU model "
                              "was given for its FLOPs", field="gpu")
        st.busy = True
        st.start[i] = self.env.now

        def done(_ev, st=st, i=i):
            st.busy = False
            self._finish(st, i)
            self._next_compute(st)

        self.env.timeout(dur).callbacks.append(done)

    # ---- collectives -----------------------------------------------------------------------
    def _communicator(self, group: str, row: int):
        comms = self._comm_cache.get(group)
        if comms is None:      # every communicator of the group at once (checked at once)
            members = self.trace.groups[group].members
            comms = self._Communicator.many(group, members, self.placement[members])
            self._comm_cache[group] = comms
        return comms[row]

    def _post_collective(self, st: _ClassState, i: int, op: Op) -> None:
        cid, rows, classes = self._component(st.cls, op.group)
        if len(classes) == 1:
            # the communicators hold this class's ranks only (tensor or data parallel
            # within a pipeline stage): nobody to wait for
            st.comm_start[i] = self.env.now
            self.collectives_launched += 1
            self._launch(op, cid, rows, lambda _ev: self._finish(st, i))
            return
        seq = st.coll_count[op.group]
        st.coll_count[op.group] += 1
        key = (op.group, cid, seq)
        entry = self._pending_coll.get(key)
        if entry is None:
            entry = {"arrived": {}, "expected": len(classes), "op": op}
            self._pending_coll[key] = entry
        else:
            ref = entry["op"]
            if (ref.collective, ref.size_bytes) != (op.collective, op.size_bytes):
                raise CposimError(
                    f"collective #{seq} on group {op.group!r} differs between ranks: "
                    f"{ref.collective} {ref.size_bytes:g} B vs {op.collective} "
                    f"{op.size_bytes:g} B (op {op.id} '{op.name}')", field="trace")
        entry["arrived"][st.cls.index] = i
        if len(entry["arrived"]) < entry["expected"]:
            return
        del self._pending_coll[key]
        now = self.env.now
        for ci, oi in entry["arrived"].items():
            self.states[ci].comm_start[oi] = now
        self.collectives_launched += 1
        arrived = dict(entry["arrived"])

        def done(_ev):
            for ci, oi in arrived.items():
                self._finish(self.states[ci], oi)

        self._launch(op, cid, rows, done)

    def _component(self, cls: RankClass, group: str) -> tuple[int, np.ndarray, np.ndarray]:
        """:meth:`Membership.component`, memoised per (class, group)."""
        got = self._coll_of.get((cls.index, group))
        if got is None:
            got = self._coll_of[(cls.index, group)] = self.members.component(
                self.trace.groups[group], cls)
        return got

    def _launch(self, op: Op, cid: int, rows: np.ndarray, done) -> None:
        """Run collective ``op`` of component ``cid`` (communicator ``rows``); ``done`` when
        it ends."""
        if self.fastpath is not None and self.fastpath.try_replay(op, cid, done):
            return
        comms = [self._communicator(op.group, int(r)) for r in rows]
        kind, size = self._as_collective(op.collective, op.size_bytes)
        ev = self._run_collective(self.env, self.fabric, comms, kind, size,
                                  algorithm=op.algorithm or self.algorithm, chunks=self.chunks,
                                  split_bytes=op.split_bytes, speed=self.speed)
        ev.callbacks.append(done)

    # ---- point to point --------------------------------------------------------------------
    def _post_p2p(self, st: _ClassState, i: int, op: Op) -> None:
        pkey = (st.cls.index, op.group, op.peer, op.peer_offset)
        got = self._peers.get(pkey)
        if got is None:       # a pipeline repeats the same send/recv every micro-batch
            peers = self.members.peers(st.cls, op)
            peer_classes = np.unique(self.members.class_of_rank[peers])
            if len(peer_classes) != 1 or peer_classes[0] < 0:
                # classes are split until peers agree (classes._split_by_peers), so only a
                # peer that runs no program can get here
                raise CposimError(
                    f"{op.kind} op {op.id} '{op.name}': a peer of ranks "
                    f"{st.cls.ranks[:4].tolist()} runs no program", field="trace")
            got = self._peers[pkey] = (peers, int(peer_classes[0]))
        peers, peer_cls = got
        if op.kind == "send":
            key = (st.cls.index, peer_cls, op.tag)
        else:
            key = (peer_cls, st.cls.index, op.tag)
        queues = self._pending_p2p[key]
        other = "recv" if op.kind == "send" else "send"
        if not queues[other]:
            queues[op.kind].append((st, i, op, peers))
            return
        ost, oi, oop, opeers = queues[other].popleft()
        if op.kind == "send":
            send, recv = (st, i, op, peers), (ost, oi, oop, opeers)
        else:
            send, recv = (ost, oi, oop, opeers), (st, i, op, peers)
        s_st, s_i, s_op, s_peers = send
        ekey = (s_st.cls.index, id(s_peers))     # s_peers: the array cached in self._peers
        got = self._p2p_eps.get(ekey)
        if got is None:
            got = self._p2p_eps[ekey] = (self.placement[s_st.cls.ranks], self.placement[s_peers])
        src, dst = got
        size = np.full(len(src), float(s_op.size_bytes))
        now = self.env.now
        s_st.comm_start[s_i] = now
        recv[0].comm_start[recv[1]] = now

        def done(_ev, send=send, recv=recv):
            self._finish(send[0], send[1])
            self._finish(recv[0], recv[1])

        if self.fastpath is not None and self.fastpath.try_replay_p2p(
                src, dst, size, done, key=ekey + (float(s_op.size_bytes),)):
            return
        ev = self.fabric.start_flows(src, dst, size)
        ev.callbacks.append(done)
