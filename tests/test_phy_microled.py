"""The microled technology (Microsoft MOSAIC, SIGCOMM'25): one registry entry plus its rows,
and the registry itself: a technology registered in a test reaches the CLI, the policies, the
fault model and the figure styles without any other module being edited."""

import contextlib
import io
import json
import math

import pytest

from sim.cli import main
from sim.phy import load_parameters, max_reach_m, registry, resolve_link, technologies

CAPACITY_BPS = {"100g": 800e9, "200g": 1.6e12}
RATE_BPS = {"100g": 100e9, "200g": 200e9}


def _run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            rc = main(argv)
        except SystemExit as exc:   # --help
            rc = exc.code
    return rc, out.getvalue()


@pytest.mark.parametrize("rk, module_w, serdes_pj", [
    ("100g", 4.2, 2.1),    # 12.3 dB front-panel path at 26.6 GHz -> VSR (16 dB), 2.1 pJ/b
    ("200g", 8.4, 4.8),    # 22.0 dB at 53.1 GHz -> MR (30 dB), 4.8 pJ/b
])
def test_energy_per_bit_and_port_power_are_the_sourced_rows(rk, module_w, serdes_pj):
    p = load_parameters()
    assert p[f"tech.microled.{rk}.module_w"] == module_w          # the row, as written
    r = resolve_link("microled", RATE_BPS[rk], 20.0)
    assert r.feasible and r.capacity_bps == CAPACITY_BPS[rk] and r.optical
    # port power = the module row: no laser, no retimer, no DSP in the cable end
    assert r.port_power_w == pytest.approx(module_w, rel=1e-12)
    assert r.energy_breakdown_pj_per_bit["laser"] == 0 == r.energy_breakdown_pj_per_bit["retimer"]
    # energy per bit, by hand: host SerDes + module watts / capacity (4.2 W / 800 Gb/s = 5.25)
    assert r.serdes_class == resolve_link("pluggable-dsp", RATE_BPS[rk], 20.0).serdes_class
    assert p[f"serdes.{r.serdes_class}.{rk}.energy"] * 1e12 == pytest.approx(serdes_pj)
    assert r.energy_breakdown_pj_per_bit["module"] == pytest.approx(5.25)
    assert r.energy_pj_per_bit == pytest.approx(serdes_pj + module_w / CAPACITY_BPS[rk] * 1e12)
    assert r.port_total_power_w == pytest.approx(CAPACITY_BPS[rk] * r.energy_pj_per_bit * 1e-12)
    assert {f"tech.microled.{rk}.module_w", "tech.microled.reach"} <= set(r.sources)


def test_port_power_sits_in_the_papers_range_and_below_the_optics_it_replaces():
    mosaic = resolve_link("microled", 100e9, 20.0).port_power_w
    assert 3.1 <= mosaic <= 5.3                       # per 800G link end (MOSAIC)
    assert 1 - 3.1 / 9.8 == pytest.approx(0.68, abs=0.005)   # the abstract's "up to 68 %"
    assert mosaic < resolve_link("lpo", 100e9, 20.0).port_power_w
    assert mosaic < resolve_link("pluggable-dsp", 100e9, 20.0).port_power_w


@pytest.mark.parametrize("rate", [100e9, 200e9])
def test_reach_limit_is_50_m_with_a_clear_reason(rate):
    assert max_reach_m("microled", rate) == 50.0
    assert resolve_link("microled", rate, 50.0).feasible
    far = resolve_link("microled", rate, 50.5)
    assert not far.feasible
    assert far.reason == f"50.5 m exceeds the microled reach of 50 m at {rate / 1e9:g}G/lane"
    assert math.isnan(far.energy_pj_per_bit) and math.isnan(far.port_power_w)


def test_cli_link_answers_beyond_reach_and_lists_microled():
    rc, out = _run(["link", "--tech", "microled", "--lane-rate", "100G", "--length", "60m",
                    "--json"])
    d = json.loads(out)
    assert rc == 0 and d["feasible"] is False and "reach of 50 m" in d["reason"]
    rc, out = _run(["link", "--list", "--json"])
    row = next(r for r in json.loads(out) if r["tech"] == "microled")
    assert row["lane_rates"]["200G"]["max_reach_m"] == 50.0


def test_policies_fall_back_to_dsp_pluggables_beyond_50_m():
    from sim.fabric.policy import policy_candidates, resolve_cable
    assert policy_candidates("microled") == ("microled", "pluggable-dsp")
    assert policy_candidates("copper-microled") == ("copper-dac", "copper-aec", "microled",
                                                    "pluggable-dsp")
    assert resolve_cable("microled", "spine", 200e9, 40.0).tech == "microled"
    assert resolve_cable("microled", "spine", 200e9, 60.0).tech == "pluggable-dsp"
    assert resolve_cable("copper-microled", "leaf", 200e9, 0.5).tech == "copper-dac"


