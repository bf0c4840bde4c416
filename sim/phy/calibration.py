"""Fitted parameters: ``sim/phy/calibration.csv`` (key, value, unit, source, grade, note).

Each value was fitted by ``cposim figures validation`` on one named published measurement
(grade D); the validation figure refits them and prints the refit beside the stored value.
Layers read them here so that what a user runs (``cposim collective --nccl``) and what the
figure measures use the same number.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sim.errors import CposimError
from sim.phy.parameters import _SI_TARGET, _to_si, read_sourced_csv

CALIBRATION_CSV = Path(__file__).with_name("calibration.csv")


_SI = ("", "1", "s")          # already SI: a number, seconds


def _convert(text: str, unit: str, key: str) -> tuple[float, float]:
    value = float(text)
    return value, value if unit in _SI else _to_si(value, unit, key=key)


@lru_cache(maxsize=None)
def _values() -> dict[str, float]:
    # the rows are checked like parameters.csv's (a known unit, a grade, a source)
    rows = read_sourced_csv(CALIBRATION_CSV, {*_SI_TARGET, *_SI}, _convert)
    return {key: p.si for key, p in rows.items()}


def calibration_values() -> dict[str, float]:
    """Every fitted parameter's stored value, in SI units."""
    return dict(_values())


def calibration_value(key: str) -> float:
    """The stored value of one fitted parameter (e.g. ``nccl.nvls.latency``, seconds)."""
    values = _values()
    if key not in values:
        raise CposimError(f"no fitted parameter {key!r} in {CALIBRATION_CSV.name} "
                          f"(keys: {', '.join(sorted(values))})", field="key")
    return values[key]
