"""A study: one training iteration of a workload on a cluster, once per link policy.

This is what ``cposim run`` runs. A study config (TOML, or the built-in default) names a
workload (a generated LLM iteration or a trace file), a topology preset and the link policies
to compare; each policy gets the same workload on the same physical cluster, and the reports
say how iteration time, exposed communication and network energy change.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import pandas as pd
import pydantic

from sim import io
from sim.config import load_toml, resolve_paths, validation_error
from sim.errors import CposimError

log = logging.getLogger(__name__)

# The built-in default study (README's first command): GPT-3 175B, Megatron TP8 x PP8 x DP16
# on 1,024 H100 GPUs of a DGX H100 SuperPOD-style cluster, copper-first versus CPO links.
DEFAULT_STUDY: dict[str, Any] = {
    "name": "default",
    "seed": 0,
    "policies": ["copper-first",
                 {"name": "cpo", "policy": "copper-first", "tier_policy": {"scaleout": "cpo"}}],
    "fidelity": "flow",
    "workload": {"model": "gpt3-175b", "gpus": 1024, "tp": 8, "pp": 8, "global_batch": 128,
                 "micro_batch": 1, "gpu": "h100"},
    "topology": {"preset": "dgx-h100-superpod"},
}


class WorkloadConfig(pydantic.BaseModel):
    """Either ``trace`` (a file; other keys are reader options) or generator arguments."""

    model_config = pydantic.ConfigDict(extra="allow")
    trace: str | None = None


class TopologyConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    preset: str = "dgx-h100-superpod"
    gpus: int | None = None
    tier_policy: dict[str, str] = {}
    lane_rate: str | None = None
    params: dict[str, Any] = {}


class PolicySpec(pydantic.BaseModel):
    """A named link policy: a base policy plus per-tier overrides.

    ``{name = "cpo", policy = "copper-first", tier_policy = {scaleout = "cpo"}}`` keeps the
    in-rack scale-up copper and puts CPO on every scale-out tier. A bare string in
    ``policies`` is a policy applied to every tier (``"cpo"`` = CPO everywhere).
    """

    model_config = pydantic.ConfigDict(extra="forbid")
    name: str
    policy: str = "copper-first"
    tier_policy: dict[str, str] = {}


class BudgetConfig(pydantic.BaseModel):
    """The budgets of a comparison basis, per GPU (see ``sim.phy.budget`` and the README,
    "Comparing fairly"). The basis names the one held equal; every budget given also bounds."""

    model_config = pydantic.ConfigDict(extra="forbid", allow_inf_nan=False)
    network_power_per_gpu_w: float | None = pydantic.Field(None, ge=0)
    shoreline_mm: float | None = pydantic.Field(None, ge=0)
    cost_per_gpu_usd: float | None = pydantic.Field(None, ge=0)
    switch_shoreline_mm: float | None = pydantic.Field(None, gt=0)
    switch_lanes: int | None = pydantic.Field(None, ge=1)
    max_planes: int | None = pydantic.Field(None, ge=1)
    lane_rates: list[str] = []


class StudyConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: str = "study"
    # comparison basis: iso-bandwidth (same port rates, the default), iso-power, iso-shoreline
    # or iso-cost (the budget decides each policy's bandwidth); see sim.phy.budget
    basis: Literal["iso-bandwidth", "iso-power", "iso-shoreline", "iso-cost"] = "iso-bandwidth"
    budget: BudgetConfig = BudgetConfig()
    # overrides of sim/phy/costs.csv ({key = number in the table's unit})
    costs: dict[str, Any] = {}
    seed: int = pydantic.Field(0, ge=0)
    policies: list[str | PolicySpec] = ["copper-first", "cpo"]
    fidelity: Literal["flow", "packet", "analytical"] = "flow"
    mode: Literal["grouped", "per-rank"] = "grouped"
    algorithm: str = "auto"
    # pxn (NCCL's default): rail-local relays for cross-rail traffic (sim.fabric.routing.pxn),
    # ecmp-hash where a fabric has no rails
    routing: Literal["ecmp-hash", "ecmp-even", "pxn"] = "pxn"
    # how CPO / optical-I/O lasers are packaged, for the network's interruptions and the job's
    # goodput (sim.faults.els): external laser sources, fixed in the engine, or per link
    laser_source: Literal["els", "fixed", "per-link"] = "els"
    workload: WorkloadConfig = WorkloadConfig()
    topology: TopologyConfig = TopologyConfig()
    timeline: bool = True
    # rank -> compute slowdown (2.0 = twice as long), see workloads.stragglers
    stragglers: dict[int, float] = {}
    # rank -> stall in seconds, at the start or before each op named delay_before
    delays: dict[int, float] = {}
    delay_before: str | None = None


def load_study(path: str | Path | None) -> StudyConfig:
    raw = DEFAULT_STUDY if path is None else resolve_paths(load_toml(path), Path(path).parent)
    source = "<built-in default study>" if path is None else str(path)
    try:
        return StudyConfig.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise validation_error(exc, source) from None


def build_workload(cfg: StudyConfig, source: str = "<study>"):
    trace = _base_workload(cfg, source)
    if cfg.stragglers or cfg.delays:
        from workloads.stragglers import with_delays, with_stragglers

        trace = with_stragglers(trace, cfg.stragglers, source)
        trace = with_delays(trace, cfg.delays, cfg.delay_before, source)
    elif cfg.delay_before is not None:
        raise CposimError("delay_before needs a [delays] table", file=source,
                          field="delay_before")
    return trace


def _base_workload(cfg: StudyConfig, source: str):
    w = cfg.workload.model_dump(exclude_none=True)
    trace_path = w.pop("trace", None)
    if trace_path is not None:
        from workloads.io import read_trace

        try:
            return read_trace(trace_path, **w)
        except CposimError as exc:
            if exc.field not in w:      # the trace file's own error: it names file and line
                raise
            raise CposimError(f"{exc.message} (reading {trace_path})", file=source,
                              field=f"workload.{exc.field}") from None
    from workloads.generator import generate

    params = inspect.signature(generate).parameters
    for key in w:
        if key not in params or key == "model":
            if key == "model":
                continue
            raise CposimError("unknown key", file=source, field=f"workload.{key}")
    if "model" not in w:
        raise CposimError("give workload.model (a generator model) or workload.trace",
                          file=source, field="workload")
    model = w.pop("model")
    try:
        return generate(model, **w)
    except TypeError as exc:
        raise CposimError(str(exc), file=source, field="workload") from None


def policy_spec(p: str | PolicySpec) -> PolicySpec:
    return PolicySpec(name=p, policy=p) if isinstance(p, str) else p


def build_cluster(cfg: StudyConfig, policy: str | PolicySpec, n_gpus: int, *,
                  afforded: bool = False):
    """The cluster ``policy`` runs on. On the iso-bandwidth basis, the topology as configured;
    on another, the one the study's budget affords (:func:`afford_cluster`). ``afforded=True``
    returns ``(topology, afforded)`` (``afforded`` is ``None`` on iso-bandwidth)."""
    from sim.fabric import build_topology
    from sim.units import parse_rate_bps

    t = cfg.topology
    spec = policy_spec(policy)
    kw: dict[str, Any] = {"gpus": t.gpus or n_gpus, "policy": spec.policy}
    tier_policy = {**t.tier_policy, **spec.tier_policy}
    if tier_policy:
        kw["tier_policy"] = tier_policy
    if t.lane_rate:
        kw["lane_rate_bps"] = parse_rate_bps(t.lane_rate, field="topology.lane_rate")
    if t.params:
        kw["params"] = dict(t.params)
    if cfg.basis != "iso-bandwidth":
        got = afford_cluster(cfg, spec, kw)
        return got if afforded else got[0]
    topo = build_topology(t.preset, **kw)
    return (topo, None) if afforded else topo


def study_costs(cfg: StudyConfig, source: str | None = None):
    """The cost table (``sim/phy/costs.csv``) with the study's ``[costs]`` overrides."""
    from sim.phy.costs import load_costs

    try:
        return load_costs(cfg.costs)
    except CposimError as exc:
        field = exc.field if (exc.field or "").startswith("costs.") else f"costs.{exc.field}"
        raise CposimError(exc.message, file=source, field=field) from None


