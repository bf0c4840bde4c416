"""`cposim trace info|convert|generate` end to end through the CLI entry point."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sim.cli import main

PEER = Path(__file__).parent / "data" / "peer-workloads"  # copies with origins: README.md there


def info(capsys, *args) -> dict:
    assert main(["trace", "info", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_micro_allreduce(capsys):
    s = info(capsys, PEER / "astra-sim-1.0" / "microAllReduce.txt")
    assert s["format"] == "astra-sim-1.0" and s["parallelism"] == "MICRO"
    assert s["world_size"] == 8 and s["ranks"] == "0-7" and s["layers"] == 1
    assert s["ops_by_kind"] == {"collective": 1, "compute": 3}
    assert s["bytes_by_collective"] == {"allreduce": 1048576}
    assert s["bytes_by_group"] == {"world": 1048576}
    assert s["total_bytes_by_collective"] == {"allreduce": 8 * 1048576}
    assert s["compute_s_per_rank"] == pytest.approx(15e-9)


def test_info_resnet_counts_match_file(capsys):
    path = PEER / "astra-sim-1.0" / "Resnet50_DataParallel.txt"
    rows = [ln.split() for ln in path.read_text().splitlines()[2:] if ln.strip()]
    s = info(capsys, path, "--world-size", 16)
    assert s["layers"] == int(path.read_text().splitlines()[1]) == len(rows) == 54
    assert s["bytes_by_collective"] == {"allreduce": sum(int(r[10]) for r in rows)}
    assert s["world_size"] == 16 and s["collectives_by_type"] == {"allreduce": 54}


def test_info_gpt13b_and_simai(capsys):
    path = PEER / "aicb" / "G13B-M1-C01_GPT13B_megatron_tp8_pp1_mbs1_A100.txt"
    rows = [ln.split() for ln in path.read_text().splitlines()[2:] if ln.strip()]
    s = info(capsys, path)
    assert s["layers"] == 92 and s["header"]["tp"] == 8
    want = {}
    for r in rows:
        for t, n in ((r[3], r[4]), (r[6], r[7]), (r[9], r[10])):
            if t != "NONE":
                want[t.lower()] = want.get(t.lower(), 0) + int(n)
    assert s["bytes_by_collective"] == want
    s = info(capsys, PEER / "simai" / "microAllReduce.txt")
    assert s["header"]["all_gpus"] == 8 and s["groups"]["tp"] == {"size": 8, "communicators": 1}


@pytest.mark.parametrize("rel", [f"{p.parent.name}/{p.name}" for p in sorted(
    PEER.glob("*/*.txt"))])
def test_info_every_peer_file(capsys, rel):
    """Layer count and bytes by type, expectations computed from the file text."""
    from test_workloads_readers import _expected_bytes, _file_rows

    path = PEER / rel
    _, declared, rows = _file_rows(path)
    s = info(capsys, path)
    assert s["layers"] == declared == len(rows)
    assert s["bytes_by_collective"] == _expected_bytes(path)


def test_info_table_is_readable(capsys):
    assert main(["trace", "info", str(PEER / "astra-sim-1.0" / "DLRM_HybridParallel.txt")]) == 0
    out = capsys.readouterr().out
    assert "HYBRID_DLRM" in out and "alltoall" in out and "world size    8" in out


@pytest.mark.parametrize("out_name, n_files", [("t.cposim.json", 1), ("t.et", 8),
                                                ("t.chakra.json", 8)])
def test_convert_and_back(tmp_path, capsys, out_name, n_files):
    src = tmp_path / "in.txt"
    src.write_text("HYBRID_TRANSFORMER model_parallel_NPU_group: 2 pp: 2 ga: 2 all_gpus: 8 "
                   "pp_comm 64\n2\na -1 10 ALLREDUCE 100 10 ALLREDUCE 100 10 ALLREDUCE 50 1\n"
                   "b -1 10 ALLGATHER 30 10 NONE 0 10 REDUCESCATTER 60 1\n")
    before = info(capsys, src)
    assert main(["trace", "convert", str(src), str(tmp_path / out_name)]) == 0
    assert "->" in capsys.readouterr().out
    files = [p for p in tmp_path.iterdir() if p.name != "in.txt"]
    assert len(files) == n_files
    target = tmp_path / out_name if n_files == 1 else tmp_path / "t"
    after = info(capsys, target)
    for k in ("world_size", "ops_by_kind", "bytes_by_collective", "bytes_by_group",
              "p2p_bytes", "layers", "parallelism", "compute_s_per_rank"):
        assert after[k] == pytest.approx(before[k]) if isinstance(before[k], float) \
            else after[k] == before[k], k
    assert before["p2p_bytes"] == {"recv": 2 * 64, "send": 2 * 64}  # ga=2 each way per stage


def test_bad_input_is_one_line_exit_2(tmp_path, capsys):
    p = tmp_path / "w.txt"
    p.write_text("DATA\n2\nconv -1 1 NONE 0 1 NONE 0 1 ALLREDUCE 1 1\n")
    assert main(["trace", "info", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{p}:3" in err and "truncated" in err
    assert main(["trace", "info", str(tmp_path / "nope.txt")]) == 2
    assert main(["trace", "convert", str(p), str(tmp_path / "x.bin")]) == 2
    assert main(["trace", "info", str(p), "--dims", "a,b"]) == 2


def test_generate_missing_module_says_so(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "workloads.generator.cli", None)  # import fails
    assert main(["trace", "generate", "--model", "x"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "generator is not available" in err[0]


def test_generate_delegates(monkeypatch, tmp_path, capsys):
    import types

    from workloads.readers.astra_text import read_astra_text

    fake = types.ModuleType("workloads.generator.cli")
    fake.add_arguments = lambda p: p.add_argument("--layers", type=int, required=True)
    fake.generate_from_args = lambda a: read_astra_text(
        text="DATA\n%d\n" % a.layers + "l -1 1 NONE 0 1 NONE 0 1 ALLREDUCE 8 1\n" * a.layers)
    monkeypatch.setitem(sys.modules, "workloads.generator.cli", fake)
    out = tmp_path / "g.cposim.json"
    assert main(["trace", "generate", "--layers", "3", "--out", str(out), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["layers"] == 3 and out.is_file()
    assert info(capsys, out)["bytes_by_collective"] == {"allreduce": 24}
