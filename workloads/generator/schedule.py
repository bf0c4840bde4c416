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

from typing import NamedTuple, Protocol


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


class StageEmitter(Protocol):
    """What :func:`emit_stage` asks of a trace builder for one pipeline stage."""

    def forward(self, unit: Unit, data: int | None) -> tuple[int, ...]:
        """Emit ``unit``'s forward; ``data`` is the activation recv (None on the first
        virtual stage). Returns the deps of the activation send."""

    def backward(self, unit: Unit, data: int | None) -> tuple[int, ...]:
        """Emit ``unit``'s backward; ``data`` is the gradient recv (None on the last virtual
        stage). Returns the deps of the gradient send."""

    def p2p(self, kind: str, name: str, offset: int, tag: int, deps: tuple[int, ...],
            phase: str) -> int:
        """Emit a send or recv on group ``pp`` to the stage ``offset`` away; returns its id."""


def p2p_tag(bwd: bool, boundary: int, mb: int, n_virtual: int, m: int) -> int:
    """Tag shared by a transfer's send and recv: (direction·(V-1) + boundary)·m + mb, with
    boundary = the sending side's virtual stage (forward) or the receiving side's (backward)."""
    return ((n_virtual - 1) * int(bwd) + boundary) * m + mb


def emit_stage(schedule: str, stage: int, p: int, m: int, v: int, emit: StageEmitter) -> None:
    """Walk ``stage``'s units in schedule order: receive (pre-posted, no deps), compute, send.
    Activations go to virtual stage +1 and gradients to -1; offsets wrap around the ``pp``
    communicator (stage p-1 -> stage 0) between the chunks of an interleaved schedule."""
    n_virtual = p * v
    for u in stage_order(schedule, stage, p, m, v):
        vs = u.chunk * p + stage
        pre = f"mb{u.mb}.c{u.chunk}."
        if u.fwd:
            data = (emit.p2p("recv", pre + "recv_act", -1,
                             p2p_tag(False, vs - 1, u.mb, n_virtual, m), (), "fwd")
                    if vs > 0 else None)
            out = emit.forward(u, data)
            if vs < n_virtual - 1:
                emit.p2p("send", pre + "send_act", +1, p2p_tag(False, vs, u.mb, n_virtual, m),
                         out, "fwd")
        else:
            data = (emit.p2p("recv", pre + "recv_grad", +1,
                             p2p_tag(True, vs, u.mb, n_virtual, m), (), "bwd")
                    if vs < n_virtual - 1 else None)
            out = emit.backward(u, data)
            if vs > 0:
                emit.p2p("send", pre + "send_grad", -1,
                         p2p_tag(True, vs - 1, u.mb, n_virtual, m), out, "bwd")
