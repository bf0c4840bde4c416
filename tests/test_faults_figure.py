"""The reliability figure in quick mode: table shape, orderings, and its printed checks."""

from __future__ import annotations

import pytest

from experiments import reliability


@pytest.fixture(scope="module")
def result():
    return reliability.run(quick=True)


def test_table_covers_every_policy_and_size(result):
    df = result.tables["reliability"]
    assert set(df["policy"]) == set(reliability.POLICIES)
    assert sorted(df["gpus"].unique()) == sorted(reliability.QUICK_SIZES)
    assert (df["goodput"] > 0).all() and (df["goodput"] < df["goodput_no_network"]).all()


def test_cpo_interrupts_less_and_keeps_more_goodput(result):
    df = result.tables["reliability"].set_index(["policy", "gpus"])
    for n in reliability.QUICK_SIZES:
        assert df.loc[("cpo", n), "interrupt_per_day"] < df.loc[("lpo", n), "interrupt_per_day"]
        assert df.loc[("lpo", n), "interrupt_per_day"] < df.loc[("pluggable", n), "interrupt_per_day"]
        assert df.loc[("cpo", n), "goodput"] > df.loc[("pluggable", n), "goodput"]


def test_extrapolated_sizes_keep_the_per_gpu_rate(result):
    df = result.tables["reliability"]
    for _, s in df.groupby("policy"):
        big = s[s["gpus"] >= 4096]        # 3 tiers: one NIC link + 1/32 leaf per GPU
        assert big["interrupt_per_day_per_1k_gpus"].nunique() == 1 or (
            big["interrupt_per_day_per_1k_gpus"].max()
            == pytest.approx(big["interrupt_per_day_per_1k_gpus"].min(), rel=1e-9))
        assert not s.loc[s["gpus"] == 131072, "built"].any()    # quick: extrapolated


def test_checks(result):
    checks = {c.claim.split(":")[0]: c for c in result.checks}
    llama = result.checks[0]
    assert 0.7 <= llama.ratio <= 1.3
    mc = [c for c in result.checks if c.claim.startswith("goodput: Monte Carlo")][0]
    assert mc.ratio == pytest.approx(1.0, abs=0.01)
    lasers = [c for c in result.checks if c.claim.startswith("scale-out lasers")][0]
    assert lasers.ours == pytest.approx(4.0)
    assert checks and "reliability" in result.figures
