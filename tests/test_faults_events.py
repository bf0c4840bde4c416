"""Sampled failure events: Poisson counts match the closed-form budget, determinism, and
replay on the in-iteration fabric."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from sim.faults import cluster_topology, failure_budget, link_failures, switch_failures
from sim.faults.events import inject, sample_events
from sim.faults.inflight import FaultableFlowFabric


@pytest.fixture(scope="module")
def fabric_tables():
    topo = cluster_topology(1024, "pluggable")
    return topo, link_failures(topo), switch_failures(topo)


def test_event_counts_match_the_budget(fabric_tables):
    """Over a long window the sampled counts are Poisson with the budget's means."""
    topo, links, sws = fabric_tables
    b = failure_budget(topo)
    T = 1e5 * 3600.0
    ev = sample_events(links, sws, T, seed=11)
    for element, rate_h in (("link", b.link_rate_per_h), ("switch", b.switch_rate_per_h)):
        n = (ev["element"] == element).sum()
        mean = rate_h * T / 3600.0
        assert abs(n - mean) < 5 * np.sqrt(mean)
    n_int = ev["interrupts"].sum()
    mean_int = b.interrupt_per_h * T / 3600.0
    assert abs(n_int - mean_int) < 5 * np.sqrt(mean_int)
    assert ev["t_s"].is_monotonic_increasing and ev["t_s"].between(0, T).all()
    # mean outage of link failures: the rate-weighted repair time (exponential draws)
    lk = ev[ev["element"] == "link"]
    assert lk["down_s"].mean() == pytest.approx(
        np.average(links.loc[links["network"], "repair_time_s"],
                   weights=links.loc[links["network"], "rate_per_h"]), rel=0.1)


def test_events_are_deterministic_per_seed(fabric_tables):
    _, links, sws = fabric_tables
    a = sample_events(links, sws, 3e7, seed=5)
    b = sample_events(links, sws, 3e7, seed=5)
    c = sample_events(links, sws, 3e7, seed=6)
    assert a.equals(b) and not a.equals(c)
    flaps = sample_events(links, sws, 3e7, seed=5, flap_fraction=1.0, flap_duration_s=2.0)
    assert (flaps["kind"] == "flap").all() and (flaps["down_s"] == 2.0).all()


def test_injected_outage_is_replayed_on_the_fabric():
    from tests.test_faults_inflight import LAT_S, RATE_BPS, leaf_spine
    env = simpy.Environment()
    fab = FaultableFlowFabric(env, leaf_spine(), routing="ecmp-even")
    topo = fab.intact_topology
    cable = int(topo.cable[fab.link_ids_between("g0", "leaf0")[0]])
    import pandas as pd
    events = pd.DataFrame({"t_s": [0.01], "element": ["link"], "id": [cable], "tier": ["leaf"],
                           "kind": ["flap"], "down_s": [0.1], "interrupts": [True]})
    assert inject(fab, events) == 1
    ev = fab.start_flows([0], [4], [1e9])
    env.run()
    # alone: 100G; stalled for 0.1 s in the middle
    assert ev.value[0] == pytest.approx(1e9 / RATE_BPS + 0.1 + 4 * LAT_S, rel=1e-12)
