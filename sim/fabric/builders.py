"""Physical topology builders: scale-up domains, rail-optimized / plain Clos scale-out
(2- or 3-tier, oversubscribed, multi-plane), and direct ring/torus networks.

One general builder, :func:`cluster`, covers the switched designs:

* **Scale-up domains** of ``scaleup_size`` GPUs, each on one *logical* scale-up switch (an
  NVSwitch fabric acts as one non-blocking crossbar; its 4 chips in a DGX H100 or 18 chips in
  an NVL72 are not modelled one by one — routing over them would only spray evenly anyway).
  Each GPU–switch link has ``scaleup_lanes`` lanes (NVLink4: 18 links x 2 lanes x 100G = 3.6
  Tb/s per direction = "900 GB/s" bidirectional; NVLink5: 36 x 200G = 7.2 Tb/s = "1.8 TB/s").
  The switch sits in the GPUs' rack if the domain fits one rack, otherwise in the row's
  network rack (so its links cross racks: the optical scale-up case).
* **Scale-out**: every GPU has a NIC of ``nic_lanes`` x ``nic_lane_rate_bps``. GPUs are
  grouped in scalable units (SUs) of ``su_gpus``; an SU has ``rails`` leaves per plane, GPU
  ``i`` of the SU going to leaf ``i mod rails`` (rail-optimized, DGX SuperPOD style; ``rails=1``
  is a plain ToR/EoR leaf). A leaf has ``ceil(down / oversubscription)`` uplinks. With
  ``planes`` > 1 the NIC is split lane-wise across identical planes (Nvidia Quantum-X800
  multi-plane: each 800G port = 4 x 200G, one per plane; trade press, grade C).
* **Tiers**: 1 (leaves only), 2 (leaf-spine: every leaf has the same number of links to every
  spine) or 3 (pods of ``pod_leaves`` leaves with their own spines; spine j of every pod goes
  to core group j). ``tiers=None`` picks 2 when the leaves fit one spine's radix, else 3.
  Parallel cables between the same two switches are one link record with ``bundle`` cables.

Switch counts follow from ``radix`` (ports of the link width of that tier): e.g. QM9700 64 x
400G (DGX H100 SuperPOD), Quantum-X800 144 x 800G (Nvidia product data via trade press, grade B/C).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from sim.errors import CposimError
from sim.fabric.placement import Geometry
from sim.fabric.topology import DEFAULT_SWITCH_LATENCY_S, TopologyBuilder


def _divisor_at_least(n: int, lo: int) -> int:
    """The smallest divisor of n that is >= lo (n itself if none smaller)."""
    lo = max(1, lo)
    for d in range(lo, n + 1):
        if n % d == 0:
            return d
    return n


def _int(value, field: str, lo: int = 1) -> int:
    try:
        out = int(value)
    except (TypeError, ValueError):
        raise CposimError(f"must be an integer, got {value!r}", field=field) from None
    if out != value and not (isinstance(value, float) and float(out) == value):
        raise CposimError(f"must be an integer, got {value!r}", field=field)
    if out < lo:
        raise CposimError(f"must be >= {lo}, got {value!r}", field=field)
    return out


def cluster(name: str, *, gpus: int, gpus_per_rack: int = 32, scaleup_size: int = 1,
            scaleup_lanes: int = 36, scaleup_lane_rate_bps: float = 100e9,
            scaleup_length_m: float | None = None,
            nic_lanes: int | None = 4, nic_lane_rate_bps: float = 100e9, rails: int = 1,
            su_gpus: int = 32, oversubscription: float = 1.0, spine_oversubscription: float = 1.0,
            tiers: int | None = None, radix: int = 64, pod_leaves: int | None = None,
            planes: int = 1, racks_per_row: int = 8, switches_per_rack: int = 16,
            switch_latency_s: float = DEFAULT_SWITCH_LATENCY_S,
            scaleup_switch_latency_s: float | None = None,
            link_bandwidth_bps: float | None = None, link_latency_s: float | None = None,
            scaleup_bandwidth_bps: float | None = None, scaleup_latency_s: float | None = None,
            geometry: Geometry | None = None) -> TopologyBuilder:
    """A switched AI cluster; see the module docstring. Returns an unresolved builder.

    ``link_bandwidth_bps`` + ``link_latency_s`` make every scale-out link idealised (that
    bandwidth per NIC-width link and plane, that latency, no PHY model), and
    ``scaleup_bandwidth_bps`` + ``scaleup_latency_s`` the scale-up links — the way to mirror
    another simulator's config on the same structure.
    """
    gpus = _int(gpus, "gpus")
    gpus_per_rack = _int(gpus_per_rack, "gpus_per_rack")
    scaleup_size = _int(scaleup_size, "scaleup_size")
    rails = _int(rails, "rails")
    su_gpus = _int(su_gpus, "su_gpus")
    planes = _int(planes, "planes")
    radix = _int(radix, "radix", 2)
    racks_per_row = _int(racks_per_row, "racks_per_row")
    if oversubscription < 1 or spine_oversubscription < 1:
        raise CposimError("oversubscription ratios must be >= 1", field="oversubscription")
    if gpus % scaleup_size:
        raise CposimError(f"{gpus} GPUs do not fill whole scale-up domains of {scaleup_size}",
                          field="gpus")
    if su_gpus % rails:
        raise CposimError(f"an SU of {su_gpus} GPUs does not split into {rails} rails",
                          field="rails")
    if nic_lanes is not None and nic_lanes % planes:
        raise CposimError(f"{nic_lanes} NIC lanes do not split into {planes} planes",
                          field="planes")
    b = TopologyBuilder(name, geometry=geometry, switch_latency_s=switch_latency_s)
    b.notes.update({"scaleup_size": scaleup_size, "rails": rails, "su_gpus": su_gpus,
                    "planes": planes, "oversubscription": oversubscription})
    floor = b.floor
    su_lat = switch_latency_s if scaleup_switch_latency_s is None else scaleup_switch_latency_s

    # --- racks and rows: compute racks fill rows; each row has a network rack in the middle
    racks_per_domain = math.ceil(scaleup_size / gpus_per_rack)
    if racks_per_domain > 1:
        racks_per_row = max(racks_per_row, racks_per_domain)
        racks_per_row -= racks_per_row % racks_per_domain
    n_racks = math.ceil(gpus / gpus_per_rack)
    rack_ids, rack_row, row_net = _rows_of_racks(floor, n_racks, racks_per_row)
    gpu_rack = rack_ids[np.arange(gpus) // gpus_per_rack]
    gpu_row = rack_row[np.arange(gpus) // gpus_per_rack]
    domain = np.arange(gpus) // scaleup_size
    gid = b.add_nodes("gpu", "gpu", gpus, prefix="gpu", rack=gpu_rack, domain=domain)

    # --- scale-up
    if scaleup_size > 1:
        n_dom = gpus // scaleup_size
        first = np.arange(n_dom) * scaleup_size
        rack = gpu_rack[first] if racks_per_domain == 1 else row_net[gpu_row[first]]
        sw = b.add_nodes("switch", "scaleup", n_dom, prefix="nvs", rack=rack,
                         switch_latency_s=su_lat)
        length = None if scaleup_length_m is None else np.full(gpus, scaleup_length_m)
        if scaleup_bandwidth_bps is not None:
            b.add_cables(gid, sw[domain], "scaleup", bandwidth_bps=scaleup_bandwidth_bps,
                         latency_s=_need(scaleup_latency_s, "scaleup_latency_s"), length_m=length)
        else:
            b.add_cables(gid, sw[domain], "scaleup", lanes=scaleup_lanes,
                         lane_rate_bps=scaleup_lane_rate_bps, length_m=length)

    if nic_lanes is None or tiers == 0:
        return b
    # --- scale-out leaves (per plane)
    lanes_pp = nic_lanes // planes
    ideal = None if link_bandwidth_bps is None else (link_bandwidth_bps,
                                                     _need(link_latency_s, "link_latency_s"))
    n_su = math.ceil(gpus / su_gpus)
    # GPUs per leaf: a cluster smaller than one scalable unit cables its leaves for the GPUs it
    # has (non-blocking as a full unit is), not for a full unit's worth of uplinks
    down = math.ceil(min(gpus, su_gpus) / rails)
    up = max(1, math.ceil(down / oversubscription))
    n_leaves = n_su * rails
    if tiers is None:
        tiers = 2 if n_leaves <= radix else 3
    tiers = _int(tiers, "tiers")
    if tiers > 3:
        raise CposimError("at most 3 switch tiers", field="tiers")
    if tiers == 1 and n_leaves > 1:
        raise CposimError(f"{n_leaves} leaves need a spine tier (tiers >= 2)", field="tiers")
    local = np.arange(gpus) % su_gpus
    leaf_idx = (np.arange(gpus) // su_gpus) * rails + local % rails
    b.notes.update({"tiers": tiers, "leaves_per_plane": n_leaves, "leaf_down": down,
                    "leaf_up": up})
    spine_row = core_row = None
    spine_rack_fill = [None, switches_per_rack]
    core_rack_fill = [None, switches_per_rack]

    def place(fill, row, count):
        return _place(floor, fill, row, count, switches_per_rack)

    for p in range(planes):
        tag = f"p{p}." if planes > 1 else ""
        first_gpu = np.zeros(n_leaves, dtype=np.int64)
        first_gpu[leaf_idx[::-1]] = np.arange(gpus)[::-1]     # lowest GPU index per leaf
        leaves = b.add_nodes("switch", "leaf", n_leaves, prefix=f"{tag}leaf",
                             rack=row_net[gpu_row[first_gpu]])
        _bundle(b, gid, leaves[leaf_idx], "leaf", 1, lanes_pp, nic_lane_rate_bps, ideal)
        if tiers == 1:
            continue
        if spine_row is None:
            spine_row = floor.new_row()
        if tiers == 2:
            n_sp = _divisor_at_least(up, math.ceil(n_leaves * up / radix))
            if n_leaves * up / n_sp > radix:
                raise CposimError(f"{n_leaves} leaves exceed a 2-tier fabric of radix {radix}; "
                                  "use tiers=3", field="tiers")
            spines = b.add_nodes("switch", "spine", n_sp, prefix=f"{tag}spine",
                                 rack=place(spine_rack_fill, spine_row, n_sp))
            a_, c_ = np.meshgrid(leaves, spines, indexing="ij")
            _bundle(b, a_.ravel(), c_.ravel(), "spine", up // n_sp, lanes_pp, nic_lane_rate_bps,
                    ideal)
            b.notes.update({"spines_per_plane": n_sp})
            continue
        # tiers == 3: pods
        pl = _int(pod_leaves or max(1, radix // 2), "pod_leaves")
        pl = min(pl, n_leaves)
        n_pods = math.ceil(n_leaves / pl)
        n_sp = _divisor_at_least(up, math.ceil(pl * up / (radix / 2)))
        sp_down = pl * up // n_sp
        sp_up = max(1, math.ceil(sp_down / spine_oversubscription))
        n_core = _divisor_at_least(sp_up, math.ceil(n_pods * sp_up / radix))
        if core_row is None:
            core_row = floor.new_row()
        spines = b.add_nodes("switch", "spine", n_pods * n_sp,
                             names=[f"{tag}pod{pod}.spine{s}" for pod in range(n_pods)
                                    for s in range(n_sp)],
                             rack=place(spine_rack_fill, spine_row, n_pods * n_sp))
        spines = spines.reshape(n_pods, n_sp)
        for pod in range(n_pods):
            lv = leaves[pod * pl:(pod + 1) * pl]
            a_, c_ = np.meshgrid(lv, spines[pod], indexing="ij")
            _bundle(b, a_.ravel(), c_.ravel(), "spine", up // n_sp, lanes_pp, nic_lane_rate_bps,
                    ideal)
        cores = b.add_nodes("switch", "core", n_sp * n_core,
                            names=[f"{tag}core{g}.{c}" for g in range(n_sp)
                                   for c in range(n_core)],
                            rack=place(core_rack_fill, core_row, n_sp * n_core))
        cores = cores.reshape(n_sp, n_core)
        for g in range(n_sp):
            a_, c_ = np.meshgrid(spines[:, g], cores[g], indexing="ij")
            _bundle(b, a_.ravel(), c_.ravel(), "core", sp_up // n_core, lanes_pp,
                    nic_lane_rate_bps, ideal)
        b.notes.update({"pods": n_pods, "pod_leaves": pl, "spines_per_pod": n_sp,
                        "core_groups": n_sp, "cores_per_group": n_core})
    return b


def _rows_of_racks(floor, n_racks: int, racks_per_row: int):
    """Rows of ``racks_per_row`` compute racks with a network rack in the middle of each row
    (before compute rack ``n // 2`` of a row of ``n``): compute rack ids, their rows, and
    the network rack of each row (an array indexed by row id; -1 for rows made elsewhere)."""
    n_rows = math.ceil(n_racks / racks_per_row)
    rows = np.array([floor.new_row() for _ in range(n_rows)], dtype=np.int64)
    n_here = np.minimum(racks_per_row, n_racks - np.arange(n_rows) * racks_per_row)
    seq_row = np.repeat(rows, n_here + 1)            # rack allocations in order, row by row
    pos = np.arange(seq_row.size) - np.repeat(np.cumsum(n_here + 1) - (n_here + 1), n_here + 1)
    net = pos == np.repeat(n_here // 2, n_here + 1)
    ids = floor.new_racks(seq_row)
    row_net = np.full(floor.n_rows, -1, dtype=np.int64)
    row_net[rows] = ids[net]
    return ids[~net], seq_row[~net], row_net


def _place(floor, fill, row, count: int, per_rack) -> np.ndarray:
    """Racks for ``count`` switches in ``row``: ``fill`` = [current rack, switches in it]; a new
    rack when it holds ``per_rack`` (the rule of placing them one by one, in bulk)."""
    if not (isinstance(per_rack, numbers.Real) and math.isfinite(per_rack)):
        return np.array([_place_one(floor, fill, row, per_rack) for _ in range(count)],
                        dtype=np.int64)
    cap = max(1, math.ceil(per_rack))                # switches a rack takes
    out = np.empty(count, dtype=np.int64)
    k = 0
    if fill[0] is not None and fill[1] < per_rack:
        k = min(count, cap - int(fill[1]))
        out[:k] = fill[0]
        fill[1] += k
    rest = count - k
    if rest > 0:
        racks = floor.new_racks(np.full(math.ceil(rest / cap), row, dtype=np.int64))
        out[k:] = np.repeat(racks, cap)[:rest]
        fill[0], fill[1] = int(racks[-1]), rest - (racks.size - 1) * cap
    return out


def _place_one(floor, fill, row, per_rack) -> int:
    if fill[0] is None or fill[1] >= per_rack:
        fill[0], fill[1] = floor.new_rack(row), 0
    fill[1] += 1
    return fill[0]


def _need(value, field: str):
    if value is None:
        raise CposimError("an idealised link needs a latency too", field=field)
    return value


def _bundle(b: TopologyBuilder, a, c, tier, count, lanes, lane_rate, ideal=None) -> None:
    if ideal is not None:
        b.add_cables(a, c, tier, bandwidth_bps=ideal[0] * count, latency_s=ideal[1], bundle=count)
    else:
        b.add_cables(a, c, tier, lanes=lanes * count, lane_rate_bps=lane_rate, bundle=count)


def torus(name: str, *, dims, lanes: int = 8, lane_rate_bps: float = 100e9,
          gpus_per_rack: int = 16, racks_per_row: int = 8, hop_latency_s: float = 0.0,
          geometry: Geometry | None = None) -> TopologyBuilder:
    """A direct ring (1 dim) / torus network of GPUs, placed consecutively in racks; the
    wrap-around cables are the long ones. GPUs forward (``hop_latency_s`` per transit)."""
    dims = tuple(_int(d, "dims", 2) for d in dims)
    gpus_per_rack = _int(gpus_per_rack, "gpus_per_rack")
    b = TopologyBuilder(name, geometry=geometry)
    b.direct = True
    n = int(np.prod(dims))
    rack_ids, rows = [], []
    for r in range(math.ceil(n / gpus_per_rack)):
        if r % racks_per_row == 0:
            row = b.floor.new_row()
        rack_ids.append(b.floor.new_rack(row))
    ids = b.add_nodes("gpu", "gpu", n, prefix="gpu",
                      rack=np.array(rack_ids, dtype=np.int64)[np.arange(n) // gpus_per_rack],
                      switch_latency_s=hop_latency_s, domain=0)
    coords = np.array(np.unravel_index(np.arange(n), dims)).T
    a_all, c_all = [], []
    for axis, size in enumerate(dims):
        nxt = coords.copy()
        nxt[:, axis] = (nxt[:, axis] + 1) % size
        j = np.ravel_multi_index(nxt.T, dims)
        m = np.arange(n) < j if size == 2 else np.ones(n, dtype=bool)
        a_all.append(ids[m])
        c_all.append(ids[j[m]])
    b.add_cables(np.concatenate(a_all), np.concatenate(c_all), "scaleup", lanes=lanes,
                 lane_rate_bps=lane_rate_bps)
    return b
