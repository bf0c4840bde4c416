"""The Python API (``import sim``): each CLI command's result with the same numbers, clear
errors naming the field, the docstring examples, help(sim), the import cost and the example
parameter study."""

from __future__ import annotations

import contextlib
import doctest
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.cli import main

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "tests" / "data" / "peer-workloads"
SMALL = {"name": "tiny", "fidelity": "analytical", "policies": ["copper-first", "cpo"],
         "workload": {"model": "llama3-8b", "gpus": 16, "tp": 8, "pp": 2, "global_batch": 4}}


def cli_json(*argv: str):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(list(argv)) == 0
    return json.loads(out.getvalue())


def without_wall(d: dict) -> dict:
    return {k: v for k, v in d.items() if k != "wall_s"}


# ---------------------------------------------------------------- same numbers as the CLI
@pytest.mark.parametrize("tech,rate,length", [("cpo", "200G", "30m"),
                                               ("copper-dac", "100G", "1.5 m"),
                                               ("pluggable-dsp", "200G", "2km")])
def test_link_is_cposim_link_json(tech, rate, length):
    got = sim.link(tech, rate, length)
    assert got.to_dict() == cli_json("link", "--tech", tech, "--lane-rate", rate,
                                     "--length", length, "--json")
    assert isinstance(got, sim.Link)
    row = got.to_frame().iloc[0]
    assert row["tech"] == tech and row["energy_pj_per_bit"] == got.energy_pj_per_bit or \
        not got.feasible


def test_link_takes_numbers_in_si_units():
    assert sim.link("cpo", 200e9, 30.0) == sim.link("cpo", "200 Gb/s", "3000 cm")
    over = {"tech.cpo.200g.laser_w": "3 W"}
    assert sim.link("cpo", "200G", "30m", params=over).to_dict() == cli_json(
        "link", "--tech", "cpo", "--length", "30m", "--param", "tech.cpo.200g.laser_w=3 W",
        "--json")


def test_topology_is_cposim_topology_info_json():
    want = cli_json("topology", "info", "leaf-spine", "--gpus", "64", "--policy", "lpo",
                    "--tier-policy", "scaleup=copper-first", "--set", "oversubscription=2",
                    "--lane-rate", "100G", "--json")
    topo = sim.topology("leaf-spine", 64, policy="lpo", tier_policy={"scaleup": "copper-first"},
                        lane_rate="100G", oversubscription=2)
    assert topo.summary() == want
    assert len(topo.links_frame()) == topo.n_links and len(topo.nodes_frame()) == topo.n_nodes


def test_collective_is_cposim_collective_json():
    want = cli_json("collective", "--op", "allreduce", "--algo", "ring", "--gpus", "8",
                    "--size", "1MiB", "--topology", "switch", "--link-bandwidth", "50GB/s",
                    "--link-latency", "500ns", "--json")
    got = sim.collective("allreduce", "ring", 8, "1MiB", link_bandwidth="50GB/s",
                         link_latency="500ns")
    assert without_wall(got.to_dict()) == without_wall(want)
    assert got.time_s == want["time_s"] and got.busbw_Bps == want["busbw_Bps"]
    assert got.to_frame()["time_s"].item() == want["time_s"]


def test_collective_on_a_preset_and_on_a_built_topology():
    want = cli_json("collective", "--op", "alltoall", "--size", "4MiB", "--topology",
                    "dgx-h100-superpod", "--gpus", "64", "--tier-policy", "scaleout=cpo",
                    "--json")
    got = sim.collective("alltoall", size="4MiB", gpus=64, topology="dgx-h100-superpod",
                         tier_policy=["scaleout=cpo"])
    assert without_wall(got.to_dict()) == without_wall(want)
    topo = sim.topology("dgx-h100-superpod", 64, tier_policy={"scaleout": "cpo"})
    again = sim.collective("alltoall", size=4 * 2**20, topology=topo)
    assert again.time_s == want["time_s"] and again.energy_j == want["energy_j"]


