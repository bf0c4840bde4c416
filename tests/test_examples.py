"""Every study file in examples/ is a valid study (sweeps: their base study and every point),
and the MoE example says what its comments say."""

from pathlib import Path

import pytest

from sim.config import load_toml
from sim.study import StudyConfig, load_study, run_study
from sim.sweep.grid import apply_overrides, expand

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TOMLS = sorted(EXAMPLES.glob("*.toml"))


def test_the_examples_are_there():
    assert {"small-study.toml", "moe-study.toml", "sweep-scaleout.toml"} <= {p.name for p in TOMLS}


@pytest.mark.parametrize("path", TOMLS, ids=lambda p: p.name)
def test_every_example_validates(path):
    raw = load_toml(path)
    if "sweep" not in raw:
        cfg = load_study(path)
        assert cfg.name
        return
    sweep = raw.pop("sweep")
    points = expand(sweep["grid"], sweep.get("seeds", [0]))
    assert points
    for p in points:
        StudyConfig.model_validate(apply_overrides(raw, dict(p.overrides)))


def test_moe_example_in_analytical_has_its_all_to_alls_on_the_rails():
    cfg = load_study(EXAMPLES / "moe-study.toml")
    assert cfg.fidelity == "flow" and cfg.routing == "pxn"
    assert cfg.workload.model_extra["ep"] == 32
    res = run_study(cfg.model_copy(update={"fidelity": "analytical", "timeline": False}))
    comp = res.comparison().set_index("policy")
    assert list(comp.index) == ["copper-first", "cpo-scaleout"]
    assert (comp["exposed_ep_s"] > 0).all()
    # CPO scale-out at the same port rates: same compute, less network energy
    assert comp.loc["cpo-scaleout", "compute_s"] == comp.loc["copper-first", "compute_s"]
    assert comp.loc["cpo-scaleout", "network_energy_j"] < comp.loc["copper-first",
                                                                   "network_energy_j"]
