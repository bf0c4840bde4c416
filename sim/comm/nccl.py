"""NCCL as a software layer over a cposim fabric: which algorithm and protocol NCCL runs a
collective with, its latency, and the bandwidth it gets out of the links.

cposim's collectives (:mod:`sim.comm.run`) time the *wire*: alpha-beta or max-min flows over
the fabric's physical link rates. A measured nccl-tests number also contains NCCL: the
protocol (LL: 8-byte lines carrying 4 bytes of data and a flag; LL128: 120 of 128 bytes;
Simple: bulk copies behind memory fences), a launch and per-step latency per protocol and
link type, the effective data rate NCCL assumes for an NVLink, and NVLink SHARP (NVLS). This
module is NCCL's *own* cost model (its tuner, ``ncclTopoTuneModel`` / ``ncclTopoGetAlgoTime``)
with its constants, applied to the bandwidths of a cposim fabric:

* time = latency(algorithm, protocol) + bytes / algorithm bandwidth; NCCL picks the fastest
  enabled (algorithm, protocol) pair, as its tuner does;
* ring latency = base + (steps - inter-node steps) x NVLink step latency + inter-node steps x
  network step latency (x 1.4 "plateau" for multi-node Simple all-reduce);
* ring bus bandwidth = min(NVLink effective rate, GPUs per node x NIC rate) (each channel's
  ring leaves a node through a different NIC); LL: half of it, capped at ``llMaxBw``; LL128:
  0.92 of it; NVLink effective rate = links x NCCL's per-link rate (``SMxx_NVLINK_BW``);
* NVLS (all-reduce, one node, more than 4 GPUs: NVIDIA's GB200 NVL partition guide, "4 or
  fewer GPUs do not benefit from multicast"): each GPU moves the buffer once each way over
  its NVLinks, at ``nvlsEfficiency`` x (channels - 1)/channels of the effective rate. (NCCL's
  tuner also credits NVLS with n/(n-1) for pipelining two operations; that credit is for
  ranking algorithms and overstates measured NVLS bandwidth by ~25 %, so it is left out.)
  NVLSTree across nodes: NVLS inside each node, the node's NICs carrying 2x the buffer.
* all-to-all: NCCL runs it as grouped point-to-point sends to every peer at once (no ring,
  no tuner entry): time = latency + the larger of the bytes a GPU sends to the peers of its
  own node, (ppn - 1)/n x size, at the NVLink effective rate and the bytes it sends off the
  node, (n - ppn)/n x size, at its NIC rate — on one node (n - 1)/n x size / NVLink rate.
  Protocol LL (half rate) when a peer's share is at most ``P2P_LL_THRESHOLD`` bytes, else
  Simple; latency = ring base latency + one NVLink (or, across nodes, network) step of that
  protocol, since every send is posted at once (our simplification, grade D; no published
  all-to-all table validates it yet).

Not modelled: NCCL's Tree and CollNet algorithms, PAT, channel-count search (``nChannels`` is
taken as NCCL's NVLS default and 16 rings), and per-size chunking effects beyond the tuner's.

Source of every constant: NVIDIA/nccl ``src/graph/tuning.cc`` (``ncclTunerConstantsDefaults``,
``nvlsEfficiency``, the model refinements), ``src/graph/topo.h`` (``SMxx_NVLINK_BW``) and
``src/transport/nvls.cc`` (``NVLS_NCHANNELS_*``) at commit 5067397 (2026-06-11), and
``src/enqueue.cc`` (``NCCL_PARAM(P2pLLThreshold, "P2P_LL_THRESHOLD", 16384)``, the same in the
NCCL 2.x sources read); grade A (primary source code). NVLink raw rates per link and
direction: 25 GB/s (NVLink 3 and 4), 50 GB/s (NVLink 5), NVIDIA product specifications (grade
A).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sim.errors import CposimError

NCCL_SOURCE = ("NVIDIA/nccl src/graph/tuning.cc, src/graph/topo.h, src/transport/nvls.cc "
               "@5067397 (2026-06-11)")

PROTOCOLS = ("LL", "LL128", "Simple")
ARCHS = ("ampere", "hopper", "blackwell")
OPS = ("allreduce", "allgather", "reducescatter", "alltoall")
# the GPU presets a user names for the layer (``cposim collective --nccl --gpu``)
GPUS = ("a100", "h100", "h200", "b200")
# what ``algorithm`` of :func:`choose` takes (NCCL_ALGO); ``default`` is NCCL's own choice
ALGORITHMS = ("default", "ring", "nvls", "nvlstree", "p2p")
_ARCH_INDEX = {"ampere": 1, "hopper": 2, "blackwell": 3}

# topo.h: NCCL's effective NVLink bandwidth per link (GB/s); raw per link and direction.
NVLINK_BW_PER_LINK_GBps = {"ampere": 20.0, "hopper": 20.6, "blackwell": 40.1}
NVLINK_RAW_PER_LINK_GBps = {"ampere": 25.0, "hopper": 25.0, "blackwell": 50.0}
NVLINK_LINKS = {"ampere": 12, "hopper": 18, "blackwell": 18}

# tuning.cc ncclTunerConstantsDefaults (microseconds)
BASE_LAT_US = {"ring": (6.6, 14.0, 8.4), "nvls": (0.0, 0.0, 0.0), "nvlstree": (0.0, 0.0, 0.0)}
HW_LAT_US = {"nvlink": {"ring": (0.6, 1.9, 3.4), "nvls": (0.0, 0.0, 25.0),
                        "nvlstree": (0.0, 0.0, 25.0), "tree": (0.6, 1.25, 4.0)},
             "net": {"ring": (2.7, 4.0, 14.0), "nvls": (0.0, 0.0, 18.0),
                     "nvlstree": (0.0, 0.0, 20.9), "tree": (5.0, 8.5, 14.0)}}
# llMaxBws[index1][index2]: index1 = GPU arch (one node) or CPU vendor (0 Intel, 1 AMD)
LL_MAX_BW = {0: (39.0, 39.0, 20.4), 1: (87.7, 22.5, 19.0), 2: (141.0, 45.0, 35.0),
             3: (282.0, 90.0, 70.0)}
PER_CH_MAX_RING_LL128_BW = {1: 20.0, 2: 36.7, 3: 40.0}
NVLS_EFFICIENCY = {"ampere": 0.0, "hopper": 0.85, "blackwell": 0.74}
NVLS_CHANNELS = {"hopper": 16, "blackwell": 24}
RING_CHANNELS = 16
LL128_FACTOR = 0.92          # "120.0/128.0" in tuning.cc, rounded there to 0.92
LL_FACTOR = 0.5
RING_PLATEAU = 1.4           # multi-node Simple all-reduce latency factor (compcap >= 80)
NET_OVERHEAD_US = 1.0        # getNetOverhead, Intel x86 host (x3 for Simple)
P2P_LL_THRESHOLD = 16384     # enqueue.cc: a send of at most this many bytes uses LL


@dataclass(frozen=True)
class NcclChoice:
    """NCCL's choice for one collective and what its model says it costs."""

    algorithm: str
    protocol: str
    time_s: float
    latency_s: float
    algbw_Bps: float         # size / time, as nccl-tests' algbw
    busbw_Bps: float         # nccl-tests busbw (algbw x its per-operation factor)


