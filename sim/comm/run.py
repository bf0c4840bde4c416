"""Run collectives and point-to-point transfers on a fabric.

``flow`` / ``packet`` fabrics: a collective is a SimPy process that starts the flows of
one wave (one step of every chunk in flight) and waits until they are delivered before the
next wave. Communicators with an identical schedule run in lockstep and their flows start
in one ``start_flows`` call per wave (the fabric then solves them together); this is exact
when their steps finish together, as on a symmetric placement. Communicators with different
schedules run as separate processes that only share the fabric.

``analytical`` fabrics: no flows at all — one ``env.timeout`` of the closed form, with α the
largest path latency and B the smallest path bottleneck among the pairs the schedule uses
(per level for hierarchical algorithms). Congestion-unaware: concurrent communicators do
not slow each other.

Energy and link bytes are attributed to the collective's own flows through the fabric's
routes (bytes x links x pJ/bit), so concurrent traffic is not counted in.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import simpy

from sim.comm.algorithms import build_schedule, normalise_algorithm, registry
from sim.comm.algorithms.registry import SPANS_DOMAINS, auto_choice, check
from sim.comm.closed_form import closed_form, schedule_time
from sim.comm.communicator import Communicator, domain_layout
from sim.comm.ops import busbw_factor, normalise_op
from sim.comm.periodic import PeriodicSchedule, periodic_schedule
from sim.comm.schedule import Schedule, Waves, to_waves
from sim.errors import CposimError
from sim.fabric.base import LinkBytes
from sim.fabric.pairs import pair_routes

log = logging.getLogger(__name__)


@dataclass
class CollectiveResult:
    op: str
    algorithm: str
    fidelity: str
    n_ranks: int
    n_comms: int
    size_bytes: float
    chunks: int
    start_s: float
    time_s: float
    algbw_Bps: float
    busbw_Bps: float
    bytes_on_wire: float            # bytes injected by all endpoints of all communicators
    link_bytes: float               # bytes x links crossed (what the links carried)
    energy_j: float
    energy_by_tech: dict = field(default_factory=dict)
    link_bytes_by_tech: dict = field(default_factory=dict)
    per_rank_sent_bytes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    per_rank_recv_bytes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    n_steps: int = 0
    n_waves: int = 0
    phases: tuple = ()

    @property
    def end_s(self) -> float:
        return self.start_s + self.time_s

    def to_dict(self, per_rank: bool = False) -> dict:
        d = asdict(self)
        if per_rank:
            d["per_rank_sent_bytes"] = self.per_rank_sent_bytes.tolist()
            d["per_rank_recv_bytes"] = self.per_rank_recv_bytes.tolist()
        else:
            del d["per_rank_sent_bytes"], d["per_rank_recv_bytes"]
        d["phases"] = list(self.phases)
        return d


@dataclass
class _Plan:
    comm: Communicator
    schedule: Schedule | PeriodicSchedule
    key: tuple
    chunks: int

    @property
    def waves(self) -> Waves:
        return to_waves(self.schedule, self.chunks)


@dataclass
class _Group:
    """Communicators that run one schedule (same plan key): timed, started and accounted
    together as an ``(G, n)`` matrix of endpoints."""

    key: tuple
    schedule: Schedule | PeriodicSchedule
    comms: list
    chunks: int
    _eps: np.ndarray | None = None

    @property
    def eps(self) -> np.ndarray:
        if self._eps is None:
            self._eps = np.vstack([c.endpoints for c in self.comms])
        return self._eps

    @property
    def waves(self) -> Waves:
        return to_waves(self.schedule, self.chunks)

    def plans(self) -> list[_Plan]:
        return [_Plan(c, self.schedule, self.key, self.chunks) for c in self.comms]


# ---------------------------------------------------------------------------------------
def choose_algorithm(op: str, comm: Communicator, scaleup_domain: np.ndarray | None) -> str:
    """``auto`` for one communicator, as the registry declares it: the algorithm picked for
    ``op`` when the group spans several scale-up domains evenly (today hierarchical), where
    it does and one is declared; otherwise the one picked in any situation (today direct
    all-to-all, binomial-tree broadcast / reduce, ring for the rest)."""
    spanning = auto_choice(op, SPANS_DOMAINS, fallback=False)
    if spanning is not None and domain_layout(comm.endpoints, scaleup_domain) is not None:
        return spanning
    return _auto_flat(op)


def _split_matrix(split_bytes, n: int, i: int, n_comms: int):
    if split_bytes is None:
        return None
    m = np.asarray(split_bytes, dtype=float)
    if m.ndim == 1:          # bytes each rank sends to each member (the trace's split_bytes)
        if m.size != n:
            raise CposimError(f"split_bytes lists {m.size} sizes for a group of {n}",
                              field="split_bytes")
        m = np.broadcast_to(m, (n, n))
    elif m.ndim == 3:
        if m.shape[0] != n_comms:
            raise CposimError(f"split_bytes has {m.shape[0]} matrices for {n_comms} "
                              "communicators", field="split_bytes")
        m = m[i]
    return m


_SCHEDULES: dict[tuple, Schedule] = {}
_MEMO_ENTRIES, _MEMO_MAX_ROWS = 256, 1 << 20


def _cached_schedule(op, alg, n, size_bytes, root, layout, split, intra, inter,
                     periodic=False) -> Schedule | PeriodicSchedule:
    """Build a schedule, or reuse it: a training iteration repeats the same collectives many
    times. Pure memoisation (schedules are immutable); only small schedules are kept, and
    the oldest entry goes first. ``layout`` / ``split`` arrive as hashable tuples.
    ``periodic``: the one-step form where the algorithm has one (see :mod:`sim.comm.periodic`)."""
    key = (op, alg, n, size_bytes, root, layout, split, intra, inter)
    if periodic and layout is None and split is None:
        p = _SCHEDULES.get(key + ("periodic",))
        if p is None:
            p = periodic_schedule(op, alg, n, size_bytes, root)
            if p is not None:
                if len(_SCHEDULES) >= _MEMO_ENTRIES:
                    _SCHEDULES.pop(next(iter(_SCHEDULES)))
                _SCHEDULES[key + ("periodic",)] = p
        if p is not None:
            return p
    s = _SCHEDULES.get(key)
    if s is None:
        lay = None if layout is None else np.asarray(layout[1], np.int64).reshape(layout[0])
        spl = None if split is None else np.asarray(split[1], float).reshape(split[0])
        s = build_schedule(op, alg, n, size_bytes, root=root, split_bytes=spl, layout=lay,
                           intra=intra, inter=inter)
        if s.n_rows <= _MEMO_MAX_ROWS:
            if len(_SCHEDULES) >= _MEMO_ENTRIES:
                _SCHEDULES.pop(next(iter(_SCHEDULES)))
            _SCHEDULES[key] = s
    return s


def _plans(fabric, comms, op, size_bytes, algorithm, chunks, split_bytes, root, intra, inter,
           periodic=False) -> list[_Plan]:
    """One plan per communicator, in order (see :func:`_groups`)."""
    groups = _groups(fabric, comms, op, size_bytes, algorithm, chunks, split_bytes, root,
                     intra, inter, periodic)
    plans: list = [None] * len(comms)
    pos = {id(c): i for i, c in enumerate(comms)}
    for g in groups:
        for p in g.plans():
            plans[pos[id(p.comm)]] = p
    return plans


def _groups(fabric, comms, op, size_bytes, algorithm, chunks, split_bytes, root, intra, inter,
            periodic=False) -> list[_Group]:
    """The communicators' schedules, grouped by plan key (groups in order of first
    appearance, communicators in order within a group)."""
    dom = getattr(fabric.topology, "scaleup_domain", None)
    flat, stacked = _flat_rows(comms, dom, fabric.topology.n_gpus)
    groups: dict[tuple, _Group] = {}
    shared: dict[int, _Group] = {}
    uniform_split = split_bytes is None or np.ndim(split_bytes) < 3
    sizes = [c.ranks.size for c in comms]
    for i, (c, is_flat, n) in enumerate(zip(comms, flat.tolist(), sizes)):
        if is_flat and uniform_split:
            # no scale-up structure to exploit and the same inputs for every such
            # communicator: the key and schedule are looked up once per size
            g = shared.get(n)
            if g is not None:
                g.comms.append(c)
                continue
        if is_flat:
            alg = _auto_flat(op) if algorithm == "auto" else algorithm
            layout = None
        else:
            alg = choose_algorithm(op, c, dom) if algorithm == "auto" else algorithm
            layout = domain_layout(c.endpoints, dom) if _composite(alg) else None
        if layout is None and _composite(alg):
            raise CposimError(f"communicator {c.name!r} does not span several scale-up domains "
                              f"with the same number of ranks in each; {alg} needs that",
                              field="algorithm")
        split = _split_matrix(split_bytes, n, i, len(comms))
        key = _plan_key(op, alg, n, size_bytes, root, layout, split, intra, inter)
        g = groups.get(key)
        if g is None:
            g = groups[key] = _Group(key, _cached_schedule(*key, periodic=periodic), [], chunks)
        g.comms.append(c)
        if is_flat and uniform_split:
            shared[n] = g
    out = list(groups.values())
    if len(out) == 1 and len(stacked) == 1:     # the common case: reuse the stacked endpoints
        out[0]._eps = next(iter(stacked.values()))
    return out


def _plan_key(op, alg, n, size_bytes, root, layout, split, intra, inter) -> tuple:
    return (op, alg, n, float(size_bytes), int(root),
            None if layout is None else (layout.shape, tuple(layout.ravel().tolist())),
            None if split is None else (split.shape, tuple(np.ravel(split).tolist())),
            intra, inter)


def _auto_flat(op: str) -> str:
    """:func:`choose_algorithm` for a communicator without a usable domain layout."""
    alg = auto_choice(op)
    if alg is None:
        raise CposimError(f"no registered algorithm is auto's choice for {op}; name one",
                          field="algorithm")
    return alg


def _composite(alg: str) -> bool:
    """Whether ``alg`` runs per level of a domain layout (it needs one)."""
    entry = registry.find(alg)
    return entry is not None and entry.composite


def _flat_rows(comms, dom, n_gpus: int) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Which communicators certainly have no domain layout (see :func:`domain_layout`):
    all ranks in one domain, or every rank in its own — decided for all at once, since a
    131k-GPU iteration launches collectives over 16k communicators. Also the endpoints
    stacked per communicator size (checked against the topology's ``n_gpus``)."""
    by_size: dict[int, list[int]] = {}
    for i, c in enumerate(comms):
        by_size.setdefault(c.ranks.size, []).append(i)
    # concatenate + reshape: vstack makes every one of 10^4 small rows 2-D first
    stacked = {n: np.concatenate([comms[i].endpoints for i in idx]).reshape(len(idx), n)
               for n, idx in by_size.items()}
    for eps in stacked.values():
        if eps.max() >= n_gpus:
            c = next(c for c in comms if c.endpoints.max() >= n_gpus)
            raise CposimError(f"communicator {c.name!r} uses GPU {int(c.endpoints.max())} but "
                              f"the topology has {n_gpus}", field="endpoints")
    flat = np.zeros(len(comms), dtype=bool)
    if dom is None:
        flat[:] = True
        return flat, stacked
    dom = np.asarray(dom)
    for n, idx in by_size.items():
        if n < 4:
            flat[idx] = True
            continue
        d = np.sort(dom[stacked[n]], axis=1)
        same = d[:, 0] == d[:, -1]
        distinct = (np.diff(d, axis=1) != 0).all(axis=1)
        flat[idx] = same | distinct
    return flat, stacked


