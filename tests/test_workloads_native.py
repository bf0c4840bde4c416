"""The native trace format: round trips, schema, strictness, errors with file and field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sim.errors import CposimError
from workloads.io import read_trace, write_trace
from workloads.native import (SCHEMA_PATH, _ranks_from_model, _ranks_to_json, dumps,
                              from_document, json_schema, read_native, to_document)
from workloads.readers.astra_text import read_astra_text
from workloads.trace import Group, Op, Program, Trace

PEER = Path(__file__).parent / "data" / "peer-workloads"  # copies with origins: README.md there


def _same(a: Trace, b: Trace) -> None:
    assert a.world_size == b.world_size
    assert a.metadata == b.metadata
    assert list(a.groups) == list(b.groups)
    for n in a.groups:
        assert np.array_equal(a.groups[n].members, b.groups[n].members)
    assert len(a.programs) == len(b.programs)
    for p, q in zip(a.programs, b.programs):
        assert np.array_equal(p.ranks, q.ranks) and p.name == q.name
        assert p.ops == q.ops  # frozen dataclasses: field-by-field equality


def _rich() -> Trace:
    ops = [Op(0, "compute", "c", duration_s=1.5e-6, layer="L0", phase="fwd"),
           Op(1, "compute", "roof", deps=(0,), flops=2e12, mem_bytes=3e9),
           Op(2, "collective", "a2a", deps=(1,), collective="alltoall", group="g",
              size_bytes=96.0, split_bytes=(16.0, 32.0, 48.0), algorithm="direct"),
           Op(3, "send", deps=(2,), group="g", peer_offset=1, size_bytes=8, tag=3),
           Op(4, "recv", deps=(2,), peer=0, size_bytes=8, tag=4)]
    progs = [Program(np.array([0, 2, 4]), ops, "even"),
             Program(np.array([1, 3, 5]), [Op(0, "compute", duration_s=0.0)], "odd")]
    return Trace(6, progs, {"g": Group("g", np.arange(6).reshape(2, 3))},
                 {"note": "hand-made", "nested": {"a": [1, 2]}}).validate()


def test_roundtrip_handmade(tmp_path):
    t = _rich()
    p = write_trace(t, tmp_path / "t.cposim.json")[0]
    t2 = read_trace(p)
    _same(t, t2)
    p2 = write_trace(t2, tmp_path / "t2.cposim.json")[0]
    assert dumps(read_trace(p2)) == p2.read_text()  # a fixed point after one trip


@pytest.mark.parametrize("name", ["astra-sim-1.0/Resnet50_DataParallel.txt",
                                  "astra-sim-1.0/DLRM_HybridParallel.txt",
                                  "aicb/G13B-M1-C01_GPT13B_megatron_tp8_pp1_mbs1_A100.txt",
                                  "simai/microAllReduce.txt"])
def test_roundtrip_peer_files(name, tmp_path):
    t = read_trace(PEER / name)
    _same(t, read_trace(write_trace(t, tmp_path / "x.cposim.json")[0]))


def test_roundtrip_pipeline_trace(tmp_path):
    text = ("HYBRID_TRANSFORMER model_parallel_NPU_group: 2 pp: 4 ga: 2 all_gpus: 16 "
            "pp_comm 100\n1\nL -1 1 ALLREDUCE 8 1 NONE 0 1 ALLREDUCE 8 1\n")
    t = read_astra_text(text=text)
    _same(t, read_trace(write_trace(t, tmp_path / "p.json")[0]))


def test_rank_ranges_compact_and_exact():
    for ranks in ([0, 1, 2, 3], [0, 2, 4, 6, 7], [5], [], [3, 2, 1], list(range(0, 16384, 8))):
        j = _ranks_to_json(np.array(ranks, dtype=np.int64))
        from workloads.native import ProgramModel
        m = ProgramModel.model_validate({"ranks": j, "ops": []})
        assert _ranks_from_model(m.ranks).tolist() == ranks
    assert _ranks_to_json(np.arange(16384)) == [{"start": 0, "stop": 16384}]


def test_large_data_parallel_trace_is_small(tmp_path):
    small = read_trace(PEER / "astra-sim-1.0/Resnet50_DataParallel.txt", world_size=8)
    big = read_trace(PEER / "astra-sim-1.0/Resnet50_DataParallel.txt", world_size=16384)
    a = write_trace(small, tmp_path / "a.cposim.json")[0].stat().st_size
    b = write_trace(big, tmp_path / "b.cposim.json")[0].stat().st_size
    assert b < a + 200_000  # only the world group's member list grows


def test_schema_file_is_current():
    assert json.loads(SCHEMA_PATH.read_text()) == json.loads(json.dumps(json_schema()))


def test_misspelled_key_is_an_error(tmp_path):
    doc = to_document(_rich())
    doc["programs"][0]["ops"][0]["duration"] = 1.0
    with pytest.raises(CposimError, match=r"programs\.0\.ops\.0\.duration"):
        from_document(doc, "x.json")
    doc = to_document(_rich())
    doc["version"] = 2
    with pytest.raises(CposimError, match="version"):
        from_document(doc, "x.json")


@pytest.mark.parametrize("mutate, msg", [
    (lambda d: d["programs"][0]["ops"][1].update(deps=[7]), "missing op id 7"),
    (lambda d: d["programs"][0]["ops"][0].update(deps=[1]), "cycle"),
    (lambda d: d["programs"][0]["ops"][0].update(duration_s=-1.0), "greater than or equal"),
    (lambda d: d["programs"][0]["ops"][2].update(group="nope"), "unknown group"),
    (lambda d: d["programs"][1].update(ranks=[0]), "more than one program"),
    (lambda d: d["groups"]["g"].update(members=[[0, 1], [2]]), "equal-length"),
])
def test_invalid_documents(mutate, msg):
    doc = to_document(_rich())
    mutate(doc)
    with pytest.raises(CposimError, match=msg) as ei:
        from_document(doc, "bad.json")
    assert ei.value.file == "bad.json"


def test_bad_json_names_line(tmp_path):
    p = tmp_path / "t.cposim.json"
    p.write_text('{\n "format": "cposim-trace",\n "version": 1,\n oops\n}')
    with pytest.raises(CposimError) as ei:
        read_native(p)
    assert ei.value.line == 4 and ei.value.file == str(p)


def test_errors_name_the_line_of_the_op(tmp_path):
    text = dumps(_rich())
    lines = text.splitlines()
    k = next(i for i, ln in enumerate(lines) if '"id": 3, "kind": "send"' in ln)
    for old, new, want in [('"deps": [2], "group": "g"', '"deps": [9], "group": "g"', "missing"),
                           ('"tag": 3}', '"tag": 3, "tga": 1}', "tga")]:
        bad = lines.copy()
        bad[k] = bad[k].replace(old, new)
        p = tmp_path / "bad.cposim.json"
        p.write_text("\n".join(bad))
        with pytest.raises(CposimError, match=want) as ei:
            read_native(p)
        assert ei.value.line == k + 1 and ei.value.file == str(p)
    cyc = lines.copy()
    j = next(i for i, ln in enumerate(lines) if '"id": 0, "kind": "compute", "name": "c"' in ln)
    cyc[j] = cyc[j].replace('"name": "c"', '"name": "c", "deps": [4]')
    p.write_text("\n".join(cyc))
    with pytest.raises(CposimError, match="cycle") as ei:
        read_native(p)
    assert ei.value.line == j + 1


def test_rank_ids_beyond_64_bits_are_a_clear_error(tmp_path):
    """JSON integers have no size limit; numpy's int64 does (found by hypothesis)."""
    doc = {"format": "cposim-trace", "version": 1, "world_size": 2,
           "groups": {"g": {"members": [[0, 2 ** 63]]}},
           "programs": [{"ranks": [0, 1], "ops": []}]}
    path = tmp_path / "big.cposim.json"
    path.write_text(json.dumps(doc, indent=1))
    with pytest.raises(CposimError, match="below 2\\*\\*63") as err:
        read_trace(path)
    assert err.value.field == "groups.g.members" and "big.cposim.json" in str(err.value)
