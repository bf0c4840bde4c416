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
from typing import TYPE_CHECKING

import numpy as np

from sim.errors import CposimError
from sim.fabric.placement import Floor, Geometry
from sim.fabric.policy import (CABLE_FIELDS, parse_tier_policy, policy_candidates, policy_for_tier,
                               resolve_cable, resolve_lengths)

if TYPE_CHECKING:
    import pandas as pd

# Switch port-to-port latency: 300 ns (Sella, Moore, Zilberman, NEAT@SIGCOMM 2018, grade A;
# Quantum-2 "<150 ns", Tomahawk-6 "~250 ns" grade C).
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
        import pandas as pd     # tables are for reports; the simulation path does not need pandas

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
        import pandas as pd

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


class _LazyNames:
    """The node-name column of a Topology until someone reads it: parts that are object arrays,
    lists of names, or :class:`_Names` ranges. Routing and the network models never read names,
    so a large build does not pay for a Python string per node unless asked."""

    __slots__ = ("parts",)

    def __init__(self, parts: list) -> None:
        self.parts = parts

    def array(self) -> np.ndarray:
        out = []
        for p in self.parts:
            if isinstance(p, _Names):
                out.append(p.array())
            elif isinstance(p, np.ndarray):
                out.append(p)
            else:   # as the one-by-one build always did: np.array of the names, then objects
                out.append(np.array(p).astype(object))
        return np.concatenate(out)


def _get_node_name(self) -> np.ndarray:
    names = self.__dict__["_node_name"]
    if isinstance(names, _LazyNames):
        names = self.__dict__["_node_name"] = names.array()
    return names


def _set_node_name(self, names) -> None:
    self.__dict__["_node_name"] = names


# node_name stays a dataclass field (constructor argument, eq, repr, replace, asdict); only its
# storage is lazy
Topology.node_name = property(_get_node_name, _set_node_name,
                              doc="node id -> name (an object array, made on first use)")


class _Names:
    """Node names ``prefix + str(i)`` for ``i`` in ``start .. start+count-1``, made on demand."""

    __slots__ = ("prefix", "start", "count")

    def __init__(self, prefix: str, start: int, count: int) -> None:
        self.prefix, self.start, self.count = prefix, start, count

    def array(self) -> np.ndarray:
        p = self.prefix
        return np.array([f"{p}{i}" for i in range(self.start, self.start + self.count)],
                        dtype=object)


class _Run:
    """Nodes added one at a time (``add_node``), kept as lists until the build."""

    __slots__ = ("kind", "name", "tier", "rack", "swlat")

    def __init__(self) -> None:
        self.kind: list = []
        self.name: list = []
        self.tier: list = []
        self.rack: list = []
        self.swlat: list = []

    def __len__(self) -> int:
        return len(self.kind)

    def columns(self):
        # as the one-by-one build always did: np.array of the Python values, then the dtype
        return (np.array(self.kind).astype(object), list(self.name),
                np.array(self.tier).astype(object), np.array(self.rack).astype(np.int64),
                np.array(self.swlat))


class _Block:
    """``count`` nodes of one kind and tier added at once (``add_nodes``)."""

    __slots__ = ("kind", "names", "tier", "rack", "swlat", "count")

    def __init__(self, kind, names, tier, rack, swlat, count) -> None:
        self.kind, self.names, self.tier = kind, names, tier
        self.rack, self.swlat, self.count = rack, swlat, count

    def __len__(self) -> int:
        return self.count

    def columns(self):
        n = self.count
        swlat = self.swlat if isinstance(self.swlat, np.ndarray) else np.full(n, self.swlat)
        return _filled(n, self.kind), self.names, _filled(n, self.tier), self.rack, swlat


