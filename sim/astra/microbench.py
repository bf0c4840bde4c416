"""Write Chakra ETs in ASTRA-sim's layout with cposim's own protobuf writer.

``write_microbenchmark`` produces, byte for byte, the files ASTRA-sim ships as
``examples/workload/microbenchmarks/<op>/<n>npus_<s>MB/<op>.<i>.et`` (generated there by
``generator_scripts/<op>.py``): a ``GlobalMetadata{version: "0.0.4"}`` then one
``COMM_COLL_NODE`` with ``id = i``, ``name = "<op>_<n>npus_<s>MB"`` and the attributes
``is_cpu_op = false``, ``comm_type``, ``comm_size`` (bytes, the same in every file).
``write_et`` writes any list of nodes (proto field names, as ``workloads/readers/protowire``
encodes them) — handy for hand-made DAGs.
"""

from __future__ import annotations

from pathlib import Path

OPS = {"all_reduce": 0, "all_gather": 2, "all_to_all": 6, "reduce_scatter": 7}
ET_VERSION = "0.0.4"
MB = 1 << 20


def encode_et(nodes: list[dict], version: str = ET_VERSION) -> bytes:
    from workloads.readers.chakra import SCHEMA
    from workloads.readers.protowire import encode_delimited

    return encode_delimited({"version": version}, "GlobalMetadata", SCHEMA) + b"".join(
        encode_delimited(n, "Node", SCHEMA) for n in nodes)


def write_et(path: str | Path, nodes: list[dict]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(encode_et(nodes))
    return p


def coll_node(nid: int, name: str, comm_type: int, size_bytes: int, **extra) -> dict:
    """A ``COMM_COLL_NODE`` as ASTRA-sim's generator scripts write it (extra attributes, e.g.
    ``involved_dim`` or ``pg_name``, and node fields such as ``data_deps`` may be added)."""
    attrs = [{"name": "is_cpu_op", "bool_val": False},
             {"name": "comm_type", "int64_val": comm_type},
             {"name": "comm_size", "int64_val": size_bytes}]
    node: dict = {"id": nid, "name": name, "type": 7}
    for k, v in extra.items():
        if k in ("data_deps", "ctrl_deps", "duration_micros"):
            node[k] = v
        else:
            attrs.append(v)
    node["attr"] = attrs
    return node


def write_microbenchmark(prefix: str | Path, op: str, npus: int, size_bytes: int,
                         name: str | None = None) -> list[Path]:
    """``<prefix>.<i>.et`` for i < npus: one collective ``op`` of ``size_bytes``."""
    if op not in OPS:
        raise ValueError(f"unknown op {op!r}; choose from {', '.join(OPS)}")
    if name is None:
        size = f"{size_bytes // MB}MB" if size_bytes % MB == 0 else f"{size_bytes}B"
        name = f"{op}_{npus}npus_{size}"
    prefix = Path(prefix)
    return [write_et(prefix.parent / f"{prefix.name}.{i}.et",
                     [coll_node(i, name, OPS[op], size_bytes)]) for i in range(npus)]


def write_network(path: str | Path, topology, npus_count, bandwidth, latency) -> Path:
    """A network YAML in the layout of ASTRA-sim's ``examples/network/analytical/*.yml``."""
    def row(xs) -> str:
        return ", ".join(str(x) for x in xs)

    p = Path(path)
    p.write_text(f"topology: [ {row(topology)} ]\nnpus_count: [ {row(npus_count)} ]\n"
                 f"bandwidth: [ {row(bandwidth)} ]  # GB/s\nlatency: [ {row(latency)} ]  # ns\n")
    return p


def write_system(path: str | Path, impl="ring", **keys) -> Path:
    """A system JSON like ASTRA-sim's ``examples/system/native_collectives/*.json``: LIFO,
    localBWAware, 4 splits, 1 active chunk, endpoint-delay 10, local-mem-bw 50 and ``impl``
    (a name or a per-dimension list) for all four collectives; ``keys`` (``_`` for ``-``)
    override or, with the value None, remove a key."""
    import json

    impls = [impl] if isinstance(impl, str) else list(impl)
    raw = {"scheduling-policy": "LIFO", "endpoint-delay": 10, "active-chunks-per-dimension": 1,
           "preferred-dataset-splits": 4, "collective-optimization": "localBWAware",
           "local-mem-bw": 50}
    for op in ("all-reduce", "reduce-scatter", "all-gather", "all-to-all"):
        raw[f"{op}-implementation"] = impls
    for k, v in keys.items():
        k = k.replace("_", "-")
        if v is None:
            raw.pop(k, None)
        else:
            raw[k] = v
    p = Path(path)
    p.write_text(json.dumps(raw, indent=4))
    return p
