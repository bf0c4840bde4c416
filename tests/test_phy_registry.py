"""The technology registry: the policies, host paths and figure styles derived from it are the
ones that were hand-written before it existed; every entry's parts agree with its reliability
rows and its key templates name rows of the table."""

import pytest

from sim.errors import CposimError
from sim.phy import load_parameters, registry, resolve_link, technologies
from sim.phy.tech import FAILURE_COMPONENTS

BUILT_IN = ["copper-dac", "copper-aec", "pluggable-dsp", "lpo", "cpo", "optical-io"]

# The tables the registry replaced (sim/fabric/policy.py, sim/phy/tech.py and
# experiments/common.py before the registry), pinned: deriving them must not change them.
OLD_POLICIES = {
    "copper-first": ("copper-dac", "copper-aec", "pluggable-dsp"),
    "copper-lpo": ("copper-dac", "copper-aec", "lpo", "pluggable-dsp"),
    "copper-cpo": ("copper-dac", "copper-aec", "cpo"),
    "pluggable": ("pluggable-dsp",),
    "lpo": ("lpo", "pluggable-dsp"),
    "cpo": ("cpo",),
    "optical-io": ("optical-io", "cpo"),
}
OLD_HOST_PATH = {"copper-dac": "dac", "copper-aec": "aec", "pluggable-dsp": "front_panel",
                 "lpo": "front_panel", "cpo": "cpo", "optical-io": "d2d"}
OLD_TECH_STYLE = {
    "copper-dac": dict(color="#D55E00", linestyle="-", marker="o"),
    "copper-aec": dict(color="#E69F00", linestyle="--", marker="s"),
    "pluggable-dsp": dict(color="#0072B2", linestyle="-.", marker="^"),
    "lpo": dict(color="#56B4E9", linestyle=":", marker="v"),
    "cpo": dict(color="#009E73", linestyle="-", marker="D"),
    "optical-io": dict(color="#CC79A7", linestyle="--", marker="P"),
}
OLD_POLICY_STYLE = {"copper-first": "copper-dac", "pluggable": "pluggable-dsp", "lpo": "lpo",
                    "cpo": "cpo"}

# part -> the reliability count that must be > 0 exactly when the entry lists the part
PART_COUNT = {"laser": "lasers", "external-laser": "lasers", "dsp": "dsps", "retimer": "retimers",
              "gearbox": "retimers", "driver": "drivers", "tia": "tias",
              "photodiode": "photodiodes"}


def test_built_in_technologies_come_first_in_their_order():
    assert technologies()[:len(BUILT_IN)] == BUILT_IN
    assert list(registry.names()) == technologies()


def test_derived_policies_are_the_old_hand_written_ones():
    pol = registry.policies()
    for name, techs in OLD_POLICIES.items():
        assert pol[name] == techs
    # the old names keep their order (error messages and listings list them in it)
    assert [p for p in pol if p in OLD_POLICIES] == list(OLD_POLICIES)


def test_fabric_policy_tables_are_views_of_the_registry():
    from sim.fabric.policy import POLICIES, TECHNOLOGIES, policy_candidates
    assert dict(POLICIES) == dict(registry.policies())
    assert list(TECHNOLOGIES) == technologies()
    assert policy_candidates("copper-dac") == ("copper-dac",)   # a bare technology
    with pytest.raises(CposimError, match="or a technology: copper-dac"):
        policy_candidates("nonesuch")


def test_kinds_give_the_old_host_paths_and_optics():
    for name, path in OLD_HOST_PATH.items():
        t = registry.get(name)
        assert t.host_path == path
        assert t.optical == (name not in ("copper-dac", "copper-aec"))
    assert registry.get("lpo").min_serdes_class == "lr"
    assert not registry.get("optical-io").fec


def test_figure_styles_are_the_old_ones():
    from experiments.common import POLICY_STYLE, TECH_STYLE
    for name, style in OLD_TECH_STYLE.items():
        assert TECH_STYLE[name] == style
    for policy, tech in OLD_POLICY_STYLE.items():
        assert POLICY_STYLE[policy] == OLD_TECH_STYLE[tech]
    triples = [tuple(s.values()) for s in TECH_STYLE.values()]
    assert len(set(triples)) == len(triples)   # every technology is drawn differently


@pytest.mark.parametrize("name", technologies())
def test_parts_agree_with_the_reliability_rows(name):
    entry = registry.get(name)
    counts = resolve_link(name, 200e9, 0.5).failure["counts_per_end"]
    assert set(counts) == set(FAILURE_COMPONENTS)
    assert entry.parts[0] == "host-serdes"
    for part, component in PART_COUNT.items():
        has = any(PART_COUNT.get(p) == component for p in entry.parts)
        assert has == (counts[component] > 0), (name, part, component, counts[component])


@pytest.mark.parametrize("name", technologies())
def test_key_templates_name_rows_of_the_table(name):
    entry = registry.get(name)
    params = load_parameters()
    for rk in ("100g", "200g"):
        for template in (entry.reach_key, entry.module_key, entry.laser_key, entry.latency_key):
            if template is not None:
                assert entry.key(template, rk) in params
        assert f"tech.{entry.table}.shoreline_{rk}" in params
    assert f"reliability.{entry.table}.repair_time" in params


def test_registering_checks_the_entry():
    cpo = registry.get("cpo")
    with pytest.raises(CposimError, match="already registered"):
        registry.register(cpo)
    with pytest.raises(CposimError, match="unknown kind"):
        registry.Technology(name="x", label="x", description="x", kind="optical-magic",
                            parts=("host-serdes",), reach_key="tech.{t}.reach")
    with pytest.raises(CposimError, match="unknown parts"):
        registry.Technology(name="x", label="x", description="x", kind="copper-passive",
                            parts=("flux-capacitor",), reach_key="tech.{t}.reach")
    with pytest.raises(CposimError, match="unknown technology"):
        registry.get("copper-dca")
    # a fallback must be a registered technology
    bad = registry.Technology(name="test-bad-fallback", label="x", description="x",
                              kind="optical-co-packaged", parts=("host-serdes",),
                              module_key="tech.{t}.{rk}.engine_w", reach_key="tech.{t}.reach",
                              table="cpo", policy="test-bad", fallback=("nonesuch",))
    with registry.registered(bad), pytest.raises(CposimError, match="nonesuch"):
        registry.policies()
    assert "test-bad-fallback" not in technologies() and "test-bad" not in registry.policies()