class TopologyBuilder:
    """Collects nodes (with rack positions) and cables, then resolves every cable's PHY.

    Nodes come one at a time (``add_node``/``add_gpu``/``add_switch``) or many at once
    (``add_nodes``, with names ``prefix0``, ``prefix1``, ... made only at the build); cables come
    in vector blocks (``add_cables``). The build resolves each distinct (policy, lane rate,
    length) once — see :func:`sim.fabric.policy.resolve_lengths` — so it costs a few numpy
    passes over the links, not Python per link.
    """

    def __init__(self, name: str, *, geometry: Geometry | None = None,
                 switch_latency_s: float = DEFAULT_SWITCH_LATENCY_S) -> None:
        self.name = name
        self.geometry = geometry or Geometry()
        self.floor = Floor()
        self.switch_latency_s = switch_latency_s
        self._parts: list = []                   # _Run / _Block, in node-id order
        self._n_nodes = 0
        self._gpu_parts: list = []               # GPU node ids: lists (one by one) / arrays
        self._dom_parts: list = []               # their scale-up domains, the same way
        self._cables: list[dict] = []            # vector blocks
        self.direct = False
        self.notes: dict = {}

    @property
    def n_nodes(self) -> int:
        return self._n_nodes

    @property
    def n_gpus(self) -> int:
        return sum(len(p) for p in self._gpu_parts)

    @property
    def gpu_ids(self) -> list[int]:
        return _flatten(self._gpu_parts).tolist()

    @property
    def scaleup_domain(self) -> list[int]:
        return _flatten(self._dom_parts).tolist()

    # -- nodes --------------------------------------------------------------------------
    def add_node(self, kind: str, name: str, tier: str, rack: int = -1,
                 switch_latency_s: float | None = None) -> int:
        if switch_latency_s is None:
            switch_latency_s = self.switch_latency_s if kind == "switch" else 0.0
        run = self._parts[-1] if self._parts and isinstance(self._parts[-1], _Run) else None
        if run is None:
            run = _Run()
            self._parts.append(run)
        run.kind.append(kind)
        run.name.append(name)
        run.tier.append(tier)
        run.rack.append(rack)
        run.swlat.append(switch_latency_s)
        nid = self._n_nodes
        self._n_nodes += 1
        if kind == "gpu":
            _append_one(self._gpu_parts, nid)
        return nid

    def add_gpu(self, name: str, rack: int, domain: int, switch_latency_s: float = 0.0) -> int:
        nid = self.add_node("gpu", name, "gpu", rack, switch_latency_s)
        _append_one(self._dom_parts, domain)
        return nid

    def add_switch(self, name: str, tier: str, rack: int,
                   switch_latency_s: float | None = None) -> int:
        return self.add_node("switch", name, tier, rack, switch_latency_s)

    def add_nodes(self, kind: str, tier: str, count: int, *, names=None, prefix: str | None = None,
                  start: int = 0, rack=-1, switch_latency_s=None, domain=None) -> np.ndarray:
        """``count`` nodes at once -> their ids; the same as ``add_node`` (``add_gpu`` when
        ``domain`` is given) ``count`` times. Names: a sequence, or ``prefix`` + ``start + i``.
        ``rack``, ``switch_latency_s`` and ``domain``: one value or one per node."""
        count = int(count)
        if (names is None) == (prefix is None):
            raise ValueError("add_nodes needs names or a prefix")
        if names is not None:
            names = list(names)
            if len(names) != count:
                raise ValueError(f"{len(names)} names for {count} nodes")
        else:
            names = _Names(prefix, int(start), count)
        if switch_latency_s is None:
            switch_latency_s = self.switch_latency_s if kind == "switch" else 0.0
        if np.ndim(switch_latency_s):
            switch_latency_s = np.broadcast_to(np.asarray(switch_latency_s), (count,)).copy()
        racks = np.broadcast_to(np.asarray(rack), (count,)).astype(np.int64)
        ids = np.arange(self._n_nodes, self._n_nodes + count, dtype=np.int64)
        self._parts.append(_Block(kind, names, tier, racks, switch_latency_s, count))
        self._n_nodes += count
        if kind == "gpu":
            self._gpu_parts.append(ids)
        if domain is not None:
            self._dom_parts.append(np.broadcast_to(np.asarray(domain, dtype=np.int64),
                                                   (count,)).copy())
        return ids

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
        self._cables.append(dict(a=a.ravel().copy(), b=b.ravel().copy(), tier=tier,
                                 lanes=vec(lanes), lane_rate_bps=lane_rate_bps,
                                 bandwidth_bps=vec(bandwidth_bps), latency_s=vec(latency_s),
                                 length_m=vec(length_m), tech=tech, bundle=float(bundle)))

    # -- finish -------------------------------------------------------------------------
    def _node_columns(self):
        if not self._n_nodes:
            raise ValueError("not enough values to unpack (expected 5, got 0)")
        cols = [p.columns() for p in self._parts if len(p)]
        kinds, names, tiers, racks, swlat = ([c[k] for c in cols] for k in range(5))
        return (np.concatenate(kinds), _LazyNames(names), np.concatenate(tiers),
                np.concatenate(racks).astype(np.int64),
                np.concatenate([x.astype(np.float64) for x in swlat]))

    def build(self, *, policy: str = "copper-first", tier_policy=None, params=None) -> Topology:
        tier_policy = parse_tier_policy(tier_policy)
        policy_candidates(policy)
        kinds, names, tiers, racks, swlat = self._node_columns()
        row_of = np.array(self.floor.row_of + [-1], dtype=np.int64)
        slot_of = np.array(self.floor.slot_of + [-1], dtype=np.int64)
        rows, slots = row_of[racks], slot_of[racks]   # rack -1 picks the trailing -1

        blocks = [blk for blk in self._cables if blk["a"].size]
        sizes = np.array([blk["a"].size for blk in blocks], dtype=np.int64)
        n_cables = int(sizes.sum())
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]) if blocks else sizes
        cat = (lambda xs, dtype=np.float64:                               # noqa: E731
               np.concatenate(xs) if xs else np.zeros(0, dtype=dtype))
        a_all = cat([blk["a"] for blk in blocks], np.int64)
        b_all = cat([blk["b"] for blk in blocks], np.int64)
        # cable lengths: given, or from the placement (one vectorised pass for all blocks)
        geo = [blk["length_m"] is None for blk in blocks]
        if any(geo):
            ga = cat([blk["a"] for blk, g in zip(blocks, geo) if g], np.int64)
            gb = cat([blk["b"] for blk, g in zip(blocks, geo) if g], np.int64)
            glen = self.geometry.cable_length_m(rows[ga], slots[ga], racks[ga],
                                                rows[gb], slots[gb], racks[gb])
        parts, k = [], 0
        for blk, g in zip(blocks, geo):
            if g:
                parts.append(glen[k:k + blk["a"].size])
                k += blk["a"].size
            else:
                parts.append(blk["length_m"])
        length = cat(parts)

        is_ideal = [blk["bandwidth_bps"] is not None for blk in blocks]
        try:
            out, techs = self._resolve(blocks, is_ideal, sizes, starts, length, policy,
                                       tier_policy, params)
        except Exception:
            # say what the cable-by-cable resolution would have said first
            try:
                self._raise_first_error(blocks, length, starts, policy, tier_policy, params)
            except Exception as err:
                raise err from None
            raise
        any_ideal = any(is_ideal)
        all_ideal = any_ideal and all(b["bandwidth_bps"] is not None for b in self._cables)
        if n_cables and (out["capacity_bps"] <= 0).any():
            raise CposimError("a link has zero capacity", field="bandwidth")
        two = lambda x: np.concatenate([x, x])  # noqa: E731
        tier = np.empty(2 * n_cables, dtype=object)      # both directions of each cable
        for blk, k in zip(blocks, starts.tolist()):
            tier[k:k + blk["a"].size] = blk["tier"]
            tier[n_cables + k:n_cables + k + blk["a"].size] = blk["tier"]
        code = out["tech"]
        names_of = np.empty(len(techs), dtype=object)
        names_of[:] = techs
        tech = names_of[np.concatenate([code, code])]
        bundle = np.repeat(np.array([blk["bundle"] for blk in blocks], dtype=np.float64), sizes)
        gpu_node = _flatten(self._gpu_parts)
        dom = _flatten(self._dom_parts)
        if dom.size:
            dom = np.unique(dom, return_inverse=True)[1]
        return Topology(
            name=self.name, kind=kinds, node_name=names, node_tier=tiers, rack=racks, row=rows,
            slot=slots, switch_latency_s=swlat,
            src=np.concatenate([a_all, b_all]), dst=np.concatenate([b_all, a_all]),
            cable=two(np.arange(n_cables)), capacity_bps=two(out["capacity_bps"]),
            latency_s=two(out["latency_s"]), tech=tech, tier=tier,
            length_m=two(length.astype(np.float64, copy=False)), lanes=two(out["lanes"]),
            lane_rate_bps=two(out["lane_rate_bps"]),
            energy_pj_per_bit=two(out["energy_pj_per_bit"]),
            port_power_w=two(out["port_power_w"]),
            port_total_power_w=two(out["port_total_power_w"]), optical=two(out["optical"]),
            transceivers=two(out["transceivers"]), bundle=two(bundle),
            gpu_node=gpu_node, scaleup_domain=dom, direct=self.direct,
            policy="ideal" if all_ideal else policy,
            tier_policy=tier_policy, geometry=self.geometry, notes=dict(self.notes))

    @staticmethod
    def _resolve(blocks, is_ideal, sizes, starts, length, policy, tier_policy, params):
        """Per-cable columns: idealised blocks as given, PHY blocks grouped by (policy, lane
        rate) with each distinct length (to the mm) resolved once. ``tech`` comes back as codes
        into the returned list of technology names."""
        n_cables = int(sizes.sum())
        cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0))       # noqa: E731
        out = {f: np.zeros(n_cables, dtype=np.float64) for f in CABLE_FIELDS}
        out["tech"] = np.zeros(n_cables, dtype=np.int64)
        out["optical"] = np.zeros(n_cables, dtype=bool)
        out["lanes"] = cat([np.zeros(blk["a"].size) if i else blk["lanes"]
                            for blk, i in zip(blocks, is_ideal)])
        out["lane_rate_bps"] = np.repeat(np.array(
            [0.0 if i else float(blk["lane_rate_bps"]) for blk, i in zip(blocks, is_ideal)],
            dtype=np.float64), sizes)
        techs: dict[str, int] = {}
        groups: dict[tuple, list[int]] = {}
        for j, (blk, i) in enumerate(zip(blocks, is_ideal)):
            if i:      # idealised: its bandwidth and latency; no energy, no optics
                sl = slice(starts[j], starts[j] + sizes[j])
                out["tech"][sl] = techs.setdefault(blk["tech"] or "ideal", len(techs))
                out["capacity_bps"][sl] = blk["bandwidth_bps"]
                out["latency_s"][sl] = blk["latency_s"]
            else:
                pol = blk["tech"] or policy_for_tier(blk["tier"], policy, tier_policy)
                groups.setdefault((pol, float(blk["lane_rate_bps"])), []).append(j)
        for (pol, rate), js in groups.items():
            idx = np.concatenate([np.arange(starts[j], starts[j] + sizes[j]) for j in js])
            mm = np.rint(np.round(length[idx], 3) * 1000)
            if not (np.isfinite(mm).all() and (mm >= 0).all()):
                raise _Unresolved(f"cable lengths {pol} {rate}")
            uniq, inv = _unique_inverse(mm.astype(np.int64))
            res, ok = resolve_lengths(pol, rate, uniq, params)
            if not ok.all():
                raise _Unresolved(f"no technology of {pol} at {rate}")
            res["tech"] = np.array([techs.setdefault(t, len(techs)) for t in res["tech"]],
                                   dtype=np.int64)
            whole = idx.size == n_cables           # one group: every cable, in order
            scale = (out["lanes"] if whole else out["lanes"][idx]) / res["lanes"][inv]
            for f in ("tech", "capacity_bps", "latency_s", "energy_pj_per_bit", "port_power_w",
                      "port_total_power_w", "optical", "transceivers"):
                v = res[f][inv]
                if f in ("capacity_bps", "port_power_w", "port_total_power_w", "transceivers"):
                    v *= scale
                if whole:
                    out[f] = v
                else:
                    out[f][idx] = v
        return out, list(techs)

    def _raise_first_error(self, blocks, length, starts, policy, tier_policy, params) -> None:
        """Raise the error the cable-by-cable resolution meets first: blocks in the order they
        were added, each block's distinct lengths (to the mm) in increasing order."""
        for j, blk in enumerate(blocks):
            if blk["bandwidth_bps"] is not None:
                continue
            pol = blk["tech"] or policy_for_tier(blk["tier"], policy, tier_policy)
            rate = float(blk["lane_rate_bps"])
            for L in np.unique(np.round(length[starts[j]:starts[j] + blk["a"].size], 3)):
                resolve_cable(pol, blk["tier"], rate, float(L), params)


class _Unresolved(Exception):
    """A cable the vectorised resolution cannot answer; the caller finds the real error."""


def _filled(n: int, value) -> np.ndarray:
    """``np.full(n, value, dtype=object)``, without its slow per-element path."""
    out = np.empty(n, dtype=object)
    out.fill(value)
    return out


def _append_one(parts: list, value) -> None:
    if parts and isinstance(parts[-1], list):
        parts[-1].append(value)
    else:
        parts.append([value])


def _flatten(parts: list) -> np.ndarray:
    arrays = [np.asarray(p, dtype=np.int64) for p in parts if len(p)]
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)


def _unique_inverse(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(x, return_inverse=True)`` for non-negative ints; by table lookup when the
    values span a small range (cable lengths in mm), which is linear instead of a sort."""
    if x.size == 0:
        return x, x
    hi = int(x.max())
    if hi > 4 * x.size + (1 << 20):
        return np.unique(x, return_inverse=True)
    present = np.zeros(hi + 1, dtype=bool)
    present[x] = True
    uniq = np.flatnonzero(present)
    lookup = np.zeros(hi + 1, dtype=np.int64)
    lookup[uniq] = np.arange(uniq.size)
    return uniq, lookup[x]
