"""Communicators: groups of ranks mapped onto fabric endpoints (GPU ids) by a placement.

A communicator is what NCCL calls a ``ncclComm``: an ordered group (its rank index ``i``
is the position in ``ranks``) whose members sit on fabric GPUs ``endpoints[i]``.
Megatron-style groups (TP, DP, PP, EP) come from :func:`parallel_groups`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.errors import CposimError


@dataclass(frozen=True, eq=False)
class Communicator:
    name: str
    ranks: np.ndarray      # global (job) rank ids, in communicator order
    endpoints: np.ndarray  # fabric GPU id of each member

    def __post_init__(self) -> None:
        ranks = np.asarray(self.ranks, dtype=np.int64).reshape(-1)
        eps = np.asarray(self.endpoints, dtype=np.int64).reshape(-1)
        if ranks.size == 0:
            raise CposimError(f"communicator {self.name!r} has no ranks", field="ranks")
        if ranks.shape != eps.shape:
            raise CposimError(f"communicator {self.name!r}: {ranks.size} ranks but "
                              f"{eps.size} endpoints", field="endpoints")
        srt = np.sort(eps)
        if (srt[1:] == srt[:-1]).any():
            raise CposimError(f"communicator {self.name!r} places two ranks on one GPU",
                              field="endpoints")
        if (eps < 0).any():
            raise CposimError(f"communicator {self.name!r} has a negative GPU id",
                              field="endpoints")
        object.__setattr__(self, "ranks", ranks)
        object.__setattr__(self, "endpoints", eps)

    @classmethod
    def many(cls, name: str, members: np.ndarray, endpoints: np.ndarray) -> list[Communicator]:
        """One communicator per row (``name[row]``), checked for all rows at once: a
        131k-GPU job has 16k tensor-parallel groups."""
        members = np.atleast_2d(np.asarray(members, dtype=np.int64))
        eps = np.atleast_2d(np.asarray(endpoints, dtype=np.int64))
        if members.shape != eps.shape or members.shape[1] == 0:
            return [cls(f"{name}[{i}]", m, e) for i, (m, e) in enumerate(zip(members, eps))]
        srt = np.sort(eps, axis=1)
        bad = (srt[:, 1:] == srt[:, :-1]).any(axis=1) | (srt[:, 0] < 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            return [cls(f"{name}[{i}]", members[i], eps[i])]     # raises the usual error
        out = []
        new, setattr_ = object.__new__, object.__setattr__
        for i in range(members.shape[0]):
            c = new(cls)
            setattr_(c, "name", f"{name}[{i}]")
            setattr_(c, "ranks", members[i])
            setattr_(c, "endpoints", eps[i])
            out.append(c)
        return out

    @property
    def size(self) -> int:
        return int(self.ranks.size)

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"Communicator({self.name!r}, size={self.size})"


def communicators_from_groups(members: np.ndarray, placement: np.ndarray | None = None,
                              name: str = "") -> list[Communicator]:
    """One communicator per row of ``members`` (global ranks); ``placement[rank]`` = GPU id.

    ``placement=None`` puts global rank ``r`` on GPU ``r``.
    """
    members = np.atleast_2d(np.asarray(members, dtype=np.int64))
    if placement is None:
        eps = members
    else:
        placement = np.asarray(placement, dtype=np.int64)
        if members.max(initial=-1) >= placement.size or members.min(initial=0) < 0:
            raise CposimError(f"placement covers ranks 0..{placement.size - 1} but the groups "
                              f"name rank {members.max()}", field="placement")
        eps = placement[members]
    return [Communicator(f"{name}{i}", members[i], eps[i]) for i in range(members.shape[0])]


def parallel_groups(world: int, *, tp: int = 1, pp: int = 1, dp: int | None = None,
                    ep: int = 1) -> dict[str, np.ndarray]:
    """Megatron-LM rank layout ``rank = t + tp*(d + dp*p)`` -> groups per parallel dimension.

    Returns ``{"tp": (n_groups, tp), "dp": ..., "pp": ..., "ep": ...}`` arrays of global ranks.
    EP groups split each DP group into consecutive blocks of ``ep`` ranks (experts sharded
    over data-parallel ranks, as in Megatron's expert parallelism).
    """
    if dp is None:
        dp = world // (tp * pp) if tp * pp else 0
    for key, v in (("tp", tp), ("pp", pp), ("dp", dp), ("ep", ep)):
        if v < 1:
            raise CposimError(f"{key} must be >= 1, got {v}", field=key)
    if tp * pp * dp != world:
        raise CposimError(f"tp*pp*dp = {tp}*{pp}*{dp} = {tp * pp * dp} != world size {world}",
                          field="world")
    if dp % ep:
        raise CposimError(f"ep={ep} must divide dp={dp}", field="ep")
    grid = np.arange(world, dtype=np.int64).reshape(pp, dp, tp)  # [p, d, t]
    return {
        "tp": grid.reshape(-1, tp),
        "dp": grid.transpose(0, 2, 1).reshape(-1, dp),
        "pp": grid.transpose(1, 2, 0).reshape(-1, pp),
        "ep": grid.reshape(pp, dp // ep, ep, tp).transpose(0, 1, 3, 2).reshape(-1, ep),
    }


def domain_layout(endpoints: np.ndarray, scaleup_domain: np.ndarray | None) -> np.ndarray | None:
    """Communicator rank indices arranged ``(n_domains, ranks_per_domain)``, or None.

    Row ``d`` holds the ranks whose GPU is in the ``d``-th scale-up domain the communicator
    touches (in order of first appearance); columns are local indices. None when the
    communicator does not split into equal parts of > 1 rank over > 1 domain (then a
    hierarchical algorithm has nothing to exploit).
    """
    if scaleup_domain is None:
        return None
    dom = np.asarray(scaleup_domain)[np.asarray(endpoints)]
    if dom.size < 4 or (dom == dom[0]).all():
        return None
    _, first, inv = np.unique(dom, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")       # domains in order of first appearance
    rank_of_domain = np.empty_like(order)
    rank_of_domain[order] = np.arange(order.size)
    d = rank_of_domain[inv]
    counts = np.bincount(d)
    if counts.size < 2 or counts.min() != counts.max() or counts[0] < 2:
        return None
    idx = np.lexsort((np.arange(d.size), d))       # by domain, then by rank index
    return idx.reshape(counts.size, counts[0])