def arch_of(gpu: str) -> str:
    """NCCL's compute-capability class of a GPU preset name (a100, h100, h200, b200, ...)."""
    g = gpu.lower()
    if g.startswith("a100") or g.startswith("a800"):
        return "ampere"
    if g.startswith(("h100", "h200", "h800", "h20", "gh200")):
        return "hopper"
    if g.startswith(("b200", "b300", "gb200", "gb300")):
        return "blackwell"
    raise CposimError(f"no NCCL architecture for GPU {gpu!r}", field="gpu")


def stored_nvls_latency_s() -> float:
    """The NVLS per-message latency fitted by the validation figure (``sim/phy/calibration.csv``,
    key ``nccl.nvls.latency``): what ``cposim collective --nccl`` and the figure use."""
    from sim.phy.calibration import calibration_value

    return calibration_value("nccl.nvls.latency")


def nvlink_efficiency(arch: str) -> float:
    """NCCL's effective NVLink rate over the raw rate (20.6/25 on Hopper)."""
    return NVLINK_BW_PER_LINK_GBps[arch] / NVLINK_RAW_PER_LINK_GBps[arch]


def nvlink_effective_Bps(arch: str, links: int | None = None) -> float:
    """Bytes/s NCCL assumes a GPU's NVLinks carry per direction."""
    return (NVLINK_LINKS[arch] if links is None else links) * NVLINK_BW_PER_LINK_GBps[arch] * 1e9


