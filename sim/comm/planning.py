"""Planning a collective: checked arguments, the algorithm per communicator, schedules, and
communicators grouped by schedule (:func:`plan_collective` -> :class:`CollectivePlan`).

Communicators with the same plan key (operation, algorithm, size, layout, split, ...) run one
schedule; they form a :class:`PlanGroup` and are timed, started and accounted together as a
``(G, n)`` matrix of endpoints. A plan is data: the collectives layer hands it to the fabric,
which times it in closed form (:meth:`CollectivePlan.closed_form_s`, see :mod:`sim.comm.cost`)
or runs its flows (:mod:`sim.comm.run`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.comm.algorithms import build_schedule, normalise_algorithm, registry
from sim.comm.algorithms.registry import SPANS_DOMAINS, auto_choice, check
from sim.comm.communicator import Communicator, domain_layout
from sim.comm.ops import normalise_op
from sim.comm.periodic import PeriodicSchedule, periodic_schedule
from sim.comm.schedule import Schedule, Waves, to_waves
from sim.errors import CposimError


@dataclass
class PlanGroup:
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


@dataclass
class CollectivePlan:
    """One collective on a set of communicators, planned: the checked operation, size and
    chunk count, the phase algorithms of ``hierarchical``, and the communicators grouped by
    schedule (groups in order of first appearance, communicators in order within a group)."""

    op: str
    size_bytes: float
    chunks: int
    groups: list[PlanGroup]
    intra: str = "ring"
    inter: str = "ring"

    @property
    def n_comms(self) -> int:
        return sum(len(g.comms) for g in self.groups)

    def closed_form_s(self, fabric) -> float:
        """The alpha-beta time on ``fabric``'s routes: the longest closed form over the
        groups (see :func:`sim.comm.cost.collective_time`)."""
        from sim.comm.cost import collective_time
        return collective_time(fabric, self.groups, self.chunks, self.intra, self.inter)


@dataclass
class TransferPlan:
    """Point-to-point transfers started together: pair ``i`` sends ``size_bytes[i]`` from
    GPU ``src[i]`` to GPU ``dst[i]``."""

    src: np.ndarray
    dst: np.ndarray
    size_bytes: np.ndarray

    def closed_form_s(self, fabric) -> float:
        """``max(alpha + bytes / B)`` over the pairs between distinct GPUs (see
        :func:`sim.comm.cost.transfer_time`)."""
        from sim.comm.cost import transfer_time
        return transfer_time(fabric, self.src, self.dst, self.size_bytes)


# ---------------------------------------------------------------------------------------
def choose_algorithm(op: str, comm: Communicator, scaleup_domain: np.ndarray | None) -> str:
    """``auto`` for one communicator, as the registry declares it: the algorithm picked for
    ``op`` when the group spans several scale-up domains evenly (today hierarchical), where
    it does and one is declared; otherwise the one picked in any situation (today direct
    all-to-all, binomial-tree broadcast / reduce, ring for the rest)."""
    spanning = auto_choice(op, SPANS_DOMAINS, fallback=False)
    if spanning is not None and domain_layout(comm.endpoints, scaleup_domain) is not None:
        return spanning
    return auto_flat(op)


def auto_flat(op: str) -> str:
    """:func:`choose_algorithm` for a communicator without a usable domain layout."""
    alg = auto_choice(op)
    if alg is None:
        raise CposimError(f"no registered algorithm is auto's choice for {op}; name one",
                          field="algorithm")
    return alg


def composite(alg: str) -> bool:
    """Whether ``alg`` runs per level of a domain layout (it needs one)."""
    entry = registry.find(alg)
    return entry is not None and entry.composite


def layout_aware(alg: str) -> bool:
    """Whether ``alg`` is flat but uses a domain layout where the group has one."""
    entry = registry.find(alg)
    return entry is not None and entry.layout_aware


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


# Built schedules, by plan key: a training iteration repeats the same collectives many times.
_SCHEDULES: dict[tuple, Schedule | PeriodicSchedule] = {}
_MEMO_ENTRIES, _MEMO_MAX_ROWS = 256, 1 << 20


def _cached_schedule(op, alg, n, size_bytes, root, layout, split, intra, inter,
                     periodic=False) -> Schedule | PeriodicSchedule:
    """Build a schedule, or reuse it. Pure memoisation (schedules are immutable); only small
    schedules are kept, and the oldest entry goes first. ``layout`` / ``split`` arrive as
    hashable tuples. ``periodic``: the one-step form where the algorithm has one (see
    :mod:`sim.comm.periodic`)."""
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


def _plan_key(op, alg, n, size_bytes, root, layout, split, intra, inter) -> tuple:
    return (op, alg, n, float(size_bytes), int(root),
            None if layout is None else (layout.shape, tuple(layout.ravel().tolist())),
            None if split is None else (split.shape, tuple(np.ravel(split).tolist())),
            intra, inter)


def _groups(topology, comms, op, size_bytes, algorithm, chunks, split_bytes, root, intra,
            inter, periodic=False) -> list[PlanGroup]:
    """The communicators' schedules, grouped by plan key (groups in order of first
    appearance, communicators in order within a group)."""
    dom = topology.scaleup_domain
    flat, stacked = _flat_rows(comms, dom, topology.n_gpus)
    groups: dict[tuple, PlanGroup] = {}
    shared: dict[int, PlanGroup] = {}
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
            alg = auto_flat(op) if algorithm == "auto" else algorithm
            layout = None
        else:
            alg = choose_algorithm(op, c, dom) if algorithm == "auto" else algorithm
            layout = (domain_layout(c.endpoints, dom)
                      if composite(alg) or layout_aware(alg) else None)
        if layout is None and composite(alg):
            raise CposimError(f"communicator {c.name!r} does not span several scale-up domains "
                              f"with the same number of ranks in each; {alg} needs that",
                              field="algorithm")
        split = _split_matrix(split_bytes, n, i, len(comms))
        key = _plan_key(op, alg, n, size_bytes, root, layout, split, intra, inter)
        g = groups.get(key)
        if g is None:
            g = groups[key] = PlanGroup(key, _cached_schedule(*key, periodic=periodic), [],
                                        chunks)
        g.comms.append(c)
        if is_flat and uniform_split:
            shared[n] = g
    out = list(groups.values())
    if len(out) == 1 and len(stacked) == 1:     # the common case: reuse the stacked endpoints
        out[0]._eps = next(iter(stacked.values()))
    return out


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


def plan_collective(fabric, comms, op: str, size_bytes: float, *, algorithm: str = "auto",
                    chunks: int = 1, split_bytes=None, root: int = 0, intra: str = "ring",
                    inter: str = "ring", periodic: bool = True) -> CollectivePlan:
    """Checked arguments and the communicators' schedules, grouped, for ``fabric``'s
    topology. ``periodic``: plan the one-step (periodic) form of algorithms that declare one
    (the caller decides whether the fabric may be given it)."""
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
    groups = _groups(fabric.topology, comms, op, size_bytes, algorithm, chunks, split_bytes,
                     root, intra, inter, periodic=periodic)
    return CollectivePlan(op, size_bytes, chunks, groups, intra, inter)
