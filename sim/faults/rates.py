"""Failure rates of a fabric's links and switches, from component FITs, and which interrupt a job.

Per link (one cable record of the topology; ``bundle`` parallel cables):

* Each end carries ``lanes / port_lanes`` port-equivalents of the technology (a 400G link on a
  twin-port 800G module is half a module per end). A port end fails at
  ``fit_per_end = sum(count x FIT)`` over its components (lasers, DSPs, retimers, drivers,
  TIAs, photodiodes, connectors: the ``reliability.*`` rows of ``sim/phy/parameters.csv``,
  returned by ``sim.phy.resolve_link(...).failure``). Failures of a module shared by two links
  are one event, so events scale with port-equivalents, not with link records.
* ``fit = 2 x port_equiv x fit_per_end + bundle x cable_fit`` (FIT = failures per 1e9 h).
* Repair: a pluggable (or cable) is swapped (``repair_time``). A CPO/optical-I/O end with a
  field-replaceable external laser: a laser failure is a laser-module swap (``repair_time``);
  any other engine failure swaps the engine's host: at a switch end the switch
  (``switch.repair_time``, the same swap as a failed switch box), at a GPU end its board
  (``nonreplaceable_repair_time``). We default to that, not a spare-lane remap: every
  shipping CPO switch we found documented (Broadcom Bailly and Davisson, Nvidia Quantum-X/Spectrum-X Photonics) has
  detachable lasers, none documents spare optical lanes. The link's repair time is the
  rate-weighted mean.

Per switch (scale-out tiers only): ``1e9 / switch.mtbf_h`` FIT for the box (ASIC board, PSUs,
fans, CPU); its port optics are already in the links.

What interrupts a synchronous training job: a *non-redundant* element — a GPU's only NIC link,
or a switch some GPU reaches only through it (its rail leaf) — stops a rank, NCCL aborts, the
job restarts from a checkpoint (``interrupt.nonredundant_fraction`` = 1). A *redundant* one —
a switch-to-switch link or spine/core switch with equal-cost alternatives, one cable of a
bundle, one plane of a multi-plane NIC — is routed around by ECMP: capacity drops, the job
continues (``interrupt.redundant_fraction``, default 0; the Llama-3 data bound it, see
:mod:`sim.faults.calibration`). The scale-up tier (NVLink inside a server or rack) is left out:
Llama 3 books those failures under GPUs, not "network switch and cable".
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from sim.faults.params import load_fault_parameters

HOUR_S = 3600.0
# node tier -> height in the Clos (GPUs at the bottom)
_RANK = {"gpu": 0, "scaleup": 1, "leaf": 1, "spine": 2, "core": 3}


def _resolve(tech: str, lane_rate_bps: float, length_m: float, phy_params):
    import sim.phy as phy
    return phy.resolve_link(tech, lane_rate_bps, length_m, params=phy_params)


def _first_link_per_cable(cable: np.ndarray) -> np.ndarray:
    """The lowest directed-link index of every cable id, in cable order (``np.unique``'s
    ``return_index``, by a scatter instead of a sort)."""
    if cable.size and cable.max() >= 4 * cable.size:          # sparse ids: sort instead
        return np.unique(cable, return_index=True)[1]
    first = np.full(int(cable.max(initial=-1)) + 1, -1, dtype=np.int64)
    first[cable[::-1]] = np.arange(cable.size - 1, -1, -1)
    return first[first >= 0]


def _factor(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(codes, names)`` of an array of strings (hashing, not sorting: cheap on 10^6 links)."""
    codes, names = pd.factorize(values)
    return codes, np.asarray(names, dtype=object).astype(str)


