"""Studies (`cposim run`): reports load, the manifest is complete, results are deterministic."""

import json

import pandas as pd
import pytest

from sim.cli import main
from sim.errors import CposimError
from sim.study import StudyConfig, load_study, run_study, save_study

SMALL = {
    "name": "t",
    "seed": 3,
    "policies": ["copper-first",
                 {"name": "cpo-out", "policy": "copper-first", "tier_policy": {"scaleout": "cpo"}}],
    "workload": {"model": "llama3-8b", "gpus": 16, "tp": 8, "pp": 2, "global_batch": 4},
    "topology": {"preset": "dgx-h100-superpod"},
}


@pytest.fixture(scope="module")
def study_dirs(tmp_path_factory):
    out = []
    for i in range(2):
        res = run_study(StudyConfig.model_validate(SMALL))
        out.append(save_study(res, tmp_path_factory.mktemp(f"run{i}") / "t"))
    return out


def test_reports_load_and_manifest_lists_every_parameter_with_source(study_dirs):
    d = study_dirs[0]
    comp = pd.read_parquet(d / "comparison.parquet")
    assert list(comp["policy"]) == ["copper-first", "cpo-out"]
    for name in ("ops", "classes", "links", "energy"):
        df = pd.read_parquet(d / f"{name}.parquet")
        assert len(df) > 0 and set(df["policy"]) == {"copper-first", "cpo-out"}
    man = json.loads((d / "manifest.json").read_text())
    params = man["parameters"]
    assert len(params) > 100
    assert all(p.get("source") and p.get("grade") for p in params)
    assert man["seed"] == 3
    assert man["git_hash"] is None or isinstance(man["git_hash"], str)
    fabric = man["topologies"]["cpo-out"]["fabric_parameters"]
    assert {p["key"] for p in fabric} >= {"fabric.switch_latency_s", "fabric.geometry.row_pitch_m"}
    assert all(p["source"] for p in fabric)
    gpu = man["workload"]["gpu"]
    assert gpu["source"] and gpu["peak_flops"] > 0
    timeline = json.loads((d / "timeline_cpo-out.json").read_text())
    assert any(e["ph"] == "X" for e in timeline["traceEvents"])


def test_same_seed_gives_identical_parquet(study_dirs):
    a, b = study_dirs
    for f in sorted(p.name for p in a.glob("*.parquet")):
        pd.testing.assert_frame_equal(pd.read_parquet(a / f), pd.read_parquet(b / f), obj=f)


def test_policy_changes_energy_not_compute(study_dirs):
    comp = pd.read_parquet(study_dirs[0] / "comparison.parquet").set_index("policy")
    assert comp.loc["cpo-out", "compute_s"] == comp.loc["copper-first", "compute_s"]
    # scale-out CPO ports (9 W per 1.6T-class port) draw less than DSP pluggables
    assert comp.loc["cpo-out", "network_power_w"] < comp.loc["copper-first", "network_power_w"]
    e = pd.read_parquet(study_dirs[0] / "energy.parquet")
    cpo = e[e["policy"] == "cpo-out"]
    assert set(cpo.loc[cpo["tier"] != "scaleup", "tech"]) == {"cpo"}
    # energy per iteration = power x iteration time (ports draw power busy or idle)
    for pol, row in comp.iterrows():
        assert row["network_energy_j"] == pytest.approx(row["network_power_w"]
                                                        * row["iteration_s"], rel=1e-12)


def test_bad_study_configs_name_the_field(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\npolicy = ["cpo"]\n')
    with pytest.raises(CposimError, match="policy"):
        load_study(bad)
    bad.write_text('name = "x"\n[workload]\nmodel = "gpt3-175b"\ngpus = 64\nbogus = 1\n')
    with pytest.raises(CposimError, match="workload.bogus"):
        run_study(load_study(bad), str(bad))


def test_cposim_run_cli(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text("""
name = "cli"
policies = ["copper-first", "cpo"]
fidelity = "analytical"
[workload]
model = "llama3-8b"
gpus = 16
tp = 8
pp = 2
global_batch = 4
""")
    assert main(["run", str(cfg), "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "copper-first" in text and "cpo" in text and "speed-up" in text
    assert (tmp_path / "out" / "comparison.parquet").exists()


def test_paths_in_a_study_file_are_read_from_its_folder(tmp_path, monkeypatch):
    """`trace = "wl.txt"` means the file beside the study file, whatever the working
    directory; absolute paths and preset names are left alone."""
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "wl.txt").write_text("DATA\n1\nconv -1 5 NONE 0 5 NONE 0 5 ALLREDUCE 4096 1\n")
    cfg = folder / "s.toml"
    cfg.write_text('name = "rel"\nfidelity = "analytical"\npolicies = ["copper-first"]\n'
                   '[workload]\ntrace = "wl.txt"\nworld_size = 8\n'
                   '[topology]\npreset = "leaf-spine"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_study(cfg)
    assert loaded.workload.trace == str(folder / "wl.txt")
    assert loaded.topology.preset == "leaf-spine"
    res = run_study(loaded, str(cfg))
    assert res.comparison()["iteration_s"].iloc[0] > 0
    from sim.config import resolve_paths

    assert resolve_paths({"workload": {"trace": "/abs/x.txt"}}, folder)["workload"]["trace"] \
        == "/abs/x.txt"
    assert resolve_paths({"topology": {"preset": "my.toml"}}, folder)["topology"]["preset"] \
        == str(folder / "my.toml")