def test_fault_rates_read_its_rows():
    from sim.faults import failure_budget, link_failures, meta_cpo_bound
    from sim.fabric import build_topology
    f = resolve_link("microled", 200e9, 20.0).failure
    # retimer-class gearbox 100 + driver 100 + TIA 80 + PD array 20 + cage connector 5 FIT
    assert f["fit_per_end"] == pytest.approx(305.0) and f["lasers_per_link"] == 0
    assert f["fit_per_end"] < resolve_link("pluggable-dsp", 200e9, 20.0).failure["fit_per_end"]
    topo = build_topology("leaf-spine", gpus=64, policy="microled")
    links = link_failures(topo)
    assert set(links["tech"]) == {"microled"}
    assert links["fit_per_end"].eq(305.0).all()
    plug = failure_budget(build_topology("leaf-spine", gpus=64, policy="pluggable"))
    assert failure_budget(topo).link_rate_per_h < plug.link_rate_per_h
    assert set(meta_cpo_bound(techs=("cpo", "microled"))["ours"]) == {"cpo", "microled"}


def test_a_study_with_microled_scale_out_runs():
    from sim.study import StudyConfig, run_study
    cfg = {"name": "t", "seed": 0,
           "policies": [{"name": "pluggable-out", "policy": "copper-first",
                         "tier_policy": {"scaleout": "pluggable"}},
                        {"name": "microled-out", "policy": "copper-first",
                         "tier_policy": {"scaleout": "microled"}}],
           "workload": {"model": "llama3-8b", "gpus": 16, "tp": 8, "pp": 2, "global_batch": 4},
           "topology": {"preset": "dgx-h100-superpod"}}
    res = run_study(StudyConfig.model_validate(cfg))
    comp = res.comparison().set_index("policy")
    energy = res.runs["microled-out"].energy
    assert set(energy.loc[energy["tier"] != "scaleup", "tech"]) == {"microled"}
    assert comp.loc["microled-out", "network_power_w"] < comp.loc["pluggable-out",
                                                                   "network_power_w"]
    assert comp.loc["microled-out", "compute_s"] == pytest.approx(
        comp.loc["pluggable-out", "compute_s"], rel=1e-12)     # links change energy, not compute


def test_figure_style_comes_from_the_entry():
    from experiments.common import POLICY_STYLE, TECH_STYLE
    assert TECH_STYLE["microled"] == {"color": "#000000", "linestyle": "-", "marker": "X"}
    assert POLICY_STYLE["microled"] == TECH_STYLE["microled"]


TOY = registry.Technology(
    name="test-toy-optic", label="toy optic", description="a toy: the CPO rows under a new name",
    kind="optical-co-packaged", parts=("host-serdes", "driver", "external-laser", "photodiode",
                                       "tia"),
    module_key="tech.{t}.{rk}.engine_w", laser_key="tech.{t}.{rk}.laser_w",
    latency_key="tech.{t}.engine_latency", reach_key="tech.{t}.reach", table="cpo",
    policy="test-toy", copper_policy="copper-test-toy", color="#123456", marker="*")


def test_a_technology_registered_in_a_test_reaches_cli_policies_faults_and_figures():
    from experiments.common import TECH_STYLE
    from sim.fabric import build_topology
    from sim.faults import link_failures
    assert TOY.name not in technologies()
    with registry.registered(TOY):
        assert technologies()[-1] == TOY.name
        # CLI choices and help
        rc, out = _run(["link", "--help"])
        assert rc == 0 and "test-toy-optic" in out.replace("\n", " ")
        rc, out = _run(["topology", "info", "--help"])
        assert rc == 0 and "copper-test-toy" in " ".join(out.split())
        rc, out = _run(["link", "--list", "--json"])
        assert {"tech": TOY.name, "description": TOY.description} == {
            k: v for k, v in json.loads(out)[-1].items() if k != "lane_rates"}
        rc, out = _run(["link", "--tech", TOY.name, "--length", "10m", "--json"])
        toy, cpo = json.loads(out), resolve_link("cpo", 200e9, 10.0)
        assert rc == 0 and toy["port_power_w"] == cpo.port_power_w == pytest.approx(9.0)
        # policies: its own, its copper variant, and its bare name
        rc, out = _run(["topology", "info", "single-switch", "--gpus", "8", "--policy",
                        "test-toy", "--json"])
        assert rc == 0 and TOY.name in json.dumps(json.loads(out)["links_by_tier_tech"])
        topo = build_topology("leaf-spine", gpus=64, policy="copper-test-toy")
        assert TOY.name in set(topo.tech.astype(str))
        # fault rates: the CPO rows it reads
        links = link_failures(topo)
        toy_fit = links.loc[links["tech"] == TOY.name, "fit_per_end"]
        assert toy_fit.eq(resolve_link("cpo", 200e9, 10.0).failure["fit_per_end"]).all()
        # figure style
        assert TECH_STYLE[TOY.name] == {"color": "#123456", "linestyle": "-", "marker": "*"}
    assert TOY.name not in technologies() and "test-toy" not in registry.policies()
    rc, _ = _run(["link", "--tech", TOY.name, "--length", "10m"])
    assert rc == 2
