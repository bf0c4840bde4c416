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
"""

from __future__ import annotations

import logging

import numpy as np
import simpy

from sim.fabric.base import PRIORITY_LOW, FabricBase
from sim.fabric.maxmin import maxmin_rates

log = logging.getLogger(__name__)

_DONE_REL = 1e-10     # a row with this fraction of its bytes left is complete (float noise)
_BFS_LIMIT = 6        # component search rounds before we just solve everything active


class _Group:
    __slots__ = ("event", "finish", "row_finish", "inverse", "rows_left", "bytes")

    def __init__(self, event, n_flows):
        self.event = event
        self.finish = np.zeros(n_flows)
        self.row_finish = None
        self.inverse = None
        self.rows_left = 0
        self.bytes = 0.0


class FlowFabric(FabricBase):
    fidelity = "flow"

    def __init__(self, env: simpy.Environment, topology, *, routing: str = "ecmp-hash",
                 seed: int = 0) -> None:
        super().__init__(env, topology, routing=routing, seed=seed)
        z = np.zeros(0)
        zi = np.zeros(0, dtype=np.int64)
        self.r_rid, self.r_w, self.r_rem, self.r_size, self.r_rate = zi, z, z, z, z
        self.r_grp, self.r_gidx, self.r_lat = zi, zi, z
        self._t_last = env.now
        self._touched = np.zeros(topology.n_links, dtype=bool)
        self._solve_pending = False
        self._version = 0
        self._groups: dict[int, _Group] = {}
        self._next_gid = 0
        self.stats.update({"rows": 0, "rounds": 0, "rows_solved": 0, "max_active_rows": 0,
                           "epochs": 0})

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
        rids = self.router.route_ids(src, dst)
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
        gid = self._next_gid
        self._next_gid += 1
        grp.row_finish = np.zeros(n_rows)
        grp.inverse = (mi, inverse)
        grp.rows_left = n_rows
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

    @property
    def link_bytes(self) -> np.ndarray:
        out = self._link_bytes_done.copy()
        if self.r_rid.size:
            rem = np.maximum(self.r_rem - self.r_rate * (self.env.now - self._t_last), 0.0)
            sent = (self.r_size - rem) * self.r_w
            e_row, e_link, e_coef = self._entries(np.arange(self.r_rid.size))
            out += np.bincount(e_link, weights=sent[e_row] * e_coef, minlength=out.size)
        return out

    @property
    def active_flows(self) -> int:
        return int(self.r_w.sum())

    # -- internals ----------------------------------------------------------------------
    def _entries(self, rows: np.ndarray):
        """(row, link, coef) incidence entries of the given active rows, row-major."""
        ptr, links, coef, _, _ = self.router.table()
        rid = self.r_rid[rows]
        lens = ptr[rid + 1] - ptr[rid]
        e_row = np.repeat(rows, lens)
        idx = np.repeat(ptr[rid] - (np.cumsum(lens) - lens), lens) + np.arange(lens.sum())
        return e_row, links[idx], coef[idx]

    def _touch(self, rids: np.ndarray) -> None:
        ptr, links, _, _, _ = self.router.table()
        lens = ptr[rids + 1] - ptr[rids]
        idx = np.repeat(ptr[rids] - (np.cumsum(lens) - lens), lens) + np.arange(lens.sum())
        self._touched[links[idx]] = True
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
        if n_rows:
            e_row, e_link, e_coef = self._entries(np.arange(n_rows))
            lens = np.bincount(e_row, minlength=n_rows)
            starts = np.cumsum(lens) - lens
            link_in = self._touched.copy()
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
                sel = np.repeat(row_in, lens)
                indptr = np.concatenate(([0], np.cumsum(lens[rows])))
                rate, rounds = maxmin_rates(indptr, e_link[sel], self.topology.capacity_bps,
                                            e_coef[sel], self.r_w[rows], return_rounds=True)
                self.r_rate[rows] = rate / 8.0          # bits/s -> bytes/s
                self.stats["solves"] += 1
                self.stats["rounds"] += rounds
                self.stats["rows_solved"] += int(rows.size)
        self._touched[:] = False
        self._schedule_next()

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
        self._link_bytes_done += np.bincount(e_link, weights=sent,
                                             minlength=self._link_bytes_done.size)
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
        keep = ~done
        finished_rids = self.r_rid[rows]
        for name in ("r_rid", "r_w", "r_rem", "r_size", "r_rate", "r_grp", "r_gidx", "r_lat"):
            setattr(self, name, getattr(self, name)[keep])
        self._touch(finished_rids)       # the freed capacity goes to the rest of the component
        self._version += 1               # the pending completion time is stale until re-solve

    def _deliver_later(self, grp: _Group, delay: float) -> None:
        def deliver(_ev):
            self.bytes_delivered += grp.bytes
            grp.event.succeed(grp.finish)
        self._at(max(delay, 0.0), deliver)
