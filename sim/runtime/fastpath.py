"""Fast-forward of collectives that nothing else can disturb (exact, never an approximation).

A collective whose links carry no other traffic for its whole duration takes exactly the time
it takes alone, so it can be timed once — on a private scratch copy of the fabric — and then
replayed as a single timeout every time it recurs (memoised by its signature: group,
communicator component, operation, size, algorithm). That holds for a communicator component
when, from the trace alone:

1. the links its collectives use are used by no other component, group or point-to-point
   transfer of the trace (link sets are measured on the scratch fabric, with the same
   deterministic routes as the real one), and
2. in every program, the collectives on its group are totally ordered by dependencies, so two
   of them never overlap on the same links.

Anything else (shared scale-out links, concurrent buckets) takes the plain path through the
fabric, and the runtime makes no fast path at all on a fabric that does not promise replayable
timing (``capabilities.replay``: not the packet model, not a fabric whose capacities may
change). On a fabric that times everything in closed form (``capabilities.closed_form``) there
is no contention at all, so every collective and send/recv is replayed from a memo of its
closed-form cost. Byte and energy totals of replayed collectives are booked on the real fabric
with :meth:`Fabric.account`.
"""

from __future__ import annotations

import weakref
from collections import defaultdict

import numpy as np
import simpy

from sim.comm.accounting import closed_form_cost
from sim.comm.ops import as_collective
from sim.comm.planning import TransferPlan, plan_collective
from sim.fabric.accounting import LinkBytes
from workloads.trace import Op, topological_order


def _ordered_on_group(ops: list[Op], group: str) -> bool:
    """Are the collectives on ``group`` a chain (each depends on all earlier ones)?"""
    pos = {op.id: i for i, op in enumerate(ops)}
    order, _ = topological_order({i: [pos[d] for d in op.deps] for i, op in enumerate(ops)})
    anc = [0] * len(ops)  # bitset of this group's collectives at or before op (inclusive)
    k = 0
    for i in order:
        op = ops[i]
        a = 0
        for d in op.deps:
            a |= anc[pos[d]]
        if op.kind == "collective" and op.group == group:
            if a != (1 << k) - 1:  # some earlier collective is not an ancestor
                return False
            a |= 1 << k
            k += 1
        anc[i] = a
    return True


