"""Fitted parameters: ``sim/phy/calibration.csv`` (key, value, unit, source, grade, note).

Each value was fitted by ``cposim figures validation`` on one named published measurement
(grade D); the validation figure refits them and prints the refit beside the stored value.
Layers read them here so that what a user runs (``cposim collective --nccl``) and what the
figure measures use the same number.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

from sim.errors import CposimError

CALIBRATION_CSV = Path(__file__).with_name("calibration.csv")


@lru_cache(maxsize=None)
def _values() -> dict[str, float]:
    with CALIBRATION_CSV.open(newline="") as fh:
        return {row["key"]: float(row["value"]) for row in csv.DictReader(fh)}


def calibration_value(key: str) -> float:
    """The stored value of one fitted parameter (e.g. ``nccl.nvls.latency``, seconds)."""
    values = _values()
    if key not in values:
        raise CposimError(f"no fitted parameter {key!r} in {CALIBRATION_CSV.name} "
                          f"(keys: {', '.join(sorted(values))})", field="key")
    return values[key]
