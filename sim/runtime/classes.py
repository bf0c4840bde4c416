"""Rank classes: the units the runtime drives, and how their collectives and p2p ops meet.

A *class* is a set of ranks that run the same program and are driven by one control loop.
In ``per-rank`` mode every rank is its own class (the plain path). In ``grouped`` mode a class
is a whole :class:`~workloads.trace.Program`: its ranks issue every op at the same instant, and
each collective is launched on all the communicators the class touches at once. The fabric still
carries every rank's bytes, so contention is real; only the control flow is shared. This is exact
as long as the ranks of a class stay in lock-step, i.e. when the fabric treats them
symmetrically — tests compare both modes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.errors import CposimError
from workloads.trace import Group, Op, Trace


@dataclass
class RankClass:
    index: int
    ranks: np.ndarray
    ops: list[Op]
    program: int
    # op id -> position in ops (program order; compute priority)
    position: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.position = {op.id: i for i, op in enumerate(self.ops)}


def build_classes(trace: Trace, mode: str) -> list[RankClass]:
    if mode not in ("grouped", "per-rank"):
        raise CposimError(f"unknown runtime mode {mode!r} (grouped | per-rank)", field="mode")
    classes: list[RankClass] = []
    for pi, prog in enumerate(trace.programs):
        if mode == "grouped":
            classes.append(RankClass(len(classes), prog.ranks, prog.ops, pi))
        else:
            for r in prog.ranks:
                classes.append(RankClass(len(classes), np.array([r]), prog.ops, pi))
    return classes


class Membership:
    """Which class each rank belongs to, and the communicator rows each class touches."""

    def __init__(self, trace: Trace, classes: list[RankClass]) -> None:
        self.trace = trace
        self.classes = classes
        self.class_of_rank = np.full(trace.world_size, -1, dtype=np.int64)
        for c in classes:
            self.class_of_rank[c.ranks] = c.index
        self._components: dict[str, tuple[np.ndarray, list[np.ndarray]]] = {}
        self._row_of_rank: dict[str, np.ndarray] = {}
        self._col_of: dict[str, np.ndarray] = {}

    def row_of_rank(self, group: Group) -> np.ndarray:
        """rank -> index of its communicator in ``group`` (-1 when not a member)."""
        rows = self._row_of_rank.get(group.name)
        if rows is None:
            rows = np.full(self.trace.world_size, -1, dtype=np.int64)
            n, size = group.members.shape
            rows[group.members.ravel()] = np.repeat(np.arange(n), size)
            self._row_of_rank[group.name] = rows
        return rows

    def _col_of_rank(self, group: Group) -> np.ndarray:
        """rank -> its position within its communicator of ``group``."""
        cols = self._col_of.get(group.name)
        if cols is None:
            cols = np.full(self.trace.world_size, -1, dtype=np.int64)
            n, size = group.members.shape
            cols[group.members.ravel()] = np.tile(np.arange(size), n)
            self._col_of[group.name] = cols
        return cols

    def component(self, group: Group, cls: RankClass) -> tuple[int, np.ndarray, np.ndarray]:
        """(component id, communicator rows, participating classes) for ``cls`` on ``group``.

        Classes and communicator rows form a bipartite graph (a class touches the rows holding
        its ranks); a collective instance involves one connected component of it.
        """
        comp_of_class, comps = self._components_of(group)
        cid = int(comp_of_class[cls.index])
        if cid < 0:
            raise CposimError(f"ranks {cls.ranks[:4].tolist()} run a collective on group "
                              f"{group.name!r} but are not members of it", field=group.name)
        rows, members = comps[cid]
        return cid, rows, members

    def _components_of(self, group: Group):
        got = self._components.get(group.name)
        if got is not None:
            return got
        n_rows = group.members.shape[0]
        n_cls = len(self.classes)
        cls_of = self.class_of_rank[group.members]                    # (rows, size)
        if (cls_of < 0).any():
            r, c = np.argwhere(cls_of < 0)[0]
            raise CposimError(f"rank {int(group.members[r, c])} of group {group.name!r} has "
                              "no program", field=group.name)
        # connected components of the bipartite (class, row) graph by min-label propagation,
        # vectorised over rows (a 131k-GPU job has 16k tensor-parallel rows)
        label = np.arange(n_cls)
        while True:
            row_label = label[cls_of].min(axis=1)
            new = label.copy()
            np.minimum.at(new, cls_of.ravel(), np.repeat(row_label, cls_of.shape[1]))
            new = new[new]                                            # pointer jumping
            if np.array_equal(new, label):
                break
            label = new
        row_label = label[cls_of].min(axis=1)
        touched = np.unique(cls_of)
        comp_of_class = np.full(n_cls, -1, dtype=np.int64)
        roots: dict[int, int] = {}
        comps: list[tuple[list[int], list[int]]] = []
        for c in touched.tolist():        # components numbered by their first class
            r = int(label[c])
            if r not in roots:
                roots[r] = len(comps)
                comps.append(([], []))
            comp_of_class[c] = roots[r]
            comps[roots[r]][1].append(c)
        comp_of_row = np.array([roots[int(r)] for r in row_label.tolist()], dtype=np.int64) \
            if n_rows else np.zeros(0, np.int64)
        order = np.argsort(comp_of_row, kind="stable")
        rows_of = np.split(order, np.cumsum(np.bincount(comp_of_row, minlength=len(comps)))[:-1])
        out = (comp_of_class, [(rw.astype(np.int64), np.array(cl))
                               for rw, (_, cl) in zip(rows_of, comps)])
        self._components[group.name] = out
        return out

    def peers(self, cls: RankClass, op: Op) -> np.ndarray:
        """The peer rank of each of ``cls``'s ranks for a send/recv op."""
        if op.peer is not None:
            if not 0 <= op.peer < self.trace.world_size:
                raise CposimError(f"peer {op.peer} is outside 0..{self.trace.world_size - 1}",
                                  field=f"op {op.id} ({op.name})")
            return np.full(len(cls.ranks), op.peer, dtype=np.int64)
        group = self.trace.groups[op.group]
        rows = self.row_of_rank(group)[cls.ranks]
        if (rows < 0).any():
            raise CposimError(f"rank {int(cls.ranks[rows < 0][0])} is not in group {op.group!r}",
                              field=f"op {op.id} ({op.name})")
        size = group.size
        pos = self._col_of_rank(group)[cls.ranks]
        # cyclic, so interleaved pipelines can hand the last stage's chunk to the first stage
        target = (pos + op.peer_offset) % size
        return group.members[rows, target]
