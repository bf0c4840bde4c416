"""Laser-source failure domains of co-packaged optics: fixed lasers vs external laser sources.

:mod:`sim.faults.rates` counts each port end's lasers (``reliability.<t>.lasers_per_port`` x
``reliability.fit.laser``) and lets a laser failure fail its own link. For optics whose light
comes from outside the engine (the registry's ``external-laser`` part: CPO, in-package optical
I/O) the failure domain is set by how the light is packaged:

* ``"els"`` — **external laser sources**, field-replaceable (Broadcom Bailly / Davisson FRU laser
  modules; Nvidia Quantum-X Photonics: 18 detachable light sources). One source feeds
  ``els.lanes_per_source`` lanes of a switch (32) or, on the GPU side, the NIC's own lanes. It
  fails at ``lasers x reliability.fit.laser + els.source_fit`` (its lasers: the lanes it feeds
  / the technology's lanes per laser, ``lanes_per_port / lasers_per_port`` = 4 for CPO); a
  failure darkens every lane it feeds until the module is swapped
  (``reliability.<t>.repair_time``, 1 h).
* ``"fixed"`` — lasers **inside the engine**, not field-replaceable (Broadcom Humboldt). A laser
  failure darkens its lanes and the repair swaps the whole device: a switch
  (``switch.repair_time``) with every one of its scale-out lanes down meanwhile, or the GPU's
  NIC board (``reliability.<t>.nonreplaceable_repair_time``).
* ``"per-link"`` — today's accounting of :mod:`sim.faults.rates` (each link its own lasers).

Which events interrupt a synchronous job: those that darken a GPU's scale-out link — every
GPU-side source; a leaf's sources that feed access ports (lanes are given to sources in port
order, access ports first); with fixed lasers *any* laser of a leaf, since swapping the leaf
takes its GPUs' links down. Events that darken only switch-to-switch lanes are routed around
(``interrupt.redundant_fraction`` of them interrupt, 0 by default), as in ``sim.faults.rates``.

:func:`laser_domains` gives the events, interruptions, lanes per event and lane-hours lost;
:func:`network_interruptions` the job's network interruption rate with the laser share replaced
by the chosen packaging; :func:`job_goodput` Daly-optimal goodput with every other Llama-3
failure cause added, as the ``reliability`` figure computes it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from sim.faults.params import load_fault_parameters
from sim.faults.rates import HOUR_S, _factor, link_failures, switch_failures

SOURCES = ("per-link", "fixed", "els")
SCALEOUT = ("leaf", "spine", "core")


@dataclass(frozen=True)
class LaserDomains:
    """Laser-source failures of a fabric's scale-out optics with external light, per hour."""

    source: str                 # "per-link", "fixed" or "els"
    lasers: float               # lasers in external-laser optics (scale-out)
    sources: float              # laser source modules ("els"), devices ("fixed"), links
    events_per_h: float         # laser-source failures
    interrupts_per_h: float     # ... that interrupt a synchronous job
    lanes_per_event: float      # lanes darkened per event (rate-weighted mean)
    gpus_cut_per_event: float   # GPUs losing a scale-out link per event (rate-weighted)
    repair_s: float             # rate-weighted mean time the lanes stay dark
    lane_hours_lost_per_h: float  # lane-hours of capacity lost per hour of operation

    @property
    def events_per_day(self) -> float:
        return 24.0 * self.events_per_h

    @property
    def interrupts_per_day(self) -> float:
        return 24.0 * self.interrupts_per_h

    def as_dict(self) -> dict:
        return {**asdict(self), "events_per_day": self.events_per_day,
                "interrupts_per_day": self.interrupts_per_day}


def _external(techs) -> dict[str, dict]:
    """The scale-out technologies with an external laser, with their reliability numbers."""
    import sim.phy as phy
    from sim.phy import registry

    out = {}
    for t in techs:
        if t == "ideal" or "external-laser" not in registry.get(t).parts:
            continue
        r = phy.resolve_link(t, 100e9, 0.0)
        f = r.failure
        lasers = f["counts_per_end"]["lasers"]
        out[t] = {"lanes_per_laser": r.lanes / lasers if lasers else math.inf,
                  "fit_laser": f["fit_per_component"]["lasers"],
                  "swap_s": f["repair_time_s"], "board_s": f["nonreplaceable_repair_time_s"]}
    return out


