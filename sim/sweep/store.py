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


FIXED_COLUMNS = ("point_key", "seed", "status", "error", "wall_s")


def tidy(table: pd.DataFrame, swept: list[str]) -> pd.DataFrame:
    """The wide sweep table (one row per point, ``<policy>.<metric>`` columns, as the default
    task ``sim.study:sweep_point`` writes them) in tidy form: one row per point x policy, with
    the swept keys, ``seed`` and ``policy`` as columns and one column per metric — the shape
    pandas ``groupby`` and seaborn expect. A failed point keeps one row, with no policy."""
    keys = [c for c in ("point_key", *swept, "seed") if c in table.columns]
    tail = [c for c in ("status", "error", "wall_s") if c in table.columns]
    metric_cols = [c for c in table.columns if c not in keys and c not in tail and "." in c]
    pairs = [(c, *c.rsplit(".", 1)) for c in metric_cols]
    policies = list(dict.fromkeys(p for _, p, _ in pairs))
    metrics = list(dict.fromkeys(m for _, _, m in pairs))
    rows = []
    for rec in table.to_dict("records"):
        ran = [p for p in policies if any(pd.notna(rec.get(f"{p}.{m}")) for m in metrics)]
        for p in ran or [None]:
            row = {k: rec[k] for k in keys}
            row["policy"] = p
            for m in metrics:
                row[m] = rec.get(f"{p}.{m}") if p is not None else None
            row.update({k: rec[k] for k in tail})
            rows.append(row)
    cols = keys + ["policy"] + metrics + tail
    return pd.DataFrame(rows, columns=cols)
