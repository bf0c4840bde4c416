"""Chakra execution traces (mlcommons/chakra) <-> canonical :class:`Trace`.

Forms read:

* protobuf ``.et``: one file per rank, ``<prefix>.<rank>.et``; a varint-length-delimited stream
  of one ``GlobalMetadata`` then ``Node`` messages, decoded by :mod:`protowire` against
  ``workloads/schema/chakra_et_def.proto``. Pass the prefix or any one of the files.
* JSON, ``chakra_jsonizer`` form: protobuf ``MessageToJson`` objects (metadata, then nodes),
  concatenated as the jsonizer writes them, or wrapped in a list / ``{"nodes": [...]}``;
  camelCase or proto field names; enums by name or number; 64-bit integers as strings.
* JSON, feeder form ``{"workload_graph": [{"Id", "Name", "NodeType", "data_deps", "runtime",
  "comm_type", "comm_size", "comm_src", "comm_dst", "comm_tag", ...}]}`` (chakra
  ``src/feeder/json_node.cpp``); ``runtime`` is taken as microseconds like ``duration_micros``.
  Per-rank JSON files are ``<prefix>.<rank>.json``.

Mapping (as ASTRA-sim's workload layer reads a node): ``COMP_NODE`` -> compute with
``duration_s = duration_micros * 1e-6`` (or, with zero duration, ``flops = num_ops`` and
``mem_bytes = tensor_size`` for the roofline); ``COMM_COLL_NODE`` -> collective ``comm_type`` of
``comm_size`` bytes on group ``pg_name`` (no ``pg_name``: ``world``); ``COMM_SEND_NODE`` /
``COMM_RECV_NODE`` -> send to ``comm_dst`` / recv from ``comm_src`` with ``comm_tag``;
``METADATA_NODE`` -> a zero-time compute (kept so dependencies through it hold); memory nodes
-> compute with their duration and ``mem_bytes = tensor_size``. Dependencies = ``data_deps`` +
``ctrl_deps``. Groups: cposim-written traces carry their group table in the GlobalMetadata
attribute ``cposim_groups``; otherwise each ``pg_name`` is one communicator made of the ranks
whose trace uses it. ``involved_dim`` and ``is_cpu_op`` are recorded, not modelled.
Ranks whose op lists are identical share one :class:`Program`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import OrderedDict
from pathlib import Path

import numpy as np

from sim.errors import CposimError
from workloads.native import MAX_WORLD_SIZE
from workloads.readers.protowire import WireError, decode_stream, encode_delimited, load_schema
from workloads.trace import Group, Op, Program, Trace, stuck_ops

SCHEMA = load_schema()
NODE_TYPES = SCHEMA.enums["NodeType"]
COMM_TYPES = SCHEMA.enums["CollectiveCommType"]
_TO_CANON = {"ALL_REDUCE": "allreduce", "REDUCE": "reduce", "ALL_GATHER": "allgather",
             "BROADCAST": "broadcast", "ALL_TO_ALL": "alltoall",
             "REDUCE_SCATTER": "reducescatter", "REDUCE_SCATTER_BLOCK": "reducescatter",
             "BARRIER": "barrier"}
_FROM_CANON = {"allreduce": "ALL_REDUCE", "reduce": "REDUCE", "allgather": "ALL_GATHER",
               "broadcast": "BROADCAST", "alltoall": "ALL_TO_ALL",
               "reducescatter": "REDUCE_SCATTER", "barrier": "BARRIER"}
US = 1e-6  # Chakra durations are microseconds (ASTRA-sim multiplies duration_micros by 1000 ns)
_RANK_FILE = re.compile(r"^(?P<prefix>.*)\.(?P<rank>\d+)\.(?P<ext>et|json)$")
ET_VERSION = "0.0.4"


# ---------------------------------------------------------------------------- files
def rank_files(path: str | Path, ext: str = "et") -> tuple[str, list[tuple[int, Path]]]:
    """``<prefix>.<rank>.<ext>`` files for a prefix or one of them: (prefix, [(rank, path)])."""
    p = Path(path)
    m = _RANK_FILE.match(p.name)
    if m and m["ext"] == ext:
        prefix = p.parent / m["prefix"]
    else:
        prefix = p.parent / (p.name[: -len(ext) - 1] if p.name.endswith("." + ext) else p.name)
    pat = re.compile(re.escape(prefix.name) + r"\.(\d+)\." + ext + "$")
    found = []
    if prefix.parent.is_dir():
        for q in prefix.parent.iterdir():
            mm = pat.match(q.name)
            if mm:
                found.append((int(mm.group(1)), q))
    found.sort()
    if not found:
        if p.is_file():
            return str(prefix), [(0, p)]
        raise CposimError(f"no Chakra trace files {prefix.name}.<rank>.{ext}", file=str(path))
    ranks = [r for r, _ in found]
    if ranks != list(range(len(ranks))):
        missing = sorted(set(range(max(ranks) + 1)) - set(ranks))[:5]
        raise CposimError(f"rank files are not 0..{max(ranks)}: missing {missing}",
                          file=str(prefix))
    return str(prefix), found


# ---------------------------------------------------------------------------- node -> op
def _attrs(node: dict, src: str | None = None, line: int = 0) -> dict:
    """name -> value of a node's attributes. With ``src``, a malformed ``attr`` raises (naming
    src and line); without, malformed entries are skipped (global metadata)."""
    out = {}
    attrs = node.get("attr", [])
    if not isinstance(attrs, list):
        if src is not None:
            raise CposimError("attr must be a list of objects", file=src, line=line,
                              field="attr")
        attrs = []
    for a in attrs:
        if not isinstance(a, dict):
            if src is None:
                continue
            raise CposimError("attr must be a list of objects", file=src, line=line,
                              field="attr")
        val = None
        for k, v in a.items():
            if k in ("name", "doc_string"):
                continue
            if isinstance(v, dict) and "values" in v:
                v = v["values"]
            val = v
        out[str(a.get("name", ""))] = val
    return out


def _num(v, what: str, src: str, line: int) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):
        raise CposimError(f"{what} must be a number, got {v!r}", file=src, line=line,
                          field=what) from None
    if not math.isfinite(x) or x < 0:
        raise CposimError(f"{what} must be a finite non-negative number, got {v!r}",
                          file=src, line=line, field=what)
    return x


def _int(v, what: str, src: str, line: int) -> int:
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return v
    if isinstance(v, str) and v.isdigit():
        return int(v)
    x = _num(v, what, src, line)
    if x != int(x):
        raise CposimError(f"{what} must be an integer, got {v!r}", file=src, line=line,
                          field=what)
    return int(x)


def _node_to_op(node: dict, src: str, line: int, world: int) -> tuple[Op, dict]:
    """One decoded Node (proto field names) -> Op (with absolute peer) and extra facts."""
    if not isinstance(node, dict):
        raise CposimError("a node must be an object", file=src, line=line)
    a = _attrs(node, src, line)
    nid = _int(node.get("id", 0), "id", src, line)
    name = str(node.get("name", ""))
    ntype = node.get("type", 0)
    if isinstance(ntype, str):
        if ntype not in NODE_TYPES:
            raise CposimError(f"unknown node type {ntype!r}", file=src, line=line, field="type")
        ntype = NODE_TYPES[ntype]
    tname = SCHEMA.enum_name("NodeType", ntype) if isinstance(ntype, int) else None
    if tname is None:
        raise CposimError(f"unknown node type {ntype!r}", file=src, line=line, field="type")
    deps = []
    for key in ("data_deps", "ctrl_deps"):
        vals = node.get(key, [])
        if not isinstance(vals, list):
            raise CposimError(f"{key} must be a list", file=src, line=line, field=key)
        for d in vals:
            d = _int(d, key, src, line)
            if d not in deps:
                deps.append(d)
    if nid in deps:
        raise CposimError(f"node {nid} depends on itself", file=src, line=line, field="deps")
    dur_us = _num(node.get("duration_micros", 0), "duration_micros", src, line)
    if "cposim_duration_s" in a:  # exact duration written by cposim (micros are integers)
        dur_s = _num(a["cposim_duration_s"], "cposim_duration_s", src, line)
    else:
        dur_s = dur_us * US
    extra = {k: a[k] for k in ("involved_dim", "is_cpu_op") if k in a}
    common = dict(id=nid, name=name, deps=tuple(deps))
    if "cposim_layer" in a:
        common["layer"] = str(a["cposim_layer"])
    if "cposim_phase" in a:
        common["phase"] = str(a["cposim_phase"])
    if tname in ("COMP_NODE", "METADATA_NODE", "MEM_LOAD_NODE", "MEM_STORE_NODE"):
        if tname == "COMP_NODE" and dur_s == 0 and "num_ops" in a:
            flops = _num(a["num_ops"], "num_ops", src, line)
            mem = _num(a.get("tensor_size", 0), "tensor_size", src, line)
            return Op(kind="compute", flops=flops, mem_bytes=mem, **common), extra
        mem = (_num(a["tensor_size"], "tensor_size", src, line)
               if tname.startswith("MEM") and "tensor_size" in a else None)
        return Op(kind="compute", duration_s=dur_s, mem_bytes=mem, **common), extra
    size = _num(a.get("comm_size", 0), "comm_size", src, line)
    if tname == "COMM_COLL_NODE":
        ct = a.get("comm_type")
        if ct is None:
            raise CposimError("collective node without comm_type", file=src, line=line,
                              field="comm_type")
        cname = ct if isinstance(ct, str) else SCHEMA.enum_name("CollectiveCommType",
                                                                _int(ct, "comm_type", src, line))
        if cname not in _TO_CANON:
            raise CposimError(f"unsupported comm type {ct!r}", file=src, line=line,
                              field="comm_type")
        group = str(a.get("pg_name") or "world")
        return Op(kind="collective", collective=_TO_CANON[cname], group=group,
                  size_bytes=size, **common), extra
    if tname in ("COMM_SEND_NODE", "COMM_RECV_NODE"):
        key = "comm_dst" if tname == "COMM_SEND_NODE" else "comm_src"
        if key not in a:
            raise CposimError(f"{tname} without {key}", file=src, line=line, field=key)
        peer = _int(a[key], key, src, line)
        if peer >= world:
            raise CposimError(f"{key} {peer} is outside ranks 0..{world - 1}", file=src,
                              line=line, field=key)
        tag = _int(a.get("comm_tag", 0), "comm_tag", src, line)
        group = str(a["pg_name"]) if a.get("pg_name") else None
        return Op(kind="send" if tname == "COMM_SEND_NODE" else "recv", peer=peer, tag=tag,
                  size_bytes=size, group=group, **common), extra
    raise CposimError(f"node type {tname} is not supported", file=src, line=line, field="type")


# ---------------------------------------------------------------------------- JSON forms
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")


def _snake(k: str) -> str:
    return _CAMEL.sub(r"\1_\2", k).lower()


def _from_json_msg(obj, src: str, line: int):
    """MessageToJson (camelCase, 64-bit ints as strings) -> proto-field-name dict."""
    if isinstance(obj, list):
        return [_from_json_msg(x, src, line) for x in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for k, v in obj.items():
        k2 = _snake(k)
        if k2 in ("id", "ctrl_deps", "data_deps", "duration_micros", "start_time_micros"):
            v = _from_json_msg(v, src, line)
        elif k2.endswith(("int64_val", "uint64_val", "fixed64_val")) and isinstance(v, str):
            v = _int(v, k2, src, line)
        else:
            v = _from_json_msg(v, src, line)
        out[k2] = v
    return out


def _json_objects(text: str, src: str) -> list:
    """All top-level JSON values in ``text`` (the jsonizer concatenates objects)."""
    dec = json.JSONDecoder()
    out, pos = [], 0
    n = len(text)
    while True:
        while pos < n and text[pos] in " \t\r\n":
            pos += 1
        if pos >= n:
            return out
        try:
            obj, pos = dec.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise CposimError(f"invalid JSON: {exc.msg}", file=src, line=exc.lineno) from None
        out.append(obj)


def _feeder_node(n: dict, src: str, line: int) -> dict:
    if not isinstance(n, dict):
        raise CposimError("workload_graph entries must be objects", file=src, line=line)
    node = {"id": n.get("Id", 0), "name": n.get("Name", ""), "type": n.get("NodeType", 0),
            "data_deps": n.get("data_deps", []), "ctrl_deps": n.get("ctrl_deps", []),
            "duration_micros": n.get("runtime", 0), "attr": []}
    for k in ("is_cpu_op", "num_ops", "tensor_size", "comm_type", "comm_priority", "comm_size",
              "comm_src", "comm_dst", "comm_tag", "pg_name", "involved_dim"):
        if k in n:
            v = n[k]
            node["attr"].append({"name": k, ("string_val" if isinstance(v, str) else
                                             "int64_val"): v})
    return node


def _json_nodes(text: str, src: str) -> tuple[dict, list[tuple[int, dict]]]:
    """(metadata, [(line, node)]) from either JSON form."""
    objs = _json_objects(text, src)
    if not objs:
        raise CposimError("empty file (no JSON value)", file=src, line=1)
    if len(objs) == 1 and isinstance(objs[0], dict) and "workload_graph" in objs[0]:
        graph = objs[0]["workload_graph"]
        if not isinstance(graph, list):
            raise CposimError("workload_graph must be a list", file=src, field="workload_graph")
        return {}, [(i + 1, _feeder_node(n, src, i + 1)) for i, n in enumerate(graph)]
    if len(objs) == 1 and isinstance(objs[0], dict) and "nodes" in objs[0]:
        meta = objs[0].get("metadata", objs[0].get("global_metadata", {}))
        objs = [meta] + list(objs[0]["nodes"])
    elif len(objs) == 1 and isinstance(objs[0], list):
        objs = objs[0]
    meta, nodes = {}, []
    for i, o in enumerate(objs):
        if not isinstance(o, dict):
            raise CposimError("expected JSON objects (Chakra messages)", file=src, line=i + 1)
        m = _from_json_msg(o, src, i + 1)
        if i == 0 and "version" in m and "type" not in m:
            meta = m
        else:
            nodes.append((i + 1, m))
    return meta, nodes


# ---------------------------------------------------------------------------- public read
def _decode_et(path: Path) -> tuple[dict, list[tuple[int, dict]]]:
    src = str(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise CposimError(f"cannot read: {exc.strerror}", file=src) from None
    if not buf:
        raise CposimError("empty .et file (no GlobalMetadata)", file=src)
    meta, nodes = None, []
    try:
        for i, at, msg in decode_stream(buf, ["GlobalMetadata", "Node"], SCHEMA, shared=True):
            if i == 0:
                meta = msg
            else:
                nodes.append((i + 1, msg))
    except WireError as exc:
        n = len(nodes) + (1 if meta is not None else 0) + 1
        raise CposimError(f"garbage in .et stream at message {n}: {exc}", file=src,
                          line=n) from None
    except (ValueError, OverflowError) as exc:  # e.g. struct/decoding of odd values
        raise CposimError(f"undecodable .et stream: {exc}", file=src) from None
    return meta or {}, nodes


def decode_et_file(path: str | Path) -> tuple[dict, list[tuple[int, dict]]]:
    """One ``.et`` file, decoded but not interpreted: ``(global_metadata, [(message_no, node)])``.

    Nodes are plain dicts keyed by the proto field names of ``chakra_et_def.proto``
    (``id``, ``type``, ``data_deps``, ``attr`` = list of ``{"name", "<kind>_val"}``, ...);
    unset fields are absent, and ``message_no`` is the 1-based message number used as the
    ``line`` of errors. Nested messages may be shared between nodes: treat them as read-only.
    For readers with their own conventions (``sim.astra`` reads nodes as ASTRA-sim does);
    :func:`read_chakra` is the canonical-trace reader. Bad bytes raise ``CposimError``.
    """
    return _decode_et(Path(path))


def _meta_attrs(meta: dict) -> dict:
    return _attrs(meta) if meta else {}


def read_chakra(path: str | Path) -> Trace:
    """Read a Chakra trace: a ``.et`` prefix or file, or a Chakra JSON file/prefix.

    ``line`` in errors is the 1-based message number (``.et``) or JSON object/entry number.
    """
    p = Path(path)
    is_json = p.suffix == ".json" or (not p.exists() and any(
        p.parent.glob(p.name + ".*.json")) and not any(p.parent.glob(p.name + ".*.et")))
    prefix, files = rank_files(p, "json" if is_json else "et")
    per_rank = []
    for rank, f in files:
        if is_json:
            try:
                text = f.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CposimError(f"cannot read: {exc}", file=str(f)) from None
            try:
                per_rank.append((rank, f, *_json_nodes(text, str(f))))
            except RecursionError:
                raise CposimError("JSON nested too deeply", file=str(f)) from None
        else:
            per_rank.append((rank, f, *_decode_et(f)))
    world = len(files)
    meta0 = _meta_attrs(per_rank[0][2])
    if "cposim_world_size" in meta0:
        world = _int(meta0["cposim_world_size"], "cposim_world_size", str(files[0][1]), 1)
        if not len(files) <= world <= MAX_WORLD_SIZE:
            raise CposimError(f"cposim_world_size {world} is not in {len(files)}.."
                              f"{MAX_WORLD_SIZE}", file=str(files[0][1]), line=1)
    # nodes -> ops per rank (feeder attrs come as {"name", "value"})
    rank_ops: dict[int, list[Op]] = {}
    extras: set[str] = set()            # attributes seen that cposim does not model
    for rank, f, _meta, nodes in per_rank:
        ops = []
        seen: dict[int, int] = {}
        for line, node in nodes:
            op, extra = _node_to_op(node, str(f), line, world)
            if op.id in seen:
                raise CposimError(f"duplicate node id {op.id}", file=str(f), line=line,
                                  field="id")
            seen[op.id] = line
            if extra:
                extras.update(extra)
            ops.append(op)
        _check_deps(ops, str(f), seen)
        rank_ops[rank] = ops
    groups = _groups(meta0, rank_ops, world, prefix)
    members = {n: set(g.members.ravel().tolist()) for n, g in groups.items()}
    for (rank, f, _m, nodes) in per_rank:
        for (line, _), op in zip(nodes, rank_ops[rank]):
            if op.kind == "collective" and op.group != "world" and \
                    rank not in members.get(op.group, ()):
                raise CposimError(f"rank {rank} is not a member of group {op.group!r}",
                                  file=str(f), line=line, field="pg_name")
    programs = _merge_programs(_relative_peers(rank_ops, groups))
    metadata = {"format": "chakra-json" if is_json else "chakra-et", "source": prefix,
                "et_version": per_rank[0][2].get("version") if per_rank[0][2] else None,
                "units": {"duration_micros": "us", "comm_size": "bytes"},
                "notes": [f"{k} present but not modelled" for k in ("involved_dim", "is_cpu_op")
                          if k in extras]}
    for k in ("cposim_metadata",):
        if k in meta0:
            try:
                metadata.update({kk: vv for kk, vv in json.loads(meta0[k]).items()
                                 if kk not in ("format", "source")})
            except (TypeError, ValueError, AttributeError, RecursionError):
                raise CposimError(f"{k} is not a JSON object", file=str(files[0][1]),
                                  line=1, field=k) from None
    return Trace(world, programs, groups, metadata).validate(prefix)


def _check_deps(ops: list[Op], src: str, lines: dict[int, int]) -> None:
    ids = {op.id for op in ops}
    for op in ops:
        for d in op.deps:
            if d not in ids:
                raise CposimError(f"node {op.id} depends on missing node {d}", file=src,
                                  line=lines[op.id], field="data_deps")
    stuck = stuck_ops(ops)          # a cycle is reported at its first line in the file
    if stuck:
        first = min(stuck, key=lambda i: lines[i])
        raise CposimError(f"dependency cycle through node {first}", file=src,
                          line=lines[first], field="data_deps")


def _groups(meta: dict, rank_ops: dict[int, list[Op]], world: int, src: str) -> dict:
    if "cposim_groups" in meta:
        try:
            table = json.loads(meta["cposim_groups"])
            out = {str(name): Group(str(name), np.asarray(m, dtype=np.int64))
                   for name, m in table.items()}
            if any(g.members.ndim != 2 for g in out.values()):
                raise ValueError("members must be a 2-D table")
            return out
        except (TypeError, ValueError, AttributeError, OverflowError, RecursionError) as exc:
            raise CposimError(f"cposim_groups is not a group table: {exc}", file=src,
                              line=1, field="cposim_groups") from None
    users: dict[str, set[int]] = OrderedDict()
    for rank, ops in rank_ops.items():
        for op in ops:
            if op.group is not None and op.group != "world":
                users.setdefault(op.group, set()).add(rank)
    return {name: Group(name, np.asarray(sorted(r))[None, :]) for name, r in users.items()}


def _relative_peers(rank_ops: dict[int, list[Op]], groups: dict) -> dict[int, list[Op]]:
    """Sends and receives that name a group (``pg_name``) holding both ends get their peer
    as an offset within the communicator, as cposim's own traces give it: Chakra stores one
    absolute peer per rank, so the ranks of one pipeline stage would otherwise never have
    equal programs, and the runtime would drive each rank on its own."""
    pos: dict[str, tuple] = {}
    for name, g in groups.items():
        n, size = g.members.shape
        row = {r: i for i, r in enumerate(g.members.ravel().tolist())}
        pos[name] = (row, size)
    out = {}
    for rank, ops in rank_ops.items():
        new = []
        for op in ops:
            if op.peer is not None and op.group in pos:
                row, size = pos[op.group]
                a, b = row.get(rank), row.get(op.peer)
                if a is not None and b is not None and a // size == b // size:
                    off = (b - a) % size
                    off = off - size if off > size // 2 else off    # -1, not size - 1
                    op = dataclasses.replace(op, peer=None, peer_offset=off)
            new.append(op)
        out[rank] = new
    return out


def _merge_programs(rank_ops: dict[int, list[Op]]) -> list[Program]:
    by_ops: dict[tuple, list[int]] = OrderedDict()
    for rank, ops in sorted(rank_ops.items()):
        by_ops.setdefault(tuple(ops), []).append(rank)
    return [Program(np.asarray(ranks), list(ops), name=f"ranks{ranks[0]}"
                    + (f"-{ranks[-1]}" if len(ranks) > 1 else ""))
            for ops, ranks in by_ops.items()]


# ---------------------------------------------------------------------------- write
def _peer_of(op: Op, rank: int, trace: Trace) -> int:
    if op.peer is not None:
        return int(op.peer)
    comm = trace.groups[op.group].communicator_of(rank)
    pos = int(np.nonzero(comm == rank)[0][0])
    return int(comm[(pos + op.peer_offset) % len(comm)])


def _op_to_node(op: Op, rank: int, trace: Trace) -> dict:
    node: dict = {"id": op.id, "name": op.name}
    if op.deps:
        node["data_deps"] = list(op.deps)
    attrs = []
    if op.layer is not None:
        attrs.append({"name": "cposim_layer", "string_val": op.layer})
    if op.phase is not None:
        attrs.append({"name": "cposim_phase", "string_val": op.phase})
    if op.kind == "compute":
        node["type"] = NODE_TYPES["COMP_NODE"]
        attrs.append({"name": "is_cpu_op", "bool_val": False})
        if op.duration_s is not None:
            node["duration_micros"] = int(round(op.duration_s / US))
            attrs.append({"name": "cposim_duration_s", "double_val": float(op.duration_s)})
        else:
            attrs.append({"name": "num_ops", "int64_val": int(op.flops or 0)})
            attrs.append({"name": "tensor_size", "int64_val": int(op.mem_bytes or 0)})
    elif op.kind == "collective":
        node["type"] = NODE_TYPES["COMM_COLL_NODE"]
        attrs += [{"name": "is_cpu_op", "bool_val": False},
                  {"name": "comm_type", "int64_val": COMM_TYPES[_FROM_CANON[op.collective]]},
                  {"name": "comm_size", "int64_val": int(op.size_bytes)}]
        if op.group != "world":
            attrs.append({"name": "pg_name", "string_val": op.group})
    else:
        send = op.kind == "send"
        node["type"] = NODE_TYPES["COMM_SEND_NODE" if send else "COMM_RECV_NODE"]
        peer = _peer_of(op, rank, trace)
        attrs += [{"name": "is_cpu_op", "bool_val": False},
                  {"name": "comm_src", "int32_val": rank if send else peer},
                  {"name": "comm_dst", "int32_val": peer if send else rank},
                  {"name": "comm_tag", "int32_val": int(op.tag)},
                  {"name": "comm_size", "int64_val": int(op.size_bytes)}]
        if op.group is not None:
            attrs.append({"name": "pg_name", "string_val": op.group})
    node["attr"] = attrs
    return node


def _global_meta(trace: Trace) -> dict:
    groups = {n: g.members.tolist() for n, g in trace.groups.items()}
    keep = {k: v for k, v in trace.metadata.items() if _jsonable(v)}
    return {"version": ET_VERSION, "attr": [
        {"name": "cposim_world_size", "int64_val": trace.world_size},
        {"name": "cposim_groups", "string_val": json.dumps(groups, separators=(",", ":"))},
        {"name": "cposim_metadata", "string_val": json.dumps(keep, separators=(",", ":"))}]}


def _jsonable(v) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False


def _rank_nodes(trace: Trace):
    for prog in trace.programs:
        for rank in prog.ranks.tolist():
            yield rank, [_op_to_node(op, rank, trace) for op in prog.ops]


def write_chakra_et(trace: Trace, prefix: str | Path) -> list[Path]:
    """Write ``<prefix>.<rank>.et`` for every rank; returns the paths."""
    prefix = Path(prefix)
    if prefix.suffix == ".et":
        prefix = prefix.with_suffix("")
    prefix.parent.mkdir(parents=True, exist_ok=True)
    head = encode_delimited(_global_meta(trace), "GlobalMetadata", SCHEMA)
    paths = []
    for rank, nodes in sorted(_rank_nodes(trace), key=lambda x: x[0]):
        p = prefix.parent / f"{prefix.name}.{rank}.et"
        p.write_bytes(head + b"".join(encode_delimited(n, "Node", SCHEMA) for n in nodes))
        paths.append(p)
    return paths


def _to_json_msg(obj):
    """proto-field-name dict -> MessageToJson style (camelCase, 64-bit ints as strings)."""
    if isinstance(obj, list):
        return [_to_json_msg(x) for x in obj]
    if not isinstance(obj, dict):
        return obj
    out = {}
    for k, v in obj.items():
        camel = re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), k)
        if k in ("id", "duration_micros") or k.endswith("int64_val"):
            v = str(v)
        elif k in ("data_deps", "ctrl_deps"):
            v = [str(x) for x in v]
        elif k == "type" and isinstance(v, int):
            v = SCHEMA.enum_name("NodeType", v)
        else:
            v = _to_json_msg(v)
        out[camel] = v
    return out


def write_chakra_json(trace: Trace, prefix: str | Path) -> list[Path]:
    """Write ``<prefix>.<rank>.json`` in the ``chakra_jsonizer`` form (one JSON object for the
    GlobalMetadata, then one per node, concatenated)."""
    prefix = Path(prefix)
    for suf in (".json", ".chakra"):
        if prefix.name.endswith(suf):
            prefix = prefix.with_name(prefix.name[: -len(suf)])
    prefix.parent.mkdir(parents=True, exist_ok=True)
    head = json.dumps(_to_json_msg(_global_meta(trace)), indent=2)
    paths = []
    for rank, nodes in sorted(_rank_nodes(trace), key=lambda x: x[0]):
        p = prefix.parent / f"{prefix.name}.{rank}.json"
        p.write_text(head + "".join(json.dumps(_to_json_msg(n), indent=2) for n in nodes))
        paths.append(p)
    return paths
