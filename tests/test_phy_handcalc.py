"""resolve_link against arithmetic done by hand from the published numbers, not from the code.

The formulas below are written out again from the published models — PCB, package and twinax
loss vs frequency, the reach-dependent link model, the energy convention (sim/phy/tech.py) and
the latency components — with plain floats in the units the sources use (GHz, inches, dB, ns,
W); only the calibrated/assumed coefficients are read from the table, by key, as
values in the table's own unit (``param(key).value``). A slip in a unit conversion or a
factor of two in the code shows up here as a mismatch.
"""

import math

import pytest

from sim.phy import load_parameters, resolve_link

P = load_parameters()


def v(key: str) -> float:
    """A table value as written (table unit: GHz-based coefficients, inches, mm, ns, W)."""
    return P.param(key).value


def pcb_db_per_in(f_ghz: float) -> float:
    # si-list: alpha_d [dB/in] = 2.31 f[GHz] Df sqrt(Dk); conductor ~ sqrt(f)
    return (2.31 * f_ghz * v("channel.pcb.df") * math.sqrt(v("channel.pcb.dk"))
            + v("channel.pcb.conductor_coeff") * math.sqrt(f_ghz))


def host_path_db(f_ghz: float) -> float:
    package = (v("channel.pkg.host_trace_length") * v("channel.pkg.substrate_coeff") * f_ghz
               + v("channel.pkg.bga_coeff") * f_ghz)
    return (package + v("channel.pcb.host_length") * pcb_db_per_in(f_ghz)
            + v("channel.connector.coeff") * f_ghz)


def twinax_db_per_m(f_ghz: float) -> float:
    return v("channel.twinax.sqrt_coeff") * math.sqrt(f_ghz) + v("channel.twinax.lin_coeff") * f_ghz


NYQUIST_GHZ = {100e9: 26.5625, 200e9: 53.125}  # 106.25 / 212.5 Gb/s PAM4 -> baud / 2


@pytest.mark.parametrize("rate", [100e9, 200e9])
@pytest.mark.parametrize("length_m", [0.3, 0.9])
def test_dac_loss_is_two_host_paths_plus_the_cable(rate, length_m):
    f = NYQUIST_GHZ[rate]
    expected = 2 * host_path_db(f) + length_m * twinax_db_per_m(f)
    assert resolve_link("copper-dac", rate, length_m).loss_db == pytest.approx(expected, rel=1e-9)


def test_dac_reach_closed_form():
    for rate, rk in ((100e9, "100g"), (200e9, "200g")):
        f = NYQUIST_GHZ[rate]
        reach = (v(f"serdes.lr.{rk}.budget") - 2 * host_path_db(f)) / twinax_db_per_m(f)
        assert resolve_link("copper-dac", rate, 0).max_reach_m == pytest.approx(reach, abs=1e-5)


def test_front_panel_pluggable_path_is_host_path_plus_module_side():
    f = 53.125
    module_side = (v("channel.module.trace_length") * pcb_db_per_in(f)
                   + v("channel.module.chip_pkg_coeff") * f)
    plug = resolve_link("pluggable-dsp", 200e9, 100)
    assert plug.loss_db == pytest.approx(host_path_db(f) + module_side, rel=1e-9)
    cpo = resolve_link("cpo", 200e9, 100)
    cpo_path = (v("channel.pkg.cpo_trace_length") * v("channel.pkg.substrate_coeff") * f
                + v("channel.pkg.oe_bump_coeff") * f)
    assert cpo.loss_db == pytest.approx(cpo_path, rel=1e-9)
    # Nvidia's "63x" is 10^(18 dB / 10) = 63.1
    assert 10 ** ((22 - 4) / 10) == pytest.approx(63.1, abs=0.05)


def test_optics_energy_is_module_watts_over_port_capacity():
    # 1 W per 1 Tb/s = 1 pJ/bit; one hop costs P_module / rate once
    cases = {("pluggable-dsp", 200e9): 30 / 1.6, ("cpo", 200e9): 9 / 1.6,
             ("pluggable-dsp", 100e9): 15 / 0.8, ("cpo", 100e9): 5.5 / 0.8,
             ("lpo", 100e9): 8.5 / 0.8}
    for (tech, rate), pj in cases.items():
        eb = resolve_link(tech, rate, 10).energy_breakdown_pj_per_bit
        assert eb["module"] + eb["laser"] == pytest.approx(pj, rel=1e-9), tech