def busbw_factor(op: str, n: int) -> float:
    """nccl-tests doc/PERFORMANCE.md: busbw = algbw x factor."""
    if op == "allreduce":
        return 2.0 * (n - 1) / n
    if op in ("allgather", "reducescatter", "alltoall"):
        return (n - 1) / n
    return 1.0


def _steps(op: str, n: int) -> int:
    return 2 * (n - 1) if op == "allreduce" else n - 1


def candidates(op: str, size_bytes: float, n: int, nodes: int, intra_Bps: float,
               inter_Bps: float | None, arch: str, *, cpu_vendor: int = 0,
               nvls_latency_s: float | None = None) -> dict:
    """Every (algorithm, protocol) NCCL would consider, with its modelled time (s).

    ``intra_Bps``: a GPU's raw NVLink rate per direction (the fabric's scale-up bottleneck);
    ``inter_Bps``: a GPU's NIC rate (None on one node); ``nodes``: scale-up domains spanned.
    ``nvls_latency_s`` replaces NCCL's NVLS NVLink latency (25 us) when given: the one
    per-message overhead the validation figure fits (``sim/phy/calibration.csv``).
    """
    if op not in OPS:
        raise CposimError(f"the NCCL model covers {', '.join(OPS)}, not {op!r}", field="op")
    if arch not in ARCHS:
        raise CposimError(f"unknown NCCL architecture {arch!r}", field="arch")
    if n < 2:
        return {("none", "none"): 0.0}
    ppn = n / nodes
    ai = _ARCH_INDEX[arch]
    i2 = min(nodes, 3) - 1
    intra = intra_Bps * nvlink_efficiency(arch) / 1e9          # GB/s, as NCCL counts
    inter = (inter_Bps / 1e9) if inter_Bps else math.inf
    if op == "alltoall":
        return _alltoall(size_bytes, n, nodes, intra, inter)
    nsteps = _steps(op, n)
    out = {}
    # --- ring, three protocols
    ring_bus = min(intra, ppn * inter) if nodes > 1 else intra
    n_inter = 0 if nodes == 1 else (2 * (nodes - 1) if op == "allreduce" else nodes - 1)
    ll_max = LL_MAX_BW[ai if nodes == 1 else cpu_vendor][i2]
    for p, proto in enumerate(PROTOCOLS):
        if proto == "LL":
            bus = min(ll_max, ring_bus * LL_FACTOR)
        elif proto == "LL128":
            bus = min(ring_bus * LL128_FACTOR, RING_CHANNELS * PER_CH_MAX_RING_LL128_BW[ai])
        else:
            bus = ring_bus
        intra_lat = HW_LAT_US["nvlink"]["ring"][p]
        if nodes > 1:
            intra_lat = max(intra_lat, NET_OVERHEAD_US * (3 if proto == "Simple" else 1))
        inter_lat = HW_LAT_US["net"]["ring"][p]
        lat = BASE_LAT_US["ring"][p] + (nsteps - n_inter) * intra_lat + n_inter * inter_lat
        if proto == "Simple" and nodes > 1 and op == "allreduce":
            lat *= RING_PLATEAU
        algbw = bus * n / nsteps
        out[("ring", proto)] = lat * 1e-6 + size_bytes / (algbw * 1e9)
    # --- NVLink SHARP (all-reduce only; Hopper and later; more than 4 GPUs in a node)
    if op == "allreduce" and NVLS_EFFICIENCY[arch] > 0 and ppn > 4:
        ch = NVLS_CHANNELS[arch]
        nvls_bw = intra * NVLS_EFFICIENCY[arch] * (ch - 1) / ch      # GB/s each way per GPU
        nvls_lat = HW_LAT_US["nvlink"]["nvls"][2] * 1e-6 if nvls_latency_s is None \
            else nvls_latency_s
        if nodes == 1:
            out[("nvls", "Simple")] = nvls_lat + size_bytes / (nvls_bw * 1e9)
        else:
            lat = nvls_lat + 2 * math.log2(nodes) * HW_LAT_US["net"]["nvlstree"][2] * 1e-6
            algbw = min(nvls_bw, ppn * inter / 2.0)
            out[("nvlstree", "Simple")] = lat + size_bytes / (algbw * 1e9)
    return out


