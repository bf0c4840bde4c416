"""A sweep killed with SIGKILL midway, rerun, gives the table of an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

CONFIG = """
[sweep]
task = "tests.sweep_tasks:slow_square"
seeds = [0, 1]
[sweep.grid]
x = [1, 2, 3, 4, 5]
sleep_s = [0.15]
"""


def _sweep(cfg: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sim", "sweep", str(cfg), "--out", str(out),
                             "--workers", "1", "--no-progress"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    cfg = tmp_path / "sweep.toml"
    cfg.write_text(CONFIG)
    killed = tmp_path / "killed"
    proc = _sweep(cfg, killed)
    deadline = time.time() + 60
    while time.time() < deadline and len(list((killed / "points").glob("*.json"))) < 3:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = len(list((killed / "points").glob("*.json")))
    assert 3 <= n_before < 10, "the kill must land midway"
    # no half-written point files under a final name
    assert not list((killed / "points").glob("*.json.tmp"))
    resumed = _sweep(cfg, killed)
    out, _ = resumed.communicate(timeout=120)
    assert resumed.returncode == 0
    assert f"{10 - n_before} computed now, {n_before} reused" in out.decode()
    clean = tmp_path / "clean"
    assert _sweep(cfg, clean).wait(timeout=120) == 0
    a = pd.read_parquet(killed / "sweep.parquet").drop(columns=["wall_s"])
    b = pd.read_parquet(clean / "sweep.parquet").drop(columns=["wall_s"])
    pd.testing.assert_frame_equal(a, b)
