"""Chakra ``.et`` decoding: cposim's pure-Python ``protowire`` against the ``protobuf`` package.

``python -m experiments.bench_chakra_decode PREFIX [--ranks N] [--repeats 3] [--no-rss]``

``PREFIX`` is a Chakra ``.et`` prefix (``<prefix>.<rank>.et``), e.g. the 1,024-rank GPT-3
TP8 x PP8 trace of the README, 1.46 M nodes (``cposim trace generate --model gpt3-175b --gpus
1024 --tp 8 --pp 8 --global-batch 128`` then ``cposim trace convert trace.cposim.json
PREFIX.et``). Each decoder turns every
rank file into what :mod:`workloads.readers.chakra` consumes — ``(global_metadata, [(message_no,
node)])`` with messages as plain dicts keyed by proto field names, unset fields absent
(:func:`workloads.readers.chakra.decode_et_file`) — and keeps all ranks in memory, as
``read_chakra`` does. Decoders:

* ``protowire``: the reader's own decoder (:func:`~workloads.readers.chakra.decode_et_file`).
* ``protobuf``: the ``protobuf`` package (upb backend where installed) with message classes
  built at run time from ``workloads/schema/chakra_et_def.proto`` (no generated ``_pb2``
  file; the descriptor equals ``protoc``'s), given its best shot: the nodes of a file parsed
  by one ``FromString``, then converted to the same dicts (:class:`ProtobufDecoder`).
* ``protobuf-parse``: the same parse without the conversion — a lower bound, not something
  the reader could use as is.

Prints, per decoder, the median (and min) of ``repeats`` wall and CPU times for all files
(runs interleaved, so a shared machine's load hits all decoders alike), nodes per wall and
per CPU second, and (unless ``--no-rss``) the peak RSS of one decode in a fresh
process; checks first that both decoders give identical content for every file. ``protobuf``
is optional: without it its columns are skipped with a message. Prints the machine.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from experiments.bench_fabric import machine
from workloads.readers.chakra import decode_et_file, rank_files
from workloads.readers.protowire import SCHEMA_DIR, Schema, WireError, load_schema, read_varint

PROTO = SCHEMA_DIR / "chakra_et_def.proto"

# proto scalar type name -> FieldDescriptorProto.Type value (descriptor.proto numbering)
_TYPE = {"double": 1, "float": 2, "int64": 3, "uint64": 4, "int32": 5, "fixed64": 6,
         "fixed32": 7, "bool": 8, "string": 9, "bytes": 12, "uint32": 13, "sfixed32": 15,
         "sfixed64": 16, "sint32": 17, "sint64": 18}
_TYPE_MESSAGE, _TYPE_ENUM = 11, 14


def protobuf_available() -> str | None:
    """None if ``google.protobuf`` imports, else why not."""
    try:
        import google.protobuf  # noqa: F401
    except ImportError as exc:
        return f"protobuf not installed ({exc}); pip install protobuf"
    return None


def protobuf_backend() -> str:
    from google.protobuf import __version__
    from google.protobuf.internal import api_implementation
    return f"protobuf {__version__} ({api_implementation.Type()})"


def file_descriptor(schema: Schema | None = None, name: str = "chakra_et_def.proto", *,
                    stream: bool = False):
    """A ``FileDescriptorProto`` of the shipped schema (messages, fields, oneofs, enums); with
    ``stream``, plus ``NodeStream {repeated Node node = 1;}`` (see ``ProtobufDecoder.parse``)."""
    from google.protobuf import descriptor_pb2

    schema = schema or load_schema()
    fdp = descriptor_pb2.FileDescriptorProto(name=name, package=schema.package,
                                             syntax="proto3")
    for ename, values in schema.enums.items():
        e = fdp.enum_type.add(name=ename)
        for vname, num in values.items():
            e.value.add(name=vname, number=num)
    for msg in schema.messages.values():
        m = fdp.message_type.add(name=msg.name)
        oneofs: dict[str, int] = {}
        for f in msg.ordered:
            fd = m.field.add(name=f.name, number=f.number, json_name=_camel(f.name))
            fd.label = fd.LABEL_REPEATED if f.repeated else fd.LABEL_OPTIONAL
            if f.type in schema.messages or f.type in schema.enums:
                fd.type = _TYPE_MESSAGE if f.type in schema.messages else _TYPE_ENUM
                fd.type_name = f".{schema.package}.{f.type}"
            else:
                fd.type = _TYPE[f.type]
            if f.oneof is not None:
                if f.oneof not in oneofs:
                    oneofs[f.oneof] = len(m.oneof_decl)
                    m.oneof_decl.add(name=f.oneof)
                fd.oneof_index = oneofs[f.oneof]
    if stream:
        m = fdp.message_type.add(name="NodeStream")
        m.field.add(name="node", number=1, type=_TYPE_MESSAGE, type_name=f".{schema.package}.Node",
                    label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED)
    return fdp


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def message_classes(schema: Schema | None = None, *, stream: bool = False) -> dict:
    """name -> protobuf message class of every message of the schema, in a private pool."""
    from google.protobuf import descriptor_pool, message_factory

    fdp = file_descriptor(schema, stream=stream)
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(fdp.SerializeToString())
    fd = pool.FindFileByName(fdp.name)
    get = getattr(message_factory, "GetMessageClass", None)    # protobuf >= 4.22
    if get is None:
        get = message_factory.MessageFactory(pool).GetPrototype
    return {name: get(d) for name, d in fd.message_types_by_name.items()}


# how ProtobufDecoder turns one field into protowire's form
_SCALAR, _FLOAT, _MESSAGE, _REP_SCALAR, _REP_MESSAGE, _REP_ATTR, _ONEOF = range(7)


class ProtobufDecoder:
    """Decode a ``.et`` file with the protobuf package into ``decode_et_file``'s form.

    The conversion is the fastest found for these nodes: per message type a plan of its fields
    (``getattr`` and a truth test — proto3 implicit presence, what ``ListFields`` reports,
    for less than ``ListFields`` costs); attributes through ``WhichOneof``, and, as
    protowire's ``shared`` decoding does, one dict per file shared by attributes equal byte for
    byte (``is_cpu_op``, ``pg_name``, ...; keyed by ``SerializeToString``, ~20 % less time
    than converting each): treat the results as read-only. ``MessageToDict`` was ~3x slower
    still."""

    def __init__(self, schema: Schema | None = None) -> None:
        self.classes = message_classes(schema, stream=True)
        self._plans: dict = {}            # message full name -> [(field, kind, oneof)]
        self._attr_memo: dict = {}        # serialized attribute -> shared attribute dict

    def _plan(self, desc) -> list:
        from google.protobuf.descriptor import FieldDescriptor as FD

        plan = []
        for f in desc.fields:
            rep = f.is_repeated if hasattr(f, "is_repeated") else f.label == f.LABEL_REPEATED
            msg = f.type == FD.TYPE_MESSAGE
            if f.containing_oneof is not None:
                kind = _ONEOF
            elif rep:
                kind = (_REP_ATTR if msg and f.message_type.name == "AttributeProto"
                        else _REP_MESSAGE if msg else _REP_SCALAR)
            else:
                kind = (_MESSAGE if msg else
                        _FLOAT if f.type in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE) else _SCALAR)
            plan.append((f.name, kind, f.containing_oneof.name if kind == _ONEOF else None))
        self._plans[desc.full_name] = plan
        return plan

    def to_dict(self, msg) -> dict:
        """Set fields only (as protowire: unset fields absent, repeated fields lists)."""
        desc = msg.DESCRIPTOR
        plan = self._plans.get(desc.full_name) or self._plan(desc)
        out = {}
        for name, kind, oneof in plan:
            if kind == _SCALAR:
                v = getattr(msg, name)
                if v:
                    out[name] = v
            elif kind == _REP_ATTR:
                v = getattr(msg, name)
                if v:
                    attr = self._attr
                    out[name] = [attr(a) for a in v]
            elif kind == _REP_SCALAR:
                v = getattr(msg, name)
                if v:
                    out[name] = list(v)
            elif kind == _REP_MESSAGE:
                v = getattr(msg, name)
                if v:
                    out[name] = [self.to_dict(x) for x in v]
            elif kind == _MESSAGE:
                if msg.HasField(name):
                    out[name] = self.to_dict(getattr(msg, name))
            elif kind == _FLOAT:               # -0.0 is set (its bits are not zero)
                v = getattr(msg, name)
                if v or math.copysign(1.0, v) < 0:
                    out[name] = v
            elif msg.WhichOneof(oneof) == name:
                v = getattr(msg, name)
                out[name] = self.to_dict(v) if hasattr(v, "DESCRIPTOR") else v
        return out

    def _attr(self, a) -> dict:
        key = a.SerializeToString()           # equal bytes, equal attribute: one dict
        d = self._attr_memo.get(key)
        if d is None:
            kind = a.WhichOneof("value")
            if kind is None or a.doc_string:
                d = self.to_dict(a)
            else:
                val = getattr(a, kind)
                if kind.endswith("_list"):
                    val = {"values": list(val.values)} if len(val.values) else {}
                d = {"name": a.name, kind: val} if a.name else {kind: val}
            self._attr_memo[key] = d
        return d

    def parse(self, buf: bytes) -> tuple:
        """(GlobalMetadata message, [(message_no, Node message)]): parse only.

        The Nodes are parsed by one ``FromString`` of the whole stream made a ``NodeStream``
        (a tag byte before each length prefix): 1.2-2.3x faster than one ``FromString`` per
        message on the 1,024-rank trace. (A reader would parse message by message after a
        ``DecodeError`` to name the bad message; not needed here.)"""
        n = len(buf)
        meta, parts = None, []
        pos, i = 0, 0
        while pos < n:
            at = pos
            ln = buf[pos]
            if ln < 0x80:
                pos += 1
            else:
                ln, pos = read_varint(buf, pos)
            if pos + ln > n:
                raise WireError(f"message {i + 1} declares {ln} bytes but only {n - pos} "
                                "remain (truncated file)", at)
            if i == 0:
                meta = self.classes["GlobalMetadata"].FromString(buf[pos:pos + ln])
            else:
                parts.append(b"\n")                       # field 1, wire type 2
                parts.append(buf[at:pos + ln])
            pos += ln
            i += 1
        nodes = self.classes["NodeStream"].FromString(b"".join(parts)).node
        return meta, list(enumerate(nodes, 2))

    def decode(self, buf: bytes) -> tuple[dict, list[tuple[int, dict]]]:
        meta, nodes = self.parse(buf)
        self._attr_memo = {}                  # per file, as protowire's
        to_dict = self.to_dict
        return (to_dict(meta) if meta is not None else {},
                [(i, to_dict(m)) for i, m in nodes])


# ---------------------------------------------------------------------------- measuring
def _decoders(pb: ProtobufDecoder | None) -> dict:
    out = {"protowire": decode_et_file}
    if pb is not None:
        out["protobuf"] = lambda p: pb.decode(Path(p).read_bytes())
        out["protobuf-parse"] = lambda p: pb.parse(Path(p).read_bytes())
    return out


def _decode_all(fn, files: list[Path]) -> tuple[list, float, float]:
    gc.collect()
    w0, c0 = time.perf_counter(), time.process_time()
    held = [fn(f) for f in files]
    return held, time.perf_counter() - w0, time.process_time() - c0


def check_identical(files: list[Path], pb: ProtobufDecoder) -> int:
    """Both decoders on every file: identical metadata and nodes. Returns the node count."""
    nodes = 0
    for f in files:
        a = decode_et_file(f)
        b = pb.decode(f.read_bytes())
        if a != b:
            for (la, na), (lb, nb) in zip(a[1], b[1]):
                if na != nb:
                    raise AssertionError(f"{f}: message {la}: protowire {na!r} != "
                                         f"protobuf {nb!r}")
            raise AssertionError(f"{f}: decoders differ (metadata or node count)")
        nodes += len(a[1])
    return nodes


def peak_rss(prefix: str, ranks: int | None, decoder: str) -> dict:
    """Peak RSS of one decode of all files in a fresh process (MiB), and of its imports."""
    cmd = [sys.executable, "-m", "experiments.bench_chakra_decode", prefix, "--rss-worker",
           decoder] + (["--ranks", str(ranks)] if ranks else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _hwm_mib() -> float:
    """This process's peak RSS. VmHWM where there is /proc: ru_maxrss carries the parent's
    peak over fork + exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_worker(files: list[Path], decoder: str) -> None:
    pb = ProtobufDecoder() if decoder.startswith("protobuf") else None
    base = _hwm_mib()
    held, wall, _ = _decode_all(_decoders(pb)[decoder], files)
    peak = _hwm_mib()
    print(json.dumps({"base_mib": round(base, 1), "peak_mib": round(peak, 1),
                      "wall_s": round(wall, 3), "files": len(held)}))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("prefix", help="Chakra .et prefix (<prefix>.<rank>.et) or one file")
    ap.add_argument("--ranks", type=int, default=None, help="only the first N rank files")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-rss", action="store_true", help="skip the fresh-process RSS runs")
    ap.add_argument("--rss-worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    _, found = rank_files(args.prefix)
    files = [p for _, p in found][: args.ranks]
    if args.rss_worker:
        _rss_worker(files, args.rss_worker)
        return 0

    print("machine:", json.dumps(machine()))
    why = protobuf_available()
    pb = None
    if why is None:
        pb = ProtobufDecoder()
        print("protobuf:", protobuf_backend())
    else:
        print(f"protobuf columns skipped: {why}")
    mib = sum(f.stat().st_size for f in files) / 2**20
    if pb is not None:
        t0 = time.perf_counter()
        nodes = check_identical(files, pb)
        print(f"identical: both decoders, {len(files)} files, {nodes:,} nodes "
              f"({time.perf_counter() - t0:.1f} s)")
    else:
        nodes = sum(len(decode_et_file(f)[1]) for f in files)
    print(f"trace: {len(files)} rank files, {mib:.1f} MiB, {nodes:,} nodes; "
          f"median of {args.repeats} runs")
    rows = {}
    decoders = _decoders(pb)
    for r in range(args.repeats):          # interleaved, so load drifts hit all decoders
        for name, fn in decoders.items():
            held, wall, cpu = _decode_all(fn, files)
            del held
            rows.setdefault(name, []).append((wall, cpu))
    head = (f"{'decoder':<16}{'wall s':>8}{'min':>7}{'cpu s':>8}{'us/node':>9}{'nodes/s':>10}"
            f"{'cpu nodes/s':>12}")
    if not args.no_rss:
        head += f"{'peak RSS MiB':>16}"
    print(head + "   vs protowire (wall, cpu)")
    base = [statistics.median(x[k] for x in rows["protowire"]) for k in (0, 1)]
    for name, runs in rows.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        line = (f"{name:<16}{wall:>8.2f}{min(w for w, _ in runs):>7.2f}{cpu:>8.2f}"
                f"{wall / nodes * 1e6:>9.2f}{nodes / wall:>10,.0f}{nodes / cpu:>12,.0f}")
        if not args.no_rss:
            rss = peak_rss(args.prefix, args.ranks, name)
            line += f"{rss['peak_mib']:>9.0f} (+{rss['peak_mib'] - rss['base_mib']:.0f})"
        if name != "protowire":
            line += f"   {base[0] / wall:.2f}x, {base[1] / cpu:.2f}x"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
