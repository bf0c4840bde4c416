"""SimAI/AICB workloads with pipeline parallelism (``pp:`` > 1): two readings.

What the file holds (AICB, ``aliyun/aicb`` ``workload_generator/SimAI_training_workload_generator.py``
``workload_generate`` / ``workload_generate_aiob``; ``utils/utils.py`` ``get_params``): the rows of
**one** pipeline stage (``num_layers // pp`` layers), written once per micro-batch — ``ga`` blocks,
each starting at an ``embedding_layer`` row — between a prologue written once (``grad_norm`` or
``grad_gather``/``grad_param_*``, ``layernorm``, ``embedding_grads``, ``moe_grad_norm*``: the
distributed optimizer's parameter all-gather and gradient reduce-scatter) and an epilogue written
once (``cross_entropy1..3``, ``optimizer1..4``). Every stage runs the same file. Header: ``ga`` =
global batch / (micro batch · dp); ``pp_comm`` = one micro-batch's bf16 activations, 2·mbs·seq·hidden
bytes (/tp with sequence parallelism); ``vpp`` = ``num_layers // pp`` — AICB has no interleaving
option and writes the layers per stage there, which SimAI's bubble formula divides by.

Readings (reader option ``pipeline``):

``"schedule"`` (default) — cposim's own: the rows are split into the prologue, ``ga`` micro-batch
blocks and the epilogue (by the ``embedding_layer`` markers; or evenly when the rows divide by
``ga`` and there are no markers; otherwise the whole file is one block, with a note), and each
stage's program is a real pipeline schedule — the generator's (:mod:`workloads.generator.schedule`,
one code path): 1F1B, or interleaved 1F1B with ``vpp`` model chunks per stage when ``vpp`` > 1
(a block's layers split into ``vpp`` contiguous chunks at its layer boundaries). Each unit runs its
rows' forward (compute, then the blocking collective) or backward (input-gradient compute and its
blocking collective, weight-gradient compute and its non-blocking collective, rows in reverse); a
``pp_comm``-byte activation goes to the next virtual stage after each forward and a gradient back
after each backward. The prologue's forward runs before the first unit; after the last, the
epilogue's forward and backward, then the prologue's backward (its gradient reduce-scatter), as
SimAI orders them.

``"simai"`` — SimAI's own accounting, so a SimAI user can put our number beside theirs
(``aliyun/SimAI`` ``astra-sim-alibabacloud/astra-sim/workload/Layer.cc``, ``Layer::report``, the
analytical build): every row runs once, with no pipeline traffic, and afterwards

    bubble = (pp - 1) / (ga · vpp) × Σ over rows not named ``embedding_layer`` of
             (fwd + ig + wg compute + fwd and ig communication time)
    Expose_PP = 2 · vpp · ga · pp_comm / (pp_o · 2^30 B/s) · (1 - pp_o)

are added to the iteration (``pre_bubble_time *= (PP_size - 1) / (GA * vpp)``; ``pp_o`` is
SimAI's ``-pp_o``/``--pp_overlap``, default 1, which makes ``Expose_PP`` zero; SimAI uses it both
as a GB/s divisor and as the overlapped fraction). Communication time is what the collective took
on the simulated fabric (the rank's wait for it); weight-gradient communication is left out, as
in SimAI. See :class:`workloads.trace.BubbleFormula`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.errors import CposimError
from workloads.generator.parallelism import layer_split
from workloads.generator.schedule import Unit, emit_stage

PIPELINES = ("schedule", "simai")
SCHEDULES = ("auto", "1f1b", "interleaved", "gpipe")
MARKER = "embedding_layer"          # first row of every AICB micro-batch block
SIMAI_BUBBLE_EXCLUDES = ("embedding_layer",)  # Layer.cc: if (id != "embedding_layer")
GIB = float(1 << 30)                # SimAI's GB in Expose_PP: pp_commsize * GBps, GBps = 1/2^30


@dataclass
class Split:
    """A stage's rows as prologue, micro-batch blocks and epilogue (row lists)."""

    prologue: list
    blocks: list[list]
    epilogue: list
    how: str                         # "embedding_layer markers" | "even" | "whole file"
    note: str = ""

    @property
    def first(self) -> list[int]:
        """File index of each block's first row."""
        n = len(self.prologue)
        return [n + k * len(self.blocks[0]) for k in range(len(self.blocks))]