def study_budget(cfg: StudyConfig, source: str | None = None):
    """``(Budget, lane_rates)`` of a study whose basis is not iso-bandwidth: the basis's own
    budget must be given; the GPU shoreline defaults to ``budget.gpu_shoreline`` and the
    planes to ``budget.max_planes`` of ``sim/phy/costs.csv``."""
    from sim.phy.budget import BUDGET_OF, FIELD_OF, Budget
    from sim.units import parse_rate_bps

    b, costs = cfg.budget, study_costs(cfg, source)
    given = {"power": b.network_power_per_gpu_w, "shoreline": b.shoreline_mm,
             "cost": b.cost_per_gpu_usd}
    need = BUDGET_OF[cfg.basis]
    if given[need] is None:
        raise CposimError(f"basis {cfg.basis} needs this budget", file=source,
                          field=FIELD_OF[need])
    budget = Budget(
        power_w=b.network_power_per_gpu_w, cost_usd=b.cost_per_gpu_usd,
        shoreline_m=(b.shoreline_mm * 1e-3 if b.shoreline_mm is not None
                     else costs["budget.gpu_shoreline"]),
        switch_shoreline_m=None if b.switch_shoreline_mm is None else b.switch_shoreline_mm * 1e-3,
        max_planes=b.max_planes or int(costs["budget.max_planes"]))
    rates = [parse_rate_bps(r, field=f"budget.lane_rates.{i}") for i, r in enumerate(b.lane_rates)]
    from sim.phy import load_parameters
    from sim.phy.channel import rate_key

    for i, r in enumerate(rates):        # name the study field, not the link model's
        try:
            rate_key(load_parameters(), r)
        except CposimError as exc:
            raise CposimError(exc.message, file=source, field=f"budget.lane_rates.{i}") from None
    return budget, rates


