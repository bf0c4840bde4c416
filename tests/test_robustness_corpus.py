"""Every malformed input in ``tests/corpus/`` fails cleanly through the CLI: exit code 2, one
line on stderr naming the file (and the line or field where one applies), no traceback.

The file name says which command reads it: ``study_*`` -> ``cposim run``, ``sweep_*`` ->
``cposim sweep``, ``topology_*`` -> ``cposim topology info``, anything else (native JSON,
ASTRA-sim/SimAI text, Chakra .et/.json, binary garbage) -> ``cposim trace info``.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from sim.cli import main

CORPUS = Path(__file__).with_name("corpus")
FILES = sorted(p.name for p in CORPUS.iterdir())

# errors about the whole file: no line or field to name (TOML syntax without a line number,
# bytes that are not text, a study that points at a missing trace file)
WHOLE_FILE = {"study_binary.toml", "study_truncated.toml"}
# the error names the file the study points to, not the study itself
NAMES_OTHER_FILE = {"study_missing_trace.toml": "no/such/trace.cposim.json"}


def argv_for(path: Path, out: Path) -> list[str]:
    name = path.name
    if name.startswith("study_"):
        return ["run", str(path), "--out", str(out), "--no-timeline"]
    if name.startswith("sweep_"):
        return ["sweep", str(path), "--out", str(out), "--no-progress"]
    if name.startswith("topology_"):
        return ["topology", "info", str(path)]
    return ["trace", "info", str(path)]


def run_cli(argv: list[str]) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = main(argv)
        except SystemExit as exc:       # argparse errors exit directly
            rc = exc.code
    return rc, err.getvalue()


def test_corpus_is_big_and_varied():
    assert len(FILES) >= 30
    kinds = {"truncated", "wrong_type", "unknown_key", "negative", "nan", "huge", "absurd",
             "cycle", "garbage", "binary"}
    assert all(any(k in f for f in FILES) for k in kinds)


@pytest.mark.parametrize("name", FILES)
def test_malformed_input_exits_2_with_one_clear_line(name, tmp_path):
    path = CORPUS / name
    rc, err = run_cli(argv_for(path, tmp_path / "out"))
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("cposim ") and ": error: " in line
    named = NAMES_OTHER_FILE.get(name, str(path))
    assert named in line, line
    if name not in WHOLE_FILE and name not in NAMES_OTHER_FILE:
        where = re.escape(str(path)) + r"(:\d+|, field '[^']+')"
        assert re.search(where, line), f"no line or field named: {line}"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.parquet"))


BAD_ARGS = [
    ["link", "--tech", "cpo", "--length", "-1m"],
    ["link", "--tech", "nope", "--length", "2m"],
    ["link", "--tech", "cpo", "--length", "nan m"],
    ["collective", "--op", "allreduce", "--size", "-5MiB"],
    ["collective", "--op", "allreduce", "--size", "nanMiB"],
    ["collective", "--op", "allreduce", "--size", "1MiB", "--gpus", "0"],
    ["collective", "--op", "teleport", "--size", "1MiB"],
    ["topology", "info", "leaf-spine", "--gpus", "-3"],
    ["topology", "info", "leaf-spine", "--gpus", "99999999999"],     # absurd: no OOM
    ["topology", "info", "leaf-spine", "--lane-rate", "1e400G"],
    ["topology", "info", "no-such-preset"],
]


@pytest.mark.parametrize("argv", BAD_ARGS, ids=[" ".join(a) for a in BAD_ARGS])
def test_bad_arguments_exit_2_with_one_line(argv):
    rc, err = run_cli(argv)
    assert rc == 2
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "field '" in err or "error:" in err
