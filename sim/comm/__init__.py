"""Communication layer: communicators and collective algorithms on the fabric.

``run_collective`` runs a collective (chunked) as steps of point-to-point flows on a
``flow``/``packet`` fabric, or as its alpha-beta closed form on an ``analytical`` one;
``closed_form`` is that model alone. The algorithms (ring, double binary tree,
halving-doubling, direct, PAT, hierarchical, ...) are one module each under
:mod:`sim.comm.algorithms`, found through its registry (``sim.comm.algorithms.registry``).
"""

from sim.comm.algorithms import ALGORITHMS, build_schedule, normalise_algorithm
from sim.comm.closed_form import closed_form, schedule_time
from sim.comm.communicator import (Communicator, communicators_from_groups, domain_layout,
                                   parallel_groups)
from sim.comm.ops import OPS, busbw_factor, normalise_op
from sim.comm.run import (CollectiveResult, P2PResult, analytical_time, choose_algorithm,
                          run_collective, run_p2p)
from sim.comm.schedule import Schedule, to_waves
from sim.comm.semantics import check_schedule

__all__ = ["ALGORITHMS", "OPS", "CollectiveResult", "Communicator", "P2PResult", "Schedule",
           "analytical_time", "build_schedule", "busbw_factor", "check_schedule",
           "choose_algorithm", "closed_form", "communicators_from_groups", "domain_layout",
           "normalise_algorithm", "normalise_op", "parallel_groups", "run_collective", "run_p2p",
           "schedule_time", "to_waves"]
