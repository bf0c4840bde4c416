"""validation: the published-measurement table, its calibration, the NCCL layer, the quick run."""

import contextlib
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from experiments import validation as v
from sim.cli import main
from sim.comm import nccl
from workloads.generator import generate
from workloads.generator.models import get_model

README = Path(__file__).resolve().parents[1] / "README.md"
REQUIRED = ["case_id", "kind", "source_id", "source", "table", "url", "quantity", "unit",
            "published", "gpu", "gpus", "nvlink_domain", "nvlink", "network", "calibration"]
ITERATION = ["model", "layers", "hidden", "heads", "seq_len", "global_batch", "micro_batch",
             "tp", "pp", "dp", "cp", "vpp", "recompute", "attention", "flops_definition"]
COLLECTIVE = ["op", "size_bytes", "nccl_algo", "benchmark"]


@pytest.fixture(scope="module")
def cases():
    return v.load_cases()


@pytest.fixture(scope="module")
def quick():
    df, fits = v.table(quick=True)
    return df, v.summary(df), fits


def test_cases_rows_sources_and_columns(cases):
    assert len(cases) >= 16 and cases.source_id.nunique() >= 4
    assert set(cases.kind) == {"iteration", "collective"}
    assert cases.case_id.is_unique
    for col in REQUIRED:
        assert (cases[col].astype(str) != "").all(), col
    it, co = cases[cases.kind == "iteration"], cases[cases.kind == "collective"]
    for col in ITERATION:
        assert (it[col].astype(str) != "").all(), col
    for col in COLLECTIVE:
        assert (co[col].astype(str) != "").all(), col
    assert (cases.published.astype(float) > 0).all()
    # every row names a table or figure and an address
    assert cases.table.str.contains("Table|table|§").all()
    assert cases.url.str.startswith("http").all()
    # a collective is published as nccl-tests busbw, or its time where busbw has < 2 digits
    assert set(co.quantity) == {"busbw", "time"}
    assert (co[co.quantity == "time"].unit == "us").all()
    assert (co[co.quantity == "busbw"].unit == "GB/s").all()
    assert co.source_id.nunique() >= 3


def test_at_most_two_fitted_parameters_each_on_named_rows(cases):
    cal = v.load_calibration()
    fitted = cases[cases.calibration != "held-out"]
    assert (fitted.calibration.str.startswith("fit:")).all()
    keys = set(fitted.calibration.str.removeprefix("fit:"))
    assert len(keys) <= 2 and keys == set(cal.key)
    for _, c in cal.iterrows():
        assert c.grade == "D"
        rows = fitted[fitted.calibration == f"fit:{c.key}"]
        assert len(rows) == 1
        assert c.note.startswith(f"fitted on {rows.case_id.iloc[0]}")
        assert c.key in v.FITTERS


def test_held_out_medians_ignore_fitted_rows():
    df = pd.DataFrame({
        "case_id": ["a", "b", "c", "d"], "kind": ["iteration"] * 2 + ["collective"] * 2,
        "source_id": ["s"] * 4, "ours": [1.0, 2.0, 1.0, 10.0], "published": [1.0, 1.0, 1.0, 1.0],
        "calibration": ["fit:x", "held-out", "held-out", "fit:y"], "engine_only": [1.0] * 4})
    df["rel_error"] = df.ours / df.published - 1
    df["abs_rel_error"] = df.rel_error.abs()
    df["fitted"] = df.calibration != "held-out"
    df["engine_only_rel_error"] = 0.0
    s = v.summary(df).set_index("kind")
    assert s.loc["iteration", "median_abs_rel_error"] == pytest.approx(1.0)   # only "b"
    assert s.loc["collective", "median_abs_rel_error"] == pytest.approx(0.0)  # only "c"
    assert s.loc["iteration", "held_out"] == 1 and s.loc["iteration", "fitted_rows"] == 1


def test_quick_run_errors_recompute(quick):
    df, summ, fits = quick
    assert not fits                                  # --quick uses the stored calibration
    d = df[df.ours.notna()]
    assert np.allclose(d.rel_error, d.ours / d.published - 1)
    assert (df[df.kind == "collective"].ours.notna()).all()
    for _, s in summ.iterrows():
        held = d[(d.kind == s.kind) & ~d.fitted]
        assert s.median_abs_rel_error == pytest.approx((held.ours / held.published - 1)
                                                       .abs().median())
        assert s.median_abs_rel_error <= s.target_median


def test_readme_matches_quick_collective_summary(quick):
    _, summ, _ = quick
    text = README.read_text()
    assert "## How accurate is it?" in text
    sec = text.split("## How accurate is it?")[1].split("\n## ")[0]
    coll = summ.set_index("kind").loc["collective"]
    m = re.search(r"\| collective[^|]*\|[^|]*\|[^|]*\|\s*([\d.]+) %", sec)
    assert m, "collective row of the README summary"
    assert float(m.group(1)) == pytest.approx(round(100 * coll.median_abs_rel_error, 1))
    assert coll.worst_case in sec


