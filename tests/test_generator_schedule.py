"""Pipeline schedules of the generator, checked with a tiny stand-in executor: a critical-path
computation over the trace's dependencies (send -> matching recv across stages), with
communication taking a fixed time (zero by default)."""

from __future__ import annotations

from collections import defaultdict, deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workloads.generator import MODELS, generate


def stage_of(trace) -> list[int]:
    pp = trace.groups["pp"]
    out = []
    for prog in trace.programs:
        r = int(prog.ranks[0])
        out.append(int(list(pp.communicator_of(r)).index(r)))
    return out


def critical_path(trace, *, compute_time=lambda op: op.duration_s, p2p_s: float = 0.0,
                  collective_s: float = 0.0) -> tuple[float, dict]:
    """Finish time of the iteration; ops start when their deps (and, for a recv, the matching
    send + p2p_s) are done. Compute order is only what the deps say."""
    stages = stage_of(trace)
    p = len(stages)
    prog_of_stage = {s: i for i, s in enumerate(stages)}
    nodes = [(pi, op) for pi, prog in enumerate(trace.programs) for op in prog.ops]
    indeg = {(pi, op.id): len(op.deps) for pi, op in nodes}
    children = defaultdict(list)
    recv_of = {}
    for pi, op in nodes:
        for d in op.deps:
            children[(pi, d)].append((pi, op.id))
        if op.kind == "recv":
            src = (stages[pi] + op.peer_offset) % p
            key = (src, stages[pi], op.tag)
            assert key not in recv_of, f"two recvs for {key}"
            recv_of[key] = (pi, op.id)
            indeg[(pi, op.id)] += 1
    sends = 0
    for pi, op in nodes:
        if op.kind == "send":
            dst = (stages[pi] + op.peer_offset) % p
            key = (stages[pi], dst, op.tag)
            assert key in recv_of, f"send without recv {key}"
            children[(pi, op.id)].append(recv_of[key])
            sends += 1
    assert sends == len(recv_of), "recv without send"
    ops = {(pi, op.id): op for pi, op in nodes}
    ready_at = defaultdict(float)
    finish = {}
    queue = deque(k for k, n in indeg.items() if n == 0)
    while queue:
        k = queue.popleft()
        op = ops[k]
        start = ready_at[k]
        if op.kind == "compute":
            finish[k] = start + compute_time(op)
        elif op.kind == "collective":
            finish[k] = start + collective_s
        elif op.kind == "send":
            finish[k] = start + p2p_s
        else:
            finish[k] = start  # a recv is done when its data (the send's finish) is there
        for c in children[k]:
            ready_at[c] = max(ready_at[c], finish[k])
            indeg[c] -= 1
            if indeg[c] == 0:
                queue.append(c)
    assert len(finish) == len(nodes), "deadlock / cycle across stages"
    return max(finish.values()), finish


def layers_only(op) -> float:
    """Equal stage times: drop embedding, output layer and optimizer (they sit on one stage)."""
    if op.layer in ("embedding", "output") or op.phase == "optimizer":
        return 0.0
    return op.duration_s


def per_mb_times(trace, stage: int = 0) -> tuple[float, float]:
    prog = trace.programs[stage]
    tf = sum(layers_only(o) for o in prog.ops if o.kind == "compute" and o.phase == "fwd"
             and o.name.startswith("mb0."))
    tb = sum(layers_only(o) for o in prog.ops if o.kind == "compute" and o.phase in ("ig", "wg")
             and o.name.startswith("mb0."))
    return tf, tb


def _pipeline(p: int, m: int, schedule: str, vpp: int = 1, layers_per: int = 2, **kw):
    model = MODELS["llama3-8b"].with_overrides(n_layers=layers_per * p * vpp)
    return generate(model, gpus=p, tp=1, pp=p, global_batch=m, seq_len=2048,
                    schedule=schedule, vpp=vpp, **kw), layers_per


@settings(max_examples=25, deadline=None)
@given(p=st.integers(1, 8), m=st.integers(1, 12), schedule=st.sampled_from(["1f1b", "gpipe"]))
def test_pipeline_iteration_and_bubble_closed_form(p, m, schedule):
    trace, _ = _pipeline(p, m, schedule)
    total, _ = critical_path(trace, compute_time=layers_only)
    tf, tb = per_mb_times(trace)
    assert tb == pytest.approx(2 * tf, rel=0.15)  # backward ~ 2x forward (sanity)
    assert total == pytest.approx((m + p - 1) * (tf + tb), rel=1e-9)
    bubble = 1 - m * (tf + tb) / total
    assert bubble == pytest.approx((p - 1) / (m + p - 1), abs=1e-9)


