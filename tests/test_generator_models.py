"""Model zoo and compute accounting of the generator."""

from __future__ import annotations

import pytest

from workloads.generator import GPUS, MODELS, generate
from workloads.generator.gpus import GpuSpec
from sim.errors import CposimError


@pytest.mark.parametrize("name", sorted(MODELS))
def test_param_counts_match_published(name):
    m = MODELS[name]
    assert m.params() == pytest.approx(m.published_params, rel=0.02)
    if m.published_active_params:
        assert m.params(active=True) == pytest.approx(m.published_active_params, rel=0.03)
    else:
        assert m.params(active=True) == m.params()


def test_gpt3_param_count_closed_form():
    # 12·l·h² (1 + 13/(12h)) + V·h + s·h (Kaplan et al. 2020 / Narayanan et al. 2021), + final LN
    m = MODELS["gpt3-175b"]
    h, l_ = m.hidden, m.n_layers
    closed = l_ * (12 * h * h + 13 * h) + m.vocab * h + m.seq_len * h + 2 * h
    assert m.params() == closed


def _compute(trace, phase_filter=lambda o: o.phase != "optimizer"):
    """Sum over all ranks of compute FLOPs and durations."""
    flops = dur = 0.0
    for prog in trace.programs:
        f = sum(o.flops for o in prog.ops if o.kind == "compute" and phase_filter(o))
        d = sum(o.duration_s for o in prog.ops if o.kind == "compute" and phase_filter(o))
        flops += len(prog.ranks) * f
        dur += len(prog.ranks) * d
    return flops, dur


@pytest.fixture(scope="module")
def gpt3():
    return generate("gpt3-175b", gpus=1024, tp=8, pp=8)


def test_gpt3_acceptance_compute_time_is_6PT(gpt3):
    """Acceptance: GPT-3 175B TP8 PP8 DP16: compute time ≈ 6·P·T / (N·peak·fraction)."""
    h100 = GPUS["h100"]
    P, T, N = 175e9, 1536 * 2048, 1024
    expected = 6 * P * T / (N * h100.peak_flops * h100.fraction)
    _, dur = _compute(gpt3, lambda o: True)   # everything, optimizer included
    assert dur / N == pytest.approx(expected, rel=0.05)
    # metadata carries the same expectation (with the computed P)
    assert gpt3.metadata["expected_compute_s"] == pytest.approx(expected, rel=0.01)
    # every rank of the iteration does about the same work (the last stage has the logits)
    per_rank = [sum(o.duration_s for o in p.ops if o.kind == "compute") for p in gpt3.programs]
    assert max(per_rank) / min(per_rank) < 1.05


def test_gpt3_flops_match_narayanan_formula(gpt3):
    """Narayanan et al. 2021 (arXiv 2104.04473) eq. (3) without recomputation:
    72·B·s·l·h²·(1 + s/(6h) + V/(12·l·h)), attention term halved for causal FlashAttention."""
    m = MODELS["gpt3-175b"]
    B, s, l_, h, V = 1536, 2048, m.n_layers, m.hidden, m.vocab
    closed = 72 * B * s * l_ * h * h * (1 + s / (12 * h) + V / (12 * l_ * h))
    flops, _ = _compute(gpt3)
    assert flops == pytest.approx(closed, rel=1e-3)
    assert gpt3.metadata["model_flops_per_iteration"] == pytest.approx(flops)


def test_full_recompute_adds_one_forward():
    """Same paper, with full recomputation: 96·B·s·l·h²·(1 + s/(6h) + V/(16·l·h))."""
    m = MODELS["gpt3-175b"]
    tr = generate("gpt3-175b", gpus=64, tp=8, pp=8, global_batch=16, recompute="full")
    B, s, l_, h, V = 16, 2048, m.n_layers, m.hidden, m.vocab
    closed = 96 * B * s * l_ * h * h * (1 + s / (12 * h) + V / (16 * l_ * h))
    flops, _ = _compute(tr)
    assert flops == pytest.approx(closed, rel=1e-3)


def test_selective_recompute_costs_between_none_and_full():
    kw = dict(gpus=64, tp=8, pp=8, global_batch=16)
    f = [_compute(generate("llama3-70b", recompute=r, **kw))[0]
         for r in ("none", "selective", "full")]
    assert f[0] < f[1] < f[2]


