"""``run_astra``: an ASTRA-sim 2.x analytical run, NPU by NPU, in integer nanosecond ticks.

What ASTRA-sim's ``AstraSim_Analytical_Congestion_Unaware`` / ``_Aware`` binaries do
(``astra-sim/network_frontend/analytical/congestion_*/main.cc``): the number of NPUs is the
product of the network's ``npus_count``; NPU i reads ``<prefix>.<i>.et`` (a missing file is
fatal, extra files are ignored); every NPU's workload fires at t = 0 in NPU order, then the
event queue runs until it is empty. Each NPU reports ``sys[i] finished, N cycles, exposed
communication M cycles.`` when its trace is done (``Workload::report``), in finishing order.

Ticks are ASTRA-sim's integer "cycles" = ns (``CLOCK_PERIOD = 1``), hence ``_ns`` names.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from sim.astra.config import (MemoryConfig, NetworkConfig, SystemConfig, load_comm_groups,
                              load_memory, load_network, load_system)
from sim.astra.events import EventQueue
from sim.astra.logical import BinaryTree
from sim.astra.memory import RemoteMemory
from sim.astra.network import BACKENDS, make_network
from sim.astra.system import LogicalDim, Sys, world_dims
from sim.astra.workload import Node, Workload, check_graph, prepare_node
from sim.errors import CposimError
from sim.gcpause import cyclic_gc_paused

log = logging.getLogger(__name__)

# One line per convention, each naming the ASTRA-sim source it comes from (paths inside the
# astra-sim repository; NA = extern/network_backend/analytical).
CONVENTIONS = (
    "ticks are integer ns ('cycles', CLOCK_PERIOD = 1): astra-sim/system/Common.hh",
    "bandwidth GB/s = 2^30 bytes per 1e9 ns: NA/common/NetworkFunction.cpp (bw_GBps_to_Bpns)",
    "NPU id -> coordinates, dim 0 fastest: "
    "NA/congestion_unaware/multi-dim-topology/MultiDimTopology.cpp (translate_address)",
    "endpoint delay E before every message (x --injection-scale, int): "
    "astra-sim/system/MemBus.cc, astra-sim/system/Sys.cc (initialize_sys)",
    "local reduction 3*int(m / (local-mem-bw*1e9) * 1e9) ns, 0 without local-mem-bw: "
    "astra-sim/system/PacketBundle.cc (call)",
    "chunk = comm_size // preferred-dataset-splits, raised to #NPUs except all-gather: "
    "astra-sim/system/Sys.cc (generate_collective, determine_chunk_size)",
    "all-gather comm_size is the per-NPU input (output = n x comm_size); reduce-scatter's the "
    "full input; all-to-all's the per-NPU buffer: astra-sim/system/astraccl/"
    "native_collectives/collective_algorithm/Ring.cc",
    "ring all-to-all = n(n-1)/2 neighbour messages of D/n: astra-sim/system/astraccl/"
    "native_collectives/collective_algorithm/Ring.cc",
    "doubleBinaryTree always runs an all-reduce of the full size: astra-sim/system/astraccl/"
    "native_collectives/collective_algorithm/DoubleBinaryTreeAllReduce.cc",
    "multi-dim all-reduce with localBWAware = RS per dim, AR on the last, AG back: "
    "astra-sim/system/Sys.cc (generate_collective)",
    "at most active-chunks-per-dimension chunks run per queue (one queue per dim), "
    "LIFO/FIFO/EXPLICIT priorities: astra-sim/system/Sys.cc (insert_stream, SchedulerUnit)",
    "one collective (or send, or memory access) in flight per NPU; ready nodes issued by "
    "ascending id: astra-sim/workload/HardwareResource.cc, astra-sim/workload/Workload.cc",
    "COMP_NODE replayed as duration_micros*1000 ns (min 1): astra-sim/workload/Workload.cc "
    "(issue_replay)",
    "exposed communication = finish - GPU compute ticks: astra-sim/workload/Workload.cc "
    "(report)",
)
BACKEND_CONVENTIONS = {
    "congestion-unaware": "message time int(hops*latency + bytes/B) in the first differing "
                          "dimension, no contention (Ring hops min(cw, n-cw), Switch 2, "
                          "FullyConnected 1): NA/congestion_unaware/basic-topology/"
                          "BasicTopology.cpp (compute_communication_delay)",
    "congestion-aware": "whole message per link, store-and-forward, FIFO per directed link, "
                        "int(latency + bytes/B) per hop: NA/congestion_aware/network/Link.cpp",
}


@dataclass(frozen=True)
class AstraResult:
    """Per-NPU results of one ASTRA-sim-semantics run (ticks = ns)."""

    finish_ns: tuple[int, ...]            # by NPU id
    exposed_comm_ns: tuple[int, ...]      # by NPU id
    finish_order: tuple[int, ...]         # NPU ids in the order ASTRA-sim prints them
    backend: str
    npus: int
    conventions: tuple[str, ...]
    messages: int = 0
    wall_s: float = 0.0
    inputs: dict = field(default_factory=dict)

    def lines(self) -> list[str]:
        """ASTRA-sim's per-NPU report lines (``Workload::report``) without log prefixes."""
        return [f"sys[{i}] finished, {self.finish_ns[i]} cycles, exposed communication "
                f"{self.exposed_comm_ns[i]} cycles." for i in self.finish_order]

    def to_dict(self) -> dict:
        return {"finish_ns": list(self.finish_ns), "exposed_comm_ns": list(self.exposed_comm_ns),
                "finish_order": list(self.finish_order), "backend": self.backend,
                "npus": self.npus, "max_finish_ns": max(self.finish_ns),
                "messages": self.messages, "semantics": "ASTRA-sim 2.x analytical "
                "(astra-sim master 518bd51)", "inputs": self.inputs,
                "conventions": list(self.conventions), "wall_s": self.wall_s}


