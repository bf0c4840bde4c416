"""The one table of physical-layer defaults, ``parameters.csv``, and user overrides.

Every number the link models use is a row of ``parameters.csv`` with columns
``key, value, unit, source, grade, note`` (grades: A primary source — datasheet, standard,
paper —, B trade press quoting a primary, C secondary, D derived by us with the arithmetic in
``note``, U unverified). Nothing is duplicated in code: the modules beside this one only
read :class:`Parameters`.

The table is parsed once into frozen :class:`Param` records. ``Parameters[key]`` is the value
in SI (seconds, metres, watts, joules per bit, bit/s, hertz; dB stays dB, so ``dB/in`` becomes
dB per metre; FIT and counts stay as they are). Overrides are ``{key: value}``: a bare number
is read in the table's unit for that key (``{"tech.cpo.200g.engine_w": 8}`` is 8 W), a string
may carry its own unit (``"8 pJ/bit"``, ``"0.6 dB/in"``). An unknown key is a
:class:`~sim.errors.CposimError` naming it.
"""

from __future__ import annotations

import csv
import math
import tomllib
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from sim.errors import CposimError
from sim.units import parse_quantity

TABLE = Path(__file__).with_name("parameters.csv")
COLUMNS = ("key", "value", "unit", "source", "grade", "note")
GRADES = ("A", "B", "C", "D", "U")

# Table unit -> the pint unit of its SI value. dB is a plain number here: "dB/in" is read as
# "1/in" and stored per metre. Units mapped to None are plain numbers kept as written.
_SI_TARGET: dict[str, str | None] = {
    "1": None, "count": None, "bool": None, "FIT": None, "dB": None,
    "Gb/s": "bit/second",
    "Tb/s/mm": "bit/second/meter",
    "pJ/bit": "joule/bit",
    "W": "watt",
    "ns": "second",
    "h": "second",
    "m": "meter",
    "mm": "meter",
    "in": "meter",
    "ns/m": "second/meter",
    "dB/GHz": "1/hertz",
    "dB/in/GHz": "1/meter/hertz",
    "dB/mm/GHz": "1/meter/hertz",
    "dB/m/GHz": "1/meter/hertz",
    "dB/in/GHz^0.5": "1/meter/hertz^0.5",
    "dB/m/GHz^0.5": "1/meter/hertz^0.5",
}


def _to_si(value: Any, unit: str, *, key: str) -> float:
    """``value`` (a number in ``unit``, or a string with its own unit) -> SI float."""
    target = _SI_TARGET[unit]
    if unit == "bool":
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no"):
            return 1.0 if value.strip().lower() in ("true", "yes") else 0.0
        if isinstance(value, bool):
            return float(value)
    if target is None:
        if isinstance(value, str):
            text = value.strip()
            if unit not in ("1", "count", "bool") and text.endswith(unit):
                text = text[: -len(unit)].strip()  # "22 dB", "100 FIT"
            try:
                out = float(text)
            except ValueError:
                raise CposimError(f"cannot read {value!r} as a number of {unit}",
                                  field=key) from None
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out = float(value)
        else:
            raise CposimError(f"cannot read {value!r} as a number of {unit}", field=key)
        if not math.isfinite(out):
            raise CposimError(f"{value!r} is not finite", field=key)
        if out < 0:
            raise CposimError(f"{value!r} is negative", field=key)
        if unit == "bool" and out not in (0.0, 1.0):
            raise CposimError(f"{value!r} is not a boolean (0/1, true/false)", field=key)
        return out
    if isinstance(value, str):
        try:  # a bare number from the CLI or TOML is in the table's unit, like a number
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = f"{value!r} {unit}"
    if isinstance(value, str):
        value = value.replace("dB", "1")  # dB is a plain number; "0.6 dB/in" -> "0.6 1/in"
    return parse_quantity(value, target, field=key)


@dataclass(frozen=True, slots=True)
class Param:
    """One row of the table, with its SI value. ``overridden`` marks a user-supplied value."""

    key: str
    value: float          # as written, in ``unit``
    unit: str
    si: float             # the same value in SI (see module docstring)
    source: str
    grade: str
    note: str = ""
    overridden: bool = False

    def cite(self) -> str:
        """``"<source> [grade]"``, or ``"override"`` for a user value."""
        if self.overridden:
            return f"user override (default source: {self.source} [{self.grade}])"
        return f"{self.source} [{self.grade}]"


