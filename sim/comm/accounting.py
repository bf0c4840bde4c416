"""What a collective or a transfer carried: bytes per link, bytes and energy per link
technology, and the result records (:class:`CollectiveResult`, :class:`P2PResult`).

Energy and link bytes are attributed to the operation's own flows through the fabric's routes
(``fabric.carried``: bytes x links; ``fabric.by_technology``: x pJ/bit, the one energy
formula of :func:`sim.fabric.accounting.dynamic_energy_j`), so concurrent traffic is not
counted in.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from sim.comm.ops import busbw_factor
from sim.comm.planning import CollectivePlan, PlanGroup, TransferPlan
from sim.fabric.accounting import LinkBytes


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
class P2PResult:
    start_s: float
    time_s: float
    bytes_on_wire: float
    link_bytes: float
    energy_j: float
    energy_by_tech: dict
    n_flows: int


def link_accounting(fabric, src, dst, nbytes) -> tuple[LinkBytes, dict, dict]:
    """(:class:`LinkBytes` of the flows, link bytes by tech, energy by tech), from their
    routes. Sparse: only the links the flows cross are touched."""
    lb = fabric.carried(src, dst, nbytes)
    by_bytes, by_energy = fabric.by_technology(lb)
    return lb, by_bytes, by_energy


def all_flows(groups: list[PlanGroup]):
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


def collective_result(fabric, plan: CollectivePlan, start_s: float, time_s: float,
                      links: bool = False):
    """The :class:`CollectiveResult`; with ``links``, also the :class:`LinkBytes`."""
    groups, op, size_bytes, chunks = plan.groups, plan.op, plan.size_bytes, plan.chunks
    src, dst, nb = all_flows(groups)
    lb, by_bytes, by_energy = link_accounting(fabric, src, dst, nb)
    n = groups[0].schedule.n
    same_n = all(g.schedule.n == n for g in groups)
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
        op=op, algorithm=",".join(algs), fidelity=str(fabric.fidelity),
        n_ranks=n, n_comms=plan.n_comms, size_bytes=float(size_bytes), chunks=chunks,
        start_s=float(start_s), time_s=float(time_s), algbw_Bps=float(algbw),
        busbw_Bps=float(algbw * busbw_factor(op, n)), bytes_on_wire=float(nb.sum()),
        link_bytes=lb.total(), energy_j=float(sum(by_energy.values())),
        energy_by_tech=by_energy, link_bytes_by_tech=by_bytes, per_rank_sent_bytes=sent,
        per_rank_recv_bytes=recv, n_steps=max(g.schedule.n_steps for g in groups),
        n_waves=max(g.schedule.n_steps + chunks - 1 if g.schedule.n_steps else 0
                    for g in groups), phases=groups[0].schedule.phases)
    return (res, lb) if links else res


def transfer_result(fabric, plan: TransferPlan, start_s: float,
                    time_s: float) -> tuple[P2PResult, LinkBytes]:
    """The :class:`P2PResult` of point-to-point transfers, and their :class:`LinkBytes`."""
    lb, _, by_energy = link_accounting(fabric, plan.src, plan.dst, plan.size_bytes)
    res = P2PResult(start_s, time_s, float(plan.size_bytes.sum()), lb.total(),
                    float(sum(by_energy.values())), by_energy, int(plan.src.size))
    return res, lb


def closed_form_cost(fabric, plan: CollectivePlan | TransferPlan):
    """(time_s, :class:`LinkBytes`, bytes delivered) of a plan that ``fabric`` times in
    closed form, without simulating or booking anything (the runtime's replay memo); None
    when the fabric simulates it."""
    t = fabric.closed_form_time(plan)
    if t is None:
        return None
    if isinstance(plan, TransferPlan):
        src, dst, nb = plan.src, plan.dst, plan.size_bytes
    else:
        src, dst, nb = all_flows(plan.groups)
    return t, fabric.carried(src, dst, nb), float(nb.sum())
