"""Figure ``what-cpo-buys``: for the same power budget (or package edge), how much bandwidth each
link technology gives each GPU, and what that does to the iteration and its cost.

Iso-bandwidth studies show CPO as "same iteration, a third less network power". The architect's
question is the converse: hold the scale-out network power per GPU (or the GPU package edge
given to scale-out I/O) equal and let each technology buy what bandwidth it can
(:mod:`sim.phy.budget`: lanes x lane rate, bounded by power at the built cable lengths,
shoreline density and switch radix; more lanes per port first, then more planes). Set-up, all
stated:

* **Cluster**: ``dgx-h100-superpod`` (NVL8 copper scale-up, rail-optimized 100G-lane scale-out,
  QM9700-class 64-port switches, 2 tiers at 1,024 GPUs, 3 beyond), H100 GPUs. The scale-up
  domain stays copper in every policy; the policy is the scale-out's: ``copper-first`` (copper
  where it reaches, else DSP pluggables), ``pluggable``, ``lpo``, ``cpo``, ``optical-io``.
* **Workloads**: GPT-3 175B (TP8 x PP8), Llama 3 405B (TP8 x PP16), DeepSeek-V3 (EP64 x PP16,
  no TP) at 1,024-16,384 GPUs; global batch = dp x pp sequences (pp micro-batches per pipeline,
  pp/2 with ``--quick``: short runs; the bubble is then a large, policy-independent part of the
  step, which damps every speed-up); ``analytical``
  fidelity (alpha-beta per collective; a flow is spread over the planes).
* **Budgets**: scale-out network power per GPU (link ports of leaf/spine/core incl. host
  SerDes), and GPU package edge for scale-out I/O (iso-shoreline). Today's typical budget is
  what ``copper-first`` draws at the preset's own 400G per GPU (iso-bandwidth), per size.
* **Cost**: ``sim/phy/costs.csv`` (sourced, graded); cluster $ per iteration = (GPU + scale-out
  network capex) amortised over ``capex.lifetime`` + energy x PUE x electricity price; divided by
  the job's goodput (network interruptions with CPO/optical-I/O lasers as external laser sources,
  :mod:`sim.faults.els`) for $ per useful iteration.

Writes ``results/what_cpo_buys/``: ``points.parquet`` (every budget point), ``typical.parquet``
(typical budget, every size), ``laser_domains.parquet`` (fixed-laser vs ELS CPO), the figures
``what_cpo_buys`` (curves at 1,024 GPUs) and ``what_cpo_buys_sizes`` (typical budget by size),
manifest. ``--quick``: GPT-3 at 1,024 GPUs, three power and two shoreline budgets.
"""

from __future__ import annotations

import hashlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from experiments.common import POLICY_STYLE, Check, FigureResult, apply_style
from sim.errors import CposimError
from sim.fabric import build_topology
from sim.fabric.budget import afford_topology
from sim.fabric.cost import network_capex, scaleout_bandwidth_per_gpu_bps, scaleout_power_w
from sim.faults.els import compare_laser_sources, job_goodput, network_interruptions
from sim.phy.budget import Budget
from sim.phy.costs import iteration_economics, load_costs
from sim.runtime import simulate
from workloads.generator import generate

PRESET = "dgx-h100-superpod"
GPU = "h100"
MODELS = {"GPT-3 175B": ("gpt3-175b", dict(tp=8, pp=8)),
          "Llama 3 405B": ("llama3-405b", dict(tp=8, pp=16)),
          "DeepSeek-V3": ("deepseek-v3", dict(tp=1, pp=16, ep=64))}
QUICK_MODELS = ("GPT-3 175B",)
# scale-out tier policy of each curve (scale-up stays copper-first)
POLICIES = {"copper-first": None, "pluggable": "pluggable", "lpo": "lpo", "cpo": "cpo",
            "optical-io": "optical-io"}
SIZES = (1024, 4096, 16384)
CURVE_SIZE = 1024
POWER_W = (10.0, 20.0, 40.0, 80.0, 160.0)
QUICK_POWER_W = (15.0, 60.0)
SHORELINE_MM = (1.0, 2.0, 4.0, 8.0, 16.0)
QUICK_SHORELINE_MM = (2.0, 8.0)
CODE = {"power": "P", "shoreline": "S", "switch radix": "R", "switch shoreline": "W",
        "cost": "C", "reach": "X"}
NVIDIA = "Nvidia GTC25: CPO 3.5x power efficiency vs pluggable transceivers [B]"