@dataclass(frozen=True)
class SourcedTable(Mapping[str, float]):
    """A resolved table of sourced rows: ``table[key]`` is the SI value, ``table.param(key)``
    the row. Immutable and hashable (by its overrides), so results can be cached per table.
    Subclasses say how an unknown key is named (``UNKNOWN``) and read overrides
    (``with_overrides``)."""

    entries: Mapping[str, Param]
    overrides: tuple[tuple[str, float], ...] = field(default=())
    UNKNOWN = "unknown parameter {key!r}"

    def __getitem__(self, key: str) -> float:
        return self.param(key).si

    def param(self, key: str) -> Param:
        try:
            return self.entries[key]
        except KeyError:
            raise CposimError(self.UNKNOWN.format(key=key), field=key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __hash__(self) -> int:
        return hash(self.overrides)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.overrides == other.overrides

    def source(self, key: str) -> str:
        return self.param(key).cite()

    def records(self) -> list[dict[str, Any]]:
        """The table as a list of dicts (for manifests and ``--json``)."""
        return [dict(key=p.key, value=p.value, unit=p.unit, si=p.si, source=p.source,
                     grade=p.grade, note=p.note, overridden=p.overridden)
                for p in self.entries.values()]


@dataclass(frozen=True, eq=False)
class Parameters(SourcedTable):
    """The resolved parameter table: ``params[key]`` is the SI value; ``params.param(key)`` the row.

    Immutable and hashable (by content), so results can be cached per parameter set.
    """

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> Parameters:
        """A copy with ``overrides`` applied on top of this table's values."""
        if not overrides:
            return self
        flat = flatten(overrides)
        entries = dict(self.entries)
        applied = dict(self.overrides)
        for key, raw in flat.items():
            if key not in entries:
                raise CposimError(f"unknown parameter {key!r} (see sim/phy/parameters.csv)",
                                  field=key)
            old = entries[key]
            si = _to_si(raw, old.unit, key=key)
            value = si if _SI_TARGET[old.unit] is None else si / _to_si(1.0, old.unit, key=key)
            entries[key] = Param(key, value, old.unit, si, old.source, old.grade, old.note,
                                 overridden=True)
            applied[key] = si
        return Parameters(entries, tuple(sorted(applied.items())))


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"serdes": {"lr": {"200g": {"energy": 8}}}}`` -> ``{"serdes.lr.200g.energy": 8}``.

    TOML turns dotted keys into nested tables; this undoes it. Flat dotted keys pass through.
    """
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, Mapping):
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def read_sourced_csv(path: Path, units: Collection[str],
                     convert: Callable[[str, str, str], tuple[float, float]]) -> dict[str, Param]:
    """The rows of a sourced table (:data:`COLUMNS`), each checked — known unit, a grade, a
    source, no duplicate key — with ``convert(text, unit, key) -> (value, si)``; bad rows name
    the file and line."""
    entries: dict[str, Param] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise CposimError(f"columns must be {', '.join(COLUMNS)}", file=str(path), line=1)
        for row in reader:
            line = reader.line_num
            if None in row or None in row.values():
                raise CposimError(f"{len(COLUMNS)} fields expected (quote a field that holds a "
                                  "comma)", file=str(path), line=line)
            key, unit, grade = row["key"].strip(), row["unit"].strip(), row["grade"].strip()
            if key in entries:
                raise CposimError(f"duplicate key {key!r}", file=str(path), line=line)
            if unit not in units:
                raise CposimError(f"unknown unit {unit!r} for {key!r}", file=str(path), line=line)
            if grade not in GRADES:
                raise CposimError(f"grade {grade!r} for {key!r} is not one of {GRADES}",
                                  file=str(path), line=line)
            if not row["source"].strip():
                raise CposimError(f"{key!r} has no source", file=str(path), line=line)
            try:
                value, si = convert(row["value"], unit, key)
            except (ValueError, CposimError) as exc:
                msg = exc.message if isinstance(exc, CposimError) else str(exc)
                raise CposimError(f"bad value for {key!r}: {msg}", file=str(path),
                                  line=line) from None
            entries[key] = Param(key, value, unit, si, row["source"].strip(), grade,
                                 (row["note"] or "").strip())
    return entries


def _convert(text: str, unit: str, key: str) -> tuple[float, float]:
    value = float(text)
    return value, _to_si(value, unit, key=key)


def _read_table(path: Path) -> dict[str, Param]:
    return read_sourced_csv(path, _SI_TARGET, _convert)


@lru_cache(maxsize=1)
def _defaults() -> Parameters:
    return Parameters(_read_table(TABLE))


def load_parameters(overrides: Mapping[str, Any] | None = None) -> Parameters:
    """The default table with ``overrides`` (``{key: value}``, possibly nested) applied."""
    return _defaults().with_overrides(overrides)


def read_overrides_toml(path: str | Path) -> dict[str, Any]:
    """Overrides from a TOML file: its ``[phy]`` table if there is one, else the whole file.

    Keys may be written dotted (``serdes.lr.200g.energy = "8 pJ/bit"``) or as tables.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise CposimError(f"cannot read config: {exc.strerror}", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise CposimError(f"not valid TOML: {exc}", file=str(path)) from None
    if isinstance(data.get("phy"), dict):
        data = data["phy"]
    return flatten(data)
