"""ASTRA-sim's three input files -> frozen records, read strictly.

These are **ASTRA-sim 2.x's** file formats and conventions (astra-sim master ``518bd51``),
kept apart from cposim's own configs. ASTRA-sim itself ignores keys it does not know; here an
unknown key, a wrong type or a value ASTRA-sim would crash on is one ``CposimError`` naming the
file and the key (the CLI prints it as one line and exits 2).

Network YAML — ``extern/network_backend/analytical/common/network-parser/NetworkParser.cpp``
(``parse_network_config_yml``, ``check_validity``)::

    topology: [ Ring, Switch ]   # per dimension: Ring | FullyConnected | Switch (case-sensitive)
    npus_count: [ 4, 2 ]         # > 1 each; NPU id -> coordinates with dim 0 fastest
    bandwidth: [ 50.0, 50.0 ]    # GB/s with GB = 2^30 bytes and s = 1e9 ns (NetworkFunction.cpp)
    latency: [ 500.0, 500.0 ]    # ns per hop, >= 0

System JSON — ``astra-sim/system/Sys.cc :: Sys::initialize_sys`` and
``astra-sim/system/astraccl/CollectiveImplLookup.cc``. ASTRA-sim leaves
``scheduling-policy``, ``collective-optimization`` and ``preferred-dataset-splits``
uninitialised (undefined behaviour, or a division by zero) when they are absent: required here.
Numbers given where ASTRA-sim wants an int are truncated as nlohmann::json does (10.7 -> 10).
``boost-mode``, ``intra-dimension-scheduling`` and ``inter-dimension-scheduling`` are never
read by ASTRA-sim 2.x (the ``Sys`` constructor hard-wires FIFO / Ascending): we accept them only
with the value ASTRA-sim actually uses (0, "FIFO", "ascending"), so a file that asks for
something else is an error instead of being silently ignored.

Remote-memory JSON — ``extern/remote_memory_backend/analytical/AnalyticalRemoteMemory.cc``.
Communicator groups JSON (``--comm-group-configuration``) —
``astra-sim/workload/Workload.cc :: initialize_comm_groups``: ``{"<id>": [npu, ...]}``, id > 0.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.errors import CposimError

TOPOLOGIES = ("Ring", "FullyConnected", "Switch")
OPS = ("all-reduce", "reduce-scatter", "all-gather", "all-to-all")

# Values of the keys ASTRA-sim never reads that match what it hard-wires instead.
_IGNORED_KEYS = {
    "boost-mode": ((0, False), "0"),
    "intra-dimension-scheduling": (("FIFO",), '"FIFO"'),
    "inter-dimension-scheduling": (("ascending", "Ascending"), '"ascending"'),
}
_UNSUPPORTED_KEYS = {
    "all-reduce-implementation-custom": "custom (Chakra ET) collectives are not supported",
    "reduce-scatter-implementation-custom": "custom (Chakra ET) collectives are not supported",
    "all-gather-implementation-custom": "custom (Chakra ET) collectives are not supported",
    "all-to-all-implementation-custom": "custom (Chakra ET) collectives are not supported",
    "per-node-custom-implementation": "custom (Chakra ET) collectives are not supported",
}


# ---------------------------------------------------------------------------- file reading
def _read_text(path: str | Path, what: str) -> str:
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CposimError(f"no such {what} file", file=str(path)) from None
    except IsADirectoryError:
        raise CposimError(f"is a directory, not a {what} file", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise CposimError(f"not UTF-8 text (byte {exc.start})", file=str(path)) from None
    except OSError as exc:
        raise CposimError(f"cannot read: {exc.strerror}", file=str(path)) from None


def _load_json(path: str | Path, what: str) -> Any:
    text = _read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CposimError(f"not valid JSON: {exc.msg}", file=str(path), line=exc.lineno) from None
    except RecursionError:
        raise CposimError("JSON nested too deeply", file=str(path)) from None


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(raw: dict, key: str, src: str, *, default=None, minimum: int | None = None,
         why: str = "") -> int:
    """An int the way nlohmann::json converts a number (truncation); bool/str rejected."""
    if key not in raw:
        if default is None:
            raise CposimError("required key is missing (ASTRA-sim leaves it undefined)",
                              file=src, field=key)
        return default
    v = raw[key]
    if not _is_number(v):
        raise CposimError(f"must be an integer, got {v!r}", file=src, field=key)
    if abs(v) >= 2 ** 31:
        raise CposimError(f"{v!r} does not fit ASTRA-sim's int", file=src, field=key)
    out = int(v)
    if minimum is not None and out < minimum:
        raise CposimError(f"must be >= {minimum}, got {v!r}{why}", file=src, field=key)
    return out


def _float(raw: dict, key: str, src: str, *, default: float, minimum: float = 0.0) -> float:
    if key not in raw:
        return default
    v = raw[key]
    if not _is_number(v):
        raise CposimError(f"must be a number, got {v!r}", file=src, field=key)
    if v < minimum:
        raise CposimError(f"must be >= {minimum:g}, got {v!r}", file=src, field=key)
    return float(v)


def _flag(raw: dict, key: str, src: str) -> bool:
    """ASTRA-sim tests these with ``j[key] != 0``."""
    if key not in raw:
        return False
    v = raw[key]
    if isinstance(v, bool):
        return v
    if not _is_number(v):
        raise CposimError(f"must be 0/1 or true/false, got {v!r}", file=src, field=key)
    return v != 0


def _string(raw: dict, key: str, src: str, choices: tuple[str, ...]) -> str:
    if key not in raw:
        raise CposimError(f"required key is missing (one of {', '.join(choices)}; ASTRA-sim "
                          "leaves it undefined)", file=src, field=key)
    v = raw[key]
    if not isinstance(v, str):
        raise CposimError(f"must be a string, one of {', '.join(choices)}; got {v!r}", file=src,
                          field=key)
    if v not in choices:
        raise CposimError(f"unknown value {v!r}; ASTRA-sim accepts {', '.join(choices)}",
                          file=src, field=key)
    return v


# ---------------------------------------------------------------------------- network YAML
@dataclass(frozen=True)
class NetworkConfig:
    """ASTRA-sim's analytical network: per dimension a topology, NPU count, bandwidth in
    ASTRA-sim's GB/s (2^30 bytes per 1e9 ns) and per-hop latency in ns."""

    topology: tuple[str, ...]
    npus_count: tuple[int, ...]
    bandwidth_GBps: tuple[float, ...]
    latency_ns: tuple[float, ...]
    source: str = "<network>"

    @property
    def dims(self) -> int:
        return len(self.topology)

    @property
    def npus(self) -> int:
        return math.prod(self.npus_count)

    @property
    def bandwidth_Bpns(self) -> tuple[float, ...]:
        """``NA/common/NetworkFunction.cpp :: bw_GBps_to_Bpns``: ``bw * (1 << 30) / 1e9``."""
        return tuple(b * (1 << 30) / 1_000_000_000 for b in self.bandwidth_GBps)