def _route_info(fabric, src, dst):
    """Per-flow (latency_s, bottleneck_bps) of the pairs ``src[i] -> dst[i]``."""
    if getattr(fabric, "router", None) is not None:
        r = pair_routes(fabric, src, dst)
        return r.latency_s, r.bottleneck_bps
    lat = np.array([fabric.path_latency_s(int(a), int(b)) for a, b in zip(src, dst)])
    bn = np.array([fabric.path_bottleneck_bps(int(a), int(b)) for a, b in zip(src, dst)])
    return lat, bn


def _tech_table(topo):
    """(technology names, per-link technology code, pJ/bit per link), once per topology:
    recomputing them per collective dominated large runs (a 16k-GPU fabric has ~10^5 links)."""
    cache = topo.__dict__.get("_cposim_tech_table")
    if cache is None or cache[0] is not topo.tech:
        codes, names = _factorize(topo.tech)
        cache = (topo.tech, names, codes, np.asarray(topo.energy_pj_per_bit, float))
        topo.__dict__["_cposim_tech_table"] = cache
    return cache[1:]


def _factorize(values) -> tuple[np.ndarray, np.ndarray]:
    """(codes, sorted distinct names) of an array of strings, hash-based: np.unique sorts the
    10^6 strings of a 131k-GPU fabric. pandas' factorize where a run has loaded pandas anyway
    (studies, reports); a dict otherwise, so that `cposim collective` need not import it
    (0.4 s). Both give the same codes."""
    if "pandas" in sys.modules:
        codes, names = sys.modules["pandas"].factorize(np.asarray(values, dtype=object),
                                                       sort=True)
        return codes.astype(np.int64), np.asarray(names, dtype=str)
    seen: dict = {}
    first = np.fromiter((seen.setdefault(v, len(seen)) for v in np.asarray(values).tolist()),
                        dtype=np.int64, count=len(values))
    names = sorted(seen)
    rank = np.empty(len(names), np.int64)
    rank[[seen[v] for v in names]] = np.arange(len(names))
    return rank[first], np.asarray(names, dtype=str)


