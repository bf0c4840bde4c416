"""The ``flow`` fabric model: max-min fair sharing, re-solved when the active flow set changes.

* Flows started at the same simulated instant (by any number of processes) are batched into
  one solve: a start marks the touched links dirty and schedules one solve event at low
  priority, after every other event of that instant.
* A solve re-computes rates only over the connected component (of the flow–link graph) that
  the change touched; rates elsewhere stay valid because max-min decomposes by component.
* Identical flows of one batch (same route, same size) are one weighted row.
* One SimPy event is pending for the next completion, not one per flow; it is cancelled
  lazily by a version counter when a re-solve moves it.

Completion semantics: a flow occupies its path from its start until its bytes are sent at
the max-min rate, and is delivered one path latency later. Alone on an idle path it
completes in ``latency + bytes / bottleneck``.

Speed-ups (each switched by :class:`~sim.fabric.speed.SpeedOptions`, exact where it applies):
memoised component solves, the incremental re-solve after completions, the solo replay of
quiet batches (:mod:`sim.fabric.solo`) and the closed-form run of identical waves
(:meth:`FlowFabric.fast_forward_waves`).

Link failures: a fabric built with ``failures=True`` takes links down and back up through
:meth:`FlowFabric.set_down_links` — active and future flows re-route over the remaining
equal-cost paths (:class:`sim.fabric.failures.MaskedRouter`) or stall until a path comes back,
and the rates are re-solved. Its capacities may change, so it does not offer the speed-ups
that time traffic once and reuse the answer (solo replay, wave fast-forward, the runtime's
replay): :attr:`capabilities` says so.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import simpy

from sim.errors import CposimError
from sim.fabric.base import PRIORITY_LOW, FabricBase, LinkBytes
from sim.fabric.failures import MaskedRouter
from sim.fabric.interface import Capabilities
from sim.fabric.maxmin import maxmin_rates
from sim.fabric.routing import DEFAULT_ROUTING, route_entries
from sim.fabric.solo import SoloRun, segments
from sim.fabric.speed import SpeedOptions

log = logging.getLogger(__name__)

_DONE_REL = 1e-10     # a row with this fraction of its bytes left is complete (float noise)
_BFS_LIMIT = 6        # component search rounds before we just solve everything active
_MEMO_ENTRIES = 512   # memoised component solves kept (oldest dropped first)
_MEMO_MAX_ROWS = 1 << 16
_SOLO_MIN_ROWS = 32         # smaller batches are cheap to simulate in place
_SOLO_ENTRIES = 128         # solo runs kept (oldest dropped first)
_SOLO_MAX_SEGMENTS = 1 << 22


class _Group:
    __slots__ = ("event", "finish", "row_finish", "inverse", "rows_left", "bytes")

    def __init__(self, event, n_flows):
        self.event = event
        self.finish = np.zeros(n_flows)
        self.row_finish = None
        self.inverse = None
        self.rows_left = 0
        self.bytes = 0.0


class _Reservation:
    """Waves of a collective fast-forwarded on links nothing else uses (see fast_forward_waves)."""
    __slots__ = ("id", "links", "t0", "count", "wave", "event", "live")

    def __init__(self, rid, links, t0, count, wave, event):
        self.id, self.links, self.t0, self.count = rid, links, t0, count
        self.wave, self.event, self.live = wave, event, True


class _SoloReservation:
    """A batch replayed from its solo run (see :mod:`sim.fabric.solo`) while its links stay
    quiet."""
    __slots__ = ("id", "links", "t0", "run", "grp", "live")

    def __init__(self, rid, run: SoloRun, t0: float, grp: _Group) -> None:
        self.id, self.links, self.t0, self.run, self.grp = rid, run.links, t0, run, grp
        self.live = True


class _Wave:
    """One wave alone on an idle fabric: its weighted rows, rates and duration."""
    __slots__ = ("rid", "w", "size", "rate", "lat", "transfer_s", "duration_s", "links",
                 "link_bytes", "bytes", "n_flows", "single_epoch")


class FlowFabric(FabricBase):
    fidelity = "flow"
    capabilities = Capabilities()

    def __init__(self, env: simpy.Environment, topology, *, routing: str = DEFAULT_ROUTING,
                 seed: int = 0, speed: SpeedOptions | None = None,
                 failures: bool = False) -> None:
        super().__init__(env, topology, routing=routing, seed=seed, speed=speed)
        # the topology as built; ``topology`` has the down links at capacity 0
        self.intact_topology = topology
        self._down = np.zeros(topology.n_links, dtype=bool)
        if failures:
            self.capabilities = Capabilities(replay=False, fixed_capacities=False)
        z = np.zeros(0)
        zi = np.zeros(0, dtype=np.int64)
        self.r_rid, self.r_w, self.r_rem, self.r_size, self.r_rate = zi, z, z, z, z
        self.r_grp, self.r_gidx, self.r_lat = zi, zi, z
        self._t_last = env.now
        self._touched = np.zeros(topology.n_links, dtype=bool)
        self._touched_idx: list[np.ndarray] = []
        self._mask = np.zeros(topology.n_links, dtype=bool)
        self._touched_all = False
        self._solve_pending = False
        self._version = 0
        self._groups: dict[int, _Group] = {}
        self._next_gid = 0
        self.stats.update({"rows": 0, "rounds": 0, "rows_solved": 0, "max_active_rows": 0,
                           "epochs": 0, "memo_hits": 0, "ff_waves": 0, "ff_breaks": 0,
                           "solo_replays": 0, "solo_breaks": 0})
        if failures:
            self.stats["reroutes"] = 0
        # After completions only, re-solve just the rows at least as fast as the slowest row
        # that completed (see _on_solve; speed.incremental).
        self._floor = np.inf          # lowest rate among rows completed since the last solve
        self._full_pending = False    # flows started (or rates reset) since the last solve
        # a batch seen before that starts on quiet links is replayed from its solo run
        # (speed.solo_replay)
        self._solo: dict = {}         # batch signature -> SoloRun, or None if not replayable
        self._solo_seen: dict = {}    # batch signature -> times started
        self._record: list | None = None   # rate assignments, while simulating a solo run
        self._solve_memo: dict = {}
        self._wave_memo: dict = {}
        self._reserved = np.full(topology.n_links, -1, dtype=np.int64)   # link -> reservation
        self._reservations: dict[int, _Reservation] = {}
        self._next_res = 0

    def _scratch(self, env: simpy.Environment, speed: SpeedOptions) -> FlowFabric:
        return FlowFabric(env, self.topology, routing=self.routing, seed=self.seed, speed=speed)

    # -- public -------------------------------------------------------------------------
    def start_flows(self, src_gpu, dst_gpu, size_bytes) -> simpy.Event:
        src, dst, size = self._check(src_gpu, dst_gpu, size_bytes)
        env = self.env
        ev = simpy.Event(env)
        n = size.size
        self.stats["flows"] += n
        grp = _Group(ev, n)
        grp.bytes = float(size.sum())
        self.bytes_offered += grp.bytes
        if n == 0:
            ev.succeed(grp.finish)
            return ev
        rids = self._route_ids(src, dst)
        if self._reservations:
            self._break_reservations(rids)
        ptr, links, coef, lat, _ = self.router.table()
        nlinks = ptr[rids + 1] - ptr[rids]
        flat = lat[rids]
        grp.finish = env.now + flat                        # zero-byte and local flows
        moving = (size > 0) & (nlinks > 0)
        if not moving.any():
            self._deliver_later(grp, float(grp.finish.max()) - env.now)
            return ev
        # one weighted row per distinct (route, size)
        mi = np.flatnonzero(moving)
        order = np.lexsort((size[mi], rids[mi]))
        r_s, s_s = rids[mi][order], size[mi][order]
        new = np.ones(order.size, dtype=bool)
        new[1:] = (r_s[1:] != r_s[:-1]) | (s_s[1:] != s_s[:-1])
        row_of_sorted = np.cumsum(new) - 1
        inverse = np.empty(mi.size, dtype=np.int64)
        inverse[order] = row_of_sorted
        first = np.flatnonzero(new)
        weight = np.diff(np.append(first, order.size)).astype(np.float64)
        n_rows = first.size
        grp.row_finish = np.zeros(n_rows)
        grp.inverse = (mi, inverse)
        grp.rows_left = n_rows
        if (self.speed.solo_replay and n_rows >= _SOLO_MIN_ROWS
                and self.capabilities.fixed_capacities
                and self._replay(grp, src[mi], dst[mi], size[mi], r_s[first], weight,
                                 s_s[first])):
            return ev
        if self._record is not None:            # a solo run: keep its rows' identity
            self._solo_rid, self._solo_w, self._solo_size = r_s[first], weight, s_s[first]
            self._finish_rel = np.full(n_rows, np.nan)
        gid = self._next_gid
        self._next_gid += 1
        self._groups[gid] = grp
        self._advance()
        self.r_rid = np.concatenate([self.r_rid, r_s[first]])
        self.r_w = np.concatenate([self.r_w, weight])
        self.r_rem = np.concatenate([self.r_rem, s_s[first]])
        self.r_size = np.concatenate([self.r_size, s_s[first]])
        self.r_rate = np.concatenate([self.r_rate, np.zeros(n_rows)])
        self.r_grp = np.concatenate([self.r_grp, np.full(n_rows, gid, dtype=np.int64)])
        self.r_gidx = np.concatenate([self.r_gidx, np.arange(n_rows, dtype=np.int64)])
        self.r_lat = np.concatenate([self.r_lat, lat[r_s[first]]])
        self.stats["rows"] += n_rows
        self.stats["max_active_rows"] = max(self.stats["max_active_rows"], self.r_rid.size)
        self._touch(r_s[first])
        return ev

    def fast_forward_waves(self, src_gpu, dst_gpu, size_bytes, count: int):
        """Run ``count`` identical waves of flows back to back (each starts when the previous
        one is delivered) in closed form, or return None when that would not be exact.

        Exact when the wave's links carry no other traffic and the wave alone is one rate
        epoch (all its flows finish together): then every wave takes ``transfer + latency``
        and the waves need one solve in total. The links stay reserved; if other flows later
        start on any of them, the reservation breaks at that instant into its exact per-flow
        state (waves done are booked, the wave in flight continues as ordinary rows with the
        bytes it has left) and the event fires when that wave is delivered. The event's
        value is the number of waves completed.

        None (the caller runs the waves itself) when ``speed.fast_forward_waves`` is off or
        the capacities may change (failures).
        """
        if (count < 1 or not self.speed.fast_forward_waves
                or not self.capabilities.fixed_capacities):
            return None
        src, dst, size = self._check(src_gpu, dst_gpu, size_bytes)
        wave = self._wave(src, dst, size)
        if wave is None or not wave.single_epoch:
            return None
        if (self._reserved[wave.links] >= 0).any():
            return None
        if self.r_rid.size:
            _, e_link, _ = self._entries(np.arange(self.r_rid.size))
            busy = self._mask                  # all False between uses
            busy[e_link] = True
            shared = busy[wave.links].any()
            busy[e_link] = False
            if shared:
                return None
        ev = simpy.Event(self.env)
        res = _Reservation(self._next_res, wave.links, self.env.now, int(count), wave, ev)
        self._next_res += 1
        self._reservations[res.id] = res
        self._reserved[wave.links] = res.id
        self.stats["ff_waves"] += res.count
        self._at(res.count * wave.duration_s, lambda _e: self._end_reservation(res))
        return ev

    def _wave(self, src, dst, size):
        """The memoised solo behaviour of one wave (None if it has local/zero-byte flows)."""
        rids = self._route_ids(src, dst)
        cap = self.topology.capacity_bps
        key = (id(cap), rids.tobytes(), size.tobytes())
        hit = self._wave_memo.get(key)
        if hit is not None and hit[0] is cap:
            return hit[1]
        ptr, links, coef, lat, _ = self.router.table()
        lens = ptr[rids + 1] - ptr[rids]
        if not size.size or (size <= 0).any() or (lens <= 0).any():
            wave = None
        else:
            order = np.lexsort((size, rids))
            r_s, s_s = rids[order], size[order]
            new = np.ones(order.size, dtype=bool)
            new[1:] = (r_s[1:] != r_s[:-1]) | (s_s[1:] != s_s[:-1])
            first = np.flatnonzero(new)
            wave = _Wave()
            wave.rid, wave.size = r_s[first], s_s[first]
            wave.w = np.diff(np.append(first, order.size)).astype(np.float64)
            wave.lat = lat[wave.rid]
            rl = ptr[wave.rid + 1] - ptr[wave.rid]
            e_row, idx = route_entries(ptr, wave.rid)
            e_link, e_coef = links[idx], coef[idx]
            indptr = np.concatenate(([0], np.cumsum(rl)))
            rate, rounds = maxmin_rates(indptr, e_link, cap, e_coef, wave.w, return_rounds=True)
            self.stats["solves"] += 1
            self.stats["rounds"] += rounds
            wave.rate = rate / 8.0
            with np.errstate(divide="ignore"):
                t = np.where(wave.rate > 0, wave.size / wave.rate, np.inf)
            wave.transfer_s = float(t.min())
            # the plain path's completion test after one epoch of transfer_s
            left = wave.size - wave.rate * wave.transfer_s
            wave.single_epoch = bool(np.isfinite(wave.transfer_s)
                                     and (left <= _DONE_REL * wave.size).all())
            wave.duration_s = wave.transfer_s + float(wave.lat.max())
            wave.link_bytes = LinkBytes.of(e_link, (wave.size * wave.w)[e_row] * e_coef,
                                            self.topology.n_links)
            wave.links = wave.link_bytes.links
            wave.bytes = float(size.sum())
            wave.n_flows = int(size.size)
        if len(self._wave_memo) >= _MEMO_ENTRIES:
            self._wave_memo.pop(next(iter(self._wave_memo)))
        self._wave_memo[key] = (cap, wave)
        return wave

    def _release(self, res: _Reservation) -> None:
        self._reservations.pop(res.id, None)
        mine = self._reserved[res.links] == res.id
        self._reserved[res.links[mine]] = -1

    def _book(self, res: _Reservation, waves: int) -> None:
        w = res.wave
        if waves > 0:
            lb = w.link_bytes
            self.account(LinkBytes(lb.links, lb.bytes * waves), w.bytes * waves)
            self.stats["flows"] += w.n_flows * waves

    def _end_reservation(self, res: _Reservation) -> None:
        if not res.live:
            return
        res.live = False
        self._release(res)
        self._book(res, res.count)
        res.event.succeed(res.count)

    def _break_reservations(self, rids: np.ndarray) -> None:
        """New flows on reserved links: turn those reservations into ordinary rows now."""
        ptr, links, _, _, _ = self.router.table()
        _, idx = route_entries(ptr, rids)
        hit = np.unique(self._reserved[links[idx]])
        for r in hit[hit >= 0].tolist():
            res = self._reservations[r]
            if isinstance(res, _SoloReservation):
                self._materialise_solo(res)
            else:
                self._materialise(res)

    def _materialise(self, res: _Reservation) -> None:
        now, w = self.env.now, res.wave
        self._release(res)
        k = min(int((now - res.t0) // w.duration_s), res.count)
        while k > 0 and res.t0 + k * w.duration_s > now:
            k -= 1                                     # float guard on the wave boundary
        while k < res.count and res.t0 + (k + 1) * w.duration_s <= now:
            k += 1
        if k >= res.count:
            return                                     # its end fires at this instant
        res.live = False
        self.stats["ff_breaks"] += 1
        self._book(res, k)
        offset = now - (res.t0 + k * w.duration_s)
        if offset >= w.transfer_s:                     # only the path latency is left
            self._book(res, 1)
            self._at(res.t0 + (k + 1) * w.duration_s - now,
                     lambda _e: res.event.succeed(k + 1))
            return
        # the wave in flight continues as ordinary rows with the bytes it has left
        n_rows = w.rid.size
        grp = _Group(simpy.Event(self.env), n_rows)
        grp.bytes = w.bytes
        self.bytes_offered += w.bytes
        self.stats["flows"] += w.n_flows
        grp.row_finish = np.zeros(n_rows)
        grp.inverse = (np.arange(n_rows), np.arange(n_rows))
        grp.rows_left = n_rows
        grp.event.callbacks.append(lambda _e: res.event.succeed(k + 1))
        gid = self._next_gid
        self._next_gid += 1
        self._groups[gid] = grp
        self._advance()
        rem = np.maximum(w.size - w.rate * offset, 0.0)
        self.r_rid = np.concatenate([self.r_rid, w.rid])
        self.r_w = np.concatenate([self.r_w, w.w])
        self.r_rem = np.concatenate([self.r_rem, rem])
        self.r_size = np.concatenate([self.r_size, w.size])
        self.r_rate = np.concatenate([self.r_rate, w.rate])
        self.r_grp = np.concatenate([self.r_grp, np.full(n_rows, gid, dtype=np.int64)])
        self.r_gidx = np.concatenate([self.r_gidx, np.arange(n_rows, dtype=np.int64)])
        self.r_lat = np.concatenate([self.r_lat, w.lat])
        self.stats["rows"] += n_rows
        self._touch(w.rid)

    # -- solo replay (sim.fabric.solo) --------------------------------------------------
    def _replay(self, grp: _Group, src, dst, size, rid, w, row_size) -> bool:
        """Start the batch as a replay of its solo run if it ran before and its links are
        quiet now; False leaves it to the ordinary path."""
        key = (id(self.topology.capacity_bps), rid.tobytes(), w.tobytes(), row_size.tobytes())
        seen = self._solo_seen.get(key, 0)
        self._solo_seen[key] = seen + 1
        if len(self._solo_seen) > 64 * _SOLO_ENTRIES:
            self._solo_seen.pop(next(iter(self._solo_seen)))
        run = self._solo.get(key, False)
        if run is None or (run is False and seen == 0):
            return False          # not replayable, or first sighting: simulate in place
        ptr, links, _, _, _ = self.router.table()
        mine = links[route_entries(ptr, rid)[1]]
        if (self._reserved[mine] >= 0).any():
            return False
        if self.r_rid.size:
            _, e_link, _ = self._entries(np.arange(self.r_rid.size))
            busy = self._mask                  # all False between uses
            busy[e_link] = True
            shared = busy[mine].any()
            busy[e_link] = False
            if shared:
                return False
        if run is False:
            run = self._solo_run(src, dst, size)
            if len(self._solo) >= _SOLO_ENTRIES:
                self._solo.pop(next(iter(self._solo)))
            self._solo[key] = run
            if run is None:
                return False
        res = _SoloReservation(self._next_res, run, self.env.now, grp)
        self._next_res += 1
        self._reservations[res.id] = res
        self._reserved[run.links] = res.id
        self.stats["solo_replays"] += 1
        self._at(run.end_s, lambda _e: self._end_solo(res))
        return True

    def _solo_run(self, src, dst, size) -> SoloRun | None:
        """Simulate the batch alone on a scratch fabric (same routes, same solver settings)
        and keep its trajectory; None if it cannot finish alone or is too long to keep."""
        env = simpy.Environment()
        # the same deterministic routes (shared), the same solver settings, no replays
        scratch = self.scratch_copy(env, replace(self.speed, solo_replay=False))
        scratch._record = []
        done: list = []
        ev = scratch.start_flows(src, dst, size)
        ev.callbacks.append(lambda e: done.append(True))
        env.run()
        if not done or not np.isfinite(scratch._finish_rel).all():
            return None
        rec = scratch._record
        row = np.concatenate([r for _, r, _ in rec]) if rec else np.zeros(0, np.int64)
        if row.size > _SOLO_MAX_SEGMENTS:
            return None
        finish = scratch._finish_rel
        seg = segments(rec, finish, 0.0)
        ptr, links, coef, lat, _ = self.router.table()
        rid = scratch._solo_rid
        e_row, idx = route_entries(ptr, rid)
        lb = LinkBytes.of(links[idx], (scratch._solo_size * scratch._solo_w)[e_row] * coef[idx],
                          self.topology.n_links)
        for k in ("solves", "rounds", "rows_solved", "epochs", "memo_hits"):
            self.stats[k] += scratch.stats.get(k, 0)
        return SoloRun(rid, scratch._solo_w, scratch._solo_size, lat[rid], finish, *seg,
                       lb.links, lb, dict(scratch.stats))

    def _end_solo(self, res: _SoloReservation) -> None:
        if not res.live:
            return
        res.live = False
        self._release(res)
        run, grp = res.run, res.grp
        self._link_bytes_done[run.link_bytes.links] += run.link_bytes.bytes
        mi, inverse = grp.inverse
        grp.finish[mi] = (res.t0 + run.finish_s + run.lat)[inverse]
        self._deliver_later(grp, float(grp.finish.max()) - self.env.now)

    def _materialise_solo(self, res: _SoloReservation) -> None:
        """Other traffic arrives on the batch's links: from now on its unfinished rows are
        ordinary rows, with the bytes and rates the solo run has for this instant."""
        now, run, grp = self.env.now, res.run, res.grp
        self._release(res)
        res.live = False
        self.stats["solo_breaks"] += 1
        t = now - res.t0
        done = run.finish_s <= t
        ptr, links, coef, _, _ = self.router.table()
        if done.any():
            e_row, idx = route_entries(ptr, run.rid[done])
            sent = (run.size * run.w)[done][e_row] * coef[idx]
            np.add.at(self._link_bytes_done, links[idx], sent)
        grp.row_finish = np.where(done, res.t0 + run.finish_s + run.lat, 0.0)
        left = np.flatnonzero(~done)
        grp.rows_left = int(left.size)
        if not left.size:                       # it ends at this very instant
            mi, inverse = grp.inverse
            grp.finish[mi] = grp.row_finish[inverse]
            self._deliver_later(grp, float(grp.finish.max()) - now)
            return
        gid = self._next_gid
        self._next_gid += 1
        self._groups[gid] = grp
        self._advance()
        rem = np.maximum(run.size - run.sent_at(t), 0.0)[left]
        self.r_rid = np.concatenate([self.r_rid, run.rid[left]])
        self.r_w = np.concatenate([self.r_w, run.w[left]])
        self.r_rem = np.concatenate([self.r_rem, rem])
        self.r_size = np.concatenate([self.r_size, run.size[left]])
        self.r_rate = np.concatenate([self.r_rate, run.rate_at(t)[left]])
        self.r_grp = np.concatenate([self.r_grp, np.full(left.size, gid, dtype=np.int64)])
        self.r_gidx = np.concatenate([self.r_gidx, left])
        self.r_lat = np.concatenate([self.r_lat, run.lat[left]])
        self.stats["rows"] += int(left.size)
        self._touch(run.rid[left])

    @property
    def link_bytes(self) -> np.ndarray:
        out = self._settled().copy()
        if self.r_rid.size:
            rem = np.maximum(self.r_rem - self.r_rate * (self.env.now - self._t_last), 0.0)
            sent = (self.r_size - rem) * self.r_w
            e_row, e_link, e_coef = self._entries(np.arange(self.r_rid.size))
            out += np.bincount(e_link, weights=sent[e_row] * e_coef, minlength=out.size)
        return out

    @property
    def active_flows(self) -> int:
        return int(self.r_w.sum())

    # -- link failures: the public hook of failure injection ---------------------------------
    @property
    def down_links(self) -> np.ndarray:
        """Directed links down now (bool per link; a copy)."""
        return self._down.copy()

    @property
    def stalled_flows(self) -> int:
        """Active flows that have no path right now."""
        stalled = self.router.stalled_rids if isinstance(self.router, MaskedRouter) else ()
        if not stalled or not self.r_rid.size:
            return 0
        m = np.isin(self.r_rid, np.fromiter(stalled, dtype=np.int64))
        return int(self.r_w[m].sum())

    def set_down_links(self, down) -> None:
        """From now on the links where ``down`` (bool per directed link) is True are down
        (capacity 0, routed around) and the others up. On a change, routes are recomputed
        without the down links, every active flow keeps its remaining bytes and moves to its
        new route (the bytes it had sent are credited to the links of its old route), and the
        rates are re-solved. Needs a fabric built with ``failures=True``."""
        if self.capabilities.fixed_capacities:
            raise CposimError("this flow fabric was built without failures=True: its link "
                              "capacities are fixed", field="failures")
        down = np.asarray(down, dtype=bool)
        if down.shape != self._down.shape:
            raise CposimError(f"down links: one flag per directed link "
                              f"({self._down.size}), got shape {down.shape}",
                              field="link_ids")
        if (down != self._down).any():
            self._down = down.copy()
            self._reroute()

    def _pairs_of(self, rids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(src GPU, dst GPU) of route ids of the current router."""
        n = self.intact_topology.n_gpus
        rid_map = self.router._rid
        pair_of = np.full(self.router.table()[3].size, -1, dtype=np.int64)
        if rid_map:
            k = np.fromiter(rid_map.keys(), dtype=np.int64, count=len(rid_map))
            v = np.fromiter(rid_map.values(), dtype=np.int64, count=len(rid_map))
            pair_of[v] = k
        p = pair_of[rids]
        return p // n, p % n

    def _reroute(self) -> None:
        self._advance()
        self.stats["reroutes"] += 1
        if self.r_rid.size:
            # credit what was sent so far to the old routes; from here on only the rest counts
            e_row, e_link, e_coef = self._entries(np.arange(self.r_rid.size))
            sent = np.maximum(self.r_size - self.r_rem, 0.0) * self.r_w
            self._link_bytes_done += np.bincount(e_link, weights=sent[e_row] * e_coef,
                                                 minlength=self._link_bytes_done.size)
            self.r_size = self.r_rem.copy()
            src, dst = self._pairs_of(self.r_rid)
        intact = self.intact_topology
        self.router = MaskedRouter(intact, self._down, routing=self.routing, seed=self.seed)
        cap = np.where(self._down, 0.0, intact.capacity_bps)
        self.topology = replace(intact, capacity_bps=cap)
        if self.r_rid.size:
            self.r_rid = self.router.route_ids(src, dst)
            self.r_lat = self.router.table()[3][self.r_rid]
            self.r_rate = np.zeros(self.r_rid.size)
        self._version += 1                 # the pending completion time is stale
        self._touch_all()

    # -- internals ----------------------------------------------------------------------
    def _entries(self, rows: np.ndarray):
        """(row, link, coef) incidence entries of the given active rows, row-major."""
        ptr, links, coef, _, _ = self.router.table()
        seg, idx = route_entries(ptr, self.r_rid[rows])
        return rows[seg], links[idx], coef[idx]

    def _touch(self, rids: np.ndarray, completion: bool = False) -> None:
        if not completion:
            self._full_pending = True
        ptr, links, _, _, _ = self.router.table()
        touched = links[route_entries(ptr, rids)[1]]
        self._touched[touched] = True
        self._touched_idx.append(touched)
        if not self._solve_pending:
            self._solve_pending = True
            self._at(0.0, self._on_solve, PRIORITY_LOW)

    def _advance(self) -> None:
        dt = self.env.now - self._t_last
        if dt > 0 and self.r_rid.size:
            self.r_rem = self.r_rem - self.r_rate * dt
        self._t_last = self.env.now

    def _on_solve(self, _ev) -> None:
        self._solve_pending = False
        self._advance()
        n_rows = self.r_rid.size
        floor, self._floor = self._floor, np.inf
        full, self._full_pending = self._full_pending, False
        if n_rows and self.speed.incremental and not full and np.isfinite(floor):
            self._solve_above(floor)          # clears the touched links itself
        elif n_rows:
            e_row, e_link, e_coef = self._entries(np.arange(n_rows))
            lens = np.bincount(e_row, minlength=n_rows)
            starts = np.cumsum(lens) - lens
            link_in = self._touched            # grown in place, cleared below
            row_in = np.zeros(n_rows, dtype=bool)
            for _ in range(_BFS_LIMIT):
                hit = np.logical_or.reduceat(link_in[e_link], starts)
                if (hit == row_in).all():
                    break
                row_in = hit
                link_in[e_link[np.repeat(row_in, lens)]] = True
            else:
                row_in[:] = True
            rows = np.flatnonzero(row_in)
            if rows.size:
                rate = self._memo_solve(rows, lambda: self._solve(rows, row_in, lens, e_link,
                                                                  e_coef))
                self.r_rate[rows] = rate
                if self._record is not None:
                    self._record.append((self.env.now, self.r_gidx[rows], rate.copy()))
            self._clear_touched(e_link[np.repeat(row_in, lens)])
        else:
            self._clear_touched(np.zeros(0, np.int64))
        self._schedule_next()

    def _clear_touched(self, grown: np.ndarray) -> None:
        """Reset the touched-link mask where it was set (the links touched since the last
        solve and those the component search added), not over every link of the fabric."""
        if self._touched_all:
            self._touched[:] = False
            self._touched_all = False
        else:
            for idx in self._touched_idx:
                self._touched[idx] = False
            self._touched[grown] = False
        self._touched_idx.clear()

    def _touch_all(self) -> None:
        """Every link changed (e.g. a failure re-routed the flows): re-solve everything."""
        self._full_pending = True
        self._touched[:] = True
        self._touched_all = True
        if not self._solve_pending:
            self._solve_pending = True
            self._at(0.0, self._on_solve, PRIORITY_LOW)

    def _solve_above(self, floor: float) -> None:
        """Re-solve after completions only: max-min rates below the slowest completed row's
        rate cannot change. In progressive filling no link on a removed flow's path
        saturates below that flow's rate (it would have frozen it there), so every
        saturation below it — and every rate frozen by one — happens as before. The rows at
        or above ``floor`` (with a margin for float noise) are solved again on what the
        others leave of each link; the rest keep their rates. Exact; a completion in an
        all-to-all, whose fastest flows finish first, re-solves a handful of rows instead
        of the whole component."""
        cand = np.flatnonzero(self.r_rate >= floor * (1.0 - 1e-9))
        if not cand.size:
            self._clear_touched(np.zeros(0, np.int64))
            return
        # of those, only the ones linked to the completed rows' links through other such
        # rows can change: a change spreads from link to link through rows whose rates move
        c_row, c_link, _ = self._entries(cand)
        lens = np.bincount(c_row, minlength=self.r_rid.size)[cand]
        starts = np.cumsum(lens) - lens
        link_in = self._touched                 # the completed rows' links; cleared after
        hit = np.zeros(cand.size, dtype=bool)
        for _ in range(_BFS_LIMIT):
            now_hit = np.logical_or.reduceat(link_in[c_link], starts)
            if (now_hit == hit).all():
                break
            hit = now_hit
            link_in[c_link[np.repeat(hit, lens)]] = True
        else:
            hit[:] = True
        self._clear_touched(c_link[np.repeat(hit, lens)])
        rows = cand[hit]
        if not rows.size:
            return
        fixed = np.ones(self.r_rid.size, dtype=bool)
        fixed[rows] = False
        cap = self.topology.capacity_bps
        keep = np.flatnonzero(fixed)
        if keep.size:
            f_row, f_link, f_coef = self._entries(keep)
            used = np.bincount(f_link, weights=(self.r_rate * self.r_w)[f_row] * f_coef * 8.0,
                               minlength=cap.size)
            cap = np.maximum(cap - used, 0.0)
        e_row, e_link, e_coef = self._entries(rows)
        lens = np.bincount(e_row, minlength=self.r_rid.size)[rows]
        indptr = np.concatenate(([0], np.cumsum(lens)))
        rate, rounds = maxmin_rates(indptr, e_link, cap, e_coef, self.r_w[rows],
                                    return_rounds=True)
        self.stats["solves"] += 1
        self.stats["rounds"] += rounds
        self.stats["rows_solved"] += int(rows.size)
        self.stats["incremental_solves"] = self.stats.get("incremental_solves", 0) + 1
        self.r_rate[rows] = rate / 8.0
        if self._record is not None:
            self._record.append((self.env.now, self.r_gidx[rows], rate / 8.0))

    def _solve(self, rows, row_in, lens, e_link, e_coef) -> np.ndarray:
        sel = np.repeat(row_in, lens)
        indptr = np.concatenate(([0], np.cumsum(lens[rows])))
        rate, rounds = maxmin_rates(indptr, e_link[sel], self.topology.capacity_bps,
                                    e_coef[sel], self.r_w[rows], return_rounds=True)
        self.stats["solves"] += 1
        self.stats["rounds"] += rounds
        self.stats["rows_solved"] += int(rows.size)
        return rate / 8.0                        # bits/s -> bytes/s

    def _memo_solve(self, rows: np.ndarray, solve) -> np.ndarray:
        """Rates of a component, memoised by its flow-set signature (route ids and weights
        of its rows, in order, and the capacity array): the same component recurs at every
        step of a collective and every layer of an iteration. Exact: a hit returns the very
        array the solver computed for identical input."""
        if not self.speed.memoise or rows.size > _MEMO_MAX_ROWS:
            return solve()
        cap = self.topology.capacity_bps
        key = (id(cap), self.r_rid[rows].tobytes(), self.r_w[rows].tobytes())
        hit = self._solve_memo.get(key)
        if hit is not None and hit[0] is cap:
            self.stats["memo_hits"] += 1
            return hit[1]
        rate = solve()
        if len(self._solve_memo) >= _MEMO_ENTRIES:
            self._solve_memo.pop(next(iter(self._solve_memo)))
        self._solve_memo[key] = (cap, rate)
        return rate

    def _schedule_next(self) -> None:
        self._version += 1
        if not self.r_rid.size:
            return
        with np.errstate(divide="ignore"):
            t = np.where(self.r_rate > 0, self.r_rem / self.r_rate, np.inf)
        delay = max(float(t.min()), 0.0)
        if not np.isfinite(delay):
            return
        version = self._version
        self._at(delay, lambda ev: self._on_complete(version))

    def _on_complete(self, version: int) -> None:
        if version != self._version:
            return                       # superseded by a re-solve
        self._advance()
        self.stats["epochs"] += 1
        # Done when the bytes left are negligible, or when the time left is below the
        # clock's resolution at `now` (else now + delay == now and the clock never moves).
        with np.errstate(divide="ignore", invalid="ignore"):
            t_left = np.where(self.r_rate > 0, self.r_rem / self.r_rate, np.inf)
        done = (self.r_rem <= _DONE_REL * self.r_size) | (
            t_left <= 4 * np.spacing(max(self.env.now, np.finfo(float).tiny)))
        if not done.any():
            self._schedule_next()
            return
        rows = np.flatnonzero(done)
        now = self.env.now
        e_row, e_link, e_coef = self._entries(rows)
        sent = (self.r_size * self.r_w)[e_row] * e_coef
        # in place: a dense bincount over 10^6 links per completion (or sorting the entries)
        # was most of a 131k-GPU run
        np.add.at(self._link_bytes_done, e_link, sent)
        grp_ids = self.r_grp[rows]
        order = np.argsort(grp_ids, kind="stable")
        grp_ids = grp_ids[order]
        starts = np.flatnonzero(np.r_[True, grp_ids[1:] != grp_ids[:-1]])
        ends = np.r_[starts[1:], grp_ids.size]
        gidx = self.r_gidx[rows][order]
        fin = now + self.r_lat[rows][order]
        for g, a, b in zip(grp_ids[starts].tolist(), starts.tolist(), ends.tolist()):
            grp = self._groups[g]
            grp.row_finish[gidx[a:b]] = fin[a:b]
            grp.rows_left -= b - a
            if grp.rows_left == 0:
                del self._groups[g]
                mi, inverse = grp.inverse
                grp.finish[mi] = grp.row_finish[inverse]
                self._deliver_later(grp, float(grp.finish.max()) - now)
        self._floor = min(self._floor, float(self.r_rate[rows].min()))
        if self._record is not None:
            self._finish_rel[self.r_gidx[rows]] = now
        keep = ~done
        finished_rids = self.r_rid[rows]
        for name in ("r_rid", "r_w", "r_rem", "r_size", "r_rate", "r_grp", "r_gidx", "r_lat"):
            setattr(self, name, getattr(self, name)[keep])
        self._touch(finished_rids, completion=True)   # the freed capacity goes to the rest
        self._version += 1               # the pending completion time is stale until re-solve

    def _deliver_later(self, grp: _Group, delay: float) -> None:
        def deliver(_ev):
            self.bytes_delivered += grp.bytes
            grp.event.succeed(grp.finish)
        self._at(max(delay, 0.0), deliver)