def load_network(path: str | Path) -> NetworkConfig:
    import yaml

    src = str(path)
    text = _read_text(path, "network YAML")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "syntax error"
        raise CposimError(f"not valid YAML: {problem}", file=src,
                          line=mark.line + 1 if mark is not None else None) from None
    if not isinstance(raw, dict):
        raise CposimError("expected a mapping with keys topology, npus_count, bandwidth, "
                          "latency", file=src)
    return network_from_mapping(raw, src)


def network_from_mapping(raw: dict, src: str = "<network>") -> NetworkConfig:
    keys = ("topology", "npus_count", "bandwidth", "latency")
    for k in raw:
        if k not in keys:
            raise CposimError(f"unknown key (ASTRA-sim's analytical network reads only "
                              f"{', '.join(keys)})", file=src, field=str(k))
    for k in keys:
        if k not in raw:
            raise CposimError("required key is missing", file=src, field=k)
        if not isinstance(raw[k], list) or not raw[k]:
            raise CposimError(f"must be a non-empty list, one entry per dimension, got "
                              f"{raw[k]!r}", file=src, field=k)
    topo = raw["topology"]
    dims = len(topo)
    for k in keys[1:]:
        if len(raw[k]) != dims:
            raise CposimError(f"length of {k} ({len(raw[k])}) doesn't match the {dims} "
                              f"dimension(s) of topology", file=src, field=k)
    for t in topo:
        if t not in TOPOLOGIES:
            raise CposimError(f"topology name {t!r} not supported (ASTRA-sim's analytical "
                              f"backends know {', '.join(TOPOLOGIES)}, case-sensitive)",
                              file=src, field="topology")
    for n in raw["npus_count"]:
        if isinstance(n, bool) or not isinstance(n, int):
            raise CposimError(f"NPU counts must be integers, got {n!r}", file=src,
                              field="npus_count")
        if n <= 1:
            raise CposimError(f"each dimension needs more than 1 NPU, got {n}", file=src,
                              field="npus_count")
    if math.prod(raw["npus_count"]) > 1 << 20:
        raise CposimError(f"{math.prod(raw['npus_count'])} NPUs is more than this mode "
                          "simulates (2^20)", file=src, field="npus_count")
    for b in raw["bandwidth"]:
        if not _is_number(b) or b <= 0:
            raise CposimError(f"bandwidths must be numbers > 0 (GB/s), got {b!r}", file=src,
                              field="bandwidth")
    for lat in raw["latency"]:
        if not _is_number(lat) or lat < 0:
            raise CposimError(f"latencies must be numbers >= 0 (ns), got {lat!r}", file=src,
                              field="latency")
    return NetworkConfig(tuple(topo), tuple(int(n) for n in raw["npus_count"]),
                         tuple(float(b) for b in raw["bandwidth"]),
                         tuple(float(x) for x in raw["latency"]), src)