# ------------------------------------------------------------------------- the NCCL layer
def test_nccl_ring_large_message_is_nvlink_effective_rate():
    c = nccl.choose("allreduce", 16 * 2**30, 8, 1, 450e9, None, "hopper", algorithm="ring")
    assert c.protocol == "Simple"
    assert c.busbw_Bps == pytest.approx(18 * 20.6e9, rel=1e-3)
    a = nccl.choose("allgather", 16 * 2**30, 8, 1, 300e9, None, "ampere")
    assert a.busbw_Bps == pytest.approx(12 * 20.0e9, rel=1e-3)


def test_nccl_small_messages_use_ll_and_latency():
    c = nccl.choose("allreduce", 32 * 1024, 8, 1, 450e9, None, "hopper")
    assert (c.algorithm, c.protocol) == ("ring", "LL")
    assert c.latency_s == pytest.approx((6.6 + 14 * 0.6) * 1e-6)


def test_nvls_needs_more_than_four_gpus_and_allreduce():
    for n in (4, 5, 8):
        c = nccl.choose("allreduce", 8 * 2**30, n, 1, 450e9, None, "hopper")
        assert (c.algorithm == "nvls") == (n > 4)
    assert nccl.choose("allgather", 8 * 2**30, 8, 1, 450e9, None, "hopper").algorithm == "ring"
    assert nccl.choose("allreduce", 8 * 2**30, 8, 1, 300e9, None, "ampere").algorithm == "ring"


def test_multinode_ring_uses_every_nic():
    c = nccl.choose("allreduce", 16 * 2**30, 32, 4, 900e9, 50e9, "blackwell")
    assert c.busbw_Bps == pytest.approx(8 * 50e9, rel=0.01)      # min(NVLink, 8 NICs)
    assert nccl.arch_of("h200") == "hopper" and nccl.arch_of("b200") == "blackwell"


def test_nccl_alltoall_is_point_to_point():
    # one node: (n-1)/n of the buffer at NCCL's effective NVLink rate, plus one step
    c = nccl.choose("alltoall", 2**30, 8, 1, 450e9, None, "hopper")
    assert (c.algorithm, c.protocol) == ("p2p", "Simple")
    assert c.time_s == pytest.approx((8.4 + 3.4) * 1e-6 + 7 / 8 * 2**30 / (18 * 20.6e9))
    # across nodes the NIC carries the off-node share; small shares go LL
    m = nccl.choose("alltoall", 2**30, 32, 4, 450e9, 50e9, "hopper")
    assert m.time_s - m.latency_s == pytest.approx(24 / 32 * 2**30 / 50e9)
    assert nccl.choose("alltoall", 8 * 16384, 8, 1, 450e9, None, "hopper").protocol == "LL"


# ------------------------------------------------------------------------- cposim collective --nccl
def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


def test_cli_nccl_equals_the_api():
    rc, out, _ = cli("collective", "--op", "allreduce", "--size", "256MiB", "--topology",
                     "dgx-h100-superpod", "--gpus", "16", "--nccl", "--gpu", "h100", "--json")
    assert rc == 0
    want = json.loads(out)
    got = sim.collective("allreduce", size="256MiB", topology="dgx-h100-superpod", gpus=16,
                         nccl=True, gpu="h100")
    assert got.nccl == want["nccl"] == got.to_dict()["nccl"]
    assert (want["nccl"]["algorithm"], want["nccl"]["nodes"]) == ("ring", 2)
    assert want["nccl"]["busbw_Bps"] == pytest.approx(
        want["nccl"]["algbw_Bps"] * 2 * 15 / 16)
    # without --nccl the record has no "nccl" entry; the engine's numbers are the same
    plain = sim.collective("allreduce", size="256MiB", topology="dgx-h100-superpod", gpus=16)
    assert "nccl" not in plain.to_dict() and plain.nccl is None
    assert plain.time_s == got.time_s == want["time_s"]
    rc, text, _ = cli("collective", "--op", "allreduce", "--size", "256MiB", "--topology",
                      "dgx-h100-superpod", "--gpus", "16", "--nccl")
    rc0, text0, _ = cli("collective", "--op", "allreduce", "--size", "256MiB", "--topology",
                        "dgx-h100-superpod", "--gpus", "16")
    assert rc == rc0 == 0
    lines = [ln for ln in text.splitlines() if "simulated in" not in ln]
    lines0 = [ln for ln in text0.splitlines() if "simulated in" not in ln]
    extra = [ln for ln in lines if ln not in lines0]
    assert len(lines) == len(lines0) + 1 and len(extra) == 1
    assert extra[0].lstrip().startswith("NCCL (h100)") and "ring/Simple" in extra[0]