def _device_lanes(topo, ext: dict) -> pd.DataFrame:
    """Per device (node) with external-laser scale-out ports: its lanes, access lanes (on links
    to GPUs), lasers, all its scale-out lanes, its links to GPUs and to switches, kind, tech."""
    tier_c, tier_names = _factor(topo.tier)
    m = np.isin(tier_names, SCALEOUT)[tier_c]
    tech_c, tech_names = _factor(topo.tech)
    tech = tech_names[tech_c]
    e = m & np.isin(tech_names, list(ext))[tech_c]
    lpl = np.array([ext[t]["lanes_per_laser"] for t in tech[e]])
    lanes = topo.lanes.astype(float)
    to_gpu = (topo.kind[topo.dst] == "gpu")
    df = pd.DataFrame({"node": topo.src[e], "lanes": lanes[e], "access": lanes[e] * to_gpu[e],
                       "lasers": lanes[e] / lpl, "tech": tech[e],
                       "to_gpu": to_gpu[e].astype(float), "to_switch": (~to_gpu[e]).astype(float)})
    g = df.groupby("node").agg(lanes=("lanes", "sum"), access=("access", "sum"),
                               lasers=("lasers", "sum"), tech=("tech", "first"),
                               to_gpu=("to_gpu", "sum"), to_switch=("to_switch", "sum"))
    all_lanes = pd.Series(lanes[m]).groupby(topo.src[m]).sum()
    g["all_lanes"] = all_lanes.reindex(g.index).to_numpy()
    g["gpu"] = topo.kind[g.index.to_numpy()] == "gpu"
    for key in ("fit_laser", "swap_s", "board_s"):
        g[key] = [ext[t][key] for t in g["tech"]]
    return g


