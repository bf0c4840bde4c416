"""Property tests: random and mutated bytes fed to every reader and config loader. Each
either returns a value or raises :class:`CposimError` with a one-line message naming the
file; nothing else escapes."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.config import load_toml
from sim.errors import CposimError
from sim.fabric import build_topology
from sim.study import load_study
from workloads.io import read_trace, write_trace

FUZZ = settings(max_examples=120, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NATIVE = json.dumps({
    "format": "cposim-trace", "version": 1, "world_size": 2,
    "groups": {"world": {"members": [[0, 1]]}},
    "programs": [{"name": "p", "ranks": [0, 1], "ops": [
        {"id": 0, "kind": "compute", "name": "c", "duration_s": 0.001},
        {"id": 1, "kind": "collective", "name": "ar", "deps": [0], "collective": "allreduce",
         "group": "world", "size_bytes": 1024}]}]}).encode()
ASTRA = (b"DATA\n2\n"
         b"layer1 -1 100 ALLREDUCE 1024 100 NONE 0 100 ALLREDUCE 1024 10\n"
         b"layer2 -1 100 ALLREDUCE 1024 100 NONE 0 100 ALLREDUCE 1024 10\n")
SIMAI = (b"HYBRID_TRANSFORMER_FWD_IN_BCKWD model_parallel_NPU_group: 2 ep: 1 pp: 1 vpp: 1 "
         b"ga: 1 all_gpus: 4 checkpoints: 0 checkpoint_initiates: 0\n1\n"
         b"attn -1 1000 ALLREDUCE 2048 1000 ALLREDUCE 2048 1000 ALLREDUCE 4096 100\n")
STUDY = Path(__file__).parents[1].joinpath("examples", "small-study.toml").read_bytes()
TOPOLOGY = (b'name = "t"\n[[nodes]]\nname = "gpu"\nkind = "gpu"\ncount = 2\nrack = 0\nrow = 0\n'
            b'[[nodes]]\nname = "sw0"\nkind = "switch"\ntier = "leaf"\nrack = 0\nrow = 0\n'
            b'[[links]]\na = ["gpu0", "gpu1"]\nb = "sw0"\ntier = "leaf"\nlanes = 4\n'
            b'lane_rate = "100G"\n')

_counter = itertools.count()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def chakra_et(workdir) -> bytes:
    """A valid Chakra .et rank file, written by our own converter."""
    src = workdir / "seed.cposim.json"
    src.write_bytes(NATIVE)
    files = write_trace(read_trace(src), workdir / "seed.et")
    return Path(files[0]).read_bytes()


@st.composite
def mutated(draw, seed: bytes):
    """``seed`` with a few byte flips, deletions, insertions or a truncation."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "splice"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[i:i + draw(st.integers(1, 8))]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif op == "truncate":
            del data[i:]
        else:   # a chunk of structure-significant text
            data[i:i] = draw(st.sampled_from(
                [b"nan", b"-1", b"1e400", b"{", b"]", b'"', b"\x00", b"\xff\xfe", b"[[",
                 b" = ", b"99999999999999999999", b"true", b"NaN", b"-inf"]))
    return bytes(data)


def _write(workdir: Path, data: bytes, suffix: str) -> Path:
    p = workdir / f"f{next(_counter)}{suffix}"
    p.write_bytes(data)
    return p


def _only_our_error(fn, path: Path):
    try:
        fn(path)
    except CposimError as exc:
        line = exc.one_line()
        assert "\n" not in line
        assert exc.file is not None or exc.field is not None, line
    # anything else propagates and fails the test


# -- config loaders ---------------------------------------------------------------------

@FUZZ
@given(data=st.binary(max_size=400))
def test_load_toml_random_bytes(workdir, data):
    _only_our_error(load_toml, _write(workdir, data, ".toml"))


@FUZZ
@given(data=mutated(STUDY))
def test_load_study_mutated(workdir, data):
    _only_our_error(load_study, _write(workdir, data, ".toml"))


@FUZZ
@given(data=mutated(TOPOLOGY))
def test_topology_file_mutated(workdir, data):
    _only_our_error(build_topology, _write(workdir, data, ".toml"))


# -- trace readers ----------------------------------------------------------------------

@FUZZ
@given(data=st.binary(max_size=600), suffix=st.sampled_from([".txt", ".json", ".cposim.json",
                                                             ".0.et", ".chakra.json", ""]))
def test_read_trace_random_bytes(workdir, data, suffix):
    _only_our_error(read_trace, _write(workdir, data, suffix))


@FUZZ
@given(data=mutated(NATIVE))
def test_native_trace_mutated(workdir, data):
    _only_our_error(read_trace, _write(workdir, data, ".cposim.json"))


@FUZZ
@given(data=st.one_of(mutated(ASTRA), mutated(SIMAI)))
def test_text_trace_mutated(workdir, data):
    _only_our_error(read_trace, _write(workdir, data, ".txt"))


@FUZZ
@given(data=st.data())
def test_chakra_et_mutated(workdir, chakra_et, data):
    blob = data.draw(mutated(chakra_et))
    _only_our_error(read_trace, _write(workdir, blob, ".0.et"))


def test_seeds_are_valid(workdir, chakra_et):
    """The un-mutated seeds read fine, so the mutations are what the tests exercise."""
    assert read_trace(_write(workdir, NATIVE, ".cposim.json")).world_size == 2
    assert read_trace(_write(workdir, ASTRA, ".txt")).world_size == 8
    read_trace(_write(workdir, SIMAI, ".txt"))
    read_trace(_write(workdir, chakra_et, ".0.et"))
    load_study(_write(workdir, STUDY, ".toml"))
    assert build_topology(str(_write(workdir, TOPOLOGY, ".toml"))).n_gpus == 2