def test_figure_row_is_what_the_user_runs(cases):
    row = cases[cases.case_id == "i309g-h100x16-ring-ar-1GiB"].iloc[0]
    pred = v.predict_collective(row)
    assert int(row.size_bytes) == 2**30 and row.nccl_algo.startswith("Ring")
    rc, out, _ = cli("collective", "--op", "allreduce", "--size", "1GiB",
                     "--topology", "dgx-h100-superpod", "--gpus", "16", "--nccl", "--gpu",
                     "h100", "--nccl-algo", "ring", "--json")
    assert rc == 0
    layer = json.loads(out)["nccl"]
    assert pred["ours"] == layer["busbw_Bps"] / 1e9
    assert pred["ours_time_s"] == layer["time_s"]
    assert pred["ours_algorithm"] == f"{layer['algorithm']}/{layer['protocol']}"
    assert pred["engine_only"] == json.loads(out)["busbw_Bps"] / 1e9


@pytest.mark.parametrize("argv,field", [
    (["--nccl", "--gpu", "x100"], "gpu"),
    (["--gpu", "h100"], "gpu"),                       # --gpu without --nccl
    (["--nccl", "--nccl-algo", "tree"], "nccl-algo"),
    (["--nccl", "--op", "broadcast"], "op"),
])
def test_bad_nccl_options_exit_2_with_one_line(argv, field):
    op = [] if "--op" in argv else ["--op", "allreduce"]
    rc, out, err = cli("collective", *op, "--size", "1MiB", *argv)
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and f"field '{field}'" in err


# ------------------------------------------------------------------------- generator knobs
def test_context_parallel_groups_and_kv_allgather():
    t = generate(get_model("llama3-8b"), gpus=64, tp=2, cp=4, pp=2, global_batch=8,
                 seq_len=8192)
    assert t.groups["cp"].members.shape == (16, 4)
    assert t.groups["dp"].members.shape == (4, 16)         # dp x cp share a weight shard
    ops = t.programs[0].ops
    ag = [o for o in ops if o.group == "cp" and o.collective == "allgather"]
    rs = [o for o in ops if o.group == "cp" and o.collective == "reducescatter"]
    # K and V of the 4 KV heads a TP rank holds, for the whole 8192-token sequence, bf16
    assert ag and rs and ag[0].size_bytes == pytest.approx(8192 * 4 * (128 + 128) * 2)


def test_llama3_layout_first_and_last_chunk_without_layers():
    spec = get_model("llama3-405b")
    t = generate(spec, gpus=128, tp=8, pp=16, vpp=8, global_batch=16)
    counts = t.metadata["parallelism"]["layers_per_virtual_stage"]
    assert counts[0] == 0 and counts[-1] == 0 and sum(counts) == 126


def test_kernel_models_are_opt_in_and_slower():
    kw = dict(gpus=8, tp=8, global_batch=8, seq_len=2048)
    spec = get_model("gpt3-175b").with_overrides(n_layers=2)
    dur = lambda t: sum(o.duration_s for o in t.programs[0].ops if o.kind == "compute")  # noqa
    base = generate(spec, **kw)
    assert base.metadata["parallelism"]["attention"] == "flash"
    serial = generate(spec, elementwise="serial", **kw)
    unfused = generate(spec, elementwise="serial", attention="unfused", **kw)
    assert dur(base) < dur(serial) < dur(unfused)


def test_full_recompute_replays_forward_collectives():
    spec = get_model("gpt3-175b").with_overrides(n_layers=2)
    kw = dict(gpus=8, tp=8, global_batch=1, seq_len=2048)
    n = lambda t: sum(1 for o in t.programs[0].ops if o.group == "tp")  # noqa: E731
    # each layer's attention and MLP blocks re-run their forward f and g (SP: AG + RS)
    assert n(generate(spec, recompute="full", **kw)) == n(generate(spec, **kw)) + 2 * 4


@pytest.mark.slow
def test_full_run_meets_targets_and_refit_agrees():
    r = v.run(quick=False)
    summ = r.tables["validation_summary"].set_index("kind")
    for kind in ("iteration", "collective"):
        assert summ.loc[kind, "median_abs_rel_error"] <= v.TARGETS[kind]
    for c in r.checks:
        if c.claim.startswith("refit"):
            assert c.ours == pytest.approx(c.published, rel=0.02)
    sec = README.read_text().split("## How accurate is it?")[1].split("\n## ")[0]
    m = re.search(r"\| iteration[^|]*\|[^|]*\|[^|]*\|\s*([\d.]+) %", sec)
    assert float(m.group(1)) == pytest.approx(
        round(100 * summ.loc["iteration", "median_abs_rel_error"], 1))
    assert not math.isnan(summ.loc["iteration", "worst_rel_error"])