# ---------------------------------------------------------------------------- system JSON
@dataclass(frozen=True)
class Impl:
    """One entry of an ``*-implementation`` list (``CollectiveImplLookup.cc ::
    generate_collective_impl_from_input``). ``one`` = the ``one*`` variants (one logical
    ring over all NPUs); ``window`` = direct's window W (-1 = all peers at once)."""

    kind: str          # ring | direct | halvingDoubling | doubleBinaryTree
    one: bool = False
    window: int = -1
    text: str = ""


def parse_impl(text, src: str, key: str) -> Impl:
    if not isinstance(text, str):
        raise CposimError(f"implementations must be strings, got {text!r}", file=src, field=key)
    simple = {"ring": Impl("ring", False, -1, text), "oneRing": Impl("ring", True, -1, text),
              "halvingDoubling": Impl("halvingDoubling", False, -1, text),
              "oneHalvingDoubling": Impl("halvingDoubling", True, -1, text),
              "doubleBinaryTree": Impl("doubleBinaryTree", False, -1, text)}
    if text in simple:
        return simple[text]
    m = re.fullmatch(r"direct(\d*)", text) or re.fullmatch(r"oneDirect(\d*)", text)
    if m:
        digits = m.group(1)
        window = int(digits) if digits else -1
        if digits and not 1 <= window <= 99999:
            raise CposimError(f"{text!r}: the direct window must be 1..99999", file=src,
                              field=key)
        return Impl("direct", text.startswith("one"), window, text)
    raise CposimError(f"cannot interpret collective implementation {text!r} (ASTRA-sim knows "
                      "ring, direct, direct<W>, halvingDoubling, doubleBinaryTree and their "
                      "one* variants oneRing, oneDirect[<W>], oneHalvingDoubling)", file=src,
                      field=key)


@dataclass(frozen=True)
class SystemConfig:
    scheduling_policy: str              # LIFO | FIFO | EXPLICIT
    collective_optimization: str        # baseline | localBWAware
    preferred_dataset_splits: int
    active_chunks_per_dimension: int = 1
    endpoint_delay_ns: int = 10         # before --injection-scale
    local_mem_bw_GBps: float = 0.0      # GB = 1e9 B here (Sys.cc), 0 = no reduction cost
    implementations: tuple[tuple[str, tuple[Impl, ...]], ...] = ()
    replay_only: bool = False
    roofline_enabled: bool = False
    peak_perf_TFLOPS: float = 0.0
    source: str = "<system>"

    def impls(self, op: str) -> tuple[Impl, ...] | None:
        for k, v in self.implementations:
            if k == op:
                return v
        return None


