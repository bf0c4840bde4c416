"""Where an iteration's time went: compute, exposed communication by group, and bubble.

For one rank, the iteration [0, T] splits into time the compute stream is busy and idle time.
Idle time while some communication is in flight is *exposed communication* (split evenly among
the groups in flight at that moment, so the parts add up); idle time with nothing in flight is
*bubble* (e.g. waiting for the previous pipeline stage, whose send has not started yet).
Communication that runs under compute is *overlapped*. Same vocabulary as SimAI's EndToEnd.csv.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np


def attribute(iteration_s: float, compute: np.ndarray, comm: list[tuple[float, float, str]]
              ) -> dict[str, float]:
    """``compute``: (k, 2) array of disjoint busy intervals; ``comm``: (start, end, group)."""
    c = np.asarray(compute, dtype=float).reshape(-1, 2)
    cs = np.array([x[0] for x in comm], dtype=float)
    ce = np.array([x[1] for x in comm], dtype=float)
    cg = [x[2] for x in comm]
    t = np.concatenate(([0.0, float(iteration_s)], c.ravel(), cs, ce))
    t = np.unique(t[(t >= 0.0) & (t <= iteration_s)])
    if len(t) < 2:
        return {"compute_s": 0.0, "bubble_s": 0.0}
    lo, hi = t[:-1], t[1:]
    mid = (lo + hi) / 2
    width = hi - lo
    busy = np.zeros(len(mid), dtype=bool)
    if len(c):
        idx = np.searchsorted(c[:, 0], mid, side="right") - 1
        ok = idx >= 0
        busy[ok] = mid[ok] < c[idx[ok], 1]
    # intervals of each group in flight at each midpoint: #(start < mid) - #(end <= mid)
    # (a midpoint never equals a breakpoint); intervals with a missing end never count
    active: dict[str, np.ndarray] = {}
    valid = ~(np.isnan(cs) | np.isnan(ce))
    by_group: dict[str, list[int]] = {}
    for i, g in enumerate(cg):
        by_group.setdefault(g, []).append(i)
    for g, idx_g in by_group.items():
        sel = np.asarray(idx_g)[valid[idx_g]]
        live = sel[cs[sel] < ce[sel]]
        cover = (np.searchsorted(np.sort(cs[live]), mid, side="left")
                 - np.searchsorted(np.sort(ce[live]), mid, side="right"))
        active[g] = cover > 0
    n_active = np.zeros(len(mid))
    for m in active.values():
        n_active += m
    idle = ~busy
    out: dict[str, float] = defaultdict(float)
    out["compute_s"] = float(width[busy].sum())
    out["bubble_s"] = float(width[idle & (n_active == 0)].sum())
    share = np.where(n_active > 0, width / np.maximum(n_active, 1), 0.0)
    for g, m in active.items():
        out[f"exposed_{g}_s"] = float(share[idle & m].sum())
        out[f"overlapped_{g}_s"] = float(share[busy & m].sum())
    return dict(out)
