"""Writing results: atomically, with a manifest, never overwriting silently."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

import sim

log = logging.getLogger(__name__)


def git_hash() -> str | None:
    """The commit of the source tree this code runs from (``None`` outside a git checkout)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                           capture_output=True, text=True, timeout=5, check=False).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write to a temporary file beside ``path`` and rename it into place.

    A crash mid-write leaves only a ``.tmp`` file, never a half-written file under the final name.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_parquet(df: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    _atomic(path, lambda p: df.to_parquet(p, index=False))
    return path


def write_json(obj: Any, path: str | Path) -> Path:
    path = Path(path)

    def dump(p: Path) -> None:
        p.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")

    _atomic(path, dump)
    return path


def write_text(text: str, path: str | Path) -> Path:
    path = Path(path)
    _atomic(path, lambda p: p.write_text(text))
    return path


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def manifest(name: str, *, parameters: Any = None, config: Any = None, seed: int | None = None,
             **extra: Any) -> dict[str, Any]:
    """The record that makes a result traceable: what ran, with which parameters and sources."""
    return {
        "name": name,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "cposim_version": sim.__version__,
        "git_hash": git_hash(),
        "python": sys.version.split()[0],
        "created_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seed": seed,
        "config": config,
        "parameters": parameters,
        **extra,
    }


class ResultDir:
    """A results folder filled in a staging directory and swapped in whole at the end.

    If ``path`` already exists it is replaced, and that is logged (never silent); readers never
    see a mix of old and new files.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.stage = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))

    def __truediv__(self, name: str) -> Path:
        return self.stage / name

    def commit(self) -> Path:
        if self.path.exists():
            log.warning("replacing existing results in %s", self.path)
            old = self.path.with_name(f".{self.path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.path, old)
            os.replace(self.stage, self.path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.stage, self.path)
        return self.path

    def abandon(self) -> None:
        shutil.rmtree(self.stage, ignore_errors=True)

    def __enter__(self) -> ResultDir:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abandon()
