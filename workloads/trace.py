"""The canonical trace: what every reader produces and the runtime consumes.

A trace is SPMD-shaped, because training jobs are: ranks that run the same sequence of ops
share one :class:`Program` (a data-parallel ASTRA-sim workload is one program for all ranks;
a 1F1B pipeline has one program per stage; a Chakra trace has one per rank). This keeps a
16k-GPU trace small and lets the runtime simulate identical ranks once.

Communicators are :class:`Group` s: a named partition of the ranks into equal-size
communicators (e.g. ``tp`` = 2,048 groups of 8). A collective op names the group it runs on;
every rank executes it inside its own communicator of that group. Point-to-point ops name a
peer either absolutely (``peer``) or relative to the rank's position in a group
(``group="pp", peer_offset=+1`` = the next pipeline stage; offsets are cyclic within the
communicator, so the last stage's ``+1`` is the first stage, as interleaved schedules need).

Units: seconds, bytes, FLOPs. ``size_bytes`` of a collective follows nccl-tests: the whole
buffer (all-reduce: the array; all-gather: the gathered output; reduce-scatter: the input;
all-to-all: everything one rank sends, its own share included).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import TypeVar

import numpy as np

from sim.errors import CposimError

K = TypeVar("K")

OP_KINDS = ("compute", "collective", "send", "recv")
COLLECTIVES = ("allreduce", "allgather", "reducescatter", "alltoall", "broadcast", "reduce",
               "barrier")


@dataclass(frozen=True, slots=True)
class Op:
    """One operation of a rank's program.

    ``deps`` are ids of ops in the same program that must finish before this one starts.
    Compute ops give ``duration_s``, or ``flops`` and ``mem_bytes`` for a roofline.
    Collectives give ``collective``, ``group`` and ``size_bytes``; uneven all-to-all may give
    ``split_bytes`` (bytes to each group member, in group order). Send/recv give ``size_bytes``
    and a peer, and ``tag`` pairs a send with its recv.
    """

    id: int
    kind: str
    name: str = ""
    deps: tuple[int, ...] = ()
    duration_s: float | None = None
    flops: float | None = None
    mem_bytes: float | None = None
    collective: str | None = None
    group: str | None = None
    size_bytes: float = 0.0
    split_bytes: tuple[float, ...] | None = None
    peer: int | None = None
    peer_offset: int | None = None
    tag: int = 0
    algorithm: str | None = None
    layer: str | None = None
    phase: str | None = None  # fwd | ig | wg | optimizer | ... (free text, used in reports)

    def is_comm(self) -> bool:
        return self.kind != "compute"


def _slot_init(cls):
    """The ``__init__`` of a frozen slotted dataclass, writing each field through its slot
    descriptor instead of ``object.__setattr__``: the same signature, 2.5x faster (a
    131k-GPU trace has 2 * 10^4 ops, a Chakra trace of 1k ranks 10^6). Instances stay frozen."""
    if hasattr(cls, "__post_init__") or any(f.default_factory is not MISSING
                                            for f in fields(cls)):
        raise TypeError(f"{cls.__name__}: _slot_init handles plain defaults only")
    ns: dict = {}
    params, body = [], []
    for f in fields(cls):
        ns[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is MISSING:
            params.append(f.name)
        else:
            ns[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        body.append(f"    _set_{f.name}(self, {f.name})")
    exec(f"def __init__(self, {', '.join(params)}):\n" + "\n".join(body), ns)
    init = ns["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = {**cls.__init__.__annotations__}
    return init


Op.__init__ = _slot_init(Op)


@dataclass(slots=True)
class Program:
    """The ops run by each of ``ranks`` (in dependency order of ``ops``' ids)."""

    ranks: np.ndarray
    ops: list[Op]
    name: str = ""

    def __post_init__(self) -> None:
        self.ranks = np.asarray(self.ranks, dtype=np.int64)


@dataclass(slots=True)
class Group:
    """A partition of ranks into communicators: ``members[i]`` is communicator i's ranks."""

    name: str
    members: np.ndarray  # shape (n_communicators, size)

    def __post_init__(self) -> None:
        self.members = np.atleast_2d(np.asarray(self.members, dtype=np.int64))

    @property
    def size(self) -> int:
        return int(self.members.shape[1])

    def communicator_of(self, rank: int) -> np.ndarray:
        row = np.nonzero((self.members == rank).any(axis=1))[0]
        if len(row) == 0:
            raise CposimError(f"rank {rank} is not in any communicator of group {self.name!r}")
        return self.members[row[0]]


@dataclass(frozen=True)
class BubbleFormula:
    """A pipeline bubble *computed* after the run instead of simulated: SimAI's accounting of a
    pipelined workload whose stages run once (see :mod:`workloads.readers.simai_pipeline`).

    Each rank class's iteration grows by ``factor`` × (its compute time plus the time it waited
    for collectives of ``comm_phases``, over ops whose layer is not in ``excluded_layers``)
    as bubble, plus ``exposed_pp_s`` of exposed pipeline communication. Kept in the trace's
    metadata (key :attr:`KEY`), so it survives conversion to the native format.
    """

    factor: float
    exposed_pp_s: float = 0.0
    excluded_layers: tuple[str, ...] = ()
    comm_phases: tuple[str, ...] = ("fwd", "ig")
    source: str = ""

    KEY = "bubble_formula"

    def to_metadata(self) -> dict:
        return {"factor": self.factor, "exposed_pp_s": self.exposed_pp_s,
                "excluded_layers": list(self.excluded_layers),
                "comm_phases": list(self.comm_phases), "source": self.source}

    @classmethod
    def of(cls, trace: Trace) -> BubbleFormula | None:
        d = trace.metadata.get(cls.KEY)
        if not d:
            return None
        try:
            f = cls(float(d["factor"]), float(d.get("exposed_pp_s", 0.0)),
                    tuple(d.get("excluded_layers", ())), tuple(d.get("comm_phases",
                                                                     ("fwd", "ig"))),
                    str(d.get("source", "")))
        except (KeyError, TypeError, ValueError) as exc:
            raise CposimError(f"bad {cls.KEY} in the trace metadata: {exc}",
                              field=f"metadata.{cls.KEY}") from None
        if not (math.isfinite(f.factor) and f.factor >= 0 and math.isfinite(f.exposed_pp_s)
                and f.exposed_pp_s >= 0):
            raise CposimError(f"{cls.KEY} needs a finite factor and exposed_pp_s >= 0",
                              field=f"metadata.{cls.KEY}")
        return f


@dataclass
class Trace:
    world_size: int
    programs: list[Program]
    groups: dict[str, Group] = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)  # source format, parallelism, model, units...

    def __post_init__(self) -> None:
        if "world" not in self.groups and self.world_size > 0:
            self.groups["world"] = Group("world", np.arange(self.world_size)[None, :])

    # ---- convenience -------------------------------------------------------------------
    def iter_ops(self) -> Iterator[tuple[Program, Op]]:
        for prog in self.programs:
            for op in prog.ops:
                yield prog, op

    def program_of(self, rank: int) -> Program:
        for prog in self.programs:
            if rank in prog.ranks:
                return prog
        raise CposimError(f"rank {rank} has no program")

    # ---- validation --------------------------------------------------------------------
    def validate(self, source: str = "<trace>") -> Trace:
        """Check the whole trace; raise one clear CposimError naming what is wrong."""
        if not isinstance(self.world_size, int) or self.world_size <= 0:
            raise CposimError(f"world_size must be a positive integer, got {self.world_size!r}",
                              file=source, field="world_size")
        seen = np.zeros(self.world_size, dtype=np.int64)
        for g in self.groups.values():
            m = g.members
            if m.size == 0 or m.min() < 0 or m.max() >= self.world_size:
                raise CposimError(f"group {g.name!r} has ranks outside 0..{self.world_size - 1}",
                                  file=source, field=f"groups.{g.name}")
            if len(np.unique(m)) != m.size:
                raise CposimError(f"group {g.name!r} lists a rank twice", file=source,
                                  field=f"groups.{g.name}")
        for pi, prog in enumerate(self.programs):
            r = prog.ranks
            if r.size and (r.min() < 0 or r.max() >= self.world_size):
                raise CposimError(f"program {pi} has ranks outside 0..{self.world_size - 1}",
                                  file=source, field=f"programs[{pi}].ranks")
            np.add.at(seen, r, 1)
            _validate_ops(prog.ops, self.groups, source, pi)
        if (seen > 1).any():
            rank = int(np.nonzero(seen > 1)[0][0])
            raise CposimError(f"rank {rank} appears in more than one program", file=source,
                              field="programs")
        return self


