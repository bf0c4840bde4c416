"""Progress bars of `cposim run` / `cposim figures`: they count the runtime's ops to the end,
appear only on a terminal (or when forced), `--quiet` silences them, and they change nothing."""

import io
import sys
import types

import pandas as pd
import pytest

import sim.study
from sim.cli import main
from sim.runtime import simulate
from sim.study import ProgressBars, StudyConfig, build_cluster, build_workload, run_study

SMALL = {
    "name": "p",
    "seed": 1,
    "policies": ["copper-first",
                 {"name": "cpo-out", "policy": "copper-first", "tier_policy": {"scaleout": "cpo"}}],
    "workload": {"model": "llama3-8b", "gpus": 16, "tp": 8, "pp": 2, "global_batch": 4},
    "topology": {"preset": "dgx-h100-superpod"},
    "timeline": False,
}
STUDY_TOML = """
name = "p"
seed = 1
policies = ["copper-first"]
fidelity = "analytical"
timeline = false
[workload]
model = "llama3-8b"
gpus = 16
tp = 8
pp = 2
global_batch = 4
[topology]
preset = "dgx-h100-superpod"
"""


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(fidelity: str, progress=None):
    cfg = StudyConfig.model_validate({**SMALL, "fidelity": fidelity})
    trace = build_workload(cfg)
    topo = build_cluster(cfg, "copper-first", trace.world_size)
    return simulate(trace, topo, fidelity=fidelity, seed=cfg.seed, progress=progress)


@pytest.mark.parametrize("fidelity", ["flow", "analytical"])
def test_callback_counts_every_op_and_changes_nothing(fidelity, monkeypatch):
    import sim.runtime.engine as engine

    # report on every op checked, so the throttled path is exercised too
    monkeypatch.setattr(engine, "PROGRESS_EVERY_OPS", 1)
    monkeypatch.setattr(engine, "PROGRESS_INTERVAL_S", 0.0)
    calls = []
    with_bar = _run(fidelity, progress=lambda done, total: calls.append((done, total)))
    plain = _run(fidelity)
    total = len(plain.ops)          # one row per op per rank class: what the runtime runs
    assert calls[0] == (0, total) and calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and len(calls) > 3
    # bit for bit: the hook only observes
    assert with_bar.iteration_s == plain.iteration_s
    assert with_bar.summary == plain.summary
    pd.testing.assert_frame_equal(with_bar.ops, plain.ops)
    pd.testing.assert_frame_equal(with_bar.classes, plain.classes)


def test_forced_bars_reach_100_percent_one_per_policy():
    out = io.StringIO()
    res = run_study(StudyConfig.model_validate({**SMALL, "fidelity": "analytical"}),
                    progress=ProgressBars(True, file=out, delay_s=0))
    text = out.getvalue()
    plain = run_study(StudyConfig.model_validate({**SMALL, "fidelity": "analytical"}))
    for name, run in res.runs.items():
        n = len(run.ops)
        assert f"{name} (ops): 100%" in text and f"{n}/{n}" in text
        assert run.summary == plain.runs[name].summary


def test_bars_only_on_a_terminal():
    cfg = StudyConfig.model_validate({**SMALL, "fidelity": "analytical",
                                      "policies": ["copper-first"]})
    tty, pipe = FakeTTY(), io.StringIO()
    run_study(cfg, progress=ProgressBars(file=tty, delay_s=0))
    run_study(cfg, progress=ProgressBars(file=pipe, delay_s=0))
    assert "copper-first (ops): 100%" in tty.getvalue()
    assert pipe.getvalue() == ""


def test_library_default_is_silent(capsys):
    run_study(StudyConfig.model_validate({**SMALL, "fidelity": "analytical",
                                          "policies": ["copper-first"]}))
    assert capsys.readouterr().err == ""


@pytest.fixture
def study_file(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text(STUDY_TOML)
    return path


def test_cposim_run_not_a_terminal_writes_nothing_to_stderr(study_file, tmp_path, capsys,
                                                            monkeypatch):
    monkeypatch.setattr(sim.study, "PROGRESS_DELAY_S", 0.0)
    assert main(["run", str(study_file), "--out", str(tmp_path / "out")]) == 0
    got = capsys.readouterr()
    assert got.err == "" and "copper-first" in got.out


@pytest.mark.parametrize("quiet", [False, True])
def test_cposim_run_on_a_terminal_and_quiet(study_file, tmp_path, capsys, monkeypatch, quiet):
    monkeypatch.setattr(sim.study, "PROGRESS_DELAY_S", 0.0)
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    argv = ["run", str(study_file), "--out", str(tmp_path / "out")] + (["--quiet"] * quiet)
    assert main(argv) == 0
    if quiet:
        assert tty.getvalue() == ""
    else:
        assert "copper-first (ops): 100%" in tty.getvalue()
    assert "copper-first" in capsys.readouterr().out      # the table is unchanged on stdout


@pytest.fixture
def fake_figure(monkeypatch):
    """A figure module that makes nothing, registered under `cposim figures fake`."""
    from experiments.common import FigureResult

    mod = types.ModuleType("_cposim_fake_figure")
    mod.run = lambda quick=False: FigureResult(name="fake", notes=["made nothing"])
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    import experiments

    monkeypatch.setitem(experiments.FIGURES, "fake", mod.__name__)   # the registry's own dict
    monkeypatch.setattr(sim.study, "PROGRESS_DELAY_S", 0.0)


@pytest.mark.parametrize("quiet", [False, True])
def test_cposim_figures_bar_on_a_terminal_and_quiet(fake_figure, tmp_path, capsys, monkeypatch,
                                                    quiet):
    tty = FakeTTY()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main(["figures", "fake", "--out", str(tmp_path)] + (["--quiet"] * quiet)) == 0
    if quiet:
        assert tty.getvalue() == ""
    else:
        assert "1/1" in tty.getvalue() and "100%" in tty.getvalue()
    out = capsys.readouterr().out
    assert "[fake] ->" in out and "note: made nothing" in out


def test_cposim_figures_not_a_terminal_writes_nothing_to_stderr(fake_figure, tmp_path, capsys):
    assert main(["figures", "fake", "--out", str(tmp_path)]) == 0
    got = capsys.readouterr()
    assert got.err == "" and "[fake] ->" in got.out
