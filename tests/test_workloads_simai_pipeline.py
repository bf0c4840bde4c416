"""SimAI/AICB workloads with pp > 1: micro-batch split, the pipeline schedule against the 1F1B and
interleaved closed forms, and the "simai" reading against SimAI's formula by hand.

The files are written here in AICB's layout (aliyun/aicb SimAI_training_workload_generator.py
``workload_generate``): a prologue (grad_norm, layernorm), ``ga`` blocks of one stage's rows
each starting at ``embedding_layer`` (ending at ``embedding_norm``), an epilogue
(cross_entropy1-3, optimizer1-4); ``vpp`` = layers per stage; ``pp_comm`` in bytes.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from sim.errors import CposimError
from sim.fabric import single_switch
from sim.runtime import simulate
from workloads.readers.astra_text import read_astra_text
from workloads.readers.simai_pipeline import simai_exposed_pp_s, split_microbatches
from workloads.trace import BubbleFormula

NONE = "NONE 0"


def row(name, fwd=0, fwd_comm=NONE, ig=0, ig_comm=NONE, wg=0, wg_comm=NONE):
    return f"{name}\t-1\t{fwd}\t{fwd_comm}\t{ig}\t{ig_comm}\t{wg}\t{wg_comm}\t100"


def aicb(*, tp=1, pp=4, ga=8, vpp=None, layers=2, world=None, fwd=1000, ig=1000, wg=1000,
         tp_bytes=0, pp_comm=0, prologue=True, epilogue=True, emb=0, end_row="embedding_norm",
         dp_bytes=0) -> str:
    """An AICB-layout text workload; compute in ns (cycles), comm sizes in bytes."""
    vpp = layers if vpp is None else vpp
    world = world or tp * pp
    ar = f"ALLREDUCE {tp_bytes}" if tp_bytes else NONE
    rows = []
    if prologue:
        rows += [row("grad_norm", wg_comm=f"REDUCESCATTER {dp_bytes}" if dp_bytes else NONE),
                 row("layernorm")]
    for _ in range(ga):
        rows.append(row("embedding_layer", emb, ar, emb, NONE, emb))
        for _ in range(layers):
            rows.append(row("attention_layer", fwd, ar, ig, ar, wg))
            rows.append(row("mlp_layer", fwd, ar, ig, ar, wg))
        if end_row:
            rows.append(row(end_row, emb, NONE, emb, NONE, emb))
    if epilogue:
        rows += [row(f"cross_entropy{k}") for k in (1, 2, 3)]
        rows += [row(f"optimizer{k}") for k in (1, 2, 3, 4)]
    head = (f"HYBRID_TRANSFORMER_FWD_IN_BCKWD\tmodel_parallel_NPU_group: {tp} ep: 1 pp: {pp} "
            f"vpp: {vpp} ga: {ga} all_gpus: {world} checkpoints: 0 checkpoint_initiates: 0 "
            f"pp_comm: {pp_comm}")
    return "\n".join([head, str(len(rows))] + rows) + "\n"


def read(text, **kw):
    return read_astra_text(text=text, source="aicb.txt", **kw)


# ---------------------------------------------------------------------------- split
def test_split_finds_prologue_blocks_epilogue():
    t = read(aicb(ga=8, layers=3))
    p = t.metadata["pipeline"]
    assert (p["reading"], p["split"], p["micro_batches"]) == ("schedule", "embedding_layer markers",
                                                                8)
    assert (p["prologue_rows"], p["block_rows"], p["epilogue_rows"]) == (2, 1 + 2 * 3 + 1, 7)
    # AIOB generator without SP: no embedding_norm, the block ends at the last mlp row
    p = read(aicb(ga=4, layers=2, end_row=None)).metadata["pipeline"]
    assert (p["prologue_rows"], p["block_rows"], p["epilogue_rows"]) == (2, 5, 7)


def test_split_falls_back_with_a_note():
    # no markers, rows divide by ga: even split
    text = aicb(ga=4, layers=1, prologue=False, epilogue=False).replace("embedding_layer", "emb")
    t = read(text)
    assert t.metadata["pipeline"]["split"] == "even"
    assert any("split evenly" in n for n in t.metadata["notes"])
    # markers that do not match ga, rows not divisible: one block with all the traffic
    text = aicb(ga=3, layers=1, pp_comm=1000).replace("ga: 3", "ga: 5")
    t = read(text)
    p = t.metadata["pipeline"]
    assert p["split"] == "whole file" and p["micro_batches"] == 1 and p["p2p_bytes"] == 5000
    assert any("3 embedding_layer rows for ga: 5" in n for n in t.metadata["notes"])


def test_split_blocks_are_the_files_rows():
    class R:
        def __init__(self, name):
            self.name = name
    names = ["grad_norm"] + ["embedding_layer", "a", "b"] * 3 + ["cross_entropy1", "x"]
    s = split_microbatches([R(n) for n in names], 3)
    assert [r.name for r in s.prologue] == ["grad_norm"]
    assert [[r.name for r in b] for b in s.blocks] == [["embedding_layer", "a", "b"]] * 3
    assert [r.name for r in s.epilogue] == ["cross_entropy1", "x"]
    assert s.first == [1, 4, 7]


# ---------------------------------------------------------------------------- schedule
@pytest.mark.parametrize("pp,ga", [(4, 8), (2, 3), (4, 4), (3, 1)])
def test_1f1b_matches_closed_form(pp, ga):
    """Compute only, 0-byte transfers on a zero-latency switch: (m + p - 1)(t_f + t_b)."""
    layers, f, i, w = 2, 1000, 1500, 500
    t = read(aicb(pp=pp, ga=ga, layers=layers, vpp=1, fwd=f, ig=i, wg=w), schedule="1f1b")
    assert t.metadata["pipeline"]["schedule"] == "1f1b"
    tf, tb = 2 * layers * f * 1e-9, 2 * layers * (i + w) * 1e-9
    topo = single_switch(pp, link_bandwidth_bps=1e12, link_latency_s=0.0)
    res = simulate(t, topo, fidelity="analytical")
    assert res.iteration_s == pytest.approx((ga + pp - 1) * (tf + tb), rel=1e-9)
    assert res.summary["bubble_s"] == pytest.approx((pp - 1) * (tf + tb), rel=1e-9)


def test_1f1b_with_pp_comm_equals_the_critical_path_and_the_closed_form():
    """Real activation traffic: the analytical iteration equals an independent critical-path
    oracle over the stage programs (no SimPy, no fabric), and the 1F1B closed form plus the
    fill and drain transfers, 2 (p - 1) tau, to 1 %; flow agrees to 1 % too."""
    from test_runtime_pipeline import critical_path

    pp, ga, layers = 4, 8, 4
    f, i, w = 200_000, 250_000, 150_000          # ns per row
    act = 2**20
    bw_Bps, lat = 50e9, 1e-6
    t = read(aicb(pp=pp, ga=ga, layers=layers, vpp=1, fwd=f, ig=i, wg=w, pp_comm=act,
                  prologue=False, epilogue=False))
    topo = single_switch(pp, link_bandwidth_bps=8 * bw_Bps, link_latency_s=lat)
    tau = 2 * lat + act / bw_Bps
    tf, tb = 2 * layers * f * 1e-9, 2 * layers * (i + w) * 1e-9
    closed = (ga + pp - 1) * (tf + tb) + 2 * (pp - 1) * tau
    ana = simulate(t, topo, fidelity="analytical")
    assert ana.iteration_s == pytest.approx(critical_path(t, tau), rel=1e-12)
    assert ana.iteration_s == pytest.approx(closed, rel=0.01)
    assert ana.summary["exposed_pp_s"] > 0
    flow = simulate(t, topo, fidelity="flow")
    assert flow.iteration_s == pytest.approx(closed, rel=0.01)
    # the bytes the stages exchange: 2 (p - 1) boundaries x m micro-batches
    sent = sum(len(pr.ranks) * o.size_bytes for pr in t.programs for o in pr.ops
               if o.kind == "send")
    assert sent == 2 * (pp - 1) * ga * act


@pytest.mark.parametrize("pp,ga,v", [(4, 8, 2), (2, 4, 4), (4, 4, 2)])
def test_interleaved_matches_closed_form(pp, ga, v):
    """vpp > 1: interleaved 1F1B, m (t_f + t_b) + (p - 1)(t_f + t_b)/v (Narayanan et al.)."""
    layers, f, i, w = 4, 1000, 1200, 800
    t = read(aicb(pp=pp, ga=ga, layers=layers, vpp=v, fwd=f, ig=i, wg=w))
    meta = t.metadata["pipeline"]
    assert (meta["schedule"], meta["chunks"]) == ("interleaved", v)
    tf, tb = 2 * layers * f * 1e-9, 2 * layers * (i + w) * 1e-9
    topo = single_switch(pp, link_bandwidth_bps=1e12, link_latency_s=0.0)
    res = simulate(t, topo, fidelity="analytical")
    assert res.iteration_s == pytest.approx(ga * (tf + tb) + (pp - 1) * (tf + tb) / v,
                                            rel=1e-9)


def test_interleaved_falls_back_when_micro_batches_do_not_divide():
    t = read(aicb(pp=4, ga=6, layers=4, vpp=2))
    assert t.metadata["pipeline"]["schedule"] == "1f1b"
    assert any("not a multiple of pp" in n for n in t.metadata["notes"])


def test_schedule_bubble_is_small_on_a_deep_pipeline():
    """A deep interleaved pipeline (pp 12, vpp 8, ga 24): the bubble is a small part of the
    iteration, not the 91 % of running the stages one after another."""
    text = aicb(pp=12, ga=24, layers=8, vpp=8, fwd=100_000, ig=100_000, wg=100_000,
                pp_comm=2**20)
    topo = single_switch(12, link_bandwidth_bps=400e9, link_latency_s=1e-6)
    res = simulate(read(text), topo, fidelity="analytical")
    assert res.summary["bubble_s"] / res.iteration_s < 0.35
    # free transfers: the interleaved closed form, bubble (p-1)/(v m + p - 1) of the iteration
    free = single_switch(12, link_bandwidth_bps=1e15, link_latency_s=0.0)
    res = simulate(read(text), free, fidelity="analytical")
    assert res.summary["bubble_s"] / res.iteration_s == pytest.approx(11 / (8 * 24 + 11),
                                                                      rel=1e-3)


# ---------------------------------------------------------------------------- simai reading
TINY = "\n".join([
    "HYBRID_TRANSFORMER_FWD_IN_BCKWD model_parallel_NPU_group: 2 ep: 1 pp: 2 vpp: 1 ga: 2 "
    "all_gpus: 8 checkpoints: 0 checkpoint_initiates: 0 pp_comm: 8388608", "12",
    row("grad_norm", wg_comm="REDUCESCATTER 268435456"),
    *([row("embedding_layer", 100000, "ALLREDUCE 134217728")]
      + [row("attention_layer", 300000, "ALLREDUCE 134217728", 300000, "ALLREDUCE 134217728",
             300000),
         row("mlp_layer", 500000, "ALLREDUCE 134217728", 500000, "ALLREDUCE 134217728",
             500000)] * 2) * 2,
    row("optimizer1", 0, "ALLREDUCE 4")]) + "\n"


def test_simai_reading_equals_simais_formula_by_hand():
    """The hand example of SimAI's accounting (Layer.cc Layer::report): bubble =
    (pp-1)/(ga*vpp) x (non-embedding compute + fwd/ig communication)."""
    bw_Bps = 100e9                   # per direction; a 2-rank all-reduce of S takes S/bw
    topo = single_switch(8, link_bandwidth_bps=8 * bw_Bps, link_latency_s=0.0)
    t = read(TINY, pipeline="simai")
    f = BubbleFormula.of(t)
    assert f.factor == pytest.approx(1 / 2) and f.exposed_pp_s == 0.0
    assert len({tuple(o.name for o in p.ops) for p in t.programs}) == 1  # stages alike
    assert not any(o.kind in ("send", "recv") for p in t.programs for o in p.ops)
    res = simulate(t, topo, fidelity="analytical")
    t_ar = 2**27 / bw_Bps
    t_opt = 4 / bw_Bps
    compute = 2 * 2 * (3 * 300e-6 + 3 * 500e-6)          # 2 blocks x 2 layers, fwd+ig+wg
    comm = 2 * 2 * 2 * 2 * t_ar + t_opt                   # fwd + ig all-reduces, optimizer
    bubble = (2 - 1) / (2 * 1) * (compute + comm)
    assert res.summary["bubble_s"] == pytest.approx(bubble, rel=1e-3)
    # the rest of the iteration is the pass itself: the same rows with no formula
    plain = read(TINY, pipeline="simai")
    plain.metadata.pop(BubbleFormula.KEY)
    base = simulate(plain, topo, fidelity="analytical")
    assert res.iteration_s == pytest.approx(base.iteration_s + bubble, rel=1e-3)
    # the same hand number with the header's vpp: 2 halves the bubble
    res2 = simulate(read(TINY.replace("vpp: 1", "vpp: 2"), pipeline="simai"), topo,
                    fidelity="analytical")
    assert res2.summary["bubble_s"] == pytest.approx(bubble / 2, rel=1e-3)


def test_simai_exposed_pp_term():
    # SimAI's -pp_o 0.5 on the tiny file printed 31250 us: 2*1*2*8 MiB/(0.5*2^30)*(1-0.5)
    assert simai_exposed_pp_s(1, 2, 8388608, 0.5) == pytest.approx(31250e-6, rel=1e-12)
    assert simai_exposed_pp_s(8, 24, 50331648, 1.0) == 0.0
    t = read(TINY, pipeline="simai", pp_overlap=0.5)
    topo = single_switch(8, link_bandwidth_bps=800e9, link_latency_s=0.0)
    a = simulate(t, topo, fidelity="analytical")
    b = simulate(read(TINY, pipeline="simai"), topo, fidelity="analytical")
    assert a.iteration_s - b.iteration_s == pytest.approx(31250e-6, rel=1e-9)
    assert a.summary["exposed_pp_s"] == pytest.approx(31250e-6, rel=1e-9)


def test_formula_survives_native_round_trip(tmp_path):
    from workloads.io import read_trace, write_trace

    t = read(TINY, pipeline="simai")
    write_trace(t, tmp_path / "t.cposim.json")
    assert BubbleFormula.of(read_trace(tmp_path / "t.cposim.json")) == BubbleFormula.of(t)


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("opts,field", [({"pipeline": "gpipe"}, "pipeline"),
                                        ({"schedule": "zb"}, "schedule"),
                                        ({"pp_overlap": 0}, "pp_overlap"),
                                        ({"pp_overlap": 1.5}, "pp_overlap")])
def test_bad_reader_options_name_the_field(opts, field):
    with pytest.raises(CposimError) as e:
        read(TINY, **opts)
    assert e.value.field == field


def test_study_reader_options_are_checked(tmp_path):
    wl = tmp_path / "tiny.txt"
    wl.write_text(TINY)
    cfg = tmp_path / "s.toml"
    cfg.write_text(f'name = "x"\nfidelity = "analytical"\n[workload]\ntrace = "{wl}"\n'
                   'no_such_option = 3\n[topology]\npreset = "leaf-spine"\n')
    r = subprocess.run([sys.executable, "-m", "sim", "run", str(cfg), "--out",
                        str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "s.toml" in r.stderr and "workload.no_such_option" in r.stderr


def test_trace_info_shows_the_reading(tmp_path):
    wl = tmp_path / "aicb.txt"
    wl.write_text(aicb(pp=4, ga=8, layers=4, vpp=2))
    out = subprocess.run([sys.executable, "-m", "sim", "trace", "info", str(wl)],
                         capture_output=True, text=True, check=True).stdout
    assert "pipeline      schedule: interleaved over 8 micro-batches x 2 chunks" in out
    out = subprocess.run([sys.executable, "-m", "sim", "trace", "info", str(wl),
                          "--pipeline", "simai"], capture_output=True, text=True,
                         check=True).stdout
    assert "pipeline      simai:" in out and "3/(8*2)" in out


def test_every_reader_option_reaches_the_reader(tmp_path):
    # the option check of read_trace must let through every option read_astra_text takes
    from workloads.io import read_trace

    wl = tmp_path / "aicb.txt"
    wl.write_text(aicb(pp=4, ga=8, layers=4, vpp=1))
    t = read_trace(wl, schedule="gpipe", pp_overlap=0.5)
    assert "gpipe" in str(t.metadata.get("pipeline", ""))
    out = subprocess.run([sys.executable, "-m", "sim", "trace", "info", str(wl),
                          "--schedule", "gpipe"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "gpipe" in out.stdout
