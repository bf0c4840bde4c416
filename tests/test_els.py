"""Laser-source failure domains (sim.faults.els): external laser sources vs fixed lasers by hand,
consistency with the per-link model of sim.faults.rates, and goodput."""

import pytest

from sim.errors import CposimError
from sim.fabric import build_topology
from sim.faults import failure_budget
from sim.faults.els import (compare_laser_sources, job_goodput, laser_domains,
                            network_interruptions)
from sim.faults.params import load_fault_parameters

FIT = 1e-9     # per hour


@pytest.fixture(scope="module")
def one_switch():
    """64 GPUs x 4 CPO lanes (100G) on one switch: 256 access lanes, 64 + 64 lasers."""
    return build_topology("single-switch", gpus=64, policy="cpo")


def test_els_by_hand(one_switch):
    d = laser_domains(one_switch, "els")
    # switch: 256 lanes / 32 per source = 8 sources of 8 lasers: 8 x (8 x 100 + 200) FIT
    # GPUs: one 4-lane source each with 1 laser: 64 x (100 + 200) FIT
    sw, gpu = 8 * 1000.0, 64 * 300.0
    assert d.lasers == 128 and d.sources == 8 + 64
    assert d.events_per_h == pytest.approx((sw + gpu) * FIT)
    assert d.interrupts_per_h == pytest.approx(d.events_per_h)        # all feed GPU links
    assert d.lanes_per_event == pytest.approx((sw * 32 + gpu * 4) / (sw + gpu))
    assert d.gpus_cut_per_event == pytest.approx((sw * 8 + gpu * 1) / (sw + gpu))
    assert d.repair_s == pytest.approx(3600.0)
    assert d.lane_hours_lost_per_h == pytest.approx((sw * 32 + gpu * 4) * FIT)


def test_fixed_lasers_by_hand(one_switch):
    fp = load_fault_parameters()
    d = laser_domains(one_switch, "fixed")
    sw = gpu = 64 * 100.0                                    # lasers only, no source module
    assert d.events_per_h == pytest.approx((sw + gpu) * FIT)
    assert d.lanes_per_event == pytest.approx((sw * 256 + gpu * 4) / (sw + gpu))
    assert d.gpus_cut_per_event == pytest.approx((sw * 64 + gpu) / (sw + gpu))
    swap_h, board_h = fp["switch.repair_time"] / 3600, 24.0
    assert d.lane_hours_lost_per_h == pytest.approx((sw * 256 * swap_h + gpu * 4 * board_h) * FIT)


def test_per_link_matches_the_link_model():
    """Today's accounting: the laser events equal the links' laser FITs, and the network's
    interruption rate equals sim.faults.rates.failure_budget's."""
    topo = build_topology("dgx-h100-superpod", gpus=512, policy="copper-first",
                          tier_policy={"scaleout": "cpo"})
    per_link = network_interruptions(topo, "per-link")
    assert per_link["interrupt_per_h"] == pytest.approx(failure_budget(topo).interrupt_per_h,
                                                        rel=1e-12)
    fixed = laser_domains(topo, "fixed")
    assert laser_domains(topo, "per-link").events_per_h == pytest.approx(fixed.events_per_h)
    els = laser_domains(topo, "els")
    # fixed lasers: fewer parts, but each failure swaps a switch (every GPU of a leaf cut off)
    assert fixed.lanes_per_event > 5 * els.lanes_per_event
    assert fixed.lane_hours_lost_per_h > 10 * els.lane_hours_lost_per_h
    assert fixed.interrupts_per_h > laser_domains(topo, "per-link").interrupts_per_h


def test_no_external_lasers_no_laser_domains():
    topo = build_topology("single-switch", gpus=64, policy="pluggable")
    assert laser_domains(topo, "els").events_per_h == 0.0
    df = compare_laser_sources(topo)
    assert list(df["source"]) == ["per-link", "fixed", "els"]
    assert df["network_interrupts_per_day"].nunique() == 1


def test_goodput_falls_with_interruptions_and_bad_source_is_an_error(one_switch):
    g0 = job_goodput(0.0, 16384)["goodput"]
    g1 = job_goodput(1.0, 16384)["goodput"]
    assert 0 < g1 < g0 < 1
    with pytest.raises(CposimError) as exc:
        laser_domains(one_switch, "on-chip")
    assert exc.value.field == "source"
