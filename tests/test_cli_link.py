"""``cposim link``: JSON, table, --list, overrides, and exit status 2 for bad values."""

import json
import subprocess
import sys

import pytest

from sim.cli import main
from sim.phy import technologies


def run(capsys, *argv):
    code = main(["link", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_has_the_promised_fields(capsys):
    code, out, _ = run(capsys, "--tech", "copper-dac", "--lane-rate", "100G", "--length",
                       "1.5m", "--json")
    assert code == 0
    d = json.loads(out)
    for key in ("tech", "lane_rate_bps", "lanes", "length_m", "loss_db", "serdes_class",
                "retimers", "feasible", "reason", "energy_pj_per_bit", "port_power_w",
                "latency_ns", "sources"):
        assert key in d
    assert d["tech"] == "copper-dac" and d["lane_rate_bps"] == 100e9 and d["length_m"] == 1.5
    assert d["lanes"] == 8 and d["capacity_Bps"] == 100e9
    assert d["feasible"] is True and d["reason"] is None and d["serdes_class"] == "lr"
    assert d["sources"]["serdes.lr.100g.energy"].endswith("[A]")


def test_out_of_reach_is_an_answer_not_an_error(capsys):
    code, out, _ = run(capsys, "--tech", "copper-dac", "--lane-rate", "200G", "--length",
                       "1.5m", "--json")
    assert code == 0
    d = json.loads(out)
    assert d["feasible"] is False and "LR budget" in d["reason"]
    assert d["energy_pj_per_bit"] is None and d["loss_db"] > 40


def test_readable_table(capsys):
    code, out, _ = run(capsys, "--tech", "cpo", "--length", "30 m")
    assert code == 0
    assert "feasible         yes" in out and "9 W per end" in out and "sources:" in out


def test_list(capsys):
    code, out, _ = run(capsys, "--list", "--json")
    assert code == 0
    techs = [row["tech"] for row in json.loads(out)]
    # every registered technology, in registry order (the built-ins' order: test_phy_registry)
    assert techs == technologies()
    assert techs[:6] == ["copper-dac", "copper-aec", "pluggable-dsp", "lpo", "cpo", "optical-io"]
    code, out, _ = run(capsys, "--list")
    assert code == 0 and "optical-io" in out


def test_param_and_config_overrides(capsys, tmp_path):
    code, out, _ = run(capsys, "--tech", "cpo", "--length", "1m", "--json",
                       "--param", "tech.cpo.200g.laser_w=3", "--param", "tech.cpo.200g.engine_w=7W")
    assert json.loads(out)["port_power_w"] == pytest.approx(10.0)
    cfg = tmp_path / "phy.toml"
    cfg.write_text('[phy]\n"tech.cpo.200g.laser_w" = "4 W"\n')
    code, out, _ = run(capsys, "--tech", "cpo", "--length", "1m", "--json", "--config", str(cfg))
    assert code == 0 and json.loads(out)["port_power_w"] == pytest.approx(11.0)


@pytest.mark.parametrize("argv, bad", [
    (["--tech", "copper-dca", "--length", "1m"], "copper-dca"),
    (["--tech", "cpo", "--length", "-1m"], "-1m"),
    (["--tech", "cpo", "--length", "-0.5 m"], "-0.5 m"),
    (["--tech", "cpo", "--length", "abc"], "abc"),
    (["--tech", "cpo", "--length", "1 s"], "1 s"),
    (["--tech", "cpo", "--length", "1m", "--lane-rate", "-200G"], "-200G"),
    (["--tech", "cpo", "--length", "1m", "--lane-rate", "fast"], "fast"),
    (["--tech", "cpo", "--length", "1m", "--lane-rate", "400G"], "400"),
    (["--tech", "cpo", "--length", "1m", "--param", "tech.cpo.200g.lazer_w=3"], "lazer_w"),
])
def test_bad_values_exit_2_with_one_line_naming_them(capsys, argv, bad):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and bad in err


def test_as_a_process():
    proc = subprocess.run([sys.executable, "-m", "sim", "link", "--tech", "copper-aec",
                           "--lane-rate", "200G", "--length", "3m", "--json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    d = json.loads(proc.stdout)
    assert d["feasible"] and d["retimers"] == 2
    proc = subprocess.run([sys.executable, "-m", "sim", "link", "--tech", "cpo", "--length",
                           "-3m"], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2 and "-3m" in proc.stderr and "Traceback" not in proc.stderr
