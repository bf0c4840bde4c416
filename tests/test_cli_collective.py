"""``cposim collective``: the README's command lines, the JSON fields, and bad arguments."""

import json

import pytest

from sim.cli import main


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_issue_command_on_a_switch(capsys):
    out = _json(capsys, ["collective", "--op", "allreduce", "--algo", "ring", "--gpus", "8",
                         "--size", "1MiB", "--topology", "switch", "--link-bandwidth", "50GB/s",
                         "--link-latency", "500ns", "--fidelity", "flow", "--json"])
    n, S, a, B = 8, 2**20, 2 * 500e-9, 50e9
    want = 2 * (n - 1) * (a + S / (n * B))
    assert out["time_s"] == pytest.approx(want, rel=1e-3)
    assert out["algbw_Bps"] == pytest.approx(S / out["time_s"])
    assert out["busbw_Bps"] == pytest.approx(S / out["time_s"] * 2 * (n - 1) / n)
    assert out["bytes_on_wire"] == pytest.approx(n * 2 * (n - 1) / n * S)
    assert out["link_bytes"] == pytest.approx(2 * out["bytes_on_wire"])   # up + down link
    for key in ("energy_j", "per_technology", "closed_form_time_s", "algorithm"):
        assert key in out
    assert sum(t["link_bytes"] for t in out["per_technology"]) == pytest.approx(out["link_bytes"])


def test_switch_latency_adds_per_step(capsys):
    base = ["collective", "--op", "allgather", "--algo", "ring", "--gpus", "4", "--size", "4MiB",
            "--fidelity", "analytical", "--json"]
    t0 = _json(capsys, base)["time_s"]
    t1 = _json(capsys, base + ["--switch-latency", "100ns"])["time_s"]
    assert t1 - t0 == pytest.approx(3 * 100e-9, rel=1e-9)


def test_preset_with_policy_reports_energy_per_technology(capsys):
    out = _json(capsys, ["collective", "--op", "allreduce", "--size", "64MiB", "--topology",
                         "dgx-h100-superpod", "--gpus", "16", "--policy", "cpo", "--json"])
    assert out["algorithm"] == "hierarchical"
    assert out["policy"] == "cpo"
    techs = {t["tech"] for t in out["per_technology"]}
    assert techs == {"cpo"}
    assert out["energy_j"] > 0
    assert out["energy_j"] == pytest.approx(sum(t["energy_j"] for t in out["per_technology"]))
    assert out["time_s"] == pytest.approx(out["closed_form_time_s"], rel=1e-3)


def test_readable_table(capsys):
    assert main(["collective", "--op", "alltoall", "--size", "1MiB", "--gpus", "4"]) == 0
    text = capsys.readouterr().out
    assert "busbw" in text and "direct" in text and "energy" in text


