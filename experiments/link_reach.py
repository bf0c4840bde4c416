"""Figure ``link-reach``: energy per bit and one-way latency versus link length, per technology.

Every technology at 100G and 200G per lane, 0.1 m to 2 km on a log axis. Copper is a step
function of reach (SerDes class boundaries, retimer stages) and stops where its loss budget
runs out; optics are flat in energy up to their reach and grow in latency at 4.9 ns/m.
Infeasible ranges are not drawn.

Run as ``cposim figures link-reach`` (``--quick`` for a coarse grid). Writes
``results/link_reach/``: ``link_reach.parquet`` (long table), ``link_reach.pdf/.png`` and a
manifest with every parameter and its source.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from experiments.common import TECH_STYLE, Check, FigureResult, apply_style
from sim.phy import load_parameters, max_reach_m, resolve_link, technologies
from sim.phy import registry

L_MIN_M, L_MAX_M = 0.1, 2000.0
RATES = (100e9, 200e9)


def lengths(quick: bool) -> np.ndarray:
    """Log grid over 0.1 m-2 km, dense in the copper range, plus each copper reach edge."""
    log_grid = np.geomspace(L_MIN_M, L_MAX_M, 60 if quick else 400)
    copper_grid = np.arange(L_MIN_M, 7.0, 0.05 if quick else 0.01)
    edges = [max_reach_m(t, r) for t in technologies() for r in RATES]
    return np.unique(np.round(np.concatenate([log_grid, copper_grid, edges, [L_MAX_M]]), 6))


def table(quick: bool = False, params=None) -> pd.DataFrame:
    """The long table: one row per (technology, lane rate, length)."""
    rows = []
    for rate in RATES:
        for tech in technologies():
            for length in lengths(quick):
                r = resolve_link(tech, rate, float(length), params=params)
                rows.append({
                    "tech": tech, "lane_rate_bps": rate, "capacity_bps": r.capacity_bps,
                    "length_m": float(length), "feasible": r.feasible, "loss_db": r.loss_db,
                    "serdes_class": r.serdes_class or "", "retimers": r.retimers,
                    "energy_pj_per_bit": r.energy_pj_per_bit, "port_power_w": r.port_power_w,
                    "latency_ns": r.latency_ns, "max_reach_m": r.max_reach_m,
                    "reason": r.reason or "",
                })
    return pd.DataFrame(rows)


def plot(df: pd.DataFrame) -> plt.Figure:
    apply_style()
    fig, axes = plt.subplots(2, 2, figsize=(7.0, 4.8), sharex=True, sharey="row")
    for col, rate in enumerate(RATES):
        sub = df[df.lane_rate_bps == rate]
        for tech in technologies():
            d = sub[sub.tech == tech].sort_values("length_m")
            x = d.length_m.to_numpy()
            style = dict(TECH_STYLE[tech])
            marker = style.pop("marker")
            # copper is a step function of reach (SerDes classes, retimer stages)
            draw = "default" if registry.get(tech).optical else "steps-post"
            for row, column in enumerate(("energy_pj_per_bit", "latency_ns")):
                y = d[column].where(d.feasible).to_numpy()  # infeasible -> NaN -> not drawn
                ax = axes[row, col]
                ax.plot(x, y, drawstyle=draw, label=tech, **style)
                ok = np.flatnonzero(np.isfinite(y))
                if ok.size:  # a marker at the start and at the reach edge of each curve
                    idx = [ok[0], ok[-1]]
                    ax.plot(x[idx], y[idx], linestyle="none", marker=marker,
                            color=style["color"])
        axes[0, col].set_title(f"{rate / 1e9:g}G per lane ({8 * rate / 1e12:g}T port)")
        axes[1, col].set_xlabel("link length (m)")
    for ax in axes.flat:
        ax.set_xscale("log")
        ax.set_xlim(L_MIN_M, L_MAX_M)
    axes[1, 0].set_yscale("log")
    axes[0, 0].set_ylabel("energy per bit (pJ/bit)")
    axes[1, 0].set_ylabel("one-way latency (ns)")
    axes[0, 0].set_ylim(0, None)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    # one row, one entry per registered technology
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), bbox_to_anchor=(0.5, 1.04))
    fig.tight_layout()
    return fig


def checks(params=None) -> list[Check]:
    def link(tech: str, rate: float, length: float = 1.0):
        return resolve_link(tech, rate, length, params=params)

    plug200, cpo200 = link("pluggable-dsp", 200e9), link("cpo", 200e9)
    plug100, cpo100 = link("pluggable-dsp", 100e9), link("cpo", 100e9)
    delta_db = plug200.loss_db - cpo200.loss_db
    nv = "Nvidia GTC25 / Hot Chips 25 (TechPowerUp, notebookcheck)"
    return [
        Check("passive DAC reach at 100G/lane", 3.0, max_reach_m("copper-dac", 100e9,
              params=params), " m", "Nvidia LinkX MCP7Y10/MCP4Y10: DAC 0.5-3 m (26 AWG)"),
        Check("passive DAC reach at 200G/lane", 1.0, max_reach_m("copper-dac", 200e9,
              params=params), " m", "Lightmatter HOTI'25 (~1 m); DesignCon 2024 1-m CR channel"),
        Check("front-panel pluggable electrical loss at 200G", 22.0, plug200.loss_db, " dB", nv),
        Check("CPO electrical loss at 200G", 4.0, cpo200.loss_db, " dB", nv),
        Check("signal integrity 10^(dLoss/10) (Nvidia '63x')", 63.0, 10 ** (delta_db / 10), "x",
              nv),
        Check("1.6T pluggable port power", 30.0, plug200.port_power_w, " W", nv),
        Check("1.6T CPO port power", 9.0, cpo200.port_power_w, " W", nv),
        Check("pluggable/CPO power at 1.6T (Nvidia '3.5x')", 3.5,
              plug200.port_power_w / cpo200.port_power_w, "x", nv),
        Check("800G pluggable port power (14-16 W)", 15.0, plug100.port_power_w, " W",
              "Broadcom (Pancholy, LaserFocusWorld)"),
        Check("800G Broadcom-class CPO port power", 5.5, cpo100.port_power_w, " W",
              "Broadcom Bailly (LaserFocusWorld)"),
        Check("optics power reduction CPO vs pluggable at 800G", 65.0,
              100 * (1 - cpo100.port_power_w / plug100.port_power_w), " %",
              "Meta ECOC 2025 (65 %) via Broadcom PR; 5.5 vs 14-16 W -> 61-66 %"),
    ]


def run(quick: bool = False) -> FigureResult:
    params = load_parameters()
    df = table(quick, params)
    notes = []
    for rate in RATES:
        for tech in (t for t in technologies() if not registry.get(t).optical):
            d = df[(df.tech == tech) & (df.lane_rate_bps == rate) & df.feasible]
            steps = d.drop_duplicates(["serdes_class", "retimers", "energy_pj_per_bit"])
            desc = ", ".join(f"{r.serdes_class.upper()}+{r.retimers}R {r.energy_pj_per_bit:.3g} "
                             f"pJ/b from {r.length_m:.2f} m" for r in steps.itertuples())
            reach = max_reach_m(tech, rate, params=params)
            notes.append(f"{tech} {rate / 1e9:g}G: {desc}; reach {reach:.2f} m")
    result = FigureResult(name="link-reach", tables={"link_reach": df},
                          figures={"link_reach": plot(df)}, checks=checks(params),
                          parameters=params.records(),
                          config={"quick": quick, "lengths_m": [L_MIN_M, L_MAX_M],
                                  "lane_rates_bps": list(RATES), "points": int(len(df))},
                          notes=notes)
    assert all(math.isfinite(c.ours) for c in result.checks)
    return result
