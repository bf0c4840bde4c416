"""The picture of a study (`summary.png` / `summary.pdf` of `cposim run`): valid files, and the
bars are the study's numbers — the iteration's parts add up to its time, the energy segments
to the network energy per iteration."""

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.study import PolicyRun, StudyConfig, StudyResult, load_study, run_study

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_study(tmp_path_factory):
    """examples/small-study.toml at analytical fidelity, through `cposim run`."""
    tmp = tmp_path_factory.mktemp("fig")
    text = (ROOT / "examples" / "small-study.toml").read_text()
    assert 'fidelity = "flow"' in text
    cfg = tmp / "small.toml"
    cfg.write_text(text.replace('fidelity = "flow"', 'fidelity = "analytical"'))
    out = tmp / "out"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["run", str(cfg), "--out", str(out), "--no-timeline", "--quiet"]) == 0
    return cfg, out


def _bars(ax) -> np.ndarray:
    """(segment, policy) widths of a stacked horizontal bar chart: one BarContainer per
    segment, one bar per policy, checked to be stacked (each starts where the last ended)."""
    widths = np.array([[p.get_width() for p in c.patches] for c in ax.containers])
    lefts = np.array([[p.get_x() for p in c.patches] for c in ax.containers])
    assert np.allclose(lefts, np.vstack([np.zeros(widths.shape[1]),
                                         np.cumsum(widths, axis=0)[:-1]]), rtol=0, atol=1e-12)
    return widths


def test_cposim_run_writes_valid_png_and_pdf(small_study):
    _, out = small_study
    png, pdf = (out / "summary.png").read_bytes(), (out / "summary.pdf").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    import matplotlib.image

    img = matplotlib.image.imread(out / "summary.png")
    assert img.shape[0] > 300 and img.shape[1] > 600
    # written in the staging folder, swapped in whole: no temporary files left behind
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]


def test_bars_are_the_comparison_table(small_study):
    cfg, out = small_study
    comp = pd.read_parquet(out / "comparison.parquet")
    res = run_study(load_study(cfg))         # the same study in-process (deterministic)
    fig = res.plot()
    ax_it, ax_e = fig.axes[:2]
    assert (ax_it.get_gid(), ax_e.get_gid()) == ("iteration", "energy")
    names = list(comp["policy"])
    for ax in (ax_it, ax_e):
        assert [t.get_text() for t in ax.get_yticklabels()] == names

    it = _bars(ax_it)
    assert np.abs(it.sum(axis=0) - comp["iteration_s"].to_numpy()).max() <= 1e-9
    labels = [c.get_label() for c in ax_it.containers]
    assert labels[0] == "compute" and labels[-1] == "bubble"
    assert np.allclose(it[0], comp["compute_s"], rtol=0, atol=1e-12)
    assert np.allclose(it[-1], comp["bubble_s"], rtol=0, atol=1e-12)
    # every group with exposed time has its segment (the small study: tp, pp and dp)
    groups = [c[len("exposed_"):-2] for c in comp.columns
              if c.startswith("exposed_") and c != "exposed_comm_s" and comp[c].fillna(0).any()]
    assert {"tp", "dp"} <= set(groups)
    assert {f"exposed {g}" for g in groups} == set(labels[1:-1])
    assert np.allclose(it[1:-1].sum(axis=0), comp["exposed_comm_s"], rtol=0, atol=1e-9)

    e = _bars(ax_e)
    assert np.allclose(e.sum(axis=0), comp["network_energy_j"], rtol=1e-9, atol=0)
    energy = pd.read_parquet(out / "energy.parquet")
    want = {f"{r.tier}: {r.tech}" for r in energy.itertuples()}
    assert {c.get_label() for c in ax_e.containers} == want


def _run(summary: dict, energy: list[tuple[str, str, float]]) -> PolicyRun:
    e = pd.DataFrame(energy, columns=["tier", "tech", "energy_j"])
    return PolicyRun("x", {**summary, "network_energy_j": float(e["energy_j"].sum()),
                           "gpus": 8}, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), e, {})


def test_groups_missing_in_a_policy_and_unknown_groups_and_tiers():
    res = StudyResult(StudyConfig(name="synthetic"))
    res.runs["a"] = _run({"iteration_s": 1.0, "compute_s": 0.5, "exposed_tp_s": 0.25,
                          "exposed_comm_s": 0.25, "bubble_s": 0.25},
                         [("scaleup", "copper-dac", 10.0), ("leaf", "cpo", 5.0)])
    res.runs["b"] = _run({"iteration_s": 2.0, "compute_s": 0.5, "exposed_foo_s": 1.0,
                          "exposed_comm_s": 1.0, "bubble_s": 0.5},
                         [("scaleup", "copper-dac", 10.0), ("attic", "unobtainium", 7.0)])
    fig = res.plot()
    ax_it, ax_e = fig.axes[:2]
    it = _bars(ax_it)
    assert it.sum(axis=0).tolist() == [1.0, 2.0]
    assert [c.get_label() for c in ax_it.containers] == ["compute", "exposed tp",
                                                          "exposed foo", "bubble"]
    e = _bars(ax_e)
    assert e.sum(axis=0).tolist() == [15.0, 17.0]
    assert [c.get_label() for c in ax_e.containers] == ["scaleup: copper-dac", "leaf: cpo",
                                                         "attic: unobtainium"]


def test_one_policy_with_many_groups_keeps_its_layout(tmp_path):
    # SimAI's 9,216-GPU MoE example: one policy, six exposed groups, four tiers; the panels
    # were too short for their legends and constrained layout gave up (with a UserWarning)
    import warnings

    from sim.report.figure import save_study_figure

    groups = ["tp", "ep", "pp", "dp", "dp_ep"]
    summary = {"iteration_s": 10.0, "compute_s": 4.0, "bubble_s": 0.5,
               "exposed_comm_s": 5.5, **{f"exposed_{g}_s": 1.1 for g in groups}}
    res = StudyResult(StudyConfig(name="moe"))
    res.runs["copper-first"] = _run(summary, [("scaleup", "copper-dac", 2.0),
                                              ("leaf", "pluggable-dsp", 2.0),
                                              ("spine", "pluggable-dsp", 2.0),
                                              ("core", "pluggable-dsp", 1.0)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = res.plot()
        save_study_figure(res, tmp_path / "summary")
    for ax in fig.axes[:2]:
        assert ax.get_position().height > 0.05


def test_matplotlib_loads_only_when_a_figure_is_made():
    code = ("import sys, sim.study, sim.report, sim.report.figure\n"
            "print('matplotlib' in sys.modules)")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.strip()
    assert got == "False"