def laser_domains(topo, source: str = "els", *, fault_params=None) -> LaserDomains:
    """The laser-source failure processes of ``topo``'s scale-out external-laser optics when the
    light is packaged as ``source`` (see the module docstring)."""
    if source not in SOURCES:
        from sim.errors import CposimError
        raise CposimError(f"unknown laser source {source!r}; choose from {', '.join(SOURCES)}",
                          field="source")
    fp = fault_params if fault_params is not None else load_fault_parameters()
    ext = _external(np.unique(_factor(topo.tech)[1]))
    if not ext:
        return LaserDomains(source, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    d = _device_lanes(topo, ext)
    p_red = fp["interrupt.redundant_fraction"]
    gpu = d["gpu"].to_numpy()
    lanes, lasers = d["lanes"].to_numpy(), d["lasers"].to_numpy()
    access = np.where(gpu, lanes, d["access"].to_numpy())
    links = np.where(gpu, d["to_switch"].to_numpy(), d["to_gpu"].to_numpy())  # GPU links here
    up = np.where(gpu, 0.0, d["to_switch"].to_numpy())                        # switch-to-switch
    per_link = np.divide(access, links, out=np.zeros_like(access), where=links > 0)
    fit, swap = d["fit_laser"].to_numpy(), d["swap_s"].to_numpy()
    parts = []   # (events per h, interrupting per h, lanes dark, GPUs cut off, repair s)
    if source == "els":
        lps = np.where(gpu, np.minimum(fp["els.lanes_per_source"], lanes),
                       fp["els.lanes_per_source"])
        n_src = np.ceil(lanes / lps - 1e-9)
        n_acc = np.where(gpu, n_src, np.ceil(access / lps - 1e-9))
        rate = (lasers / n_src * fit + fp["els.source_fit"]) * 1e-9          # per source
        dark = np.minimum(lps, lanes)
        cut = np.where(gpu, 1.0, np.divide(np.minimum(dark, access), per_link,
                                           out=np.zeros_like(dark), where=per_link > 0))
        parts += [(n_acc * rate, n_acc * rate, dark, cut, swap),
                  ((n_src - n_acc) * rate, (n_src - n_acc) * rate * p_red, dark, 0 * dark, swap)]
        n_sources = float(n_src.sum())
    elif source == "fixed":          # a laser failure swaps the whole device
        rate = lasers * fit * 1e-9
        hits = gpu | (access > 0)
        parts.append((rate, np.where(hits, rate, rate * p_red), d["all_lanes"].to_numpy(),
                      np.where(gpu, 1.0, links),
                      np.where(gpu, d["board_s"].to_numpy(), fp["switch.repair_time"])))
        n_sources = float(len(d))
    else:                            # per-link: a laser failure fails its own link
        rate = lasers * fit * 1e-9
        frac = np.divide(access, lanes, out=np.zeros_like(lanes), where=lanes > 0)
        up_lanes = np.divide(lanes - access, up, out=np.zeros_like(lanes), where=up > 0)
        parts += [(rate * frac, rate * frac, per_link, np.ones_like(rate), swap),
                  (rate * (1 - frac), rate * (1 - frac) * p_red, up_lanes, 0 * rate, swap)]
        n_sources = float((links + up).sum())
    r = np.concatenate([np.column_stack(p) for p in parts])
    ev = float(r[:, 0].sum())

    def mean(col: int) -> float:
        return float((r[:, 0] * r[:, col]).sum() / ev) if ev > 0 else 0.0

    return LaserDomains(source, float(lasers.sum()), n_sources, ev, float(r[:, 1].sum()),
                        mean(2), mean(3), mean(4),
                        float((r[:, 0] * r[:, 2] * r[:, 4]).sum()) / HOUR_S)


def network_interruptions(topo, source: str = "els", *, fault_params=None,
                          phy_params=None) -> dict:
    """The job's network interruption rate (per hour) with the external-laser share of the
    link failures replaced by the ``source`` packaging: links without their external lasers,
    switches, and :func:`laser_domains`."""
    fp = fault_params if fault_params is not None else load_fault_parameters()
    links = link_failures(topo, phy_params=phy_params, fault_params=fp, names=False)
    sws = switch_failures(topo, fault_params=fp)
    net = links[links["network"]]
    ext = _external(np.unique(_factor(topo.tech)[1]))
    laser_ext = net["laser_fit"].where(net["tech"].isin(list(ext)), 0.0)
    link_i = float((((net["fit"] - laser_ext) * 1e-9) * net["p_interrupt"]).sum())
    dom = laser_domains(topo, source, fault_params=fp)
    switch_i = float(sws["interrupt_rate_per_h"].sum())
    return {"source": source, "links_per_h": link_i, "switches_per_h": switch_i,
            "lasers_per_h": dom.interrupts_per_h,
            "interrupt_per_h": link_i + switch_i + dom.interrupts_per_h,
            "domains": dom}


def job_goodput(net_interrupt_per_h: float, gpus: int, *, fault_params=None) -> dict:
    """Daly-optimal checkpoint goodput of a job on ``gpus`` GPUs whose network interrupts it
    ``net_interrupt_per_h`` times an hour, every other cause at Llama 3's per-GPU rate
    (``sim/faults/parameters.csv``: ``llama3.*``, ``checkpoint.*``)."""
    from sim.faults.calibration import llama3_observed
    from sim.faults.goodput import daly_interval_s, goodput

    fp = fault_params if fault_params is not None else load_fault_parameters()
    other = llama3_observed(fp)["other_per_gpu_h"] * gpus
    lam = net_interrupt_per_h + other
    mtbf = HOUR_S / lam if lam > 0 else math.inf
    delta, restart = fp["checkpoint.write_time"], fp["checkpoint.restart_time"]
    tau = daly_interval_s(delta, mtbf) if math.isfinite(mtbf) else math.inf
    g = goodput(tau, delta, restart, mtbf) if math.isfinite(mtbf) else 1.0
    return {"interrupt_per_h": lam, "mtbf_h": mtbf / HOUR_S, "tau_daly_s": tau, "goodput": g}


def compare_laser_sources(topo, *, fault_params=None, phy_params=None) -> pd.DataFrame:
    """One row per packaging (``per-link``, ``fixed``, ``els``): laser events, interruptions,
    blast radius, lane-hours lost, the network's interruptions and the job's goodput."""
    fp = fault_params if fault_params is not None else load_fault_parameters()
    rows = []
    for s in SOURCES:
        ni = network_interruptions(topo, s, fault_params=fp, phy_params=phy_params)
        d = ni["domains"]
        g = job_goodput(ni["interrupt_per_h"], topo.n_gpus, fault_params=fp)
        rows.append({"source": s, "gpus": topo.n_gpus, "lasers": d.lasers,
                     "laser_sources": d.sources, "laser_events_per_day": d.events_per_day,
                     "laser_interrupts_per_day": d.interrupts_per_day,
                     "lanes_per_event": d.lanes_per_event,
                     "gpus_cut_per_event": d.gpus_cut_per_event,
                     "laser_repair_h": d.repair_s / HOUR_S,
                     "lane_hours_lost_per_day": 24.0 * d.lane_hours_lost_per_h,
                     "network_interrupts_per_day": 24.0 * ni["interrupt_per_h"],
                     "goodput": g["goodput"]})
    return pd.DataFrame(rows)
