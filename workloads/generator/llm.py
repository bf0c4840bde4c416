"""Generate the canonical trace of one LLM-training iteration under Megatron-style 4D
parallelism (TP + SP, PP with GPipe / 1F1B / interleaved 1F1B, DP with all-reduce or the
distributed optimizer (ZeRO-1), EP for MoE).

SPMD: one :class:`Program` per pipeline stage, shared by its tp·dp ranks, so the trace size
depends on layers/stage × micro-batches, not on the GPU count.

Dependencies encode the execution:

* Compute ops of a stage form one chain in schedule order (its compute stream).
* A collective depends on the op producing its data; the next compute depends on it
  (blocking TP/EP communication as in Megatron), except the input-gradient collective of the
  backward pass, which overlaps the weight-gradient GEMM (see ``blocks.py``).
* Pipeline: a stage's first forward block depends on a ``recv`` of the previous virtual
  stage's activations; after its last block it ``send`` s them on. ``recv`` s have no deps
  (pre-posted; they complete when the matching send's data has arrived). ``peer_offset`` is
  ±1 in the ``pp`` group and wraps around (stage p-1 → stage 0) for interleaved chunks.
  Send and recv of one transfer carry the same ``tag`` = (direction·(V-1) + boundary)·m + mb,
  V = pp·vpp virtual stages, boundary = index of the sending side's virtual stage (forward)
  or of the receiving side's (backward).
* DP (Megatron DDP with ``overlap_grad_reduce``): gradients are bucketed (bucket size in
  parameters, in backward order, per model chunk, expert and non-expert parameters apart);
  a bucket's all-reduce / reduce-scatter depends on the last weight-gradient op of its
  layers in the *last* micro-batch's backward, so it overlaps the rest of that backward.
  DP collectives share one stream (chained). Gradients are reduced in fp32 (Megatron forces
  ``accumulate_allreduce_grads_in_fp32`` with bf16, arguments.py). Then the optimizer step
  (Adam, memory bound: 30 B per parameter of its shard) and, with ZeRO-1, the bf16 parameter
  all-gathers: after the step (Megatron's default), or, with ``overlap_param_gather``, at the
  start of the iteration, each bucket gating the first forward of its layers (the steady
  state of Megatron's ``--overlap-param-gather``, rotated into one iteration).
* Context parallelism (``cp``): Llama 3's all-gather CP (see ``blocks.py``); the gradient
  group ``dp`` then spans dp x cp ranks.
* Left out: the embedding-group all-reduce between first and last stage for tied
  embeddings, gradient-norm all-reduces, cross-entropy's small TP all-reduces, and load
  imbalance between experts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from sim.errors import CposimError
from sim.gcpause import gc_paused
from workloads.generator import blocks as B
from workloads.generator.gpus import GpuSpec, get_gpu
from workloads.generator.models import ModelSpec, get_model
from workloads.generator.parallelism import ParallelConfig, build_groups, layer_split
from workloads.generator.schedule import Unit, emit_stage
from workloads.trace import Group, Op, Program, Trace

log = logging.getLogger(__name__)

ADAM_BYTES_PER_PARAM = 30        # fp32 grad r, master r/w, m r/w, v r/w (28) + bf16 param w
ADAM_FLOPS_PER_PARAM = 12
GRAD_BYTES = 4                   # fp32 gradient reduction
PARAM_BYTES = 2                  # bf16 parameter all-gather


# Collectives Megatron issues on the compute stream (NCCL kernels in stream order, no
# tp-comm-overlap): tensor-parallel all-reduce / all-gather / reduce-scatter and the MoE
# all-to-all. They hold the GPU's stream, so they are ordered with the compute around them.
# Data-parallel gradient and parameter collectives run on their own streams, overlapped.
IN_STREAM_GROUPS = frozenset({"tp", "ep", "cp"})


class _Stage:
    """Op list of one pipeline stage under construction."""

    def __init__(self, gpu: GpuSpec) -> None:
        self.ops: list[Op] = []
        self.gpu = gpu
        self.compute_tail: int | None = None
        self.stream_tail: int | None = None  # last compute or in-stream collective
        self._dur: dict[tuple[float, float], float] = {}

    def _id(self) -> int:
        return len(self.ops)

    def compute(self, name: str, flops: float, mem_bytes: float, deps: tuple[int, ...],
                layer: str, phase: str, serial_bytes: float = 0.0) -> int:
        key = (flops, mem_bytes, serial_bytes)
        dur = self._dur.get(key)
        if dur is None:
            dur = self._dur[key] = self.gpu.compute_time_s(flops, mem_bytes, serial_bytes)
        i = self._id()
        deps = _with(deps, self.stream_tail)
        self.ops.append(Op(i, "compute", name, deps, dur, flops, mem_bytes + serial_bytes,
                           layer=layer, phase=phase))
        self.compute_tail = i
        self.stream_tail = i
        return i

    def comm(self, name: str, c: B.Comm, deps: tuple[int, ...], layer: str, phase: str) -> int:
        i = self._id()
        in_stream = c.group in IN_STREAM_GROUPS
        if in_stream:
            deps = _with(deps, self.stream_tail)
        self.ops.append(Op(i, "collective", name, deps, collective=c.collective, group=c.group,
                           size_bytes=c.size_bytes, layer=layer, phase=phase))
        if in_stream:
            self.stream_tail = i
        return i

    def p2p(self, kind: str, name: str, size: float, offset: int, tag: int,
            deps: tuple[int, ...], phase: str) -> int:
        i = self._id()
        self.ops.append(Op(i, kind, name, deps, group="pp", size_bytes=size, peer_offset=offset,
                           tag=tag, phase=phase))
        return i


def _with(deps: tuple[int, ...], extra: int | None) -> tuple[int, ...]:
    if extra is None or extra in deps:
        return deps
    return tuple(sorted((*deps, extra)))


def _deps(a: int | None, b: int | None = None) -> tuple[int, ...]:
    if a is None:
        return () if b is None else (b,)
    if b is None or b == a:
        return (a,)
    return (a, b) if a < b else (b, a)


def _block_list(model: ModelSpec, ctx: B.Ctx, layers: range, first: bool,
                last: bool) -> list[tuple[str, B.Block]]:
    """(layer label, block) in forward order for one virtual stage."""
    attn = B.attention(model, ctx)
    mlp = B.dense_mlp(model, ctx)
    moe = B.moe_blocks(model, ctx) if model.is_moe else None
    out: list[tuple[str, B.Block]] = []
    if first:
        out.append(("embedding", B.embedding(model, ctx)))
    for i in layers:
        lab = f"layer{i}"
        out.append((lab, attn))
        if model.is_moe_layer(i):
            out += [(lab, moe[0]), (lab, moe[1])]
        else:
            out.append((lab, mlp))
    if last:
        out.append(("output", B.output_layer(model, ctx)))
    return out


@gc_paused          # 10^4-10^5 ops and dependency tuples, no cycles: see sim.gcpause
def generate(model: str | ModelSpec, *, gpus: int, tp: int = 1, pp: int = 1,
             dp: int | None = None, ep: int = 1, vpp: int = 1, sp: bool | None = None,
             cp: int = 1, attention: str = "flash", elementwise: str = "overlapped",
             zero: int = 1, micro_batch: int = 1, global_batch: int | None = None,
             seq_len: int | None = None, gpu: str | GpuSpec = "h100",
             fraction: float | None = None, schedule: str | None = None,
             recompute: str = "none", bucket_size_params: float | None = None,
             overlap_param_gather: bool = False) -> Trace:
    """One training iteration of ``model`` on ``gpus`` GPUs as a canonical :class:`Trace`.

    ``dp`` defaults to gpus/(tp·pp); ``sp`` to tp > 1; ``schedule`` to "interleaved" when
    vpp > 1, else "1f1b"; ``global_batch``/``seq_len`` to the model's published values;
    ``fraction`` overrides the GPU preset's achievable fraction of peak;
    ``bucket_size_params`` defaults to Megatron DDP's max(40M, 1M·dp) parameters.
    ``cp``: context parallelism (Llama 3's all-gather CP); ``attention`` (flash | unfused) and
    ``elementwise`` (overlapped | serial): the kernel model of ``blocks.py``.
    """
    spec = get_model(model)
    g = get_gpu(gpu).with_fraction(fraction)
    if dp is None:
        if tp < 1 or pp < 1 or cp < 1 or gpus % (tp * pp * cp):
            raise CposimError(f"gpus ({gpus}) must be divisible by tp*cp*pp = {tp}*{cp}*{pp}",
                              field="gpus")
        dp = gpus // (tp * pp * cp)
    if sp is None:
        sp = tp > 1
    if schedule is None:
        schedule = "interleaved" if vpp > 1 else "1f1b"
    if ep > 1 and not spec.is_moe:
        raise CposimError(f"ep = {ep} needs an MoE model; {spec.name} is dense", field="ep")
    if spec.is_moe and tp > 1 and ep > 1 and not sp:
        # Megatron-LM arguments.py: "When using expert parallelism and tensor parallelism,
        # sequence parallelism must be used."
        raise CposimError("MoE with tp > 1 and ep > 1 needs sequence parallelism", field="sp")
    if spec.is_moe and spec.n_experts % ep:
        raise CposimError(f"{spec.n_experts} experts cannot be split over ep = {ep}", field="ep")
    cfg = ParallelConfig(gpus=gpus, tp=tp, pp=pp, dp=dp, ep=ep, cp=cp, vpp=vpp, sp=bool(sp),
                         zero=zero, micro_batch=micro_batch,
                         global_batch=spec.global_batch if global_batch is None else global_batch,
                         seq_len=spec.seq_len if seq_len is None else seq_len,
                         schedule=schedule, recompute=recompute,
                         bucket_size_params=float(max(40e6, 1e6 * dp * cp)
                                                  if bucket_size_params is None
                                                  else bucket_size_params),
                         overlap_param_gather=bool(overlap_param_gather),
                         attention=attention, elementwise=elementwise).validate(spec.n_layers)
    if spec.learned_pos_emb and cfg.seq_len != spec.seq_len:
        spec = spec.with_overrides(seq_len=cfg.seq_len)

    m, p, v = cfg.micro_batches, cfg.pp, cfg.vpp
    n_virtual = p * v
    ctx = B.Ctx(tokens=cfg.micro_batch * cfg.seq_len // cfg.cp, seq_len=cfg.seq_len, tp=tp,
                ep=ep, sp=cfg.sp, recompute=cfg.recompute, cp=cfg.cp, attention=cfg.attention,
                elementwise=cfg.elementwise)
    counts = layer_split(spec.n_layers, n_virtual)
    starts = np.concatenate([[0], np.cumsum(counts)])
    vstage_blocks = [_block_list(spec, ctx, range(int(starts[s]), int(starts[s + 1])),
                                 s == 0, s == n_virtual - 1) for s in range(n_virtual)]
    act_bytes = ctx.tokens_sp * spec.hidden * B.BF16_BYTES  # SP: activations stay sharded

    groups = build_groups(cfg, moe=spec.is_moe)
    grid = np.arange(gpus, dtype=np.int64).reshape(p, -1)
    programs = []
    for stage in range(p):
        st = _build_stage(stage, cfg, g, vstage_blocks, act_bytes)
        programs.append(Program(grid[stage], st.ops, name=f"stage{stage}"))

    params = spec.params()
    active = spec.params(active=True)
    tokens = cfg.global_batch * cfg.seq_len
    expected = 6.0 * active * tokens / (gpus * g.peak_flops * g.fraction)
    model_flops = sum(len(pr.ranks) * sum(o.flops or 0.0 for o in pr.ops
                                          if o.kind == "compute" and o.phase != "optimizer")
                      for pr in programs)
    metadata = {
        "format": "cposim-generator",
        "source": "cposim generator (workloads.generator.llm)",
        "model": spec.name,
        "model_source": spec.source,
        "params": params,
        "active_params": active,
        "tokens_per_iteration": tokens,
        "parallelism": {"tp": tp, "pp": p, "dp": dp, "ep": ep, "cp": cfg.cp, "vpp": v,
                        "sp": cfg.sp, "attention": cfg.attention,
                        "elementwise": cfg.elementwise,
                        "zero": cfg.zero, "micro_batch": cfg.micro_batch,
                        "global_batch": cfg.global_batch, "micro_batches": m,
                        "seq_len": cfg.seq_len, "recompute": cfg.recompute,
                        "bucket_size_params": cfg.bucket_size_params,
                        "overlap_param_gather": cfg.overlap_param_gather,
                        "layers_per_virtual_stage": counts},
        "schedule": cfg.schedule,
        "gpu": {"name": g.name, "peak_flops": g.peak_flops, "hbm_bw_Bps": g.hbm_bw_Bps,
                "fraction": g.fraction, "hbm_fraction": g.hbm_fraction, "source": g.source},
        "expected_compute_s": expected,          # 6·P·T / (N·peak·fraction)
        "model_flops_per_iteration": model_flops,  # what the trace's compute ops add up to
        "p2p_peer_offset_wraps": True,
        "assumptions": [
            "attention FLOPs halved for causal masking (FlashAttention skips masked tiles)",
            "backward = input-grad (ig) + weight-grad (wg); TP/EP input-grad collectives "
            "overlap wg; pipeline sends wait for the whole backward step",
            "roofline per block: max(FLOPs/(peak*fraction), bytes/(HBM*hbm_fraction))",
            "experts TP-sharded like the dense MLP; balanced routing (no expert imbalance)",
            "DeepSeek-V3 MLA by its projection shapes, d_qk=192, d_v=128; no MTP module",
            "gradients reduced in fp32, parameters gathered in bf16; Adam 30 B/param",
            "left out: tied-embedding all-reduce, grad-norm and cross-entropy all-reduces",
            "context parallelism: K/V all-gathered over cp before the attention core (Llama 3)",
        ],
        "units": {"duration": "s", "size": "bytes", "flops": "FLOP"},
    }
    trace = Trace(world_size=gpus, programs=programs,
                  groups={k: Group(k, v_) for k, v_ in groups.items()}, metadata=metadata)
    log.info("generated %s: %d GPUs, %d programs, %d ops", spec.name, gpus, len(programs),
             sum(len(pr.ops) for pr in programs))
    return trace


def _build_stage(stage: int, cfg: ParallelConfig, gpu: GpuSpec,
                 vstage_blocks: list[list[tuple[str, B.Block]]], act_bytes: float) -> _Stage:
    p, m, v = cfg.pp, cfg.micro_batches, cfg.vpp
    st = _Stage(gpu)
    # grad_op[(chunk, block index)] = op after which that block's gradients are final
    grad_op: dict[tuple[int, int], int] = {}
    buckets = _bucket_plan(stage, cfg, vstage_blocks)
    # --overlap-param-gather: the ZeRO-1 all-gathers of the previous step's update run at
    # the start of this iteration, one bucket after another in forward order; a block's first
    # forward waits for its bucket (Megatron's forward pre-hook). Steady state, one iteration.
    waits: dict[tuple[int, int], list[int]] = {}
    if cfg.zero == 1 and cfg.overlap_param_gather:
        prev = None
        for k in sorted(range(len(buckets)), key=lambda k: (buckets[k].chunk,
                                                            min(buckets[k].blocks))):
            bk = buckets[k]
            if bk.dp_size == 1:
                continue
            c = B.Comm("allgather", bk.group, bk.params * PARAM_BYTES, "")
            prev = st.comm(f"dp.bucket{k}.{bk.group}.param_allgather", c, _deps(prev), "",
                           "param_gather")
            for bi in bk.blocks:
                waits.setdefault((bk.chunk, bi), []).append(prev)

    emit_stage(cfg.schedule, stage, p, m, v,
               _StageUnits(st, p, stage, vstage_blocks, act_bytes, waits, grad_op))
    _data_parallel(st, cfg, buckets, grad_op)
    return st


class _StageUnits:
    """Forward and backward of one (micro-batch, chunk) unit on a stage, for emit_stage."""

    def __init__(self, st: _Stage, p: int, stage: int,
                 vstage_blocks: list[list[tuple[str, B.Block]]], act_bytes: float,
                 waits: dict[tuple[int, int], list[int]],
                 grad_op: dict[tuple[int, int], int]) -> None:
        self.st, self.p, self.stage = st, p, stage
        self.vstage_blocks, self.act_bytes = vstage_blocks, act_bytes
        self.waits, self.grad_op = waits, grad_op

    def p2p(self, kind: str, name: str, offset: int, tag: int, deps: tuple[int, ...],
            phase: str) -> int:
        return self.st.p2p(kind, name, self.act_bytes, offset, tag, deps, phase)

    def forward(self, u: Unit, data: int | None) -> tuple[int, ...]:
        st, waits = self.st, self.waits
        pre = f"mb{u.mb}.c{u.chunk}."
        for bi, (lab, blk) in enumerate(self.vstage_blocks[u.chunk * self.p + self.stage]):
            nm = pre + lab + "." + blk.name
            for c in blk.pre:
                data = st.comm(nm + "." + c.what, c, _deps(data), lab, "fwd")
            deps = _deps(st.compute_tail, data)
            if waits:
                w = waits.pop((u.chunk, bi), None)
                if w:
                    deps = tuple(sorted(set(deps) | set(w)))
            data = st.compute(nm + ".fwd", blk.fwd_flops, blk.fwd_bytes, deps, lab, "fwd",
                              blk.fwd_serial_bytes)
            for c in blk.post:
                data = st.comm(nm + "." + c.what, c, _deps(data), lab, "fwd")
        return _deps(data)

    def backward(self, u: Unit, data: int | None) -> tuple[int, ...]:
        st = self.st
        pre = f"mb{u.mb}.c{u.chunk}."
        blocks = self.vstage_blocks[u.chunk * self.p + self.stage]
        for bi in range(len(blocks) - 1, -1, -1):
            lab, blk = blocks[bi]
            nm = pre + lab + "." + blk.name
            for c in blk.bwd_pre:
                data = st.comm(nm + "." + c.what + ".bwd", c, _deps(data), lab, "bwd")
            ig = st.compute(nm + ".ig", blk.ig_flops, blk.ig_bytes,
                            _deps(st.compute_tail, data), lab, "ig", blk.ig_serial_bytes)
            data = ig
            if blk.wg_flops or blk.wg_bytes:
                st.compute(nm + ".wg", blk.wg_flops, blk.wg_bytes, (ig,), lab, "wg")
            self.grad_op[(u.chunk, bi)] = st.compute_tail
            for c in blk.bwd_post:
                data = st.comm(nm + "." + c.what + ".bwd", c, _deps(data), lab, "bwd")
        # Megatron sends after the whole backward step (autograd returns after wgrad)
        return _deps(data, st.compute_tail)


@dataclass(frozen=True)
class _Bucket:
    chunk: int
    group: str             # dp | dp_ep
    dp_size: int
    params: float          # per-rank parameters (unsharded)
    blocks: tuple[int, ...]


def _bucket_plan(stage: int, cfg: ParallelConfig,
                 vstage_blocks: list[list[tuple[str, B.Block]]]) -> list[_Bucket]:
    """Megatron DDP buckets: per model chunk, filled in backward order, closed once they
    reach the bucket size (a layer's parameters are never split); experts apart."""
    out = []
    for chunk in range(cfg.vpp):
        blocks = vstage_blocks[chunk * cfg.pp + stage]
        for attr, grp, size in (("params", "dp", cfg.dp_cp),
                                ("expert_params", "dp_ep", cfg.dp // cfg.ep)):
            acc, members = 0.0, []
            for bi in range(len(blocks) - 1, -1, -1):
                n = getattr(blocks[bi][1], attr)
                if n <= 0:
                    continue
                acc += n
                members.append(bi)
                if acc >= cfg.bucket_size_params:
                    out.append(_Bucket(chunk, grp, size, acc, tuple(members)))
                    acc, members = 0.0, []
            if acc > 0:
                out.append(_Bucket(chunk, grp, size, acc, tuple(members)))
    return out


def _data_parallel(st: _Stage, cfg: ParallelConfig, buckets: list[_Bucket],
                   grad_op: dict[tuple[int, int], int]) -> None:
    """Bucketed gradient reduction overlapping the last backward, optimizer, param gather."""
    ready = [max(grad_op[(b.chunk, bi)] for bi in b.blocks) for b in buckets]
    order = sorted(range(len(buckets)), key=lambda k: ready[k])
    zero1 = cfg.zero == 1
    prev: int | None = None
    reduced = []
    for k in order:
        b = buckets[k]
        if b.dp_size == 1:
            continue
        c = B.Comm("reducescatter" if zero1 else "allreduce", b.group, b.params * GRAD_BYTES, "")
        prev = st.comm(f"dp.bucket{k}.{b.group}.{c.collective}", c, _deps(ready[k], prev),
                       "", "dp")
        reduced.append(k)
    shard = sum(b.params / (b.dp_size if zero1 else 1) for b in buckets)
    opt = st.compute("optimizer.step", ADAM_FLOPS_PER_PARAM * shard, ADAM_BYTES_PER_PARAM * shard,
                     _deps(st.compute_tail, prev), "", "optimizer")
    if zero1 and not cfg.overlap_param_gather:
        prev = opt
        for k in reduced:
            b = buckets[k]
            c = B.Comm("allgather", b.group, b.params * PARAM_BYTES, "")
            prev = st.comm(f"dp.bucket{k}.{b.group}.param_allgather", c, (prev,), "",
                           "param_gather")