@pytest.mark.parametrize("argv,field", [
    (["--op", "allsum", "--size", "1MiB"], "op"),
    (["--op", "allreduce", "--size", "-1MiB"], "size"),
    (["--op", "allreduce", "--size", "1 furlong"], "size"),
    (["--op", "allreduce", "--size", "1MiB", "--algo", "magic"], "algo"),
    (["--op", "alltoall", "--size", "1MiB", "--algo", "ring"], "algorithm"),
    (["--op", "allreduce", "--size", "1MiB", "--algo", "hd", "--gpus", "6"], "algorithm"),
    (["--op", "allreduce", "--size", "1MiB", "--fidelity", "exact"], "fidelity"),
    (["--op", "allreduce", "--size", "1MiB", "--link-bandwidth", "0GB/s"], "link-bandwidth"),
    (["--op", "allreduce", "--size", "1MiB", "--gpus", "0"], "gpus"),
    (["--op", "allreduce", "--size", "1MiB", "--chunks", "0"], "chunks"),
    (["--op", "allreduce", "--size", "1MiB", "--topology", "nowhere"], "topology"),
    (["--op", "allreduce", "--size", "1MiB", "--policy", "cpo"], "policy"),
    (["--op", "allreduce", "--size", "1MiB", "--topology", "leaf-spine", "--link-latency",
      "1us"], "link-latency"),
    (["--op", "allreduce", "--size", "1MiB", "--algo", "hierarchical"], "algorithm"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, argv, field):
    assert main(["collective", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert field in err


def test_collectives_figure_quick(tmp_path, capsys):
    import pandas as pd

    assert main(["figures", "collectives", "--quick", "--out", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    out = tmp_path / "collectives"
    for name in ("collectives.parquet", "collectives_energy.parquet", "collectives.pdf",
                 "collectives.png", "manifest.json"):
        assert (out / name).exists(), name
    df = pd.read_parquet(out / "collectives.parquet")
    assert set(df.op) == {"allreduce", "alltoall"}
    assert set(df.policy) == {"copper-first", "pluggable", "cpo"}
    factor = {"allreduce": 2 * (df.gpus - 1) / df.gpus, "alltoall": (df.gpus - 1) / df.gpus}
    for op, f in factor.items():
        m = df.op == op
        assert (abs(df.busbw_Bps[m] / df.algbw_Bps[m] - f[m]) < 1e-12).all()
    # the flow runs agree with the closed forms on this non-blocking fabric
    for c in report["checks"][:2]:
        assert c["ratio"] == pytest.approx(1.0, rel=1e-3)
    # CPO moves the same bytes as pluggables for less energy
    big = df[(df.fidelity == "flow") & (df.size_bytes == df.size_bytes.max())].set_index(
        ["op", "policy"])
    for op in ("allreduce", "alltoall"):
        assert big.loc[(op, "cpo"), "link_bytes"] == pytest.approx(
            big.loc[(op, "pluggable"), "link_bytes"])
        assert big.loc[(op, "cpo"), "energy_j"] < big.loc[(op, "pluggable"), "energy_j"]


def test_ring_closed_form_without_the_quadratic_schedule(capsys):
    """The closed form comes from the periodic (one-step) ring schedule: no O(n^2) schedule
    is built (33 M rows at 4,096 GPUs), and it equals the alpha-beta formula."""
    from sim.comm import planning

    planning._SCHEDULES.clear()
    n, S, a, B = 2048, 2.0**30, 2 * 500e-9, 50e9
    out = _json(capsys, ["collective", "--op", "allreduce", "--algo", "ring", "--gpus", str(n),
                         "--size", "1GiB", "--link-bandwidth", "50GB/s", "--link-latency",
                         "500ns", "--fidelity", "flow", "--json"])
    assert out["closed_form_time_s"] == pytest.approx(2 * (n - 1) * (a + S / (n * B)),
                                                      rel=1e-12)
    assert out["time_s"] == pytest.approx(out["closed_form_time_s"], rel=1e-9)
    from sim.comm.periodic import PeriodicSchedule

    assert planning._SCHEDULES, "nothing was planned"
    for s in planning._SCHEDULES.values():
        assert isinstance(s, PeriodicSchedule) and "_full" not in s.__dict__, \
            "a full ring schedule was built"


def test_factorize_with_and_without_pandas(monkeypatch):
    import sys

    import numpy as np

    from sim.fabric.accounting import factorize as _factorize

    vals = np.array(np.random.default_rng(1).choice(["cpo", "copper-dac", "lpo", "ideal"],
                                                   5000), dtype=object)
    with_pd = _factorize(vals)
    monkeypatch.delitem(sys.modules, "pandas")
    without = _factorize(vals)
    assert (with_pd[0] == without[0]).all() and with_pd[1].tolist() == without[1].tolist()
    assert with_pd[1].tolist() == sorted(set(vals.tolist()))
    assert (with_pd[1][with_pd[0]] == vals.astype(str)).all()
