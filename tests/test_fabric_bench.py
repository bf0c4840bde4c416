"""Smoke test of the fabric benchmark script (speed itself is measured, never asserted)."""

from __future__ import annotations

import pandas as pd

from experiments import bench_fabric


def test_bench_quick_writes_results(tmp_path, capsys):
    assert bench_fabric.main(["--quick", "--out", str(tmp_path)]) == 0
    df = pd.read_parquet(tmp_path / "fabric.parquet")
    assert set(df["bench"]) >= {"maxmin_solve", "packet_events", "simpy_timeout_baseline"}
    assert (df.loc[df["bench"] == "maxmin_solve", "median_s"] > 0).all()
    assert (tmp_path / "fabric.manifest.json").exists()
    assert "events/s" in capsys.readouterr().out
