"""``cposim astra``: ASTRA-sim 2.x's analytical mode, reproduced tick for tick.

A peer mode: it reads ASTRA-sim's network YAML, system JSON, remote-memory JSON and Chakra
execution traces and runs them with **ASTRA-sim's** semantics (astra-sim master ``518bd51``,
its congestion-unaware and congestion-aware analytical backends) — units, hops,
serialisation, chunking, queues, the native collective algorithms exactly as ASTRA-sim
executes them. Every convention is documented beside its code with the ASTRA-sim source file
it comes from. These semantics are kept apart from cposim's native, textbook ones
(``sim/comm``, ``sim/fabric``, ``sim/runtime``), which do not change; ``sim.astra.bridge``
runs the same trace through the native stack on cposim's physical fabric instead.

Modules, one concept each: ``config`` (the input files), ``events`` (the event queue),
``network`` (the two backends and message matching), ``logical`` (logical rings and trees),
``algorithms/`` (ring, direct, halvingDoubling, doubleBinaryTree), ``system`` (chunks,
streams, queues, endpoint delay and reductions), ``memory`` (remote memory), ``workload``
(one NPU's execution trace), ``run`` (:func:`run_astra`), ``microbench`` (writes ASTRA-sim's
microbenchmark traces), ``bridge`` (the native-semantics run).

Times are ASTRA-sim's integer ticks ("cycles") = nanoseconds, hence the ``_ns`` names.
"""

from sim.astra.run import AstraResult, run_astra

__all__ = ["AstraResult", "run_astra"]
