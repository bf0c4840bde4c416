"""Named cluster presets and ``build_topology`` (preset name, spec dict, or TOML/JSON file).

Where the numbers come from (grades as in ``sim/phy/parameters.csv``: A primary source, B trade
press quoting one, C secondary, D derived by us, U unverified):

* ``dgx-h100-superpod`` — DGX H100 nodes of 8 GPUs on NVSwitch (NVLink4: 18 links x 2 lanes x
  100G per GPU = 3.6 Tb/s per direction, "900 GB/s" bidirectional; A, Nvidia spec); one
  400G NDR NIC per GPU (4 x 100G); rail-optimized scale-out with one leaf per rail per
  scalable unit of 32 nodes (256 GPUs), QM9700 64-port leaves/spines (32 down / 32 up),
  4 nodes per rack (DGX SuperPOD reference architecture, A/U); 2 tiers up to 64 leaves, core
  beyond. NVSwitch baseboard traces are modelled as 0.3 m passive copper (D).
* ``gb200-nvl72`` — 72 GPUs per rack on copper NVLink5 (36 x 200G = 7.2 Tb/s per direction,
  "1.8 TB/s"; ~5,000 copper cables in the rack, B/C); 800G scale-out per GPU (4 x 200G);
  rail = GPU position in its 4-GPU compute tray; an SU of 4 racks (288 GPUs) so one 144-port
  Quantum-X800 leaf per rail is 72 down / 72 up (radix B/C; SU size ours, D).
* ``nvl576-optical`` — an optical scale-up domain of 576 GPUs (8 racks of 72; NVL576-class,
  Rubin Ultra roadmap C; Lightmatter's "8x scale-up" F4, A) whose logical scale-up switch sits
  in the row's network rack, so scale-up cables cross racks; default ``scaleup`` tier policy
  ``cpo``. Scale-out as ``gb200-nvl72``.
* ``leaf-spine`` / ``fat-tree`` / ``multiplane`` — generic 2-tier, 3-tier and 4-plane Clos of
  400G (800G for multiplane) hosts, 32 per leaf, radix 64; ``oversubscription`` is a knob.
  In ``multiplane`` each 800G NIC is 4 x 200G ports, one per plane (as Nvidia's Quantum-X800
  multi-plane switches split an 800G port); the ``flow`` model spreads a flow over the 4
  planes.
* ``single-switch`` — GPUs with 400G NICs on one switch in the row's network rack.
* ``ring`` / ``torus2d`` — direct networks of 800G (8 x 100G) links, 16 GPUs per rack.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sim.errors import CposimError
from sim.fabric import builders
from sim.fabric.placement import Geometry
from sim.fabric.topology import Topology

MAX_GPUS = 1 << 22   # same cap as a trace's world size (workloads.native)


def _sq(gpus: int) -> tuple[int, int]:
    a = int(math.isqrt(gpus))
    while gpus % a:
        a -= 1
    return a, gpus // a


PRESETS: dict[str, dict[str, Any]] = {
    "dgx-h100-superpod": dict(
        gpus=1024, doc="DGX H100 SuperPOD: NVL8 + rail-optimized 400G NDR leaf/spine(/core)",
        kw=dict(gpus_per_rack=32, scaleup_size=8, scaleup_lanes=36, scaleup_lane_rate_bps=100e9,
                scaleup_length_m=0.3, nic_lanes=4, nic_lane_rate_bps=100e9, rails=8, su_gpus=256,
                radix=64, racks_per_row=8)),
    "gb200-nvl72": dict(
        gpus=576, doc="GB200 NVL72 racks (copper NVLink5) + rail-optimized 800G scale-out",
        kw=dict(gpus_per_rack=72, scaleup_size=72, scaleup_lanes=36, scaleup_lane_rate_bps=200e9,
                nic_lanes=4, nic_lane_rate_bps=200e9, rails=4, su_gpus=288, radix=144,
                racks_per_row=4)),
    "nvl576-optical": dict(
        gpus=1152, doc="optical scale-up domains of 576 GPUs (8 racks) + 800G scale-out",
        tier_policy={"scaleup": "cpo"},
        kw=dict(gpus_per_rack=72, scaleup_size=576, scaleup_lanes=36, scaleup_lane_rate_bps=200e9,
                nic_lanes=4, nic_lane_rate_bps=200e9, rails=4, su_gpus=288, radix=144,
                racks_per_row=8)),
    "leaf-spine": dict(
        gpus=1024, doc="2-tier leaf-spine, 400G hosts, 32 per leaf, radix 64",
        kw=dict(gpus_per_rack=32, nic_lanes=4, nic_lane_rate_bps=100e9, su_gpus=32, tiers=2,
                radix=64)),
    "fat-tree": dict(
        gpus=4096, doc="3-tier fat-tree (pods), 400G hosts, 32 per leaf, radix 64",
        kw=dict(gpus_per_rack=32, nic_lanes=4, nic_lane_rate_bps=100e9, su_gpus=32, tiers=3,
                radix=64)),
    "multiplane": dict(
        gpus=1024, doc="4-plane leaf-spine: each 800G NIC = 4 x 200G, one lane per plane",
        kw=dict(gpus_per_rack=32, nic_lanes=4, nic_lane_rate_bps=200e9, planes=4, su_gpus=32,
                tiers=2, radix=64)),
    "single-switch": dict(
        gpus=64, doc="one switch, 400G per GPU",
        kw=dict(gpus_per_rack=32, nic_lanes=4, nic_lane_rate_bps=100e9, tiers=1)),
    "ring": dict(gpus=16, doc="bidirectional ring of 800G (8 x 100G) links", kind="torus"),
    "torus2d": dict(gpus=64, doc="2-D torus of 800G (8 x 100G) links", kind="torus"),
}


def build_topology(name_or_spec, *, gpus: int | None = None, policy: str | None = None,
                   tier_policy=None, lane_rate_bps: float | None = None, params=None,
                   geometry: Geometry | dict | None = None, **kw) -> Topology:
    """A topology from a preset name, a spec dict, or a path to a TOML/JSON topology file.

    ``lane_rate_bps`` overrides the lane rate of every tier; ``kw`` overrides preset
    parameters (e.g. ``oversubscription=4``, ``tiers=3``, ``switch_latency_s=...``).
    """
    if isinstance(geometry, dict):
        geometry = Geometry.from_mapping(geometry)
    # a file may name its own policy; for presets the default is copper-first
    if isinstance(name_or_spec, dict):
        from sim.fabric.userfile import topology_from_spec
        return topology_from_spec(name_or_spec, source=None, policy=policy,
                                  tier_policy=tier_policy, params=params, geometry=geometry)
    if isinstance(name_or_spec, Path) or (isinstance(name_or_spec, str) and
                                         name_or_spec.endswith((".toml", ".json"))):
        from sim.fabric.userfile import load_topology_file
        return load_topology_file(name_or_spec, policy=policy, tier_policy=tier_policy,
                                  params=params, geometry=geometry)
    preset = PRESETS.get(name_or_spec)
    if preset is None:
        raise CposimError(f"unknown topology '{name_or_spec}' (presets: {', '.join(PRESETS)}; "
                          "or a .toml/.json file)", field="topology")
    n = preset["gpus"] if gpus is None else gpus
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise CposimError(f"GPU count must be a positive integer, got {n!r}", field="gpus")
    if n > MAX_GPUS:   # an absurd count must be an error, not an out-of-memory kill
        raise CposimError(f"GPU count {n} exceeds {MAX_GPUS}", field="gpus")
    n = int(n)
    if tier_policy is None:
        tier_policy = preset.get("tier_policy")
    if preset.get("kind") == "torus":
        dims = (n,) if name_or_spec == "ring" else _sq(n)
        if min(dims) < 2:
            raise CposimError(f"{n} GPUs do not make a {name_or_spec}", field="gpus")
        args = dict(dims=dims)
        if lane_rate_bps is not None:
            args["lane_rate_bps"] = lane_rate_bps
        args.update(kw)
        try:
            b = builders.torus(f"{name_or_spec}-{n}", geometry=geometry, **args)
        except TypeError as exc:
            raise CposimError(str(exc), field="topology") from None
    else:
        args = dict(preset["kw"])
        if lane_rate_bps is not None:
            for k in ("scaleup_lane_rate_bps", "nic_lane_rate_bps"):
                if k in args:
                    args[k] = lane_rate_bps
        args.update(kw)
        if name_or_spec == "single-switch":
            args.setdefault("su_gpus", n)
            args["su_gpus"] = n
        try:
            b = builders.cluster(f"{name_or_spec}-{n}", gpus=n, geometry=geometry, **args)
        except TypeError as exc:
            raise CposimError(str(exc), field="topology") from None
    return b.build(policy=policy or "copper-first", tier_policy=tier_policy, params=params)


def preset_names() -> list[str]:
    return list(PRESETS)

