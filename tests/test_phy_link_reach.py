"""The link-reach figure in --quick mode: table, checks, and the results folder it writes."""

import json

import numpy as np
import pytest

from experiments import link_reach
from experiments.common import save
from sim.phy import technologies


@pytest.fixture(scope="module")
def result():
    return link_reach.run(quick=True)


def test_table_covers_every_technology_rate_and_the_length_range(result):
    df = result.tables["link_reach"]
    assert set(df.tech) == set(technologies())   # every registered technology
    assert set(df.lane_rate_bps) == {100e9, 200e9}
    assert df.length_m.min() == pytest.approx(0.1) and df.length_m.max() == pytest.approx(2000)
    for col in ("feasible", "loss_db", "energy_pj_per_bit", "latency_ns", "retimers"):
        assert col in df
    # infeasible rows carry no energy (they are not drawn)
    assert df.loc[~df.feasible, "energy_pj_per_bit"].isna().all()
    assert df.loc[df.feasible, "energy_pj_per_bit"].notna().all()


def test_copper_steps_are_in_the_table(result):
    df = result.tables["link_reach"]
    for (tech, rate), d in df[df.tech.str.startswith("copper")].groupby(["tech", "lane_rate_bps"]):
        d = d[d.feasible].sort_values("length_m")
        assert np.all(np.diff(d.energy_pj_per_bit.to_numpy()) >= 0), (tech, rate)
    aec = df[(df.tech == "copper-aec") & df.feasible]
    assert aec.energy_pj_per_bit.nunique() >= 3


def test_checks_reproduce_the_published_numbers(result):
    checks = {c.claim: c for c in result.checks}
    assert 2.0 <= checks["passive DAC reach at 100G/lane"].ours <= 3.5
    assert 0.8 <= checks["passive DAC reach at 200G/lane"].ours <= 1.5
    assert 40 <= checks["signal integrity 10^(dLoss/10) (Nvidia '63x')"].ours <= 100
    assert 3.2 <= checks["pluggable/CPO power at 1.6T (Nvidia '3.5x')"].ours <= 3.5
    assert 61 <= checks["optics power reduction CPO vs pluggable at 800G"].ours <= 66
    assert all(c.source for c in result.checks)


def test_save_writes_parquet_pdf_png_and_manifest(result, tmp_path):
    out = save(result, tmp_path / "link_reach")
    names = {p.name for p in out.iterdir()}
    assert {"link_reach.parquet", "link_reach.pdf", "link_reach.png", "manifest.json"} <= names
    man = json.loads((out / "manifest.json").read_text())
    assert man["cposim_version"] and "git_hash" in man
    params = {p["key"]: p for p in man["parameters"]}
    assert params["tech.cpo.200g.engine_w"]["source"] and params["tech.cpo.200g.engine_w"]["grade"]
    assert len(man["checks"]) == len(result.checks)
