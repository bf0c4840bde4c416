"""Pipeline schedules as the order of (direction, micro-batch, chunk) units on each stage.

Each stage runs its units one after another on its compute stream; data dependencies between
stages (activations forward, gradients backward) come from send/recv ops. With zero
communication time, equal stage times and ``m`` micro-batches on ``p`` stages, GPipe and 1F1B
take (m + p - 1)·(t_f + t_b) (bubble fraction (p-1)/(m+p-1)); interleaved 1F1B with ``v``
chunks takes m·(t_f + t_b) + (p - 1)·(t_f + t_b)/v (Narayanan et al. 2021, arXiv 2104.04473,
§2.2). The interleaved order replicates Megatron-LM ``forward_backward_pipelining_with_
interleaving`` (megatron/core/pipeline_parallel/schedules.py): warm-up
(p - rank - 1)·2 + (v - 1)·p units, then 1F1B, then cool-down; if m == p, all forwards first.
"""

from __future__ import annotations

from typing import NamedTuple


class Unit(NamedTuple):
    fwd: bool
    mb: int
    chunk: int


def gpipe(stage: int, p: int, m: int) -> list[Unit]:
    return [Unit(True, i, 0) for i in range(m)] + [Unit(False, i, 0) for i in range(m)]


def one_f_one_b(stage: int, p: int, m: int) -> list[Unit]:
    warm = min(p - stage - 1, m)
    order = [Unit(True, i, 0) for i in range(warm)]
    for i in range(m - warm):
        order += [Unit(True, warm + i, 0), Unit(False, i, 0)]
    order += [Unit(False, i, 0) for i in range(m - warm, m)]
    return order


def interleaved(stage: int, p: int, m: int, v: int) -> list[Unit]:
    total = m * v

    def unit(j: int, fwd: bool) -> Unit:
        in_group = j % (p * v)
        chunk = in_group // p
        if not fwd:
            chunk = v - 1 - chunk
        mb = (j // (p * v)) * p + j % p
        return Unit(fwd, mb, chunk)

    warm = total if m == p else min((p - stage - 1) * 2 + (v - 1) * p, total)
    order = [unit(j, True) for j in range(warm)]
    for i in range(total - warm):
        order += [unit(warm + i, True), unit(i, False)]
    order += [unit(j, False) for j in range(total - warm, total)]
    return order


def stage_order(schedule: str, stage: int, p: int, m: int, v: int = 1) -> list[Unit]:
    if schedule == "gpipe":
        return gpipe(stage, p, m)
    if schedule == "1f1b":
        return one_f_one_b(stage, p, m)
    if schedule == "interleaved":
        return interleaved(stage, p, m, v)
    raise ValueError(schedule)
