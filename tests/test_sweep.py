"""Sweeps: grid expansion, failure isolation, resume, and backend independence."""

import pandas as pd
import pytest

from sim.errors import CposimError
from sim.sweep import PointStore, apply_overrides, expand, run_sweep

TASK = "tests.sweep_tasks:square"


def test_grid_crosses_axes_and_seeds():
    pts = expand({"x": [1, 2, 3], "offset": [0, 10]}, seeds=[0, 1])
    assert len(pts) == 12
    assert len({p.key for p in pts}) == 12
    assert expand({"x": [1, 2, 3], "offset": [0, 10]}, seeds=[0, 1]) == pts  # deterministic


@pytest.mark.parametrize("axes,seeds", [({"x": []}, [0]), ({"x": 3}, [0]), ({"x": [1]}, []),
                                        ({"x": [1]}, [-1]), ([1], [0])])
def test_bad_grids_are_clear_errors(axes, seeds):
    with pytest.raises(CposimError):
        expand(axes, seeds)


def test_dotted_overrides_do_not_touch_the_base():
    base = {"topology": {"gpus": 8}}
    out = apply_overrides(base, {"topology.gpus": 16, "new.key": 1})
    assert out == {"topology": {"gpus": 16}, "new": {"key": 1}}
    assert base == {"topology": {"gpus": 8}}


def test_failed_point_is_recorded_and_others_run(tmp_path):
    pts = expand({"x": [1, "boom", 3]}, seeds=[0])
    store = PointStore(tmp_path)
    run_sweep(TASK, {}, pts, store, workers=1, progress=False)
    df = store.table([p.key for p in pts])
    assert list(df["status"]) == ["ok", "failed", "ok"]
    assert "boom" in df["error"].iloc[1]
    assert list(df["y"].dropna()) == [1.0, 9.0]


def test_resume_computes_only_missing_points(tmp_path):
    pts = expand({"x": [1, 2, 3, 4]}, seeds=[0, 1])
    store = PointStore(tmp_path)
    first = run_sweep(TASK, {}, pts[:3], store, workers=1, progress=False)
    assert len(first) == 3
    second = run_sweep(TASK, {}, pts, store, workers=1, progress=False)
    assert sorted(second) == sorted(p.key for p in pts[3:])
    full = PointStore(tmp_path / "fresh")
    run_sweep(TASK, {}, pts, full, workers=1, progress=False)
    cols = ["point_key", "x", "seed", "y", "noise", "status"]
    pd.testing.assert_frame_equal(store.table([p.key for p in pts])[cols],
                                  full.table([p.key for p in pts])[cols])


def test_process_pool_equals_serial(tmp_path):
    pts = expand({"x": [1, 2, 3, 4], "offset": [0, 1]}, seeds=[0, 7])
    a, b = PointStore(tmp_path / "a"), PointStore(tmp_path / "b")
    run_sweep(TASK, {}, pts, a, workers=1, progress=False)
    run_sweep(TASK, {}, pts, b, workers=2, progress=False)
    keys = [p.key for p in pts]
    cols = ["point_key", "x", "offset", "seed", "y", "noise", "status"]
    pd.testing.assert_frame_equal(a.table(keys)[cols], b.table(keys)[cols])


