"""Same config and seed -> identical results: a study run twice writes identical Parquet
tables, and a sweep gives the same table with 1 and with 2 workers."""

from __future__ import annotations

import pandas as pd
import pytest

from sim.study import StudyConfig, run_study, save_study
from sim.sweep import PointStore, expand, run_sweep

SMALL = {"name": "det", "seed": 3, "policies": ["pluggable", "cpo"], "timeline": False,
         "routing": "ecmp-hash",
         "workload": {"model": "llama3-8b", "gpus": 16, "tp": 8, "global_batch": 2},
         "topology": {"preset": "dgx-h100-superpod"}}
TABLES = ("comparison", "ops", "links", "classes", "energy")


def _study(out):
    return save_study(run_study(StudyConfig.model_validate(SMALL)), out)


def test_study_twice_gives_identical_parquet(tmp_path):
    a, b = _study(tmp_path / "a"), _study(tmp_path / "b")
    for name in TABLES:
        fa, fb = a / f"{name}.parquet", b / f"{name}.parquet"
        pd.testing.assert_frame_equal(pd.read_parquet(fa), pd.read_parquet(fb), check_exact=True)
        assert fa.read_bytes() == fb.read_bytes(), name


@pytest.mark.parametrize("task", ["sim.study:sweep_point"])
def test_sweep_same_with_one_and_two_workers(tmp_path, task):
    base = {k: v for k, v in SMALL.items() if k not in ("seed", "timeline")}
    points = expand({"policies": [["pluggable"], ["cpo"]], "routing": ["ecmp-hash", "ecmp-even"]},
                    seeds=[0, 1])
    one, two = PointStore(tmp_path / "one"), PointStore(tmp_path / "two")
    run_sweep(task, base, points, one, workers=1, progress=False)
    run_sweep(task, base, points, two, workers=2, progress=False)
    keys = [p.key for p in points]
    ta, tb = one.table(keys), two.table(keys)
    assert (ta["status"] == "ok").all(), ta.get("error")
    drop = [c for c in ta.columns if "wall" in c or c in ("worker", "pid", "host")]
    assert any(c.endswith("iteration_s") for c in ta.columns)        # results, not just status
    pd.testing.assert_frame_equal(ta.drop(columns=drop), tb.drop(columns=drop), check_exact=True)
