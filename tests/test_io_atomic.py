"""Results are written atomically: a crash never leaves a half-written file that looks complete."""

import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from sim import io


def test_crash_mid_parquet_write_leaves_no_final_file(tmp_path, monkeypatch):
    target = tmp_path / "table.parquet"
    df = pd.DataFrame({"x": range(1000)})

    def half_then_crash(self, path, **kw):
        with open(path, "wb") as fh:
            fh.write(b"PAR1" + b"\0" * 100)  # a truncated Parquet file
        raise RuntimeError("crash mid-write")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_then_crash)
    with pytest.raises(RuntimeError):
        io.write_parquet(df, target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # the temporary file is cleaned up too


def test_crash_keeps_the_previous_complete_file(tmp_path, monkeypatch):
    target = tmp_path / "table.parquet"
    io.write_parquet(pd.DataFrame({"x": [1, 2, 3]}), target)
    monkeypatch.setattr(pd.DataFrame, "to_parquet",
                        lambda self, p, **kw: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        io.write_parquet(pd.DataFrame({"x": [9]}), target)
    monkeypatch.undo()
    assert pd.read_parquet(target)["x"].tolist() == [1, 2, 3]


def test_result_dir_is_swapped_in_whole_or_not_at_all(tmp_path):
    out = tmp_path / "study"
    with io.ResultDir(out) as rd:
        pd.DataFrame({"a": [1]}).to_parquet(rd / "a.parquet")
    with pytest.raises(ValueError), io.ResultDir(out) as rd:
        pd.DataFrame({"a": [2]}).to_parquet(rd / "a.parquet")
        raise ValueError("crash before the folder was complete")
    assert pd.read_parquet(out / "a.parquet")["a"].tolist() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["study"]


def test_sigkill_during_write_never_leaves_a_final_file(tmp_path):
    # a real process killed with SIGKILL while it writes a big table, many times over
    script = textwrap.dedent(f"""
        import numpy as np, pandas as pd
        from sim import io
        df = pd.DataFrame({{"x": np.arange(3_000_000)}})
        for i in range(1000):
            io.write_parquet(df, r"{tmp_path}/t%d.parquet" % i)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    import time

    time.sleep(2.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finals = sorted(tmp_path.glob("t*.parquet"))
    for f in finals:  # every file under a final name is complete and readable
        assert len(pd.read_parquet(f)) == 3_000_000
