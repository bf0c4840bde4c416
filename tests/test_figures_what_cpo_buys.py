"""what-cpo-buys: the --quick figure (GPT-3 175B, 1,024 GPUs): budgets buy bandwidth, more budget
never slows the iteration, the binding constraints and the printed typical-budget line."""

import pytest

from experiments import what_cpo_buys
from experiments.common import save
from sim.cli.figures import FIGURES


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    res = what_cpo_buys.run(quick=True)
    out = save(res, tmp_path_factory.mktemp("fig") / "what_cpo_buys")
    return res, out


def test_registered_and_written(quick):
    res, out = quick
    assert FIGURES["what-cpo-buys"] == "experiments.what_cpo_buys"
    for f in ("points.parquet", "typical.parquet", "laser_domains.parquet",
              "what_cpo_buys.pdf", "what_cpo_buys.png", "manifest.json"):
        assert (out / f).exists(), f


def test_more_budget_never_lowers_bandwidth_or_raises_iteration_time(quick):
    pts = quick[0].tables["points"]
    assert pts.feasible.all()
    for _, d in pts.groupby(["policy", "basis"]):
        d = d.sort_values("budget")
        assert d.bandwidth_bps.is_monotonic_increasing
        assert (d.iteration_s.diff().dropna() <= 1e-12).all()


def test_typical_budget_line(quick):
    res, _ = quick
    typ = res.tables["typical"].set_index("policy")
    # copper does not reach the scale-out cables: copper-first is the pluggable fabric
    assert typ.loc["copper-first", "bandwidth_bps"] == 400e9
    assert typ.loc["pluggable", "bandwidth_bps"] == 400e9
    assert typ.loc["copper-first", "binding"] == "power"
    # CPO's path costs 7.875 pJ/bit per hop vs 20.85: 2.65x the bandwidth before whole lanes
    assert typ.loc["cpo", "bound_power_bps"] / typ.loc["pluggable", "bound_power_bps"] == (
        pytest.approx(20.85 / 7.875))
    assert typ.loc["cpo", "bandwidth_bps"] == 1e12 and typ.loc["cpo", "planes"] == 5
    assert typ.loc["cpo", "speedup_vs_copper_first"] > 1.1
    assert 0.9 < typ.loc["cpo", "goodput"] <= 1
    line = next(n for n in res.notes if n.startswith("GPT-3 175B @ 1,024 GPUs, typical"))
    assert "cpo 1000G/GPU (P, 5 planes)" in line
    pts = res.tables["points"]
    assert set(pts.binding) <= {"power", "shoreline", "switch radix"}
    laser = res.tables["laser_domains"].set_index("source")
    assert laser.loc["fixed", "lanes_per_event"] > laser.loc["els", "lanes_per_event"]
