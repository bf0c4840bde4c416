"""Sweep results on disk: one small file per finished point, so a killed sweep loses nothing.

Each point's row is written atomically to ``points/<key>.json`` the moment it finishes
(success or failure with its error). Resuming = skipping the keys already on disk. The
combined table ``sweep.parquet`` is rebuilt from those files, sorted by point order, so an
interrupted-then-resumed sweep gives the same table as an uninterrupted one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from sim import io


class PointStore:
    def __init__(self, out_dir: str | Path) -> None:
        self.root = Path(out_dir)
        self.points_dir = self.root / "points"
        self.points_dir.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.points_dir / f"{key}.json"

    def done_keys(self) -> set[str]:
        return {p.stem for p in self.points_dir.glob("*.json")}

    def save(self, key: str, row: dict[str, Any]) -> None:
        io.write_json(row, self.path(key))

    def load_all(self) -> list[dict[str, Any]]:
        rows = []
        for p in sorted(self.points_dir.glob("*.json")):
            rows.append(json.loads(p.read_text()))
        return rows

    def table(self, order: list[str]) -> pd.DataFrame:
        rank = {k: i for i, k in enumerate(order)}
        rows = [r for r in self.load_all() if r.get("point_key") in rank]
        rows.sort(key=lambda r: rank[r["point_key"]])
        return pd.DataFrame(rows)
