"""The fast protobuf decoder against the plain one: the same messages and the same errors,
on random Chakra nodes (every attribute type) and on random corruptions of their bytes."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.readers.protowire import (WireError, decode, decode_plain, decode_stream,
                                         encode, encode_delimited, load_schema)

S = load_schema()
I64 = st.integers(-2**63, 2**63 - 1)
U64 = st.integers(0, 2**64 - 1)
I32 = st.integers(-2**31, 2**31 - 1)
U32 = st.integers(0, 2**32 - 1)
F64 = st.floats(allow_nan=False)
F32 = st.floats(width=32, allow_nan=False)
TXT = st.text(max_size=12)
SCALAR = {"double": F64, "float": F32, "int32": I32, "int64": I64, "uint32": U32,
          "uint64": U64, "sint32": I32, "sint64": I64, "fixed32": U32, "fixed64": U64,
          "sfixed32": I32, "sfixed64": I64, "bool": st.booleans(), "string": TXT,
          "bytes": st.binary(max_size=8)}


def _attr():
    kinds = []
    for t, s in SCALAR.items():
        kinds.append(st.tuples(st.just(f"{t}_val"), s))
        lst = st.lists(s, max_size=4).map(lambda v: {"values": v})
        kinds.append(st.tuples(st.just(f"{t}_list"), lst))
    return st.builds(lambda name, kv: {"name": name, kv[0]: kv[1]},
                     st.sampled_from(["comm_type", "pg_name", "comm_size", "is_cpu_op", "x"]),
                     st.one_of(kinds))


NODE = st.fixed_dictionaries(
    {"id": U64, "name": TXT, "type": st.integers(0, 8)},
    optional={"data_deps": st.lists(U64, max_size=4), "ctrl_deps": st.lists(U64, max_size=3),
              "duration_micros": U64, "attr": st.lists(_attr(), max_size=6)})




@settings(max_examples=300, deadline=None)
@given(st.lists(NODE, min_size=1, max_size=6))
def test_fast_decoder_equals_the_plain_one(nodes):
    buf = b"".join(encode_delimited(n, "Node", S) for n in nodes)
    fast = [m for _, _, m in decode_stream(buf, ["Node"], S, shared=True)]
    plain = []
    for n in nodes:
        b = encode(n, "Node", S)
        plain.append(decode_plain(b, "Node", S))
        assert decode(b, "Node", S) == plain[-1]
    assert fast == plain
    # the values survive the round trip (floats as their width allows)
    for n, m in zip(nodes, plain):
        assert m.get("id", 0) == n["id"] and m.get("data_deps", []) == n.get("data_deps", [])
        for a, b in zip(n.get("attr", []), m.get("attr", [])):
            (k, v), = ((k, v) for k, v in a.items() if k != "name")
            got = b.get(k)
            if k.startswith("float"):
                continue
            if isinstance(v, dict):
                assert (got or {}).get("values", []) == v["values"]
            elif v:                                  # defaults are not written
                assert got == v


def _outcome(fn, buf):
    try:
        return ("ok", fn(buf, "Node", S))
    except WireError as e:
        return ("err", e.message, e.offset)
    except (ValueError, OverflowError) as e:
        return ("exc", type(e).__name__)


@settings(max_examples=400, deadline=None)
@given(NODE, st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1,
                      max_size=4), st.integers(0, 10**6))
def test_corrupted_bytes_fail_the_same_way(node, flips, cut):
    b = bytearray(encode(node, "Node", S))
    for at, val in flips:
        if b:
            b[at % len(b)] = val
    b = bytes(b[:cut % (len(b) + 1)])
    fast, plain = _outcome(decode, b), _outcome(decode_plain, b)
    if fast[0] == "ok" and plain[0] == "ok":
        assert _nan_equal(fast[1], plain[1])
    else:
        assert fast == plain


def _nan_equal(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_nan_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_nan_equal(x, y) for x, y in zip(a, b))
    return a == b


def test_shared_nested_messages_only_when_asked():
    n = {"id": 1, "attr": [{"name": "pg_name", "string_val": "tp"}]}
    buf = encode_delimited(n, "Node", S) * 2
    a, b = [m for _, _, m in decode_stream(buf, ["Node"], S)]
    assert a["attr"][0] is not b["attr"][0]
    a, b = [m for _, _, m in decode_stream(buf, ["Node"], S, shared=True)]
    assert a["attr"][0] is b["attr"][0] and a == b
