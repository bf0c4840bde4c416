"""A user's own topology from a TOML or JSON file (or the same structure as a dict).

Format (units as strings; every key checked — a misspelling is an error naming the field)::

    name = "my-pod"
    policy = "copper-first"           # optional; the caller's policy wins if given explicitly
    switch_latency = "300 ns"         # default for switches
    [geometry]                        # optional, see sim.fabric.placement.Geometry
    row_pitch = "3 m"

    [[nodes]]
    name = "gpu"                      # with count = N: gpu0 .. gpu{N-1}
    kind = "gpu"                      # gpu | switch
    count = 8
    rack = 0                          # rack number within its row (placement)
    row = 0
    domain = 0                        # scale-up domain (GPUs; default: one per GPU)

    [[nodes]]
    name = "sw0"
    kind = "switch"
    tier = "leaf"                     # scaleup | leaf | spine | core
    rack = 1
    row = 0

    [[links]]                         # a and b: a name or a list of names (paired)
    a = ["gpu0", "gpu1"]
    b = "sw0"
    tier = "leaf"
    lanes = 4                         # PHY-modelled: lanes x lane_rate, tech by policy
    lane_rate = "100G"
    # length = "2 m"                  # optional: instead of the placement geometry
    # tech = "cpo"                    # optional: a technology or policy for these links
    # bandwidth = "400 Gb/s"          # idealised instead: bandwidth + latency, no PHY
    # latency = "1 us"
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from sim.errors import CposimError
from sim.fabric.placement import Geometry
from sim.fabric.policy import TIERS
from sim.fabric.topology import DEFAULT_SWITCH_LATENCY_S, Topology, TopologyBuilder
from sim.units import parse_bandwidth_Bps, parse_length_m, parse_rate_bps, parse_time_s

# an absurd count must be an error, not an out-of-memory kill (same cap as a trace world)
MAX_NODES = 1 << 22

Quantity = Union[str, float, int]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    kind: Literal["gpu", "switch"]
    count: int | None = None
    tier: Literal["scaleup", "leaf", "spine", "core"] | None = None
    rack: int = -1
    row: int = 0
    domain: int | None = None
    switch_latency: Quantity | None = None


class _Link(BaseModel):
    model_config = ConfigDict(extra="forbid")
    a: Union[str, list[str]]
    b: Union[str, list[str]]
    tier: Literal["scaleup", "leaf", "spine", "core"]
    lanes: int | None = None
    lane_rate: Quantity | None = None
    length: Quantity | None = None
    tech: str | None = None
    bandwidth: Quantity | None = None
    latency: Quantity | None = None
    count: int = 1


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "user"
    policy: str | None = None
    switch_latency: Quantity | None = None
    direct: bool = False
    geometry: dict | None = None
    nodes: list[_Node]
    links: list[_Link]


def _loc(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_topology_file(path, *, policy=None, tier_policy=None, params=None,
                       geometry=None) -> Topology:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CposimError(f"cannot read topology file: {exc.strerror}", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise CposimError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise CposimError(f"not valid JSON: {exc.msg}", file=str(path), line=exc.lineno) from None
    except tomllib.TOMLDecodeError as exc:
        raise CposimError(f"not valid TOML: {exc}", file=str(path)) from None
    return topology_from_spec(data, source=str(path), policy=policy, tier_policy=tier_policy,
                              params=params, geometry=geometry)


def topology_from_spec(data: dict, *, source: str | None, policy=None, tier_policy=None,
                       params=None, geometry=None) -> Topology:
    try:
        spec = _Spec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise CposimError(err["msg"], file=source, field=_loc(err["loc"])) from None

    def q(parse, value, field):
        try:
            return parse(value, field=field)
        except CposimError as exc:
            raise CposimError(exc.message, file=source, field=field) from None

    if geometry is None:
        geometry = Geometry.from_mapping(spec.geometry, file=source or "<spec>")
    sw_lat = (DEFAULT_SWITCH_LATENCY_S if spec.switch_latency is None
              else q(parse_time_s, spec.switch_latency, "switch_latency"))
    b = TopologyBuilder(spec.name, geometry=geometry, switch_latency_s=sw_lat)
    b.direct = spec.direct
    racks: dict[tuple[int, int], int] = {}
    ids: dict[str, int] = {}
    next_domain = 1 << 30
    for i, node in enumerate(spec.nodes):
        where = f"nodes[{i}]"
        if node.count is not None and node.count < 1:
            raise CposimError("count must be >= 1", file=source, field=f"{where}.count")
        if node.count is not None and node.count > MAX_NODES:   # before allocating names
            raise CposimError(f"count {node.count} exceeds {MAX_NODES} nodes", file=source,
                              field=f"{where}.count")
        names = ([f"{node.name}{k}" for k in range(node.count)] if node.count is not None
                 else [node.name])
        rack = -1
        if node.rack >= 0:
            key = (node.row, node.rack)
            if key not in racks:
                b.floor.row_of.append(node.row)
                b.floor.slot_of.append(node.rack)
                b.floor.n_racks += 1
                racks[key] = b.floor.n_racks - 1
            rack = racks[key]
        lat = (None if node.switch_latency is None
               else q(parse_time_s, node.switch_latency, f"{where}.switch_latency"))
        for name in names:
            if name in ids:
                raise CposimError(f"duplicate node name '{name}'", file=source,
                                  field=f"{where}.name")
            if node.kind != "gpu" and node.tier is None:
                raise CposimError("a switch needs a tier (" + ", ".join(TIERS) + ")",
                                  file=source, field=f"{where}.tier")
        if node.kind == "gpu":
            if node.domain is None:
                dom = np.arange(next_domain, next_domain + len(names), dtype=np.int64)
                next_domain += len(names)
            else:
                dom = node.domain
            new = b.add_nodes("gpu", "gpu", len(names), names=names, rack=rack,
                              switch_latency_s=0.0 if lat is None else lat, domain=dom)
        else:
            new = b.add_nodes("switch", node.tier, len(names), names=names, rack=rack,
                              switch_latency_s=lat)
        ids.update(zip(names, new.tolist()))
    if not b.n_gpus:
        raise CposimError("a topology needs at least one GPU", file=source, field="nodes")
    for i, link in enumerate(spec.links):
        where = f"links[{i}]"
        ends = []
        for side in ("a", "b"):
            names = getattr(link, side)
            names = [names] if isinstance(names, str) else names
            for name in names:
                if name not in ids:
                    raise CposimError(f"unknown node '{name}'", file=source,
                                      field=f"{where}.{side}")
            ends.append([ids[n] for n in names])
        a, c = ends
        if len(a) != len(c) and 1 not in (len(a), len(c)):
            raise CposimError(f"a has {len(a)} names and b {len(c)}; they must pair up",
                              file=source, field=where)
        length = None if link.length is None else q(parse_length_m, link.length, f"{where}.length")
        if link.bandwidth is not None:
            if link.latency is None:
                raise CposimError("an idealised link (bandwidth) needs a latency", file=source,
                                  field=f"{where}.latency")
            bw = q(parse_bandwidth_Bps, link.bandwidth, f"{where}.bandwidth") * 8.0
            lat = q(parse_time_s, link.latency, f"{where}.latency")
            b.add_cables(a, c, link.tier, bandwidth_bps=bw * link.count, latency_s=lat,
                         length_m=0.0 if length is None else length, tech=link.tech,
                         bundle=link.count)
        else:
            if link.lanes is None or link.lane_rate is None:
                raise CposimError("a link needs lanes and lane_rate (or bandwidth and latency)",
                                  file=source, field=where)
            rate = q(parse_rate_bps, link.lane_rate, f"{where}.lane_rate")
            if link.tech is not None:
                from sim.fabric.policy import policy_candidates
                try:
                    policy_candidates(link.tech, field=f"{where}.tech")
                except CposimError as exc:
                    raise CposimError(exc.message, file=source, field=f"{where}.tech") from None
            b.add_cables(a, c, link.tier, lanes=link.lanes * link.count, lane_rate_bps=rate,
                         length_m=length, tech=link.tech, bundle=link.count)
    try:
        return b.build(policy=policy or spec.policy or "copper-first", tier_policy=tier_policy,
                       params=params)
    except CposimError as exc:
        raise CposimError(exc.message, file=source, field=exc.field) from None