def afford_cluster(cfg: StudyConfig, spec: PolicySpec, kw: dict[str, Any]):
    """``(topology, afforded)``: the fabric the study's budget affords policy ``spec``
    (``kw``: the arguments :func:`build_cluster` would give ``build_topology``)."""
    from sim.fabric.budget import afford_topology

    budget, rates = study_budget(cfg)
    b = cfg.budget
    topo, got, _ = afford_topology(cfg.topology.preset, budget=budget, lane_rates=rates or None,
                                   switch_lanes=b.switch_lanes, costs=study_costs(cfg),
                                   label=spec.name, **kw)
    return topo, got


ECONOMICS_COLUMNS = ("basis", "scaleout_bandwidth_per_gpu_bps", "scaleout_planes",
                     "scaleout_power_w", "scaleout_power_per_gpu_w", "scaleout_energy_j",
                     "network_capex_usd", "network_capex_per_gpu_usd",
                     "network_capex_usd_per_iteration", "network_energy_usd_per_iteration",
                     "network_usd_per_iteration", "network_kgco2e_per_iteration",
                     "cluster_usd_per_iteration", "cluster_kgco2e_per_iteration",
                     "binding_constraint", "laser_source", "network_interrupts_per_day",
                     "job_interrupts_per_day", "goodput", "useful_iteration_s",
                     "cluster_usd_per_useful_iteration")


def economics(cfg: StudyConfig, topo, summary: dict, afforded=None) -> dict:
    """The study's money and carbon columns for one policy (appended after the others):
    scale-out bandwidth, power and capex, $ and kg CO2e per iteration (network and cluster,
    see ``sim.phy.costs.iteration_economics``), and the basis with what bound it."""
    from sim.fabric.cost import network_capex, scaleout_bandwidth_per_gpu_bps, scaleout_power_w
    from sim.phy.costs import iteration_economics

    costs = study_costs(cfg)
    n = max(topo.n_gpus, 1)
    it = summary["iteration_s"]
    power = scaleout_power_w(topo)
    bw = scaleout_bandwidth_per_gpu_bps(topo)
    capex = network_capex(topo, costs)
    out: dict[str, Any] = {
        "basis": cfg.basis,
        "scaleout_bandwidth_per_gpu_bps": bw,
        "scaleout_planes": int(topo.notes.get("planes", 1)),
        "scaleout_power_w": power, "scaleout_power_per_gpu_w": power / n,
        "scaleout_energy_j": power * it,
        "network_capex_usd": capex["total_usd"], "network_capex_per_gpu_usd": capex["per_gpu_usd"],
        **iteration_economics(iteration_s=it, gpus=topo.n_gpus, scaleout_energy_j=power * it,
                              network_energy_j=summary["network_energy_j"],
                              scaleout_capex_usd=capex["total_usd"], costs=costs),
        "binding_constraint": "" if afforded is None else afforded.binding,
    }
    out.update(reliability(cfg, topo, it, out["cluster_usd_per_iteration"]))
    if afforded is not None:
        out["afforded_lanes_per_gpu"] = afforded.lanes
        out["afforded_lane_rate_bps"] = afforded.lane_rate_bps
        for k, v in afforded.bounds_bps.items():
            out[f"bound_{k.replace(' ', '_')}_bps"] = v
    return out


