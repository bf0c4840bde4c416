"""resolve_link: the acceptance numbers, the step function of copper, flat optics, conventions."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.errors import CposimError
from sim.phy import load_parameters, max_reach_m, resolve_link, technologies
from sim.units import parse_bandwidth_Bps

OPTICAL = ("pluggable-dsp", "lpo", "cpo", "optical-io")
COPPER = ("copper-dac", "copper-aec")


def test_technology_names():
    # the built-in technologies first, in this order; later registry entries follow them
    assert technologies()[:6] == ["copper-dac", "copper-aec", "pluggable-dsp", "lpo", "cpo",
                                  "optical-io"]


def test_port_power_16t_pluggable_vs_cpo_nvidia():
    plug, cpo = resolve_link("pluggable-dsp", 200e9, 10), resolve_link("cpo", 200e9, 10)
    assert plug.capacity_bps == cpo.capacity_bps == 1.6e12
    assert plug.port_power_w == pytest.approx(30.0)
    assert cpo.port_power_w == pytest.approx(9.0)
    assert 3.2 <= plug.port_power_w / cpo.port_power_w <= 3.5


def test_port_power_800g_pluggable_vs_broadcom_cpo():
    plug, cpo = resolve_link("pluggable-dsp", 100e9, 10), resolve_link("cpo", 100e9, 10)
    assert plug.capacity_bps == cpo.capacity_bps == 800e9
    assert 14 <= plug.port_power_w <= 16
    assert cpo.port_power_w == pytest.approx(5.5)
    assert 61 <= 100 * (1 - cpo.port_power_w / plug.port_power_w) <= 66


def test_host_path_loss_in_link_results():
    plug, cpo = resolve_link("pluggable-dsp", 200e9, 10), resolve_link("cpo", 200e9, 10)
    assert 20 <= plug.loss_db <= 24 and 3 <= cpo.loss_db <= 5
    assert 40 <= 10 ** ((plug.loss_db - cpo.loss_db) / 10) <= 100


def test_bits_versus_bytes_800g_port_moves_100_gigabytes_per_second():
    link = resolve_link("pluggable-dsp", 100e9, 1)
    assert link.capacity_bps == 800e9
    assert link.capacity_Bps == 100e9
    assert link.capacity_Bps == parse_bandwidth_Bps("800 Gb/s")
    assert resolve_link("cpo", 200e9, 1).capacity_Bps == 200e9


def test_energy_convention_port_power_is_capacity_times_energy_per_bit():
    for tech in technologies():
        for rate in (100e9, 200e9):
            r = resolve_link(tech, rate, 0.5)
            assert r.feasible
            eb = r.energy_breakdown_pj_per_bit
            assert sum(eb.values()) == pytest.approx(r.energy_pj_per_bit)
            assert r.port_total_power_w == pytest.approx(r.capacity_bps * r.energy_pj_per_bit
                                                         * 1e-12)
            assert r.port_power_w == pytest.approx(
                r.capacity_bps * (r.energy_pj_per_bit - eb["host_serdes"]) * 1e-12)
            assert sum(r.latency_breakdown_s.values()) == pytest.approx(r.latency_s)


def test_passive_dac_has_no_port_power_and_no_transceivers():
    r = resolve_link("copper-dac", 100e9, 1.0)
    assert r.port_power_w == 0 and r.transceivers == 0 and r.retimers == 0 and not r.optical
    assert resolve_link("copper-aec", 100e9, 3.0).transceivers == 0
    assert all(resolve_link(t, 200e9, 1.0).transceivers == 1 for t in OPTICAL)


def test_dac_beyond_reach_is_an_answer_with_a_reason():
    reach = max_reach_m("copper-dac", 200e9)
    assert resolve_link("copper-dac", 200e9, reach * 0.999).feasible
    far = resolve_link("copper-dac", 200e9, reach * 1.01)
    assert not far.feasible and "dB" in far.reason
    assert math.isnan(far.energy_pj_per_bit) and math.isnan(far.latency_s)
    assert far.to_dict()["energy_pj_per_bit"] is None


@pytest.mark.parametrize("rate", [100e9, 200e9])
@pytest.mark.parametrize("tech", COPPER)
def test_copper_energy_is_a_non_decreasing_step_function_of_length(tech, rate):
    lengths = np.arange(0.0, 7.5, 0.01)
    res = [resolve_link(tech, rate, float(x)) for x in lengths]
    ok = [r for r in res if r.feasible]
    assert ok and all(not r.feasible for r in res[len(ok):])  # feasible is a prefix
    energy = np.array([r.energy_pj_per_bit for r in ok])
    assert np.all(np.diff(energy) >= 0)
    assert len(np.unique(energy)) <= 6  # a few steps, not a smooth curve


@pytest.mark.parametrize("rate", [100e9, 200e9])
def test_aec_energy_jumps_where_a_retimer_stage_is_added(rate):
    lengths = np.arange(0.0, 7.0, 0.01)
    res = [r for r in (resolve_link("copper-aec", rate, float(x)) for x in lengths) if r.feasible]
    jumps = [(a, b) for a, b in zip(res, res[1:]) if b.retimers > a.retimers]
    assert jumps, "no retimer stage is ever added"
    per_stage = load_parameters()["retimer.mixed_signal.energy"] / 1e-12
    for a, b in jumps:
        assert b.energy_pj_per_bit > a.energy_pj_per_bit
        assert b.latency_breakdown_s["retimer"] > a.latency_breakdown_s["retimer"]
        assert (b.energy_breakdown_pj_per_bit["retimer"]
                == pytest.approx((b.retimers) * per_stage))


def test_aec_reaches_further_than_dac_but_not_beyond_its_cap():
    for rate in (100e9, 200e9):
        assert max_reach_m("copper-dac", rate) < max_reach_m("copper-aec", rate) <= 7.0
    assert max_reach_m("copper-aec", 100e9, params={"channel.twinax.sqrt_coeff": 0.1,
                                                    "channel.twinax.lin_coeff": 0}) == 7.0


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(OPTICAL), st.sampled_from([100e9, 200e9]),
       st.floats(0.1, 500.0), st.floats(0.1, 500.0))
def test_optics_are_flat_in_energy_and_grow_4_9_ns_per_metre(tech, rate, a, b):
    ra, rb = resolve_link(tech, rate, a), resolve_link(tech, rate, b)
    assert ra.feasible and rb.feasible
    assert ra.energy_pj_per_bit == rb.energy_pj_per_bit
    if abs(a - b) > 1e-3:
        assert (rb.latency_s - ra.latency_s) / (b - a) == pytest.approx(4.9e-9, rel=1e-9)


def test_optical_reach_limits():
    assert resolve_link("lpo", 100e9, 500).feasible
    assert not resolve_link("lpo", 100e9, 501).feasible
    assert not resolve_link("cpo", 200e9, 600).feasible
    assert resolve_link("pluggable-dsp", 200e9, 2000).feasible
    r = resolve_link("cpo", 200e9, 600)
    assert "500" in r.reason


def test_latency_components():
    p = load_parameters()
    cpo, plug = resolve_link("cpo", 200e9, 0), resolve_link("pluggable-dsp", 200e9, 0)
    # CPO removes the two module DSPs
    assert plug.latency_breakdown_s["module"] == pytest.approx(
        2 * p["tech.pluggable_dsp.module_latency"])
    assert plug.latency_s > cpo.latency_s + 2 * 45e-9
    oio = resolve_link("optical-io", 200e9, 0)
    assert oio.latency_breakdown_s["fec"] == 0           # Ayar: no FEC
    assert cpo.latency_breakdown_s["fec"] == pytest.approx(p["fec.rs544.200g.latency"])
    # DSP retimers instead of mixed-signal ones: +2 x (50 - 3) ns with both plugs retimed
    length = 3.0
    ms = resolve_link("copper-aec", 200e9, length)
    dsp = resolve_link("copper-aec", 200e9, length, params={"tech.copper_aec.dsp_retimers": 1})
    assert ms.retimers == dsp.retimers == 2
    assert dsp.latency_s - ms.latency_s == pytest.approx(2 * (50e-9 - 3e-9))


def test_failure_parameters_are_complete():
    for tech in technologies():
        f = resolve_link(tech, 200e9, 0.5).failure
        assert f["fit_per_link"] == pytest.approx(2 * f["fit_per_end"] + f["cable_fit"])
        assert f["mtbf_link_h"] == pytest.approx(1e9 / f["fit_per_link"])
        assert f["repair_time_s"] > 0
    assert resolve_link("pluggable-dsp", 200e9, 1).failure["lasers_per_link"] == 16
    assert resolve_link("copper-dac", 200e9, 1).failure["lasers_per_link"] == 0


def test_sources_name_every_default_used():
    r = resolve_link("copper-aec", 200e9, 2.0)
    params = load_parameters()
    assert "retimer.mixed_signal.energy" in r.sources and "serdes.lr.200g.budget" in r.sources
    for key, src in r.sources.items():
        assert params.source(key) == src


@pytest.mark.parametrize("args, field", [
    (("copper-dca", 100e9, 1.0), "tech"),
    (("cpo", 400e9, 1.0), "lane_rate"),
    (("cpo", 200e9, -1.0), "length"),
    (("cpo", 200e9, float("nan")), "length"),
    (("cpo", 200e9, "1m"), "length"),
])
def test_bad_requests_are_errors(args, field):
    with pytest.raises(CposimError, match=field):
        resolve_link(*args)


def test_results_are_frozen_and_cached():
    a, b = resolve_link("cpo", 200e9, 1.0), resolve_link("cpo", 200e9, 1.0)
    assert a is b
    with pytest.raises(AttributeError):
        a.length_m = 2.0  # type: ignore[misc]
