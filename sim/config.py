"""Reading TOML configs: one clear error naming the file, line and key for bad input."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pydantic

from sim.errors import CposimError


def load_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CposimError("no such file", file=str(path)) from None
    except OSError as exc:
        raise CposimError(f"cannot read: {exc.strerror}", file=str(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CposimError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise CposimError(f"not valid TOML: {exc}", file=str(path),
                          line=int(m.group(1)) if m else None) from None


def validation_error(exc: pydantic.ValidationError, source: str, prefix: str = "") -> CposimError:
    """The first pydantic error as one CposimError naming the dotted field."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    field = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or None)
    msg = err.get("msg", "invalid value")
    if err.get("type") == "extra_forbidden":
        msg = "unknown key"
    value = err.get("input")
    if err.get("type") != "extra_forbidden" and not isinstance(value, dict):
        msg = f"{msg} (got {value!r})"
    return CposimError(msg, file=source, field=field)
