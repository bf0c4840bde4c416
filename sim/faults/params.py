"""The fault model's own parameter table, ``sim/faults/parameters.csv``.

Same format and parser as the PHY table (``key, value, unit, source, grade, note``; SI values;
overrides by key). Kept apart from ``sim/phy/parameters.csv`` because these numbers are not
properties of a link: switch boxes, which failures interrupt a job, the Llama-3 and Meta
field data the model is checked against, and checkpoint costs. The per-link component counts
and FITs stay in the PHY table (``reliability.*`` rows) and reach us through ``LinkResult``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from sim.phy.parameters import Parameters, _read_table

TABLE = Path(__file__).with_name("parameters.csv")


@lru_cache(maxsize=1)
def _defaults() -> Parameters:
    return Parameters(_read_table(TABLE))


def load_fault_parameters(overrides: Mapping[str, Any] | None = None) -> Parameters:
    """The default fault table with ``overrides`` (``{key: value}``) applied; unknown keys are
    a :class:`~sim.errors.CposimError` naming the key."""
    return _defaults().with_overrides(overrides)
