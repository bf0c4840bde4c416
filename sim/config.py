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


# Keys of a study config that name files: relative paths are read from the config file's own
# folder (as config-driven tools do), so an example runs from any working directory.
PATH_KEYS = (("workload", "trace"), ("topology", "preset"))


def resolve_paths(raw: dict[str, Any], base: str | Path) -> dict[str, Any]:
    """A copy of ``raw`` with the relative file paths of :data:`PATH_KEYS` joined to ``base``
    (a topology preset counts as a path only when it ends in .toml or .json; a Chakra prefix
    need not exist)."""
    out = dict(raw)
    for section, key in PATH_KEYS:
        sub = out.get(section)
        if not isinstance(sub, dict) or not isinstance(sub.get(key), str):
            continue
        value = sub[key]
        if section == "topology" and not value.endswith((".toml", ".json")):
            continue
        p = Path(value).expanduser()
        if not p.is_absolute():
            out[section] = {**sub, key: str(Path(base) / p)}
    return out
