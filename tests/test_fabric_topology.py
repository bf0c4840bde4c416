"""Topology builders, placement-driven cable lengths and link technology, user files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sim.errors import CposimError
from sim.fabric import PRESETS, build_topology
from sim.fabric.placement import Geometry


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds_and_is_consistent(name):
    topo = build_topology(name)
    s = topo.summary()
    assert s["gpus"] == PRESETS[name]["gpus"] == topo.n_gpus
    assert (topo.capacity_bps > 0).all() and (topo.latency_s > 0).all()
    # cables are pairs of opposite directed links with identical properties
    n = topo.n_links // 2
    assert np.array_equal(topo.src[:n], topo.dst[n:])
    assert np.array_equal(topo.capacity_bps[:n], topo.capacity_bps[n:])
    assert s["cables"] == int(topo.bundle[:n].sum())
    assert s["link_power_w"] == pytest.approx(topo.port_total_power_w.sum())
    assert not topo.transceivers[~topo.optical].any()        # copper has no optics
    assert sum(s["links_by_tech"].values()) == s["cables"]
    # every GPU sits in a rack and row
    g = topo.gpu_node
    assert (topo.rack[g] >= 0).all() and (topo.row[g] >= 0).all()


def test_dgx_superpod_structure():
    topo = build_topology("dgx-h100-superpod", gpus=1024)
    s = topo.summary()
    assert s["scaleup_size"] == 8
    assert s["switches_by_tier"] == {"leaf": 32, "scaleup": 128, "spine": 16}
    # NVLink4: 900 GB/s bidirectional = 3.6 Tb/s per direction; one 400G NIC per GPU
    assert s["gpu_bandwidth_bps_by_tier"]["scaleup"] == pytest.approx(3.6e12)
    assert s["gpu_bandwidth_bps_by_tier"]["leaf"] == pytest.approx(400e9)
    # rail-optimized: every leaf holds one rail (GPU index within its node) of one SU
    leaf_links = np.flatnonzero((topo.tier == "leaf") & (topo.kind[topo.src] == "gpu"))
    gpu_of = {int(n): i for i, n in enumerate(topo.gpu_node)}
    rails_per_leaf = {}
    for link in leaf_links:
        i = gpu_of[int(topo.src[link])]
        rails_per_leaf.setdefault(int(topo.dst[link]), set()).add((i % 8, i // 256))
    assert len(rails_per_leaf) == 32
    assert all(len(v) == 1 for v in rails_per_leaf.values())


def test_oversubscription_ratio():
    for ratio in (1, 2, 4):
        topo = build_topology("leaf-spine", gpus=256, oversubscription=ratio)
        leaf = np.flatnonzero(topo.node_tier == "leaf")[0]
        down = topo.capacity_bps[(topo.dst == leaf) & (topo.tier == "leaf")].sum()
        up = topo.capacity_bps[(topo.src == leaf) & (topo.tier == "spine")].sum()
        assert down / up == pytest.approx(ratio)


def test_three_tier_fat_tree_has_a_core():
    topo = build_topology("fat-tree", gpus=2048)
    assert topo.notes["tiers"] == 3 and topo.notes["pods"] == 2
    assert (topo.node_tier == "core").sum() > 0
    with pytest.raises(CposimError, match="tiers=3"):
        build_topology("leaf-spine", gpus=4096)      # 128 leaves exceed radix 64 in 2 tiers


def test_multiplane_splits_each_nic_across_planes():
    topo = build_topology("multiplane", gpus=128)
    up = (topo.kind[topo.src] == "gpu") & (topo.tier == "leaf")
    per_gpu = np.bincount(topo.src[up], minlength=topo.n_nodes)[topo.gpu_node]
    assert (per_gpu == 4).all()
    assert np.allclose(topo.capacity_bps[up], 200e9)
    leaves_of_gpu0 = topo.node_name[topo.dst[up & (topo.src == topo.gpu_node[0])]]
    assert sorted(n.split(".")[0] for n in leaves_of_gpu0) == ["p0", "p1", "p2", "p3"]


def test_cable_length_follows_geometry():
    geo = Geometry(rack_width_m=0.8, row_pitch_m=4.0, rise_m=1.0, slack_m=1.5, in_rack_m=0.5)
    topo = build_topology("leaf-spine", gpus=256, geometry=geo)
    f = topo.links_frame()
    s, d = f["src"].to_numpy(), f["dst"].to_numpy()
    same_rack = topo.rack[s] == topo.rack[d]
    expected = np.where(same_rack, 0.5, 2 * 1.0 + 1.5 + 0.8 * np.abs(topo.slot[s] - topo.slot[d])
                        + 4.0 * np.abs(topo.row[s] - topo.row[d]))
    assert np.allclose(f["length_m"], expected)
    # leaf-spine cables cross rows, host-leaf cables do not
    assert (topo.row[s] != topo.row[d])[f["tier"] == "spine"].all()
    assert (topo.row[s] == topo.row[d])[f["tier"] == "leaf"].all()


def test_placement_drives_technology_copper_first():
    topo = build_topology("gb200-nvl72", gpus=576, policy="copper-first")
    f = topo.links_frame()
    in_rack = topo.rack[f["src"]] == topo.rack[f["dst"]]
    cross_row = topo.row[f["src"]] != topo.row[f["dst"]]
    assert in_rack.any() and cross_row.any()
    assert f.loc[in_rack, "tech"].isin(["copper-dac", "copper-aec"]).all()
    assert f.loc[cross_row, "optical"].all()
    # the NVL72 rack is copper: the scale-up tier is all in-rack passive copper
    assert set(f.loc[f["tier"] == "scaleup", "tech"]) == {"copper-dac"}
    # stretch the in-rack cable beyond passive reach at 200G: copper-first must move on
    longer = build_topology("gb200-nvl72", gpus=72, geometry=Geometry(in_rack_m=4.0))
    assert "copper-dac" not in set(longer.tech[longer.tier == "scaleup"])


def test_placement_drives_technology_cpo_and_tier_policy():
    topo = build_topology("dgx-h100-superpod", gpus=512, policy="cpo")
    assert set(topo.tech[topo.optical]) == {"cpo"}
    assert topo.optical.all()
    s = topo.summary()
    assert s["links_by_tech"] == {"cpo": s["cables"]}
    # scale-up copper, scale-out CPO
    mixed = build_topology("dgx-h100-superpod", gpus=512, policy="copper-first",
                           tier_policy={"scaleout": "cpo"})
    assert set(mixed.tech[mixed.tier == "scaleup"]) == {"copper-dac"}
    assert set(mixed.tech[mixed.tier != "scaleup"]) == {"cpo"}
    # CPO ports burn less than pluggables for the same fabric
    plug = build_topology("dgx-h100-superpod", gpus=512, policy="pluggable")
    assert mixed.summary()["link_power_w"] < build_topology(
        "dgx-h100-superpod", gpus=512).summary()["link_power_w"] < plug.summary()["link_power_w"]


def test_optical_scaleup_preset():
    topo = build_topology("nvl576-optical", gpus=576)
    su = topo.tier == "scaleup"
    assert topo.scaleup_size == 576
    assert (topo.rack[topo.src[su]] != topo.rack[topo.dst[su]]).all()   # crosses racks
    assert set(topo.tech[su]) == {"cpo"}
    copper = build_topology("nvl576-optical", gpus=576, tier_policy={"scaleup": "copper-first"})
    assert not ({"cpo"} & set(copper.tech[copper.tier == "scaleup"]))


def test_lane_rate_override_changes_capacity():
    a = build_topology("leaf-spine", gpus=64, lane_rate_bps=200e9)
    assert np.allclose(a.capacity_bps[a.tier == "leaf"], 800e9)


def test_bad_arguments():
    with pytest.raises(CposimError):
        build_topology("nope")
    with pytest.raises(CposimError):
        build_topology("dgx-h100-superpod", gpus=12)         # not whole NVL8 domains
    with pytest.raises(CposimError):
        build_topology("leaf-spine", policy="magic")
    with pytest.raises(CposimError):
        build_topology("leaf-spine", tier_policy=["scaleup"])
    with pytest.raises(CposimError):
        build_topology("leaf-spine", tier_policy={"basement": "cpo"})
    with pytest.raises(CposimError):
        build_topology("leaf-spine", flux_capacitor=3)
    with pytest.raises(CposimError):
        build_topology("leaf-spine", oversubscription=0.5)


TOML = """
name = "tiny"
switch_latency = "250 ns"
[geometry]
row_pitch = "5 m"

