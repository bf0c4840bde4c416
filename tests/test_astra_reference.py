"""``cposim astra`` against ASTRA-sim itself: every NPU's finish tick of 262 runs of ASTRA-sim
518bd51's analytical binaries (tests/data/astra/README.md says how they were measured),
rebuilt from their parameters and compared exactly."""

import csv
from pathlib import Path

import pytest

from sim.astra import run_astra
from sim.astra.microbench import write_microbenchmark, write_network, write_system

DATA = Path(__file__).parent / "data" / "astra" / "reference_runs.csv"
ROWS = list(csv.DictReader(DATA.open()))


@pytest.fixture(scope="module")
def workloads(tmp_path_factory):
    """(op, npus, size) -> ET prefix, written once with our writer."""
    root = tmp_path_factory.mktemp("astra_ref")
    cache = {}

    def get(op, npus, size):
        key = (op, npus, size)
        if key not in cache:
            prefix = root / f"{op}_{npus}_{size}" / op
            write_microbenchmark(prefix, op, npus, size)
            cache[key] = str(prefix)
        return cache[key]
    return get


def test_the_data_covers_the_core_matrix():
    core = {(r["op"], r["topology"], r["impl"], r["chunks"], r["backend"]) for r in ROWS
            if r["run_id"].startswith("A1d_")}
    assert len(core) == 180      # 192 combinations, 12 of which ASTRA-sim itself cannot run
    assert {r["scheduling_policy"] for r in ROWS} == {"LIFO", "FIFO"}
    assert {r["collective_optimization"] for r in ROWS} == {"baseline", "localBWAware"}
    assert any("+" in r["topology"] for r in ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[r["run_id"] for r in ROWS])
def test_finish_ticks_equal_astra_sim(tmp_path, workloads, row):
    npus = [int(x) for x in row["npus_per_dim"].split("+")]
    total = 1
    for n in npus:
        total *= n
    net = write_network(tmp_path / "network.yml", row["topology"].split("+"), npus,
                        row["bandwidth_GBps"].split("+"), row["latency_ns"].split("+"))

    def opt(v, conv):                      # "absent": the key was left out of the JSON
        return None if v == "absent" else conv(v)
    sysj = write_system(
        tmp_path / "system.json", row["impl"].split("+"),
        scheduling_policy=row["scheduling_policy"],
        collective_optimization=row["collective_optimization"],
        preferred_dataset_splits=int(row["chunks"]),
        active_chunks_per_dimension=int(row["active_chunks"]),
        endpoint_delay=opt(row["endpoint_delay"], int),
        local_mem_bw=opt(row["local_mem_bw"], float))
    prefix = workloads(row["op"], total, int(row["size_bytes"]))
    res = run_astra(prefix, sysj, net, None, row["backend"])
    assert list(res.finish_ns) == [int(x) for x in row["finish_cycles"].split(";")]
