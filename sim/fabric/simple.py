"""Idealised small topologies for tests and for matching other simulators' configs.

Links here carry the bandwidth and latency they are given — no PHY model, no placement.
``single_switch`` follows ASTRA-sim's ``Switch`` convention: a transfer between two GPUs
crosses two links and one switch, ``2 x link_latency + switch_latency``.
"""

from __future__ import annotations

import numpy as np

from sim.errors import CposimError
from sim.fabric.topology import Topology, TopologyBuilder


def _positive(value: float, field: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise CposimError(f"must be a positive number, got {value!r}", field=field)
    return value


def single_switch(n_gpus: int, *, link_bandwidth_bps: float, link_latency_s: float,
                  switch_latency_s: float = 0.0, tier: str = "scaleup") -> Topology:
    """``n_gpus`` GPUs on one non-blocking switch; every GPU-switch link is idealised."""
    if int(n_gpus) < 1:
        raise CposimError("need at least one GPU", field="gpus")
    _positive(link_bandwidth_bps, "link_bandwidth_bps")
    if link_latency_s < 0 or switch_latency_s < 0:
        raise CposimError("latencies must be >= 0", field="latency")
    b = TopologyBuilder(f"single-switch-{n_gpus}", switch_latency_s=switch_latency_s)
    sw = b.add_switch("switch0", tier, -1, switch_latency_s)
    gpus = [b.add_gpu(f"gpu{i}", -1, 0) for i in range(int(n_gpus))]
    b.add_cables(gpus, sw, tier, bandwidth_bps=link_bandwidth_bps, latency_s=link_latency_s,
                 length_m=0.0)
    return b.build(policy="copper-first")


def ideal_ring(n_gpus: int, *, link_bandwidth_bps: float, link_latency_s: float,
               hop_latency_s: float = 0.0) -> Topology:
    """A bidirectional ring of idealised links; GPUs forward (a direct network)."""
    return ideal_torus((int(n_gpus),), link_bandwidth_bps=link_bandwidth_bps,
                       link_latency_s=link_latency_s, hop_latency_s=hop_latency_s)


def ideal_torus(dims, *, link_bandwidth_bps: float, link_latency_s: float,
                hop_latency_s: float = 0.0) -> Topology:
    """A 1-D/2-D/3-D torus of idealised links (wrap-around in every dimension)."""
    dims = tuple(int(d) for d in dims)
    if not dims or min(dims) < 2:
        raise CposimError("every torus dimension needs at least 2 GPUs", field="dims")
    _positive(link_bandwidth_bps, "link_bandwidth_bps")
    b = TopologyBuilder("torus-" + "x".join(map(str, dims)))
    b.direct = True
    n = int(np.prod(dims))
    ids = np.array([b.add_gpu(f"gpu{i}", -1, 0, hop_latency_s) for i in range(n)])
    coords = np.array(np.unravel_index(np.arange(n), dims)).T
    a_all, b_all = [], []
    for axis, size in enumerate(dims):
        nxt = coords.copy()
        nxt[:, axis] = (nxt[:, axis] + 1) % size
        j = np.ravel_multi_index(nxt.T, dims)
        m = np.arange(n) < j if size == 2 else np.ones(n, dtype=bool)  # size 2: one cable
        a_all.append(ids[m])
        b_all.append(ids[j[m]])
    b.add_cables(np.concatenate(a_all), np.concatenate(b_all), "scaleup",
                 bandwidth_bps=link_bandwidth_bps, latency_s=link_latency_s, length_m=0.0)
    return b.build(policy="copper-first")