def test_dask_local_cluster_equals_process_pool(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    pts = expand({"x": [1, 2, 3, 4], "offset": [0, 1]}, seeds=[0])
    keys = [p.key for p in pts]
    a = PointStore(tmp_path / "pool")
    run_sweep(TASK, {}, pts, a, workers=2, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        b = PointStore(tmp_path / "dask")
        run_sweep(TASK, {}, pts, b, scheduler=cluster.scheduler_address, progress=False)
    cols = ["point_key", "x", "offset", "seed", "y", "noise", "status"]
    pd.testing.assert_frame_equal(a.table(keys)[cols], b.table(keys)[cols])


def test_study_sweep_on_dask_equals_process_pool(tmp_path):
    """>= 8 real study points: Dask LocalCluster and the process pool give the same table."""
    distributed = pytest.importorskip("dask.distributed")
    from sim.config import load_toml

    cfg = load_toml("examples/sweep-scaleout.toml")
    sweep = cfg.pop("sweep")
    pts = expand(sweep["grid"], sweep["seeds"])
    assert len(pts) >= 8
    keys = [p.key for p in pts]
    a = PointStore(tmp_path / "pool")
    run_sweep("sim.study:sweep_point", cfg, pts, a, workers=2, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        b = PointStore(tmp_path / "dask")
        run_sweep("sim.study:sweep_point", cfg, pts, b, scheduler=cluster.scheduler_address,
                  progress=False)
    ta, tb = a.table(keys).drop(columns=["wall_s"]), b.table(keys).drop(columns=["wall_s"])
    assert (ta["status"] == "ok").all(), ta["error"].tolist()
    pd.testing.assert_frame_equal(ta, tb)
    # the scale-out policy changes network power (copper-first = pluggable here: every
    # scale-out cable is beyond copper reach), not the iteration's compute
    by = ta.set_index(["topology.tier_policy.scaleout", "workload.global_batch"])
    power = by["copper-first.network_power_w"]
    assert power[("cpo", 32)] < power[("lpo", 32)] < power[("pluggable", 32)]
    assert power[("copper-first", 32)] == power[("pluggable", 32)]
    assert by["copper-first.compute_s"].xs(32, level=1).nunique() == 1


def test_tidy_table_has_one_row_per_point_and_policy():
    from sim.sweep import tidy

    wide = pd.DataFrame([
        {"point_key": "a", "workload.global_batch": 32, "seed": 0, "cpo.iteration_s": 1.0,
         "cpo.network_power_w": 5.0, "copper.first.iteration_s": 1.1,
         "copper.first.network_power_w": 8.0, "status": "ok", "error": "", "wall_s": 0.1},
        {"point_key": "b", "workload.global_batch": 64, "seed": 0, "status": "failed",
         "error": "boom", "wall_s": 0.2}])
    t = tidy(wide, ["workload.global_batch"])
    assert list(t.columns) == ["point_key", "workload.global_batch", "seed", "policy",
                               "iteration_s", "network_power_w", "status", "error", "wall_s"]
    assert len(t) == 3
    ok = t[t["status"] == "ok"].set_index("policy")
    assert ok.loc["copper.first", "network_power_w"] == 8.0    # a dotted policy name
    assert ok.loc["cpo", "iteration_s"] == 1.0
    assert (ok["workload.global_batch"] == 32).all()
    failed = t[t["status"] == "failed"]
    assert len(failed) == 1 and failed["policy"].isna().all() and failed["error"].item() == "boom"
    # every wide value lands in exactly one tidy cell
    assert t[["iteration_s", "network_power_w"]].notna().sum().sum() == 4


def test_cposim_sweep_writes_the_tidy_table(tmp_path):
    from sim.cli import main

    cfg = tmp_path / "sw.toml"
    cfg.write_text('name = "tiny"\nfidelity = "analytical"\npolicies = ["copper-first", "cpo"]\n'
                   '[workload]\nmodel = "llama3-8b"\ngpus = 16\ntp = 8\npp = 2\n'
                   '[sweep]\nseeds = [0]\n[sweep.grid]\n"workload.global_batch" = [4, 8]\n')
    assert main(["sweep", str(cfg), "--out", str(tmp_path / "o"), "--workers", "1",
                 "--no-progress"]) == 0
    wide = pd.read_parquet(tmp_path / "o" / "sweep.parquet")
    t = pd.read_parquet(tmp_path / "o" / "sweep_tidy.parquet")
    assert len(t) == 2 * 2 and set(t["policy"]) == {"copper-first", "cpo"}
    for _, r in t.iterrows():
        w = wide[wide["point_key"] == r["point_key"]].iloc[0]
        assert r["iteration_s"] == w[f"{r['policy']}.iteration_s"]
        assert r["workload.global_batch"] == w["workload.global_batch"]