def reliability(cfg: StudyConfig, topo, iteration_s: float, cluster_usd_per_iteration: float
                ) -> dict:
    """What failures cost the policy: its scale-out network's interruptions of the job (links,
    switches, lasers packaged as ``cfg.laser_source``; ``sim.faults.els``), every cause's
    (other causes at Llama 3's per-GPU rate), the job's goodput with Daly-optimal
    checkpoints (``sim/faults/parameters.csv``), and the iteration and its cost per *useful*
    iteration (divided by the goodput)."""
    from sim.faults.els import job_goodput, network_interruptions

    net = network_interruptions(topo, cfg.laser_source)["interrupt_per_h"]
    job = job_goodput(net, topo.n_gpus)
    g = job["goodput"]
    return {"laser_source": cfg.laser_source, "network_interrupts_per_day": 24.0 * net,
            "job_interrupts_per_day": 24.0 * job["interrupt_per_h"], "goodput": g,
            "useful_iteration_s": iteration_s / g if g > 0 else math.inf,
            "cluster_usd_per_useful_iteration":
                cluster_usd_per_iteration / g if g > 0 else math.inf}


@dataclass
class PolicyRun:
    policy: str
    summary: dict
    ops: pd.DataFrame
    classes: pd.DataFrame
    links: pd.DataFrame
    energy: pd.DataFrame
    topology_summary: dict
    timeline: dict | None = None
    wall_s: float = 0.0


@dataclass
class StudyResult:
    """A study's outcome (``sim.run_study``): ``comparison()`` (one row per policy), the
    tables ``ops``, ``classes``, ``links`` and ``energy`` (every policy's rows, with a leading
    ``policy`` column), ``plot()`` (the picture) and ``save(dir)`` (what ``cposim run``
    writes); ``runs`` holds each policy's :class:`PolicyRun`."""

    config: StudyConfig
    runs: dict[str, PolicyRun] = field(default_factory=dict)
    trace_metadata: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<StudyResult {self.config.name!r}: policies {list(self.runs)}>"

    def _table(self, name: str) -> pd.DataFrame:
        dfs = []
        for p, r in self.runs.items():
            df = getattr(r, name).copy()
            df.insert(0, "policy", p)
            dfs.append(df)
        return pd.concat(dfs, ignore_index=True) if dfs else pd.DataFrame()

    @property
    def ops(self) -> pd.DataFrame:
        """One row per op per rank class: timing, bytes, exposed vs overlapped time, algbw,
        busbw (``ops.parquet``), per policy."""
        return self._table("ops")

    @property
    def classes(self) -> pd.DataFrame:
        """The rank classes the runtime simulated (``classes.parquet``), per policy."""
        return self._table("classes")

    @property
    def links(self) -> pd.DataFrame:
        """Every directed link: tier, technology, length, capacity, power, bytes carried and
        utilisation (``links.parquet``), per policy."""
        return self._table("links")

    @property
    def energy(self) -> pd.DataFrame:
        """Network power and energy per iteration by tier and technology
        (``energy.parquet``), per policy."""
        return self._table("energy")

    def save(self, out_dir: str | Path) -> Path:
        """Write the files of ``cposim run`` (Parquet tables, timelines, summary.png/pdf,
        manifest.json) to ``out_dir``; see :func:`save_study`."""
        return save_study(self, out_dir)

    def comparison(self) -> pd.DataFrame:
        """One row per policy: iteration time and its parts, network power and energy,
        pJ/bit, optics, speed-up and energy relative to the first policy (``cposim run``)."""
        rows = [{"policy": p, **r.summary} for p, r in self.runs.items()]
        df = pd.DataFrame(rows)
        if len(df):
            base = df.iloc[0]
            df["speedup_vs_first"] = base["iteration_s"] / df["iteration_s"]
            df["network_energy_vs_first"] = df["network_energy_j"] / base["network_energy_j"]
            # the basis, money and carbon columns (economics()) come last
            last = [c for c in df.columns if c in ECONOMICS_COLUMNS or c.startswith(
                ("bound_", "afforded_"))]
            df = df[[c for c in df.columns if c not in last] + last]
        return df

    def plot(self):
        """The study's picture (``summary.png`` of ``cposim run``): a matplotlib Figure, see
        :func:`sim.report.figure.study_figure`."""
        from sim.report.figure import study_figure

        return study_figure(self)


