"""The algorithm registry: what auto picks (pinned), declarations checked at registration, and
a toy algorithm registered here reaching normalise, build_schedule, closed_form, auto, the
runtime and the CLI without any other module knowing about it."""

import json

import numpy as np
import pytest
import simpy

from sim.cli import main
from sim.comm import (ALGORITHMS, Communicator, build_schedule, check_schedule, closed_form,
                      normalise_algorithm, run_collective, schedule_time)
from sim.comm.algorithms import registry
from sim.comm.algorithms.registry import ANY, SPANS_DOMAINS, Algorithm, Constraint
from sim.comm.ops import OPS
from sim.comm.run import _auto_flat, choose_algorithm
from sim.comm.schedule import Builder
from sim.errors import CposimError
from sim.fabric import make_fabric, single_switch

A, B = 1.3e-6, 25e9


def test_auto_choices_are_pinned():
    """What auto picked before the registry existed, op by op and situation by situation."""
    flat = {"allreduce": "ring", "allgather": "ring", "reducescatter": "ring",
            "alltoall": "direct", "broadcast": "halving-doubling", "reduce": "halving-doubling"}
    dom = np.arange(32) // 8
    spans = Communicator("dp", np.arange(8), np.r_[0:4, 8:12])          # 2 domains x 4
    inside = Communicator("tp", np.arange(8), np.arange(8))             # one domain
    each = Communicator("pp", np.arange(4), np.arange(0, 32, 8))        # a rank per domain
    for op in OPS:
        assert _auto_flat(op) == flat[op]
        assert choose_algorithm(op, inside, dom) == flat[op]
        assert choose_algorithm(op, each, dom) == flat[op]
        assert choose_algorithm(op, spans, None) == flat[op]
        assert choose_algorithm(op, spans, dom) == ("direct" if op == "alltoall"
                                                    else "hierarchical")


def test_every_registered_algorithm_is_consistent():
    for name, ops in ALGORITHMS.items():
        alg = registry.get(name)
        assert alg.name == name and alg.ops == ops
        assert normalise_algorithm(name.upper().replace("-", "_")) == name
        for alias in alg.aliases:
            assert normalise_algorithm(alias) == name
        for op in ops:
            assert name in registry.for_op(op)
    # every op has exactly one choice in any situation
    assert all(registry.auto_choice(op) is not None for op in OPS)


def _toy_build(op, n, size_bytes, root=0, name="toy"):
    """Everyone sends its block to everyone in one step (a direct all-gather), or an even
    all-to-all; the toy's own code, nothing else knows it."""
    b = Builder(n)
    src, dst = np.divmod(np.arange(n * n), n)
    off = src != dst
    src, dst = src[off], dst[off]
    if op == "allgather":
        b.step(src, dst, src / n, (src + 1) / n, reduce=False)
    else:
        b.raw_step(src, dst, size_bytes / n)
    return b.build(op, name, size_bytes, root)


def _toy(name, **kw):
    even = Constraint(("allgather", "alltoall"), lambda n: n % 2 == 0,
                      "{alg} {op} needs an even group, got {n}")
    return Algorithm(name=name, ops=("allgather", "alltoall"),
                     build=lambda op, n, size, root=0: _toy_build(op, n, size, root, name),
                     aliases=(name[:2] + "x",), constraints=(even,), order=60, **kw)


@pytest.fixture
def toy():
    """Registers a toy algorithm for one test (unique name: schedules are memoised by name)."""
    made = []

    def make(name, **kw):
        alg = registry.register(_toy(name, **kw))
        made.append(alg.name)
        return alg

    yield make
    for name in made:
        registry.unregister(name)


