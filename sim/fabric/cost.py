"""What a built fabric's scale-out network costs and draws: capex by part, power, bandwidth.

The *scale-out network* is the leaf, spine and core tiers (the part the comparison bases of
:mod:`sim.phy.budget` change; the scale-up domain stays as built and is not priced: its NVSwitch
trays and baseboards have no row in ``sim/phy/costs.csv``). Per cable record (``bundle``
physical cables, ``capacity_bps`` per direction for the whole record):

* optics: ``2 x capacity x end price`` (a module / optical engine, plus an external laser
  source, at each end) + ``bundle x price.fiber.cable`` for an optical technology;
  copper: ``capacity x cable price`` (both plugs and the twinax);
* ports: each switch end ``capacity x price.switch.port_800g / 800G``, each GPU end a NIC,
  ``capacity x price.nic.port_400g / 400G``;
* a 200G-lane part costs ``price.rate_200g_factor`` times as much per Gb/s.

Idealised links (no PHY: ``tech == "ideal"``) have no optics price; their ports are priced.
"""

from __future__ import annotations

import numpy as np

SCALEOUT_TIERS = ("leaf", "spine", "core")


def scaleout_mask(topo) -> np.ndarray:
    """Directed links of the scale-out tiers."""
    return np.isin(topo.tier.astype(str), SCALEOUT_TIERS)


def scaleout_power_w(topo) -> float:
    """Port power of the scale-out links, both ends of every cable (host SerDes included)."""
    return float(topo.port_total_power_w[scaleout_mask(topo)].sum())


def scaleout_bandwidth_per_gpu_bps(topo) -> float:
    """Mean per-GPU scale-out capacity (per direction, all planes)."""
    if not topo.n_gpus:
        return 0.0
    m = scaleout_mask(topo) & (topo.kind[topo.src] == "gpu")
    per_node = np.bincount(topo.src[m], weights=topo.capacity_bps[m], minlength=topo.n_nodes)
    return float(per_node[topo.gpu_node].mean())


def network_capex(topo, costs=None) -> dict[str, float]:
    """Scale-out capex of ``topo`` in USD, by part: ``nic_usd``, ``switch_ports_usd``,
    ``optics_usd`` (of which ``lasers_usd``: external laser sources), ``cables_usd``,
    ``total_usd`` and ``per_gpu_usd``."""
    from sim.phy.costs import load_costs, nic_usd_per_bps, switch_usd_per_bps, tech_price

    c = costs if costs is not None else load_costs()
    one = np.unique(topo.cable, return_index=True)[1]          # one directed link per cable
    one = one[scaleout_mask(topo)[one]]
    out = {"nic_usd": 0.0, "switch_ports_usd": 0.0, "optics_usd": 0.0, "lasers_usd": 0.0,
           "cables_usd": 0.0}
    if one.size:
        tech = topo.tech[one].astype(str)
        rate = topo.lane_rate_bps[one].astype(float)
        cap = topo.capacity_bps[one].astype(float)
        bundle = topo.bundle[one].astype(float)
        gpu_ends = ((topo.kind[topo.src[one]] == "gpu").astype(float)
                    + (topo.kind[topo.dst[one]] == "gpu"))
        for r in np.unique(rate):
            m = rate == r
            out["nic_usd"] += float((cap[m] * gpu_ends[m]).sum()) * nic_usd_per_bps(r, c)
            out["switch_ports_usd"] += (float((cap[m] * (2 - gpu_ends[m])).sum())
                                        * switch_usd_per_bps(r, c))
            for t in np.unique(tech[m]):
                if t == "ideal":
                    continue
                k = m & (tech == t)
                p = tech_price(t, float(r), c)
                out["optics_usd"] += 2 * float(cap[k].sum()) * p.end_usd_per_bps
                out["lasers_usd"] += 2 * float(cap[k].sum()) * p.laser_usd_per_bps
                out["cables_usd"] += (float(cap[k].sum()) * p.cable_usd_per_bps
                                      + float(bundle[k].sum()) * p.fiber_usd_per_cable)
    total = out["nic_usd"] + out["switch_ports_usd"] + out["optics_usd"] + out["cables_usd"]
    out["total_usd"] = total
    out["per_gpu_usd"] = total / max(topo.n_gpus, 1)
    return out