def _node_ranks(topo) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per node: its height in the Clos (:data:`_RANK`), its tier code, and the tier names."""
    codes, names = _factor(topo.node_tier)
    return np.array([_RANK.get(t, 1) for t in names], dtype=np.int64)[codes], codes, names


def link_failures(topo, *, phy_params=None, fault_params=None,
                  names: bool = True) -> pd.DataFrame:
    """One row per cable record: failure rate (FIT and per hour), lasers, repair time, and
    whether its failure interrupts a synchronous job. Idealised links (no PHY) have rate 0.
    ``names=False`` leaves out the end names (the totals do not need them)."""
    fp = fault_params if fault_params is not None else load_fault_parameters()
    one = _first_link_per_cable(topo.cable)
    a, b = topo.src[one], topo.dst[one]
    tech_c, tech_names = _factor(topo.tech[one])
    tier_c, tier_names = _factor(topo.tier[one])
    tech, tier = tech_names[tech_c], tier_names[tier_c]
    lanes = topo.lanes[one].astype(float)
    rate = topo.lane_rate_bps[one].astype(float)
    length = topo.length_m[one].astype(float)
    bundle = topo.bundle[one].astype(float)
    n = one.size
    fit_end = np.zeros(n)
    laser_fit_end = np.zeros(n)
    lasers_end = np.zeros(n)
    cable_fit = np.zeros(n)
    port_lanes = np.ones(n)
    rep_laser = np.zeros(n)
    rep_other = np.zeros(n)
    engine_swappable = np.ones(n, dtype=bool)
    phy = (tech_names != "ideal")[tech_c]
    # one PHY resolution per distinct (technology, lane rate, length to the mm)
    rows_phy = np.flatnonzero(phy)
    t_code = tech_c[rows_phy]
    r_vals, r_code = np.unique(rate[rows_phy], return_inverse=True)
    mm = np.rint(length[rows_phy] * 1e3).astype(np.int64)
    key = (t_code * r_vals.size + r_code) * (int(mm.max(initial=0)) + 1) + mm
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    order = np.argsort(inv, kind="stable")
    bounds = np.searchsorted(inv[order], np.arange(first.size + 1))
    for g, i in enumerate(first):
        rows = rows_phy[order[bounds[g]:bounds[g + 1]]]
        t, r, L = tech_names[t_code[i]], r_vals[r_code[i]], mm[i] / 1e3
        f = _resolve(str(t), float(r), float(L), phy_params)
        fail = f.failure
        fit_end[rows] = fail["fit_per_end"]
        laser_fit_end[rows] = fail["laser_fit_per_end"]
        lasers_end[rows] = fail["counts_per_end"]["lasers"]
        cable_fit[rows] = fail["cable_fit"]
        port_lanes[rows] = f.lanes
        rep_laser[rows] = fail["repair_time_s"]
        rep_other[rows] = fail["nonreplaceable_repair_time_s"]
        engine_swappable[rows] = fail["engine_field_replaceable"]
    port_equiv = np.where(phy, lanes / port_lanes, 0.0)
    end_fit = 2 * port_equiv * fit_end
    laser_fit = 2 * port_equiv * laser_fit_end
    fit = end_fit + np.where(phy, bundle * cable_fit, 0.0)
    kind = topo.kind
    # other end components: a module or cable is swapped (rep_other = the swap time); an
    # engine on its host's package swaps the host, a switch as a failed switch box is
    swap_host = ~engine_swappable

    def host_repair(end):
        return np.where(swap_host & (kind[end] == "switch"), fp["switch.repair_time"], rep_other)

    other_fit_end = port_equiv * (fit_end - laser_fit_end)      # per end, non-laser
    with np.errstate(invalid="ignore", divide="ignore"):
        repair = np.where(fit > 0, ((laser_fit + bundle * cable_fit * phy) * rep_laser
                                    + other_fit_end * (host_repair(a) + host_repair(b))) / fit,
                          0.0)
    node_rank, node_tier, nt_names = _node_ranks(topo)
    lower = np.where(node_rank[a] <= node_rank[b], a, b)
    upper = np.where(node_rank[a] <= node_rank[b], b, a)
    # redundancy: cables (bundle-weighted) from the lower end up to that tier of switches
    key = (lower * len(nt_names) + node_tier[upper]) * len(tier_names) + tier_c
    grp = pd.factorize(key)[0]
    alternatives = np.bincount(grp, weights=bundle)[grp]
    network = (tier_names != "scaleup")[tier_c] & phy
    redundant = alternatives >= 2
    p = np.where(redundant, fp["interrupt.redundant_fraction"],
                 fp["interrupt.nonredundant_fraction"])
    rate_h = fit * 1e-9
    ends = ({"src_name": topo.node_name[a], "dst_name": topo.node_name[b]} if names else {})
    return pd.DataFrame({
        "cable": topo.cable[one], "src": a, "dst": b, **ends, "tier": tier, "tech": tech,
        "bundle": bundle,
        "lanes": lanes, "port_equiv_per_end": port_equiv, "fit_per_end": fit_end,
        "fit": fit, "laser_fit": laser_fit, "lasers": 2 * port_equiv * lasers_end,
        "rate_per_h": rate_h, "repair_time_s": repair, "network": network,
        "access": (kind[a] == "gpu") | (kind[b] == "gpu"), "redundant": redundant,
        "p_interrupt": p, "interrupt_rate_per_h": np.where(network, rate_h * p, 0.0),
    })


def switch_failures(topo, *, fault_params=None) -> pd.DataFrame:
    """One row per scale-out switch: box failure rate, repair time, and whether some GPU
    reaches the network only through it (then its failure interrupts the job)."""
    fp = fault_params if fault_params is not None else load_fault_parameters()
    sw = np.flatnonzero((topo.kind == "switch") & (topo.node_tier != "scaleup"))
    rank, nt_c, nt_names = _node_ranks(topo)
    ntier = nt_names[nt_c]
    m = topo.tier != "scaleup"
    s, d = topo.src[m], topo.dst[m]
    up = rank[d] > rank[s]                                   # directed links going up
    lo, hi = s[up], d[up]
    # distinct upper neighbours of each lower node, per upper tier
    pairs = pd.DataFrame({"lo": lo, "hi": hi, "ht": ntier[hi]}).drop_duplicates(["lo", "hi"])
    pairs["n_up"] = pairs.groupby(["lo", "ht"])["hi"].transform("size")
    worst = pairs.groupby("hi")["n_up"].min()
    alternatives = worst.reindex(sw).fillna(2).to_numpy()
    redundant = alternatives >= 2
    fit = np.full(sw.size, 1e9 / (fp["switch.mtbf"] / HOUR_S))
    p = np.where(redundant, fp["interrupt.redundant_fraction"],
                 fp["interrupt.nonredundant_fraction"])
    rate_h = fit * 1e-9
    return pd.DataFrame({"node": sw, "name": topo.node_name[sw], "tier": ntier[sw],
                         "fit": fit, "rate_per_h": rate_h,
                         "repair_time_s": np.full(sw.size, fp["switch.repair_time"]),
                         "redundant": redundant, "p_interrupt": p,
                         "interrupt_rate_per_h": rate_h * p})


@dataclass(frozen=True)
class FailureBudget:
    """A fabric's network failure processes, per hour (Poisson superposition)."""

    gpus: int
    link_rate_per_h: float          # all scale-out link failures
    link_interrupt_per_h: float     # ... that interrupt the job
    switch_rate_per_h: float
    switch_interrupt_per_h: float
    lasers: float                   # scale-out lasers
    links: int                      # scale-out cables (bundle-weighted)
    switches: int
    interrupt_repair_s: float       # rate-weighted mean repair time of interrupting failures
    degraded_per_h: float           # absorbed failures (capacity drops, job continues)
    redundant_per_h: float          # failures of redundant elements (for the fraction bound)
    by_tier: dict = field(default_factory=dict)   # tier -> interrupting rate per h

    @property
    def interrupt_per_h(self) -> float:
        return self.link_interrupt_per_h + self.switch_interrupt_per_h

    @property
    def interrupt_per_day(self) -> float:
        return 24.0 * self.interrupt_per_h

    @property
    def mtbi_s(self) -> float:
        """Mean time between network interruptions of the job."""
        r = self.interrupt_per_h
        return HOUR_S / r if r > 0 else float("inf")

    def expected_interruptions(self, duration_s: float) -> float:
        return self.interrupt_per_h * duration_s / HOUR_S

    def as_dict(self) -> dict:
        out = asdict(self)
        out.update(interrupt_per_h=self.interrupt_per_h, interrupt_per_day=self.interrupt_per_day,
                   mtbi_s=self.mtbi_s)
        return out


