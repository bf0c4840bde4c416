"""Building the fabric a budget affords (the comparison bases of :mod:`sim.phy.budget`).

For one policy on a named preset: build the preset's own fabric at each candidate lane rate,
measure what its per-GPU scale-out bandwidth costs in power and money (:func:`measure` ->
:class:`~sim.phy.budget.Demand`), let :func:`sim.phy.budget.afford` turn the budget into lanes
and planes, build that fabric, and check the budget on it (one lane less until it fits). The
rules are in :mod:`sim.phy.budget`'s docstring and the README ("Comparing fairly").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from sim.errors import CposimError
from sim.fabric.cost import (network_capex, scaleout_bandwidth_per_gpu_bps, scaleout_mask,
                             scaleout_power_w)


def _phy():
    import sim.phy as phy  # imported late, as sim.fabric.policy does
    return phy


def _densities(topo, lane_rate_bps: float, params) -> tuple[float, float]:
    """Shoreline densities (bit/s per metre of package edge, per direction): the lowest of the
    technologies on the GPUs' scale-out links, and the lowest on the switches' scale-out links."""
    m = scaleout_mask(topo)
    at_gpu = m & (topo.kind[topo.src] == "gpu")

    def lowest(mask) -> float:
        out = math.inf
        for t in np.unique(topo.tech[mask].astype(str)):
            if t == "ideal":
                continue
            r = _phy().resolve_link(t, lane_rate_bps, 0.0, params=params)
            out = min(out, r.shoreline_tbps_per_mm * 1e15)
        return out

    return lowest(at_gpu), lowest(m)


def measure(topo, lane_rate_bps: float, *, radix: int, switch_lanes: int, costs=None,
            params=None, label: str = ""):
    """The :class:`~sim.phy.budget.Demand` of ``topo``'s scale-out network: watts and dollars
    per GPU per bit/s of per-GPU bandwidth, shoreline densities, switch radix and lanes."""
    from sim.phy.budget import Demand

    bw = scaleout_bandwidth_per_gpu_bps(topo)
    if bw <= 0:
        raise CposimError("the fabric has no scale-out links to scale", field="topology.preset")
    n = max(topo.n_gpus, 1)
    gpu_d, sw_d = _densities(topo, lane_rate_bps, params)
    return Demand(lane_rate_bps=float(lane_rate_bps), w_per_bps=scaleout_power_w(topo) / n / bw,
                  usd_per_bps=network_capex(topo, costs)["per_gpu_usd"] / bw,
                  gpu_density_bps_per_m=gpu_d, switch_density_bps_per_m=sw_d,
                  radix=int(radix), switch_lanes=int(switch_lanes), label=label)


def fits(topo, budget, *, costs=None, params=None, rtol: float = 1e-9) -> bool:
    """Does the built ``topo`` keep every budget of ``budget`` (per GPU)?"""
    n = max(topo.n_gpus, 1)
    if budget.power_w is not None and scaleout_power_w(topo) / n > budget.power_w * (1 + rtol):
        return False
    if (budget.cost_usd is not None
            and network_capex(topo, costs)["per_gpu_usd"] > budget.cost_usd * (1 + rtol)):
        return False
    if budget.shoreline_m is not None:
        rate = float(np.max(topo.lane_rate_bps[scaleout_mask(topo)]))
        gpu_d, _ = _densities(topo, rate, params)
        if scaleout_bandwidth_per_gpu_bps(topo) > budget.shoreline_m * gpu_d * (1 + rtol):
            return False
    return True


def preset_scaleout(preset) -> dict:
    """The preset's builder arguments, checked to have a switched scale-out."""
    from sim.fabric.presets import PRESETS

    spec = PRESETS.get(preset) if isinstance(preset, str) else None
    if spec is None or spec.get("kind") == "torus" or spec.get("kw", {}).get("nic_lanes") is None:
        named = ", ".join(k for k, v in PRESETS.items() if v.get("kind") != "torus")
        raise CposimError(f"a comparison basis other than iso-bandwidth needs a named preset with "
                          f"a switched scale-out ({named}), not {preset!r}",
                          field="topology.preset")
    return dict(spec["kw"])


def afford_topology(preset: str, *, gpus: int, budget, policy: str = "copper-first",
                    tier_policy=None, lane_rates: Sequence[float] | None = None,
                    switch_lanes: int | None = None, params=None, costs=None, label: str = "",
                    **kw):
    """The fabric ``budget`` (a :class:`~sim.phy.budget.Budget`) affords ``policy`` on
    ``preset``: ``(topology, afforded, demand)``.

    ``lane_rates``: the lane rates to try (default: the preset's NIC lane rate, or ``kw``'s
    ``lane_rate_bps``); ``switch_lanes``: SerDes lanes per switch (default: the preset's switch,
    radix x its port width); ``kw``: preset overrides as for ``build_topology``.
    """
    from sim.fabric.presets import build_topology
    from sim.phy.budget import afford

    args = {**preset_scaleout(preset), **{k: v for k, v in kw.items() if k != "lane_rate_bps"}}
    planes0 = int(args.get("planes", 1))
    lanes0 = int(args["nic_lanes"])
    radix = int(args.get("radix", 64))
    sw_lanes = int(switch_lanes) if switch_lanes else radix * (lanes0 // planes0)
    base_rate = kw.get("lane_rate_bps") or args.get("nic_lane_rate_bps", 100e9)
    rates = list(lane_rates) if lane_rates else [float(base_rate)]

    def build(rate: float, lanes: int, planes: int):
        return build_topology(preset, gpus=gpus, policy=policy, tier_policy=tier_policy,
                              params=params, **{**kw, "nic_lane_rate_bps": rate,
                                                "nic_lanes": lanes, "planes": planes})

    best, first_error = None, None
    for rate in rates:
        try:
            ref = build(rate, lanes0, planes0)
        except CposimError as exc:     # this rate does not reach: another may
            first_error = first_error or exc
            continue
        demand = measure(ref, rate, radix=radix, switch_lanes=sw_lanes, costs=costs,
                         params=params, label=label)
        got = afford(demand, budget)
        topo = build(rate, got.lanes, got.planes)
        while not fits(topo, budget, costs=costs, params=params):
            got = afford(demand, budget, max_lanes=got.lanes - 1)
            topo = build(rate, got.lanes, got.planes)
        if best is None or got.bandwidth_bps > best[1].bandwidth_bps:
            best = (topo, got, demand)
    if best is None:
        assert first_error is not None
        raise first_error
    return best