def _link_accounting(fabric, src, dst, nbytes):
    """(:class:`LinkBytes` of the flows, link bytes by tech, energy by tech), from their
    routes. Sparse: only the links the flows cross are touched."""
    topo = fabric.topology
    router = getattr(fabric, "router", None)
    if not src.size:
        lb = LinkBytes(np.zeros(0, np.int64), np.zeros(0))
    elif router is not None:
        lb = pair_routes(fabric, src, dst).link_bytes(nbytes)
    else:
        per_link = np.zeros(len(topo.capacity_bps))
        for a, b, x in zip(src.tolist(), dst.tolist(), nbytes.tolist()):
            per_link[fabric.path_links(a, b)] += x
        lb = LinkBytes.from_dense(per_link)
    names, codes, pj = _tech_table(topo)
    energy = lb.bytes * 8.0 * pj[lb.links] * 1e-12
    code = codes[lb.links]
    b_sum = np.bincount(code, weights=lb.bytes, minlength=names.size)
    e_sum = np.bincount(code, weights=energy, minlength=names.size)
    by_bytes, by_energy = {}, {}
    for i, t in enumerate(names.tolist()):
        if b_sum[i] > 0:
            by_bytes[t] = float(b_sum[i])
            by_energy[t] = float(e_sum[i])
    return lb, by_bytes, by_energy