def _bad(msg: str, source: str, pi: int, op: Op | None = None) -> CposimError:
    where = f"programs[{pi}]" + (f".ops[id={op.id}{', ' + op.name if op.name else ''}]"
                                 if op else "")
    return CposimError(msg, file=source, field=where)


def _finite_nonneg(x: float | None) -> bool:
    return x is None or (isinstance(x, (int, float)) and math.isfinite(x) and x >= 0)


def _validate_ops(ops: list[Op], groups: dict[str, Group], source: str, pi: int) -> None:
    ids = {}
    for op in ops:
        if op.id in ids:
            raise _bad(f"duplicate op id {op.id}", source, pi, op)
        ids[op.id] = op
    for op in ops:
        if op.kind not in OP_KINDS:
            raise _bad(f"unknown op kind {op.kind!r} (expected one of {', '.join(OP_KINDS)})",
                       source, pi, op)
        for name in ("duration_s", "flops", "mem_bytes", "size_bytes"):
            if not _finite_nonneg(getattr(op, name)):
                raise _bad(f"{name} must be a finite non-negative number, got "
                           f"{getattr(op, name)!r}", source, pi, op)
        if op.kind == "compute":
            if op.duration_s is None and op.flops is None and op.mem_bytes is None:
                raise _bad("compute op needs duration_s or flops/mem_bytes", source, pi, op)
        if op.kind == "collective":
            if op.collective not in COLLECTIVES:
                raise _bad(f"unknown collective {op.collective!r} (expected one of "
                           f"{', '.join(COLLECTIVES)})", source, pi, op)
            if op.group not in groups:
                raise _bad(f"collective on unknown group {op.group!r}", source, pi, op)
            if op.split_bytes is not None:
                if len(op.split_bytes) != groups[op.group].size or not all(
                        _finite_nonneg(b) for b in op.split_bytes):
                    raise _bad("split_bytes must list one non-negative size per group member",
                               source, pi, op)
        if op.kind in ("send", "recv"):
            if (op.peer is None) == (op.peer_offset is None):
                raise _bad(f"{op.kind} needs exactly one of peer / peer_offset", source, pi, op)
            if op.peer_offset is not None and op.group not in groups:
                raise _bad(f"{op.kind} with peer_offset needs a known group, got {op.group!r}",
                           source, pi, op)
        for d in op.deps:
            if d not in ids:
                raise _bad(f"depends on missing op id {d}", source, pi, op)
    _check_acyclic(ops, source, pi)


