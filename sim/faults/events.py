"""Failure events as random processes: sample when links and switches fail and come back,
and replay them on a :class:`~sim.faults.inflight.FaultableFlowFabric`.

Each link (cable record) and switch of :func:`sim.faults.rates.link_failures` /
:func:`~sim.faults.rates.switch_failures` fails as an independent Poisson process of its rate;
the superposition is what :class:`~sim.faults.rates.FailureBudget` sums in closed form.
A failure lasts an exponential time of mean ``repair_time_s`` (swap of the failed part; a CPO
engine failure: the switch). Short outages (a flap) are the same process with a short repair
time: pass ``flap_fraction`` and ``flap_duration_s`` to split events (no sourced default for
either, so both are off unless asked for).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.errors import CposimError

HOUR_S = 3600.0


def sample_events(links: pd.DataFrame, switches: pd.DataFrame | None, duration_s: float, *,
                  seed: int = 0, network_only: bool = True, flap_fraction: float = 0.0,
                  flap_duration_s: float = 10.0) -> pd.DataFrame:
    """Failure events in ``[0, duration_s)``, sorted by time.

    Columns: ``t_s``, ``element`` ("link"/"switch"), ``id`` (cable id or node id), ``tier``,
    ``kind`` ("failure"/"flap"), ``down_s``, ``interrupts`` (drawn with the element's
    interruption probability). Deterministic for a given ``seed`` (``SeedSequence``).
    """
    if not (np.isfinite(duration_s) and duration_s >= 0):
        raise CposimError(f"duration must be finite and >= 0, got {duration_s!r}",
                          field="duration_s")
    if not 0.0 <= flap_fraction <= 1.0:
        raise CposimError(f"flap_fraction must be in [0, 1], got {flap_fraction!r}",
                          field="flap_fraction")
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    parts = []
    lk = links[links["network"]] if network_only else links
    for element, df, ident in (("link", lk, "cable"), ("switch", switches, "node")):
        if df is None or not len(df):
            continue
        rate_s = df["rate_per_h"].to_numpy() / HOUR_S
        n = rng.poisson(rate_s * duration_s)
        if not n.sum():
            continue
        idx = np.repeat(np.arange(len(df)), n)
        t = rng.uniform(0.0, duration_s, size=idx.size)   # Poisson: uniform given the count
        flap = rng.random(idx.size) < flap_fraction
        mean_down = df["repair_time_s"].to_numpy()[idx]
        down = np.where(flap, flap_duration_s, rng.exponential(1.0, idx.size) * mean_down)
        interrupts = rng.random(idx.size) < df["p_interrupt"].to_numpy()[idx]
        parts.append(pd.DataFrame({
            "t_s": t, "element": element, "id": df[ident].to_numpy()[idx],
            "tier": df["tier"].to_numpy()[idx], "kind": np.where(flap, "flap", "failure"),
            "down_s": down, "interrupts": interrupts}))
    if not parts:
        return pd.DataFrame({"t_s": [], "element": [], "id": [], "tier": [], "kind": [],
                             "down_s": [], "interrupts": []})
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["t_s", "element", "id"], kind="stable").reset_index(drop=True)


def inject(fabric, events: pd.DataFrame, *, t0_s: float = 0.0) -> int:
    """Schedule ``events``' link outages on a ``FaultableFlowFabric`` (offset ``t0_s``).

    A switch event takes down every link of that switch. Returns the number scheduled.
    """
    topo = fabric.intact_topology
    n = 0
    for ev in events.itertuples(index=False):
        if ev.element == "link":
            ids = np.flatnonzero(topo.cable == ev.id)
        else:
            ids = np.flatnonzero((topo.src == ev.id) | (topo.dst == ev.id))
        fabric.fail_links_at(t0_s + ev.t_s, ids)
        fabric.restore_links_at(t0_s + ev.t_s + ev.down_s, ids)
        n += 1
    return n