def test_trace_info_and_generate_are_cposim_trace(tmp_path):
    path = PEER / "astra-sim-1.0" / "Resnet50_DataParallel.txt"
    want = cli_json("trace", "info", str(path), "--world-size", "16", "--json")
    assert sim.trace_info(sim.load_trace(path, world_size=16), path=str(path)) == want
    assert sim.trace_info(path, world_size=16) == want
    out = tmp_path / "gen.cposim.json"
    want = cli_json("trace", "generate", "--model", "llama3-8b", "--gpus", "16", "--tp", "8",
                    "--pp", "2", "--global-batch", "4", "--out", str(out), "--json")
    trace = sim.generate_trace("llama3-8b", 16, tp=8, pp=2, global_batch=4)
    assert sim.trace_info(trace, path=str(out)) == want
    again = tmp_path / "again.cposim.json"
    assert sim.save_trace(trace, again) == [again]
    assert again.read_bytes() == out.read_bytes()


def test_run_study_is_cposim_run(tmp_path):
    cfg = tmp_path / "tiny.toml"
    cfg.write_text('name = "tiny"\nfidelity = "analytical"\n'
                   'policies = ["copper-first", "cpo"]\n[workload]\nmodel = "llama3-8b"\n'
                   'gpus = 16\ntp = 8\npp = 2\nglobal_batch = 4\n')
    want = cli_json("run", str(cfg), "--out", str(tmp_path / "cli"), "--json", "--quiet",
                    "--no-timeline")
    from sim.api import study_config

    assert study_config(cfg)[0] == study_config(SMALL)[0]      # a dict is the same study
    res = sim.run_study(SMALL, timeline=False)
    pd.testing.assert_frame_equal(res.comparison(), pd.read_json(io.StringIO(json.dumps(want))),
                                  check_dtype=False)
    saved = res.save(tmp_path / "api")
    for name in ("comparison", "ops", "classes", "links", "energy"):
        cli = pd.read_parquet(tmp_path / "cli" / f"{name}.parquet")
        pd.testing.assert_frame_equal(pd.read_parquet(saved / f"{name}.parquet"), cli)
        if name != "comparison":
            pd.testing.assert_frame_equal(getattr(res, name).reset_index(drop=True), cli)
    assert list(res.links["policy"].unique()) == ["copper-first", "cpo"]
    fig = res.plot()
    assert {ax.get_gid() for ax in fig.axes} >= {"iteration", "energy"}


def test_the_default_study_prints_what_cposim_run_prints():
    """The README's first command: `cposim run` prints these rows (copper-first 1.296 s /
    59.97 kW, cpo 1.295 s / 38.71 kW); the API's comparison formats into the same lines."""
    from sim.cli.run import format_table

    comp = sim.run_study(timeline=False).comparison()
    lines = format_table(comp).splitlines()
    assert lines[2].split()[:2] + lines[2].split()[9:11] == ["copper-first", "1.296", "59.97",
                                                            "kW"]
    assert lines[3].split()[:2] + lines[3].split()[9:11] == ["cpo", "1.295", "38.71", "kW"]


def test_run_sweep_is_cposim_sweep(tmp_path):
    cfg = tmp_path / "sw.toml"
    cfg.write_text('name = "tiny"\nfidelity = "analytical"\npolicies = ["copper-first", "cpo"]\n'
                   '[workload]\nmodel = "llama3-8b"\ngpus = 16\ntp = 8\npp = 2\n'
                   '[sweep]\nseeds = [0]\n[sweep.grid]\n"workload.global_batch" = [4, 8]\n')
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["sweep", str(cfg), "--out", str(tmp_path / "cli"), "--workers", "1",
                     "--no-progress"]) == 0
    cli = pd.read_parquet(tmp_path / "cli" / "sweep_tidy.parquet")
    base = {k: v for k, v in SMALL.items() if k != "name"}
    got = sim.run_sweep(base, {"workload.global_batch": [4, 8]}, workers=1)
    same = [c for c in cli.columns if c != "wall_s"]
    assert len(got) == 4 and set(got["status"]) == {"ok"}
    pd.testing.assert_frame_equal(got[same], cli[same])
    from_file = sim.run_sweep(cfg, workers=1, out=tmp_path / "api")     # the file's [sweep]
    pd.testing.assert_frame_equal(from_file[same], cli[same])
    assert (tmp_path / "api" / "sweep.parquet").exists()


