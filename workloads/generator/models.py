"""The model zoo: transformer architectures as data, and their parameter / FLOP counts.

Every number below is the published architecture (sources on each entry). Parameter counts
are *computed* from the architecture and checked against the published totals in the tests;
``published_params`` is kept only for that check.

FLOP conventions (per token, forward, bf16 matmuls): a matmul with W weights costs 2·W FLOPs;
backward costs 2x forward (input grad + weight grad); attention's score (QK^T) and context
(A·V) products cost 2·s·n_heads·(d_qk + d_v) per token, halved for causal masking because
FlashAttention-2 skips fully masked tiles (Dao 2023, arXiv 2307.08691 §3.1). Element-wise ops
(norms, activations, residuals, softmax) are counted in bytes only (they are memory bound).

DeepSeek-V3 multi-head latent attention (MLA) is modelled by its real projection shapes
(q down/up, kv down/up, output) and an attention core with d_qk = nope + rope = 192 and
d_v = 128; the weight-absorption trick of inference is not used in training, so this is the
training cost. The multi-token-prediction module (14B, not part of the 671B) is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sim.errors import CposimError

BF16_BYTES = 2


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer. Dense if ``n_experts == 0``."""

    name: str
    n_layers: int
    hidden: int
    ffn_hidden: int              # dense MLP inner size
    n_heads: int
    n_kv_heads: int              # == n_heads for MHA, fewer for GQA
    vocab: int
    seq_len: int                 # training sequence length (default for generation)
    global_batch: int            # sequences per iteration (default for generation)
    head_dim: int = 0            # 0 -> hidden // n_heads
    gated_mlp: bool = True       # SwiGLU (3 matrices) vs GeLU (2 matrices)
    biases: bool = False         # GPT-3 has linear/LN biases
    tied_embeddings: bool = False
    learned_pos_emb: bool = False
    # MoE (0 experts = dense)
    n_experts: int = 0
    top_k: int = 0
    expert_ffn_hidden: int = 0
    n_shared_experts: int = 0
    first_dense_layers: int = 0  # leading layers with a dense MLP (DeepSeek-V3: 3)
    # MLA (kv_lora_rank > 0 switches it on)
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_nope_head_dim: int = 0
    qk_rope_head_dim: int = 0
    v_head_dim: int = 0
    # provenance
    published_params: float = 0.0
    published_active_params: float = 0.0
    source: str = ""

    # ---- shapes -------------------------------------------------------------------------
    @property
    def is_moe(self) -> bool:
        return self.n_experts > 0

    @property
    def mla(self) -> bool:
        return self.kv_lora_rank > 0

    @property
    def d_head(self) -> int:
        return self.head_dim or self.hidden // self.n_heads

    @property
    def d_qk(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim if self.mla else self.d_head

    @property
    def d_v(self) -> int:
        return self.v_head_dim if self.mla else self.d_head

    def is_moe_layer(self, layer: int) -> bool:
        return self.is_moe and layer >= self.first_dense_layers

    @property
    def n_moe_layers(self) -> int:
        return self.n_layers - self.first_dense_layers if self.is_moe else 0

    # ---- parameters per block -----------------------------------------------------------
    def attn_matmul_params(self) -> int:
        """Weights of the attention block's matmuls (projections)."""
        h, nh = self.hidden, self.n_heads
        if self.mla:
            q = (h * self.q_lora_rank + self.q_lora_rank * nh * self.d_qk) if self.q_lora_rank \
                else h * nh * self.d_qk
            kv = h * (self.kv_lora_rank + self.qk_rope_head_dim) + \
                self.kv_lora_rank * nh * (self.qk_nope_head_dim + self.v_head_dim)
            return q + kv + nh * self.v_head_dim * h
        d = self.d_head
        return h * nh * d + 2 * h * self.n_kv_heads * d + nh * d * h

    def attn_other_params(self) -> int:
        """Norm weights and biases of the attention block."""
        h = self.hidden
        n = 2 * h if self.biases else h                          # pre-attention LayerNorm/RMSNorm
        if self.mla:
            n += self.kv_lora_rank + self.q_lora_rank            # latent RMSNorms
        if self.biases:
            n += (self.n_heads + 2 * self.n_kv_heads) * self.d_head + h
        return n

    def mlp_matmul_params(self, ffn: int) -> int:
        return (3 if self.gated_mlp else 2) * self.hidden * ffn

    def dense_mlp_other_params(self) -> int:
        h = self.hidden
        n = 2 * h if self.biases else h
        if self.biases:
            n += self.ffn_hidden + h
        return n

    def expert_params(self) -> int:
        return self.mlp_matmul_params(self.expert_ffn_hidden)

    def router_params(self) -> int:
        return self.hidden * self.n_experts

    def layer_params(self, layer: int, *, active: bool = False) -> int:
        """All parameters of one layer (``active``: only the routed experts a token uses)."""
        n = self.attn_matmul_params() + self.attn_other_params()
        if self.is_moe_layer(layer):
            routed = self.top_k if active else self.n_experts
            n += (routed + self.n_shared_experts) * self.expert_params() + self.router_params()
            n += self.hidden                                      # pre-MLP norm
        else:
            n += self.mlp_matmul_params(self.ffn_hidden) + self.dense_mlp_other_params()
        return n

    def embedding_params(self) -> int:
        """Input embedding (+ learned positions) and, if untied, the output layer; final norm."""
        n = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        if self.learned_pos_emb:
            n += self.seq_len * self.hidden
        return n + (2 if self.biases else 1) * self.hidden

    def params(self, *, active: bool = False) -> int:
        return self.embedding_params() + sum(self.layer_params(i, active=active)
                                             for i in range(self.n_layers))

    # ---- FLOPs per token (forward) ------------------------------------------------------
    def attn_core_flops_per_token(self, seq_len: int, causal_factor: float = 0.5) -> float:
        return 2.0 * seq_len * self.n_heads * (self.d_qk + self.d_v) * causal_factor

    def with_overrides(self, **kw) -> ModelSpec:
        return replace(self, **kw)


def _gpt3_175b() -> ModelSpec:
    return ModelSpec(
        name="gpt3-175b", n_layers=96, hidden=12288, ffn_hidden=4 * 12288, n_heads=96,
        n_kv_heads=96, vocab=50257, seq_len=2048, global_batch=1536, gated_mlp=False,
        biases=True, tied_embeddings=True, learned_pos_emb=True,
        published_params=175e9,
        source="Brown et al. 2020, arXiv 2005.14165, Table 2.1 (96 layers, d_model 12288, 96 "
               "heads, n_ctx 2048, batch 3.2M tokens = 1536 x 2048); vocab 50257 (GPT-2 BPE); "
               "Megatron config: Narayanan et al. 2021, arXiv 2104.04473, Table 1 (A)")


def _llama3(name: str, layers: int, hidden: int, ffn: int, heads: int, params: float) -> ModelSpec:
    return ModelSpec(
        name=name, n_layers=layers, hidden=hidden, ffn_hidden=ffn, n_heads=heads, n_kv_heads=8,
        vocab=128256, seq_len=8192, global_batch=2048, gated_mlp=True,
        published_params=params,
        source="Llama Team, 'The Llama 3 Herd of Models', arXiv 2407.21783, Table 3 (layers, "
               "model dim, FFN dim, heads, 8 KV heads, vocab 128,000 -> 128,256 in the released "
               "config); seq 8192 and 16M-token batch (2048 seqs) from §3.4.1 (405B final stage; "
               "used as the default for 8B/70B too, grade D)")


def _mixtral_8x7b() -> ModelSpec:
    return ModelSpec(
        name="mixtral-8x7b", n_layers=32, hidden=4096, ffn_hidden=14336, n_heads=32,
        n_kv_heads=8, vocab=32000, seq_len=4096, global_batch=1024, gated_mlp=True,
        n_experts=8, top_k=2, expert_ffn_hidden=14336,
        published_params=46.7e9, published_active_params=12.9e9,
        source="Jiang et al. 2024, 'Mixtral of Experts', arXiv 2401.04088, Table 1 (dim 4096, "
               "32 layers, 32 heads, 8 KV heads, hidden 14336, 8 experts, top-2, vocab 32000); "
               "46.7B total / 12.9B active (§2.1). Training seq/batch not published: 4096 x 1024 "
               "(grade D)")


def _deepseek_v3() -> ModelSpec:
    return ModelSpec(
        name="deepseek-v3", n_layers=61, hidden=7168, ffn_hidden=18432, n_heads=128,
        n_kv_heads=128, vocab=129280, seq_len=4096, global_batch=15360, gated_mlp=True,
        n_experts=256, top_k=8, expert_ffn_hidden=2048, n_shared_experts=1, first_dense_layers=3,
        q_lora_rank=1536, kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64,
        v_head_dim=128,
        published_params=671e9, published_active_params=37e9,
        source="DeepSeek-AI, 'DeepSeek-V3 Technical Report', arXiv 2412.19437, §4.2 (61 layers, "
               "hidden 7168, 128 heads, d_h 128, d_c 512, d_c' 1536, rope 64, first 3 layers "
               "dense, 1 shared + 256 routed experts of 2048, top-8, 671B/37B), §4.2 seq 4K and "
               "batch ramped to 15360; config.json (vocab 129280, dense FFN 18432)")


MODELS: dict[str, ModelSpec] = {m.name: m for m in (
    _gpt3_175b(),
    _llama3("llama3-8b", 32, 4096, 14336, 32, 8.03e9),
    _llama3("llama3-70b", 80, 8192, 28672, 64, 70.6e9),
    _llama3("llama3-405b", 126, 16384, 53248, 128, 405e9),
    _mixtral_8x7b(),
    _deepseek_v3(),
)}


def get_model(model: str | ModelSpec) -> ModelSpec:
    if isinstance(model, ModelSpec):
        return model
    key = str(model).lower()
    if key not in MODELS:
        raise CposimError(f"unknown model {model!r} (known: {', '.join(MODELS)})", field="model")
    return MODELS[key]