def split_microbatches(rows: list, ga: int) -> Split:
    """Find the ``ga`` micro-batch blocks: by ``embedding_layer`` markers (equal-length blocks;
    what follows the last is the epilogue), else evenly when the rows divide by ``ga``, else
    the whole file as one block (with a note saying why)."""
    starts = [i for i, r in enumerate(rows) if r.name == MARKER]
    if len(starts) == ga and ga > 0:
        gaps = {b - a for a, b in zip(starts, starts[1:])}
        if ga == 1:     # one block: it runs up to AICB's epilogue (cross_entropy1 ...)
            ends = [i for i, r in enumerate(rows) if i > starts[0]
                    and r.name.startswith("cross_entropy")]
            length = (ends[0] if ends else len(rows)) - starts[0]
        else:
            length = gaps.pop() if len(gaps) == 1 else 0
        if length and starts[-1] + length <= len(rows):
            end = starts[-1] + length
            return Split(rows[:starts[0]], [rows[s:s + length] for s in starts], rows[end:],
                         f"{MARKER} markers")
        why = f"the {ga} {MARKER} rows do not start equal-length blocks"
    elif starts:
        why = f"{len(starts)} {MARKER} rows for ga: {ga} micro-batches"
    else:
        why = f"no {MARKER} rows"
    if ga > 1 and len(rows) % ga == 0:
        n = len(rows) // ga
        return Split([], [rows[k * n:(k + 1) * n] for k in range(ga)], [], "even",
                     f"{why}: the {len(rows)} rows split evenly into ga: {ga} micro-batches")
    return Split([], [rows], [], "whole file",
                 f"{why}, and {len(rows)} rows do not divide by ga: {ga}: the whole file is "
                 f"one micro-batch carrying all {ga} micro-batches' pipeline traffic")


def layer_starts(block: list) -> list[int]:
    """Row index where each transformer layer of a block starts: an ``attention*`` row that
    follows a non-attention row (AICB: attention_layer / attention_column /
    attention_linear_q_lora ...; a layer's MLP or MoE rows follow its attention rows)."""
    out = []
    for i, r in enumerate(block):
        if r.name.startswith("attention") and (i == 0 or not
                                               block[i - 1].name.startswith("attention")):
            out.append(i)
    return out


def split_chunks(block: list, v: int) -> tuple[list[tuple[int, int]], str]:
    """(start, end) row ranges of a block's ``v`` model chunks: its layers split as evenly as
    Megatron splits layers over virtual stages (rows before the first layer go with chunk 0,
    rows after the last layer's with the last chunk); by rows when the layers are too few."""
    if v == 1:
        return [(0, len(block))], ""
    starts = layer_starts(block)
    note = ""
    if len(starts) >= v:
        counts = layer_split(len(starts), v)
        bounds, k = [0], 0
        for c in counts[:-1]:
            k += int(c)
            bounds.append(starts[k])
    else:
        note = (f"{len(starts)} transformer layers per block cannot fill vpp: {v} chunks: the "
                f"block's {len(block)} rows are split evenly instead")
        counts = layer_split(len(block), v)
        bounds = [0]
        for c in counts[:-1]:
            bounds.append(bounds[-1] + int(c))
    bounds.append(len(block))
    return list(zip(bounds[:-1], bounds[1:])), note


def choose_schedule(schedule: str, pp: int, m: int, vpp: int, n_rows: int) -> tuple[str, int, str]:
    """(schedule, chunks, note): interleaved with ``vpp`` chunks when vpp > 1, else 1F1B; falls
    back to 1F1B where Megatron's interleaved schedule cannot run (micro-batches not a multiple
    of pp — schedules.py asserts it — or fewer rows than chunks)."""
    if schedule not in SCHEDULES:
        raise CposimError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}",
                          field="schedule")
    want = schedule if schedule != "auto" else ("interleaved" if vpp > 1 else "1f1b")
    if want != "interleaved":
        return want, 1, ""
    if vpp <= 1:
        raise CposimError(f"the interleaved schedule needs vpp: > 1 (the header says {vpp})",
                          field="schedule")
    if m % pp:
        return "1f1b", 1, (f"vpp: {vpp} but {m} micro-batches are not a multiple of pp: {pp} "
                           "(Megatron's interleaved schedule needs it): 1F1B instead")
    if n_rows < vpp:
        return "1f1b", 1, (f"vpp: {vpp} chunks but only {n_rows} rows per micro-batch: "
                           "1F1B instead")
    return "interleaved", vpp, ""