# ---------------------------------------------------------------- errors name the field
@pytest.mark.parametrize("call,field", [
    (lambda: sim.link("cpo", "200G", "-3 m"), "length"),
    (lambda: sim.link("cpo", "200G", -3.0), "length"),
    (lambda: sim.link("copper-dca", "200G", "1 m"), "tech"),
    (lambda: sim.link("cpo", "400G", "1 m"), "lane_rate"),
    (lambda: sim.link("cpo", "fast", "1 m"), "lane_rate"),
    (lambda: sim.link("cpo", "200G", "1 m", params={"tech.cpo.200g.lazer_w": 3}),
     "tech.cpo.200g.lazer_w"),
    (lambda: sim.topology("nowhere", 8), "topology"),
    (lambda: sim.topology("leaf-spine", 0), "gpus"),
    (lambda: sim.topology("leaf-spine", 64, policy="magic"), "policy"),
    (lambda: sim.topology("leaf-spine", 64, lane_rate="fast"), "lane_rate"),
    (lambda: sim.collective("allsum", size="1MiB"), "op"),
    (lambda: sim.collective("allreduce"), "size"),
    (lambda: sim.collective("allreduce", size="1 furlong"), "size"),
    (lambda: sim.collective("allreduce", size="1MiB", fidelity="exact"), "fidelity"),
    (lambda: sim.collective("allreduce", size="1MiB", chunks=0), "chunks"),
    (lambda: sim.collective("allreduce", size="1MiB", policy="cpo"), "policy"),
    (lambda: sim.collective("allreduce", size="1MiB", topology="leaf-spine",
                            link_latency="1us"), "link_latency"),
    (lambda: sim.generate_trace("llama3-8b", 16, tp=8, globl_batch=4), "globl_batch"),
    (lambda: sim.generate_trace("llama3-8b", 12, tp=8), "gpus"),
    (lambda: sim.run_study({"fidelty": "flow"}), "fidelty"),
    (lambda: sim.run_study({"topology": {"gpu": 8}}), "topology.gpu"),
    (lambda: sim.run_study({"workload": {"model": "llama3-8b", "gpus": 16, "tpp": 8}}),
     "workload.tpp"),
    (lambda: sim.run_study(SMALL, pipeline="simai"), "pipeline"),
    (lambda: sim.run_study(42), "config"),
    (lambda: sim.run_sweep(SMALL), "sweep"),
    (lambda: sim.run_sweep(SMALL, {"workload.global_batch": 4}), "grid.workload.global_batch"),
    (lambda: sim.run_sweep(SMALL, {"workload.batch": [4]}), "workload.batch"),
    (lambda: sim.run_sweep(SMALL, {"fidelity": ["exact"]}), "fidelity"),
    (lambda: sim.run_sweep(SMALL, {"workload.global_batch": [4]}, workers=0), "workers"),
])
def test_bad_input_is_a_cposim_error_naming_the_field(call, field):
    with pytest.raises(sim.CposimError) as err:
        call()
    assert err.value.field == field
    assert "\n" not in str(err.value)


def test_trace_reader_options_and_errors(tmp_path):
    with pytest.raises(sim.CposimError) as err:
        sim.load_trace(tmp_path / "nope.txt")
    assert "nope.txt" in str(err.value)
    path = PEER / "astra-sim-1.0" / "microAllReduce.txt"
    with pytest.raises(sim.CposimError) as err:
        sim.load_trace(path, colour="red")
    assert err.value.field == "colour"
    assert sim.load_trace(path, micro="collective-only").world_size == 8


