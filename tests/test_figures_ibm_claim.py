"""ibm-claim: the Amdahl bound, the overlap knob, and the --quick sweep."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from experiments import ibm_claim
from experiments.common import save
from workloads.generator import generate
from workloads.generator.models import get_model


def test_amdahl_81_percent_by_hand():
    # S = 1/((1-f) + f/k)  =>  f = (1 - 1/S) / (1 - 1/k) = 0.8 / 0.9875
    assert ibm_claim.f_needed(5, 80) == pytest.approx(0.8 / 0.9875)
    assert round(100 * ibm_claim.f_needed(5, 80)) == 81
    assert ibm_claim.f_needed(5, math.inf) == pytest.approx(0.8)
    assert ibm_claim.amdahl_speedup(0.81, 80) == pytest.approx(1 / (0.19 + 0.81 / 80))
    assert ibm_claim.f_needed(5, 4) == math.inf          # k <= S: impossible


@given(st.floats(1.01, 50), st.floats(1.01, 1000))
def test_amdahl_inverse(s, k):
    f = ibm_claim.f_needed(s, k)
    if s >= k:
        assert f == math.inf
    else:
        assert 0 < f <= 1
        assert float(ibm_claim.amdahl_speedup(f, k)) == pytest.approx(s, rel=1e-9)


@pytest.fixture(scope="module")
def small_trace():
    spec = get_model("gpt3-175b").with_overrides(n_layers=4)
    return generate(spec, gpus=32, tp=4, pp=2, global_batch=8)


def test_overlap_knob_edits_only_dp_bucket_deps(small_trace):
    full = ibm_claim.with_overlap(small_trace, 1.0)
    none = ibm_claim.with_overlap(small_trace, 0.0)
    none.validate()
    for p0, p1, pn in zip(small_trace.programs, full.programs, none.programs):
        assert [o.deps for o in p0.ops] == [o.deps for o in p1.ops]
        last_bwd = max(o.id for o in p0.ops if o.kind == "compute" and o.phase != "optimizer")
        buckets = [o for o in pn.ops if o.kind == "collective" and o.phase == "dp"]
        assert buckets
        for o in buckets:
            assert last_bwd in o.deps
        changed = {o.id for o, q in zip(p0.ops, pn.ops) if o.deps != q.deps}
        assert changed <= {o.id for o in buckets}
    with pytest.raises(ValueError):
        ibm_claim.with_overlap(small_trace, 1.5)


@pytest.fixture(scope="module")
def result():
    return ibm_claim.run(quick=True)


def test_quick_sweep(result):
    df = result.tables["sweep"]
    base = df[df.k == 1.0]
    assert np.allclose(base.speedup, 1.0)
    for (cluster, alpha), d in df.groupby(["cluster", "alpha"]):
        d = d.sort_values("bandwidth_Bps")
        assert np.all(np.diff(d.iteration_s) <= 1e-9), (cluster, alpha)
        # compute does not get faster: the speedup is bounded by base step / compute
        b = base[(base.cluster == cluster) & (base.alpha == alpha)].iloc[0]
        assert (d.speedup <= b.iteration_s / d.compute_s + 1e-9).all()
        assert np.allclose(d.compute_s, d.compute_s.iloc[0])
    # without a copper scale-up domain TP crosses the network: more to gain
    top = df.groupby("cluster").speedup.max()
    assert top["scale-out only"] > top["NVL8 + scale-out"]
    # overlapping gradient reduction never makes the baseline step longer
    for cluster, d in base.groupby("cluster"):
        t = d.set_index("alpha").iteration_s
        assert t[1.0] <= t[0.0] + 1e-9


def test_checks_and_results_folder(result, tmp_path):
    c = {x.claim: x for x in result.checks}
    fn = next(v for k, v in c.items() if k.startswith("Amdahl"))
    assert fn.ours == pytest.approx(0.8101, abs=1e-4)
    assert next(v for k, v in c.items() if k.startswith("3 months")).ours == pytest.approx(13 / 3)
    out = save(result, tmp_path / "ibm_claim")
    assert {"amdahl.parquet", "sweep.parquet", "ibm_claim.pdf", "ibm_claim.png",
            "manifest.json"} <= {p.name for p in out.iterdir()}