[[nodes]]
name = "gpu"
kind = "gpu"
count = 4
rack = 0
row = 0
domain = 0

[[nodes]]
name = "sw"
kind = "switch"
tier = "leaf"
rack = 0
row = 1

[[links]]
a = ["gpu0", "gpu1", "gpu2"]
b = "sw"
tier = "leaf"
lanes = 4
lane_rate = "100G"

[[links]]
a = "gpu3"
b = "sw"
tier = "leaf"
bandwidth = "50 GB/s"
latency = "1 us"
"""


def test_user_toml_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TOML)
    topo = build_topology(str(path))
    assert topo.n_gpus == 4 and topo.name == "tiny"
    f = topo.links_frame()
    phy = f[f["src_name"].isin(["gpu0", "gpu1", "gpu2"])]
    # across one row at 5 m pitch: 2 x 1.5 m rise + 2 m slack + 5 m
    assert np.allclose(phy["length_m"], 10.0)
    assert phy["optical"].all()                       # 10 m: beyond copper at 100G
    ideal = f[f["src_name"] == "gpu3"].iloc[0]
    assert ideal["tech"] == "ideal" and ideal["capacity_bps"] == 400e9
    assert ideal["latency_s"] == pytest.approx(1e-6)
    assert topo.switch_latency_s[topo.node_name == "sw"][0] == pytest.approx(250e-9)
    # JSON form of the same thing
    import tomllib
    jpath = tmp_path / "tiny.json"
    jpath.write_text(json.dumps(tomllib.loads(TOML)))
    assert build_topology(jpath).n_links == topo.n_links


@pytest.mark.parametrize("change,field", [
    (("lanes = 4", "lanez = 4"), "links[0].lanez"),
    (('b = "sw"\ntier = "leaf"\nlanes', 'b = "sx"\ntier = "leaf"\nlanes'), "links[0].b"),
    (('latency = "1 us"', 'latency = "1 parsec"'), "links[1].latency"),
    (('kind = "switch"', 'kind = "router"'), "nodes[1].kind"),
    (('row_pitch = "5 m"', 'row_pich = "5 m"'), "geometry.row_pich"),
])
def test_user_file_errors_name_file_and_field(tmp_path, change, field):
    path = tmp_path / "bad.toml"
    path.write_text(TOML.replace(*change, 1))
    with pytest.raises(CposimError) as exc:
        build_topology(str(path))
    assert exc.value.file == str(path)
    assert exc.value.field == field


def test_user_file_missing_and_unparsable(tmp_path):
    with pytest.raises(CposimError):
        build_topology(str(tmp_path / "missing.toml"))
    p = tmp_path / "broken.json"
    p.write_text("{ nope")
    with pytest.raises(CposimError) as exc:
        build_topology(str(p))
    assert exc.value.file == str(p)
