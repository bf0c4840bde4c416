"""broadcom-meta in --quick mode: 61-66 % from 14-16 W vs 5.5 W, per port and per switch."""

import pytest

from experiments import broadcom_meta
from experiments.common import save


@pytest.fixture(scope="module")
def result():
    return broadcom_meta.run(quick=True)


def _ours(result, prefix):
    return next(c for c in result.checks if c.claim.startswith(prefix)).ours


def test_acceptance_61_to_66_percent(result):
    lo = _ours(result, "optics power reduction, 14 W")
    hi = _ours(result, "optics power reduction, 16 W")
    mid = _ours(result, "optics power reduction at 15 W")
    assert lo == pytest.approx(100 * (1 - 5.5 / 14))        # hand calculation: 60.7 %
    assert hi == pytest.approx(100 * (1 - 5.5 / 16))        # 65.6 %
    assert 60.5 <= lo < mid < hi <= 66.0
    assert round(lo) == 61 and round(hi) == 66


def test_switch_is_64_ports_of_the_port_numbers(result):
    sw = result.tables["switch"].set_index("tech")
    ports = result.tables["ports"]
    for tech in ("pluggable-dsp", "lpo", "cpo"):
        p = ports[(ports.tech == tech) & (ports.lane_rate_bps == 100e9)
                  & (ports.variant == "default")].iloc[0]
        assert sw.loc[tech, "ports"] == 64
        assert sw.loc[tech, "switch_bps"] == pytest.approx(51.2e12)
        assert sw.loc[tech, "optics_power_w"] == pytest.approx(64 * p.port_power_w)
        assert sw.loc[tech, "transceivers"] == pytest.approx(64)


def test_davisson_rounding(result):
    pct = _ours(result, "1.6T (200G/lane) reduction")
    x = _ours(result, "1.6T pluggable/CPO power per bit")
    assert pct == pytest.approx(100 * (1 - 1 / x))
    assert pct == pytest.approx(70.0) and x < 3.5        # 70 % is 3.33x, not >3.5x


def test_results_folder(result, tmp_path):
    out = save(result, tmp_path / "broadcom_meta")
    assert {"ports.parquet", "switch.parquet", "broadcom_meta.pdf", "broadcom_meta.png",
            "manifest.json"} <= {p.name for p in out.iterdir()}
