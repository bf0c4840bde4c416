"""validation: the published-measurement table, its calibration, the NCCL layer, the quick run."""

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import validation as v
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