_SYSTEM_KEYS = {
    "scheduling-policy", "collective-optimization", "preferred-dataset-splits",
    "active-chunks-per-dimension", "endpoint-delay", "local-mem-bw",
    *(f"{op}-implementation" for op in OPS),
    "local-reduction-delay", "L", "o", "g", "G", "model-shared-bus",
    "roofline-enabled", "peak-perf", "replay-only", "trace-enabled", "track-local-mem",
    "local-mem-trace-filename", *_IGNORED_KEYS, *_UNSUPPORTED_KEYS,
}


def load_system(path: str | Path) -> SystemConfig:
    src = str(path)
    raw = _load_json(path, "system JSON")
    if not isinstance(raw, dict):
        raise CposimError("expected a JSON object", file=src)
    return system_from_mapping(raw, src)


def system_from_mapping(raw: dict, src: str = "<system>") -> SystemConfig:
    for k in raw:
        if k not in _SYSTEM_KEYS:
            raise CposimError("unknown key (ASTRA-sim would silently ignore it; cposim astra "
                              "does not)", file=src, field=k)
    for k, why in _UNSUPPORTED_KEYS.items():
        if k in raw:
            raise CposimError(f"not supported by cposim astra: {why}", file=src, field=k)
    for k, (ok, shown) in _IGNORED_KEYS.items():
        if k in raw and raw[k] not in ok:
            raise CposimError(f"ASTRA-sim 2.x never reads this key (Sys.cc hard-wires it), so "
                              f"only {shown} is accepted, got {raw[k]!r}", file=src, field=k)
    if "model-shared-bus" in raw and _int(raw, "model-shared-bus", src, default=0) == 1:
        raise CposimError("the LogGP shared-bus model (model-shared-bus: 1) is not supported",
                          file=src, field="model-shared-bus")
    for k in ("local-reduction-delay", "L", "o", "g", "G"):
        if k in raw and not _is_number(raw[k]):
            raise CposimError(f"must be a number, got {raw[k]!r}", file=src, field=k)
    if _flag(raw, "track-local-mem", src):
        raise CposimError("local-memory tracking (track-local-mem) is not supported",
                          file=src, field="track-local-mem")
    _flag(raw, "trace-enabled", src)       # debug logs only in ASTRA-sim: checked, unused
    if "local-mem-trace-filename" in raw and not isinstance(raw["local-mem-trace-filename"],
                                                            str):
        raise CposimError("must be a string", file=src, field="local-mem-trace-filename")
    policy = _string(raw, "scheduling-policy", src, ("LIFO", "FIFO", "EXPLICIT"))
    opt = _string(raw, "collective-optimization", src, ("baseline", "localBWAware"))
    splits = _int(raw, "preferred-dataset-splits", src, minimum=1,
                  why=" (0 is a division by zero in ASTRA-sim)")
    active = _int(raw, "active-chunks-per-dimension", src, default=1, minimum=1)
    delay = _int(raw, "endpoint-delay", src, default=10, minimum=1,
                 why=" (ASTRA-sim aborts on 0: its first message event would be scheduled "
                     "at t = 0, EventQueue::proceed asserts)")
    lmbw = _float(raw, "local-mem-bw", src, default=0.0)
    impls = []
    for op in OPS:
        key = f"{op}-implementation"
        if key not in raw:
            continue
        lst = raw[key]
        if not isinstance(lst, list) or not lst:
            raise CposimError(f"must be a non-empty list of implementations, one per "
                              f"dimension, got {lst!r}", file=src, field=key)
        impls.append((op, tuple(parse_impl(x, src, key) for x in lst)))
    return SystemConfig(
        scheduling_policy=policy, collective_optimization=opt, preferred_dataset_splits=splits,
        active_chunks_per_dimension=active, endpoint_delay_ns=delay, local_mem_bw_GBps=lmbw,
        implementations=tuple(impls), replay_only=_flag(raw, "replay-only", src),
        roofline_enabled=_flag(raw, "roofline-enabled", src),
        peak_perf_TFLOPS=_float(raw, "peak-perf", src, default=0.0), source=src)


