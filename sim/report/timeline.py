"""Timeline export in Chrome trace-event JSON (opens in Perfetto and chrome://tracing)."""

from __future__ import annotations

import math

import pandas as pd

_TID = {"compute": 0, "collective": 1, "send": 2, "recv": 3}


def chrome_trace(ops: pd.DataFrame, *, max_classes: int = 64) -> dict:
    """Complete ('X') events, one process per rank class, one thread per stream; µs."""
    events = []
    classes = sorted(ops["class"].unique())[:max_classes]
    for cls in classes:
        sub = ops[ops["class"] == cls]
        first = int(sub["first_rank"].iloc[0])
        n = int(sub["n_ranks"].iloc[0])
        events.append({"ph": "M", "name": "process_name", "pid": int(cls),
                       "args": {"name": f"rank {first}" + (f" (+{n - 1} alike)" if n > 1 else "")}})
        for kind, tid in _TID.items():
            events.append({"ph": "M", "name": "thread_name", "pid": int(cls), "tid": tid,
                           "args": {"name": kind}})
        for row in sub.itertuples(index=False):
            start = row.start_s if row.kind == "compute" else row.comm_start_s
            if start is None or (isinstance(start, float) and math.isnan(start)):
                continue
            args = {"op_id": int(row.op_id), "bytes": float(row.size_bytes)}
            if row.group:
                args["group"] = row.group
            if row.kind != "compute":
                args["posted_us"] = float(row.start_s) * 1e6
            events.append({"ph": "X", "name": row.name or row.kind, "cat": row.kind,
                           "pid": int(cls), "tid": _TID[row.kind], "ts": float(start) * 1e6,
                           "dur": float(row.end_s - start) * 1e6, "args": args})
    return {"traceEvents": events, "displayTimeUnit": "ns"}