def test_cpo_latency_by_hand():
    # 100 m of fibre at 4.9 ns/m + two XSR SerDes ends + one RS(544,514) termination at 1.6T
    # + two optical engines (no DSP)
    expected_ns = (100 * 4.9 + 2 * v("serdes.xsr.latency") + v("fec.rs544.200g.latency")
                   + 2 * v("tech.cpo.engine_latency"))
    r = resolve_link("cpo", 200e9, 100)
    assert r.serdes_class == "xsr"
    assert r.latency_s * 1e9 == pytest.approx(expected_ns, rel=1e-9)


def test_pluggable_minus_cpo_latency_is_the_two_module_dsps():
    """Broadcom: CPO is faster because the module DSPs go (~2 x 45-60 ns, parameters.csv)."""
    plug, cpo = resolve_link("pluggable-dsp", 200e9, 50), resolve_link("cpo", 200e9, 50)
    lb_p, lb_c = plug.latency_breakdown_s, cpo.latency_breakdown_s
    assert lb_p["propagation"] == lb_c["propagation"] == pytest.approx(50 * 4.9e-9)
    assert 2 * 45e-9 <= lb_p["module"] <= 2 * 60e-9
    assert lb_p["fec"] == lb_c["fec"]


def test_two_stage_aec_energy_is_host_serdes_plus_two_retimer_stages():
    # AEC model: host SerDes + 2 x 3.5 pJ/b (Point2 3 W / 8 x 112G = 3.35)
    r = resolve_link("copper-aec", 200e9, 3.0)
    assert r.retimers == 2
    host = v(f"serdes.{r.serdes_class}.200g.energy")
    assert r.energy_pj_per_bit == pytest.approx(host + 2 * 3.5, rel=1e-9)
    assert r.latency_breakdown_s["retimer"] == pytest.approx(2 * 3e-9)
    # the retimer-to-retimer segment is plug + cable + plug
    f = 53.125
    plug = (v("channel.module.trace_length") * pcb_db_per_in(f)
            + v("channel.module.chip_pkg_coeff") * f)
    assert r.segment_loss_db[1] == pytest.approx(2 * plug + 3.0 * twinax_db_per_m(f), rel=1e-9)
    assert max(r.segment_loss_db) <= v("serdes.lr.200g.budget")


def test_nvidia_scale_out_power_72_mw_to_21_6_mw():
    """F1: 400k GPUs x 6 optical ports per GPU x port power (Nvidia, GTC 2025)."""
    ports = 400_000 * 6
    plug = resolve_link("pluggable-dsp", 200e9, 100).port_power_w * ports
    cpo = resolve_link("cpo", 200e9, 100).port_power_w * ports
    assert plug == pytest.approx(72e6) and cpo == pytest.approx(21.6e6)
    assert 3.3 <= plug / cpo <= 3.5


def test_lambda_laser_count_ratio():
    """F9: ~5 M lasers with pluggables vs ~1 M with CPO -> Nvidia's '4x fewer lasers'."""
    plug = resolve_link("pluggable-dsp", 200e9, 100).failure["lasers_per_link"]
    cpo = resolve_link("cpo", 200e9, 100).failure["lasers_per_link"]
    assert plug / cpo == 4


def test_meta_zero_flaps_in_a_million_port_hours_is_plausible_for_cpo():
    """F3: with the CPO per-end FIT, 1e6 400G-equivalent port-hours expect < 3 failures
    (the rule-of-three 95 % bound for zero events), while pluggables expect more."""
    cpo = resolve_link("cpo", 100e9, 10).failure["fit_per_end"]
    plug = resolve_link("pluggable-dsp", 100e9, 10).failure["fit_per_end"]
    # an 800G port end is two 400G-equivalent ports: 1e6 port-hours = 5e5 800G-end-hours
    expected_cpo = cpo * 5e5 / 1e9
    expected_plug = plug * 5e5 / 1e9
    assert expected_cpo < 3
    assert expected_plug > expected_cpo


def test_aec_retimer_ics_per_end_follow_the_stage_count():
    """One stage per direction = one retimer in each plug; two stages = two in each plug."""
    fit = v("reliability.fit.retimer")
    one, two = resolve_link("copper-aec", 200e9, 1.5), resolve_link("copper-aec", 200e9, 3.0)
    assert (one.retimers, two.retimers) == (1, 2)
    assert one.failure["counts_per_end"]["retimers"] == 1
    assert two.failure["counts_per_end"]["retimers"] == 2
    # two more retimer ICs per link (one per end) add 2 x FIT
    assert two.failure["fit_per_link"] - one.failure["fit_per_link"] == pytest.approx(2 * fit)
    assert resolve_link("copper-dac", 200e9, 0.5).failure["counts_per_end"]["retimers"] == 0
