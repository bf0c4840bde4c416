"""The Topology record (nodes, directed links, placement) and the builder that makes one.

A *cable* joins two nodes and becomes two directed links (one per direction) with the same
technology, length and capacity. Numbers per directed link:

* ``capacity_bps``: data rate after line coding and FEC. With a PHY model it is
  ``lanes x nominal lane rate`` (the 106.25 Gb/s line rate of a "100G" lane already carries
  RS(544,514) FEC + 256b/257b transcoding, so the nominal 100 Gb/s is what is left for data);
  an idealised link has the bandwidth it was given.
* ``latency_s``: one-way PHY + propagation of that cable (``LinkResult.latency_s``).
* ``energy_pj_per_bit``: per bit carried, one direction (TX at one end + RX at the other).
* ``port_power_w``: the module / optical engine (+ laser, cable-plug retimers) of the port at
  the link's *source* end (TX+RX), what the industry quotes as port power (30 W pluggable vs
  9 W CPO at 1.6T); ``port_total_power_w`` adds the host SerDes driving it. Summing over
  directed links counts both ends of every cable once. ``summary()['link_power_w']`` is the
  total including host SerDes; ``module_power_w`` the modules/engines only.
* ``transceivers``: optical modules/engines at the source end (fractional when a module
  carries several links, e.g. a twin-port 800G OSFP serving two 400G links).

A link wider than one PHY port (e.g. 36 NVLink lanes) is a bundle: the PHY result for one
port is scaled by ``lanes / result.lanes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.errors import CposimError
from sim.fabric.placement import Floor, Geometry
from sim.fabric.policy import parse_tier_policy, policy_candidates, policy_for_tier, resolve_cable

# Switch port-to-port latency: 300 ns (Sella, Moore, Zilberman, NEAT@SIGCOMM 2018, grade A;
# Quantum-2 "<150 ns", Tomahawk-6 "~250 ns" grade C) — reference/cpo-parameters.md §3.
DEFAULT_SWITCH_LATENCY_S = 300e-9


@dataclass
class Topology:
    """Nodes and directed links of a fabric, with placement and link technology."""

    name: str
    # nodes
    kind: np.ndarray            # "gpu" | "switch"
    node_name: np.ndarray
    node_tier: np.ndarray       # "gpu" | "scaleup" | "leaf" | "spine" | "core"
    rack: np.ndarray            # global rack id (-1: not placed)
    row: np.ndarray
    slot: np.ndarray            # rack position within its row
    switch_latency_s: np.ndarray
    # directed links
    src: np.ndarray
    dst: np.ndarray
    cable: np.ndarray           # cable id (two directed links per cable)
    capacity_bps: np.ndarray
    latency_s: np.ndarray
    tech: np.ndarray
    tier: np.ndarray
    length_m: np.ndarray
    lanes: np.ndarray
    lane_rate_bps: np.ndarray
    energy_pj_per_bit: np.ndarray
    port_power_w: np.ndarray
    port_total_power_w: np.ndarray  # port_power_w + host SerDes driving it
    optical: np.ndarray
    transceivers: np.ndarray
    bundle: np.ndarray          # physical cables this link record stands for
    # GPUs
    gpu_node: np.ndarray        # GPU i -> node id
    scaleup_domain: np.ndarray  # GPU i -> domain id
    direct: bool = False        # GPUs forward traffic (ring/torus); otherwise never transit
    policy: str = "ideal"
    tier_policy: dict = field(default_factory=dict)
    geometry: Geometry = field(default_factory=Geometry)
    notes: dict = field(default_factory=dict)

    @property
    def n_gpus(self) -> int:
        return int(self.gpu_node.size)

    @property
    def n_nodes(self) -> int:
        return int(self.kind.size)

    @property
    def n_links(self) -> int:
        return int(self.src.size)

    @property
    def scaleup_size(self) -> int:
        return int(np.bincount(self.scaleup_domain).max()) if self.n_gpus else 0

    # aliases the contract names
    @property
    def name_of(self) -> np.ndarray:
        return self.node_name

    def links_frame(self) -> pd.DataFrame:
        return pd.DataFrame({
            "src": self.src, "dst": self.dst, "src_name": self.node_name[self.src],
            "dst_name": self.node_name[self.dst], "cable": self.cable, "tier": self.tier,
            "tech": self.tech, "length_m": self.length_m, "lanes": self.lanes,
            "lane_rate_bps": self.lane_rate_bps, "capacity_bps": self.capacity_bps,
            "latency_s": self.latency_s, "energy_pj_per_bit": self.energy_pj_per_bit,
            "port_power_w": self.port_power_w, "port_total_power_w": self.port_total_power_w,
            "optical": self.optical,
            "transceivers": self.transceivers, "bundle": self.bundle,
        })

    def nodes_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"kind": self.kind, "name": self.node_name, "tier": self.node_tier,
                             "rack": self.rack, "row": self.row, "slot": self.slot,
                             "switch_latency_s": self.switch_latency_s})

    def summary(self) -> dict:
        """What ``cposim topology info`` prints: counts, technologies, lengths, power."""
        one = np.unique(self.cable, return_index=True)[1]   # one directed link per cable
        cables = self.links_frame().iloc[one]
        lengths = np.repeat(cables["length_m"].to_numpy(), cables["bundle"].to_numpy().astype(int))
        by_tier_tech: dict = {}
        for (t, tech), n in cables.groupby(["tier", "tech"])["bundle"].sum().items():
            by_tier_tech.setdefault(t, {})[tech] = int(n)
        devices = {k: int(n) for k, n in zip(*np.unique(self.kind, return_counts=True))}
        switches = {k: int(n) for k, n in
                    zip(*np.unique(self.node_tier[self.kind == "switch"], return_counts=True))}
        n = max(self.n_gpus, 1)
        power_by_tech = {k: float(v) for k, v in
                         self.links_frame().groupby("tech")["port_total_power_w"].sum().items()}
        gpu_bw = {}
        for t in np.unique(self.tier):
            m = (self.tier == t) & (self.kind[self.src] == "gpu")
            if m.any():
                gpu_bw[str(t)] = float(np.bincount(self.src[m], weights=self.capacity_bps[m],
                                                   minlength=self.n_nodes)[self.gpu_node].mean())
        return {
            "name": self.name,
            "gpus": self.n_gpus,
            "policy": self.policy,
            "tier_policy": dict(self.tier_policy),
            "scaleup_size": self.scaleup_size,
            "devices": devices,
            "switches_by_tier": switches,
            "racks": int(len(np.unique(self.rack[self.rack >= 0]))),
            "rows": int(len(np.unique(self.row[self.row >= 0]))),
            "cables": int(cables["bundle"].sum()),
            "links_by_tech": {k: int(v) for k, v in cables.groupby("tech")["bundle"].sum().items()},
            "links_by_tier": {k: int(v) for k, v in cables.groupby("tier")["bundle"].sum().items()},
            "links_by_tier_tech": by_tier_tech,
            "cable_length_m": {
                "min": float(lengths.min()) if lengths.size else 0.0,
                "mean": float(lengths.mean()) if lengths.size else 0.0,
                "median": float(np.median(lengths)) if lengths.size else 0.0,
                "max": float(lengths.max()) if lengths.size else 0.0,
                "total": float(lengths.sum()),
            },
            "gpu_bandwidth_bps_by_tier": gpu_bw,
            "optical_transceivers": float(self.transceivers.sum()),
            "transceivers_per_gpu": float(self.transceivers.sum() / n),
            "link_power_w": float(self.port_total_power_w.sum()),
            "link_power_w_by_tech": power_by_tech,
            "link_power_w_per_gpu": float(self.port_total_power_w.sum() / n),
            "module_power_w": float(self.port_power_w.sum()),
            "notes": dict(self.notes),
        }


class TopologyBuilder:
    """Collects nodes (with rack positions) and cables, then resolves every cable's PHY."""

    def __init__(self, name: str, *, geometry: Geometry | None = None,
                 switch_latency_s: float = DEFAULT_SWITCH_LATENCY_S) -> None:
        self.name = name
        self.geometry = geometry or Geometry()
        self.floor = Floor()
        self.switch_latency_s = switch_latency_s
        self._nodes: list[tuple] = []            # (kind, name, tier, rack, sw_latency)
        self._cables: list[dict] = []            # vector blocks
        self.gpu_ids: list[int] = []
        self.scaleup_domain: list[int] = []
        self.direct = False
        self.notes: dict = {}

    # -- nodes --------------------------------------------------------------------------
    def add_node(self, kind: str, name: str, tier: str, rack: int = -1,
                 switch_latency_s: float | None = None) -> int:
        if switch_latency_s is None:
            switch_latency_s = self.switch_latency_s if kind == "switch" else 0.0
        self._nodes.append((kind, name, tier, rack, switch_latency_s))
        nid = len(self._nodes) - 1
        if kind == "gpu":
            self.gpu_ids.append(nid)
        return nid

    def add_gpu(self, name: str, rack: int, domain: int, switch_latency_s: float = 0.0) -> int:
        nid = self.add_node("gpu", name, "gpu", rack, switch_latency_s)
        self.scaleup_domain.append(domain)
        return nid

    def add_switch(self, name: str, tier: str, rack: int,
                   switch_latency_s: float | None = None) -> int:
        return self.add_node("switch", name, tier, rack, switch_latency_s)

    # -- cables -------------------------------------------------------------------------
    def add_cables(self, a, b, tier: str, *, lanes=None, lane_rate_bps: float | None = None,
                   bandwidth_bps=None, latency_s=None, length_m=None, tech: str | None = None,
                   bundle: int = 1) -> None:
        """Cables a[i] <-> b[i]. Either PHY-modelled (``lanes`` x ``lane_rate_bps``) or
        idealised (``bandwidth_bps`` and ``latency_s`` per direction, no PHY)."""
        a = np.atleast_1d(np.asarray(a, dtype=np.int64))
        b = np.atleast_1d(np.asarray(b, dtype=np.int64))
        a, b = np.broadcast_arrays(a, b)
        n = a.size

        def vec(x, dtype=np.float64):
            return None if x is None else np.broadcast_to(np.asarray(x, dtype=dtype), (n,)).copy()

        ideal = bandwidth_bps is not None
        if ideal and latency_s is None:
            raise CposimError("an idealised link needs a latency too", field="latency")
        if not ideal and (lanes is None or lane_rate_bps is None):
            raise CposimError("a link needs lanes and lane_rate, or bandwidth and latency",
                              field="link")
        self._cables.append(dict(a=a.copy(), b=b.copy(), tier=tier, lanes=vec(lanes),
                                 lane_rate_bps=lane_rate_bps, bandwidth_bps=vec(bandwidth_bps),
                                 latency_s=vec(latency_s), length_m=vec(length_m), tech=tech,
                                 bundle=np.full(n, float(bundle))))

    # -- finish -------------------------------------------------------------------------
    def build(self, *, policy: str = "copper-first", tier_policy=None, params=None) -> Topology:
        tier_policy = parse_tier_policy(tier_policy)
        policy_candidates(policy)
        kinds, names, tiers, racks, swlat = (np.array(x) for x in zip(*self._nodes))
        racks = racks.astype(np.int64)
        row_of = np.array(self.floor.row_of + [-1], dtype=np.int64)
        slot_of = np.array(self.floor.slot_of + [-1], dtype=np.int64)
        rows, slots = row_of[racks], slot_of[racks]   # rack -1 picks the trailing -1
        cols: dict[str, list] = {k: [] for k in (
            "a", "b", "tier", "tech", "length_m", "lanes", "lane_rate_bps", "capacity_bps",
            "latency_s", "energy_pj_per_bit", "port_power_w", "port_total_power_w", "optical",
            "transceivers", "bundle")}
        any_ideal = False
        for blk in self._cables:
            a, b = blk["a"], blk["b"]
            n = a.size
            if n == 0:
                continue
            length = blk["length_m"]
            if length is None:
                length = self.geometry.cable_length_m(rows[a], slots[a], racks[a],
                                                      rows[b], slots[b], racks[b])
            cols["a"].append(a)
            cols["b"].append(b)
            cols["tier"].append(np.full(n, blk["tier"], dtype=object))
            cols["length_m"].append(length)
            cols["bundle"].append(blk["bundle"])
            if blk["bandwidth_bps"] is not None:
                any_ideal = True
                cols["tech"].append(np.full(n, blk["tech"] or "ideal", dtype=object))
                cols["lanes"].append(np.zeros(n))
                cols["lane_rate_bps"].append(np.zeros(n))
                cols["capacity_bps"].append(blk["bandwidth_bps"])
                cols["latency_s"].append(blk["latency_s"])
                for k in ("energy_pj_per_bit", "port_power_w", "port_total_power_w",
                          "transceivers"):
                    cols[k].append(np.zeros(n))
                cols["optical"].append(np.zeros(n, dtype=bool))
                continue
            pol = blk["tech"] or policy_for_tier(blk["tier"], policy, tier_policy)
            lane_rate = float(blk["lane_rate_bps"])
            lanes = blk["lanes"]
            uniq, inv = np.unique(np.round(length, 3), return_inverse=True)
            res = [resolve_cable(pol, blk["tier"], lane_rate, float(L), params) for L in uniq]
            per = lambda f: np.array([f(r) for r in res])[inv]  # noqa: E731
            scale = lanes / per(lambda r: r.lanes)
            cols["tech"].append(per(lambda r: r.tech).astype(object))
            cols["lanes"].append(lanes)
            cols["lane_rate_bps"].append(np.full(n, lane_rate))
            cols["capacity_bps"].append(per(lambda r: r.capacity_bps) * scale)
            cols["latency_s"].append(per(lambda r: r.latency_s))
            cols["energy_pj_per_bit"].append(per(lambda r: r.energy_pj_per_bit))
            cols["port_power_w"].append(per(lambda r: r.port_power_w) * scale)
            cols["port_total_power_w"].append(
                per(lambda r: getattr(r, "port_total_power_w", r.port_power_w)) * scale)
            cols["optical"].append(per(lambda r: bool(r.optical)))
            cols["transceivers"].append(per(lambda r: float(r.transceivers)) * scale)
        c = {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in cols.items()}
        all_ideal = any_ideal and all(b["bandwidth_bps"] is not None for b in self._cables)
        n_cables = c["a"].size
        if n_cables and (c["capacity_bps"] <= 0).any():
            raise CposimError("a link has zero capacity", field="bandwidth")
        two = lambda x: np.concatenate([x, x])  # noqa: E731
        gpu_node = np.array(self.gpu_ids, dtype=np.int64)
        dom = np.array(self.scaleup_domain, dtype=np.int64)
        if dom.size:
            dom = np.unique(dom, return_inverse=True)[1]
        return Topology(
            name=self.name, kind=kinds.astype(object), node_name=names.astype(object),
            node_tier=tiers.astype(object), rack=racks, row=rows, slot=slots,
            switch_latency_s=swlat.astype(np.float64),
            src=np.concatenate([c["a"], c["b"]]).astype(np.int64),
            dst=np.concatenate([c["b"], c["a"]]).astype(np.int64),
            cable=two(np.arange(n_cables)), capacity_bps=two(c["capacity_bps"]).astype(float),
            latency_s=two(c["latency_s"]).astype(float), tech=two(c["tech"]).astype(object),
            tier=two(c["tier"]).astype(object), length_m=two(c["length_m"]).astype(float),
            lanes=two(c["lanes"]).astype(float),
            lane_rate_bps=two(c["lane_rate_bps"]).astype(float),
            energy_pj_per_bit=two(c["energy_pj_per_bit"]).astype(float),
            port_power_w=two(c["port_power_w"]).astype(float),
            port_total_power_w=two(c["port_total_power_w"]).astype(float),
            optical=two(c["optical"]).astype(bool),
            transceivers=two(c["transceivers"]).astype(float),
            bundle=two(c["bundle"]).astype(float),
            gpu_node=gpu_node, scaleup_domain=dom, direct=self.direct,
            policy="ideal" if all_ideal else policy,
            tier_policy=tier_policy, geometry=self.geometry, notes=dict(self.notes))
