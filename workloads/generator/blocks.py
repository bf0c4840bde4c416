"""Per-rank cost of each block of a layer for one micro-batch: FLOPs, HBM bytes, the TP/EP
communication around it, and the parameters whose gradients it produces.

A block is the compute between two communication points of Megatron's tensor parallelism
(Shoeybi et al. 2019, arXiv 1909.08053, Fig. 3; Korthikanti et al. 2022, arXiv 2205.05198,
Fig. 5): the attention block and the MLP block each have an ``f`` operator at their input
(identity forward / all-reduce backward; with sequence parallelism all-gather forward /
reduce-scatter backward) and a ``g`` operator at their output (all-reduce forward / identity
backward; with SP reduce-scatter forward / all-gather backward). Collective sizes are
b·s·h·2 bytes (the whole buffer, nccl-tests convention).

An MoE MLP is two blocks: ``router`` (gate; its output goes through the EP all-to-all
*dispatch*) and ``experts`` (routed + shared experts; the all-to-all *combine* follows, then
``g``). Backward mirrors every exchange (Megatron-core ``MoEAlltoAllTokenDispatcher``).
Experts are TP-sharded like the dense MLP (expert-TP = TP); the per-rank all-to-all carries
its local tokens × top-k × hidden × 2 bytes, local tokens = b·s/tp with SP and b·s without.
The token all-gather / reduce-scatter that expert-TP adds inside the dispatcher is folded
into the block's ``f``/``g``.

Backward is split like Megatron does it: ``ig`` (input-gradient GEMMs, attention-core
backward, recomputation) and ``wg`` (weight-gradient GEMMs, accumulated into the fp32
``main_grad``, gradient_accumulation_fusion). The collective on the input gradient depends
on ``ig`` only, so it overlaps ``wg`` (Megatron's async TP all-reduce / SP reduce-scatter).

Memory traffic (bytes) is a first-order count for the roofline: weights read once per GEMM
pass, GEMM inputs/outputs and the element-wise ops (norm, residual, bias/dropout ≈ 8 reads or
writes of a hidden vector per token per block; activation ≈ 4 (GeLU) or 6 (SwiGLU) of an
FFN vector). For the micro-batches of LLM training these blocks are compute bound, so the
bytes only matter for small shapes.

Two opt-in kernel models (defaults keep the above):

* ``elementwise="serial"``: the element-wise kernels (norms, residual, bias/dropout, the MLP
  activation) run as kernels of their own between the GEMMs, so their bytes are *added* to the
  block's time (``*_serial_bytes``) instead of hiding under the roofline's max. Backward moves
  twice the forward's element-wise bytes (reads the saved input and the gradient, writes the
  gradient).
* ``attention="unfused"``: no FlashAttention (Megatron-LM before 2022): the core computes the
  whole s x s score matrix (no causal halving of its FLOPs) and materialises it in HBM: forward
  6 passes over b.(a/tp).s_local.s bf16 elements (QK^T writes it, the fused scale-mask-softmax
  reads and writes it, attention dropout reads and writes it, A.V reads it), backward 8
  (dropout, softmax and both GEMM gradients), all memory bound (a GEMM with inner dimension
  d_head = 128 is below the ridge point of A100/H100).

Context parallelism (``cp`` > 1, Llama 3's all-gather CP, arXiv 2407.21783 §3.3.2): a rank
holds s/cp tokens of each sequence; before the attention core it all-gathers K and V over the
``cp`` group (exposed, in the compute stream), after the core's backward it reduce-scatters
their gradients; its queries attend to the whole sequence (load-balanced causal chunks, so the
core's FLOPs per local token equal the full sequence's average).

With ``recompute="full"`` the backward first re-runs the block's forward, including its TP/CP
collectives (Megatron's checkpointed function contains them), so ``bwd_pre`` starts with the
forward's ``pre`` and ``post`` collectives.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from workloads.generator.models import BF16_BYTES, ModelSpec

ELEMENTWISE_H_PER_BLOCK = 8      # norm r/w, residual 2r+1w, bias/dropout r/w (see docstring)
UNFUSED_ATTN_FWD_PASSES = 6      # s x s score matrix: QK^T w, softmax r+w, dropout r+w, AV r
UNFUSED_ATTN_BWD_PASSES = 8      # dropout, softmax and the two GEMM gradients
MAIN_GRAD_BYTES = 8              # fp32 main_grad read + write per weight in wgrad
SELECTIVE = "selective"


@dataclass(frozen=True)
class Comm:
    collective: str   # allreduce | allgather | reducescatter | alltoall
    group: str
    size_bytes: float
    what: str         # short label: tp_f, tp_g, a2a_dispatch, a2a_combine


@dataclass(frozen=True)
class Block:
    name: str
    fwd_flops: float
    fwd_bytes: float
    ig_flops: float
    ig_bytes: float
    wg_flops: float
    wg_bytes: float
    pre: tuple[Comm, ...]          # forward, before the compute
    post: tuple[Comm, ...]         # forward, after the compute
    bwd_pre: tuple[Comm, ...]      # backward, before ig
    bwd_post: tuple[Comm, ...]     # backward, after ig (overlaps wg)
    params: float                  # per-rank parameters reduced over "dp"
    expert_params: float = 0.0     # per-rank parameters reduced over "dp_ep"
    fwd_serial_bytes: float = 0.0  # memory-bound kernels outside the GEMMs' roofline (forward)
    ig_serial_bytes: float = 0.0   # the same for the input-gradient step (incl. recompute)


@dataclass(frozen=True)
class Ctx:
    """What a block's cost depends on besides the model."""

    tokens: int        # b·s of one micro-batch (b·s/cp: the rank's share with context parallelism)
    seq_len: int
    tp: int
    ep: int
    sp: bool
    recompute: str     # none | selective | full
    cp: int = 1
    attention: str = "flash"          # flash | unfused
    elementwise: str = "overlapped"   # overlapped | serial

    @property
    def tokens_sp(self) -> float:
        """Tokens whose hidden vectors one rank holds outside the TP region."""
        return self.tokens / self.tp if self.sp else self.tokens