class Runner:
    """Traces per (model, size) and simulations per distinct fabric, each made once."""

    def __init__(self, quick: bool = False) -> None:
        self.costs = load_costs()
        self.quick = quick
        self.traces: dict = {}
        self.sims: dict = {}
        self.faults: dict = {}

    def trace(self, label: str, gpus: int):
        key = (label, gpus)
        if key not in self.traces:
            model, kw = MODELS[label]
            dp = gpus // (kw["tp"] * kw["pp"])
            per_pipe = kw["pp"] // 2 if self.quick else kw["pp"]    # micro-batches
            self.traces[key] = generate(model, gpus=gpus, micro_batch=1, gpu=GPU,
                                        global_batch=dp * per_pipe, **kw)
        return self.traces[key]

    @staticmethod
    def fabric_key(topo) -> str:
        """Equal for fabrics that simulate alike (copper-first = pluggable in the scale-out)."""
        h = hashlib.sha1()
        for a in (topo.src, topo.dst, topo.capacity_bps, topo.latency_s, topo.tech.astype(str)):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def iteration_s(self, label: str, gpus: int, topo) -> float:
        key = (label, gpus, self.fabric_key(topo))
        if key not in self.sims:
            self.sims[key] = simulate(self.trace(label, gpus), topo,
                                      fidelity="analytical").iteration_s
        return self.sims[key]

    def reliability(self, topo) -> tuple[float, float]:
        """Network interruptions per day (external lasers as ELS) and the job's goodput."""
        key = self.fabric_key(topo)
        if key not in self.faults:
            ni = network_interruptions(topo, "els")
            self.faults[key] = (24.0 * ni["interrupt_per_h"],
                                job_goodput(ni["interrupt_per_h"], topo.n_gpus)["goodput"])
        return self.faults[key]


def typical_w(gpus: int) -> float:
    """Today's typical budget: copper-first's scale-out power per GPU at the preset's 400G."""
    topo = build_topology(PRESET, gpus=gpus, policy="copper-first")
    return scaleout_power_w(topo) / gpus


def point(run: Runner, label: str, gpus: int, policy: str, basis: str, value: float,
          budget_name: str = "") -> dict:
    """One (model, size, policy, budget) point: the afforded fabric, its iteration and cost."""
    c = run.costs
    shore = value * 1e-3 if basis == "iso-shoreline" else c["budget.gpu_shoreline"]
    budget = Budget(power_w=value if basis == "iso-power" else None, shoreline_m=shore,
                    max_planes=int(c["budget.max_planes"]))
    tier = POLICIES[policy]
    row = {"model": label, "gpus": gpus, "policy": policy, "basis": basis,
           "budget": value, "budget_name": budget_name}
    try:
        topo, got, demand = afford_topology(
            PRESET, gpus=gpus, budget=budget, policy="copper-first",
            tier_policy=None if tier is None else {"scaleout": tier}, costs=c, label=policy)
    except CposimError as exc:
        return {**row, "feasible": False, "binding": "reach" if "reach" in exc.message
                else "budget", "note": exc.message}
    it = run.iteration_s(label, gpus, topo)
    power = scaleout_power_w(topo)
    capex = network_capex(topo, c)
    econ = iteration_economics(iteration_s=it, gpus=gpus, scaleout_energy_j=power * it,
                               network_energy_j=float(topo.port_total_power_w.sum()) * it,
                               scaleout_capex_usd=capex["total_usd"], costs=c)
    return {**row, "feasible": True, "binding": got.binding,
            "bandwidth_bps": scaleout_bandwidth_per_gpu_bps(topo), "lanes": got.lanes,
            "planes": got.planes, "lane_rate_bps": got.lane_rate_bps,
            **{f"bound_{k.replace(' ', '_')}_bps": v for k, v in got.bounds_bps.items()},
            "path_pj_per_bit": demand.w_per_bps * 1e12, "iteration_s": it,
            "scaleout_power_per_gpu_w": power / gpus,
            "network_capex_per_gpu_usd": capex["per_gpu_usd"], **econ, "note": "",
            "_topo": topo}


def _speedups(df: pd.DataFrame) -> pd.DataFrame:
    keys = ["model", "gpus", "basis", "budget"]
    base = df[df.policy == "copper-first"].set_index(keys)["iteration_s"]
    idx = pd.MultiIndex.from_frame(df[keys])
    df["speedup_vs_copper_first"] = base.reindex(idx).to_numpy() / df["iteration_s"].to_numpy()
    return df


def _reliability(run: Runner, rows: list[dict]) -> None:
    """Network interruptions and goodput of each afforded fabric (iso-power points only)."""
    for r in rows:
        topo = r.pop("_topo", None)
        if topo is None or r["basis"] != "iso-power":
            continue
        r["network_interrupts_per_day"], r["goodput"] = run.reliability(topo)
        r["cluster_usd_per_useful_iteration"] = r["cluster_usd_per_iteration"] / r["goodput"]