def failure_budget(topo, *, phy_params=None, fault_params=None) -> FailureBudget:
    """Sum the link and switch processes of ``topo`` (scale-out tiers)."""
    links = link_failures(topo, phy_params=phy_params, fault_params=fault_params, names=False)
    sws = switch_failures(topo, fault_params=fault_params)
    net = links[links["network"]]
    li, si = net["interrupt_rate_per_h"].to_numpy(), sws["interrupt_rate_per_h"].to_numpy()
    total_i = li.sum() + si.sum()
    repair = ((li * net["repair_time_s"].to_numpy()).sum()
              + (si * sws["repair_time_s"].to_numpy()).sum())
    by_tier = net.groupby("tier")["interrupt_rate_per_h"].sum().to_dict()
    for t, v in sws.groupby("tier")["interrupt_rate_per_h"].sum().items():
        by_tier[f"switch:{t}"] = float(v)
    red = (net.loc[net["redundant"], "rate_per_h"].sum()
           + sws.loc[sws["redundant"], "rate_per_h"].sum())
    return FailureBudget(
        gpus=topo.n_gpus, link_rate_per_h=float(net["rate_per_h"].sum()),
        link_interrupt_per_h=float(li.sum()), switch_rate_per_h=float(sws["rate_per_h"].sum()),
        switch_interrupt_per_h=float(si.sum()), lasers=float(net["lasers"].sum()),
        links=int(net["bundle"].sum()), switches=int(len(sws)),
        interrupt_repair_s=float(repair / total_i) if total_i > 0 else 0.0,
        degraded_per_h=float(net["rate_per_h"].sum() + sws["rate_per_h"].sum() - total_i),
        redundant_per_h=float(red), by_tier={k: float(v) for k, v in by_tier.items()})
