"""nvidia-power through ``cposim figures nvidia-power --quick``: transceivers counted in the
built fat-tree, MW and ratio, read back from what the CLI printed and wrote."""

import contextlib
import io
import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sim.cli import main


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    out = tmp_path_factory.mktemp("figs")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(["figures", "nvidia-power", "--quick", "--json", "--out", str(out)])
    assert rc == 0
    report = json.loads(buf.getvalue())
    folder = out / "nvidia_power"
    tables = {p.stem: pd.read_parquet(p) for p in folder.glob("*.parquet")}
    checks = [SimpleNamespace(**c) for c in report["checks"]]
    return SimpleNamespace(report=report, folder=folder, tables=tables, checks=checks)


def _check(result, prefix):
    return next(c for c in result.checks if c.claim.startswith(prefix))


def test_acceptance_six_per_gpu_and_ratio(result):
    per = _check(result, "optical transceivers per GPU").ours
    assert 5.0 <= per <= 7.0                      # Nvidia's six transceivers per GPU, +-1
    ratio = _check(result, "pluggable/CPO optics power").ours
    assert 3.2 <= ratio <= 3.5
    plug = _check(result, "scale-out optics, 400k GPUs, pluggable").ours
    cpo = _check(result, "scale-out optics, 400k GPUs, CPO").ours
    assert plug == pytest.approx(72, rel=0.1) and cpo == pytest.approx(21.6, rel=0.1)
    assert ratio == pytest.approx(plug / cpo)


def test_full_pods_give_two_transceivers_per_cable_level(result):
    # a non-blocking fat-tree with every cable optical: 2 ends x (number of tiers) per GPU
    conv = result.tables["transceivers"]
    two = conv[conv.tiers == 2]
    assert np.allclose(two.transceivers_per_gpu, 4.0)
    full = conv[(conv.tiers == 3) & (conv.gpus == 4608)]     # one pod, not full: still 6
    assert full.transceivers_per_gpu.iloc[0] == pytest.approx(6.0)
    # a partly filled pod keeps its full spine uplinks: never fewer than 6
    assert (conv[conv.tiers == 3].transceivers_per_gpu >= 6.0 - 1e-9).all()


def test_power_is_transceivers_times_port_power(result):
    p = result.tables["power"]
    plug = p[p.scenario == "pluggable"]
    cpo = p[p.scenario == "cpo"]
    assert plug.module_power_w.sum() == pytest.approx(30.0 * plug.transceivers.sum())
    assert cpo.module_power_w.sum() == pytest.approx(9.0 * cpo.transceivers.sum())
    # switch-side only: NIC ends (one per GPU) stay at 30 W
    mixed = p[p.scenario == "switch-cpo"].module_power_w.sum()
    n = plug.gpus.iloc[0]
    assert mixed == pytest.approx(9.0 * (plug.transceivers.sum() - n) + 30.0 * n)
    # every tier is optical and within the CPO reach
    assert set(cpo.techs) == {"cpo"} and set(plug.techs) == {"pluggable-dsp"}
    assert plug.max_length_m.max() <= 500.0


def test_results_folder(result):
    out = result.folder
    names = {p.name for p in out.iterdir()}
    assert {"transceivers.parquet", "power.parquet", "nvidia_power.pdf", "nvidia_power.png",
            "manifest.json"} <= names
    man = json.loads((out / "manifest.json").read_text())
    assert any(c["claim"].startswith("optical transceivers") for c in man["checks"])
