"""Rank layout, communication volumes and input validation of the generator."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.errors import CposimError
from workloads.generator import MODELS, generate
from workloads.generator.parallelism import ParallelConfig, build_groups, layer_split


@settings(max_examples=40, deadline=None)
@given(tp=st.sampled_from([1, 2, 4, 8]), pp=st.integers(1, 4), dpe=st.integers(1, 4),
       ep=st.sampled_from([1, 2, 4]))
def test_groups_follow_megatron_rank_order(tp, pp, dpe, ep):
    dp = dpe * ep
    cfg = ParallelConfig(gpus=tp * pp * dp, tp=tp, pp=pp, dp=dp, ep=ep)
    g = build_groups(cfg, moe=True)
    n = cfg.gpus
    for name, members in g.items():
        # each group partitions the world
        assert np.array_equal(np.sort(members.ravel()), np.arange(n)), name
    rank = lambda p_, d, t: p_ * dp * tp + d * tp + t  # noqa: E731
    # every member of a communicator shares the coordinates the group does not span
    for row in g["tp"]:
        assert list(row) == [row[0] + i for i in range(tp)]
        assert row[0] // 8 == row[-1] // 8 or tp > 8      # inside one 8-GPU node
    for row in g["pp"]:
        t, d = row[0] % tp, (row[0] // tp) % dp
        assert list(row) == [rank(p_, d, t) for p_ in range(pp)]   # position = stage
    for row in g["dp"]:
        t, p_ = row[0] % tp, row[0] // (dp * tp)
        assert list(row) == [rank(p_, d, t) for d in range(dp)]
    for row in g["ep"]:
        d0 = (row[0] // tp) % dp
        assert d0 % ep == 0 and list(row) == [row[0] + i * tp for i in range(ep)]
    for row in g["dp_ep"]:
        d0 = (row[0] // tp) % dp
        assert list(row) == [row[0] + j * ep * tp for j in range(dp // ep)]
        assert d0 < ep
    # an EP group and a DP_EP group meet in exactly one rank
    ep_sets = [set(r) for r in g["ep"]]
    for row in g["dp_ep"]:
        assert all(len(set(row) & s) <= 1 for s in ep_sets)


def test_layer_split():
    assert layer_split(96, 8) == [12] * 8
    # Llama 3 405B on 16 stages: first and last stage one layer fewer (arXiv 2407.21783)
    assert layer_split(126, 16) == [7] + [8] * 14 + [7]
    for L, V in [(61, 16), (5, 4), (32, 3), (7, 7)]:
        s = layer_split(L, V)
        assert sum(s) == L and max(s) - min(s) <= 1


def _comms(prog, prefix="mb0."):
    return [o for o in prog.ops if o.kind == "collective" and o.name.startswith(prefix)]


@pytest.mark.parametrize("sp", [False, True])
def test_tp_collectives_per_layer(sp):
    m = MODELS["gpt3-175b"]
    b, s = 2, 2048
    tr = generate("gpt3-175b", gpus=64, tp=8, pp=8, micro_batch=b, global_batch=16, sp=sp)
    prog = tr.programs[3]                       # a middle stage: 12 layers, no embedding
    layer_ops = [o for o in _comms(prog) if o.layer == "layer40"]
    size = b * s * m.hidden * 2
    assert all(o.group == "tp" and o.size_bytes == size for o in layer_ops)
    fwd = Counter(o.collective for o in layer_ops if o.phase == "fwd")
    bwd = Counter(o.collective for o in layer_ops if o.phase == "bwd")
    if sp:
        assert fwd == bwd == Counter({"allgather": 2, "reducescatter": 2})
    else:
        assert fwd == bwd == Counter({"allreduce": 2})


def test_tp1_has_no_tp_collectives():
    tr = generate("llama3-8b", gpus=8, tp=1, pp=1, global_batch=8)
    assert not [o for o in tr.programs[0].ops if o.group == "tp"]


def test_ep_all_to_all_per_moe_layer():
    m = MODELS["mixtral-8x7b"]
    tr = generate("mixtral-8x7b", gpus=64, tp=2, pp=4, ep=8, global_batch=64)
    a2a = [o for o in _comms(tr.programs[1]) if o.collective == "alltoall"]
    per_layer = Counter((o.layer, o.phase) for o in a2a)
    assert set(per_layer.values()) == {2}                       # dispatch + combine
    assert {ph for _, ph in per_layer} == {"fwd", "bwd"}
    assert len({la for la, _ in per_layer}) == 8                 # 32 layers / 4 stages
    tokens_per_rank = 4096 / 2                                   # SP splits s over tp
    assert all(o.group == "ep" and o.size_bytes == tokens_per_rank * m.top_k * m.hidden * 2
               for o in a2a)


def test_pipeline_p2p_volume_and_pairing():
    m = MODELS["gpt3-175b"]
    tr = generate("gpt3-175b", gpus=64, tp=8, pp=8, global_batch=16, sp=False)
    n_mb = 16                                   # dp = 1
    sends = Counter()
    for s, prog in enumerate(tr.programs):
        for o in prog.ops:
            if o.kind in ("send", "recv"):
                assert o.group == "pp" and o.size_bytes == 2048 * m.hidden * 2
                sends[(o.kind, o.phase, o.peer_offset)] += 1
    # per micro-batch per boundary: one activation forward, one gradient backward
    assert sends[("send", "fwd", 1)] == sends[("recv", "fwd", -1)] == 7 * n_mb
    assert sends[("send", "bwd", -1)] == sends[("recv", "bwd", 1)] == 7 * n_mb
    tags = [o.tag for p in tr.programs for o in p.ops if o.kind == "send"]
    assert len(tags) == len(set(tags))


@pytest.mark.parametrize("zero", [0, 1])
def test_dp_gradient_volume_and_overlap(zero):
    m = MODELS["llama3-70b"]
    tr = generate("llama3-70b", gpus=64, tp=4, pp=4, global_batch=32, zero=zero)
    total_params_per_tp_rank = 0.0
    for s, prog in enumerate(tr.programs):
        dp_ops = [o for o in prog.ops if o.phase == "dp"]
        assert all(o.group == "dp" for o in dp_ops)
        red = [o for o in dp_ops if o.collective == ("reducescatter" if zero else "allreduce")]
        assert len(red) == len(dp_ops) and len(red) > 1              # bucketed
        n_params = sum(o.size_bytes for o in red) / 4                 # fp32 gradients
        total_params_per_tp_rank += n_params
        ag = [o for o in prog.ops if o.phase == "param_gather"]
        if zero:
            assert sum(o.size_bytes for o in ag) == pytest.approx(n_params * 2)
        else:
            assert not ag
        # the first bucket waits only for the last micro-batch's backward of its layers:
        # it is issued before the stage's last compute of the backward pass
        last_mb = tr.metadata["parallelism"]["micro_batches"] - 1
        first_dep = max(red[0].deps)
        by_id = {o.id: o for o in prog.ops}
        assert by_id[first_dep].name.startswith(f"mb{last_mb}.")
        last_bwd = max(o.id for o in prog.ops if o.phase in ("ig", "wg"))
        assert first_dep < last_bwd
    # all stages together reduce every parameter once per TP shard (embedding and the
    # output layer are both counted: untied)
    assert total_params_per_tp_rank * 4 == pytest.approx(m.params(), rel=1e-3)


def test_expert_gradients_reduce_over_dp_ep():
    tr = generate("mixtral-8x7b", gpus=64, tp=2, pp=4, ep=4, global_batch=64)
    assert tr.groups["dp_ep"].size == 2 and tr.groups["ep"].size == 4
    groups = Counter(o.group for o in tr.programs[0].ops if o.phase == "dp")
    assert groups["dp"] > 0 and groups["dp_ep"] > 0


def test_programs_are_spmd_and_trace_validates():
    tr = generate("gpt3-175b", gpus=512, tp=8, pp=8, global_batch=512).validate()
    assert len(tr.programs) == 8
    assert all(len(p.ranks) == 64 for p in tr.programs)
    # the stage's ranks are its row of the pp group
    pp = tr.groups["pp"].members
    for s, p in enumerate(tr.programs):
        assert np.array_equal(np.sort(p.ranks), np.sort(pp[:, s]))


def test_op_count_does_not_grow_with_gpus():
    kw = dict(tp=8, pp=8, bucket_size_params=1e8)   # default bucket size grows with dp
    small = generate("gpt3-175b", gpus=512, global_batch=64, **kw)
    huge = generate("gpt3-175b", gpus=131072, global_batch=16384, **kw)
    assert small.metadata["parallelism"]["micro_batches"] == 8
    assert huge.metadata["parallelism"]["micro_batches"] == 8
    n = lambda t: sum(len(p.ops) for p in t.programs)  # noqa: E731
    assert n(huge) == n(small)
    assert huge.world_size == 131072 and huge.groups["tp"].members.shape == (16384, 8)


@pytest.mark.parametrize("kw,field", [
    (dict(gpus=100, tp=8, pp=8, dp=2), "gpus"),
    (dict(gpus=64, tp=8, pp=8, dp=2), "gpus"),
    (dict(gpus=64, tp=8, pp=4, global_batch=3), "global_batch"),
    (dict(gpus=64, tp=8, pp=4, ep=2), "ep"),                 # dense model
    (dict(gpus=64, tp=8, pp=8, vpp=2, schedule="1f1b"), "vpp"),
    (dict(gpus=64, tp=8, pp=8, vpp=2, global_batch=12), "global_batch"),  # m % p
    (dict(gpus=8, tp=8, pp=1, schedule="interleaved", vpp=2), "schedule"),
    (dict(gpus=64, tp=8, pp=8, schedule="zigzag"), "schedule"),
    (dict(gpus=64, tp=8, pp=8, recompute="some"), "recompute"),
    (dict(gpus=64, tp=8, pp=8, zero=3), "zero"),
    (dict(gpus=64, tp=8, pp=8, gpu="v100"), "gpu"),
    (dict(gpus=64, tp=8, pp=8, fraction=0.0), "fraction"),
    (dict(gpus=64, tp=8, pp=8, micro_batch=0), "micro_batch"),
    (dict(gpus=1024, tp=1, pp=128, global_batch=1024), "pp"),  # 96 layers < 128 stages
    (dict(gpus=64, tp=8, pp=8, seq_len=2049), "seq_len"),      # SP needs s % tp == 0
])
def test_bad_input_names_the_field(kw, field):
    with pytest.raises(CposimError) as e:
        generate("gpt3-175b", **kw)
    assert e.value.field == field


def test_moe_validation():
    with pytest.raises(CposimError) as e:
        generate("mixtral-8x7b", gpus=64, tp=1, pp=1, ep=3, global_batch=64)
    assert e.value.field == "ep"
    with pytest.raises(CposimError) as e:
        generate("mixtral-8x7b", gpus=48, tp=1, pp=1, ep=16, global_batch=48)  # 8 experts
    assert e.value.field == "ep"
    with pytest.raises(CposimError) as e:
        generate("no-such-model", gpus=8)
    assert e.value.field == "model"


def test_overlap_param_gather_moves_allgathers_to_the_start():
    from test_generator_schedule import critical_path

    kw = dict(gpus=64, tp=4, pp=4, global_batch=32, zero=1)
    plain = generate("llama3-70b", **kw)
    over = generate("llama3-70b", overlap_param_gather=True, **kw)
    for a, b in zip(plain.programs, over.programs):
        ag_a = [o for o in a.ops if o.phase == "param_gather"]
        ag_b = [o for o in b.ops if o.phase == "param_gather"]
        assert sum(o.size_bytes for o in ag_a) == sum(o.size_bytes for o in ag_b) > 0
        first_compute = min(o.id for o in b.ops if o.kind == "compute")
        assert all(o.id < first_compute for o in ag_b)          # issued first, chained
        waited = {d for o in b.ops if o.kind == "compute" for d in o.deps} & {o.id for o in ag_b}
        assert waited == {o.id for o in ag_b}                   # each gates a first forward
        gated = [o for o in b.ops if o.kind == "compute" and set(o.deps) & waited]
        assert all(o.name.startswith("mb0.") and o.phase == "fwd" for o in gated)
    slow_a, _ = critical_path(plain, collective_s=1e-3)
    slow_b, _ = critical_path(over, collective_s=1e-3)
    assert slow_b < slow_a
