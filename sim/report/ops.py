"""Per-op and per-iteration tables (the shape of SimAI's EndToEnd.csv, in pandas)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# nccl-tests bus-bandwidth factors (doc/PERFORMANCE.md): busbw = algbw x factor(n).
_BUSBW = {
    "allreduce": lambda n: 2.0 * (n - 1) / n,
    "allgather": lambda n: (n - 1) / n,
    "reducescatter": lambda n: (n - 1) / n,
    "alltoall": lambda n: (n - 1) / n,
    "broadcast": lambda n: 1.0,
    "reduce": lambda n: 1.0,
    "barrier": lambda n: 0.0,
}


def op_table(result, trace) -> pd.DataFrame:
    """One row per op per rank class: timing, bytes, exposed vs overlapped time, algbw, busbw.

    An op's *exposed* time is the part of its transfer interval during which its rank's compute
    stream was idle; the rest is *overlapped*. algbw = bytes / transfer time (nccl-tests).
    """
    df = result.ops.copy()
    if df.empty:
        return df
    df["duration_s"] = df["end_s"] - df["start_s"]
    comm = df["kind"] != "compute"
    df["transfer_s"] = np.where(comm, df["end_s"] - df["comm_start_s"], np.nan)
    df["exposed_s"] = 0.0
    for cls, sub in df.groupby("class", sort=False):
        busy = sub.loc[sub["kind"] == "compute", ["start_s", "end_s"]].to_numpy()
        busy = busy[np.argsort(busy[:, 0])] if len(busy) else busy
        idx = sub.index[sub["kind"] != "compute"]
        s = df.loc[idx, "comm_start_s"].to_numpy()
        e = df.loc[idx, "end_s"].to_numpy()
        df.loc[idx, "exposed_s"] = (e - s) - _overlap(s, e, busy)
    df["overlapped_s"] = np.where(comm, df["transfer_s"] - df["exposed_s"], np.nan)
    df.loc[~comm, "exposed_s"] = np.nan
    sizes = {name: g.size for name, g in trace.groups.items()}
    n = df["group"].map(lambda g: sizes.get(g, 2) if g else 2).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        df["algbw_Bps"] = np.where(comm & (df["transfer_s"] > 0),
                                   df["size_bytes"] / df["transfer_s"], np.nan)
    factor = [(_BUSBW[c](k) if isinstance(c, str) and c in _BUSBW else 1.0)
              for c, k in zip(df["collective"], n, strict=True)]
    df["busbw_Bps"] = df["algbw_Bps"] * np.asarray(factor)
    return df


def _overlap(s: np.ndarray, e: np.ndarray, busy: np.ndarray) -> np.ndarray:
    """Length of [s_i, e_i] covered by the union of the disjoint sorted ``busy`` intervals."""
    if len(busy) == 0 or len(s) == 0:
        return np.zeros(len(s))
    cum = np.concatenate([[0.0], np.cumsum(busy[:, 1] - busy[:, 0])])

    def covered_before(t: np.ndarray) -> np.ndarray:
        k = np.searchsorted(busy[:, 0], t, side="right")  # intervals starting at or before t
        partial = np.where(k > 0, np.clip(t - busy[np.maximum(k - 1, 0), 0], 0,
                                          busy[np.maximum(k - 1, 0), 1]
                                          - busy[np.maximum(k - 1, 0), 0]), 0.0)
        return cum[np.maximum(k - 1, 0)] * (k > 0) + partial

    return covered_before(e) - covered_before(s)


def iteration_summary(result) -> dict:
    """Iteration time split like SimAI's summary row, for the critical (last-finishing) rank."""
    s = dict(result.summary)
    out = {
        "iteration_s": s["iteration_s"],
        "compute_s": s["compute_s"],
        "exposed_comm_s": s["exposed_comm_s"],
        "bubble_s": s["bubble_s"],
    }
    for g in ("tp", "dp", "ep", "dp_ep", "pp", "p2p", "world"):
        out[f"exposed_{g}_s"] = s.get(f"exposed_{g}_s", 0.0)
    for k, v in s.items():
        if k.startswith("exposed_") and k not in out:
            out[k] = v
    return out
