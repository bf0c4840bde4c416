"""A study's reliability columns: each policy's network interruptions and the job's goodput, as
sim.faults computes them, with the lasers packaged as the study says; and the sourced tables
refuse a row with a stray comma instead of dropping its tail."""

import math

import pytest

from sim.errors import CposimError
from sim.faults.els import job_goodput, network_interruptions
from sim.phy.parameters import read_sourced_csv
from sim.study import StudyConfig, build_cluster, run_study

STUDY = {
    "name": "rel",
    "fidelity": "analytical",
    "timeline": False,
    "policies": ["copper-first",
                 {"name": "cpo-out", "policy": "copper-first", "tier_policy": {"scaleout": "cpo"}}],
    "workload": {"model": "llama3-8b", "gpus": 256, "tp": 8, "pp": 2, "global_batch": 16},
    "topology": {"preset": "dgx-h100-superpod"},
}


@pytest.fixture(scope="module")
def runs():
    return {src: run_study(StudyConfig.model_validate({**STUDY, "laser_source": src}))
            for src in ("els", "fixed")}


def test_columns_are_sim_faults_numbers(runs):
    res = runs["els"]
    comp = res.comparison().set_index("policy")
    for name, spec in zip(comp.index, res.config.policies, strict=True):
        topo = build_cluster(res.config, spec, 256)
        net = network_interruptions(topo, "els")["interrupt_per_h"]
        job = job_goodput(net, 256)
        row = comp.loc[name]
        assert row["laser_source"] == "els"
        assert row["network_interrupts_per_day"] == pytest.approx(24 * net, rel=1e-12)
        assert row["job_interrupts_per_day"] == pytest.approx(24 * job["interrupt_per_h"])
        assert row["goodput"] == pytest.approx(job["goodput"], rel=1e-12)
        assert 0 < row["goodput"] < 1
        assert row["useful_iteration_s"] == pytest.approx(row["iteration_s"] / row["goodput"])
        assert row["cluster_usd_per_useful_iteration"] == pytest.approx(
            row["cluster_usd_per_iteration"] / row["goodput"])


def test_laser_packaging_moves_cpo_and_leaves_copper_alone(runs):
    els = runs["els"].comparison().set_index("policy")
    fixed = runs["fixed"].comparison().set_index("policy")
    col = "network_interrupts_per_day"
    # copper-first's scale-out optics are pluggables: no external lasers, no difference
    assert fixed.loc["copper-first", col] == els.loc["copper-first", col]
    # CPO: the laser share of the interruptions is counted per packaging (sim.faults.els):
    # fixed lasers have no source modules to fail, but one laser takes a whole leaf's links
    from sim.faults.els import laser_domains

    topo = build_cluster(runs["els"].config, runs["els"].config.policies[1], 256)
    d_els, d_fixed = laser_domains(topo, "els"), laser_domains(topo, "fixed")
    assert (fixed.loc["cpo-out", col] - els.loc["cpo-out", col]) == pytest.approx(
        24 * (d_fixed.interrupts_per_h - d_els.interrupts_per_h), rel=1e-9)
    assert fixed.loc["cpo-out", col] != els.loc["cpo-out", col]
    # the iteration itself does not depend on how lasers are packaged
    assert fixed.loc["cpo-out", "iteration_s"] == els.loc["cpo-out", "iteration_s"]


def test_unknown_laser_source_names_the_field(tmp_path):
    from sim.study import load_study

    p = tmp_path / "s.toml"
    p.write_text('laser_source = "led"\n')
    with pytest.raises(CposimError) as e:
        load_study(p)
    assert e.value.field == "laser_source"


def test_a_stray_comma_is_an_error_naming_the_line(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("key,value,unit,source,grade,note\n"
                 "a.b,1,h,somewhere,C,fine\n"
                 "c.d,2,h,somewhere,C,a note, with a comma\n")
    with pytest.raises(CposimError) as e:
        read_sourced_csv(p, {"h"}, lambda text, unit, key: (float(text), float(text)))
    assert e.value.line == 3 and "quote" in str(e.value)


def test_goodput_is_one_without_failures():
    assert math.isclose(job_goodput(0.0, 0)["goodput"], 1.0)
