"""The channel model: Nyquist frequency, loss terms against hand arithmetic, calibration anchors."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.errors import CposimError
from sim.phy import load_parameters, max_reach_m
from sim.phy import channel as ch

P = load_parameters()
GET = P.__getitem__


def test_line_rate_baud_and_nyquist_follow_from_the_coding():
    # 256b/257b transcoding and RS(544,514) on top of the nominal (MAC) rate
    for rk, nominal in (("100g", 100e9), ("200g", 200e9)):
        line = nominal * 257 / 256 * 544 / 514
        assert ch.line_rate_bps(GET, rk) == pytest.approx(line)
        assert ch.baud_hz(GET, rk) == pytest.approx(line / 2)      # PAM4: 2 bits per symbol
        assert ch.nyquist_hz(GET, rk) == pytest.approx(line / 4)
    assert ch.nyquist_hz(GET, "100g") == pytest.approx(26.5625e9)
    assert ch.nyquist_hz(GET, "200g") == pytest.approx(53.125e9)


def test_pcb_dielectric_term_matches_the_si_list_formula():
    # alpha_d [dB/in] = 2.31 f[GHz] Df sqrt(Dk): Megtron-6 at 53.125 GHz is 0.472 dB/in
    no_conductor = load_parameters({"channel.pcb.conductor_coeff": 0})
    per_in = ch.pcb_db_per_m(no_conductor.__getitem__, 53.125e9) * 0.0254
    assert per_in == pytest.approx(2.31 * 53.125 * 0.002 * math.sqrt(3.7), rel=1e-9)
    assert per_in == pytest.approx(0.472, abs=0.001)


def test_host_path_losses_reproduce_nvidias_22_vs_4_db_and_63x():
    f = ch.nyquist_hz(GET, "200g")
    pluggable, cpo = ch.front_panel_db(GET, f), ch.cpo_path_db(GET, f)
    assert 20 <= pluggable <= 24
    assert 3 <= cpo <= 5
    assert 40 <= 10 ** ((pluggable - cpo) / 10) <= 100


def test_passive_copper_reach_matches_product_lengths():
    assert 2.0 <= max_reach_m("copper-dac", 100e9) <= 3.5   # Nvidia LinkX up to 3 m
    assert 0.8 <= max_reach_m("copper-dac", 200e9) <= 1.5   # 802.3dj 1 m CR; Lightmatter ~1 m


def test_dac_reach_is_where_the_loss_meets_the_lr_budget():
    for rk, rate in (("100g", 100e9), ("200g", 200e9)):
        f = ch.nyquist_hz(GET, rk)
        reach = max_reach_m("copper-dac", rate)
        budget = ch.budget_db(GET, "lr", rk)
        expected = (budget - 2 * ch.host_path_db(GET, f)) / ch.twinax_db_per_m(GET, f)
        assert reach == pytest.approx(expected, abs=1e-5)
        assert ch.dac_db(GET, f, reach) == pytest.approx(budget, abs=1e-4)


@given(st.floats(0, 50), st.floats(0, 50))
def test_loss_grows_with_length_and_frequency(a, b):
    lo, hi = sorted((a, b))
    for f in (26.5625e9, 53.125e9):
        assert ch.dac_db(GET, f, lo) <= ch.dac_db(GET, f, hi)
    assert ch.dac_db(GET, 26.5625e9, lo) < ch.dac_db(GET, 53.125e9, lo)


def test_class_choice_is_the_cheapest_that_covers_the_loss():
    assert ch.choose_class(GET, "200g", 4.0, in_package=True) == "xsr"
    # XSR is defined on one package only: an off-package channel starts at VSR
    assert ch.choose_class(GET, "200g", 4.0, in_package=False) == "vsr"
    assert ch.choose_class(GET, "200g", 22.0, in_package=False) == "mr"
    assert ch.choose_class(GET, "200g", 39.9, in_package=False) == "lr"
    assert ch.choose_class(GET, "200g", 40.1, in_package=False) is None
    assert ch.choose_class(GET, "100g", 12.0, in_package=False, minimum="lr") == "lr"
    energies = [GET(f"serdes.{c}.200g.energy") for c in ch.SERDES_CLASSES]
    budgets = [GET(f"serdes.{c}.200g.budget") for c in ch.SERDES_CLASSES]
    assert energies == sorted(energies) and budgets == sorted(budgets)


def test_unsupported_lane_rate_is_an_error():
    with pytest.raises(CposimError, match="400"):
        ch.rate_key(P, 400e9)
