"""The bridge: ASTRA-sim's all-reduce microbenchmark run through cposim's native stack
(``cposim astra --cposim-fabric``), one iteration per link policy on a physical fabric."""

import json

import pytest

from sim.astra.bridge import run_bridge
from sim.astra.microbench import write_microbenchmark, write_network, write_system
from sim.cli import main
from sim.errors import CposimError

MB = 1 << 20


@pytest.fixture(scope="module")
def ar(tmp_path_factory):
    root = tmp_path_factory.mktemp("bridge")
    write_microbenchmark(root / "all_reduce", "all_reduce", 8, MB)
    write_microbenchmark(root / "all_gather", "all_gather", 8, MB)
    write_network(root / "net.yml", ["Ring"], [8], [50], [500])
    write_system(root / "sys.json")
    return root


def test_two_policies_on_a_single_switch(ar):
    out = run_bridge(str(ar / "all_reduce"), "single-switch", ["copper-first", "cpo"], "flow")
    assert out["gpus"] == 8                       # world size from the ET files
    assert "not ASTRA-sim" in out["semantics"]
    rows = {r["policy"]: r for r in out["policies"]}
    assert set(rows) == {"copper-first", "cpo"}
    for r in rows.values():
        assert r["iteration_s"] > 0 and r["exposed_comm_s"] > 0
        assert r["network_energy_j"] == pytest.approx(r["network_power_w"] * r["iteration_s"],
                                                      rel=1e-9)
    # the point of CPO: the same ports draw less power than copper SerDes
    assert rows["cpo"]["network_power_w"] < rows["copper-first"]["network_power_w"]


def test_cli_prints_both_semantics_side_by_side(ar, capsys):
    argv = ["astra", "--workload-configuration", str(ar / "all_gather"),
            f"--system-configuration={ar / 'sys.json'}",
            f"--network-configuration={ar / 'net.yml'}", "--cposim-fabric", "single-switch",
            "--policy", "copper-first", "--policy", "cpo", "--fidelity", "analytical"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "sys[0] finished, " in text                       # ASTRA-sim's semantics
    assert "cposim native semantics" in text and "cpo" in text
    assert "all-gather" in text                              # the comm_size convention note
    assert main(argv + ["--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert len(d["finish_ns"]) == 8
    assert [p["policy"] for p in d["cposim_native"]["policies"]] == ["copper-first", "cpo"]
    assert any("all-gather" in n for n in d["cposim_native"]["notes"])


def test_bridge_errors(ar):
    with pytest.raises(CposimError) as ei:
        run_bridge(str(ar / "all_reduce"), "no-such-preset", ["cpo"])
    assert "no-such-preset" in ei.value.one_line()
    assert main(["astra", "--workload-configuration", str(ar / "all_reduce"),
                 "--policy", "cpo"]) == 2
