"""The collective-algorithm registry: every algorithm is one entry, and everyone else reads it.

An algorithm is one module of this package declaring ``ALGORITHM = Algorithm(...)``: its name
and aliases, the ops it implements, its group-size constraints, its schedule builder, its
alpha-beta closed form (none: the schedule's alpha-beta time), its periodic one-step form (if
any) and when ``auto`` picks it. The package registers every such module when imported (see
``sim/comm/algorithms/__init__.py``); :func:`sim.comm.algorithms.build_schedule`,
:func:`sim.comm.closed_form.closed_form`, :mod:`sim.comm.periodic`, the ``auto`` choice in
:mod:`sim.comm.run` and ``cposim collective --algo`` read this registry, so adding an algorithm
touches its module and its tests only.

This module imports no algorithm: they import it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Callable

from sim.comm.ops import OPS
from sim.errors import CposimError

# Situations in which ``auto`` may pick an algorithm for an op. A communicator that spans
# several scale-up domains with the same number of ranks in each (``domain_layout``) gets
# the SPANS_DOMAINS choice if some algorithm declares one for the op, else the ANY choice.
ANY = "any"
SPANS_DOMAINS = "spans-domains"
SITUATIONS = (ANY, SPANS_DOMAINS)

AUTO = "auto"


@dataclass(frozen=True)
class Constraint:
    """A condition on the group size ``n`` for some ops (e.g. a power-of-two group).

    ``message`` is formatted with ``alg``, ``op`` and ``n``.
    """

    ops: tuple[str, ...]
    holds: Callable[[int], bool]
    message: str

    def check(self, alg: str, op: str, n: int) -> None:
        if op in self.ops and not self.holds(n):
            raise CposimError(self.message.format(alg=alg, op=op, n=n), field="algorithm")


def power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


# closed form of a flat algorithm: (op, n, size_bytes, alpha_s, bandwidth_Bps, chunks, root)
# -> seconds, or None where it has none (then the schedule's alpha-beta time is used)
ClosedForm = Callable[[str, int, float, float, float, int, int], "float | None"]
# periodic step: (op, n, size_bytes) -> (n_steps, src, dst, flow_bytes) of one step
PeriodicStep = Callable[[str, int, float], tuple]


@dataclass(frozen=True, eq=False)
class Algorithm:
    """One collective algorithm, as its module declares it.

    ``build``: flat algorithms ``build(op, n, size_bytes, root)`` -> ``Schedule`` (plus
    ``split_bytes=`` when ``uneven_alltoall``), called only for ``n >= 2`` and after the
    ``constraints`` were checked; a ``composite`` algorithm (it runs other algorithms per
    level of a ``(domains, ranks per domain)`` layout) is called as
    ``build(op, n, size_bytes, root, layout=, intra=, inter=)`` and checks its own inputs.
    ``closed_form``: flat, a :data:`ClosedForm`; composite, the same plus the keywords of
    :func:`sim.comm.closed_form.closed_form` (``local_size``, ``alpha_inter_s``, ...).
    ``layout_aware``: a flat algorithm whose schedule depends on which ranks share a
    scale-up domain (multi-channel rings): planning passes it the communicator's domain
    layout, ``build(op, n, size_bytes, root, layout=)`` (None where there is none: then it
    must be an ordinary flat schedule), and its closed form also takes ``local_size``,
    ``alpha_inter_s`` and ``bandwidth_inter_Bps`` (absent: the flat form). Its periodic
    form, if any, is only planned for groups without a layout.
    ``auto``: op -> situation (:data:`ANY` or :data:`SPANS_DOMAINS`) in which ``auto``
    picks this algorithm; at most one algorithm per (op, situation).
    ``order``: position in listings (CLI help, error messages).
    """

    name: str
    ops: tuple[str, ...]
    build: Callable
    aliases: tuple[str, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    closed_form: ClosedForm | Callable | None = None
    periodic_ops: tuple[str, ...] = ()
    periodic_step: PeriodicStep | None = None
    auto: Mapping[str, str] = field(default_factory=dict)
    uneven_alltoall: bool = False
    composite: bool = False
    layout_aware: bool = False
    order: int = 100

    def __post_init__(self) -> None:
        # a declaration that contradicts itself fails at import, not in some later run
        if self.name != _key(self.name) or not self.name or self.name == AUTO:
            raise CposimError(f"algorithm name {self.name!r} must be lower case with dashes, "
                              f"not {AUTO!r}", field="algorithm")
        unknown = [op for op in self.ops if op not in OPS]
        if unknown:
            raise CposimError(f"algorithm {self.name!r}: unknown ops {unknown}", field="algorithm")
        named = [*self.periodic_ops, *self.auto, *(op for c in self.constraints for op in c.ops)]
        bad = sorted({op for op in named if op not in self.ops})
        if bad:
            raise CposimError(f"algorithm {self.name!r} names ops it does not implement: {bad}",
                              field="algorithm")
        if bool(self.periodic_ops) != (self.periodic_step is not None):
            raise CposimError(f"algorithm {self.name!r}: periodic_ops and periodic_step go "
                              "together", field="algorithm")
        if self.composite and self.layout_aware:
            raise CposimError(f"algorithm {self.name!r}: composite algorithms get the layout "
                              "anyway; layout_aware is for flat ones", field="algorithm")
        if any(s not in SITUATIONS for s in self.auto.values()):
            raise CposimError(f"algorithm {self.name!r}: auto situations are {SITUATIONS}",
                              field="algorithm")

    def check_group(self, op: str, n: int) -> None:
        """Raise the first constraint that a group of ``n`` ranks breaks for ``op``."""
        for c in self.constraints:
            c.check(self.name, op, n)

    def allows(self, op: str, n: int) -> bool:
        """Whether this algorithm implements ``op`` on a group of ``n`` (constraints hold)."""
        return op in self.ops and all(op not in c.ops or c.holds(n) for c in self.constraints)

    def flat_schedule(self, op: str, n: int, size_bytes: float, root: int = 0):
        """The schedule of a flat algorithm, constraints checked (the sub-schedules of a
        composite algorithm are built through this)."""
        self.check_group(op, n)
        return self.build(op, n, size_bytes, root)


_REGISTRY: dict[str, Algorithm] = {}
_ALIASES: dict[str, str] = {}
# listing order and auto choices, derived from the entries; cleared when they change (the
# auto choice is asked once per communicator: 16k of them in a large run)
_DERIVED: dict = {}


def _key(name: str) -> str:
    return str(name).lower().replace("_", "-")


def register(alg: Algorithm) -> Algorithm:
    """Add ``alg``; its name, aliases and ``auto`` claims must not clash with others'."""
    taken = set(_REGISTRY) | set(_ALIASES) | {AUTO}
    spellings = _spellings(alg)
    clash = sorted(s for s in spellings if s in taken)
    if clash:
        raise CposimError(f"algorithm {alg.name!r}: {', '.join(clash)} already taken",
                          field="algorithm")
    for op, situation in alg.auto.items():
        other = auto_choice(op, situation, fallback=False)
        if other is not None:
            raise CposimError(f"algorithm {alg.name!r}: auto already picks {other!r} for {op} "
                              f"({situation})", field="algorithm")
    _REGISTRY[alg.name] = alg
    for s in spellings - {alg.name}:
        _ALIASES[s] = alg.name
    _DERIVED.clear()
    return alg


