"""Shortest-path routing with ECMP, vectorised over batches of flows.

Rules (what real AI fabrics do):

* GPUs never forward traffic, except in direct networks (ring/torus) where they are the routers.
* Two GPUs of the same scale-up domain talk over the scale-up fabric only (NVLink does not
  spill onto the NIC); GPUs of different domains use the scale-out fabric only, when every
  GPU has one; otherwise the whole graph.
* Among equal-cost (fewest-hop) next hops, ``ecmp-hash`` picks one per flow by a hash of
  (seed, src, dst, hop) — deterministic, like a 5-tuple hash with fixed ports — and
  ``ecmp-even`` splits the flow evenly at every hop (per-packet spraying in the fluid limit),
  so a link may carry a fraction ``coef`` of a flow.
* A GPU whose NIC has several equal-cost ports (multi-plane: one port per plane) spreads each
  flow evenly over them in both modes, as multi-plane NICs do (``spray_planes``).
* ``pxn`` (the default, :data:`DEFAULT_ROUTING`, as NCCL out of the box) is ``ecmp-hash`` plus
  NCCL's PXN relays: on a rail-optimized fabric a pair of different servers on different rails
  goes over NVLink to the source server's GPU on the destination's rail, then on that rail.
  Without rails it is ``ecmp-hash`` exactly.

Modules, each importing only those listed after it:

* ``router`` — :class:`Router`: the scale-up / scale-out split, one route id per GPU pair, the
  CSR route table (links, coef, latency, bottleneck) the network models read.
* ``graph`` — :class:`RouteGraph`: a subset of the links as CSR adjacency, and the hop distances
  to destinations (reverse-BFS rows shared between destinations).
* ``pxn`` — NCCL's PXN relays on rail-optimized fabrics (``routing = "pxn"``): the GPU a
  cross-rail pair is relayed through.
* ``ecmp`` — a batch of flows walked hop by hop: hash picks and even splits, routes as CSR by
  flow.
* ``nexthops`` — the equal-cost next links of a batch of entries (scan, or by distance class
  with per-(row, node) lists).
* ``cache`` — the GPU pair -> route id index and the per-(row, node) next-level link cache.
* ``hashing`` — the splitmix64 finaliser behind the ECMP hash.
* ``entries`` — CSR / segment / distinct-value helpers (``route_entries``).

The package's modules read each other's underscored attributes (a RouteGraph's adjacency and
rows); outside it, use the names below.
"""

from sim.fabric.routing.entries import _unique_inverse, _unique_nodes, route_entries
from sim.fabric.routing.graph import RouteGraph
from sim.fabric.routing.router import ROUTING_NAMES as ROUTINGS  # ecmp-hash, ecmp-even, pxn
from sim.fabric.routing.router import DEFAULT_ROUTING, Router

# (_unique_inverse, _unique_nodes: the pair-routing shortcuts of sim.fabric.pairs use them)
__all__ = ["DEFAULT_ROUTING", "ROUTINGS", "RouteGraph", "Router", "route_entries", "_unique_inverse",
           "_unique_nodes"]
