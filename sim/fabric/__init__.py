"""The fabric layer: topologies with placement and link technology, routing, network models.

Public interface (the layer between ``sim.phy`` links and ``sim.comm`` collectives; README,
"What is in it")::

    from sim.fabric import Topology, build_topology, single_switch, make_fabric, PRESETS, POLICIES

Modules: ``topology`` (the record and its builder), ``placement`` (geometry -> cable length),
``policy`` (technology per cable via ``sim.phy.resolve_link``), ``builders`` (scale-up
domains, Clos/rail-optimized/multi-plane, ring/torus), ``presets`` (named clusters and
``build_topology``), ``userfile`` (TOML/JSON topologies), ``simple`` (idealised single switch,
ring, torus), ``routing`` (shortest paths, ECMP), ``maxmin`` (the water-filling solver),
``base``/``flow``/``packet``/``analytical`` (the three fabric models behind one interface,
``interface.Fabric``, with their ``Capabilities``), ``accounting`` (link bytes, the energy
formula, bytes and energy by technology), ``failures`` (routing around down links),
``speed`` (``SpeedOptions``: every speed-up's switch and fallback rule).
Node arrays are ``kind``, ``node_name``, ``node_tier``, ``rack``, ``row``, ``slot``,
``switch_latency_s``; ``tier`` and ``tech`` are per directed link.
"""

from __future__ import annotations

import simpy

from sim.errors import CposimError
from sim.fabric.interface import Capabilities, Fabric
from sim.fabric.policy import POLICIES, TECHNOLOGIES, TIERS
from sim.fabric.routing import DEFAULT_ROUTING, ROUTINGS
from sim.fabric.simple import ideal_ring, ideal_torus, single_switch
from sim.fabric.speed import SpeedOptions
from sim.fabric.topology import Topology, TopologyBuilder

FIDELITIES = ("flow", "packet", "analytical")


def make_fabric(env: simpy.Environment, topology: Topology, *, fidelity: str = "flow",
                routing: str = DEFAULT_ROUTING, seed: int = 0, mtu_bytes: int = 4096,
                switching: str = "cut-through", buffer_bytes: float | str | None = "auto",
                speed: SpeedOptions | None = None, failures: bool = False) -> Fabric:
    """A network model over ``topology`` driven by ``env``: ``flow`` (max-min, default),
    ``packet`` (packets through link/switch processes) or ``analytical`` (no sharing).
    ``mtu_bytes``, ``switching`` and ``buffer_bytes`` (per flow per hop) are ``packet`` only.
    ``speed``: the speed-ups (:class:`SpeedOptions`, default all on; the fabric keeps them as
    ``fabric.speed`` and the layers above default to them). ``failures`` (``flow`` only):
    links may go down and up during the run (``FlowFabric.set_down_links``)."""
    if failures and fidelity != "flow":
        raise CposimError(f"link failures need the flow fidelity, not {fidelity!r}",
                          field="fidelity")
    if fidelity == "flow":
        from sim.fabric.flow import FlowFabric
        return FlowFabric(env, topology, routing=routing, seed=seed, speed=speed,
                          failures=failures)
    if fidelity == "packet":
        from sim.fabric.packet import PacketFabric
        return PacketFabric(env, topology, routing=routing, seed=seed, mtu_bytes=mtu_bytes,
                            switching=switching, buffer_bytes=buffer_bytes, speed=speed)
    if fidelity == "analytical":
        from sim.fabric.analytical import AnalyticalFabric
        return AnalyticalFabric(env, topology, routing=routing, seed=seed, speed=speed)
    raise CposimError(f"unknown fidelity '{fidelity}' (choose from {', '.join(FIDELITIES)})",
                      field="fidelity")


def __getattr__(name):  # presets pull in the PHY layer; load them on first use
    if name in ("PRESETS", "build_topology"):
        from sim.fabric import presets
        return getattr(presets, name)
    raise AttributeError(name)


__all__ = ["Topology", "TopologyBuilder", "build_topology", "single_switch", "ideal_ring",
           "ideal_torus", "make_fabric", "PRESETS", "POLICIES", "TECHNOLOGIES", "TIERS",
           "ROUTINGS", "DEFAULT_ROUTING", "FIDELITIES", "Fabric", "Capabilities", "SpeedOptions"]
