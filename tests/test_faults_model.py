"""Fault model: rates from component FITs, the Llama-3 calibration, the CPO ratio traced to
the parameters, the Meta zero-flap bound, and checkpoint/restart goodput (closed form vs
Monte Carlo)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.errors import CposimError
from sim.fabric import build_topology
from sim.faults import (cluster_topology, daly_interval_s, expected_segment_s, failure_budget,
                        goodput, link_failures, llama3_calibration, load_fault_parameters,
                        meta_cpo_bound, simulate_goodput, switch_failures, young_interval_s,
                        zero_event_upper_rate)
from sim.phy.parameters import load_parameters

COMPONENTS = {"lasers": "laser", "dsps": "dsp", "retimers": "retimer", "drivers": "driver",
              "tias": "tia", "photodiodes": "photodiode",
              "optical_connectors": "optical_connector",
              "electrical_connectors": "electrical_connector"}


def fit_per_end(tech: str) -> float:
    """Straight from the PHY table: sum over components of count x FIT."""
    p = load_parameters()
    t = tech.replace("-", "_")
    return sum(p[f"reliability.{t}.{c}_per_port"] * p[f"reliability.fit.{k}"]
               for c, k in COMPONENTS.items())


@pytest.fixture(scope="module")
def llama():
    return {pol: llama3_calibration(pol) for pol in ("pluggable", "cpo")}


def by_hand_16k(tech: str) -> float:
    """Expected network interruptions in 54 days on 16,384 GPUs, by hand.

    Interrupting elements (see sim/faults/rates.py): each GPU's one 400G NIC link (half an
    800G port at each end: 2 x 0.5 x FIT_end, plus one cable) and each rail leaf
    (16,384 / 32 down-ports = 512 leaves, one box FIT each). Spine/core links and switches
    have ECMP alternatives: absorbed.
    """
    p, fp = load_parameters(), load_fault_parameters()
    link_fit = 2 * 0.5 * fit_per_end(tech) + p["reliability.fit.cable"]
    switch_fit = 1e9 / (fp["switch.mtbf"] / 3600)
    hours = 54 * 24
    return (16384 * link_fit + 512 * switch_fit) * 1e-9 * hours


def test_llama3_network_interruptions_within_30_percent(llama):
    cal = llama["pluggable"]
    assert cal["published"] == 35
    assert 35 * 0.7 <= cal["expected"] <= 35 * 1.3
    assert cal["expected"] == pytest.approx(by_hand_16k("pluggable-dsp"), rel=1e-9)


def test_cpo_ratio_is_the_parameter_arithmetic(llama):
    plug, cpo = llama["pluggable"]["expected"], llama["cpo"]["expected"]
    assert cpo < plug
    assert cpo / plug == pytest.approx(by_hand_16k("cpo") / by_hand_16k("pluggable-dsp"),
                                       rel=1e-9)
    # the laser share alone would be the Nvidia 4x; the other engine parts keep CPO at ~0.5x
    p = load_parameters()
    assert p["reliability.pluggable_dsp.lasers_per_port"] == 4 * p["reliability.cpo.lasers_per_port"]
    assert 0.3 < cpo / plug < 0.7


def test_redundant_fraction_bound_is_where_the_count_hits_plus_30_percent(llama):
    cal = llama["pluggable"]
    f_max = cal["redundant_fraction_max"]
    assert 0 < f_max < 1
    again = llama3_calibration("pluggable", fault_params=load_fault_parameters(
        {"interrupt.redundant_fraction": f_max}))
    assert again["expected"] == pytest.approx(1.3 * 35, rel=1e-9)


def test_interruption_rule_on_a_small_fabric():
    topo = cluster_topology(512, "pluggable")
    links = link_failures(topo)
    net = links[links["network"]]
    # GPU NIC links: one per GPU, no alternative; switch-to-switch links: alternatives
    access = net[net["access"]]
    assert len(access) == 512 and not access["redundant"].any()
    assert net[~net["access"]]["redundant"].all()
    assert (net["interrupt_rate_per_h"] == np.where(net["redundant"], 0, net["rate_per_h"])).all()
    sws = switch_failures(topo)
    assert set(sws.loc[~sws["redundant"], "tier"]) == {"leaf"}
    # the scale-up (NVLink) tier is not "network"
    assert not links.loc[links["tier"] == "scaleup", "network"].any()


def test_multiplane_nic_links_are_absorbed():
    topo = build_topology("multiplane", gpus=128, policy="pluggable")
    links = link_failures(topo)
    access = links[links["access"] & links["network"]]
    assert access["redundant"].all()               # 4 planes: losing one slows, not stops
    assert failure_budget(topo).link_interrupt_per_h == 0


def test_cpo_repair_time_weights_laser_swaps_and_host_swaps():
    """CPO end: lasers swapped in 1 h (field-replaceable ELS); any other engine failure swaps
    the engine's host -- the GPU's board (24 h) or the switch, in the switch's own repair time
    (the same swap as a failed switch box); rate-weighted mean, by hand."""
    topo = cluster_topology(256, "cpo")
    links = link_failures(topo)
    p, fp = load_parameters(), load_fault_parameters()
    laser = 2 * 0.5 * p["reliability.cpo.lasers_per_port"] * p["reliability.fit.laser"]
    other_end = 0.5 * fit_per_end("cpo") - laser / 2
    cable = p["reliability.fit.cable"]
    row = links[links["access"] & links["network"]].iloc[0]
    want = ((laser + cable) * p["reliability.cpo.repair_time"]
            + other_end * (p["reliability.cpo.nonreplaceable_repair_time"]
                           + fp["switch.repair_time"])) / (laser + 2 * other_end + cable)
    assert row["repair_time_s"] == pytest.approx(want, rel=1e-12)
    # switch to switch: both hosts are switches
    up = links[~links["access"] & links["network"] & (links["tech"] == "cpo")]
    assert len(up)
    pe = up["port_equiv_per_end"].to_numpy()
    lz = 2 * pe * p["reliability.cpo.lasers_per_port"] * p["reliability.fit.laser"]
    oe = pe * fit_per_end("cpo") - lz / 2
    cb = up["bundle"].to_numpy() * cable
    want = ((lz + cb) * p["reliability.cpo.repair_time"] + 2 * oe * fp["switch.repair_time"]) \
        / (lz + 2 * oe + cb)
    np.testing.assert_allclose(up["repair_time_s"], want, rtol=1e-12)
    # one swap, one time: a switch-side engine failure repairs as the switch box does
    sw = switch_failures(topo)
    assert (sw["repair_time_s"] == fp["switch.repair_time"]).all()
    plug = link_failures(cluster_topology(256, "pluggable"))
    assert (plug["repair_time_s"][plug["network"]]
            == p["reliability.pluggable_dsp.repair_time"]).all()


def test_interruptions_scale_with_cluster_size():
    small = failure_budget(cluster_topology(1024, "pluggable"))
    large = failure_budget(cluster_topology(4096, "pluggable"))
    # per GPU the same: one NIC link per GPU, one rail leaf per 32 GPUs
    assert large.interrupt_per_h / 4096 == pytest.approx(small.interrupt_per_h / 1024, rel=1e-9)


def test_meta_zero_flap_bound():
    b = meta_cpo_bound()
    assert b["upper_rate_per_port_h"] == pytest.approx(-math.log(0.05) / 1e6, rel=1e-12)
    assert b["upper_rate_per_port_h"] == pytest.approx(3.0e-6, rel=0.01)   # rule of three
    assert b["mtbf_lower_h"] == pytest.approx(3.34e5, rel=0.01)
    cpo, plug = b["ours"]["cpo"], b["ours"]["pluggable-dsp"]
    assert cpo["within_bound"] and cpo["rate_per_port_h"] < plug["rate_per_port_h"]
    # a 400G-equivalent port is half an 8-lane end
    assert cpo["rate_per_port_h"] == pytest.approx(fit_per_end("cpo") / 2 * 1e-9, rel=1e-12)
    assert cpo["p_zero_in_trial"] == pytest.approx(math.exp(-cpo["rate_per_port_h"] * 1e6))
    with pytest.raises(CposimError):
        zero_event_upper_rate(0)
    with pytest.raises(CposimError):
        zero_event_upper_rate(1.0, confidence=1.0)


# -- goodput -------------------------------------------------------------------------------

def test_young_and_daly_intervals():
    d, m = 90.0, 5 * 3600.0
    assert young_interval_s(d, m) == pytest.approx(math.sqrt(2 * d * m))
    x = d / (2 * m)
    assert daly_interval_s(d, m) == pytest.approx(
        math.sqrt(2 * d * m) * (1 + math.sqrt(x) / 3 + x / 9) - d)
    assert daly_interval_s(3 * m, m) == m
    # Daly's interval is within 0.1 % of the best goodput on a fine grid; Young's close too
    grid = np.linspace(0.2, 5, 2000) * math.sqrt(2 * d * m)
    best = max(goodput(t, d, 900, m) for t in grid)
    assert goodput(daly_interval_s(d, m), d, 900, m) == pytest.approx(best, rel=1e-3)
    assert goodput(young_interval_s(d, m), d, 900, m) == pytest.approx(best, rel=5e-3)


def test_goodput_limits():
    assert goodput(3600, 60, 600, math.inf) == pytest.approx(3600 / 3660)
    # first order in 1/M: 1 - delta/tau - (tau/2 + delta + R)/M
    tau, d, r, m = 600.0, 30.0, 120.0, 1e7
    assert goodput(tau, d, r, m) == pytest.approx(
        tau / (tau + d) * (1 - ((tau + d) / 2 + r) / m), rel=1e-6)
    assert goodput(600, 30, 120, 1e4) > goodput(600, 30, 120, 5e3)
    with pytest.raises(CposimError):
        goodput(0, 1, 1, 1)
    with pytest.raises(CposimError):
        expected_segment_s(float("nan"), 1, 1, 1)


@pytest.mark.parametrize("tau, delta, restart, mtbf", [
    (1800.0, 90.0, 900.0, 5 * 3600.0),      # ~Llama-3 scale
    (300.0, 30.0, 600.0, 1200.0),           # failures every 20 min: many restarts
    (3600.0, 60.0, 60.0, 100 * 3600.0),     # rare failures
])
def test_monte_carlo_agrees_with_daly_closed_form(tau, delta, restart, mtbf):
    mc = simulate_goodput(tau, delta, restart, mtbf, segments=50, runs=1000, seed=7)
    want_wall = 50 * expected_segment_s(tau, delta, restart, mtbf)
    assert abs(mc.mean_wall_s - want_wall) < 4 * mc.stderr_wall_s
    assert abs(mc.goodput - goodput(tau, delta, restart, mtbf)) < 4 * mc.goodput_stderr + 1e-12


def test_monte_carlo_is_deterministic_per_seed():
    a = simulate_goodput(600, 30, 120, 3600, segments=20, runs=200, seed=3)
    b = simulate_goodput(600, 30, 120, 3600, segments=20, runs=200, seed=3)
    c = simulate_goodput(600, 30, 120, 3600, segments=20, runs=200, seed=4)
    assert a == b and a != c


def test_every_fault_parameter_is_used_and_sourced():
    """No dead rows in sim/faults/parameters.csv; every row has a source and a grade."""
    from pathlib import Path
    root = Path(__file__).parents[1]
    code = "".join(p.read_text() for p in list((root / "sim" / "faults").glob("*.py"))
                   + [root / "experiments" / "reliability.py"])
    fp = load_fault_parameters()
    for key in fp:
        assert f'"{key}"' in code, key
        row = fp.param(key)
        assert row.source and row.grade in "ABCDU"