@pytest.mark.parametrize("p,m,v", [(2, 4, 2), (4, 8, 2), (4, 4, 4), (4, 12, 2), (8, 16, 4)])
def test_interleaved_bubble_shrinks_by_vpp(p, m, v):
    trace, _ = _pipeline(p, m, "interleaved", vpp=v)
    total, _ = critical_path(trace, compute_time=layers_only)
    tf, tb = per_mb_times(trace)   # mb0's forward + backward over all v chunks of stage 0
    if m == p:  # Megatron runs all forwards first: GPipe-like per chunk
        assert total >= m * (tf + tb) + (p - 1) * (tf + tb) / v - 1e-12
    else:
        assert total == pytest.approx(m * (tf + tb) + (p - 1) * (tf + tb) / v, rel=1e-9)


def test_one_f_one_b_in_flight_and_order():
    p, m = 4, 8
    trace, _ = _pipeline(p, m, "1f1b")
    for s, prog in enumerate(trace.programs):
        seq = []
        for o in prog.ops:
            if o.kind == "compute" and o.phase in ("fwd", "ig") and o.layer.startswith("layer"):
                key = (o.phase, o.name.split(".")[0])
                if not seq or seq[-1] != key:
                    seq.append(key)
        kinds = [k for k, _ in seq]
        warm = p - s - 1
        assert kinds[:warm] == ["fwd"] * warm
        assert kinds[warm:warm + 2] == ["fwd", "ig"]
        # never more than p - s micro-batches in flight (1F1B's activation-memory bound)
        in_flight = peak = 0
        for k in kinds:
            in_flight += 1 if k == "fwd" else -1
            peak = max(peak, in_flight)
        assert peak == min(p - s, m)


def test_compute_ops_form_one_chain_per_stage():
    trace, _ = _pipeline(4, 8, "interleaved", vpp=2)
    for prog in trace.programs:
        comp = [o for o in prog.ops if o.kind == "compute"]
        for a, b in zip(comp, comp[1:]):
            assert a.id in b.deps or _reaches(prog, b, a.id)


def _reaches(prog, op, target) -> bool:
    by_id = {o.id: o for o in prog.ops}
    stack, seen = list(op.deps), set()
    while stack:
        i = stack.pop()
        if i == target:
            return True
        if i not in seen:
            seen.add(i)
            stack.extend(by_id[i].deps)
    return False


@pytest.mark.parametrize("p,m", [(2, 4), (4, 8)])
def test_transfer_time_adds_to_pipeline(p, m):
    trace, _ = _pipeline(p, m, "1f1b")
    tau = 1e-3
    base, _ = critical_path(trace, compute_time=layers_only)
    slow, _ = critical_path(trace, compute_time=layers_only, p2p_s=tau)
    tf, tb = per_mb_times(trace)
    # the first forward and the last backward each cross p-1 boundaries
    assert slow >= base + 2 * (p - 1) * tau - 1e-12
    # and no more than every critical step paying one forward and one backward transfer
    assert slow <= (m + p - 1) * (tf + tb + 2 * tau) + 1e-12


def test_gpt3_pipeline_real_durations_close_to_closed_form():
    """GPT-3 TP8 PP8 DP16 with zero-time communication: iteration within the (m+p-1)
    bound of the slowest stage (last stage carries the output layer)."""
    trace = generate("gpt3-175b", gpus=1024, tp=8, pp=8)
    total, _ = critical_path(trace)
    m, p = trace.metadata["parallelism"]["micro_batches"], 8
    per_stage = [sum(o.duration_s for o in prog.ops if o.kind == "compute"
                     and o.phase != "optimizer") / m for prog in trace.programs]
    lo = (m + p - 1) * min(per_stage)
    hi = (m + p - 1) * max(per_stage) + max(
        sum(o.duration_s for o in prog.ops if o.phase == "optimizer") for prog in trace.programs)
    assert lo <= total <= hi * 1.001
