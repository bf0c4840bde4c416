"""Comparison bases (sim.phy.budget, sim.fabric.budget, the study's ``basis``): hand-computed
iso-power and iso-shoreline bandwidth per technology, monotonicity, iso-bandwidth unchanged, and
bad input as one line naming the field."""

import math

import numpy as np
import pytest

import sim.phy as phy
from sim.cli import main
from sim.errors import CposimError
from sim.fabric import build_topology
from sim.fabric.budget import afford_topology
from sim.fabric.cost import scaleout_bandwidth_per_gpu_bps, scaleout_power_w
from sim.phy.budget import Budget, Demand, afford, split
from sim.runtime import SpeedOptions, simulate
from sim.study import StudyConfig, build_cluster, build_workload, run_study
from workloads.generator import generate

# one switch, 64 GPUs, every cable 2.1 m (a short floor so copper reaches: 2 x 0.5 m rise +
# 0.5 m slack + one rack); a GPU's bit crosses two hops (GPU -> switch -> GPU)
TECHS = ("copper-dac", "copper-aec", "pluggable-dsp", "lpo", "cpo", "optical-io", "microled")
GPUS = 64
GEOMETRY = {"rise_m": 0.5, "slack_m": 0.5}
LENGTH_M = 2.1


def energy_j_per_bit(tech: str) -> float:
    return phy.resolve_link(tech, 100e9, LENGTH_M).energy_pj_per_bit * 1e-12


@pytest.mark.parametrize("tech", TECHS)
def test_iso_power_is_budget_over_energy_per_bit_in_whole_lanes(tech):
    e = 2 * energy_j_per_bit(tech)                        # J per bit of per-GPU bandwidth
    budget_w = 3.3 * 100e9 * e                            # 3.3 lanes' worth
    topo, got, demand = afford_topology("single-switch", gpus=GPUS, policy=tech,
                                        geometry=GEOMETRY,
                                        budget=Budget(power_w=budget_w, shoreline_m=1.0))
    assert set(topo.length_m) == {LENGTH_M} and set(topo.tech) == {tech}
    assert demand.w_per_bps == pytest.approx(e, rel=1e-12)
    assert got.bounds_bps["power"] == pytest.approx(budget_w / e, rel=1e-12)
    assert (got.lanes, got.planes, got.binding) == (3, 1, "power")
    assert scaleout_bandwidth_per_gpu_bps(topo) == 300e9
    assert scaleout_power_w(topo) / GPUS == pytest.approx(300e9 * e, rel=1e-9)
    assert scaleout_power_w(topo) / GPUS <= budget_w


@pytest.mark.parametrize("tech", TECHS)
def test_shoreline_bounds_the_power_budget(tech):
    density = phy.resolve_link(tech, 100e9, 0.0).shoreline_tbps_per_mm * 1e15   # b/s per m
    edge_m = 2.5 * 100e9 / density                        # 2.5 lanes of package edge
    e = 2 * energy_j_per_bit(tech)
    _, got, _ = afford_topology("single-switch", gpus=GPUS, policy=tech, geometry=GEOMETRY,
                                budget=Budget(power_w=30 * 100e9 * e, shoreline_m=edge_m))
    assert got.binding == "shoreline"
    assert got.bounds_bps["shoreline"] == pytest.approx(edge_m * density)
    assert got.lanes == 2


def test_more_lanes_than_a_port_add_planes_up_to_the_switch_radix():
    e = 2 * energy_j_per_bit("cpo")
    # the preset's switch: 64 ports x 4 lanes -> a plane's port takes 4 lanes
    topo, got, _ = afford_topology("single-switch", gpus=GPUS, policy="cpo",
                                   geometry=GEOMETRY,
                                   budget=Budget(power_w=6 * 100e9 * e, shoreline_m=1.0))
    assert (got.lanes, got.planes, got.lanes_per_plane) == (6, 2, 3)
    assert topo.notes["planes"] == 2
    _, big, _ = afford_topology("single-switch", gpus=GPUS, policy="cpo", geometry=GEOMETRY,
                                budget=Budget(power_w=1e4, shoreline_m=1.0, max_planes=3))
    assert (big.lanes, big.planes, big.binding) == (12, 3, "switch radix")


def test_split_prefers_bandwidth_then_fewer_planes():
    assert split(4, 4, 8) == (4, 1)
    assert split(7, 4, 8) == (7, 7)
    assert split(7, 4, 1) == (4, 1)
    assert split(11, 4, 8) == (10, 5)
    assert split(0, 4, 8) == (0, 0)


def test_afforded_bandwidth_never_falls_with_more_budget():
    rng = np.random.default_rng(0)
    for _ in range(200):
        d = Demand(lane_rate_bps=float(rng.choice([100e9, 200e9])),
                   w_per_bps=rng.uniform(5, 100) * 1e-12, usd_per_bps=rng.uniform(5, 30) * 1e-9,
                   gpu_density_bps_per_m=rng.uniform(0.1, 2) * 1e15,
                   switch_density_bps_per_m=0.3e15, radix=int(rng.choice([32, 64, 144])),
                   switch_lanes=int(rng.choice([256, 512, 576])))
        last = 0.0
        for p in np.geomspace(5, 500, 25):
            try:
                got = afford(d, Budget(power_w=float(p), shoreline_m=0.01))
            except CposimError:
                assert last == 0.0
                continue
            assert got.bandwidth_bps >= last
            last = got.bandwidth_bps


