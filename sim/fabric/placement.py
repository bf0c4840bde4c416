"""Physical placement: every device sits in a rack slot in a row; cable length follows.

Racks stand side by side along a row; rows are parallel at a fixed pitch. A cable between two
devices is routed Manhattan-style through overhead trays:

* same rack: ``in_rack_m`` (default 0.6 m: GB200 NVL72's ~5,000 spine cables total
  ~1.86 mi ≈ 3.0 km, i.e. ≈0.6 m each — Nvidia's figures via trade press, grade B/C → D);
* same row: ``rise_m`` up and down at each end + ``|Δslot| x rack_width_m`` + ``slack_m``;
* across rows: the same plus ``|Δrow| x row_pitch_m``.

Defaults (grade D/U, ours): 600 mm wide racks (the common 19" enclosure width); 3.0 m row
pitch (1.2 m rack depth + 1.2 m hot/cold aisle + clearance); 1.5 m rise from a device to
the tray (about half a 42U rack plus the tray height) and 2 m of service slack per cable
(a service loop, common design-guide practice; not sourced). All are parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from sim.errors import CposimError
from sim.units import parse_length_m


@dataclass(frozen=True)
class Geometry:
    """Floor-plan parameters that turn (row, slot) pairs into cable lengths."""

    rack_width_m: float = 0.6      # 600 mm enclosure (U: common practice)
    row_pitch_m: float = 3.0       # rack depth + aisle + clearance (D/U)
    rise_m: float = 1.5            # device -> overhead tray, per end (D/U)
    slack_m: float = 2.0           # service loop per inter-rack cable (U)
    in_rack_m: float = 0.6         # NVL72: ~3.0 km / ~5,000 cables (B/C -> D)

    @classmethod
    def from_mapping(cls, data: dict | None, *, file: str | None = None) -> "Geometry":
        if not data:
            return cls()
        names = {f.name: f for f in fields(cls)}
        out = {}
        for key, value in data.items():
            name = key if key.endswith("_m") else key + "_m"
            if name not in names:
                raise CposimError(f"unknown geometry parameter '{key}' (known: "
                                  f"{', '.join(n[:-2] for n in names)})", file=file,
                                  field=f"geometry.{key}")
            if file is not None:
                try:
                    out[name] = parse_length_m(value, field=f"geometry.{key}")
                except CposimError as exc:
                    raise CposimError(exc.message, file=file, field=f"geometry.{key}") from None
            else:
                out[name] = parse_length_m(value, field=f"geometry.{key}")
        return cls(**out)

    def cable_length_m(self, row_a, slot_a, rack_a, row_b, slot_b, rack_b) -> np.ndarray:
        """Cable length for each pair of endpoints (vectorised)."""
        row_a, slot_a, rack_a = map(np.asarray, (row_a, slot_a, rack_a))
        row_b, slot_b, rack_b = map(np.asarray, (row_b, slot_b, rack_b))
        between = (2 * self.rise_m + self.slack_m + np.abs(slot_a - slot_b) * self.rack_width_m
                   + np.abs(row_a - row_b) * self.row_pitch_m)
        return np.where(rack_a == rack_b, self.in_rack_m, between).astype(np.float64)


class Floor:
    """Hands out rack positions: racks fill a row left to right; a new row starts on demand."""

    def __init__(self) -> None:
        self.n_racks = 0
        self.row_of: list[int] = []
        self.slot_of: list[int] = []
        self._next_slot: dict[int, int] = {}
        self.n_rows = 0

    def new_row(self) -> int:
        self.n_rows += 1
        return self.n_rows - 1

    def new_rack(self, row: int) -> int:
        slot = self._next_slot.get(row, 0)
        self._next_slot[row] = slot + 1
        self.row_of.append(row)
        self.slot_of.append(slot)
        self.n_racks += 1
        return self.n_racks - 1

    def new_racks(self, rows) -> np.ndarray:
        """``len(rows)`` racks at once, as if ``new_rack(r)`` were called for each ``r`` in turn."""
        rows = np.asarray(rows, dtype=np.int64).ravel()
        first = self.n_racks
        if rows.size == 0:
            return np.zeros(0, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        srt = rows[order]
        start = np.flatnonzero(np.r_[True, srt[1:] != srt[:-1]])     # first of each row
        count = np.diff(np.r_[start, srt.size])
        rank = np.empty(rows.size, dtype=np.int64)                  # k-th rack of its row
        rank[order] = np.arange(srt.size) - np.repeat(start, count)
        base = np.array([self._next_slot.get(int(r), 0) for r in srt[start]], dtype=np.int64)
        slots = np.empty(rows.size, dtype=np.int64)
        slots[order] = np.repeat(base, count)
        slots += rank
        for r, b, c in zip(srt[start].tolist(), base.tolist(), count.tolist()):
            self._next_slot[r] = b + c
        self.row_of.extend(rows.tolist())
        self.slot_of.extend(slots.tolist())
        self.n_racks += rows.size
        return np.arange(first, self.n_racks, dtype=np.int64)