def _all_flows(groups: list[_Group]):
    """Bytes between every (src, dst) GPU pair of every communicator (chunking does not
    change them)."""
    src, dst, nb = [], [], []
    for g in groups:
        s = g.schedule
        pairs, b, _ = s.pair_bytes()
        src.append(g.eps[:, pairs // s.n].ravel())
        dst.append(g.eps[:, pairs % s.n].ravel())
        nb.append(np.tile(b, len(g.comms)))
    return np.concatenate(src), np.concatenate(dst), np.concatenate(nb)


def _result(fabric, groups: list[_Group], op, size_bytes, chunks, start_s, time_s,
            links: bool = False):
    """The :class:`CollectiveResult`; with ``links``, also the :class:`LinkBytes`."""
    src, dst, nb = _all_flows(groups)
    lb, by_bytes, by_energy = _link_accounting(fabric, src, dst, nb)
    n = groups[0].schedule.n
    same_n = all(g.schedule.n == n for g in groups)
    n_comms = sum(len(g.comms) for g in groups)
    if same_n:
        sent = np.vstack([np.broadcast_to(g.schedule.sent_bytes(), (len(g.comms), n))
                          for g in groups])
        recv = np.vstack([np.broadcast_to(g.schedule.recv_bytes(), (len(g.comms), n))
                          for g in groups])
    else:
        sent = np.array([g.schedule.sent_bytes() for g in groups for _ in g.comms], dtype=object)
        recv = np.array([g.schedule.recv_bytes() for g in groups for _ in g.comms], dtype=object)
    algbw = size_bytes / time_s if time_s > 0 else float("inf")
    algs = sorted({g.schedule.algorithm for g in groups})
    res = CollectiveResult(
        op=op, algorithm=",".join(algs), fidelity=str(getattr(fabric, "fidelity", "?")),
        n_ranks=n, n_comms=n_comms, size_bytes=float(size_bytes), chunks=chunks,
        start_s=float(start_s), time_s=float(time_s), algbw_Bps=float(algbw),
        busbw_Bps=float(algbw * busbw_factor(op, n)), bytes_on_wire=float(nb.sum()),
        link_bytes=lb.total(), energy_j=float(sum(by_energy.values())),
        energy_by_tech=by_energy, link_bytes_by_tech=by_bytes, per_rank_sent_bytes=sent,
        per_rank_recv_bytes=recv, n_steps=max(g.schedule.n_steps for g in groups),
        n_waves=max(g.schedule.n_steps + chunks - 1 if g.schedule.n_steps else 0
                    for g in groups), phases=groups[0].schedule.phases)
    return (res, lb) if links else res


# ---------------------------------------------------------------------------------------
def analytical_time(fabric, plan: _Plan, chunks: int, intra: str = "ring",
                    inter: str = "ring") -> float:
    """Closed form for one communicator, α and B taken from the fabric's paths.

    Pairs inside one scale-up domain and pairs across domains are two classes, each with its
    own α (largest path latency) and B (smallest path bottleneck). A communicator whose pairs
    are all of one class gets the algorithm's closed form; a flat algorithm whose steps mix
    the classes (e.g. a ring or an all-to-all over several NVLink domains) gets the same
    alpha-beta model summed wave by wave, each port class loaded with its own bytes.
    """
    return _analytical_group(fabric, plan.schedule, plan.comm.endpoints[None, :], chunks,
                             intra, inter)


def analytical_group_time(fabric, groups: list[_Group], chunks: int, intra: str = "ring",
                          inter: str = "ring") -> float:
    """``analytical`` time of communicators running one collective at once: the longest
    closed form over the groups of identically scheduled communicators."""
    return max(_analytical_group(fabric, g.schedule, g.eps, chunks, intra, inter)
               for g in groups)


def analytical_cost(fabric, groups: list[_Group], chunks: int, intra: str = "ring",
                    inter: str = "ring") -> tuple[float, LinkBytes, float]:
    """(time_s, link bytes, bytes delivered) of an ``analytical`` collective, no simulation
    (the runtime's replay memo)."""
    t = analytical_group_time(fabric, groups, chunks, intra, inter)
    src, dst, nb = _all_flows(groups)
    if getattr(fabric, "router", None) is not None and src.size:
        lb = pair_routes(fabric, src, dst).link_bytes(nb)        # without the tech tables
    else:
        lb = _link_accounting(fabric, src, dst, nb)[0]
    return t, lb, float(nb.sum())


def _analytical_group(fabric, s, eps: np.ndarray, chunks: int, intra: str, inter: str) -> float:
    """Longest closed-form time over communicators sharing schedule ``s`` (endpoints
    ``eps``: (G, n)), with one route query for all."""
    if not s.n_rows:
        return 0.0
    dom = getattr(fabric.topology, "scaleup_domain", None)
    pairs = s.pair_bytes()[0]
    a, b = eps[:, pairs // s.n], eps[:, pairs % s.n]              # (G, P)
    cross = np.zeros(a.shape, bool) if dom is None else np.asarray(dom)[a] != np.asarray(dom)[b]
    lat, bn = _route_info(fabric, a.ravel(), b.ravel())
    lat, bn = lat.reshape(a.shape), bn.reshape(a.shape) / 8.0
    cols = [cross.astype(float)]
    for lv in (0, 1):
        m = cross == bool(lv)
        cols.append(np.where(m, lat, -np.inf).max(axis=1, keepdims=True))
        cols.append(np.where(m, bn, np.inf).min(axis=1, keepdims=True))
    table = np.hstack(cols)
    first = _distinct_rows(table)
    cases = table[first]
    worst = 0.0
    for row, g in zip(cases, first):
        p = cross.shape[1]
        xr = row[:p].astype(bool)
        alpha = [max(row[p], 0.0), max(row[p + 2], 0.0)]
        bw = [row[p + 1], row[p + 3]]
        worst = max(worst, _analytical_one(fabric, s, eps[g], xr, alpha, bw, chunks,
                                           intra, inter))
    return worst


def _distinct_rows(table: np.ndarray) -> np.ndarray:
    """Index of the first occurrence of every distinct row, in the order of the rows'
    bytes (what ``np.unique(axis=0, return_index=True)`` gives, without its slow path for
    wide rows: thousands of communicators x thousands of pairs)."""
    a = np.ascontiguousarray(table)
    v = a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()
    _, first = np.unique(v, return_index=True)
    return np.sort(first)


def _analytical_one(fabric, s, eps, cross_pairs, alpha, bw, chunks, intra, inter):
    cross_rows = cross_pairs[s.pair_bytes()[2]]
    one_class = bool(cross_rows.size) and cross_rows.min() == cross_rows.max()
    composite = _composite(s.algorithm)
    if composite and chunks == 1:
        layout = domain_layout(eps, fabric.topology.scaleup_domain)
        return closed_form(s.op, s.algorithm, s.n, s.size_bytes, alpha[0], bw[0],
                           chunks=chunks, root=s.root, local_size=layout.shape[1],
                           alpha_inter_s=alpha[1], bandwidth_inter_Bps=bw[1],
                           intra=intra, inter=inter)
    uneven = s.op == "alltoall" and not np.allclose(s.flow_bytes, s.flow_bytes[0])
    if one_class and not composite and not uneven:
        lv = int(cross_rows[0])
        return closed_form(s.op, s.algorithm, s.n, s.size_bytes, alpha[lv], bw[lv],
                           chunks=chunks, root=s.root)
    if isinstance(s, PeriodicSchedule):        # steps mix the classes: time them row by row
        s = s.full()
        cross_rows = cross_pairs[s.pair_bytes()[2]]
    tagged = replace(s, level=cross_rows.astype(np.int8))
    return schedule_time(tagged, chunks, alpha, bw)


def _lockstep(env, fabric, eps: np.ndarray, w: Waves):
    """One process per group of identically scheduled communicators (eps: (G, n))."""
    for k in range(w.n_waves):
        s, d, b = w.flows(k)
        if s.size:
            yield fabric.start_flows(eps[:, s].ravel(), eps[:, d].ravel(), np.tile(b, eps.shape[0]))


def _lockstep_periodic(env, fabric, eps: np.ndarray, p: PeriodicSchedule, chunks: int):
    """As :func:`_lockstep` for a periodic schedule: runs of identical waves are handed to the
    fabric's closed-form fast-forward (exact, see ``FlowFabric.fast_forward_waves``) and run
    wave by wave only where it declines (other traffic on the links, several rate epochs)."""
    src, dst = eps[:, p.src].ravel(), eps[:, p.dst].ravel()
    ff = getattr(fabric, "fast_forward_waves", None)
    for frac, count in p.segments(chunks):
        b = np.tile(p.flow_bytes * frac, eps.shape[0])
        left = count
        while left:
            ev = ff(src, dst, b, left) if ff is not None else None
            if ev is None:
                yield fabric.start_flows(src, dst, b)
                left -= 1
            else:
                left -= yield ev


def plan_collective(fabric, comms, op: str, size_bytes: float, *, algorithm: str = "auto",
                    chunks: int = 1, split_bytes=None, root: int = 0, intra: str = "ring",
                    inter: str = "ring", periodic: bool = True):
    """Checked arguments and the communicators' schedules, grouped:
    (op, size_bytes, chunks, groups)."""
    op = normalise_op(op)
    algorithm = normalise_algorithm(algorithm)
    comms = [comms] if isinstance(comms, Communicator) else list(comms)
    if not comms:
        raise CposimError("run_collective needs at least one communicator", field="comms")
    if isinstance(chunks, bool) or int(chunks) != chunks or chunks < 1:
        raise CposimError(f"chunks must be an integer >= 1, got {chunks!r}", field="chunks")
    chunks = int(chunks)
    size_bytes = float(size_bytes)
    if not np.isfinite(size_bytes) or size_bytes < 0:
        raise CposimError(f"size must be finite and >= 0, got {size_bytes!r}", field="size")
    if algorithm != "auto":
        check(algorithm, op)
    if split_bytes is not None and size_bytes == 0:
        m = np.asarray(split_bytes, float)
        size_bytes = float(m.sum(axis=-1).mean()) if m.ndim > 1 else float(m.sum())
    groups = _groups(fabric, comms, op, size_bytes, algorithm, chunks, split_bytes, root,
                     intra, inter, periodic=periodic)
    return op, size_bytes, chunks, groups


def run_collective(env: simpy.Environment, fabric, comms, op: str, size_bytes: float, *,
                   algorithm: str = "auto", chunks: int = 1, split_bytes=None, root: int = 0,
                   intra: str = "ring", inter: str = "ring",
                   fast_forward: bool = True) -> simpy.Event:
    """Run ``op`` concurrently on every communicator; the event's value is a
    :class:`CollectiveResult`.

    ``size_bytes`` follows nccl-tests (see :mod:`sim.comm.ops`). ``chunks`` pipelines the
    buffer through the steps. ``split_bytes`` makes an all-to-all uneven: an ``(n,)`` vector
    (bytes every rank sends to each member), an ``(n, n)`` matrix, or one matrix per
    communicator. ``intra`` / ``inter`` are the phase algorithms of ``hierarchical``.

    ``fast_forward`` (default on; results equal to 1e-9): on ``flow`` and ``analytical``
    fabrics, periodic collectives (those an algorithm declares periodic: ring all-reduce /
    all-gather / reduce-scatter) are timed from one step, and on ``flow`` their identical
    waves run in closed form while their links carry nothing else (``packet`` always takes
    the plain path: its packetisation of a flow must see the schedule's exact bytes).
    ``False`` is the plain path: every step of the full schedule, wave by wave.
    """
    op, size_bytes, chunks, groups = plan_collective(
        fabric, comms, op, size_bytes, algorithm=algorithm, chunks=chunks,
        split_bytes=split_bytes, root=root, intra=intra, inter=inter,
        periodic=fast_forward and getattr(fabric, "fidelity", "") in ("flow", "analytical"))
    start = env.now

    if getattr(fabric, "fidelity", "flow") == "analytical":
        t = analytical_group_time(fabric, groups, chunks, intra, inter)
        res, lb = _result(fabric, groups, op, size_bytes, chunks, start, t, links=True)
        ev = env.timeout(t, value=res)
        # no flows ran: book the bytes on the fabric as the flow models do on delivery
        ev.callbacks.append(lambda _e: fabric.account(lb, res.bytes_on_wire))
        return ev

    def proc():
        procs = []
        for g in groups:
            s = g.schedule
            procs.append(env.process(
                _lockstep_periodic(env, fabric, g.eps, s, chunks)
                if isinstance(s, PeriodicSchedule) else _lockstep(env, fabric, g.eps, g.waves)))
        if procs:
            yield simpy.AllOf(env, procs)
        return _result(fabric, groups, op, size_bytes, chunks, start, env.now - start)

    return env.process(proc())


@dataclass
class P2PResult:
    start_s: float
    time_s: float
    bytes_on_wire: float
    link_bytes: float
    energy_j: float
    energy_by_tech: dict
    n_flows: int


def run_p2p(env: simpy.Environment, fabric, src_gpu, dst_gpu, size_bytes) -> simpy.Event:
    """Send/recv (pipeline parallelism): one flow per (src, dst) pair, all started now.

    Scalars or arrays (e.g. every stage boundary of a pipeline at once); the event's value
    is a :class:`P2PResult`. On an ``analytical`` fabric: ``max(α + bytes/B)`` over the pairs.
    """
    try:
        src, dst, nb = (a.copy() for a in np.broadcast_arrays(
            np.atleast_1d(np.asarray(src_gpu, np.int64)),
            np.atleast_1d(np.asarray(dst_gpu, np.int64)),
            np.atleast_1d(np.asarray(size_bytes, float))))
    except ValueError:
        raise CposimError("src, dst and size of the transfers differ in length",
                          field="p2p") from None
    if nb.size and (not np.isfinite(nb).all() or (nb < 0).any()):
        raise CposimError("transfer sizes must be finite and >= 0", field="size_bytes")
    start = env.now

    def result(t):
        lb, _, by_energy = _link_accounting(fabric, src, dst, nb)
        return P2PResult(start, t, float(nb.sum()), lb.total(),
                         float(sum(by_energy.values())), by_energy, int(src.size)), lb

    if getattr(fabric, "fidelity", "flow") == "analytical":
        off = src != dst
        t = 0.0
        if off.any():
            lat, bn = _route_info(fabric, src[off], dst[off])
            t = float((lat + nb[off] * 8.0 / bn).max())
        res, lb = result(t)
        ev = env.timeout(t, value=res)
        # no flows ran: book the bytes on the fabric as the flow models do on delivery
        ev.callbacks.append(lambda _e: fabric.account(lb, res.bytes_on_wire))
        return ev

    def proc():
        yield fabric.start_flows(src, dst, nb)
        return result(env.now - start)[0]

    return env.process(proc())
