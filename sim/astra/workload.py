"""ASTRA-sim's workload layer: one NPU walking its Chakra execution trace.

ASTRA-sim semantics (``astra-sim/workload/Workload.cc``, ``HardwareResource.cc``; the feeder
``extern/graph_frontend/chakra/src/feeder_v3/``), kept apart from cposim's runtime
(``sim/runtime``), which does not change:

* NPU i reads ``<prefix>.<i>.et`` (decoded by cposim's own ``workloads/readers/protowire.py``).
  A node is ready when all its ``data_deps`` and ``ctrl_deps`` have finished
  (``dependancy_solver.cpp``); a dependency on a node not in the file is an error (the feeder's
  sanity check throws), a cycle is an error (ASTRA-sim would hang).
* Ready nodes are issued in ascending id order whenever something finishes, if their hardware
  resource is free (``HardwareResource::is_available``): one CPU node (``is_cpu_op``), one GPU
  compute node and one communication node (collective, send, memory, metadata) at a time;
  receives are not limited. A collective therefore never overlaps another collective on the
  same NPU.
* ``COMP_NODE``: replayed as ``duration_micros * 1000`` ns (1 ns if 0), or with
  ``roofline-enabled`` (GPU nodes): ``num_ops / min(local-mem-bw * num_ops / tensor_size,
  peak-perf)`` s, truncated to ns (``Roofline.cc``; ``tensor_size`` 0 = skipped).
  ``replay-only`` replays every node this way.
* ``COMM_COLL_NODE``: ``comm_type`` ALL_REDUCE / REDUCE_SCATTER / ALL_GATHER / ALL_TO_ALL of
  ``comm_size`` bytes (all-gather: the per-NPU *input*), over all NPUs (``pg_name`` absent, ""
  or "0") or a communicator group; ``involved_dim`` (a bool list) picks dimensions, absent =
  all; ``comm_priority`` is the EXPLICIT priority. BROADCAST is replayed as a delay of
  ``duration_micros * 1000`` ns (min 1); other types are an error.
* ``COMM_SEND_NODE`` / ``COMM_RECV_NODE``: one message of ``comm_size`` bytes with tag
  ``comm_tag mod 500,000,000`` straight into the network (no endpoint delay); the send
  finishes when the message *arrives*, the receive when it has arrived and was posted.
* ``MEM_LOAD_NODE`` / ``MEM_STORE_NODE``: remote memory (``sim/astra/memory.py``).
* ``INVALID_NODE``: finishes at once, but its children wait until the next node finishes
  (``Workload::skip_invalid``; ASTRA-sim only issues ready nodes then). A ``METADATA_NODE``
  aborts ASTRA-sim 518bd51 (``Statistics::get_operator_type`` asserts when it is issued):
  an error here, so PyTorch process-group tables in metadata nodes are not read.
* The NPU finishes when nothing is ready, running or in flight: ``finish`` = that tick,
  ``exposed communication`` = finish - the GPU nodes' replayed/roofline compute ticks
  (``Workload::report``).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from sim.astra.algorithms.base import ALL_GATHER, ALL_REDUCE, ALL_TO_ALL, REDUCE_SCATTER
from sim.astra.config import Impl
from sim.astra.logical import RingTopology
from sim.astra.system import CommGroup, LogicalDim, Sys
from sim.errors import CposimError
from workloads.trace import topological_order

NODE_TYPES = {0: "INVALID_NODE", 1: "METADATA_NODE", 2: "MEM_LOAD_NODE", 3: "MEM_STORE_NODE",
              4: "COMP_NODE", 5: "COMM_SEND_NODE", 6: "COMM_RECV_NODE", 7: "COMM_COLL_NODE"}
COMM_TYPES = {0: ALL_REDUCE, 1: "REDUCE", 2: ALL_GATHER, 3: "GATHER", 4: "SCATTER",
              5: "BROADCAST", 6: ALL_TO_ALL, 7: REDUCE_SCATTER, 8: "REDUCE_SCATTER_BLOCK",
              9: "BARRIER"}
NATIVE_TAG = 500_000_000          # Sys::front_end_sim_send: NATIVE tags are tag mod 5e8
_INTS = ("int32_val", "int64_val", "uint32_val", "uint64_val", "sint32_val", "sint64_val",
         "fixed32_val", "fixed64_val", "sfixed32_val", "sfixed64_val", "bool_val")
_STRINGS = ("string_val", "bytes_val")


# ---------------------------------------------------------------------------- attributes
class _Attrs:
    """A node's attributes as ``ETFeederNode::get_attr`` converts them: integer kinds
    convert to integers, floats to integers are refused, strings only to strings; the
    first attribute of a name wins."""

    def __init__(self, node: dict, where: str, line: int) -> None:
        self.where, self.line = where, line
        self.raw: dict[str, dict] = {}
        for a in node.get("attr", ()):
            name = a.get("name", "")
            if name not in self.raw:
                self.raw[name] = a

    def value(self, name: str) -> tuple[str, object]:
        a = self.raw[name]
        for k, v in a.items():
            if k not in ("name", "doc_string"):
                return k, v
        raise CposimError("attribute has no value (ASTRA-sim's feeder throws)",
                          file=self.where, line=self.line, field=name)

    def has(self, name: str) -> bool:
        return name in self.raw

    def int(self, name: str, default: int | None = None, *, minimum: int = 0) -> int:
        if name not in self.raw:
            if default is None:
                raise CposimError("required attribute is missing", file=self.where,
                                  line=self.line, field=name)
            return default
        kind, v = self.value(name)
        if kind not in _INTS:
            raise CposimError(f"must be an integer attribute, got {kind} {v!r} (ASTRA-sim's "
                              "feeder refuses it)", file=self.where, line=self.line, field=name)
        v = int(v)
        if v < minimum:
            raise CposimError(f"must be >= {minimum}, got {v}", file=self.where,
                              line=self.line, field=name)
        return v

    def flag(self, name: str) -> bool:
        return bool(self.int(name, 0, minimum=-(1 << 63)))

    def string(self, name: str, default: str) -> str:
        if name not in self.raw:
            return default
        kind, v = self.value(name)
        if kind not in _STRINGS:
            raise CposimError(f"must be a string attribute, got {kind} {v!r}", file=self.where,
                              line=self.line, field=name)
        return v if isinstance(v, str) else v.decode("utf-8", "replace")


# ---------------------------------------------------------------------------- nodes
@dataclass(slots=True)
class Node:
    id: int
    line: int
    kind: str                     # comp roofline replay coll bcast send recv mem skip
    resource: str                 # cpu | comp | comm | none (HardwareResource)
    cpu: bool
    runtime_ns: int               # replay time (duration_micros * 1000, at least 1)
    deps: tuple[int, ...]
    ctype: str = ""
    size_bytes: int = 0
    involved: list = field(default_factory=list)
    pg: str = ""
    priority: int = 0
    peer: int = -1
    tag: int = 0
    num_ops: int = 0
    tensor_bytes: int = 0
    other_stat: bool = False      # a CPU compute, INVALID or memory node (Statistics.cc)


def prepare_node(raw: dict, npu: int, npus: int, where: str, line: int, sim) -> Node:
    """One decoded Chakra node -> what ASTRA-sim will do with it; errors name file and
    message number (``line``) and the attribute."""
    a = _Attrs(raw, where, line)
    nid = int(raw.get("id", 0))
    tnum = raw.get("type", 0)
    tname = NODE_TYPES.get(tnum)
    if tname is None:
        raise CposimError(f"node type {tnum} is not one ASTRA-sim 2.x runs", file=where,
                          line=line, field="type")
    deps = tuple(dict.fromkeys([*raw.get("data_deps", ()), *raw.get("ctrl_deps", ())]))
    dur = int(raw.get("duration_micros", 0))
    runtime = dur * 1000 if dur else 1
    cpu = a.flag("is_cpu_op")
    resource = ("cpu" if cpu else "comp" if tname == "COMP_NODE" else
                "none" if tname == "COMM_RECV_NODE" else "comm")
    n = Node(nid, line, "skip", resource, cpu, runtime, deps)
    n.other_stat = tname in ("INVALID_NODE", "MEM_LOAD_NODE", "MEM_STORE_NODE") or (
        tname == "COMP_NODE" and cpu)
    cfg = sim.system
    if tname == "METADATA_NODE":
        raise CposimError("a METADATA_NODE: ASTRA-sim 518bd51 aborts on it (its statistics "
                          "assert in Statistics::get_operator_type when the node is issued)",
                          file=where, line=line, field="type")
    if cfg.replay_only:
        n.kind = "replay"
        return n
    if tname == "INVALID_NODE":
        n.kind = "skip"
        return n
    if tname in ("MEM_LOAD_NODE", "MEM_STORE_NODE"):
        sim.memory.check(where, line)
        n.kind = "mem"
        n.tensor_bytes = a.int("tensor_size")
        return n
    if tname == "COMP_NODE":
        n.kind = "comp"
        if cfg.roofline_enabled and not cpu:
            n.kind = "roofline"
            n.num_ops = a.int("num_ops")
            n.tensor_bytes = a.int("tensor_size")
        return n
    if cpu:
        raise CposimError("a communication node with is_cpu_op true (ASTRA-sim throws: comm "
                          "node should not be on CPU)", file=where, line=line,
                          field="is_cpu_op")
    if tname == "COMM_COLL_NODE":
        ct = a.int("comm_type")
        ctype = COMM_TYPES.get(ct)
        size = a.int("comm_size")
        if ctype == "BROADCAST":
            n.kind = "bcast"
            return n
        if ctype not in (ALL_REDUCE, REDUCE_SCATTER, ALL_GATHER, ALL_TO_ALL):
            raise CposimError(f"collective type {ctype or ct} is not supported by ASTRA-sim "
                              "2.x (all-reduce, reduce-scatter, all-gather, all-to-all, "
                              "broadcast as a delay)", file=where, line=line, field="comm_type")
        n.kind, n.ctype, n.size_bytes = "coll", ctype, size
        if a.has("involved_dim"):
            kind, v = a.value("involved_dim")
            if kind != "bool_list":
                raise CposimError(f"must be a bool_list, got {kind} (ASTRA-sim exits)",
                                  file=where, line=line, field="involved_dim")
            n.involved = [bool(x) for x in v.get("values", [])]
        else:
            n.involved = [True] * 4
        n.pg = a.string("pg_name", "")
        if n.pg not in ("", "0") and not n.pg.isdigit():
            raise CposimError(f"pg_name {n.pg!r} is not a group number (ASTRA-sim's stoi "
                              "throws)", file=where, line=line, field="pg_name")
        n.priority = a.int("comm_priority", 0)
        if cfg.impls(ctype) is None:
            raise CposimError(f"the workload has a {ctype} (node {nid}) but the system "
                              f"configuration has no {ctype}-implementation (ASTRA-sim throws "
                              "'No collective implementation found')", file=cfg.source,
                              field=f"{ctype}-implementation")
        return n
    send = tname == "COMM_SEND_NODE"
    src = a.int("comm_src", npu if send else None)
    dst = a.int("comm_dst", None if send else npu)
    if (src if send else dst) != npu:
        raise CposimError(f"{'a send' if send else 'a receive'} issued by NPU {npu} names "
                          f"{'comm_src' if send else 'comm_dst'} {src if send else dst} "
                          "(ASTRA-sim throws)", file=where, line=line,
                          field="comm_src" if send else "comm_dst")
    peer = dst if send else src
    if not 0 <= peer < npus:
        raise CposimError(f"peer {peer} is not an NPU (0..{npus - 1})", file=where, line=line,
                          field="comm_dst" if send else "comm_src")
    n.kind = "send" if send else "recv"
    n.peer, n.size_bytes = peer, a.int("comm_size")
    n.tag = a.int("comm_tag") % NATIVE_TAG
    return n


def check_graph(nodes: dict[int, Node], where: str) -> None:
    for n in nodes.values():
        for d in n.deps:
            if d not in nodes:
                raise CposimError(f"node {n.id} depends on node {d}, which is not in the file "
                                  "(ASTRA-sim's feeder throws)", file=where, line=n.line,
                                  field="data_deps")
    stuck = topological_order({i: n.deps for i, n in nodes.items()})[1]
    if stuck:
        first = min((nodes[i] for i in stuck), key=lambda n: n.line)
        raise CposimError(f"dependency cycle through node {first.id} (ASTRA-sim would hang)",
                          file=where, line=first.line, field="data_deps")


# ---------------------------------------------------------------------------- one NPU
class Workload:
    def __init__(self, sim, sys: Sys, nodes: dict[int, Node], where: str) -> None:
        self.sim = sim
        self.sys = sys
        self.npu = sys.npu
        self.nodes = nodes
        self.where = where
        self.waiting = {i: len(n.deps) for i, n in nodes.items()}
        self.children: dict[int, list[int]] = {}
        for n in nodes.values():
            for d in n.deps:
                self.children.setdefault(d, []).append(n.id)
        self.free: set[int] = set()
        # ready nodes per hardware resource, smallest id first
        self._ready: dict[str, list[int]] = {"cpu": [], "comp": [], "comm": [], "none": []}
        for i, k in self.waiting.items():
            if k == 0:
                self._add_free(i)
        self.ongoing: set[int] = set()
        self.cpu = self.comp = self.comm = 0
        self.compute_ns = 0            # HardwareResource::tics_gpu_ops
        self.finished = False
        self.finish_ns: int | None = None
        # Statistics::get_operator_type other than GPU compute and communication
        self.other_stat_types = any(n.other_stat for n in nodes.values())
        self.groups: dict[int, CommGroup] = {
            gid: CommGroup(gid, members) for gid, members in sim.comm_groups.items()}

    # ------------------------------------------------------------------ resources
    def _available(self, n: Node) -> bool:
        r = n.resource
        if r == "cpu":
            return self.cpu == 0
        if r == "comp":
            return self.comp == 0
        return r == "none" or self.comm == 0

    def _occupy(self, n: Node, sign: int) -> None:
        r = n.resource
        if r == "cpu":
            self.cpu += sign
        elif r == "comp":
            self.comp += sign
        elif r == "comm":
            self.comm += sign

    # ------------------------------------------------------------------ the walk
    def fire(self) -> None:
        self._issue_free()
        self._check_done()

    def _add_free(self, nid: int) -> None:
        self.free.add(nid)
        heapq.heappush(self._ready[self.nodes[nid].resource], nid)

    def _issue_free(self) -> None:
        """``Workload::issue_dep_free_nodes``: ASTRA-sim walks all ready nodes by ascending id
        and issues each whose resource is free. Equivalently (without walking thousands of
        blocked nodes): per busy-able resource the smallest ready id (plus any instant nodes
        before it, which free the resource again at once), and every ready receive; issued
        together in ascending id order."""
        pick = []
        for r, busy in (("cpu", self.cpu), ("comp", self.comp), ("comm", self.comm)):
            heap = self._ready[r]
            while not busy and heap:
                nid = heapq.heappop(heap)
                pick.append(nid)
                n = self.nodes[nid]
                busy = not (n.kind == "skip" or (n.kind == "roofline" and n.tensor_bytes == 0))
        heap = self._ready["none"]
        while heap:
            pick.append(heapq.heappop(heap))
        if len(pick) > 1:
            pick.sort()
        for nid in pick:
            self._issue(self.nodes[nid])

    def _issue(self, n: Node) -> None:
        self.free.discard(n.id)
        self.ongoing.add(n.id)
        self._occupy(n, +1)
        kind = n.kind
        done = lambda: self._done(n)  # noqa: E731
        sys = self.sys
        if kind in ("comp", "replay"):
            if not n.cpu:
                self.compute_ns += n.runtime_ns
            sys.register(n.runtime_ns, done)
        elif kind == "roofline":
            if n.tensor_bytes == 0:
                self._skip(n)
                return
            cfg = self.sim.system
            oi = n.num_ops / n.tensor_bytes
            perf = min(cfg.local_mem_bw_GBps * 1e9 * oi, cfg.peak_perf_TFLOPS * 1e12)
            if perf <= 0:
                raise CposimError("roofline compute needs peak-perf > 0 and local-mem-bw > 0 "
                                  "(ASTRA-sim divides by the roofline's performance)",
                                  file=cfg.source, field="peak-perf")
            rt = int(n.num_ops / perf * 1e9)
            self.compute_ns += rt
            sys.register(rt, done)
        elif kind == "coll":
            self._collective(n, done)
        elif kind == "bcast":
            sys.register(n.runtime_ns, done)
        elif kind == "send":
            self.sim.net.send(self.npu, n.peer, n.size_bytes, n.tag, done)
        elif kind == "recv":
            self.sim.net.recv(n.peer, self.npu, n.size_bytes, n.tag, done)
        elif kind == "mem":
            self.sim.memory.issue(sys, n.tensor_bytes, done, self.where)
        else:
            self._skip(n)

    def _skip(self, n: Node) -> None:
        """``Workload::skip_invalid``: finished now, children issued at the next event."""
        if self.children.get(n.id):
            self.sim.suspect(self.where, "type", f"node {n.id} is skipped (INVALID_NODE or "
                             "roofline with tensor_size 0) and ASTRA-sim issues its children "
                             "only when another node of the NPU finishes")
        self._finish_node(n)
        self._occupy(n, -1)

    def _finish_node(self, n: Node) -> None:
        self.ongoing.discard(n.id)
        for c in self.children.get(n.id, ()):
            self.waiting[c] -= 1
            if self.waiting[c] == 0:
                self._add_free(c)

    def _done(self, n: Node) -> None:
        """``Workload::call``: a node finished."""
        if self.finished:
            return
        self._occupy(n, -1)
        self._finish_node(n)
        self._issue_free()
        self._check_done()

    def _check_done(self) -> None:
        if not self.free and not self.ongoing and not (self.cpu or self.comp or self.comm):
            self.finished = True
            self.finish_ns = self.sim.eq.now_ns
            self.sim.report(self)

    # ------------------------------------------------------------------ collectives
    def _collective(self, n: Node, done) -> None:
        sim = self.sim
        group = None
        involved = n.involved
        if n.pg in ("", "0"):
            dims = sim.world_dims(n.ctype)
        else:
            group = self.groups.get(int(n.pg))
            if group is None:
                raise CposimError(f"communicator group {n.pg} not found (give it in "
                                  "--comm-group-configuration)", file=self.where, line=n.line,
                                  field="pg_name")
            if self.npu not in group.members:
                raise CposimError(f"NPU {self.npu} runs a collective of group {n.pg}, which "
                                  "does not contain it (ASTRA-sim asserts)", file=self.where,
                                  line=n.line, field="pg_name")
            if len(group.members) == sim.npus:
                dims, involved = sim.world_dims(n.ctype), [True] * 10
            else:
                # CommunicatorGroup::get_collective_plan: one Local ring in file order; a
                # multi-dimensional implementation list falls back to ring
                impls = sim.system.impls(n.ctype)
                impl = impls[0] if len(impls) == 1 else Impl("ring", False, -1, "ring")
                ring = RingTopology(group.members, local=True)
                dims = [LogicalDim(impl, len(group.members), 1, 0, True, ring)]
                involved = [True]
        self.sys.generate_collective(n.ctype, n.size_bytes, dims, involved, n.priority, group,
                                     done, self.where)

