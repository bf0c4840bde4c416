"""The speed-ups, one switch each: :class:`SpeedOptions`.

Every speed-up is exact where it applies (results equal to the plain path to 1e-9 relative,
most of them bit for bit) and falls back to the plain path where it does not; the rule of
each is written beside its flag. The options are given once — to
:func:`sim.runtime.simulate`, :func:`sim.fabric.make_fabric` or
:func:`sim.comm.run_collective` — and each layer reads the flags it applies: the fabric keeps
the options it was built with (``fabric.speed``), and the collectives layer and the runtime
default to them.

It lives in the fabric package because the fabric is the lowest layer that applies any of
them; the collectives layer, the runtime, studies and benchmarks all import from here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, fields, replace

from sim.errors import CposimError

MODES = ("grouped", "per-rank")


@dataclass(frozen=True)
class SpeedOptions:
    """One flag per speed-up; all on by default. :meth:`plain` turns them off."""

    # Runtime (sim.runtime.classes): ranks running the same program are one class driven by
    # one control loop, each collective launched on all its communicators at once.
    # Fallback: classes split (colour refinement) until their ranks meet the rest of the job
    # alike, down to one rank per class around a straggler. Off: one class per rank.
    rank_classes: bool = True
    # Runtime (sim.runtime.fastpath): a collective whose links nothing else uses, and whose
    # group's collectives are ordered by dependencies, is measured once on a scratch copy of
    # the fabric and replayed as one timeout (on closed-form fabrics every collective and
    # send/recv is). Fallback: the plain path for shared links, concurrent collectives of a
    # group, fabrics that do not promise replayable timing (packet) and fabrics whose link
    # capacities may change (failures).
    replay: bool = True
    # Collectives (sim.comm.periodic): an algorithm that declares a periodic step (ring
    # all-reduce / all-gather / reduce-scatter) is planned as one step and a count instead of
    # O(n^2) rows. Fallback: the full schedule for other algorithms, uneven splits and
    # fabrics that cannot run repeated waves (packet); closed forms whose steps mix link
    # classes time the full schedule row by row.
    periodic: bool = True
    # Flow fabric (FlowFabric.fast_forward_waves): a run of identical waves of a periodic
    # schedule is timed in closed form while its links carry nothing else; other traffic
    # arriving breaks the reservation into its exact per-flow state. Fallback: wave by wave
    # when the links are shared, a wave is several rate epochs, or capacities may change.
    fast_forward_waves: bool = True
    # Flow fabric: a component's max-min rates are memoised by its flow-set signature (route
    # ids, weights, capacity array). Bit for bit: a hit returns the array the solver computed
    # for identical input. Fallback: components of more than 2^16 rows are solved afresh.
    memoise: bool = True
    # Flow fabric: after completions only, re-solve just the rows at least as fast as the
    # slowest completed one (and linked to it through such rows). Fallback: a full component
    # re-solve whenever flows started or capacities changed since the last solve.
    incremental: bool = True
    # Flow fabric (sim.fabric.solo): a batch of >= 32 rows seen before that starts on quiet
    # links is replayed from its solo run; other traffic on its links turns it back into
    # ordinary rows with the bytes it has left. Fallback: simulated in place on busy links,
    # at its first sighting, and when capacities may change.
    solo_replay: bool = True

    @classmethod
    def plain(cls, **keep: bool) -> SpeedOptions:
        """Every speed-up off (the reference the speed-ups are tested against), except those
        named in ``keep`` (e.g. ``plain(rank_classes=True)``)."""
        return cls(**{f.name: False for f in fields(cls)} | keep)

    @property
    def mode(self) -> str:
        """The runtime mode these options give: ``grouped`` or ``per-rank``."""
        return "grouped" if self.rank_classes else "per-rank"


def mode_rank_classes(mode: str) -> bool:
    """``rank_classes`` of a runtime ``mode`` name (``grouped`` | ``per-rank``)."""
    if mode not in MODES:
        raise CposimError(f"unknown runtime mode {mode!r} (grouped | per-rank)", field="mode")
    return mode == "grouped"


# What the deprecated ``fast_forward=False`` turned off where it was accepted: in ``simulate``
# also the fabric's incremental re-solve and solo replay (the solve memo, bit for bit, stayed
# on); in ``Runtime`` the replay and the collectives' periodic schedules; in
# ``run_collective`` the periodic schedule of that collective.
FAST_FORWARD_OFF = {
    "simulate": ("replay", "periodic", "fast_forward_waves", "incremental", "solo_replay"),
    "Runtime": ("replay", "periodic", "fast_forward_waves"),
    "run_collective": ("periodic", "fast_forward_waves"),
}


def resolve(speed: SpeedOptions | None, default: SpeedOptions, where: str, *,
            fast_forward: bool | None = None, mode: str | None = None) -> SpeedOptions:
    """``speed``, or ``default`` adjusted by the deprecated ``fast_forward`` / ``mode``
    arguments of ``where`` (a key of :data:`FAST_FORWARD_OFF`), with a warning that names
    them; giving both them and ``speed`` is an error."""
    if fast_forward is None and mode is None:
        return default if speed is None else speed
    old = " and ".join(n for n, v in (("fast_forward", fast_forward), ("mode", mode))
                       if v is not None)
    if speed is not None:
        raise CposimError(f"{where}: give speed=SpeedOptions(...) or the deprecated {old}, "
                          "not both", field="speed")
    verb = "are" if fast_forward is not None and mode is not None else "is"
    warnings.warn(f"{where}(): {old} {verb} deprecated; pass speed=SpeedOptions(...) "
                  "(SpeedOptions.plain() is the plain path)", DeprecationWarning, stacklevel=3)
    out = default
    if fast_forward is not None and not fast_forward:
        out = replace(out, **{k: False for k in FAST_FORWARD_OFF[where]})
    if mode is not None:
        out = replace(out, rank_classes=mode_rank_classes(mode))
    return out