class Simulation:
    """All NPUs of one run: the shared event queue, network and remote memory."""

    def __init__(self, network: NetworkConfig, system: SystemConfig, memory: MemoryConfig,
                 comm_groups: dict[int, tuple[int, ...]], backend: str,
                 injection_scale: float, where: str) -> None:
        self.eq = EventQueue()
        self.where = where
        self.network = network
        self.net = make_network(backend, network, self.eq, where)
        self.npus = network.npus
        self.system = system
        # Sys.cc: communication_delay (an int) = endpoint-delay * injection_scale (a double)
        self.endpoint_delay_ns = int(system.endpoint_delay_ns * injection_scale)
        if self.endpoint_delay_ns < 1:
            raise CposimError(f"endpoint-delay {system.endpoint_delay_ns} x injection scale "
                              f"{injection_scale:g} is {self.endpoint_delay_ns} ns; ASTRA-sim "
                              "aborts on a delay of 0 (EventQueue assertion at t = 0)",
                              file=system.source, field="endpoint-delay")
        self.memory = RemoteMemory(memory, self.npus)
        self.comm_groups = comm_groups
        self._dims: dict[str, list[LogicalDim]] = {}
        self._trees: dict[tuple, BinaryTree] = {}
        self.order: list[int] = []
        self.suspects: dict[tuple[str, str], str] = {}   # (file, key) -> why it may hang
        self.aware_ring = backend == "congestion-aware" and network.topology[0] == "Ring"
        self.in_sys_events = False        # inside Sys::call_events (its try/catch)
        self._warned: set = set()

    def warn_once(self, key, fmt: str, *args) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(fmt, *args)

    def suspect(self, file: str, key: str, why: str) -> None:
        """Remember a setting that makes ASTRA-sim hang, to name it if the run does."""
        if (file, key) not in self.suspects:
            self.suspects[(file, key)] = why
            if why.startswith("halvingDoubling") and key.startswith("all-gather"):
                log.warning("%s: %s for all-reduce/reduce-scatter; its all-gather runs only "
                            "floor(log2 n) steps, and this run reproduces that", file, why)

    def world_dims(self, ctype: str) -> list[LogicalDim]:
        dims = self._dims.get(ctype)
        if dims is None:
            dims = self._dims[ctype] = world_dims(
                self.system.impls(ctype), self.network.npus_count, self.system.source,
                f"{ctype}-implementation")
        return dims

    def tree(self, kind: str, n: int, start: int, stride: int) -> BinaryTree:
        key = (kind, n, start, stride)
        t = self._trees.get(key)
        if t is None:
            t = self._trees[key] = BinaryTree(kind, n, start, stride)
        return t

    def report(self, wl: Workload) -> None:
        self.order.append(wl.npu)
        if wl.other_stat_types and not self.in_sys_events:
            # Statistics::extract_comp_comm_overlap throws for CPU / INVALID / memory nodes;
            # Sys::call_events catches that, a network callback does not
            self.warn_once(
                "stats-abort", "%s: NPU %d finishes from a network callback in a trace with CPU "
                "compute, INVALID or memory nodes; ASTRA-sim 518bd51 aborts there (its "
                "statistics post-processing throws 'Only GPU and COMM types are supported'), so "
                "these finish ticks have no ASTRA-sim counterpart", wl.where, wl.npu)


