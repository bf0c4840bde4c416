"""``cposim astra`` on bad input: exit 2 and one line naming the file and the key — where
ASTRA-sim would silently ignore, abort, segfault or hang."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from sim.astra import run_astra
from sim.astra.microbench import write_et, write_microbenchmark, write_network, write_system
from sim.errors import CposimError

MB = 1 << 20
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def case(tmp_path):
    """An 8-NPU ring all-reduce that runs; tests break one piece of it."""
    write_microbenchmark(tmp_path / "ar", "all_reduce", 8, MB)
    write_network(tmp_path / "net.yml", ["Ring"], [8], [50], [500])
    write_system(tmp_path / "sys.json")
    return tmp_path


def cli(cwd, *args):
    p = subprocess.run([sys.executable, "-m", "sim", "astra", *args], cwd=cwd,
                       capture_output=True, text=True, env=_env())
    return p.returncode, p.stdout, p.stderr


def _env():
    import os
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def one_line_error(stderr: str, *words):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


def expect(fn, file_end, field, *words):
    with pytest.raises(CposimError) as ei:
        fn()
    e = ei.value
    assert e.file is not None and str(e.file).endswith(file_end), e.one_line()
    assert e.field == field, e.one_line()
    assert "\n" not in e.one_line()
    for w in words:
        assert w in e.one_line(), (w, e.one_line())
    return e


# ---------------------------------------------------------------------------- the command line
def test_cli_runs_and_prints_astra_sims_lines(case):
    rc, out, err = cli(case, "--workload-configuration", "ar", "--system-configuration=sys.json",
                       "--network-configuration", "net.yml", "--logging-folder=/nonexistent",
                       "--comm-scale", "2", "--compute-scale=3", "--injection-scale", "1")
    assert rc == 0, err
    assert out.splitlines() == ["sys[%d] finished, 117780 cycles, exposed communication "
                                "117780 cycles." % i for i in range(8)]


def test_cli_json(case):
    rc, out, err = cli(case, "--workload-configuration=ar", "--system-configuration=sys.json",
                       "--network-configuration=net.yml", "--backend=congestion-aware", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["finish_ns"] == [117780] * 8 and d["backend"] == "congestion-aware"
    assert all(isinstance(c, str) and "/" in c for c in d["conventions"])


def test_cli_yaml_with_mismatched_lengths(case):
    (case / "bad.yml").write_text("topology: [ Ring, Switch ]\nnpus_count: [ 4, 2 ]\n"
                                  "bandwidth: [ 50 ]\nlatency: [ 500, 500 ]\n")
    rc, _, err = cli(case, "--workload-configuration=ar", "--system-configuration=sys.json",
                     "--network-configuration=bad.yml")
    assert rc == 2
    one_line_error(err, "bad.yml", "bandwidth")


def test_cli_unknown_topology(case):
    (case / "bad.yml").write_text("topology: [ Torus ]\nnpus_count: [ 8 ]\nbandwidth: [ 50 ]\n"
                                  "latency: [ 500 ]\n")
    rc, _, err = cli(case, "--workload-configuration=ar", "--system-configuration=sys.json",
                     "--network-configuration=bad.yml")
    assert rc == 2
    one_line_error(err, "bad.yml", "topology", "Torus")


def test_cli_json_with_a_wrong_type(case):
    write_system(case / "bad.json", preferred_dataset_splits="four")
    rc, _, err = cli(case, "--workload-configuration=ar", "--system-configuration=bad.json",
                     "--network-configuration=net.yml")
    assert rc == 2
    one_line_error(err, "bad.json", "preferred-dataset-splits", "four")


def test_cli_missing_rank_file(case):
    write_network(case / "net16.yml", ["Ring"], [16], [50], [500])
    rc, _, err = cli(case, "--workload-configuration=ar", "--system-configuration=sys.json",
                     "--network-configuration=net16.yml")
    assert rc == 2
    one_line_error(err, "ar.8.et", "does not exist")


@pytest.mark.parametrize("args,word", [
    (["--rendezvous-protocol"], "rendezvous"),
    (["--num-queues-per-dim", "2"], "num-queues-per-dim"),
])
def test_cli_unsupported_options(case, args, word):
    rc, _, err = cli(case, "--workload-configuration=ar", "--system-configuration=sys.json",
                     "--network-configuration=net.yml", *args)
    assert rc == 2
    one_line_error(err, word)


# ---------------------------------------------------------------------------- network YAML
@pytest.mark.parametrize("yaml_text,field", [
    ("topology: [ Ring ]\nnpus_count: [ 1 ]\nbandwidth: [ 50 ]\nlatency: [ 500 ]\n",
     "npus_count"),
    ("topology: [ Ring ]\nnpus_count: [ 8 ]\nbandwidth: [ 0 ]\nlatency: [ 500 ]\n", "bandwidth"),
    ("topology: [ Ring ]\nnpus_count: [ 8 ]\nbandwidth: [ -5 ]\nlatency: [ 500 ]\n",
     "bandwidth"),
    ("topology: [ Ring ]\nnpus_count: [ 8 ]\nbandwidth: [ 50 ]\nlatency: [ -1 ]\n", "latency"),
    ("topology: [ Ring ]\nnpus_count: [ 8, 2 ]\nbandwidth: [ 50 ]\nlatency: [ 500 ]\n",
     "npus_count"),
    ("topology: [ ring ]\nnpus_count: [ 8 ]\nbandwidth: [ 50 ]\nlatency: [ 500 ]\n", "topology"),
    ("topology: [ Ring ]\nnpus_count: [ 8 ]\nbandwidth: [ 50 ]\n", "latency"),
    ("topology: [ Ring ]\nnpus_count: [ 8 ]\nbandwidth: [ 50 ]\nlatency: [ 500 ]\nlinks: 3\n",
     "links"),
    ("topology: Ring\nnpus_count: [ 8 ]\nbandwidth: [ 50 ]\nlatency: [ 500 ]\n", "topology"),
])
def test_bad_network(case, yaml_text, field):
    (case / "bad.yml").write_text(yaml_text)
    expect(lambda: run_astra(case / "ar", case / "sys.json", case / "bad.yml"), "bad.yml", field)


def test_bad_yaml_syntax_names_the_line(case):
    (case / "bad.yml").write_text("topology: [ Ring\nnpus_count: [ 8 ]\n")
    e = expect(lambda: run_astra(case / "ar", case / "sys.json", case / "bad.yml"), "bad.yml",
               None)
    assert e.line is not None


def test_congestion_aware_refuses_two_dimensions(case):
    write_network(case / "2d.yml", ["Ring", "Switch"], [4, 2], [50, 50], [500, 500])
    expect(lambda: run_astra(case / "ar", case / "sys.json", case / "2d.yml", None,
                             "congestion-aware"), "2d.yml", "topology", "1-dimensional")


def test_congestion_aware_refuses_a_two_npu_ring(tmp_path):
    write_microbenchmark(tmp_path / "ar", "all_reduce", 2, MB)
    write_network(tmp_path / "net.yml", ["Ring"], [2], [50], [500])
    write_system(tmp_path / "sys.json")
    expect(lambda: run_astra(tmp_path / "ar", tmp_path / "sys.json", tmp_path / "net.yml", None,
                             "congestion-aware"), "net.yml", "npus_count")
    # the congestion-unaware backend runs it, as ASTRA-sim's does
    assert run_astra(tmp_path / "ar", tmp_path / "sys.json", tmp_path / "net.yml").finish_ns


# ---------------------------------------------------------------------------- system JSON
@pytest.mark.parametrize("keys,field,word", [
    ({"bogus_key": 1}, "bogus-key", "unknown key"),
    ({"scheduling_policy": None}, "scheduling-policy", "missing"),
    ({"collective_optimization": None}, "collective-optimization", "missing"),
    ({"preferred_dataset_splits": None}, "preferred-dataset-splits", "missing"),
    ({"preferred_dataset_splits": 0}, "preferred-dataset-splits", ">= 1"),
    ({"scheduling_policy": "LIFO2"}, "scheduling-policy", "LIFO2"),
    ({"collective_optimization": "themis"}, "collective-optimization", "themis"),
    ({"endpoint_delay": 0}, "endpoint-delay", "aborts"),
    ({"endpoint_delay": "10"}, "endpoint-delay", "integer"),
    ({"active_chunks_per_dimension": 0}, "active-chunks-per-dimension", ">= 1"),
    ({"local_mem_bw": -1}, "local-mem-bw", ">= 0"),
    ({"model_shared_bus": 1}, "model-shared-bus", "not supported"),
    ({"all_reduce_implementation_custom": ["x.et"]}, "all-reduce-implementation-custom",
     "not supported"),
    ({"per_node_custom_implementation": "x.yml"}, "per-node-custom-implementation",
     "not supported"),
    ({"track_local_mem": 1}, "track-local-mem", "not supported"),
    ({"boost_mode": 1}, "boost-mode", "never reads"),
    ({"intra_dimension_scheduling": "RG"}, "intra-dimension-scheduling", "never reads"),
    ({"inter_dimension_scheduling": "themis"}, "inter-dimension-scheduling", "never reads"),
    ({"all_reduce_implementation": ["ring", "ring"]}, "all-reduce-implementation",
     "1-dimensional"),
    ({"all_reduce_implementation": ["bogus"]}, "all-reduce-implementation", "bogus"),
    ({"all_reduce_implementation": []}, "all-reduce-implementation", "non-empty"),
    ({"all_reduce_implementation": None}, "all-reduce-implementation", "No collective"),
])
def test_bad_system(case, keys, field, word):
    write_system(case / "bad.json", **keys)
    expect(lambda: run_astra(case / "ar", case / "bad.json", case / "net.yml"), "bad.json",
           field, word)


def test_keys_astra_sim_ignores_are_accepted_with_the_values_it_uses(case):
    write_system(case / "ok.json", boost_mode=0, intra_dimension_scheduling="FIFO",
                 inter_dimension_scheduling="ascending", roofline_enabled=0, peak_perf=900,
                 trace_enabled=0, local_reduction_delay=1)
    assert run_astra(case / "ar", case / "ok.json", case / "net.yml").finish_ns == (117780,) * 8


def test_bad_json_syntax_names_the_line(case):
    (case / "bad.json").write_text('{\n "scheduling-policy": "LIFO",\n}')
    e = expect(lambda: run_astra(case / "ar", case / "bad.json", case / "net.yml"), "bad.json",
               None, "JSON")
    assert e.line == 3


def test_injection_scale_that_rounds_the_delay_to_zero(case):
    expect(lambda: run_astra(case / "ar", case / "sys.json", case / "net.yml",
                             injection_scale=0.05), "sys.json", "endpoint-delay")


# ---------------------------------------------------------------------------- algorithms
def test_halving_doubling_has_no_all_to_all(tmp_path):
    write_microbenchmark(tmp_path / "a2a", "all_to_all", 8, MB)
    write_network(tmp_path / "net.yml", ["Ring"], [8], [50], [500])
    write_system(tmp_path / "sys.json", "halvingDoubling")
    expect(lambda: run_astra(tmp_path / "a2a", tmp_path / "sys.json", tmp_path / "net.yml"),
           "sys.json", "all-to-all-implementation", "all-to-all")


@pytest.mark.parametrize("op,impl,word", [
    ("all_reduce", "halvingDoubling", "power of two"),
    ("reduce_scatter", "halvingDoubling", "power of two"),
    ("all_reduce", "doubleBinaryTree", "doubleBinaryTree"),
])
def test_non_power_of_two_halving_doubling_and_trees(tmp_path, op, impl, word):
    # ASTRA-sim deadlocks (halvingDoubling) or segfaults (doubleBinaryTree) on 6 NPUs
    write_microbenchmark(tmp_path / op, op, 6, MB)
    write_network(tmp_path / "net.yml", ["Ring"], [6], [50], [500])
    write_system(tmp_path / "sys.json", impl)
    key = op.replace("_", "-") + "-implementation"
    expect(lambda: run_astra(tmp_path / op, tmp_path / "sys.json", tmp_path / "net.yml"),
           "sys.json", key, word)


def test_halving_doubling_all_gather_on_six_npus_runs_as_in_astra_sim(tmp_path, caplog):
    # ASTRA-sim finishes it (floor(log2 6) = 2 steps): reference.csv run Jnpus_b70438d2c6
    write_microbenchmark(tmp_path / "ag", "all_gather", 6, MB)
    write_network(tmp_path / "net.yml", ["Ring"], [6], [50], [500])
    write_system(tmp_path / "sys.json", "halvingDoubling")
    with caplog.at_level(logging.WARNING):
        res = run_astra(tmp_path / "ag", tmp_path / "sys.json", tmp_path / "net.yml")
    assert res.finish_ns == (66708,) * 6
    assert "power of two" in caplog.text


def test_a_message_that_shrinks_to_zero_bytes(tmp_path):
    # 20 B all-reduce, 4 chunks of 8 B, halvingDoubling halves 8 -> 4 -> 2 -> 1 -> 0
    write_microbenchmark(tmp_path / "ar", "all_reduce", 8, 20)
    write_network(tmp_path / "net.yml", ["Ring"], [8], [50], [500])
    write_system(tmp_path / "sys.json", "halvingDoubling")
    expect(lambda: run_astra(tmp_path / "ar", tmp_path / "sys.json", tmp_path / "net.yml"),
           "ar", "comm_size", "0 bytes")


def test_all_gather_chunks_of_zero_bytes(tmp_path):
    write_microbenchmark(tmp_path / "ag", "all_gather", 8, 3)
    write_network(tmp_path / "net.yml", ["Ring"], [8], [50], [500])
    write_system(tmp_path / "sys.json")
    expect(lambda: run_astra(tmp_path / "ag", tmp_path / "sys.json", tmp_path / "net.yml"),
           "ag.0.et", "comm_size", "0-byte")


# ---------------------------------------------------------------------------- traces
def _nodes(tmp_path, nodes, npus=8):
    for i in range(npus):
        write_et(tmp_path / f"wl.{i}.et", nodes(i) if callable(nodes) else nodes)
    write_network(tmp_path / "net.yml", ["Ring"], [npus], [50], [500])
    write_system(tmp_path / "sys.json")
    return lambda **kw: run_astra(tmp_path / "wl", tmp_path / "sys.json", tmp_path / "net.yml",
                                  **kw)


def _coll(nid, size=MB, **fields):
    attrs = [{"name": "comm_type", "int64_val": 0}, {"name": "comm_size", "int64_val": size}]
    attrs += fields.pop("attrs", [])
    return {"id": nid, "name": "c", "type": 7, "attr": attrs, **fields}


@pytest.mark.parametrize("nodes,field,word", [
    ([{"id": 0, "type": 1, "name": "meta"}], "type", "METADATA"),
    ([_coll(0, data_deps=[5])], "data_deps", "not in the file"),
    ([_coll(0, data_deps=[1]), _coll(1, data_deps=[0])], "data_deps", "cycle"),
    ([_coll(0), _coll(0)], "id", "duplicate"),
    ([{"id": 0, "type": 7, "name": "c", "attr": [{"name": "comm_type", "int64_val": 0}]}],
     "comm_size", "missing"),
    ([{"id": 0, "type": 7, "name": "c", "attr": [{"name": "comm_type", "int64_val": 0},
                                                 {"name": "comm_size", "double_val": 1e6}]}],
     "comm_size", "integer"),
    ([{"id": 0, "type": 7, "name": "c", "attr": [{"name": "comm_type", "int64_val": 3},
                                                 {"name": "comm_size", "int64_val": 8}]}],
     "comm_type", "GATHER"),
    ([_coll(0, attrs=[{"name": "pg_name", "string_val": "7"}])], "pg_name", "not found"),
    ([_coll(0, attrs=[{"name": "involved_dim", "int64_val": 1}])], "involved_dim",
     "bool_list"),
    ([_coll(0, attrs=[{"name": "is_cpu_op", "bool_val": True}])], "is_cpu_op", "CPU"),
    ([{"id": 0, "type": 2, "name": "load", "attr": [{"name": "tensor_size", "int64_val": 8}]}],
     "type", "NO_MEMORY_EXPANSION"),
    ([{"id": 0, "type": 9, "name": "batch"}], "type", "node type 9"),
])
def test_bad_trace(tmp_path, nodes, field, word):
    run = _nodes(tmp_path, nodes)
    expect(run, "wl.0.et", field, word)


def test_a_receive_without_its_send_is_reported_not_hung(tmp_path):
    run = _nodes(tmp_path, lambda i: [{"id": 0, "type": 6, "name": "r", "attr": [
        {"name": "comm_src", "int64_val": (i + 1) % 8}, {"name": "comm_size", "int64_val": 64},
        {"name": "comm_tag", "int64_val": 1}]}])
    e = expect(run, ".et", None, "never finish")
    assert "wl." in e.file


def test_group_config_errors(case):
    (case / "g.json").write_text('{"0": [0, 1]}')
    expect(lambda: run_astra(case / "ar", case / "sys.json", case / "net.yml",
                             comm_group_path=case / "g.json"), "g.json", "0", ">= 1")
    (case / "g.json").write_text('{"1": [0, 9]}')
    expect(lambda: run_astra(case / "ar", case / "sys.json", case / "net.yml",
                             comm_group_path=case / "g.json"), "g.json", "1", "NPU 9")


def test_memory_config_errors(case):
    (case / "m.json").write_text('{"memory-type": "FAST"}')
    expect(lambda: run_astra(case / "ar", case / "sys.json", case / "net.yml", case / "m.json"),
           "m.json", "memory-type", "FAST")
    (case / "m.json").write_text('{"memory-type": "MEMORY_POOL"}')
    expect(lambda: run_astra(case / "ar", case / "sys.json", case / "net.yml", case / "m.json"),
           "m.json", "remote-mem-bw")
