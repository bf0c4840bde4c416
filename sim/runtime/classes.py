"""Rank classes: the units the runtime drives, and how their collectives and p2p ops meet.

A *class* is a set of ranks that run the same program and are driven by one control loop.
In ``per-rank`` mode (``SpeedOptions(rank_classes=False)``) every rank is its own class (the
plain path). In ``grouped`` mode (``rank_classes=True``, the default) a class
is a whole :class:`~workloads.trace.Program` (split where its point-to-point peers would lie in
two classes, see :func:`_split_by_peers`): its ranks issue every op at the same instant, and
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
    return _split_by_peers(trace, classes) if mode == "grouped" else classes


def _split_by_peers(trace: Trace, classes: list[RankClass]) -> list[RankClass]:
    """Split classes until their ranks meet the rest of the job alike.

    A class's ranks issue each op at the same instant, so (1) each of its point-to-point ops
    must have all its peers in one class, and (2) for each group its collectives use, every
    rank's communicator must hold the same classes (else some communicators of the group wait
    for a class the others do not). Programs usually guarantee both (a pipeline stage talks to
    the next stage; every TP group of a stage is alike), but a rank taken out of its program (a
    straggler, see :mod:`workloads.stragglers`) breaks them for its neighbours, which split off
    too, and theirs in turn. The result is the coarsest partition with (1) and (2) (a fixpoint,
    as in colour refinement; one pass when nothing splits), so identical ranks are still driven
    once and the symmetry falls back to finer classes only around the straggler.
    """
    groups = trace.groups
    # per program: its relative p2p addressings (absolute peers never split a class) and the
    # groups of its collectives
    if len(classes) < 2 or all(c.ranks.size < 2 for c in classes):
        return classes
    p2p: dict[int, list] = {}
    coll: dict[int, list] = {}
    for c in classes:
        pairs = {(op.kind, op.group, op.peer_offset) for op in c.ops
                 if op.kind != "compute" and op.peer is None and op.group in groups}
        p2p[c.program] = sorted({(g, o) for k, g, o in pairs if k in ("send", "recv")})
        coll[c.program] = sorted({g for k, g, _ in pairs if k == "collective"})
    W = trace.world_size
    peer_of: dict[tuple, np.ndarray] = {}          # (group, offset) -> peer rank of each rank
    for g_name, off in sorted({x for xs in p2p.values() for x in xs}):
        # Membership.peers for every rank at once (a column shift); -1: not in the group
        g = groups[g_name].members
        peer = np.full(W, -1, dtype=np.int64)
        peer[g.ravel()] = g[:, (np.arange(g.shape[1]) + off) % g.shape[1]].ravel()
        peer_of[g_name, off] = peer
    row_of = {g_name: rows_of(groups[g_name], W)   # group -> communicator of each rank (-1)
              for g_name in sorted({x for xs in coll.values() for x in xs})
              if groups[g_name].members.shape[0] > 1}   # one communicator: the same for all
    label = np.full(W + 1, -1, dtype=np.int64)     # label[-1]: no peer
    while True:
        for c in classes:
            label[c.ranks] = c.index
        # each communicator's multiset of classes, numbered; [-1]: not a member
        row_kind = {}
        for g_name in row_of:
            m = label[groups[g_name].members]
            mixed = np.flatnonzero(m.min(axis=1) != m.max(axis=1))
            if mixed.size:          # rows of one class are that class; sort only the others
                m = m.copy()
                m[mixed] = np.sort(m[mixed], axis=1)
                m[mixed, 0] = label.size + _tuple_ids(list(m[mixed].T))
            row_kind[g_name] = np.append(m[:, 0], -1)
        out: list[RankClass] = []
        for c in classes:
            cols = [label[peer_of[x][c.ranks]] for x in p2p[c.program]]
            cols += [row_kind[g][row_of[g][c.ranks]] for g in coll[c.program] if g in row_of]
            cols = [x for x in cols if x.size and x.min() != x.max()]   # most are constant
            if not cols:
                out.append(c)
                continue
            _, first, inv = np.unique(_tuple_ids(cols), return_index=True, return_inverse=True)
            inv = inv.ravel()
            for k in np.argsort(first, kind="stable").tolist():   # in order of first rank
                out.append(RankClass(0, c.ranks[inv == k], c.ops, c.program))
        if len(out) == len(classes):
            return classes
        for i, c in enumerate(out):
            c.index = i
        classes = out


def rows_of(group: Group, world_size: int) -> np.ndarray:
    """rank -> index of its communicator in ``group`` (-1 when not a member)."""
    rows = np.full(world_size, -1, dtype=np.int64)
    n, size = group.members.shape
    rows[group.members.ravel()] = np.repeat(np.arange(n), size)
    return rows


def cols_of(group: Group, world_size: int) -> np.ndarray:
    """rank -> its position within its communicator of ``group`` (-1 when not a member)."""
    cols = np.full(world_size, -1, dtype=np.int64)
    n, size = group.members.shape
    cols[group.members.ravel()] = np.tile(np.arange(size), n)
    return cols


def _tuple_ids(cols: list[np.ndarray]) -> np.ndarray:
    """One int64 per position, equal exactly where the tuples ``(c[i] for c in cols)`` are
    equal (entries >= -1): columns packed in mixed radix, renumbered densely whenever the
    next column would overflow (10^5 ranks, 10^3-wide communicators)."""
    key = cols[0] + 1
    for col in cols[1:]:
        base = int(col.max()) + 2
        if int(key.max()) >= (1 << 62) // base:
            key = np.unique(key, return_inverse=True)[1].ravel()
        key = key * base + (col + 1)
    return key


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
            rows = self._row_of_rank[group.name] = rows_of(group, self.trace.world_size)
        return rows

    def _col_of_rank(self, group: Group) -> np.ndarray:
        """rank -> its position within its communicator of ``group``."""
        cols = self._col_of.get(group.name)
        if cols is None:
            cols = self._col_of[group.name] = cols_of(group, self.trace.world_size)
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
