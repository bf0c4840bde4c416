"""signal-integrity in --quick mode: the loss budget adds up and gives Nvidia's ~63x."""

import math

import numpy as np
import pytest

from experiments import signal_integrity
from experiments.common import save
from sim.phy import resolve_link


@pytest.fixture(scope="module")
def result():
    return signal_integrity.run(quick=True)


def test_acceptance_ratio_40_to_100(result):
    c = next(c for c in result.checks if "63x" in c.claim)
    assert 40 <= c.ours <= 100
    # 63x is the 18 dB difference as a power ratio
    assert 10 ** (18 / 10) == pytest.approx(63.1, abs=0.05)


def test_budget_parts_add_up_to_the_link_model(result):
    b = result.tables["loss_budget"]
    for rate in (100e9, 200e9):
        d = b[b.lane_rate_bps == rate]
        for tech, path in (("pluggable-dsp", "pluggable"), ("cpo", "cpo")):
            total = d[d.path == path].loss_db.sum()
            assert total == pytest.approx(resolve_link(tech, rate, 5.0).loss_db, abs=1e-6)
        assert (d.loss_db > 0).all()
    tot = b.groupby(["lane_rate_bps", "path"]).loss_db.sum()
    assert tot[(200e9, "pluggable")] == pytest.approx(22.0, abs=0.5)
    assert tot[(200e9, "cpo")] == pytest.approx(4.0, abs=0.5)
    # loss grows with frequency: every path loses more at 200G than at 100G
    assert tot[(200e9, "pluggable")] > tot[(100e9, "pluggable")]
    assert tot[(200e9, "cpo")] > tot[(100e9, "cpo")]


def test_pcb_sweep_is_monotone_and_log_linear(result):
    s = result.tables["pcb_sweep"]
    assert np.all(np.diff(s.ratio) > 0)
    assert np.allclose(s.cpo_db, s.cpo_db.iloc[0])          # CPO has no host PCB
    # dB grows linearly with length, so the ratio is exponential in length
    slope = np.diff(s.delta_db) / np.diff(s.host_pcb_in)
    assert np.allclose(slope, slope[0])
    at7 = s[np.isclose(s.host_pcb_in, 7.0)]
    assert math.isclose(at7.ratio.iloc[0], 10 ** (at7.delta_db.iloc[0] / 10))


def test_results_folder(result, tmp_path):
    out = save(result, tmp_path / "signal_integrity")
    assert {"loss_budget.parquet", "signal_integrity.pdf", "signal_integrity.png",
            "manifest.json"} <= {p.name for p in out.iterdir()}