def _tp_ops(ctx: Ctx, h: int) -> tuple[tuple[Comm, ...], tuple[Comm, ...],
                                       tuple[Comm, ...], tuple[Comm, ...]]:
    """(f forward, g forward, g backward, f backward) as comm tuples."""
    if ctx.tp == 1:
        return (), (), (), ()
    size = ctx.tokens * h * BF16_BYTES
    if ctx.sp:
        return ((Comm("allgather", "tp", size, "tp_f"),),
                (Comm("reducescatter", "tp", size, "tp_g"),),
                (Comm("allgather", "tp", size, "tp_g"),),
                (Comm("reducescatter", "tp", size, "tp_f"),))
    return ((), (Comm("allreduce", "tp", size, "tp_g"),),
            (), (Comm("allreduce", "tp", size, "tp_f"),))


def _make(name: str, ctx: Ctx, *, w: float, act: float, core: float = 0.0,
          gemm_tokens: float, w_read: float | None = None, pre=(), post=(), bwd_pre=(),
          bwd_post=(), params: float = 0.0, expert_params: float = 0.0,
          elementwise: float = 0.0, scores: float = 0.0) -> Block:
    """``w``: per-rank GEMM weights *applied to each token* (FLOPs = 2·gemm_tokens·w);
    ``w_read``: per-rank weights read from HBM (defaults to w); ``act``: activation elements
    moved in the forward pass; ``core``: forward attention-core FLOPs; ``elementwise``: the
    element-wise kernels' share of ``act`` (serial with ``elementwise="serial"``);
    ``scores``: elements of the s x s score matrix (materialised with
    ``attention="unfused"``)."""
    w_read = w if w_read is None else w_read
    gemm = 2.0 * gemm_tokens * w
    fwd_flops = gemm + core
    fwd_bytes = BF16_BYTES * (w_read + act)
    ig_flops = gemm + 2.0 * core
    ig_bytes = BF16_BYTES * (w_read + 2 * act)
    fwd_serial = ig_serial = 0.0
    if ctx.elementwise == "serial":
        fwd_serial += BF16_BYTES * elementwise
        ig_serial += 2 * BF16_BYTES * elementwise
    if ctx.attention == "unfused":
        fwd_serial += UNFUSED_ATTN_FWD_PASSES * BF16_BYTES * scores
        ig_serial += UNFUSED_ATTN_BWD_PASSES * BF16_BYTES * scores
    if ctx.recompute == "full":
        ig_flops += fwd_flops
        ig_bytes += fwd_bytes
        ig_serial += fwd_serial
        bwd_pre = tuple(pre) + tuple(post) + tuple(bwd_pre)   # the forward's collectives again
    elif ctx.recompute == SELECTIVE:
        ig_flops += core
        if ctx.attention == "unfused":
            ig_serial += UNFUSED_ATTN_FWD_PASSES * BF16_BYTES * scores
    return Block(name, fwd_flops, fwd_bytes, ig_flops, ig_bytes, gemm,
                 BF16_BYTES * 2 * act + MAIN_GRAD_BYTES * w_read, tuple(pre), tuple(post),
                 tuple(bwd_pre), tuple(bwd_post), params, expert_params, fwd_serial, ig_serial)