def _alltoall(size_bytes: float, n: int, nodes: int, intra: float, inter: float) -> dict:
    """All-to-all as NCCL's grouped sends (module docstring); bandwidths in GB/s."""
    ppn = n / nodes
    per_peer = size_bytes / n
    proto = "LL" if per_peer <= P2P_LL_THRESHOLD else "Simple"
    p = PROTOCOLS.index(proto)
    rate = LL_FACTOR if proto == "LL" else 1.0
    t_intra = (ppn - 1) * per_peer / (intra * rate * 1e9)
    t_inter = (n - ppn) * per_peer / (inter * rate * 1e9) if nodes > 1 else 0.0
    return {("p2p", proto): _p2p_latency_s(proto, nodes) + max(t_intra, t_inter)}


def _p2p_latency_s(proto: str, nodes: int) -> float:
    p = PROTOCOLS.index(proto)
    step = HW_LAT_US["net" if nodes > 1 else "nvlink"]["ring"][p]
    return (BASE_LAT_US["ring"][p] + step) * 1e-6


def choose(op: str, size_bytes: float, n: int, nodes: int, intra_Bps: float,
           inter_Bps: float | None, arch: str, *, algorithm: str = "default",
           protocol: str | None = None, cpu_vendor: int = 0,
           nvls_latency_s: float | None = None) -> NcclChoice:
    """NCCL's pick (fastest modelled pair) among the allowed ones. ``algorithm``: ``default``
    (NCCL's choice; across nodes only Ring, since NCCL's trees are not modelled; all-to-all
    is always ``p2p``), ``ring``, ``nvls`` or ``nvlstree`` (as ``NCCL_ALGO`` forces it)."""
    alg = algorithm.lower()
    if alg not in ALGORITHMS:
        raise CposimError(f"unknown NCCL algorithm {algorithm!r}; choose from "
                          f"{', '.join(ALGORITHMS)}", field="algorithm")
    kw = dict(cpu_vendor=cpu_vendor, nvls_latency_s=nvls_latency_s)
    c = candidates(op, size_bytes, n, nodes, intra_Bps, inter_Bps, arch, **kw)
    if ("none", "none") in c:
        return NcclChoice("none", "none", 0.0, 0.0, math.inf, math.inf)
    if alg == "default":
        allowed = ("p2p",) if op == "alltoall" else ("ring", "nvls") if nodes == 1 \
            else ("ring",)
        keep = {k: v for k, v in c.items() if k[0] in allowed}
    else:
        keep = {k: v for k, v in c.items() if k[0] == alg}
    if protocol is not None:
        keep = {k: v for k, v in keep.items() if k[1] == protocol}
    if not keep:
        raise CposimError(f"NCCL algorithm {algorithm!r} is not available for {op} on {n} GPUs",
                          field="algorithm")
    (a, p), t = min(keep.items(), key=lambda kv: kv[1])
    lat = _p2p_latency_s(p, nodes) if a == "p2p" else \
        candidates(op, 0.0, n, nodes, intra_Bps, inter_Bps, arch, **kw)[(a, p)]
    algbw = size_bytes / t if t > 0 else math.inf
    return NcclChoice(a, p, t, lat, algbw, algbw * busbw_factor(op, n))


def fabric_bandwidths(fabric, members) -> tuple[float, float | None, int]:
    """(raw scale-up Bps, NIC Bps or None, scale-up domains spanned) of a communicator on a
    fabric: the bottlenecks of its routes inside a domain and across domains."""
    m = np.asarray(members, dtype=np.int64)
    dom = np.asarray(fabric.topology.scaleup_domain)[m]
    doms = np.unique(dom)
    first = m[dom == doms[0]]
    intra = None
    if len(first) > 1:
        _, bn = fabric.route_info(first[:1], first[1:2])
        intra = float(bn[0]) / 8.0
    inter = None
    if len(doms) > 1:
        other = m[dom == doms[1]]
        _, bn = fabric.route_info(first[:1], other[:1])
        inter = float(bn[0]) / 8.0
    if intra is None:
        intra = inter
    return intra, inter, len(doms)
