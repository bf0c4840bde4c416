"""Communication layer: communicators and collective algorithms on the fabric.

``run_collective`` plans a collective (:mod:`sim.comm.planning`: algorithm per communicator,
schedules, communicators grouped by schedule) and hands the plan to the fabric, which times
it in closed form (:mod:`sim.comm.cost`, the alpha-beta model) or runs it as steps of
point-to-point flows (:mod:`sim.comm.run`); :mod:`sim.comm.accounting` gives what it carried
(bytes per link and technology, energy) and the result record. ``closed_form`` is the
alpha-beta model of one algorithm alone. The algorithms (ring, double binary tree,
halving-doubling, direct, PAT, hierarchical, ...) are one module each under
:mod:`sim.comm.algorithms`, found through its registry (``sim.comm.algorithms.registry``).
The collectives layer never asks which model a fabric is: it asks the fabric
(:class:`sim.fabric.interface.Fabric`).
"""

from sim.comm.accounting import CollectiveResult, P2PResult
from sim.comm.algorithms import ALGORITHMS, build_schedule, normalise_algorithm
from sim.comm.closed_form import closed_form, schedule_time
from sim.comm.communicator import (Communicator, communicators_from_groups, domain_layout,
                                   parallel_groups)
from sim.comm.cost import analytical_time
from sim.comm.ops import OPS, busbw_factor, normalise_op
from sim.comm.planning import (CollectivePlan, PlanGroup, TransferPlan, choose_algorithm,
                               plan_collective)
from sim.comm.run import run_collective, run_p2p
from sim.comm.schedule import Schedule, to_waves
from sim.comm.semantics import check_schedule

__all__ = ["ALGORITHMS", "OPS", "CollectivePlan", "CollectiveResult", "Communicator",
           "P2PResult", "PlanGroup", "Schedule", "TransferPlan", "analytical_time",
           "build_schedule", "busbw_factor", "check_schedule", "choose_algorithm", "closed_form",
           "communicators_from_groups", "domain_layout", "normalise_algorithm", "normalise_op",
           "parallel_groups", "plan_collective", "run_collective", "run_p2p", "schedule_time",
           "to_waves"]
