"""Smoke test of the benchmark suite (``--quick``): it runs, prints and writes its table.
No timing assertions (speed is measured by ``python -m experiments.perf``)."""

import pandas as pd

from experiments import perf
from sim.cli import main as cli_main


def test_quick_suite_writes_every_case(tmp_path, capsys):
    cases = ("ring-ar-4096,gpt3-16384-analytical,gpt3-1024-flow,solve-8192,packet,"
             "equal-ring-ar-1024,equal-straggler-gpt3-1024-analytical")
    assert perf.main(["--quick", "--cases", cases, "--out", str(tmp_path)]) == 0
    df = pd.read_parquet(tmp_path / "perf.parquet")
    assert df["case"].tolist() == cases.split(",")
    assert (df["status"] == "ok").all()
    for col in ("wall_median_s", "sim_events", "maxmin_solves", "peak_rss_bytes", "cpu",
                "cores", "python", "numpy", "target"):
        assert col in df.columns
    ring = df.set_index("case").loc["ring-ar-4096"]
    assert ring["maxmin_solves"] >= 1 and ring["sim_events"] >= 1
    assert ring["sim_time_s"] > 0
    # the speed-ups change no result (64-GPU ring all-reduce, with and without)
    assert df.set_index("case").loc["equal-ring-ar-1024", "max_rel_diff"] <= 1e-9
    # with a straggler, grouped + replayed against one control loop per rank (128 GPUs)
    assert df.set_index("case").loc["equal-straggler-gpt3-1024-analytical",
                                    "max_rel_diff"] <= 1e-9
    out = capsys.readouterr().out
    assert "machine:" in out and "ring-ar-4096" in out
    assert (tmp_path / "perf.manifest.json").exists()


def test_cposim_bench_cli_and_bad_case(tmp_path, capsys):
    assert cli_main(["bench", "--quick", "--cases", "ring-ar-1024", "--out", str(tmp_path)]) == 0
    assert "ring-ar-1024" in capsys.readouterr().out
    assert cli_main(["bench", "--quick", "--cases", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown case" in capsys.readouterr().err


def test_quick_suite_times_whole_commands(tmp_path):
    """cmd-* cases run the command a user types in a fresh process: wall time and that
    process's own peak RSS; the collective counts beyond the interpreter's start-up."""
    cases = "cmd-python-startup,cmd-link,cmd-collective-16384,mixtral-4096-flow"
    assert perf.main(["--quick", "--cases", cases, "--out", str(tmp_path)]) == 0
    df = pd.read_parquet(tmp_path / "perf.parquet").set_index("case")
    assert (df["status"] == "ok").all()
    link = df.loc["cmd-link"]
    assert " link --tech cpo" in link["command"] and link["peak_rss_bytes"] > 10e6
    coll = df.loc["cmd-collective-16384"]
    assert "--gpus 1024" in coll["command"]          # the quick size
    assert coll["startup_s"] == df.loc["cmd-python-startup", "wall_median_s"] > 0
    assert coll["wall_median_s"] > coll["startup_s"]
    assert df.loc["mixtral-4096-flow", "sim_time_s"] > 0