# ---------------------------------------------------------------------------- remote memory
MEMORY_TYPES = ("NO_MEMORY_EXPANSION", "PER_NPU_MEMORY_EXPANSION", "PER_NODE_MEMORY_EXPANSION",
                "MEMORY_POOL")


@dataclass(frozen=True)
class MemoryConfig:
    memory_type: str = "NO_MEMORY_EXPANSION"
    remote_mem_latency_ns: int = 0
    remote_mem_bw_Bpns: int = 0        # ASTRA-sim's uint64 "remote-mem-bw": bytes per ns
    num_nodes: int = 0
    num_npus_per_node: int = 0
    source: str = "<no --remote-memory-configuration>"


def load_memory(path: str | Path | None) -> MemoryConfig:
    if path is None:
        return MemoryConfig()
    src = str(path)
    raw = _load_json(path, "remote-memory JSON")
    if not isinstance(raw, dict):
        raise CposimError("expected a JSON object", file=src)
    keys = ("memory-type", "remote-mem-latency", "remote-mem-bw", "num-nodes",
            "num-npus-per-node")
    for k in raw:
        if k not in keys:
            raise CposimError(f"unknown key (AnalyticalRemoteMemory reads only "
                              f"{', '.join(keys)})", file=src, field=k)
    mt = _string(raw, "memory-type", src, MEMORY_TYPES)
    cfg = MemoryConfig(
        memory_type=mt,
        remote_mem_latency_ns=_int(raw, "remote-mem-latency", src, default=0, minimum=0),
        remote_mem_bw_Bpns=_int(raw, "remote-mem-bw", src, default=0, minimum=0),
        num_nodes=_int(raw, "num-nodes", src, default=0, minimum=0),
        num_npus_per_node=_int(raw, "num-npus-per-node", src, default=0, minimum=0),
        source=src)
    if mt == "PER_NODE_MEMORY_EXPANSION":
        for k, v in (("num-nodes", cfg.num_nodes), ("num-npus-per-node", cfg.num_npus_per_node)):
            if v < 1:
                raise CposimError("PER_NODE_MEMORY_EXPANSION needs a value >= 1", file=src,
                                  field=k)
    if mt != "NO_MEMORY_EXPANSION" and cfg.remote_mem_bw_Bpns < 1:
        raise CposimError("needs a bandwidth >= 1 (bytes per ns; ASTRA-sim divides by it)",
                          file=src, field="remote-mem-bw")
    return cfg


# ---------------------------------------------------------------------------- comm groups
def load_comm_groups(path: str | Path | None, npus: int) -> dict[int, tuple[int, ...]]:
    """``{"<id>": [npu, ...]}``: group id (> 0, ``CommunicatorGroup::set_id`` asserts) ->
    NPUs in the file's order (the order of ASTRA-sim's ring over the group)."""
    if path is None:
        return {}
    src = str(path)
    raw = _load_json(path, "communicator-group JSON")
    if not isinstance(raw, dict):
        raise CposimError('expected a JSON object {"<group id>": [npu, ...]}', file=src)
    out: dict[int, tuple[int, ...]] = {}
    for k, v in raw.items():
        if not re.fullmatch(r"\d+", k) or int(k) < 1:
            raise CposimError("group ids must be integers >= 1 (0 is the group of all NPUs)",
                              file=src, field=k)
        if not isinstance(v, list) or not v or any(
                isinstance(x, bool) or not isinstance(x, int) for x in v):
            raise CposimError(f"must be a non-empty list of NPU ids, got {v!r}", file=src,
                              field=k)
        bad = [x for x in v if not 0 <= x < npus]
        if bad:
            raise CposimError(f"NPU {bad[0]} is not in 0..{npus - 1}", file=src, field=k)
        if len(set(v)) != len(v):
            raise CposimError("an NPU is listed twice", file=src, field=k)
        out[int(k)] = tuple(v)
    return out
