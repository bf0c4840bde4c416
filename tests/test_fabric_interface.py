"""The one fabric interface, the speed-up switches and the helpers written once.

* every network model satisfies :class:`sim.fabric.interface.Fabric` and says what it
  promises (:class:`Capabilities`); the collectives layer asks the fabric, never its name;
* :class:`SpeedOptions`: one switch per speed-up, ``plain()``, the deprecated aliases;
* the energy formula, Kahn's sort and "a barrier is a zero-byte all-reduce", once each.
"""

from __future__ import annotations

import ast
import pathlib
import warnings

import numpy as np
import pytest
import simpy

from sim.comm import Communicator, plan_collective, run_collective, run_p2p
from sim.errors import CposimError
from sim.fabric import Capabilities, Fabric, SpeedOptions, make_fabric, single_switch
from sim.fabric.accounting import LinkBytes, TechTable, dynamic_energy_j
from sim.fabric.flow import FlowFabric

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _topo(n=8):
    return single_switch(n, link_bandwidth_bps=400e9, link_latency_s=1e-6)


@pytest.mark.parametrize("fidelity,caps", [
    ("flow", Capabilities()),
    ("analytical", Capabilities(closed_form=True)),
    ("packet", Capabilities(periodic_schedules=False, replay=False)),
])
def test_every_model_is_a_fabric_and_says_what_it_promises(fidelity, caps):
    fab = make_fabric(simpy.Environment(), _topo(), fidelity=fidelity)
    assert isinstance(fab, Fabric)
    assert fab.capabilities == caps
    assert fab.speed == SpeedOptions()
    scratch = fab.scratch_copy(simpy.Environment(), SpeedOptions.plain())
    assert type(scratch) is type(fab) and scratch.router is fab.router
    assert scratch.speed == SpeedOptions.plain() and scratch.env is not fab.env


def _code_strings_and_getattrs(path: pathlib.Path):
    tree = ast.parse(path.read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    strings = {n.value for n in ast.walk(tree)
               if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs}
    probes = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
              and isinstance(n.func, ast.Name) and n.func.id in ("getattr", "hasattr")
              and "fab" in ast.unparse(n.args[0])]
    return strings, probes