def tables(quick: bool = False):
    run = Runner(quick)
    labels = QUICK_MODELS if quick else tuple(MODELS)
    sizes = (CURVE_SIZE,) if quick else SIZES
    typical = {n: typical_w(n) for n in sizes}
    power = (QUICK_POWER_W if quick else POWER_W) + (typical[CURVE_SIZE],)
    shore = QUICK_SHORELINE_MM if quick else SHORELINE_MM
    rows, typ = [], []
    for label in labels:
        for pol in POLICIES:
            for w in sorted(set(power)):
                rows.append(point(run, label, CURVE_SIZE, pol, "iso-power", w,
                                  "typical" if w == typical[CURVE_SIZE] else ""))
            for mm in shore:
                rows.append(point(run, label, CURVE_SIZE, pol, "iso-shoreline", mm))
            for n in sizes:
                typ.append(point(run, label, n, pol, "iso-power", typical[n], "typical"))
    _reliability(run, rows)
    _reliability(run, typ)
    pts = _speedups(pd.DataFrame(rows))
    typ = _speedups(pd.DataFrame(typ))
    laser = []
    for n in sizes:
        topo = build_topology(PRESET, gpus=n, policy="copper-first",
                              tier_policy={"scaleout": "cpo"})
        laser.append(compare_laser_sources(topo))
    return pts, typ, pd.concat(laser, ignore_index=True), typical


def _curve(ax, d: pd.DataFrame, x: str, y: str, pol: str, xscale: float = 1.0) -> None:
    d = d[d.feasible].sort_values(x)
    st = dict(POLICY_STYLE[pol])
    ax.plot(d[x] * xscale, d[y], label=pol, **st)
    last = None
    for r in d.itertuples():          # the binding constraint, where it changes
        code = CODE.get(r.binding, "?")
        if code != last:
            ax.annotate(code, (getattr(r, x) * xscale, getattr(r, y)), fontsize=5.5,
                        xytext=(2, 3), textcoords="offset points", color=st["color"])
            last = code


def _log_ticks(ax, values) -> None:
    """A log2 axis labelled at the budgets themselves."""
    from matplotlib.ticker import NullLocator

    ax.set_xscale("log", base=2)
    ax.set_xticks(values, [f"{v:.3g}" for v in values])
    ax.xaxis.set_minor_locator(NullLocator())


def plot(pts: pd.DataFrame, typical: dict) -> plt.Figure:
    apply_style()
    labels = list(dict.fromkeys(pts.model))
    fig, axes = plt.subplots(3, len(labels), figsize=(2.6 * len(labels) + 0.6, 6.6),
                             squeeze=False)
    for j, label in enumerate(labels):
        a, b, c = axes[:, j]
        p = pts[(pts.model == label) & (pts.basis == "iso-power")]
        s = pts[(pts.model == label) & (pts.basis == "iso-shoreline")]
        for pol in POLICIES:
            _curve(a, p[p.policy == pol], "budget", "iteration_s", pol)
            _curve(b, p[p.policy == pol], "budget", "cluster_usd_per_useful_iteration", pol)
            _curve(c, s[s.policy == pol], "budget", "iteration_s", pol)
        for ax in (a, b):
            ax.axvline(typical[CURVE_SIZE], color="0.5", lw=0.8, ls=":")
            _log_ticks(ax, sorted(p.budget.unique()))
            ax.set_xlabel("scale-out network power budget (W per GPU)")
        _log_ticks(c, sorted(s.budget.unique()))
        c.set_xlabel("GPU package edge for scale-out I/O (mm)")
        a.set_title(f"{label}, {CURVE_SIZE:,} GPUs")
        a.set_ylabel("iteration time (s)")
        b.set_ylabel("cluster $ per useful iteration")
        c.set_ylabel("iteration time (s)")
    axes[0, 0].annotate("typical", (typical[CURVE_SIZE], axes[0, 0].get_ylim()[1]),
                        fontsize=6, color="0.4", ha="left", va="top")
    axes[0, -1].legend(fontsize=6)
    fig.text(0.01, 0.003, "binding constraint: P power, S shoreline, R switch radix (x planes), "
             "X reach", fontsize=6, color="0.3")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return fig