def topological_order(deps: Mapping[K, Sequence[K]]) -> tuple[list[K], list[K]]:
    """Kahn's algorithm over ``deps`` (node -> the nodes it depends on; every one a key):
    ``(order, stuck)`` — the nodes in a dependency order (ready nodes taken last-in first-out,
    children in the order of ``deps``), and those it cannot reach, in the order of ``deps``:
    on a cycle or behind one (empty when the graph is acyclic)."""
    indeg = {k: len(d) for k, d in deps.items()}
    children: dict = {k: [] for k in deps}
    for k, ds in deps.items():
        for d in ds:
            children[d].append(k)
    ready = [k for k, n in indeg.items() if n == 0]
    order = []
    while ready:
        k = ready.pop()
        order.append(k)
        for c in children[k]:
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(c)
    return order, [k for k, n in indeg.items() if n > 0]


def stuck_ops(ops: Iterable[Op]) -> list[int]:
    """Ids of the ops a topological sort cannot reach: those on a dependency cycle or behind
    one (empty when the dependencies are acyclic). Deps must name ops of ``ops``."""
    return topological_order({op.id: op.deps for op in ops})[1]


def _check_acyclic(ops: Iterable[Op], source: str, pi: int) -> None:
    stuck = stuck_ops(ops)
    if stuck:
        raise CposimError(f"dependency cycle among ops {sorted(stuck)[:5]}", file=source,
                          field=f"programs[{pi}]")