@pytest.mark.parametrize("path", sorted((ROOT / "sim" / "comm").glob("*.py"))
                         + sorted((ROOT / "sim" / "runtime").glob("*.py")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_comm_and_runtime_ask_the_fabric_not_its_name(path):
    strings, probes = _code_strings_and_getattrs(path)
    if path.parent.name == "comm":
        assert not strings & {"flow", "packet", "analytical"}, path
    assert not probes, [ast.unparse(p) for p in probes]


class _ClosedFormFlow(FlowFabric):
    """A flow fabric that answers every plan in closed form: the collectives layer must
    follow the fabric's answer, whatever its name."""

    fidelity = "toy"
    capabilities = Capabilities(closed_form=True)

    def closed_form_time(self, plan):
        return plan.closed_form_s(self)


def test_the_fabric_decides_closed_form_or_flows():
    topo = _topo()
    comm = Communicator("w", np.arange(8), np.arange(8))
    out = {}
    for name, fab in (("toy", _ClosedFormFlow(simpy.Environment(), topo)),
                      ("analytical", make_fabric(simpy.Environment(), topo,
                                                 fidelity="analytical"))):
        ev = run_collective(fab.env, fab, comm, "allreduce", 2.0 ** 24, algorithm="ring")
        p2p = run_p2p(fab.env, fab, [0, 1], [5, 6], [1e6, 2e6])
        fab.env.run()
        out[name] = (ev.value, p2p.value, fab)
        assert fab.stats["flows"] == 0               # no flow was started
    (a, pa, fa), (b, pb, fb) = out["toy"], out["analytical"]
    assert a.fidelity == "toy" and b.fidelity == "analytical"
    assert a.time_s == b.time_s and a.energy_j == b.energy_j and pa.time_s == pb.time_s
    np.testing.assert_array_equal(fa.link_bytes, fb.link_bytes)
    plan = plan_collective(fb, comm, "allreduce", 2.0 ** 24, algorithm="ring")
    assert fb.closed_form_time(plan) == plan.closed_form_s(fb) == b.time_s
    flow = make_fabric(simpy.Environment(), topo)
    assert flow.closed_form_time(plan) is None


def test_speed_options_plain_and_keep():
    plain = SpeedOptions.plain()
    assert not any(vars(plain).values()) and all(vars(SpeedOptions()).values())
    assert SpeedOptions.plain(memoise=True) == SpeedOptions(
        rank_classes=False, replay=False, periodic=False, fast_forward_waves=False,
        incremental=False, solo_replay=False)
    assert SpeedOptions(rank_classes=False).mode == "per-rank"
    with pytest.raises(Exception):
        plain.memoise = True                          # frozen: passed, never mutated


def test_flow_fabric_reads_its_options():
    fab = make_fabric(simpy.Environment(), _topo(), speed=SpeedOptions(fast_forward_waves=False))
    assert fab.fast_forward_waves(np.arange(8), (np.arange(8) + 1) % 8, np.full(8, 1e6), 3) \
        is None
    fab = make_fabric(simpy.Environment(), _topo())
    ev = fab.fast_forward_waves(np.arange(8), (np.arange(8) + 1) % 8, np.full(8, 1e6), 3)
    fab.env.run()
    assert ev.value == 3 and fab.stats["ff_waves"] == 3


def test_deprecated_aliases_warn_and_mean_what_they_meant():
    from sim.runtime.engine import Runtime
    from workloads.generator import generate

    topo = _topo()
    trace = generate("llama3-8b", gpus=8, tp=8, pp=1, global_batch=1, micro_batch=1)
    comm = Communicator("w", np.arange(8), np.arange(8))
    fab = make_fabric(simpy.Environment(), topo)
    with pytest.warns(DeprecationWarning, match="fast_forward"):
        ev = run_collective(fab.env, fab, comm, "allreduce", 2.0 ** 20, algorithm="ring",
                            fast_forward=False)
    fab.env.run()
    assert ev.value.n_waves == 14 and fab.stats["ff_waves"] == 0   # the full schedule
    with pytest.warns(DeprecationWarning, match="mode"):
        rt = Runtime(fab.env, fab, trace, mode="per-rank", fast_forward=False)
    assert rt.speed == SpeedOptions(rank_classes=False, replay=False, periodic=False,
                                    fast_forward_waves=False)
    assert rt.fastpath is None and rt.mode == "per-rank"
    with pytest.raises(CposimError, match="not both"):
        run_collective(fab.env, fab, comm, "allreduce", 1.0, speed=SpeedOptions(),
                       fast_forward=True)
    with pytest.raises(CposimError, match="unknown runtime mode"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            Runtime(fab.env, fab, trace, mode="sideways")


def test_simulate_fast_forward_false_is_the_old_plain_path():
    from sim.runtime import simulate
    from workloads.generator import generate

    trace = generate("llama3-8b", gpus=8, tp=8, pp=1, global_batch=1, micro_batch=1)
    with pytest.warns(DeprecationWarning):
        res = simulate(trace, _topo(), fast_forward=False)
    assert res.fabric.speed == SpeedOptions.plain(rank_classes=True, memoise=True)


def test_one_energy_formula():
    rng = np.random.default_rng(0)
    b, pj = rng.uniform(0, 1e9, 1000), rng.uniform(0.5, 30, 1000)
    np.testing.assert_array_equal(dynamic_energy_j(b, pj), b * 8.0 * pj * 1e-12)
    assert dynamic_energy_j(b, pj, total=True) == float((b * 8.0 * pj).sum() * 1e-12)
    topo = _topo()
    fab = make_fabric(simpy.Environment(), topo)
    lb = LinkBytes(np.arange(4), np.full(4, 1e6))
    by_bytes, by_energy = fab.by_technology(lb)
    tech = str(topo.tech[0])
    assert by_bytes == {tech: 4e6}
    assert by_energy[tech] == pytest.approx(4e6 * 8 * topo.energy_pj_per_bit[0] * 1e-12)
    assert fab.tech_table() is fab.tech_table()            # made once per fabric
    assert isinstance(fab.tech_table(), TechTable)


def test_topological_order_once():
    from workloads.trace import topological_order

    order, stuck = topological_order({1: [], 2: [1], 3: [2, 1], 4: [5], 5: [4]})
    assert order == [1, 2, 3] and stuck == [4, 5]
    assert topological_order({})[0] == []


def test_barrier_is_a_zero_byte_allreduce():
    from sim.comm.ops import as_collective

    assert as_collective("barrier", 123.0) == ("allreduce", 0.0)
    assert as_collective("allgather", 5.0) == ("allgather", 5.0)
