"""Figure ``signal-integrity``: host-path electrical loss, front-panel pluggable vs CPO.

Nvidia (GTC 2025): at 200G per lane the electrical path
from the switch ASIC to a front-panel pluggable's DSP loses ~22 dB (package, host PCB,
cage connector, module paddle card), the path to a co-packaged optical engine ~4 dB; "63x
better signal integrity" is 10^((22-4)/10) = 63.1, the 18 dB difference as a linear power
ratio.

Our number comes from the PHY channel model (``sim.phy.channel``), not from the claim:
loss per part at the Nyquist frequency (53.125 GHz at 200G, 26.5625 GHz at 100G). Two of its
coefficients (host PCB conductor loss and the module's chip package) are *calibrated* so the
pluggable path is 22 dB and the CPO path 4 dB at 200G (see ``sim/phy/parameters.csv``), so
the 200G point is a consistency check of the calibration; the breakdown, the 100G point and
the sensitivity to host-PCB length (6-8 in in F2) are what the model adds.

Run as ``cposim figures signal-integrity`` (``--quick``: a coarser length sweep). Writes
``results/signal_integrity/``: ``loss_budget.parquet`` (one row per part, path and rate),
``pcb_sweep.parquet``, ``signal_integrity.pdf/.png`` and a manifest.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import sim
from experiments.common import TECH_STYLE, Check, FigureResult, apply_style
from sim.phy import channel as ch
from sim.phy import load_parameters

NV = "Nvidia GTC25 (notebookcheck, TechPowerUp): 22 dB -> 4 dB, '63x signal integrity'"
RATES = (100e9, 200e9)
PARTS_COLOUR = {
    "package trace": "#0072B2", "BGA + via": "#56B4E9", "host PCB": "#E69F00",
    "cage connector + paddle": "#D55E00", "module PCB": "#CC79A7", "module chip package": "#F0E442",
    "package trace to engine": "#0072B2", "bump to optical engine": "#009E73",
}
PARTS_HATCH = {"host PCB": "//", "module PCB": "\\\\", "BGA + via": "..",
               "bump to optical engine": "xx"}


def parts(params, lane_rate_bps: float) -> list[dict]:
    """The loss budget, part by part, of both host paths at one lane rate (dB at Nyquist)."""
    get = params.__getitem__
    rk = ch.rate_key(params, lane_rate_bps)
    f = ch.nyquist_hz(get, rk)
    sub = ch.substrate_db_per_m(get, f)
    pcb = ch.pcb_db_per_m(get, f)
    plug = {
        "package trace": get("channel.pkg.host_trace_length") * sub,
        "BGA + via": get("channel.pkg.bga_coeff") * f,
        "host PCB": ch.host_pcb_db(get, f),
        "cage connector + paddle": ch.connector_db(get, f),
        "module PCB": get("channel.module.trace_length") * pcb,
        "module chip package": get("channel.module.chip_pkg_coeff") * f,
    }
    cpo = {
        "package trace to engine": get("channel.pkg.cpo_trace_length") * sub,
        "bump to optical engine": get("channel.pkg.oe_bump_coeff") * f,
    }
    rows = []
    for path, d, total in (("pluggable", plug, ch.front_panel_db(get, f)),
                           ("cpo", cpo, ch.cpo_path_db(get, f))):
        if not np.isclose(sum(d.values()), total, rtol=1e-12, atol=1e-12):
            raise RuntimeError(f"{path} parts do not add up to the channel model's path loss")
        rows += [{"lane_rate_bps": lane_rate_bps, "nyquist_hz": f, "path": path, "part": k,
                  "loss_db": v} for k, v in d.items()]
    return rows


def pcb_sweep(params, quick: bool) -> pd.DataFrame:
    """Loss ratio pluggable/CPO at 200G as the host PCB route grows (F2 says ~6-8 in)."""
    rows = []
    for inch in np.linspace(2, 12, 11 if quick else 41):
        p = params.with_overrides({"channel.pcb.host_length": float(inch)})
        get = p.__getitem__
        f = ch.nyquist_hz(get, "200g")
        plug, cpo = ch.front_panel_db(get, f), ch.cpo_path_db(get, f)
        rows.append({"host_pcb_in": float(inch), "pluggable_db": plug, "cpo_db": cpo,
                     "delta_db": plug - cpo, "ratio": 10 ** ((plug - cpo) / 10)})
    return pd.DataFrame(rows)


def plot(budget: pd.DataFrame, sweep: pd.DataFrame) -> plt.Figure:
    apply_style()
    fig, (a, b) = plt.subplots(1, 2, figsize=(7.0, 2.8), gridspec_kw={"width_ratios": [1.5, 1]})
    bars = [(r, p) for r in RATES for p in ("pluggable", "cpo")]
    seen = set()
    for i, (rate, path) in enumerate(bars):
        d = budget[(budget.lane_rate_bps == rate) & (budget.path == path)]
        bottom = 0.0
        for row in d.itertuples():
            a.bar(i, row.loss_db, bottom=bottom, color=PARTS_COLOUR[row.part],
                  hatch=PARTS_HATCH.get(row.part, ""), edgecolor="white", linewidth=0.5,
                  label=None if row.part in seen else row.part)
            seen.add(row.part)
            bottom += row.loss_db
        a.text(i, bottom + 0.4, f"{bottom:.1f} dB", ha="center", fontsize=7)
    a.set_xticks(range(len(bars)), [f"{'plug.' if p == 'pluggable' else 'CPO'}\n"
                                    f"{r / 1e9:g}G" for r, p in bars])
    a.set_xlabel("host path, lane rate")
    a.set_ylabel("insertion loss at Nyquist (dB)")
    a.set_ylim(0, 25)
    a.set_xlim(-0.6, 6.4)    # room on the right for the legend
    a.legend(loc="upper right", fontsize=6, ncol=1)
    a.set_title("(a) host-path loss budget")
    b.plot(sweep.host_pcb_in, sweep.ratio, label="ours, 200G/lane", **TECH_STYLE["pluggable-dsp"])
    b.axhspan(40, 100, color="0.85", zorder=0, label="acceptance 40-100x")
    b.axhline(63, color="k", linestyle=":", linewidth=0.8, label="Nvidia 63x")
    b.axvspan(6, 8, color="#009E73", alpha=0.12, zorder=0, label="F2 host PCB 6-8 in")
    b.set_yscale("log")
    b.set_xlabel("host PCB route length (in)")
    b.set_ylabel("pluggable / CPO loss (linear, x)")
    b.legend(loc="upper left", fontsize=6)
    b.set_title("(b) 10^(dLoss/10) vs host PCB length")
    fig.tight_layout()
    return fig


def run(quick: bool = False) -> FigureResult:
    params = load_parameters()
    budget = pd.DataFrame([r for rate in RATES for r in parts(params, rate)])
    sweep = pcb_sweep(params, quick)
    tot = budget.groupby(["lane_rate_bps", "path"]).loss_db.sum()
    plug200, cpo200 = tot[(200e9, "pluggable")], tot[(200e9, "cpo")]
    plug100, cpo100 = tot[(100e9, "pluggable")], tot[(100e9, "cpo")]
    # resolve_link reports the same host-path loss the budget adds up (the figure is the model)
    link_plug, link_cpo = sim.link("pluggable-dsp", "200G", "10 m"), sim.link("cpo", "200G",
                                                                              "10 m")
    ratio = 10 ** ((plug200 - cpo200) / 10)
    in6_8 = sweep[(sweep.host_pcb_in >= 6) & (sweep.host_pcb_in <= 8)].ratio
    checks = [
        Check("front-panel pluggable host-path loss at 200G", 22.0, plug200, " dB", NV),
        Check("CPO host-path loss at 200G", 4.0, cpo200, " dB", NV),
        Check("loss reduction at 200G", 18.0, plug200 - cpo200, " dB", NV),
        Check("signal integrity 10^(dLoss/10) (Nvidia '63x')", 63.0, ratio, "x", NV),
    ]
    notes = [
        "200G is a calibration point (channel.pcb.conductor_coeff, channel.module.chip_pkg_coeff "
        "set so the paths are 22 and 4 dB); the breakdown and the sweeps are model output",
        "200G budget: " + ", ".join(f"{r.part} {r.loss_db:.2f} dB" for r in budget[
            budget.lane_rate_bps == 200e9].itertuples()),
        f"100G: pluggable {plug100:.1f} dB vs CPO {cpo100:.1f} dB -> "
        f"{10 ** ((plug100 - cpo100) / 10):.1f}x (loss grows with frequency: the gap is "
        f"{plug100 - cpo100:.1f} dB at 100G, {plug200 - cpo200:.1f} dB at 200G)",
        f"host PCB 6-8 in: {in6_8.min():.0f}-{in6_8.max():.0f}x",
        f"resolve_link: pluggable-dsp {link_plug.loss_db:.2f} dB ({link_plug.serdes_class}), "
        f"cpo {link_cpo.loss_db:.2f} dB ({link_cpo.serdes_class})",
    ]
    return FigureResult(
        name="signal-integrity", tables={"loss_budget": budget, "pcb_sweep": sweep},
        figures={"signal_integrity": plot(budget, sweep)}, checks=checks,
        parameters=[r for r in params.records() if r["key"].startswith(("channel.", "lane."))],
        config={"quick": quick, "lane_rates_bps": list(RATES)}, notes=notes)