# A run shorter than this shows no bar at all (tqdm's ``delay``): most studies take seconds.
PROGRESS_DELAY_S = 2.0


class ProgressBars:
    """One tqdm bar per policy: ops completed out of the ops the runtime will run (exact, and
    known before the run starts — unlike simulated time, whose end is what we are computing).

    ``enabled=None`` shows bars only when ``file`` (default: stderr at the time of the run) is a
    terminal, tqdm's own rule; ``True`` forces them, ``False`` turns them off. A bar appears
    only once its policy has run for ``delay_s``.
    """

    def __init__(self, enabled: bool | None = None, *, file: TextIO | None = None,
                 delay_s: float | None = None, leave: bool = True) -> None:
        self.enabled = enabled
        self.file = file
        self.delay_s = delay_s
        self.leave = leave

    @contextlib.contextmanager
    def policy(self, name: str) -> Iterator[Callable[[int, int], None] | None]:
        """A ``progress(ops_done, ops_total)`` callback for :func:`sim.runtime.simulate`, or
        ``None`` when no bar is shown (then the runtime skips the bookkeeping)."""
        if self.enabled is False:
            yield None
            return
        from tqdm import tqdm

        # the module constant is read here, not at definition, so tests can shorten it
        delay = PROGRESS_DELAY_S if self.delay_s is None else self.delay_s
        bar = tqdm(desc=f"{name} (ops)", unit="op", file=self.file or sys.stderr,
                   disable=None if self.enabled is None else False, delay=delay,
                   leave=self.leave, dynamic_ncols=True)
        if bar.disable:
            bar.close()
            yield None
            return

        def update(done: int, total: int) -> None:
            if bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        try:
            yield update
        finally:
            bar.close()


def _progress_bars(progress: ProgressBars | bool | None) -> ProgressBars:
    if isinstance(progress, ProgressBars):
        return progress
    return ProgressBars(enabled=bool(progress))


# Fabric defaults that are not in the PHY table, with their sources (sim/fabric docstrings).
FABRIC_SOURCES = {
    "switch_latency_s": "300 ns port-to-port: Sella, Moore, Zilberman, NEAT@SIGCOMM 2018 (A); "
                        "Quantum-2 <150 ns, Tomahawk-6 ~250 ns (C)",
    "rack_width_m": "600 mm enclosure, common 19-inch rack practice (U)",
    "row_pitch_m": "rack depth 1.2 m + aisle 1.2 m + clearance (D/U)",
    "rise_m": "device to overhead tray, about half a 42U rack plus tray height (D/U)",
    "slack_m": "service loop per inter-rack cable, design-guide practice (U)",
    "in_rack_m": "GB200 NVL72: ~5,000 cables, ~3.0 km total -> 0.6 m each "
                 "(reference cpo-parameters.md 1c, B/C -> D)",
}


def fabric_parameters(topo) -> list[dict]:
    import dataclasses

    rows = [{"key": f"fabric.geometry.{k}", "value": v, "unit": "m",
             "source": FABRIC_SOURCES.get(k, "")}
            for k, v in dataclasses.asdict(topo.geometry).items()]
    lat = sorted({float(x) for x in topo.switch_latency_s[topo.kind == "switch"]})
    rows.append({"key": "fabric.switch_latency_s", "value": lat, "unit": "s",
                 "source": FABRIC_SOURCES["switch_latency_s"]})
    return rows


def run_policy(cfg: StudyConfig, trace, policy: str | PolicySpec, *,
               progress: ProgressBars | bool | None = None) -> PolicyRun:
    """One policy's iteration. ``progress``: ``True`` for a bar on stderr, a
    :class:`ProgressBars` to choose where and when, ``None``/``False`` for none."""
    from sim.report import (chrome_trace, energy_table, iteration_summary, link_table,
                            network_totals, op_table)

    t0 = time.perf_counter()
    topo, afforded = build_cluster(cfg, policy, trace.world_size, afforded=True)
    from sim.runtime import SpeedOptions, simulate

    speed = SpeedOptions(rank_classes=cfg.mode == "grouped")   # mode: grouped | per-rank
    with _progress_bars(progress).policy(policy_spec(policy).name) as hook:
        result = simulate(trace, topo, fidelity=cfg.fidelity, speed=speed,
                          algorithm=cfg.algorithm, routing=cfg.routing, seed=cfg.seed,
                          progress=hook)
    fabric = result.fabric
    it = result.iteration_s
    summary = {**iteration_summary(result),
               **network_totals(topo, fabric, it, fabric.bytes_delivered),
               "bytes_delivered": float(fabric.bytes_delivered),
               "gpus": topo.n_gpus}
    summary["network_energy_per_gpu_j"] = summary["network_energy_j"] / max(topo.n_gpus, 1)
    summary.update(economics(cfg, topo, summary, afforded))
    ops = op_table(result, trace)
    return PolicyRun(policy_spec(policy).name, summary, ops, result.classes,
                     link_table(topo, fabric, it), energy_table(topo, fabric, it),
                     {**topo.summary(), "fabric_parameters": fabric_parameters(topo)},
                     chrome_trace(result.ops) if cfg.timeline else None,
                     time.perf_counter() - t0)


