"""ASTRA-sim's analytical remote memory: what a MEM_LOAD_NODE / MEM_STORE_NODE costs.

ASTRA-sim semantics (``extern/remote_memory_backend/analytical/AnalyticalRemoteMemory.cc``):
an access of ``tensor_size`` bytes takes ``remote-mem-latency + int(tensor_size /
remote-mem-bw)`` ns (bandwidth in bytes per ns).

* ``NO_MEMORY_EXPANSION`` (also what cposim astra assumes without
  ``--remote-memory-configuration``): any memory node is an error (ASTRA-sim exits:
  "Remote memory access is not supported in NO_MEMORY_EXPANSION").
* ``PER_NPU_MEMORY_EXPANSION``: every access runs at once.
* ``PER_NODE_MEMORY_EXPANSION``: one access at a time per node of ``num-npus-per-node`` NPUs,
  the others queue FIFO (ASTRA-sim 518bd51 itself crashes here: ``call`` reads the request
  the workload already freed; we run the intended semantics and warn).
* ``MEMORY_POOL``: one access at a time for all NPUs.

When a queued access ends, the NPU's workload is told first, then the next queued access
starts (both events at the same tick, in that order).
"""

from __future__ import annotations

from collections import deque

from sim.astra.config import MemoryConfig
from sim.errors import CposimError


class RemoteMemory:
    def __init__(self, cfg: MemoryConfig, npus: int) -> None:
        self.cfg = cfg
        self.npus = npus
        self._busy: dict[int, bool] = {}
        self._pending: dict[int, deque] = {}

    def check(self, where: str, line: int) -> None:
        """Raise if a memory node cannot run with this configuration."""
        if self.cfg.memory_type == "NO_MEMORY_EXPANSION":
            raise CposimError(
                "a MEM_LOAD/MEM_STORE node needs remote memory, but the remote-memory "
                f"configuration ({self.cfg.source}) is NO_MEMORY_EXPANSION (ASTRA-sim exits "
                "here too)", file=where, line=line, field="type")

    def runtime_ns(self, tensor_size: int) -> int:
        return self.cfg.remote_mem_latency_ns + int(tensor_size / self.cfg.remote_mem_bw_Bpns)

    def _pool(self, npu: int, where: str) -> int | None:
        t = self.cfg.memory_type
        if t == "PER_NODE_MEMORY_EXPANSION":
            nid = npu // self.cfg.num_npus_per_node
            if nid >= self.cfg.num_nodes:
                raise CposimError(f"NPU {npu} is on node {nid}, but num-nodes is "
                                  f"{self.cfg.num_nodes} (ASTRA-sim indexes past its table)",
                                  file=self.cfg.source, field="num-nodes")
            return nid
        if t == "MEMORY_POOL":
            return 0
        return None

    def issue(self, sys, tensor_size: int, on_done, where: str) -> None:
        pool = self._pool(sys.npu, where)
        if self.cfg.memory_type == "PER_NODE_MEMORY_EXPANSION":
            sys.sim.warn_once(
                "per-node-memory", "%s: ASTRA-sim 518bd51 crashes on PER_NODE_MEMORY_EXPANSION "
                "(AnalyticalRemoteMemory::call reads the request after the workload freed it); "
                "this run uses the intended semantics, with no ASTRA-sim number to compare",
                self.cfg.source)
        if pool is None:
            sys.register(self.runtime_ns(tensor_size), on_done)
        elif self._busy.get(pool):
            self._pending.setdefault(pool, deque()).append((sys, tensor_size, on_done))
        else:
            self._start(pool, sys, tensor_size, on_done)

    def _start(self, pool: int, sys, tensor_size: int, on_done) -> None:
        rt = self.runtime_ns(tensor_size)
        sys.register(rt, on_done)
        sys.register(rt, lambda: self._next(pool))
        self._busy[pool] = True

    def _next(self, pool: int) -> None:
        q = self._pending.get(pool)
        if q:
            self._start(pool, *q.popleft())
        else:
            self._busy[pool] = False