class FastPath:
    def __init__(self, runtime) -> None:
        # a proxy: the runtime owns this object, and a cycle between them would keep the whole
        # trace (10^5 ops on a 131k-GPU job) alive until a full garbage collection
        self.rt = weakref.proxy(runtime)
        fab = self._fabric = runtime.fabric
        self._timeout = runtime.env.timeout
        self._default_algo = (runtime.algorithm, runtime.chunks)
        self._speed = runtime.speed
        self.exact_always = fab.capabilities.closed_form
        self.env = simpy.Environment()
        if self.exact_always:
            # closed-form costs are read off the routes: nothing to simulate, so they are
            # computed on the real fabric (read only) without a scratch copy
            self.scratch = fab
        else:
            # the same model, routes (shared: a cache, not state) and options, on a private
            # environment
            self.scratch = fab.scratch_copy(self.env, runtime.speed)
        self.memo: dict[tuple, tuple[float, LinkBytes, float]] = {}
        self.p2p_memo: dict[tuple, tuple[float, LinkBytes, float]] = {}
        self.eligible: set[tuple[str, int]] = set()
        self._by_op: dict[tuple[int, int], object] = {}   # (id(op), component) -> memo entry
        self._comms: dict[tuple[str, int], list] = {}
        self.replayed = 0
        self.p2p_replayed = 0
        self._analyse()

    # ---- measuring on the scratch fabric ---------------------------------------------------
    def _measure(self, start) -> tuple[float, LinkBytes, float]:
        f, env = self.scratch, self.env
        lb0, d0, t0 = f.link_bytes, f.bytes_delivered, env.now
        ev = start(env, f)
        end = {}
        ev.callbacks.append(lambda _e: end.setdefault("t", env.now))
        env.run()  # drains the scratch fabric completely
        # sparse: thousands of memo entries of a 10^6-link fabric must not be dense
        return end["t"] - t0, LinkBytes.from_dense(f.link_bytes - lb0), f.bytes_delivered - d0

    def key(self, op: Op, cid: int) -> tuple:
        split = tuple(op.split_bytes) if op.split_bytes is not None else None
        return (op.group, cid, op.collective, float(op.size_bytes),
                op.algorithm or self._default_algo[0], self._default_algo[1], split)

    def _collective(self, key: tuple, rows: np.ndarray):
        rt = self.rt
        group, cid, coll, size, algo, chunks, split = key
        comms = self._comms.get((group, cid))
        if comms is None:       # a component's communicators, shared by its signatures
            rt._communicator(group, 0)                   # builds the group's list
            every = rt._comm_cache[group]
            comms = [every[r] for r in rows.tolist()]
            self._comms[(group, cid)] = comms
        kind, size = as_collective(coll, size)
        if self.exact_always:
            f = self.scratch
            plan = plan_collective(f, comms, kind, size, algorithm=algo, chunks=chunks,
                                   split_bytes=split,
                                   periodic=self._speed.periodic
                                   and f.capabilities.periodic_schedules)
            return closed_form_cost(f, plan)

        def start(env, f):
            return rt._run_collective(env, f, comms, kind, size, algorithm=algo, chunks=chunks,
                                      split_bytes=split)
        return start

    # ---- deciding what may be replayed ------------------------------------------------------
    def _analyse(self) -> None:
        rt = self.rt
        members = rt.members
        # every collective signature in the trace, with its component
        sigs: dict[tuple, np.ndarray] = {}
        groups_by_program: dict[int, set[str]] = defaultdict(set)
        p2p: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        op_keys: list[tuple[int, int, tuple]] = []          # (id(op), component, signature)
        for cls in rt.classes:
            for op in cls.ops:
                if op.kind == "collective":
                    cid, rows, _ = rt._component(cls, op.group)
                    key = self.key(op, cid)
                    sigs.setdefault(key, rows)
                    op_keys.append((id(op), cid, key))
                    groups_by_program[cls.program].add(op.group)
                elif op.kind == "send" and not self.exact_always:
                    peers = members.peers(cls, op)
                    p2p.setdefault((cls.index, int(peers[0]), op.peer_offset),
                                   (rt.placement[cls.ranks], rt.placement[peers]))
        for key, rows in sigs.items():
            got = self._collective(key, rows)
            self.memo[key] = got if self.exact_always else self._measure(got)
        if self.exact_always:
            self.eligible = {(k[0], k[1]) for k in sigs}
            self._memo_by_op(op_keys)
            return
        n_links = rt.fabric.topology.n_links
        owners: dict[object, np.ndarray] = defaultdict(lambda: np.zeros(n_links, dtype=bool))
        for key, (_t, lb, _d) in self.memo.items():
            owners[(key[0], key[1])][lb.links[lb.bytes > 0]] = True
        for (src, dst) in p2p.values():
            _t, lb, _d = self._measure(
                lambda env, f, s=src, d=dst: f.start_flows(s, d, np.ones(len(s))))
            owners["p2p"][lb.links[lb.bytes > 0]] = True
        count = np.zeros(n_links, dtype=np.int64)
        for mask in owners.values():
            count += mask
        ordered = {}
        for prog_idx, groups in groups_by_program.items():
            ops = rt.trace.programs[prog_idx].ops
            for g in groups:
                ordered[g] = ordered.get(g, True) and _ordered_on_group(ops, g)
        for owner, mask in owners.items():
            if owner == "p2p":
                continue
            if ordered.get(owner[0], False) and not (count[mask] > 1).any():
                self.eligible.add(owner)
        self._memo_by_op(op_keys)

    def _memo_by_op(self, op_keys) -> None:
        """Each collective op's memo entry (False: not eligible), so a replay is one lookup
        (every op runs once per iteration: a memo filled on first use would never hit)."""
        memo, ok = self.memo, self.eligible
        self._by_op = {(i, cid): memo[key] if (key[0], cid) in ok else False
                       for i, cid, key in op_keys}

    # ---- replay ------------------------------------------------------------------------------
    def try_replay_p2p(self, src, dst, size, done, key=None) -> bool:
        """Closed-form fabrics only (no contention, so a transfer's time depends on nothing
        else): replay point-to-point transfers from a memo keyed by their endpoints and sizes
        (or by ``key``, which the caller guarantees names them), costed once on the fabric.
        False -> plain path."""
        if not self.exact_always:
            return False
        if key is None:
            key = (src.tobytes(), dst.tobytes(), size.tobytes())
        got = self.p2p_memo.get(key)
        if got is None:
            got = self.p2p_memo[key] = closed_form_cost(self.scratch,
                                                        TransferPlan(src, dst, size))
        self._replay(got, done)
        self.p2p_replayed += 1
        return True

    def _replay(self, memo, done) -> None:
        duration, link_bytes, delivered = memo
        account = self._fabric.account

        def finish(_ev):
            account(link_bytes, delivered)
            done(_ev)

        self._timeout(duration).callbacks.append(finish)

    def try_replay(self, op: Op, cid: int, done) -> bool:
        """Replay ``op`` from the memo if its component is eligible; False -> plain path."""
        got = self._by_op.get((id(op), cid))
        if got is None:
            got = (self.memo[self.key(op, cid)]
                   if (op.group, cid) in self.eligible else False)
            self._by_op[(id(op), cid)] = got
        if got is False:
            return False
        self._replay(got, done)
        self.replayed += 1
        return True
