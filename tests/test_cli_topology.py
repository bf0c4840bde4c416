"""``cposim topology info|list``."""

from __future__ import annotations

import json

import pytest

from sim.cli import main


def info(capsys, *args):
    rc = main(["topology", "info", *args, "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


def test_info_json_counts_by_technology(capsys):
    s = info(capsys, "dgx-h100-superpod", "--gpus", "256")
    assert s["gpus"] == 256
    assert s["devices"] == {"gpu": 256, "switch": 32 + 8 + s["switches_by_tier"]["spine"]}
    # copper-first: NVLink copper in the node, optics between racks and rows
    assert s["links_by_tier_tech"]["scaleup"] == {"copper-dac": 256}
    assert set(s["links_by_tier_tech"]["spine"]) == {"pluggable-dsp"}
    for key in ("cable_length_m", "transceivers_per_gpu", "link_power_w", "links_by_tier"):
        assert key in s
    assert s["cable_length_m"]["min"] <= s["cable_length_m"]["median"] <= s["cable_length_m"]["max"]


def test_info_policy_and_tier_policy(capsys):
    s = info(capsys, "dgx-h100-superpod", "--gpus", "256", "--policy", "cpo")
    assert s["links_by_tech"] == {"cpo": s["cables"]}
    t = info(capsys, "dgx-h100-superpod", "--gpus", "256", "--tier-policy", "scaleout=cpo",
             "--tier-policy", "scaleup=copper-first")
    assert t["links_by_tier_tech"]["scaleup"] == {"copper-dac": 256}
    assert set(t["links_by_tier_tech"]["leaf"]) == {"cpo"}
    base = info(capsys, "dgx-h100-superpod", "--gpus", "256")
    assert t["link_power_w"] < base["link_power_w"]
    assert t["transceivers_per_gpu"] > 0


def test_info_set_and_text_output(capsys):
    rc = main(["topology", "info", "leaf-spine", "--gpus", "128", "--set", "oversubscription=4"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "128 GPUs" in out and "link power" in out and "cable length" in out


def test_list(capsys):
    assert main(["topology", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("dgx-h100-superpod", "gb200-nvl72", "nvl576-optical"):
        assert name in out


@pytest.mark.parametrize("args", [
    ["nope"],
    ["leaf-spine", "--policy", "magic"],
    ["leaf-spine", "--tier-policy", "basement=cpo"],
    ["leaf-spine", "--gpus", "0"],
    ["dgx-h100-superpod", "--gpus", "12"],
    ["leaf-spine", "--set", "warp=9"],
    ["leaf-spine", "--lane-rate", "fast"],
])
def test_bad_arguments_exit_2_with_one_line(capsys, args):
    assert main(["topology", "info", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err and "\n" not in err and "Traceback" not in err
