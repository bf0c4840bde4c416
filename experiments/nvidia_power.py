"""Figure ``nvidia-power``: scale-out optics power of a 400k-GPU cluster, pluggable vs CPO.

Nvidia (GTC 2025 / Hot Chips 2025): a 1.6T pluggable
port draws 30 W (DSP ~20 W + EML ~10 W), a CPO port 9 W (engine 7 W + laser 2 W); a
400,000-GPU data centre with 6 transceivers per GPU goes from 72 MW to 21.6 MW ("3.5x";
30/9 = 3.33x exactly).

We do not take the "6" as given: we build the scale-out network and count. The cluster is
GB300-style NVL72 racks (copper NVLink inside the rack, no transceivers) plus a non-blocking
rail-optimized 3-tier fat-tree with one 1.6T (8 x 200G) scale-out port per GPU and switches
of 256 x 1.6T ports (409.6 Tb/s, Spectrum-X Photonics SN6800 class, trade press, grade B).
Every scale-out cable is optical (leaves sit in the row's network rack, beyond copper reach)
and both ends of every cable are counted (``Topology.transceivers``, one per 8-lane 1.6T
port). 400,000 is not a multiple of 72, so the cluster has 400,032 GPUs (5,556 racks).
The per-GPU count is shown against cluster size for 2 and 3 tiers (it converges to 2 x tiers
once pods are full; a partly filled last pod keeps its full spine uplinks, so small clusters
with a mostly empty last pod count up to ~7.5, and 400k GPUs in 24.4 pods count 6.05).
Rows of 48 racks keep every cable inside the 500 m CPO (DR-class) reach.

Run as ``cposim figures nvidia-power`` (``--quick``: fewer sizes). Writes
``results/nvidia_power/``: ``transceivers.parquet`` (per size and tier count),
``power.parquet`` (per scenario and tier at 400k GPUs), ``nvidia_power.pdf/.png``, manifest.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import sim
from experiments.common import TECH_STYLE, Check, FigureResult, apply_style
from sim.phy import load_parameters

NV = "Nvidia GTC25 / Hot Chips 25 (TechPowerUp, notebookcheck, Nvidia dev blog)"
GPUS = 400_032                     # 400k rounded up to whole NVL72 racks
PUBLISHED_PER_GPU = 6              # Jensen Huang: "six transceivers per GPU"
PUBLISHED_PLUG_MW, PUBLISHED_CPO_MW = 72.0, 21.6
SCALEOUT = ("leaf", "spine", "core")
# One 1.6T scale-out port per GPU (8 x 200G: ConnectX-9-class), 256 x 1.6T switch ports,
# rails = GPU position in a 4-GPU tray, SU = 4 rails x 128 GPUs (one leaf's down ports).
CLUSTER = dict(nic_lanes=8, nic_lane_rate_bps=200e9, radix=256, su_gpus=512, rails=4,
               racks_per_row=48)
SCENARIOS = {
    "pluggable": "1.6T DSP pluggables at both ends",
    "cpo": "CPO at both ends (switches and NICs)",
    "switch-cpo": "CPO switches, pluggable at the NIC end",
}


def build(gpus: int, policy: str, tiers: int):
    return sim.topology("gb200-nvl72", gpus, policy=policy,
                        tier_policy={"scaleup": "copper-first"}, tiers=tiers, **CLUSTER)


def per_gpu(topo) -> float:
    # the Topology arrays directly: links_frame() would build 1.6M name strings at 400k GPUs
    return float(topo.transceivers[np.isin(topo.tier, SCALEOUT)].sum() / topo.n_gpus)


def sizes(quick: bool) -> dict[int, list[int]]:
    if quick:
        return {2: [4608], 3: [4608, 36864]}
    return {2: [1152, 4608, 9216, 18432, 32256],
            3: [1152, 4608, 18432, 36864, 73728, 147456, 294912]}


def convergence(quick: bool) -> pd.DataFrame:
    rows = []
    for tiers, ns in sizes(quick).items():
        for n in ns:
            topo = build(n, "pluggable", tiers)
            rows.append({"gpus": n, "tiers": tiers, "transceivers_per_gpu": per_gpu(topo),
                         "switches": int((topo.kind == "switch").sum()
                                         - (topo.node_tier == "scaleup").sum())})
    return pd.DataFrame(rows)


def power_table(plug, cpo) -> pd.DataFrame:
    """Module power per tier and scenario; directed link = the port at its source end."""
    lp, lc = plug, cpo
    if not (np.array_equal(lp.src, lc.src) and np.array_equal(lp.dst, lc.dst)):
        raise RuntimeError("the two builds differ in structure")
    nic_end = plug.kind[lp.src] == "gpu"
    mixed = np.where(nic_end, lp.port_power_w, lc.port_power_w)
    mixed_total = np.where(nic_end, lp.port_total_power_w, lc.port_total_power_w)
    rows = []
    for scen, (w, w_total, tech) in {
            "pluggable": (lp.port_power_w, lp.port_total_power_w, lp.tech),
            "cpo": (lc.port_power_w, lc.port_total_power_w, lc.tech),
            "switch-cpo": (mixed, mixed_total, np.where(nic_end, lp.tech, lc.tech))}.items():
        for tier in SCALEOUT:
            m = lp.tier == tier
            rows.append({"scenario": scen, "tier": tier, "gpus": plug.n_gpus,
                         "transceivers": float(lp.transceivers[m].sum()),
                         "techs": ",".join(sorted(set(np.asarray(tech)[m]))),
                         "module_power_w": float(np.asarray(w)[m].sum()),
                         "power_with_host_serdes_w": float(np.asarray(w_total)[m].sum()),
                         "max_length_m": float(lp.length_m[m].max())})
    return pd.DataFrame(rows)


def plot(conv: pd.DataFrame, power: pd.DataFrame) -> plt.Figure:
    apply_style()
    fig, (a, b) = plt.subplots(1, 2, figsize=(7.0, 2.7))
    for tiers, style in ((2, TECH_STYLE["lpo"]), (3, TECH_STYLE["pluggable-dsp"])):
        d = conv[conv.tiers == tiers].sort_values("gpus")
        a.plot(d.gpus, d.transceivers_per_gpu, label=f"{tiers}-tier fat-tree (ours)", **style)
    a.axhline(PUBLISHED_PER_GPU, color="k", linestyle=":", linewidth=0.8,
              label="Nvidia: 6 per GPU")
    a.set_xscale("log")
    a.set_xlabel("cluster size (GPUs)")
    a.set_ylabel("optical transceivers per GPU")
    a.set_ylim(0, 8)
    a.legend(loc="lower right")
    a.set_title("(a) counted in the built topology")
    colours = {"leaf": "#0072B2", "spine": "#E69F00", "core": "#009E73"}
    hatches = {"leaf": "", "spine": "//", "core": ".."}
    scen = list(SCENARIOS)
    x = np.arange(len(scen))
    bottom = np.zeros(len(scen))
    for tier in SCALEOUT:
        v = np.array([power[(power.scenario == s) & (power.tier == tier)].module_power_w.sum()
                      for s in scen]) / 1e6
        b.bar(x, v, bottom=bottom, color=colours[tier], hatch=hatches[tier], label=tier,
              edgecolor="white", linewidth=0.5)
        bottom += v
    for xi, tot in zip(x, bottom):
        b.text(xi, tot + 1, f"{tot:.1f} MW", ha="center", fontsize=7)
    b.scatter([0, 1], [PUBLISHED_PLUG_MW, PUBLISHED_CPO_MW], marker="_", s=400, color="k",
              zorder=3, label="Nvidia (72, 21.6 MW)")
    b.set_xticks(x, ["pluggable", "CPO", "CPO switches,\npluggable NICs"])
    b.set_ylabel("scale-out optics power (MW)")
    b.set_ylim(0, max(bottom) * 1.2)
    b.legend(loc="upper right")
    b.set_title(f"(b) {GPUS:,} GPUs, 1.6T ports")
    fig.tight_layout()
    return fig


def run(quick: bool = False) -> FigureResult:
    params = load_parameters()
    conv = convergence(quick)
    plug, cpo = build(GPUS, "pluggable", 3), build(GPUS, "cpo", 3)
    power = power_table(plug, cpo)
    per = per_gpu(plug)
    conv = pd.concat([conv, pd.DataFrame([{"gpus": GPUS, "tiers": 3, "transceivers_per_gpu": per,
                                           "switches": int((plug.kind == "switch").sum()
                                                           - (plug.node_tier == "scaleup").sum())
                                           }])], ignore_index=True)
    tot = power.groupby("scenario").sum(numeric_only=True)
    mw = tot.module_power_w / 1e6
    scale = 400_000 / GPUS      # report per 400,000 GPUs, as Nvidia does
    plug_mw, cpo_mw, mixed_mw = (mw[s] * scale for s in ("pluggable", "cpo", "switch-cpo"))
    plug_port = float(plug.port_power_w[plug.tier == "leaf"].max())
    cpo_port = float(cpo.port_power_w[cpo.tier == "leaf"].max())
    checks = [
        Check("optical transceivers per GPU (3-tier, 400k GPUs)", PUBLISHED_PER_GPU, per, "",
              "Jensen Huang GTC25 (Ayar blog; Rosenblatt)"),
        Check("1.6T pluggable port power", 30.0, plug_port, " W", NV),
        Check("1.6T CPO port power", 9.0, cpo_port, " W", NV),
        Check("scale-out optics, 400k GPUs, pluggable", PUBLISHED_PLUG_MW, plug_mw, " MW", NV),
        Check("scale-out optics, 400k GPUs, CPO", PUBLISHED_CPO_MW, cpo_mw, " MW", NV),
        Check("pluggable/CPO optics power (Nvidia '3.5x', 72/21.6 = 3.33)", 72.0 / 21.6,
              plug_mw / cpo_mw, "x", NV),
    ]
    notes = [
        f"cluster: {GPUS:,} GPUs in NVL72 racks, one 1.6T (8x200G) scale-out port per GPU, "
        "non-blocking rail-optimized 3-tier fat-tree of 256 x 1.6T switches "
        f"({plug.notes['pods']} pods); every scale-out cable optical, both ends counted",
        "transceivers per GPU by size: " + ", ".join(
            f"{r.tiers}T/{r.gpus}: {r.transceivers_per_gpu:.3f}" for r in conv.itertuples()),
        f"2 tiers give 4 per GPU (<= {256 * 128:,} GPUs at radix 256); 400k needs 3 tiers -> 6; "
        "the excess over 6 is the partly filled last pod's full spine uplinks",
        f"switch-side CPO only (NIC ends stay pluggable): {mixed_mw:.1f} MW, "
        f"{plug_mw / mixed_mw:.2f}x — Nvidia's 3.33x assumes CPO at every end",
        "with host SerDes included: pluggable "
        f"{tot.power_with_host_serdes_w['pluggable'] * scale / 1e6:.1f} MW vs CPO "
        f"{tot.power_with_host_serdes_w['cpo'] * scale / 1e6:.1f} MW "
        f"({tot.power_with_host_serdes_w['pluggable'] / tot.power_with_host_serdes_w['cpo']:.2f}x)",
        "longest cable per tier (m): " + ", ".join(
            f"{r.tier} {r.max_length_m:.0f}" for r in
            power[power.scenario == "pluggable"].itertuples()) + " (CPO reach 500 m at 200G)",
    ]
    return FigureResult(
        name="nvidia-power", tables={"transceivers": conv, "power": power},
        figures={"nvidia_power": plot(conv, power)}, checks=checks,
        parameters={"phy": params.records(), "cluster": {
            "gpus": GPUS, "preset": "gb200-nvl72", "tiers": 3, **CLUSTER,
            "source": "NVL72 racks (Nvidia, A/B); 1.6T port 8x200G (Nvidia 1.6T optics, B); "
                      "256 x 1.6T = 409.6 Tb/s switch (Spectrum-X Photonics SN6800, "
                      "trade press, B); rows of 48 racks (ours, D)"}},
        config={"quick": quick, "sizes": sizes(quick)}, notes=notes)