def unregister(name: str) -> None:
    """Remove an algorithm (tests that register a toy one clean up with this)."""
    alg = _REGISTRY.pop(name)
    for s in _spellings(alg):
        _ALIASES.pop(s, None)
    _DERIVED.clear()


def _spellings(alg: Algorithm) -> set[str]:
    """Name, aliases, and the name without dashes ("halvingdoubling"): what normalise maps
    onto the algorithm."""
    return {alg.name, alg.name.replace("-", "")} | {_key(a) for a in alg.aliases}


def names() -> list[str]:
    """Registered algorithm names, in listing order."""
    got = _DERIVED.get("names")
    if got is None:
        got = _DERIVED["names"] = tuple(
            a.name for a in sorted(_REGISTRY.values(), key=lambda a: (a.order, a.name)))
    return list(got)


def find(name: str) -> Algorithm | None:
    """The algorithm registered under exactly ``name``, or None."""
    return _REGISTRY.get(name)


def get(name: str, field: str = "algorithm") -> Algorithm:
    """The algorithm called ``name`` (any spelling :func:`normalise` accepts)."""
    key = normalise(name, field)
    if key == AUTO:
        raise CposimError("resolve 'auto' to an algorithm first", field=field)
    return _REGISTRY[key]


def normalise(name: str, field: str = "algorithm") -> str:
    """The registered name of ``name`` (case, ``_``/``-`` and aliases folded), or ``auto``."""
    key = _key(name)
    key = _ALIASES.get(key, _ALIASES.get(key.replace("-", ""), key))
    if key != AUTO and key not in _REGISTRY:
        raise CposimError(f"unknown algorithm {name!r}; choose from {AUTO}, "
                          f"{', '.join(names())}", field=field)
    return key


def for_op(op: str) -> list[str]:
    """Names of the algorithms that implement ``op``, in listing order."""
    return [a for a in names() if op in _REGISTRY[a].ops]


def supports(algorithm: str, op: str) -> bool:
    alg = find(algorithm)
    return alg is not None and op in alg.ops


def check(algorithm: str, op: str, field: str = "algorithm") -> None:
    """Raise unless ``algorithm`` implements ``op``, naming those that do."""
    if not supports(algorithm, op):
        raise CposimError(f"algorithm {algorithm!r} does not implement {op}; use one of "
                          f"{', '.join(for_op(op))}", field=field)


def auto_choice(op: str, situation: str = ANY, fallback: bool = True) -> str | None:
    """What ``auto`` picks for ``op`` in ``situation``; without a choice for the situation,
    the :data:`ANY` one (``fallback``), else None."""
    key = ("auto", op, situation)
    if key not in _DERIVED:
        _DERIVED[key] = next((a for a in names() if _REGISTRY[a].auto.get(op) == situation),
                             None)
    got = _DERIVED[key]
    if got is None and fallback and situation != ANY:
        return auto_choice(op, ANY)
    return got


class OpsByAlgorithm(Mapping):
    """Read-only ``{name: ops}`` over the live registry, in listing order."""

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return _REGISTRY[name].ops

    def __iter__(self) -> Iterator[str]:
        return iter(names())

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __repr__(self) -> str:
        return repr(dict(self))


def listing() -> str:
    """``auto, ring, double-binary-tree (dbt), ...``: the names users may type, each with
    its first alias where that is a short form (CLI help)."""
    parts = [AUTO]
    for a in names():
        short = _REGISTRY[a].aliases[:1]
        parts.append(f"{a} ({short[0]})" if short and len(short[0]) < len(a) else a)
    return ", ".join(parts)