def plot_sizes(typ: pd.DataFrame) -> plt.Figure:
    apply_style()
    labels = list(dict.fromkeys(typ.model))
    fig, axes = plt.subplots(1, len(labels), figsize=(2.6 * len(labels) + 0.6, 2.6),
                             squeeze=False)
    for ax, label in zip(axes[0], labels):
        d = typ[(typ.model == label) & typ.feasible]
        for pol in POLICIES:
            q = d[d.policy == pol].sort_values("gpus")
            ax.plot(q.gpus, q.speedup_vs_copper_first, label=pol, **POLICY_STYLE[pol])
            for r in q.itertuples():
                ax.annotate(f"{r.bandwidth_bps / 1e9:g}G", (r.gpus, r.speedup_vs_copper_first),
                            fontsize=5, xytext=(2, 2), textcoords="offset points",
                            color=POLICY_STYLE[pol]["color"])
        _log_ticks(ax, sorted(d.gpus.unique()))
        ax.set_xlabel("GPUs")
        ax.set_ylabel("speed-up vs copper-first")
        ax.set_title(f"{label}: typical power budget")
    axes[0, -1].legend(fontsize=6)
    fig.tight_layout()
    return fig


def run(quick: bool = False) -> FigureResult:
    pts, typ, laser, typical = tables(quick)
    notes = []
    for (label, n), d in typ.groupby(["model", "gpus"], sort=False):
        parts = []
        for r in d.itertuples():
            if not r.feasible:
                parts.append(f"{r.policy} infeasible ({r.binding})")
                continue
            parts.append(f"{r.policy} {r.bandwidth_bps / 1e9:g}G/GPU "
                         f"({CODE.get(r.binding, '?')}, {r.planes} plane"
                         f"{'s' if r.planes > 1 else ''}) {r.speedup_vs_copper_first:.2f}x "
                         f"${r.cluster_usd_per_useful_iteration:.3g}/useful iter")
        notes.append(f"{label} @ {n:,} GPUs, typical budget {typical[n]:.1f} W/GPU: "
                     + "; ".join(parts))
    for n, d in laser.groupby("gpus"):
        f, e = d.set_index("source").loc["fixed"], d.set_index("source").loc["els"]
        notes.append(
            f"CPO lasers @ {n:,} GPUs: fixed {f.laser_interrupts_per_day:.3f} interruptions/day, "
            f"{f.lanes_per_event:.0f} lanes and {f.gpus_cut_per_event:.1f} GPUs per event, "
            f"{f.lane_hours_lost_per_day:.0f} lane-h lost/day, goodput {f.goodput:.4f}; ELS "
            f"{e.laser_interrupts_per_day:.3f}/day, {e.lanes_per_event:.0f} lanes, "
            f"{e.gpus_cut_per_event:.1f} GPUs, {e.lane_hours_lost_per_day:.1f} lane-h/day, "
            f"goodput {e.goodput:.4f}")
    notes += ["copper does not reach the scale-out cables of a rail-optimized SuperPOD (leaves in "
              "the row's network rack), so copper-first builds DSP pluggables there: its curve is "
              "the pluggable one",
              "iso-power bandwidth ratios follow the path energy per bit (host SerDes + module/"
              "engine + laser, x 2 x tiers hops); shoreline and switch radix cap them",
              "cost per useful iteration: GPUs dominate the capex; more network bandwidth pays "
              "when the iteration shortens more than the network capex grows"]
    t = typ[(typ.gpus == CURVE_SIZE) & typ.feasible].set_index(["model", "policy"])
    first = t.index.get_level_values(0)[0]
    ratio = (t.loc[(first, "cpo"), "bound_power_bps"] / t.loc[(first, "pluggable"),
                                                                "bound_power_bps"])
    checks = [Check("iso-power bandwidth CPO / pluggable (before whole lanes), 100G lanes incl. "
                    "host SerDes, vs Nvidia's power-efficiency ratio", 3.5, float(ratio), "x",
                    NVIDIA)]
    fig = plot(pts, typical)
    figs = {"what_cpo_buys": fig}
    if not quick:
        figs["what_cpo_buys_sizes"] = plot_sizes(typ)
    costs = load_costs()
    return FigureResult(
        name="what-cpo-buys",
        tables={"points": pts, "typical": typ, "laser_domains": laser},
        figures=figs, checks=checks,
        parameters={"costs": costs.records(), "preset": PRESET, "gpu": GPU,
                    "models": {k: {"model": m, **kw} for k, (m, kw) in MODELS.items()},
                    "typical_budget_w": {str(k): v for k, v in typical.items()}},
        config={"quick": quick, "power_budgets_w": list(QUICK_POWER_W if quick else POWER_W),
                "shoreline_budgets_mm": list(QUICK_SHORELINE_MM if quick else SHORELINE_MM),
                "sizes": [CURVE_SIZE] if quick else list(SIZES)},
        notes=notes)