def attention(m: ModelSpec, ctx: Ctx) -> Block:
    f, g, gb, fb = _tp_ops(ctx, m.hidden)
    T, tp, h = ctx.tokens, ctx.tp, m.hidden
    w = m.attn_matmul_params() / tp
    qkv_out = (m.n_heads * m.d_qk + m.n_kv_heads * (m.d_qk + m.d_v)) / tp
    ctx_out = m.n_heads * m.d_v / tp
    elementwise = ELEMENTWISE_H_PER_BLOCK * h * ctx.tokens_sp
    act = elementwise + T * (2 * h + 2 * qkv_out + 2 * ctx_out)
    unfused = ctx.attention == "unfused"
    core = T * m.attn_core_flops_per_token(ctx.seq_len, 1.0 if unfused else 0.5) / tp
    scores = T * ctx.seq_len * m.n_heads / tp       # local queries x all keys, per head
    if ctx.cp > 1:
        # K and V of the whole sequence (GQA: the rank's KV heads, at least one) gathered over
        # the context-parallel group; their gradients reduce-scattered back
        kv = max(1.0, m.n_kv_heads / tp) * (m.d_qk + m.d_v)
        size = T * ctx.cp * kv * BF16_BYTES
        f = f + (Comm("allgather", "cp", size, "cp_kv"),)
        fb = (Comm("reducescatter", "cp", size, "cp_kv"),) + fb
    return _make("attn", ctx, w=w, act=act, core=core, gemm_tokens=T, pre=f, post=g,
                 bwd_pre=gb, bwd_post=fb,
                 params=(m.attn_matmul_params() + m.attn_other_params()) / tp,
                 elementwise=elementwise, scores=scores)


def dense_mlp(m: ModelSpec, ctx: Ctx) -> Block:
    f, g, gb, fb = _tp_ops(ctx, m.hidden)
    T, tp, h = ctx.tokens, ctx.tp, m.hidden
    act = ELEMENTWISE_H_PER_BLOCK * h * ctx.tokens_sp + T * (2 * h + (6 if m.gated_mlp else 4)
                                                              * m.ffn_hidden / tp)
    # element-wise: norm/residual/dropout + the activation kernel (GeLU r+w, SwiGLU 2r+1w)
    elementwise = ELEMENTWISE_H_PER_BLOCK * h * ctx.tokens_sp + T * (3 if m.gated_mlp else 2) \
        * m.ffn_hidden / tp
    return _make("mlp", ctx, w=m.mlp_matmul_params(m.ffn_hidden) / tp, act=act, gemm_tokens=T,
                 pre=f, post=g, bwd_pre=gb, bwd_post=fb,
                 params=(m.mlp_matmul_params(m.ffn_hidden) + m.dense_mlp_other_params()) / tp,
                 elementwise=elementwise)