def run_study(cfg: StudyConfig, source: str = "<study>", *,
              progress: ProgressBars | bool | None = None) -> StudyResult:
    """Every policy of ``cfg`` on the same workload; ``progress`` as in :func:`run_policy`
    (one bar per policy)."""
    trace = build_workload(cfg, source)
    out = StudyResult(cfg, trace_metadata=dict(trace.metadata))
    names = [policy_spec(p).name for p in cfg.policies]
    if len(set(names)) != len(names):
        raise CposimError(f"policy names repeat: {names}", file=source, field="policies")
    study_costs(cfg, source)
    if cfg.basis != "iso-bandwidth":
        study_budget(cfg, source)          # a missing budget fails before any run
    else:
        # a budget on the iso-bandwidth basis would be ignored: say so rather than drop it
        given = sorted(k for k, v in cfg.budget.model_dump().items() if v not in (None, []))
        if given:
            raise CposimError("a budget is given but basis is iso-bandwidth (same port "
                              "rates, no budget); set basis = \"iso-power\", \"iso-shoreline\" "
                              "or \"iso-cost\"", file=source, field=f"budget.{given[0]}")
    for policy in cfg.policies:
        run = run_policy(cfg, trace, policy, progress=progress)
        log.info("policy %s: iteration %.4g s", run.policy, run.summary["iteration_s"])
        out.runs[run.policy] = run
    return out


def resolved_parameters() -> list[dict]:
    """Every default of the physical layer with its value, unit, source and grade."""
    try:
        from sim.phy import load_parameters
    except ImportError:
        return []
    params = load_parameters()
    table = getattr(params, "table", None)
    if isinstance(table, pd.DataFrame):
        return table.to_dict(orient="records")
    if hasattr(params, "records"):
        return [dict(r) for r in params.records()]
    return []


def _fault_parameter_records() -> list[dict]:
    """The failure, repair and checkpoint parameters behind the goodput columns, with sources."""
    from sim.faults import load_fault_parameters

    return [dict(r) for r in load_fault_parameters().records()]


def save_study(res: StudyResult, out_dir: str | Path) -> Path:
    with io.ResultDir(out_dir) as rd:
        comp = res.comparison()
        comp.to_parquet(rd / "comparison.parquet", index=False)
        for p, r in res.runs.items():
            if r.timeline is not None:
                io.write_json(r.timeline, rd / f"timeline_{p}.json")
        for name in ("ops", "classes", "links", "energy"):
            getattr(res, name).to_parquet(rd / f"{name}.parquet", index=False)
        if res.runs:
            from sim.report.figure import save_study_figure

            save_study_figure(res, rd / "summary")
        io.write_json(io.manifest(
            res.config.name, config=res.config.model_dump(), seed=res.config.seed,
            parameters=resolved_parameters(), workload=res.trace_metadata,
            costs=study_costs(res.config).records(),
            fault_parameters=_fault_parameter_records(),
            topologies={p: r.topology_summary for p, r in res.runs.items()},
            wall_s={p: round(r.wall_s, 3) for p, r in res.runs.items()},
            files=sorted(x.name for x in rd.stage.iterdir()) + ["manifest.json"]),
            rd / "manifest.json")
    return Path(out_dir)


def sweep_point(config: dict, seed: int) -> dict:
    """The default sweep task: one study point -> flat scalars (one row per policy joined)."""
    try:
        cfg = StudyConfig.model_validate({**config, "seed": seed, "timeline": False})
    except pydantic.ValidationError as exc:
        raise validation_error(exc, "<sweep point>") from None
    res = run_study(cfg)
    row: dict[str, Any] = {}
    for p, r in res.runs.items():
        for k, v in r.summary.items():
            if isinstance(v, (int, float)):
                row[f"{p}.{k}"] = v
    return row