def test_moe_active_params_6PT():
    """Mixtral 8x7B with EP: compute ≈ 6·P_active·T within 5 % (attention at 4k adds ~4 %,
    untied output layer counted once in FLOPs but twice in P takes ~1 %)."""
    tr = generate("mixtral-8x7b", gpus=64, tp=2, pp=4, ep=8, global_batch=64)
    m = MODELS["mixtral-8x7b"]
    flops, _ = _compute(tr)
    assert flops == pytest.approx(6 * m.params(active=True) * 64 * 4096, rel=0.05)


def test_deepseek_v3_generates_with_dense_and_moe_layers():
    tr = generate("deepseek-v3", gpus=2048, tp=1, pp=16, ep=64, global_batch=256).validate()
    blocks = {(o.layer, o.name.split(".")[3]) for p in tr.programs for o in p.ops
              if o.kind == "compute" and o.name.startswith("mb0.")}
    dense = sorted(int(la[5:]) for la, b in blocks if b == "mlp")
    moe = sorted(int(la[5:]) for la, b in blocks if b == "experts")
    assert dense == [0, 1, 2] and moe == list(range(3, 61))
    # 61 layers on 16 stages: 4 per stage, first/last/second stage one fewer
    assert tr.metadata["parallelism"]["layers_per_virtual_stage"] == [3, 3] + [4] * 13 + [3]
    flops, _ = _compute(tr)
    m = MODELS["deepseek-v3"]
    # MLA attention at s = 4096 adds ~12 % over 6·P_active·T
    ratio = flops / (6 * m.params(active=True) * 256 * 4096)
    assert 1.0 < ratio < 1.2


def test_backward_is_twice_forward_for_matmuls():
    tr = generate("llama3-8b", gpus=8, tp=8, pp=1, global_batch=1, seq_len=4096)
    ops = tr.programs[0].ops
    mlp = {o.phase: o.flops for o in ops if o.layer == "layer5" and ".mlp." in o.name
           and o.kind == "compute"}
    assert mlp["ig"] == pytest.approx(mlp["fwd"]) and mlp["wg"] == pytest.approx(mlp["fwd"])
    m = MODELS["llama3-8b"]
    assert mlp["fwd"] == pytest.approx(2 * 4096 * 3 * m.hidden * m.ffn_hidden / 8)


def test_roofline_picks_the_slower_bound():
    g = GpuSpec("x", peak_flops=1e15, hbm_bw_Bps=1e12, hbm_bytes=1e9, fraction=0.5,
                hbm_fraction=0.8)
    assert g.compute_time_s(1e12, 0) == pytest.approx(1e12 / 5e14)
    assert g.compute_time_s(1e9, 1e9) == pytest.approx(1e9 / 8e11)
    with pytest.raises(CposimError):
        GpuSpec("x", 1, 1, 1, fraction=1.5, hbm_fraction=0.5)


def test_small_micro_batch_is_memory_bound():
    """Decode-like shape: one 128-token micro-batch of Llama-3 8B on one GPU reads 2 B per
    weight for ~2·128 FLOPs per weight: far below H100's ridge (~350 FLOP/B)."""
    tr = generate("llama3-8b", gpus=1, global_batch=1, seq_len=128)
    g = GPUS["h100"]
    op = next(o for o in tr.programs[0].ops if o.name.endswith("layer3.mlp.fwd"))
    assert op.duration_s == pytest.approx(op.mem_bytes / (g.hbm_bw_Bps * g.hbm_fraction))
    assert op.duration_s > op.flops / (g.peak_flops * g.fraction)


def test_fraction_and_gpu_presets_scale_compute():
    kw = dict(gpus=8, tp=8, global_batch=4)
    _, d1 = _compute(generate("llama3-8b", gpu="h100", **kw))
    _, d2 = _compute(generate("llama3-8b", gpu="h100", fraction=0.3, **kw))
    _, d3 = _compute(generate("llama3-8b", gpu="b200", fraction=0.6, **kw))
    assert d2 == pytest.approx(2 * d1, rel=0.02)
    assert d3 == pytest.approx(d1 * GPUS["h100"].peak_flops / GPUS["b200"].peak_flops, rel=0.05)
