"""Property tests: random and mutated inputs make every reader either succeed or raise
CposimError — never another exception, never a hang."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.errors import CposimError
from workloads.io import read_trace
from workloads.native import dumps
from workloads.readers.astra_text import PARALLELISMS, read_astra_text
from workloads.readers.chakra import write_chakra_et

PEER = Path(__file__).parent / "data" / "peer-workloads"  # copies with origins: README.md there
SEEDS = [p.read_text() for p in sorted(PEER.glob("*/*.txt"))]
SEEDS += [  # synthetic seeds beside the peer files: more header options and parallelisms
    "MICRO\n1\nconv1 -1 5 NONE 0 5 NONE 0 5 ALLREDUCE 1048576 5\n",
    "HYBRID_TRANSFORMER_FWD_IN_BCKWD model_parallel_NPU_group: 2 ep: 2 pp: 2 vpp: 1 ga: 2 "
    "all_gpus: 16 checkpoints: 1 0 checkpoint_initiates: 1 1 pp_comm 64\n2\n"
    "a -1 1 ALLREDUCE 8 1 ALLTOALL_EP 8 1 ALLGATHER_DP_EP 8 1\n"
    "b -1 1 BROADCAST 8 1 NONE 0 1 REDUCESCATTER 8 1\n",
    "HYBRID_DLRM 1\n3\ne -1 3 ALLTOALL 9 3 ALLTOALL 9 3 NONE 0 9\n"
    "m -1 1 NONE 0 1 NONE 0 1 ALLREDUCE 4 1\nt -1 1 NONE 0 1 NONE 0 1 ALLREDUCE 4 1\n",
    "HYBRID_CUSTOMIZED\n2\na -1 1 ALLREDUCE 1 1 NONE 0 1 ALLREDUCE 1 1 HYBRID_DATA_MODEL\n"
    "b -1 1 NONE 0 1 NONE 0 1 ALLREDUCE 1 1 DATA\n",
]
TOKENS = list(PARALLELISMS) + ["NONE", "ALLREDUCE", "ALLTOALL_EP", "ALLGATHER_DP_EP",
                               "BROADCAST", "-1", "0", "1", "7", "99999999999", "-5", "x",
                               "model_parallel_NPU_group:", "pp:", "ga:", "all_gpus:",
                               "checkpoints:", "checkpoint_initiates:", "pp_comm", "\t",
                               "\r\n", "\n", " ", "3.5", "1e3"]
PROP = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _mutate(text: str, ops: list) -> str:
    for kind, pos, tok in ops:
        i = pos % (len(text) + 1)
        if kind == 0:
            text = text[:i] + tok + text[i:]
        elif kind == 1:
            text = text[:i] + text[i + len(tok):]
        elif kind == 2:
            text = text[:i]
        else:
            words = text.split(" ")
            if words:
                words[pos % len(words)] = tok
            text = " ".join(words)
    return text


def _read_text_ok(text: str) -> None:
    try:
        t = read_astra_text(text=text, source="fuzz.txt")
    except CposimError as exc:
        assert exc.file == "fuzz.txt" and "\n" not in exc.one_line()
        return
    t.validate("fuzz.txt")


@PROP
@given(st.text(alphabet=st.sampled_from(list("ADTMHYBRIDLCO_ -0123456789\t\r\nx:")),
               max_size=300))
def test_random_text(text):
    _read_text_ok(text)


@PROP
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 3), st.integers(0, 10_000),
                                                  st.sampled_from(TOKENS)), max_size=4))
def test_mutated_text(seed, ops):
    _read_text_ok(_mutate(seed, ops))


@pytest.fixture(scope="module")
def et_seed(tmp_path_factory):
    d = tmp_path_factory.mktemp("et")
    t = read_astra_text(text=[s for s in SEEDS if "pp_comm" in s][0], source="s")
    paths = write_chakra_et(t, d / "seed")
    return paths[0].read_bytes()


def _read_bytes_ok(tmp_path, data: bytes, name: str) -> None:
    p = tmp_path / name
    p.write_bytes(data)
    try:
        read_trace(p)
    except CposimError as exc:
        assert "\n" not in exc.one_line() and exc.file is not None
    finally:
        p.unlink()


@PROP
@given(st.binary(max_size=400))
def test_random_et_bytes(tmp_path_factory, data):
    _read_bytes_ok(tmp_path_factory.mktemp("r"), data, "r.0.et")


@PROP
@given(st.data())
def test_mutated_et_bytes(tmp_path_factory, et_seed, data):
    buf = bytearray(et_seed)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.integers(0, 2))
        i = data.draw(st.integers(0, len(buf) - 1))
        if kind == 0:
            buf[i] = data.draw(st.integers(0, 255))
        elif kind == 1:
            del buf[i:]
        else:
            buf[i:i] = data.draw(st.binary(min_size=1, max_size=8))
        if not buf:
            break
    _read_bytes_ok(tmp_path_factory.mktemp("m"), bytes(buf), "m.0.et")


JSONV = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
                     | st.text(max_size=5),
                     lambda c: st.lists(c, max_size=4) | st.dictionaries(
                         st.sampled_from(["id", "name", "type", "dataDeps", "attr", "int64Val",
                                          "version", "workload_graph", "Id", "NodeType",
                                          "comm_size", "runtime", "format", "programs"]),
                         c, max_size=4), max_leaves=20)


@PROP
@given(JSONV)
def test_random_json(tmp_path_factory, value):
    text = json.dumps(value)
    _read_bytes_ok(tmp_path_factory.mktemp("j"), text.encode(), "j.0.json")


@PROP
@given(st.sampled_from(SEEDS[-4:]), st.data())
def test_mutated_native(tmp_path_factory, seed, data):
    text = dumps(read_astra_text(text=seed, source="s"))
    doc = json.loads(text)
    # replace one value somewhere in the document by a random JSON value
    node, path = doc, []
    for _ in range(data.draw(st.integers(1, 5))):
        if isinstance(node, dict) and node:
            k = data.draw(st.sampled_from(sorted(node)))
        elif isinstance(node, list) and node:
            k = data.draw(st.integers(0, len(node) - 1))
        else:
            break
        path.append((node, k))
        node = node[k]
    if path:
        parent, k = path[-1]
        parent[k] = data.draw(JSONV)
    _read_bytes_ok(tmp_path_factory.mktemp("n"), json.dumps(doc).encode(), "n.cposim.json")
