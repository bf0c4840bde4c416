"""protowire against the ``protobuf`` package as the reference decoder of Chakra ``.et``.

cposim reads ``.et`` files with its own pure-Python decoder (:mod:`workloads.readers.protowire`):
measured against protobuf (upb) it is as fast end to end on a 1,024-rank trace, see
``experiments/bench_chakra_decode.py``. Here protobuf, with message classes built from the
shipped ``chakra_et_def.proto``, decodes the same bytes for comparison: a written trace, and
random nodes with every attribute type in both directions. Skipped without protobuf (it is in
the ``dev`` extra, not a dependency).
"""

import pytest

pytest.importorskip("google.protobuf")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from experiments.bench_chakra_decode import (PROTO, ProtobufDecoder,  # noqa: E402
                                             file_descriptor, message_classes)
from workloads.readers.chakra import decode_et_file, write_chakra_et  # noqa: E402
from workloads.readers.protowire import (decode, decode_stream, encode,  # noqa: E402
                                         encode_delimited, load_schema, read_varint)

S = load_schema()
PB = message_classes()


def _plain(msg) -> dict:
    """protobuf message -> protowire's form, field by field (set fields, lists for repeated)."""
    out = {}
    for fd, v in msg.ListFields():
        rep = fd.is_repeated if hasattr(fd, "is_repeated") else fd.label == fd.LABEL_REPEATED
        if fd.message_type is not None:
            out[fd.name] = [_plain(x) for x in v] if rep else _plain(v)
        else:
            out[fd.name] = list(v) if rep else v
    return out


def _reference(buf: bytes) -> tuple[dict, list[tuple[int, dict]]]:
    """``decode_et_file``'s result, by protobuf: one ``FromString`` per delimited message."""
    meta, nodes, pos, i = {}, [], 0, 0
    while pos < len(buf):
        ln, pos = read_varint(buf, pos)
        cls = PB["GlobalMetadata"] if i == 0 else PB["Node"]
        m = _plain(cls.FromString(buf[pos:pos + ln]))
        if i == 0:
            meta = m
        else:
            nodes.append((i + 1, m))
        pos += ln
        i += 1
    return meta, nodes


def test_message_classes_follow_the_shipped_proto():
    assert file_descriptor().package == "ChakraProtoMsg" and PROTO.is_file()
    for name, msg in S.messages.items():
        d = PB[name].DESCRIPTOR
        assert {f.number: (f.name, f.containing_oneof and f.containing_oneof.name)
                for f in d.fields} == {n: (f.name, f.oneof) for n, f in msg.fields.items()}
    t = PB["Node"].DESCRIPTOR.fields_by_name["type"].enum_type
    assert {v.name: v.number for v in t.values} == S.enums["NodeType"]


@pytest.fixture(scope="module")
def et_files(tmp_path_factory):
    from workloads.generator.llm import generate

    t = generate("llama3-8b", gpus=8, tp=2, pp=2, global_batch=4, micro_batch=1)
    return write_chakra_et(t, tmp_path_factory.mktemp("et") / "small")


def test_written_trace_decodes_identically(et_files):
    pb = ProtobufDecoder()
    kinds = set()
    for f in et_files:
        buf = f.read_bytes()
        ours = decode_et_file(f)
        assert ours == _reference(buf)
        assert ours == pb.decode(buf)              # the benchmark's fast conversion, too
        assert ours[0]["version"] and len(ours[1]) > 100
        kinds.update(n.get("type", 0) for _, n in ours[1])
    assert kinds >= {4, 5, 6, 7}                   # compute, send, recv, collective


I64 = st.integers(-2**63, 2**63 - 1)
U64 = st.integers(0, 2**64 - 1)
I32 = st.integers(-2**31, 2**31 - 1)
U32 = st.integers(0, 2**32 - 1)
SCALAR = {"double": st.floats(allow_nan=False), "float": st.floats(width=32, allow_nan=False),
          "int32": I32, "int64": I64, "uint32": U32, "uint64": U64, "sint32": I32,
          "sint64": I64, "fixed32": U32, "fixed64": U64, "sfixed32": I32, "sfixed64": I64,
          "bool": st.booleans(), "string": st.text(max_size=12),
          "bytes": st.binary(max_size=8)}


def _attr():
    kinds = []
    for t, s in SCALAR.items():
        kinds.append(st.tuples(st.just(f"{t}_val"), s))
        kinds.append(st.tuples(st.just(f"{t}_list"),
                               st.lists(s, max_size=4).map(lambda v: {"values": v})))
    return st.builds(lambda name, kv: {"name": name, kv[0]: kv[1]},
                     st.sampled_from(["comm_type", "pg_name", "comm_size", "é", ""]),
                     st.one_of(kinds))


NODE = st.fixed_dictionaries(
    {"id": U64, "name": st.text(max_size=12), "type": st.integers(0, 10)},
    optional={"data_deps": st.lists(U64, max_size=4), "ctrl_deps": st.lists(U64, max_size=3),
              "start_time_micros": U64, "duration_micros": U64,
              "inputs": st.fixed_dictionaries({}, optional={"values": st.text(max_size=6),
                                                            "shapes": st.text(max_size=6)}),
              "attr": st.lists(_attr(), max_size=6)})


@settings(max_examples=200, deadline=None)
@given(st.lists(NODE, min_size=1, max_size=5))
def test_random_nodes_both_ways(nodes):
    buf = b"".join(encode_delimited(n, "Node", S) for n in nodes)
    ours = [m for _, _, m in decode_stream(buf, ["Node"], S, shared=True)]
    for n, m in zip(nodes, ours):
        ref = PB["Node"].FromString(encode(n, "Node", S))
        assert m == _plain(ref)                                  # protobuf reads our bytes
        wire = ref.SerializeToString()
        assert wire == encode(n, "Node", S)                      # and writes the same ones
        assert decode(wire, "Node", S) == m