def moe_blocks(m: ModelSpec, ctx: Ctx) -> tuple[Block, Block]:
    f, g, gb, fb = _tp_ops(ctx, m.hidden)
    T, tp, h, ep = ctx.tokens, ctx.tp, m.hidden, ctx.ep
    a2a = ()
    if ep > 1:
        a2a = (Comm("alltoall", "ep", ctx.tokens_sp * m.top_k * h * BF16_BYTES, ""),)
    disp = tuple(Comm(c.collective, c.group, c.size_bytes, "a2a_dispatch") for c in a2a)
    comb = tuple(Comm(c.collective, c.group, c.size_bytes, "a2a_combine") for c in a2a)
    Ts = ctx.tokens_sp
    router = _make("router", ctx, w=m.router_params(), act=ELEMENTWISE_H_PER_BLOCK * h * Ts
                   + Ts * 4 * m.n_experts, gemm_tokens=Ts, pre=f, post=disp,
                   bwd_pre=disp, bwd_post=fb, params=(m.router_params() + h) / tp)
    e_w = m.expert_params() / tp
    local_experts = m.n_experts / ep
    inner = (6 if m.gated_mlp else 4) * m.expert_ffn_hidden / tp
    act = T * (m.top_k + m.n_shared_experts) * (2 * h + inner) + 2 * h * Ts
    experts = _make("experts", ctx, w=(m.top_k + m.n_shared_experts) * e_w, act=act,
                    w_read=(local_experts + m.n_shared_experts) * e_w, gemm_tokens=T,
                    post=comb + g, bwd_pre=gb + comb,
                    params=m.n_shared_experts * e_w, expert_params=local_experts * e_w)
    return router, experts


def embedding(m: ModelSpec, ctx: Ctx) -> Block:
    """Vocab-parallel embedding lookup (+ learned positions): memory bound; its output is a
    partial sum over TP shards, hence the ``g`` operator after it."""
    f, g, gb, fb = _tp_ops(ctx, m.hidden)
    T, h = ctx.tokens, m.hidden
    w_emb = m.vocab * h + (m.seq_len * h if m.learned_pos_emb else 0)
    # backward: read the bf16 output gradient, scatter-add into the fp32 main_grad rows
    return Block("embedding", 0.0, BF16_BYTES * 3 * T * h, 0.0, (BF16_BYTES + MAIN_GRAD_BYTES)
                 * T * h, 0.0, 0.0, (), g, gb, (), w_emb / ctx.tp)


def output_layer(m: ModelSpec, ctx: Ctx) -> Block:
    """Final norm + vocab-parallel output GEMM + cross-entropy (its tiny TP all-reduces of
    per-token max/sum are left out). With tied embeddings the last stage still holds a copy
    of the word embeddings, reduced over DP like any parameter."""
    f, g, gb, fb = _tp_ops(ctx, m.hidden)
    T, tp, h = ctx.tokens, ctx.tp, m.hidden
    w = m.vocab * h / tp
    act = ELEMENTWISE_H_PER_BLOCK * h * ctx.tokens_sp + T * (h + 4 * m.vocab / tp)
    # the output layer is never recomputed
    c = replace(ctx, recompute="none")
    return _make("output", c, w=w, act=act, gemm_tokens=T, pre=f, bwd_post=fb,
                 params=(w + (2 if m.biases else 1) * h / tp))