class StageRows:
    """A stage's units for :func:`emit_stage`: each (micro-batch, chunk) runs that chunk's rows
    of that micro-batch's block on the stage's one compute stream."""

    def __init__(self, par, ctx, header, split: Split, chunks: list[tuple[int, int]],
                 p2p_bytes: float, forward, backward) -> None:
        self.par, self.ctx, self.header = par, ctx, header
        self.split, self.chunks, self.p2p_bytes = split, chunks, p2p_bytes
        self._forward, self._backward = forward, backward
        self.tail: list = []         # the end of the stage's compute stream so far
        self._first = split.first

    def _rows(self, u: Unit) -> tuple[list, int]:
        a, b = self.chunks[u.chunk]
        return self.split.blocks[u.mb][a:b], self._first[u.mb] + a

    def forward(self, u: Unit, data: int | None) -> tuple[int, ...]:
        rows, _ = self._rows(u)
        self.ctx.prefix = f"mb{u.mb}.c{u.chunk}."
        self.tail = self._forward(rows, self.ctx, self.tail + [data])
        return tuple(x for x in self.tail if x is not None)

    def backward(self, u: Unit, data: int | None) -> tuple[int, ...]:
        rows, first = self._rows(u)
        self.ctx.prefix = f"mb{u.mb}.c{u.chunk}."
        self.tail = self._backward(self.par, rows, self.ctx, self.header, self.tail + [data],
                                   first)
        return tuple(x for x in self.tail if x is not None)

    def p2p(self, kind: str, name: str, offset: int, tag: int, deps: tuple[int, ...],
            phase: str) -> int:
        return self.ctx.b.add(kind, deps, name="pp." + name, group="pp", peer_offset=offset,
                              size_bytes=float(self.p2p_bytes), tag=tag, phase=phase)


def emit_schedule(par, ctx, header, split: Split, chunks, schedule: str, stage: int, pp: int,
                  p2p_bytes: float, forward, backward) -> None:
    """One stage's program: prologue forward, the pipeline schedule, epilogue forward and
    backward, prologue backward (``forward``/``backward`` emit rows, see astra_text)."""
    units = StageRows(par, ctx, header, split, chunks, p2p_bytes, forward, backward)
    ctx.prefix = ""
    units.tail = forward(split.prologue, ctx, [])
    emit_stage(schedule, stage, pp, len(split.blocks), len(chunks), units)
    ctx.prefix = ""
    n_pro = len(split.prologue)
    n_epi = n_pro + sum(len(b) for b in split.blocks)
    tail = forward(split.epilogue, ctx, units.tail)
    tail = backward(par, split.epilogue, ctx, header, tail, n_epi)
    backward(par, split.prologue, ctx, header, tail, 0)


def simai_exposed_pp_s(vpp: int, ga: int, pp_comm_bytes: float, pp_overlap: float) -> float:
    """SimAI's ``Expose_PP_time`` in seconds (Layer.cc, analytical ``Layer::report``):
    ``2 * vpp * GA * (pp_commsize * GBps / pp_overlap_ratio * 1e9) / FREQ`` ticks, times
    ``1 - pp_overlap_ratio``; GBps = 1/2^30, so ``pp_overlap_ratio`` doubles as GB/s."""
    if not 0.0 < pp_overlap <= 1.0:
        raise CposimError(f"pp_overlap must be in (0, 1] (SimAI's -pp_o), got {pp_overlap!r}",
                          field="pp_overlap")
    return 2.0 * vpp * ga * pp_comm_bytes / (pp_overlap * GIB) * (1.0 - pp_overlap)
