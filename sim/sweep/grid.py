"""Parameter grids: the cross product of a sweep's axes and its seeds, as stable points."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

import pydantic

from sim.errors import CposimError


@dataclass(frozen=True)
class Point:
    """One run of a sweep: the overrides applied to the base config, and its seed."""

    overrides: tuple[tuple[str, Any], ...]
    seed: int

    @property
    def key(self) -> str:
        """Stable id (same overrides and seed -> same key, across runs and machines)."""
        blob = json.dumps([list(self.overrides), self.seed], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def as_dict(self) -> dict[str, Any]:
        return {**dict(self.overrides), "seed": self.seed}


def expand(axes: dict[str, list[Any]], seeds: list[int]) -> list[Point]:
    """Cross every axis value with every seed; order is deterministic (axes in given order)."""
    if not isinstance(axes, dict):
        raise CposimError("sweep axes must be a table of name = [values]", field="sweep.grid")
    for name, values in axes.items():
        if not isinstance(values, list) or not values:
            raise CposimError(f"axis {name!r} needs a non-empty list of values",
                              field=f"sweep.grid.{name}")
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                            for s in seeds):
        raise CposimError("seeds must be a non-empty list of non-negative integers",
                          field="sweep.seeds")
    names = list(axes)
    points = []
    for combo in itertools.product(*(axes[n] for n in names)):
        for seed in seeds:
            points.append(Point(tuple(zip(names, combo, strict=True)), int(seed)))
    return points


def apply_overrides(config: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted keys (``"topology.gpus"``) in a deep copy of ``config``."""
    out = copy.deepcopy(config)
    for dotted, value in overrides.items():
        node = out
        parts = dotted.split(".")
        for p in parts[:-1]:
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                raise CposimError(f"cannot set {dotted!r}: {p!r} is not a table",
                                  field=f"sweep.grid.{dotted}")
            node = nxt
        node[parts[-1]] = value
    return out



class SweepSection(pydantic.BaseModel):
    """The ``[sweep]`` table of a sweep config."""

    model_config = pydantic.ConfigDict(extra="forbid")
    task: str = "sim.study:sweep_point"
    seeds: list[int] = [0]
    grid: dict[str, list] = {}
    name: str = "sweep"
