"""The parameter table: one row per default, each with a unit, a source and a grade; overrides."""

import csv
import math

import pytest

from sim.errors import CposimError
from sim.phy import load_parameters, read_overrides_toml, resolve_link, technologies
from sim.phy.parameters import TABLE


def rows():
    with open(TABLE, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_every_row_has_value_unit_source_grade_and_derived_rows_show_arithmetic():
    table = rows()
    assert len(table) > 100
    keys = [r["key"] for r in table]
    assert len(keys) == len(set(keys))
    for r in table:
        assert set(r) == {"key", "value", "unit", "source", "grade", "note"}
        assert r["source"].strip(), r["key"]
        assert r["grade"] in {"A", "B", "C", "D", "U"}, r["key"]
        float(r["value"])
        if r["grade"] == "D":  # derived or calibrated: the note says how
            assert r["note"].strip(), r["key"]


def test_loader_converts_to_si():
    p = load_parameters()
    assert p["serdes.lr.100g.energy"] == pytest.approx(7e-12)          # pJ/bit -> J/bit
    assert p["fec.rs544.200g.latency"] == pytest.approx(50e-9)         # ns -> s
    assert p["channel.pcb.host_length"] == pytest.approx(7 * 0.0254)   # in -> m
    assert p["channel.fiber.prop_delay"] == pytest.approx(4.9e-9)      # ns/m -> s/m
    assert p["lane.200g.nominal_rate"] == 200e9                         # Gb/s -> bit/s
    assert p["reliability.cpo.repair_time"] == 3600                     # h -> s
    # dB per inch per GHz -> dB per metre per Hz
    assert p["channel.pcb.dielectric_coeff"] == pytest.approx(2.31 / 0.0254 / 1e9)
    assert p.param("serdes.lr.100g.energy").value == 7.0                # as written


def test_every_parameter_is_read_by_some_link():
    """Nothing in the table is dead: each key is the source of some resolved link."""
    used = set()
    for overrides in ({}, {"tech.copper_aec.dsp_retimers": 1}, {"channel.pcb.host_length": 1}):
        params = load_parameters(overrides)
        for tech in technologies():
            for rate in (100e9, 200e9):
                for length in (0.0, 0.3, 0.6, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 100.0, 3000.0):
                    used |= set(resolve_link(tech, rate, length, params=params).sources)
    cross_checks = {"reliability.pluggable_mtbf", "reliability.cpo_port_mtbf"}  # see below
    assert set(load_parameters()) - used == cross_checks


def test_reliability_cross_check_against_reported_mtbf():
    """Component FIT sums land in the reported (grade C) MTBF ranges' neighbourhood."""
    p = load_parameters()
    plug = resolve_link("pluggable-dsp", 100e9, 10).failure
    cpo = resolve_link("cpo", 100e9, 10).failure
    plug_mtbf_h = 1e9 / plug["fit_per_end"]
    assert 0.5e6 <= plug_mtbf_h <= 1.0e6                       # 100gmodules: 0.5-1 M h
    assert p["reliability.pluggable_mtbf"] / 3600 == pytest.approx(0.75e6)
    assert 1e9 / cpo["fit_per_end"] > plug_mtbf_h              # CPO fails less often ...
    assert plug["counts_per_end"]["lasers"] == 4 * cpo["counts_per_end"]["lasers"]  # 4x lasers


def test_overrides_number_in_table_unit_or_unit_string():
    p = load_parameters({"tech.cpo.200g.laser_w": 3})
    assert p["tech.cpo.200g.laser_w"] == 3.0
    assert p.param("tech.cpo.200g.laser_w").overridden
    assert "override" in p.source("tech.cpo.200g.laser_w")
    q = load_parameters({"serdes.lr.200g.energy": "0.008 nJ/bit"})
    assert q["serdes.lr.200g.energy"] == pytest.approx(8e-12)
    assert q.param("serdes.lr.200g.energy").value == pytest.approx(8.0)
    r = load_parameters({"channel.pcb.host_length": "20 cm", "serdes.lr.200g.budget": "38 dB"})
    assert r["channel.pcb.host_length"] == pytest.approx(0.2)
    assert r["serdes.lr.200g.budget"] == 38


def test_nested_overrides_as_toml_writes_them():
    p = load_parameters({"tech": {"cpo": {"200g": {"laser_w": 3}}}})
    assert p["tech.cpo.200g.laser_w"] == 3.0


def test_overrides_change_results():
    base = resolve_link("cpo", 200e9, 10)
    more = resolve_link("cpo", 200e9, 10, params={"tech.cpo.200g.laser_w": "3 W"})
    assert more.port_power_w == pytest.approx(base.port_power_w + 1.0)
    assert more.sources["tech.cpo.200g.laser_w"].startswith("user override")


def test_unknown_override_key_is_an_error_naming_it():
    with pytest.raises(CposimError, match="tech.cpo.200g.lazer_w"):
        load_parameters({"tech.cpo.200g.lazer_w": 3})


@pytest.mark.parametrize("bad", ["abc", "-3 W", "3 m", float("nan"), True])
def test_bad_override_values_are_errors_naming_the_key(bad):
    with pytest.raises(CposimError, match="tech.cpo.200g.laser_w"):
        load_parameters({"tech.cpo.200g.laser_w": bad})


def test_bool_parameter_accepts_only_booleans():
    assert load_parameters({"tech.copper_aec.dsp_retimers": "true"})[
        "tech.copper_aec.dsp_retimers"] == 1
    with pytest.raises(CposimError, match="dsp_retimers"):
        load_parameters({"tech.copper_aec.dsp_retimers": 2})


def test_toml_overrides(tmp_path):
    path = tmp_path / "phy.toml"
    path.write_text('[phy]\nserdes.lr.200g.energy = "9 pJ/bit"\n"tech.cpo.200g.laser_w" = 3\n')
    over = read_overrides_toml(path)
    assert over == {"serdes.lr.200g.energy": "9 pJ/bit", "tech.cpo.200g.laser_w": 3}
    p = load_parameters(over)
    assert p["serdes.lr.200g.energy"] == pytest.approx(9e-12)
    bad = tmp_path / "bad.toml"
    bad.write_text("phy = [\n")
    with pytest.raises(CposimError, match="bad.toml"):
        read_overrides_toml(bad)


def test_parameters_are_immutable_and_hash_by_content():
    a, b = load_parameters({"tech.cpo.200g.laser_w": 3}), load_parameters({"tech.cpo.200g.laser_w": 3})
    assert a == b and hash(a) == hash(b)
    assert a != load_parameters()
    with pytest.raises(TypeError):
        a["x"] = 1  # type: ignore[index]
    assert math.isclose(load_parameters()["tech.cpo.200g.laser_w"], 2.0)  # default untouched