def test_more_power_budget_never_slows_the_iteration():
    tr = generate("llama3-8b", gpus=64, tp=8, pp=2, global_batch=8)
    last_bw, last_t = 0.0, math.inf
    for w in (20.0, 40.0, 80.0, 160.0, 320.0):
        topo, got, _ = afford_topology("dgx-h100-superpod", gpus=64, policy="copper-first",
                                       tier_policy={"scaleout": "cpo"},
                                       budget=Budget(power_w=w, shoreline_m=0.01))
        t = simulate(tr, topo, fidelity="analytical").iteration_s
        assert got.bandwidth_bps >= last_bw and t <= last_t * (1 + 1e-12)
        last_bw, last_t = got.bandwidth_bps, t


SMALL = {"name": "t", "seed": 1, "fidelity": "analytical", "timeline": False,
         "policies": ["copper-first", {"name": "cpo", "tier_policy": {"scaleout": "cpo"}}],
         "workload": {"model": "llama3-8b", "gpus": 16, "tp": 8, "pp": 2, "global_batch": 4}}


def test_iso_bandwidth_is_todays_study():
    from sim.report import iteration_summary, network_totals

    cfg = StudyConfig.model_validate(SMALL)
    assert cfg.basis == "iso-bandwidth"
    res = run_study(cfg)
    explicit = run_study(StudyConfig.model_validate({**SMALL, "basis": "iso-bandwidth"}))
    for name, spec in (("copper-first", {}), ("cpo", {"scaleout": "cpo"})):
        topo = build_topology("dgx-h100-superpod", gpus=16, policy="copper-first",
                              **({"tier_policy": spec} if spec else {}))
        mine = build_cluster(cfg, cfg.policies[0 if name == "copper-first" else 1], 16)
        for f in ("src", "dst", "capacity_bps", "latency_s", "port_total_power_w", "tech"):
            assert np.array_equal(getattr(topo, f), getattr(mine, f)), f
        r = simulate(build_workload(cfg), topo, fidelity="analytical", seed=cfg.seed,
                     routing=cfg.routing, algorithm=cfg.algorithm,
                     speed=SpeedOptions(rank_classes=True))
        old = {**iteration_summary(r), **network_totals(topo, r.fabric, r.iteration_s,
                                                        r.fabric.bytes_delivered)}
        for k, v in old.items():
            assert res.runs[name].summary[k] == v, k
            assert explicit.runs[name].summary[k] == v, k


def test_iso_power_at_todays_power_rebuilds_todays_fabric():
    ref = build_topology("dgx-h100-superpod", gpus=16, policy="copper-first")
    w = scaleout_power_w(ref) / 16
    base = run_study(StudyConfig.model_validate(SMALL)).comparison().set_index("policy")
    iso = run_study(StudyConfig.model_validate(
        {**SMALL, "policies": ["copper-first"], "basis": "iso-power",
         "budget": {"network_power_per_gpu_w": w}})).comparison().set_index("policy")
    row = iso.loc["copper-first"]
    assert row["afforded_lanes_per_gpu"] == 4 and row["scaleout_planes"] == 1
    assert row["binding_constraint"] == "power"
    assert row["iteration_s"] == base.loc["copper-first", "iteration_s"]
    assert row["scaleout_power_per_gpu_w"] == pytest.approx(w)


def _cli(tmp_path, capsys, body: str) -> tuple[int, str]:
    f = tmp_path / "s.toml"
    f.write_text('name = "s"\nfidelity = "analytical"\npolicies = ["cpo"]\n' + body
                 + '\n[workload]\nmodel = "llama3-8b"\ngpus = 16\ntp = 8\npp = 2\n'
                   'global_batch = 4\n')
    rc = main(["run", str(f), "--quiet", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    return rc, err


@pytest.mark.parametrize("body, field", [
    ('basis = "iso-power"\n[budget]\nnetwork_power_per_gpu_w = -3',
     "budget.network_power_per_gpu_w"),
    ('basis = "iso-power"\n[budget]\nnetwork_power_per_gpu_w = 0.5',
     "budget.network_power_per_gpu_w"),
    ('basis = "iso-shoreline"\n[budget]\nshoreline_mm = 0.01', "budget.shoreline_mm"),
    ('basis = "iso-watts"', "basis"),
    ('basis = "iso-cost"', "budget.cost_per_gpu_usd"),
    ('[costs]\n"price.nic.port_400g" = -1', "costs.price.nic.port_400g"),
    ('[budget]\nnetwork_power_per_gpu_w = 40', "budget.network_power_per_gpu_w"),  # ignored
    ('basis = "iso-shoreline"\n[budget]\nshoreline_mm = 4\nlane_rates = ["300 Gb/s"]',
     "budget.lane_rates.0"),
])
def test_bad_budgets_exit_2_with_one_line_naming_the_field(tmp_path, capsys, body, field):
    rc, err = _cli(tmp_path, capsys, body)
    assert rc == 2
    assert len(err.splitlines()) == 1 and f"field '{field}'" in err, err


def test_too_small_a_budget_says_what_one_lane_needs():
    cfg = StudyConfig.model_validate({**SMALL, "basis": "iso-power",
                                      "budget": {"network_power_per_gpu_w": 0.5}})
    with pytest.raises(CposimError, match="one lane needs") as exc:
        run_study(cfg)
    assert exc.value.field == "budget.network_power_per_gpu_w"
