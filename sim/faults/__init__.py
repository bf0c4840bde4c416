"""Reliability: link and switch failure processes per link technology, job interruptions,
checkpoint/restart goodput, calibration against Llama 3 and Meta's CPO field trial, laser-source
failure domains of CPO (fixed lasers vs external laser sources, ``sim.faults.els``), and link
failures inside an iteration (``FaultableFlowFabric``).

    from sim.faults import failure_budget, llama3_calibration, goodput, daly_interval_s
"""

from __future__ import annotations

from sim.faults.calibration import (cluster_topology, llama3_calibration, llama3_observed,
                                    meta_cpo_bound, zero_event_upper_rate)
from sim.faults.els import (LaserDomains, compare_laser_sources, job_goodput, laser_domains,
                            network_interruptions)
from sim.faults.events import inject, sample_events
from sim.faults.goodput import (daly_interval_s, expected_segment_s, goodput, plan,
                                simulate_goodput, young_interval_s)
from sim.faults.params import load_fault_parameters
from sim.faults.rates import FailureBudget, failure_budget, link_failures, switch_failures


def __getattr__(name):  # the in-iteration fabric pulls in SimPy and the fabric; load on use
    if name in ("FaultableFlowFabric", "MaskedRouter"):
        from sim.faults import inflight
        return getattr(inflight, name)
    raise AttributeError(name)


__all__ = ["FailureBudget", "failure_budget", "link_failures", "switch_failures",
           "cluster_topology", "llama3_calibration", "llama3_observed", "meta_cpo_bound",
           "zero_event_upper_rate", "daly_interval_s", "young_interval_s", "goodput",
           "expected_segment_s", "plan", "simulate_goodput", "load_fault_parameters",
           "FaultableFlowFabric", "MaskedRouter", "sample_events", "inject",
           "LaserDomains", "laser_domains", "network_interruptions", "compare_laser_sources",
           "job_goodput"]
