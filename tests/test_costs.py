"""The cost table (sim/phy/costs.csv): sourced rows, a price for every technology, capex and
$ / CO2 per iteration by hand, overrides and the study's cost columns."""

import csv

import pytest

from sim.errors import CposimError
from sim.fabric import build_topology
from sim.fabric.cost import network_capex, scaleout_power_w
from sim.phy import registry
from sim.phy.costs import TABLE, UNITS, iteration_economics, load_costs, tech_price
from sim.study import StudyConfig, run_study

GEOMETRY = {"rise_m": 0.5, "slack_m": 0.5}       # 2.1 m cables: copper reaches


def test_every_row_has_a_unit_a_source_and_a_grade():
    rows = list(csv.DictReader(open(TABLE, newline="", encoding="utf-8")))
    assert len({r["key"] for r in rows}) == len(rows) > 15
    for r in rows:
        assert r["unit"] in UNITS, r["key"]
        assert r["source"].strip(), r["key"]
        assert r["grade"] in {"A", "B", "C", "D", "U"}, r["key"]
        if r["grade"] == "D":
            assert r["note"].strip(), r["key"]      # derived: the note shows the arithmetic
        float(r["value"])


def test_si_values():
    c = load_costs()
    assert c["energy.electricity_price"] == pytest.approx(0.0806 / 3.6e6)   # USD per J
    assert c["carbon.grid_intensity"] == pytest.approx(0.367 / 3.6e6)       # kg per J
    assert c["capex.lifetime"] == pytest.approx(5 * 365.25 * 86400)
    assert c["budget.gpu_shoreline"] == pytest.approx(0.010)
    assert "override" not in c.source("price.gpu.unit")


@pytest.mark.parametrize("tech", registry.names())
def test_every_registered_technology_has_a_price(tech):
    p = tech_price(tech, 100e9)
    assert p.end_usd_per_bps > 0 or p.cable_usd_per_bps > 0
    assert (p.fiber_usd_per_cable > 0) == registry.get(tech).optical


def test_capex_by_hand_per_technology():
    c = load_costs()
    nic = 400e9 * 1800 / 400e9
    port = 400e9 * 3125 / 800e9
    for tech, optics, cable in (("pluggable-dsp", 2 * 400e9 * 1250 / 800e9, 100.0),
                                ("cpo", 2 * 400e9 * 750 / 800e9, 100.0),
                                ("copper-dac", 0.0, 400e9 * 375 / 800e9)):
        topo = build_topology("single-switch", gpus=64, policy=tech, geometry=GEOMETRY)
        got = network_capex(topo, c)
        assert got["nic_usd"] == pytest.approx(64 * nic)
        assert got["switch_ports_usd"] == pytest.approx(64 * port)
        assert got["optics_usd"] == pytest.approx(64 * optics), tech
        assert got["cables_usd"] == pytest.approx(64 * cable), tech
        assert got["per_gpu_usd"] == pytest.approx(nic + port + optics + cable)
    cpo = network_capex(build_topology("single-switch", gpus=64, policy="cpo"), c)
    assert cpo["lasers_usd"] == pytest.approx(64 * 2 * 400e9 * 250 / 800e9)


def test_overrides_and_the_200g_factor():
    half = load_costs({"price.rate_200g_factor": 0.5, "price.nic.port_400g": 1000})
    assert half.param("price.nic.port_400g").overridden
    assert tech_price("cpo", 200e9, half).end_usd_per_bps == pytest.approx(
        0.5 * tech_price("cpo", 100e9).end_usd_per_bps)
    with pytest.raises(CposimError, match="unknown cost parameter") as exc:
        load_costs({"price.nic.bogus": 1})
    assert exc.value.field == "price.nic.bogus"
    with pytest.raises(CposimError) as exc:
        load_costs({"facility.pue": -1})
    assert exc.value.field == "costs.facility.pue"


def test_dollars_and_co2_per_iteration_by_hand():
    c = load_costs()
    e = iteration_economics(iteration_s=2.0, gpus=10, scaleout_energy_j=3.6e6,
                            network_energy_j=7.2e6, scaleout_capex_usd=1e6, costs=c)
    life = 5 * 365.25 * 86400
    assert e["network_capex_usd_per_iteration"] == pytest.approx(1e6 * 2 / life)
    assert e["network_energy_usd_per_iteration"] == pytest.approx(1.3 * 0.0806)   # 1 kWh
    assert e["network_kgco2e_per_iteration"] == pytest.approx(1.3 * 0.367)
    gpu_j = 10 * 700 * 2.0
    assert e["cluster_kgco2e_per_iteration"] == pytest.approx(
        (7.2e6 + gpu_j) * 1.3 * 0.367 / 3.6e6)
    assert e["cluster_usd_per_iteration"] == pytest.approx(
        (1e6 + 10 * 30000) * 2 / life + (7.2e6 + gpu_j) * 1.3 * 0.0806 / 3.6e6)


def test_study_reports_capex_dollars_and_co2_per_policy():
    cfg = StudyConfig.model_validate({
        "name": "c", "fidelity": "analytical", "timeline": False,
        "policies": ["copper-first", {"name": "cpo", "tier_policy": {"scaleout": "cpo"}}],
        "costs": {"facility.pue": 1.0},
        "workload": {"model": "llama3-8b", "gpus": 16, "tp": 8, "pp": 2, "global_batch": 4}})
    comp = run_study(cfg).comparison().set_index("policy")
    assert list(comp.columns)[-1] == "cluster_usd_per_useful_iteration"   # the last block
    for p, row in comp.iterrows():
        topo = build_topology("dgx-h100-superpod", gpus=16, policy="copper-first",
                              **({"tier_policy": {"scaleout": "cpo"}} if p == "cpo" else {}))
        assert row["scaleout_power_w"] == pytest.approx(scaleout_power_w(topo))
        assert row["network_capex_usd"] == pytest.approx(network_capex(topo)["total_usd"])
        assert row["network_kgco2e_per_iteration"] == pytest.approx(
            row["scaleout_power_w"] * row["iteration_s"] * 0.367 / 3.6e6)
    assert comp.loc["cpo", "network_capex_usd"] < comp.loc["copper-first", "network_capex_usd"]
