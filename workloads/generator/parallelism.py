"""Megatron-style parallel layout: the configuration, its validation, rank groups, layer split.

Rank order follows Megatron-LM (``megatron/core/parallel_state.py``, order "tp-cp-ep-dp-pp"):
TP fastest, then CP, then DP (with EP the inner part of DP), then PP::

    rank = ((pp_idx * dp + dp_idx) * cp + cp_idx) * tp + tp_idx

so a TP group (<= 8) sits inside one 8-GPU node, and an EP group is ``ep`` consecutive DP
replicas. ``dp_ep`` (Megatron's expert-data-parallel group) joins the ranks holding the same
experts: same pp, tp and ``dp_idx % ep``. With context parallelism (``cp`` > 1) the ranks
of a ``cp`` group hold the same weights, so the gradient group ``dp`` joins the dp x cp ranks
with the same pp and tp index (Megatron's data-parallel group with context parallelism).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.errors import CposimError


def _need(cond: bool, msg: str, field: str) -> None:
    if not cond:
        raise CposimError(msg, field=field)


@dataclass(frozen=True)
class ParallelConfig:
    gpus: int
    tp: int = 1
    pp: int = 1
    dp: int = 1
    ep: int = 1
    cp: int = 1                  # context parallelism (sequence split, K/V all-gathered)
    vpp: int = 1                 # virtual pipeline stages (model chunks) per stage
    sp: bool = False             # Megatron sequence parallelism (needs tp > 1 to matter)
    zero: int = 1                # 0: DP all-reduce; 1: distributed optimizer (RS + AG)
    micro_batch: int = 1
    global_batch: int = 1
    seq_len: int = 2048
    schedule: str = "1f1b"       # 1f1b | gpipe | interleaved
    recompute: str = "none"      # none | selective | full
    # Megatron-core DistributedDataParallel: bucket_size = max(40M, 1M * dp) elements
    bucket_size_params: float = 40e6
    overlap_param_gather: bool = False  # ZeRO-1 all-gather overlapped with the next forward
    attention: str = "flash"     # flash | unfused (blocks.py)
    elementwise: str = "overlapped"   # overlapped | serial (blocks.py)

    @property
    def dp_cp(self) -> int:
        """Ranks sharing one weight shard: the gradient-reduction group's size."""
        return self.dp * self.cp

    @property
    def micro_batches(self) -> int:
        """Micro-batches per DP replica per iteration (gradient-accumulation steps)."""
        return self.global_batch // (self.micro_batch * self.dp)

    def validate(self, n_layers: int) -> ParallelConfig:
        for f in ("gpus", "tp", "pp", "dp", "ep", "cp", "vpp", "micro_batch", "global_batch",
                  "seq_len"):
            v = getattr(self, f)
            _need(isinstance(v, (int, np.integer)) and v >= 1,
                  f"{f} must be a positive integer, got {v!r}", f)
        _need(self.tp * self.cp * self.pp * self.dp == self.gpus,
              f"gpus ({self.gpus}) must equal tp*cp*pp*dp = {self.tp}*{self.cp}*{self.pp}*"
              f"{self.dp}", "gpus")
        _need(self.cp == 1 or self.ep == 1, "context parallelism with expert parallelism is not "
              "modelled", "cp")
        _need(self.seq_len % (2 * self.cp) == 0 or self.cp == 1,
              f"context parallelism splits seq_len ({self.seq_len}) into 2*cp = {2 * self.cp} "
              "chunks", "seq_len")
        _need(self.attention in ("flash", "unfused"),
              f"unknown attention {self.attention!r} (flash, unfused)", "attention")
        _need(self.elementwise in ("overlapped", "serial"),
              f"unknown elementwise {self.elementwise!r} (overlapped, serial)", "elementwise")
        _need(self.dp % self.ep == 0, f"dp ({self.dp}) must be divisible by ep ({self.ep})", "ep")
        _need(self.global_batch % (self.micro_batch * self.dp) == 0,
              f"global batch ({self.global_batch}) must be divisible by micro-batch*dp = "
              f"{self.micro_batch}*{self.dp}", "global_batch")
        _need(self.schedule in ("1f1b", "gpipe", "interleaved"),
              f"unknown schedule {self.schedule!r} (1f1b, gpipe, interleaved)", "schedule")
        _need(self.recompute in ("none", "selective", "full"),
              f"unknown recompute {self.recompute!r} (none, selective, full)", "recompute")
        _need(self.zero in (0, 1), f"zero must be 0 or 1, got {self.zero!r}", "zero")
        _need(self.bucket_size_params > 0, "bucket size must be positive", "bucket_size")
        if self.schedule == "interleaved":
            _need(self.pp > 1, "the interleaved schedule needs pp > 1", "schedule")
            _need(self.vpp > 1, "the interleaved schedule needs vpp > 1", "vpp")
            # Megatron-LM's interleaved schedule requires it (schedules.py assertion).
            _need(self.micro_batches % self.pp == 0,
                  f"interleaved 1F1B needs micro-batches ({self.micro_batches}) divisible by "
                  f"pp ({self.pp})", "global_batch")
        else:
            _need(self.vpp == 1, f"vpp > 1 needs --schedule interleaved (got {self.schedule})",
                  "vpp")
        # The first and the last virtual stage may hold only the embedding / the output layer
        # (Llama 3 405B: 126 layers on 16 x 8 virtual stages, arXiv 2407.21783 §3.3.2).
        _need(n_layers >= self.pp * self.vpp - 2 and n_layers >= 1,
              f"{n_layers} layers cannot fill pp*vpp = {self.pp * self.vpp} virtual stages",
              "pp")
        if self.sp:
            _need((self.seq_len // self.cp) % self.tp == 0,
                  f"sequence parallel needs seq_len/cp ({self.seq_len // self.cp}) divisible by "
                  f"tp ({self.tp})", "seq_len")
        return self


def layer_split(n_layers: int, n_virtual: int) -> list[int]:
    """Layers per virtual stage. Even when possible; otherwise the shortfall is taken from
    the first and last stages alternately (they also hold embedding / output layer), as Llama
    3 405B did (126 layers on 16 stages: first and last stage one layer fewer, arXiv
    2407.21783 §3.3.2)."""
    base = -(-n_layers // n_virtual)
    counts = [base] * n_virtual
    excess = base * n_virtual - n_layers
    order = [i for pair in zip(range(n_virtual), range(n_virtual - 1, -1, -1)) for i in pair]
    seen: list[int] = []
    for i in order:
        if i not in seen:
            seen.append(i)
    k = 0
    while excess > 0:
        counts[seen[k % n_virtual]] -= 1
        excess -= 1
        k += 1
    return counts


def rank_grid(cfg: ParallelConfig) -> np.ndarray:
    """ranks[pp_idx, dp_idx, tp_idx] (cp = 1) or ranks[pp_idx, dp_idx, cp_idx, tp_idx]."""
    if cfg.cp > 1:
        return np.arange(cfg.gpus, dtype=np.int64).reshape(cfg.pp, cfg.dp, cfg.cp, cfg.tp)
    return np.arange(cfg.gpus, dtype=np.int64).reshape(cfg.pp, cfg.dp, cfg.tp)


def build_groups(cfg: ParallelConfig, *, moe: bool) -> dict[str, np.ndarray]:
    """Member arrays (n_communicators, size) of each group, Megatron rank order."""
    r = rank_grid(cfg)
    pp, dp, tp, ep = cfg.pp, cfg.dp, cfg.tp, cfg.ep
    if cfg.cp > 1:
        cp = cfg.cp
        return {"tp": r.reshape(-1, tp),
                "cp": r.transpose(0, 1, 3, 2).reshape(-1, cp),
                "dp": r.transpose(0, 3, 1, 2).reshape(-1, dp * cp),
                "pp": r.transpose(1, 2, 3, 0).reshape(-1, pp)}
    groups = {
        "tp": r.reshape(-1, tp),
        "dp": r.transpose(0, 2, 1).reshape(-1, dp),
        "pp": r.transpose(1, 2, 0).reshape(-1, pp),   # position in the row = stage index
    }
    if moe:
        r4 = r.reshape(pp, dp // ep, ep, tp)
        groups["ep"] = r4.transpose(0, 1, 3, 2).reshape(-1, ep)
        groups["dp_ep"] = r4.transpose(0, 2, 3, 1).reshape(-1, dp // ep)
    return groups