def load_nodes(path: Path, npu: int, sim: Simulation) -> dict[int, Node]:
    from workloads.readers.chakra import decode_et_file

    where = str(path)
    if not path.is_file():
        raise CposimError(f"workload file for NPU {npu} does not exist (the network has "
                          f"{sim.npus} NPUs: NPU i reads <prefix>.<i>.et)", file=where)
    _meta, raw_nodes = decode_et_file(path)
    nodes: dict[int, Node] = {}
    for line, raw in raw_nodes:
        n = prepare_node(raw, npu, sim.npus, where, line, sim)
        if n.id in nodes:
            raise CposimError(f"duplicate node id {n.id}", file=where, line=line, field="id")
        nodes[n.id] = n
    if not nodes:
        raise CposimError("no nodes (ASTRA-sim's feeder throws: no dependency-free nodes)",
                          file=where)
    check_graph(nodes, where)
    return nodes


def _network(x) -> NetworkConfig:
    return x if isinstance(x, NetworkConfig) else load_network(x)


def _system(x) -> SystemConfig:
    return x if isinstance(x, SystemConfig) else load_system(x)


def run_astra(workload_prefix: str | Path, system_path, network_path, memory_path=None,
              backend: str = "congestion-unaware", *, comm_group_path=None,
              injection_scale: float = 1.0, num_queues_per_dim: int = 1) -> AstraResult:
    """Run Chakra ETs ``<workload_prefix>.<i>.et`` with ASTRA-sim 2.x's analytical semantics.

    ``system_path`` / ``network_path`` are ASTRA-sim's system JSON and network YAML (or
    already-loaded :class:`SystemConfig` / :class:`NetworkConfig`); ``memory_path`` the
    remote-memory JSON (None = no memory expansion); ``comm_group_path`` the communicator
    groups JSON. Bad input raises :class:`sim.errors.CposimError` naming file and key.
    """
    t0 = time.perf_counter()
    if backend not in BACKENDS:
        raise CposimError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}",
                          field="backend")
    if num_queues_per_dim != 1:
        raise CposimError(f"only 1 queue per dimension is supported, got {num_queues_per_dim}",
                          field="num-queues-per-dim")
    if not (isinstance(injection_scale, (int, float)) and math.isfinite(injection_scale)
            and injection_scale > 0):
        raise CposimError(f"must be a number > 0, got {injection_scale!r}",
                          field="injection-scale")
    network = _network(network_path)
    system = _system(system_path)
    memory = load_memory(memory_path)
    groups = load_comm_groups(comm_group_path, network.npus)
    prefix = str(workload_prefix)
    sim = Simulation(network, system, memory, groups, backend, injection_scale, prefix)
    workloads = []
    for i in range(sim.npus):
        path = Path(f"{prefix}.{i}.et")
        nodes = load_nodes(path, i, sim)
        workloads.append(Workload(sim, Sys(sim, i), nodes, str(path)))
    with cyclic_gc_paused():        # millions of short-lived closures, no garbage cycles
        for wl in workloads:        # main.cc: systems[i]->workload->fire(), i = 0..N-1
            wl.fire()
        sim.eq.run(prefix)
    stuck = [wl for wl in workloads if not wl.finished]
    if stuck:
        wl = stuck[0]
        pending = sorted(wl.ongoing | wl.free | {i for i, k in wl.waiting.items() if k > 0})
        what = (f"{len(stuck)} of {sim.npus} NPUs never finish (first: NPU {wl.npu}, nodes "
                f"{pending[:6]} pending); ASTRA-sim stops here with 'unreleased nodes' or "
                "silently")
        if sim.suspects:       # name the setting that makes ASTRA-sim hang
            (file, key), why = next(iter(sim.suspects.items()))
            raise CposimError(f"{what}; likely cause: {why}", file=file, field=key)
        raise CposimError(f"{what} (e.g. a receive without its send, a send/receive cycle, "
                          "or collectives issued in different orders)", file=wl.where)
    fin = tuple(int(wl.finish_ns) for wl in workloads)
    # Workload::report: both are uint64 Ticks, so overlapping replayed compute (replay-only)
    # wraps around exactly as ASTRA-sim prints it
    exposed = tuple(int(wl.finish_ns - wl.compute_ns) % (1 << 64) for wl in workloads)
    conv = CONVENTIONS + (BACKEND_CONVENTIONS[backend],)
    inputs = {"workload": prefix, "system": system.source, "network": network.source,
              "remote_memory": memory.source, "comm_groups": str(comm_group_path)
              if comm_group_path else None, "injection_scale": injection_scale,
              "endpoint_delay_ns": sim.endpoint_delay_ns}
    return AstraResult(fin, exposed, tuple(sim.order), backend, sim.npus, conv,
                       sim.net.messages, time.perf_counter() - t0, inputs)
