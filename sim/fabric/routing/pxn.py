"""PXN relays: NCCL's rail-local routing on rail-optimized fabrics (``routing = "pxn"``).

On a rail-optimized cluster (DGX SuperPOD style: GPU ``i`` of a scalable unit on leaf
``i mod rails``), a message between GPUs of different scale-up domains on *different* rails
would climb to the spines. NCCL (PXN, "PCI x NVLink", on by default since 2.12 for
all-to-all and point-to-point) instead moves it over NVLink to the GPU of the source's node on
the destination's rail, which sends it on that rail; traffic stays under its rail's leaves.

The relay of a pair ``s -> d`` is the GPU of ``s``'s group of ``rails`` consecutive GPUs
(its server: a DGX node, a GB200 tray of 4) on ``d``'s rail, ``s - s mod rails + d mod
rails``. A pair is relayed only when the two GPUs are in different scale-up domains, on
different rails, the pair routes over the scale-out network, and the relay is in ``s``'s
domain with a scale-up link. The relay is a stream, not store-and-forward: the route is the
NVLink leg followed by the rail leg, its latency their sum, and the relay GPU costs nothing.
"""

from __future__ import annotations

import numpy as np


def rails_of(topo) -> int:
    """The builder's rail count (``topo.notes["rails"]``), 1 where there are none."""
    try:
        return max(int(topo.notes.get("rails", 1) or 1), 1)
    except (TypeError, ValueError):
        return 1


def relays(topo, s: np.ndarray, d: np.ndarray, scaleout: np.ndarray,
           up_ok: np.ndarray) -> np.ndarray:
    """The relay GPU of each pair ``s[i] -> d[i]``, or -1 for a direct route. ``scaleout``:
    the pair routes over the scale-out network; ``up_ok``: per GPU, it has a scale-up link."""
    out = np.full(s.size, -1, dtype=np.int64)
    rails = rails_of(topo)
    if rails <= 1 or topo.direct or not s.size:
        return out
    dom = topo.scaleup_domain
    cand = scaleout & (dom[s] != dom[d]) & (s % rails != d % rails) & up_ok[s]
    if not cand.any():
        return out
    sc, dc = s[cand], d[cand]
    p = sc - sc % rails + dc % rails
    ok = p < topo.n_gpus
    p = np.where(ok, p, 0)
    ok &= (dom[p] == dom[sc]) & up_ok[p]
    out[np.flatnonzero(cand)[ok]] = p[ok]
    return out
