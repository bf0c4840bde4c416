"""scaleup-domain: memory model, layout search, placement, and the --quick comparison."""

import numpy as np
import pytest

from experiments import scaleup_domain as sd
from experiments.common import save
from workloads.generator.gpus import get_gpu


def test_model_is_a_trillion_parameter_moe():
    spec = sd.model()
    assert spec.n_experts == 1024 and spec.params() > 1e12
    assert spec.params(active=True) < 50e9


def test_memory_model_by_hand():
    spec = sd.model()
    p_exp = spec.n_moe_layers * 1024 * spec.expert_params()
    p_dense = spec.params() - p_exp
    m = sd.memory_bytes(spec, tp=2, ep=64, pp=4, dp=128)
    assert m["weights_grads_bytes"] == pytest.approx(6 * (p_dense / 8 + p_exp / (64 * 8)))
    assert m["optimizer_bytes"] == pytest.approx(12 * (p_dense / 8 / 128 + p_exp / 512 / 2))
    # 1F1B on stage 0 keeps pp micro-batches of its layers: about the whole model's layers
    m2 = sd.memory_bytes(spec, tp=2, ep=64, pp=8, dp=64)
    assert m2["weights_grads_bytes"] == pytest.approx(m["weights_grads_bytes"] / 2)
    assert m2["activation_bytes"] == pytest.approx(m["activation_bytes"], rel=0.15)
    assert sd.memory_bytes(spec, tp=4, ep=64, pp=4, dp=64)["activation_bytes"] == \
        pytest.approx(m["activation_bytes"] / 2)


def test_candidates_fit_and_use_the_smallest_pp():
    spec = sd.model()
    hbm = get_gpu(sd.GPU).hbm_bytes * sd.HBM_USABLE
    cands = sd.candidates(spec, quick=False)
    assert cands
    for c in cands:
        assert c["total_bytes"] <= hbm
        assert c["tp"] * c["pp"] * c["dp"] == sd.TRAIN_GPUS and c["dp"] % c["ep"] == 0
        smaller = c["pp"] // 2
        if smaller >= 1:
            dp = sd.TRAIN_GPUS // (c["tp"] * smaller)
            if dp % c["ep"] == 0:
                assert sd.memory_bytes(spec, tp=c["tp"], ep=c["ep"], pp=smaller,
                                       dp=dp)["total_bytes"] > hbm


@pytest.mark.parametrize("size,used", [(72, 64), (576, 512)])
def test_placement_keeps_blocks_in_a_domain(size, used):
    pl = sd.placement(used, size)
    assert len(np.unique(pl)) == sd.TRAIN_GPUS and pl.max() < sd.CLUSTER_GPUS
    for block in (8, 64, used):
        dom = (pl // size).reshape(-1, block)
        assert (dom == dom[:, :1]).all()


@pytest.fixture(scope="module")
def result():
    return sd.run(quick=True)


def test_quick_comparison(result, tmp_path):
    df = result.tables["layouts"]
    assert set(df.domain) == set(sd.DOMAINS)
    assert (df.groupby("domain").best.sum() >= 1).all()
    assert (df.iteration_s >= df.compute_s - 1e-9).all()
    best = df[df.best].groupby("domain").iteration_s.min()
    ratio = next(c for c in result.checks if c.claim.startswith("time-to-train")).ours
    assert ratio == pytest.approx(best["copper NVL72"] / best["optical NVL576"])
    # the larger domain can hold every layout the small one can, so it is never slower
    assert ratio >= 1.0
    out = save(result, tmp_path / "scaleup_domain")
    assert {"layouts.parquet", "scaleup_domain.pdf", "scaleup_domain.png",
            "manifest.json"} <= {p.name for p in out.iterdir()}