def test_run_astra_is_cposim_astra(tmp_path):
    from sim.astra.microbench import write_microbenchmark, write_network, write_system

    write_microbenchmark(tmp_path / "a2a", "all_to_all", 8, 2**20)
    sys_json = write_system(tmp_path / "sys.json", active_chunks_per_dimension=4)
    net = write_network(tmp_path / "net.yml", ["Switch"], [8], [50], [500])
    argv = ["astra", "--workload-configuration", str(tmp_path / "a2a"),
            "--system-configuration", str(sys_json), "--network-configuration", str(net)]
    for backend in ("congestion-unaware", "congestion-aware"):
        run = sim.run_astra(tmp_path / "a2a", sys_json, net, backend=backend)
        assert without_wall(run.to_dict()) == without_wall(
            cli_json(*argv, "--backend", backend, "--json"))
        assert len(run.finish_ns) == 8 and min(run.finish_ns) > 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(argv) == 0
    assert out.getvalue().splitlines() == sim.run_astra(tmp_path / "a2a", sys_json, net).lines()
    with pytest.raises(sim.CposimError) as e:
        sim.run_astra(tmp_path / "a2a", sys_json)
    assert e.value.field == "network-configuration"


def test_run_figure_is_cposim_figures(tmp_path):
    got = cli_json("figures", "signal-integrity", "--quick", "--json", "--quiet",
                   "--out", str(tmp_path / "cli"))
    r = sim.run_figure("signal-integrity", quick=True, out=tmp_path / "api")
    assert [(c.claim, c.ours, c.published) for c in r.checks] == \
        [(c["claim"], c["ours"], c["published"]) for c in got["checks"]]
    assert r.out == tmp_path / "api" / "signal_integrity" and (r.out / "manifest.json").exists()
    assert r.tables
    for name in r.tables:
        pd.testing.assert_frame_equal(pd.read_parquet(Path(got["out"]) / f"{name}.parquet"),
                                      pd.read_parquet(r.out / f"{name}.parquet"))
    with pytest.raises(sim.CposimError) as e:
        sim.run_figure("no-such-figure")
    assert e.value.field == "NAME"


def test_run_bench_returns_the_table_cposim_bench_writes(tmp_path):
    df = sim.run_bench(["ring-ar-4096"], quick=True, repeats=1, out=tmp_path)
    assert list(df["case"]) == ["ring-ar-4096"]
    pd.testing.assert_frame_equal(df, pd.read_parquet(tmp_path / "perf.parquet"))
    assert float(df["wall_median_s"].iloc[0]) > 0


# ---------------------------------------------------------------- docs, names, start-up
def test_docstring_examples_run():
    import sim.api

    import experiments

    for module in (experiments, sim, sim.api):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
    assert result.attempted >= 30


def test_every_public_name_has_a_docstring_and_help_lists_it():
    import pydoc

    assert set(sim.__all__) <= set(dir(sim))
    for name in sim.__all__:
        if name != "__version__":
            assert (getattr(sim, name).__doc__ or "").strip(), name
    text = pydoc.render_doc(sim, renderer=pydoc.plaintext)
    for name in sim.__all__:
        assert name in text, name
    head = sim.__doc__ or ""
    for name in ("link(", "topology(", "collective(", "load_trace(", "generate_trace(",
                 "run_study(", "run_sweep(", "run_astra(", "run_figure(", "run_bench("):
        assert name in head, name


def test_import_sim_is_light():
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    code = ("import sys, time\nt = time.perf_counter()\nimport sim\n"
            "dt = time.perf_counter() - t\n"
            "print(dt, ' '.join(m for m in sys.modules if m.startswith(('sim', 'numpy', "
            "'pandas', 'pint', 'simpy', 'matplotlib', 'pydantic'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env).stdout.split()
    assert float(out[0]) < 0.3
    assert sorted(out[1:]) == ["sim", "sim.errors"]


def test_the_example_study_runs(tmp_path):
    fig = tmp_path / "experiment.png"
    script = ROOT / "examples" / "experiment.py"
    proc = subprocess.run([sys.executable, str(script), "--quick", "--out", str(fig)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert fig.stat().st_size > 0 and "cpo" in proc.stdout
    again = subprocess.run([sys.executable, str(script), "--quick", "--out", str(fig)],
                           capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert again.returncode == 2 and "not overwriting" in again.stderr
