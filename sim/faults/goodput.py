"""Checkpoint/restart goodput: Young and Daly intervals, Daly's closed form, and a Monte Carlo.

Model (Daly 2006, "A higher order estimate of the optimum checkpoint interval for restart
dumps", FGCS 22:303): the job computes for ``tau`` seconds, then writes a checkpoint for
``delta``; failures arrive as a Poisson process of mean time between failures ``M`` (also
during checkpoints and restarts); after a failure the job pays a restart of ``R`` seconds
(itself repeated if a failure hits it) and redoes the segment from the last checkpoint.
A segment of length ``tau + delta`` then takes on average

    E[segment] = M e^{R/M} (e^{(tau + delta)/M} - 1)

(geometric number of attempts; each failed attempt loses a truncated-exponential time plus a
restart). Goodput = useful time / wall time = ``tau / E[segment]``.

Optimal intervals: Young (1974) ``tau = sqrt(2 delta M)``; Daly's higher-order
``tau = sqrt(2 delta M) [1 + (1/3) sqrt(delta/2M) + (1/9) (delta/2M)] - delta`` for
``delta < 2M``, else ``M``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.errors import CposimError


def _check(**kw) -> None:
    """Every argument a real number >= 0; only an MTBF may be infinite (no failures)."""
    for name, v in kw.items():
        ok = isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)
        if not (ok and v >= 0 and (math.isfinite(v) or (name == "mtbf_s" and v == math.inf))):
            raise CposimError(f"must be a finite number >= 0, got {v!r}", field=name)


def young_interval_s(delta_s: float, mtbf_s: float) -> float:
    """Young's first-order optimum compute interval between checkpoints."""
    _check(delta_s=delta_s, mtbf_s=mtbf_s)
    return math.sqrt(2.0 * delta_s * mtbf_s)


def daly_interval_s(delta_s: float, mtbf_s: float) -> float:
    """Daly's higher-order optimum compute interval (Daly 2006, eq. 37)."""
    _check(delta_s=delta_s, mtbf_s=mtbf_s)
    if delta_s >= 2.0 * mtbf_s:
        return float(mtbf_s)
    x = delta_s / (2.0 * mtbf_s)
    return math.sqrt(2.0 * delta_s * mtbf_s) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - delta_s


def expected_segment_s(tau_s: float, delta_s: float, restart_s: float, mtbf_s: float) -> float:
    """Expected wall time to complete one compute interval and its checkpoint."""
    _check(tau_s=tau_s, delta_s=delta_s, restart_s=restart_s, mtbf_s=mtbf_s)
    if math.isinf(mtbf_s):
        return tau_s + delta_s
    if mtbf_s <= 0:
        return math.inf
    m = mtbf_s
    # expm1 keeps precision when (tau + delta) << M
    return m * math.exp(restart_s / m) * math.expm1((tau_s + delta_s) / m)


def goodput(tau_s: float, delta_s: float, restart_s: float, mtbf_s: float) -> float:
    """Expected useful fraction of wall time (Daly 2006 closed form)."""
    if tau_s <= 0:
        raise CposimError(f"the checkpoint interval must be > 0, got {tau_s!r}", field="tau_s")
    seg = expected_segment_s(tau_s, delta_s, restart_s, mtbf_s)
    return tau_s / seg if math.isfinite(seg) else 0.0


@dataclass(frozen=True)
class GoodputPlan:
    mtbf_s: float
    delta_s: float
    restart_s: float
    tau_young_s: float
    tau_daly_s: float
    goodput_young: float
    goodput_daly: float


def plan(mtbf_s: float, delta_s: float, restart_s: float) -> GoodputPlan:
    """Both optimum intervals and their goodputs."""
    ty, td = young_interval_s(delta_s, mtbf_s), daly_interval_s(delta_s, mtbf_s)
    return GoodputPlan(mtbf_s, delta_s, restart_s, ty, td,
                       goodput(ty, delta_s, restart_s, mtbf_s),
                       goodput(td, delta_s, restart_s, mtbf_s))


@dataclass(frozen=True)
class MonteCarloGoodput:
    mean_wall_s: float          # mean wall time of one run (segments x (tau + delta) + losses)
    stderr_wall_s: float
    work_s: float               # useful compute per run
    goodput: float              # work / mean wall time
    goodput_stderr: float       # delta-method standard error
    failures_per_run: float
    runs: int


def simulate_goodput(tau_s: float, delta_s: float, restart_s: float, mtbf_s: float, *,
                     segments: int = 100, runs: int = 2000, seed: int = 0) -> MonteCarloGoodput:
    """Monte Carlo of the same process, event by event, vectorised over runs.

    Each run computes ``segments`` intervals; failure gaps are exponential draws from one
    ``numpy.random.Generator`` seeded by ``SeedSequence(seed)``: same arguments, same result.
    """
    _check(tau_s=tau_s, delta_s=delta_s, restart_s=restart_s, mtbf_s=mtbf_s)
    if tau_s <= 0 or mtbf_s <= 0:
        raise CposimError("tau_s and mtbf_s must be > 0", field="tau_s")
    if int(segments) < 1 or int(runs) < 2:
        raise CposimError("need segments >= 1 and runs >= 2", field="runs")
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    seg_len = tau_s + delta_s
    left = np.full(runs, int(segments), dtype=np.int64)
    restarting = np.zeros(runs, dtype=bool)
    wall = np.zeros(runs)
    fails = np.zeros(runs, dtype=np.int64)
    active = np.arange(runs)
    while active.size:
        gap = rng.exponential(mtbf_s, size=active.size)
        need = np.where(restarting[active], restart_s, seg_len)
        ok = gap >= need
        wall[active] += np.where(ok, need, gap)
        fails[active] += ~ok
        done_seg = ok & ~restarting[active]
        left[active[done_seg]] -= 1
        restarting[active] = ~ok          # a failure (in either phase) leads to a restart
        active = active[left[active] > 0]
    work = segments * tau_s
    mean = float(wall.mean())
    se = float(wall.std(ddof=1) / math.sqrt(runs))
    return MonteCarloGoodput(mean, se, work, work / mean, work / mean ** 2 * se,
                             float(fails.mean()), runs)
