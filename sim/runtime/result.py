"""``simulate()``: one training iteration of a trace on a topology, and what it returns."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import simpy

from sim.fabric.routing import DEFAULT_ROUTING
from sim.fabric.speed import SpeedOptions, resolve
from sim.gcpause import cyclic_gc_paused
from sim.runtime.engine import ComputeModel, Runtime
from sim.runtime.timeline import attribute
from workloads.trace import BubbleFormula, Trace


@dataclass
class RunResult:
    iteration_s: float
    ops: pd.DataFrame  # one row per op per rank class
    classes: pd.DataFrame  # one row per rank class: compute, exposed comm by group, bubble
    summary: dict  # the critical (last-finishing) class's breakdown + fabric totals
    fabric_stats: dict = field(default_factory=dict)
    wall_s: float = 0.0
    fabric: object = field(default=None, repr=False)  # the fabric, for byte/energy reports


def simulate(trace: Trace, topology, *, fidelity: str = "flow",
             placement: np.ndarray | None = None, compute_model: ComputeModel | None = None,
             algorithm: str = "auto", chunks: int = 1, routing: str = DEFAULT_ROUTING,
             seed: int = 0, speed: SpeedOptions | None = None,
             progress: Callable[[int, int], None] | None = None,
             mode: str | None = None, fast_forward: bool | None = None) -> RunResult:
    """Run one iteration of ``trace`` on ``topology`` and summarise it.

    ``speed``: the speed-ups (:class:`SpeedOptions`, default all on; given once, to the
    fabric, which the runtime and every collective follow). ``SpeedOptions.plain()`` is the
    plain path. ``mode`` (``grouped`` | ``per-rank``: ``rank_classes``) and ``fast_forward``
    (``False``: no replay, periodic schedules, incremental re-solve or solo replay) are
    deprecated aliases.

    ``progress(ops_done, ops_total)``, if given, is told how far the runtime is (see
    :mod:`sim.runtime.engine`); it does not change the result."""
    from sim.fabric import make_fabric

    speed = resolve(speed, SpeedOptions(), "simulate", fast_forward=fast_forward, mode=mode)
    t0 = time.perf_counter()
    with cyclic_gc_paused():     # see sim.gcpause
        env = simpy.Environment()
        fabric = make_fabric(env, topology, fidelity=fidelity, routing=routing, seed=seed,
                             speed=speed)
        rt = Runtime(env, fabric, trace, placement=placement, compute_model=compute_model,
                     algorithm=algorithm, chunks=chunks, progress=progress)
        rt.run()
        return _summarise(rt, fabric, time.perf_counter() - t0)



def critical_class(classes: pd.DataFrame, rtol: float = 1e-12):
    """Index of the class the summary reports: the last to finish, and among classes that
    finish together (every rank ends with the same gradient all-reduce) the one that waited
    least — it set the pace — then the lowest rank. Ties are taken to ``rtol`` so that the
    choice does not depend on how ranks were grouped into classes."""
    fin = classes["finish_s"].to_numpy(dtype=float)
    last = fin >= fin.max() * (1.0 - rtol)
    bub = classes["bubble_s"].to_numpy(dtype=float) if "bubble_s" in classes else np.zeros(
        len(classes))
    least = last & (bub <= bub[last].min() + rtol * max(fin.max(), 1e-300))
    first = classes["first_rank"].to_numpy()
    return classes.index[np.flatnonzero(least)[np.argmin(first[least])]]


def _summarise(rt: Runtime, fabric, wall_s: float) -> RunResult:
    rows = []
    # An iteration ends when its last rank finishes (the optimizer step is synchronous), so
    # every rank's breakdown covers [0, T]: a stage that finishes early idles until T.
    ends = [np.nanmax(st.end) for st in rt.states if len(st.cls.ops)]
    iteration = float(max(ends)) if ends else 0.0
    cols: dict[str, list] = {k: [] for k in ("class", "program", "first_rank", "n_ranks")}
    attrs = ("id", "name", "kind", "collective", "group", "phase", "layer")
    op_cols: dict[str, list] = {a: [] for a in attrs}
    sizes, starts, comm_starts, ends_ = [], [], [], []
    for st in rt.states:
        ops = st.cls.ops
        n = len(ops)
        for k, v in (("class", st.cls.index), ("program", st.cls.program),
                     ("first_rank", int(st.cls.ranks[0])), ("n_ranks", len(st.cls.ranks))):
            cols[k].append(np.full(n, v, dtype=np.int64))
        kinds = [op.kind for op in ops]
        groups = [op.group for op in ops]
        for a in attrs:
            op_cols[a].extend(kinds if a == "kind" else groups if a == "group"
                              else [getattr(op, a) for op in ops])
        sizes.append(np.fromiter((op.size_bytes for op in ops), dtype=float, count=n))
        starts.append(st.start)
        comm_starts.append(st.comm_start)
        ends_.append(st.end)
        finish = float(np.nanmax(st.end)) if n else 0.0
        is_comp = np.fromiter((k == "compute" for k in kinds), dtype=bool, count=n)
        compute = np.column_stack([st.start[is_comp], st.end[is_comp]])
        compute = compute[np.argsort(compute[:, 0])] if len(compute) else compute
        comm = [(s, e, g if k == "collective" else (g or "p2p"))
                for s, e, g, k, c in zip(st.comm_start, st.end, groups, kinds, is_comp)
                if not c]
        parts = attribute(iteration, compute, comm)
        rows.append({"class": st.cls.index, "program": st.cls.program,
                     "first_rank": int(st.cls.ranks[0]), "n_ranks": len(st.cls.ranks),
                     "finish_s": finish, **parts})
    if rt.states:
        ops_df = pd.DataFrame({
            **{k: np.concatenate(v) for k, v in cols.items()},
            "op_id": op_cols["id"], "name": op_cols["name"], "kind": op_cols["kind"],
            "collective": op_cols["collective"], "group": op_cols["group"],
            "phase": op_cols["phase"], "layer": op_cols["layer"],
            "size_bytes": np.concatenate(sizes), "start_s": np.concatenate(starts),
            "comm_start_s": np.concatenate(comm_starts), "end_s": np.concatenate(ends_)})
    else:
        ops_df = pd.DataFrame()
    classes = pd.DataFrame(rows).fillna(0.0)
    formula = BubbleFormula.of(rt.trace)
    if formula is not None and len(classes):
        iteration = _add_formula_bubble(formula, ops_df, classes, iteration)
    crit = classes.loc[critical_class(classes)].to_dict() if len(classes) else {}
    exposed = {k: v for k, v in crit.items() if k.startswith("exposed_")}
    summary = {
        "iteration_s": iteration,
        "compute_s": crit.get("compute_s", 0.0),
        "bubble_s": crit.get("bubble_s", 0.0),
        "exposed_comm_s": float(sum(exposed.values())),
        **exposed,
        "critical_rank": crit.get("first_rank"),
        "collectives_launched": rt.collectives_launched,
        "collectives_replayed": rt.fastpath.replayed if rt.fastpath else 0,
    }
    stats = dict(fabric.stats)
    return RunResult(iteration, ops_df, classes, summary, stats, wall_s, fabric)


def _add_formula_bubble(formula: BubbleFormula, ops: pd.DataFrame, classes: pd.DataFrame,
                        iteration: float) -> float:
    """Add a computed bubble (SimAI's pipeline accounting) to each class: ``factor`` × (compute
    time + time waited on ``comm_phases`` collectives, ops outside ``excluded_layers``), plus
    the exposed pipeline communication. Returns the new iteration time."""
    keep = ~ops["layer"].isin(formula.excluded_layers)
    comp = keep & (ops["kind"] == "compute")
    comm = keep & (ops["kind"] == "collective") & ops["phase"].isin(formula.comm_phases)
    took = (ops["end_s"] - ops["start_s"]).where(comp | comm, 0.0)
    work = took.groupby(ops["class"]).sum()
    bubble = formula.factor * classes["class"].map(work).fillna(0.0).to_numpy()
    pp = formula.exposed_pp_s
    old = iteration
    classes["finish_s"] = classes["finish_s"] + bubble + pp
    end = float(classes["finish_s"].max())
    # each class's parts cover [0, iteration] (the optimizer step is synchronous): what a class
    # does not spend in its own bubble or pipeline traffic it waits for the last one, also idle
    classes["bubble_s"] = classes.get("bubble_s", 0.0) + (end - old - pp)
    classes["exposed_pp_s"] = classes.get("exposed_pp_s", 0.0) + pp
    return end
