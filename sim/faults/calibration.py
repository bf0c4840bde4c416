"""The fault model against field data: Llama 3 (network interruptions) and Meta's CPO trial.

Llama 3 (Meta, "The Llama 3 Herd of Models", 2024): 16,384 H100 GPUs, 54 days, 419 unexpected
interruptions, 35 of them "network switch and cable". Our cluster: the
``dgx-h100-superpod`` preset at 16,384 GPUs (8 GPUs per server on NVLink, one 400G NIC per
GPU, rail-optimized 3-tier Clos — the shape of Meta's 24k-GPU RoCE cluster), scale-up copper,
scale-out with the policy under test. Nothing is fitted: the count follows from the
component FITs (PHY table), the switch MTBF and the interruption rule of
:mod:`sim.faults.rates`. The one free modelling choice, the fraction of *redundant* failures
(switch-to-switch links, spines, cores) that still interrupt a job, is 0 by default; the
calibration reports the largest value the data allow (:func:`llama3_calibration`).

Meta/Broadcom (ECOC 2025, via Broadcom's press release): 1e6 400G-equivalent CPO port-hours
with zero link flaps. For zero events in exposure ``T`` the exact one-sided upper confidence
bound of a Poisson rate is ``-ln(1 - c) / T`` (3.0e-6 per port-hour at 95 %; "rule of three").
"""

from __future__ import annotations

import math

from sim.errors import CposimError
from sim.faults.params import load_fault_parameters
from sim.faults.rates import HOUR_S, FailureBudget, failure_budget

LLAMA3_PRESET = "dgx-h100-superpod"


def cluster_topology(gpus: int, policy: str = "pluggable", *, phy_params=None):
    """The reliability study's cluster: DGX-H100-style NVL8 servers (copper scale-up) and a
    rail-optimized scale-out fabric whose links follow ``policy``."""
    from sim.fabric import build_topology
    tier_policy = None if policy == "copper-first" else {"scaleup": "copper-first"}
    return build_topology(LLAMA3_PRESET, gpus=gpus, policy=policy, tier_policy=tier_policy,
                          params=phy_params)


def llama3_observed(fault_params=None) -> dict:
    """The published Llama-3 numbers and the rates derived from them."""
    fp = fault_params if fault_params is not None else load_fault_parameters()
    gpus, days = fp["llama3.gpus"], fp["llama3.days"]
    net, unexpected = fp["llama3.network_interruptions"], fp["llama3.unexpected_interruptions"]
    hours = days * 24.0
    return {"gpus": gpus, "days": days, "hours": hours, "network": net,
            "unexpected": unexpected,
            "network_per_gpu_h": net / (gpus * hours),
            "other_per_gpu_h": (unexpected - net) / (gpus * hours)}


def llama3_calibration(policy: str = "pluggable", *, phy_params=None, fault_params=None,
                       budget: FailureBudget | None = None) -> dict:
    """Expected network interruptions of the Llama-3 run on our cluster with ``policy``."""
    fp = fault_params if fault_params is not None else load_fault_parameters()
    obs = llama3_observed(fp)
    if budget is None:
        topo = cluster_topology(int(obs["gpus"]), policy, phy_params=phy_params)
        budget = failure_budget(topo, phy_params=phy_params, fault_params=fp)
    expected = budget.interrupt_per_h * obs["hours"]
    # largest redundant-failure fraction that keeps us within +30 % of the published count
    f0 = fp["interrupt.redundant_fraction"]
    base = expected - f0 * budget.redundant_per_h * obs["hours"]
    room = 1.3 * obs["network"] - base
    f_max = room / (budget.redundant_per_h * obs["hours"]) if budget.redundant_per_h else math.inf
    return {"policy": policy, "expected": expected, "published": obs["network"],
            "ratio": expected / obs["network"], "hours": obs["hours"],
            "interrupt_per_day": budget.interrupt_per_day,
            "links_share": budget.link_interrupt_per_h / budget.interrupt_per_h,
            "switch_share": budget.switch_interrupt_per_h / budget.interrupt_per_h,
            "redundant_fraction": f0, "redundant_fraction_max": max(f_max, 0.0),
            "budget": budget}


def zero_event_upper_rate(exposure: float, confidence: float = 0.95) -> float:
    """Exact upper confidence bound on a Poisson rate after 0 events in ``exposure``."""
    if not (exposure > 0 and math.isfinite(exposure)):
        raise CposimError(f"exposure must be > 0, got {exposure!r}", field="exposure")
    if not 0 < confidence < 1:
        raise CposimError(f"confidence must be in (0, 1), got {confidence!r}", field="confidence")
    return -math.log1p(-confidence) / exposure


def meta_cpo_bound(confidence: float = 0.95, *, phy_params=None, fault_params=None,
                   techs=("cpo", "pluggable-dsp", "lpo")) -> dict:
    """Meta's zero-flap field result as a bound, next to our per-port link-down rates of
    ``techs`` (any registered technologies; by default the CPO of the trial and the
    pluggables it replaces).

    Our rate per 400G-equivalent port-hour = ``fit_per_end x (4 / 8) x 1e-9`` (a port end of
    8 lanes is two 400G-equivalents; every component failure of the end takes the port down,
    so this bounds its flap rate from above). Expected events in the trial's exposure and the
    probability of seeing none follow.
    """
    import sim.phy as phy
    fp = fault_params if fault_params is not None else load_fault_parameters()
    if fp["meta_cpo.flaps"] != 0:
        raise CposimError("only the zero-event bound is implemented", field="meta_cpo.flaps")
    hours = fp["meta_cpo.port_hours"] / HOUR_S
    bound = zero_event_upper_rate(hours, confidence)
    out = {"port_hours": hours, "confidence": confidence, "upper_rate_per_port_h": bound,
           "mtbf_lower_h": 1.0 / bound, "rule_of_three_per_port_h": 3.0 / hours, "ours": {}}
    for tech in techs:
        f = phy.resolve_link(tech, 100e9, 10.0, params=phy_params)
        per_port = f.failure["fit_per_end"] * fp["meta_cpo.port_lanes"] / f.lanes * 1e-9
        expected = per_port * hours
        out["ours"][tech] = {"rate_per_port_h": per_port, "mtbf_h": 1.0 / per_port,
                             "expected_in_trial": expected,
                             "p_zero_in_trial": math.exp(-expected),
                             "within_bound": per_port <= bound}
    return out