def test_a_toy_algorithm_reaches_everything_through_the_registry(toy, capsys):
    toy("toy-all")
    assert normalise_algorithm("TOY_ALL") == normalise_algorithm("tox") == "toy-all"
    assert "toy-all" in ALGORITHMS and "toy-all" in registry.for_op("alltoall")
    assert ALGORITHMS["toy-all"] == ("allgather", "alltoall")
    with pytest.raises(CposimError, match="choose from auto, ring, .*toy-all"):
        normalise_algorithm("nonsense")
    # schedule, constraint, closed form (none declared: the schedule's alpha-beta time)
    s = build_schedule("allgather", "toy-all", 6, 6e6)
    assert check_schedule(s) == []
    with pytest.raises(CposimError, match="toy-all allgather needs an even group, got 5"):
        build_schedule("allgather", "toy-all", 5, 1.0)
    with pytest.raises(CposimError, match="needs an even group"):
        closed_form("allgather", "toy-all", 5, 1.0, A, B)
    assert closed_form("allgather", "toy-all", 6, 6e6, A, B, chunks=3) == schedule_time(
        s, 3, A, B) == pytest.approx(3 * A + 5 / 6 * 6e6 / B)
    # a composite algorithm takes it as a phase like any flat one
    h = build_schedule("allgather", "hierarchical", 8, 8.0, layout=np.arange(8).reshape(2, 4),
                       intra="toy-all", inter="ring")
    assert check_schedule(h) == []
    # the runtime, on a fabric
    env = simpy.Environment()
    fab = make_fabric(env, single_switch(4, link_bandwidth_bps=400e9, link_latency_s=5e-7))
    ev = run_collective(env, fab, Communicator("w", np.arange(4), np.arange(4)), "allgather",
                        4e6, algorithm="tox")
    env.run()
    assert ev.value.algorithm == "toy-all"
    assert ev.value.time_s == pytest.approx(closed_form("allgather", "toy-all", 4, 4e6, 1e-6,
                                                        50e9), rel=1e-9)
    # the CLI: help, and a run by name
    with pytest.raises(SystemExit):
        main(["collective", "--help"])
    assert "toy-all (tox)" in " ".join(capsys.readouterr().out.split())
    assert main(["collective", "--op", "alltoall", "--algo", "toy-all", "--gpus", "4",
                 "--size", "1MiB", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["algorithm"] == "toy-all" and out["steps"] == 1
    assert main(["collective", "--op", "alltoall", "--algo", "tox", "--gpus", "3", "--size",
                 "1MiB"]) == 2
    assert "even group" in capsys.readouterr().err


def test_a_toy_closed_form_and_auto_claim_are_used(toy):
    calls = []

    def cf(op, n, S, a, b, C, root):
        calls.append(op)
        return None if op == "alltoall" else 42.0      # None: fall back to the schedule

    toy("toy-cf", closed_form=cf, auto={"alltoall": SPANS_DOMAINS})
    assert closed_form("allgather", "toy-cf", 4, 1.0, A, B) == 42.0
    s = build_schedule("alltoall", "toy-cf", 4, 4e6)
    assert closed_form("alltoall", "toy-cf", 4, 4e6, A, B) == schedule_time(s, 1, A, B)
    assert calls == ["allgather", "alltoall"]
    # auto: the toy's claim for communicators spanning domains; direct stays the default
    dom = np.arange(16) // 4
    spans = Communicator("x", np.arange(8), np.arange(8))
    assert choose_algorithm("alltoall", spans, dom) == "toy-cf"
    assert choose_algorithm("alltoall", spans, None) == "direct"
    assert _auto_flat("alltoall") == "direct"


def test_declarations_that_clash_or_contradict_are_refused(toy):
    toy("toy-a")
    with pytest.raises(CposimError, match="already taken"):
        registry.register(_toy("toy-a"))                    # same name
    with pytest.raises(CposimError, match="already taken"):
        registry.register(Algorithm(name="toy-b", ops=("allgather",), build=_toy_build,
                                    aliases=("hd",)))        # someone else's alias
    with pytest.raises(CposimError, match="auto already picks 'ring'"):
        registry.register(Algorithm(name="toy-c", ops=("allgather",), build=_toy_build,
                                    auto={"allgather": ANY}))
    with pytest.raises(CposimError, match="does not implement"):
        Algorithm(name="toy-d", ops=("allgather",), build=_toy_build, auto={"alltoall": ANY})
    with pytest.raises(CposimError, match="unknown ops"):
        Algorithm(name="toy-e", ops=("allsum",), build=_toy_build)
    with pytest.raises(CposimError, match="periodic"):
        Algorithm(name="toy-f", ops=("allgather",), build=_toy_build,
                  periodic_ops=("allgather",))
    for name in ("toy-b", "toy-c"):
        assert registry.find(name) is None
