"""Figure ``scaleup-domain``: MoE training in a 72-GPU copper vs a 576-GPU optical scale-up domain.

Lightmatter (Hot Interconnects 2025, arXiv 2510.15893):
passive copper's ~1 m reach at 200G/lane limits the scale-up domain to one rack (NVL72); 3D
CPO gives "8x scale-up" and a **2.7x reduction in time-to-train** for >1T-parameter MoE
models through multi-dimensional parallelism inside the larger domain. Only the abstract was
available to us, so the setup below is ours, stated in full:

* **Model**: DeepSeek-V3 (arXiv 2412.19437) widened from 256 to 1,024 routed experts: 2.63T
  parameters, 37.9B active (Lightmatter: ">1T-parameter MoE"), seq 4,096, bf16, Adam with
  ZeRO-1 (the generator's defaults), no activation recompute, 1F1B pipeline schedule.
* **Cluster**: 1,152 GB300-class GPUs (the ``gpu="gb300"`` preset: 2.5 PFLOP/s dense, 288 GB)
  as 16 copper NVL72 racks (``gb200-nvl72``: NVLink5 36 x 200G copper) or 2 optical domains
  of 576 (``nvl576-optical``: the same 36 x 200G per GPU over CPO); the same 800G per GPU
  rail-optimized scale-out in both. 1,024 GPUs train — 64 per rack, 512 per optical domain
  (power-of-two TP x EP blocks cannot tile 72; the rest are spares) — so rank r sits in
  domain r // 64 or r // 512.
* **Layouts**: tp in {1,2,4,8}, ep powers of two up to the expert count, pp in {1..16}; a
  layout is feasible when its memory estimate fits 85 % of HBM: weights + fp32 gradients 6 B
  per parameter held, Adam states 12 B per parameter sharded over the (expert-)data-parallel
  group, activations of the ``pp`` micro-batches 1F1B keeps in flight on stage 0
  (Korthikanti et al.: 34·s·h/tp bytes per layer with SP, plus the MoE dispatch and expert
  activations). For each (tp, ep) the smallest feasible pp is simulated (more stages only add
  bubble); EP x TP groups may exceed the domain (then all-to-all crosses the scale-out).
  Every candidate runs one iteration at ``analytical`` fidelity; the best per domain wins.
* **Time to train** is time per iteration x iterations; both domains train the same tokens
  per iteration, so the ratio of iteration times is the time-to-train ratio.

Run as ``cposim figures scaleup-domain`` (``--quick``: a shortlist of layouts and a smaller
global batch). Writes ``results/scaleup_domain/``: ``layouts.parquet`` (every candidate with
memory, feasibility and simulated breakdown), ``scaleup_domain.pdf/.png``, manifest.
"""

from __future__ import annotations

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from experiments.common import Check, FigureResult, apply_style
from sim.fabric import PRESETS, build_topology
from sim.runtime import simulate
from workloads.generator import generate
from workloads.generator.gpus import get_gpu
from workloads.generator.models import get_model

LM = "Lightmatter, Hot Interconnects 2025 (arXiv 2510.15893 abstract): 2.7x time-to-train"
GPU = "gb300"
CLUSTER_GPUS = 1152               # 16 x 72 = 2 x 576
TRAIN_GPUS = 1024
DOMAINS = {"copper NVL72": ("gb200-nvl72", 72, 64), "optical NVL576": ("nvl576-optical", 576, 512)}
HBM_USABLE = 0.85
EXPERTS = 1024
SEQ = 4096
# --quick: these (tp, ep), each at its smallest feasible pp (the full run tries every layout)
QUICK_LAYOUTS = ((1, 64), (4, 16), (1, 128), (4, 128))


def model():
    return get_model("deepseek-v3").with_overrides(name="deepseek-v3-1024e", n_experts=EXPERTS)


def memory_bytes(spec, *, tp: int, ep: int, pp: int, dp: int, seq: int = SEQ,
                 micro_batch: int = 1) -> dict:
    """Per-GPU memory estimate of stage 0 (see the module docstring for the model)."""
    p_exp = spec.n_moe_layers * spec.n_experts * spec.expert_params()
    p_dense = spec.params() - p_exp
    held_dense, held_exp = p_dense / (tp * pp), p_exp / (ep * tp * pp)
    weights = 6.0 * (held_dense + held_exp)
    optimizer = 12.0 * (held_dense / dp + held_exp / (dp // ep))
    s, h = seq * micro_batch, spec.hidden
    per_layer_dense = 34.0 * s * h / tp
    per_layer_moe = s * spec.top_k * (4.0 * h + 6.0 * spec.expert_ffn_hidden) / tp
    layers_stage = math.ceil(spec.n_layers / pp)
    moe_frac = spec.n_moe_layers / spec.n_layers
    act = pp * layers_stage * (per_layer_dense + moe_frac * per_layer_moe)
    return {"weights_grads_bytes": weights, "optimizer_bytes": optimizer,
            "activation_bytes": act, "total_bytes": weights + optimizer + act}


def candidates(spec, quick: bool) -> list[dict]:
    hbm = get_gpu(GPU).hbm_bytes * HBM_USABLE
    out = []
    tps = (1, 4) if quick else (1, 2, 4, 8)
    for tp in tps:
        eps = [2**k for k in range(3, 11) if 2**k <= spec.n_experts]
        for ep in eps:
            for pp in (1, 2, 4, 8, 16):
                if TRAIN_GPUS % (tp * pp):
                    continue
                dp = TRAIN_GPUS // (tp * pp)
                if dp % ep:
                    continue
                mem = memory_bytes(spec, tp=tp, ep=ep, pp=pp, dp=dp)
                if mem["total_bytes"] <= hbm:
                    out.append({"tp": tp, "ep": ep, "pp": pp, "dp": dp, **mem})
                    break          # smallest feasible pp for this (tp, ep)
    return out


def placement(domain_usable: int, domain_size: int) -> np.ndarray:
    r = np.arange(TRAIN_GPUS)
    return (r // domain_usable) * domain_size + r % domain_usable


def run_layout(spec, preset: str, size: int, usable: int, lay: dict, global_batch: int,
               topo) -> dict:
    t0 = time.perf_counter()
    tr = generate(spec, gpus=TRAIN_GPUS, tp=lay["tp"], pp=lay["pp"], ep=lay["ep"],
                  global_batch=global_batch, seq_len=SEQ, gpu=GPU)
    res = simulate(tr, topo, fidelity="analytical", placement=placement(usable, size))
    s = res.summary
    exposed = {k: float(v) for k, v in s.items() if k.startswith("exposed_")}
    return {**lay, "iteration_s": res.iteration_s, "compute_s": s["compute_s"],
            "bubble_s": s["bubble_s"], **exposed, "micro_batches":
            tr.metadata["parallelism"]["micro_batches"], "tp_ep_in_domain":
            lay["tp"] * lay["ep"] <= usable, "wall_s": time.perf_counter() - t0}


def table(quick: bool) -> pd.DataFrame:
    spec = model()
    gb = 1024 if quick else 4096
    rows = []
    for label, (preset, size, usable) in DOMAINS.items():
        topo = build_topology(preset, gpus=CLUSTER_GPUS)
        cands = [c for c in candidates(spec, quick)]
        if quick:
            cands = [c for c in cands if (c["tp"], c["ep"]) in QUICK_LAYOUTS]
        for lay in cands:
            row = run_layout(spec, preset, size, usable, lay, gb, topo)
            rows.append({"domain": label, "preset": preset, "domain_size": size,
                         "domain_used": usable, "global_batch": gb, **row})
    df = pd.DataFrame(rows).fillna(0.0)
    df["best"] = df.groupby("domain").iteration_s.transform("min") == df.iteration_s
    return df


PARTS = [("compute_s", "compute", "#0072B2", ""), ("bubble_s", "pipeline bubble", "#E69F00", "//"),
         ("exposed_ep_s", "exposed EP all-to-all", "#D55E00", ".."),
         ("exposed_tp_s", "exposed TP", "#CC79A7", "\\\\"),
         ("exposed_dp_s", "exposed DP", "#009E73", "xx"),
         ("exposed_dp_ep_s", "exposed expert-DP", "#56B4E9", "--"),
         ("exposed_pp_s", "exposed PP", "0.6", "")]


def plot(df: pd.DataFrame) -> plt.Figure:
    apply_style()
    fig, (a, b) = plt.subplots(1, 2, figsize=(7.0, 2.8), gridspec_kw={"width_ratios": [1, 1.6]})
    best = df[df.best].drop_duplicates("domain").set_index("domain")
    labels = list(DOMAINS)
    x = np.arange(len(labels))
    bottom = np.zeros(len(labels))
    for col, name, colour, hatch in PARTS:
        v = np.array([best.loc[d].get(col, 0.0) for d in labels])
        a.bar(x, v, bottom=bottom, color=colour, hatch=hatch, label=name, edgecolor="white",
              linewidth=0.5)
        bottom += v
    for xi, d in zip(x, labels):
        r = best.loc[d]
        a.text(xi, bottom[xi] * 1.02, f"tp{r.tp} ep{r.ep} pp{r.pp}", ha="center", fontsize=6)
    a.set_xticks(x, ["copper\nNVL72", "optical\nNVL576"])
    a.set_ylabel("time per iteration (s)")
    a.set_ylim(0, bottom.max() * 1.9)
    a.set_title(f"(a) best layout, ratio {bottom[0] / bottom[1]:.2f}x")
    a.legend(loc="upper center", fontsize=5.5, ncol=2)
    markers = {"copper NVL72": ("o", "#D55E00"), "optical NVL576": ("D", "#009E73")}
    for d, g in df.groupby("domain"):
        m, c = markers[d]
        inside = g.tp_ep_in_domain.astype(bool)
        b.scatter(g.tp[inside] * g.ep[inside], g.iteration_s[inside], marker=m, color=c,
                  label=f"{d}, TPxEP inside", s=14)
        b.scatter(g.tp[~inside] * g.ep[~inside], g.iteration_s[~inside], marker=m,
                  facecolors="none", edgecolors=c, label=f"{d}, TPxEP across domains", s=14)
        for r in g[g.best].itertuples():      # label the winner only
            b.annotate(f"best: tp{r.tp} ep{r.ep} pp{r.pp}", (r.tp * r.ep, r.iteration_s),
                       fontsize=6, xytext=(0, -11), textcoords="offset points", ha="center")
    b.set_xscale("log", base=2)
    size = df.tp * df.ep
    b.set_xlim(size.min() / 1.8, size.max() * 1.8)
    b.set_xlabel("TP x EP group size (GPUs)")
    b.set_ylabel("time per iteration (s)")
    b.set_title("(b) every feasible layout (smallest pp)")
    lo, hi = df.iteration_s.min(), df.iteration_s.max()
    b.set_ylim(lo - 0.2 * (hi - lo), hi + 0.45 * (hi - lo))
    b.legend(loc="upper center", fontsize=5.5, ncol=2)
    fig.tight_layout()
    return fig


def run(quick: bool = False) -> FigureResult:
    spec = model()
    df = table(quick)
    best = df[df.best].drop_duplicates("domain").set_index("domain")
    cu, op = best.loc["copper NVL72"], best.loc["optical NVL576"]
    ratio = cu.iteration_s / op.iteration_s

    def brk(r):
        parts = {name: r.get(col, 0.0) for col, name, _, _ in PARTS if r.get(col, 0.0) > 0}
        return ", ".join(f"{k} {v:.2f} s" for k, v in parts.items())

    notes = [
        f"model: DeepSeek-V3 widened to {EXPERTS} routed experts, {spec.params() / 1e12:.2f}T "
        f"params ({spec.params(active=True) / 1e9:.1f}B active); {TRAIN_GPUS} of "
        f"{CLUSTER_GPUS} {GPU} GPUs train; global batch {int(cu.global_batch)} x {SEQ} tokens",
        f"copper NVL72 best: tp{cu.tp} ep{cu.ep} pp{cu.pp} dp{cu.dp}, {cu.micro_batches:.0f} "
        f"micro-batches, {cu.iteration_s:.2f} s ({brk(cu)}); memory "
        f"{cu.total_bytes / 1e9:.0f} GB",
        f"optical NVL576 best: tp{op.tp} ep{op.ep} pp{op.pp} dp{op.dp}, {op.micro_batches:.0f} "
        f"micro-batches, {op.iteration_s:.2f} s ({brk(op)}); memory "
        f"{op.total_bytes / 1e9:.0f} GB",
        "what the copper domain loses, best vs best: " + ", ".join(
            f"{name} {cu.get(col, 0.0) - op.get(col, 0.0):+.2f} s" for col, name, _, _ in PARTS
            if abs(cu.get(col, 0.0) - op.get(col, 0.0)) >= 0.005),
        "per-GPU scale-up bandwidth is the same in both (36 x 200G); Lightmatter's '8x "
        "(bandwidth x radix)' may include more bandwidth per GPU, which we do not assume",
        "left out: interleaved 1F1B / zero-bubble schedules (shrink the bubble for both), "
        "expert load imbalance, activation recompute, DeepEP-style overlap of all-to-all",
    ]
    checks = [Check("time-to-train ratio copper NVL72 / optical NVL576", 2.7, ratio, "x", LM),
              Check("scale-up domain size ratio (Lightmatter '8x')", 8.0,
                    DOMAINS["optical NVL576"][1] / DOMAINS["copper NVL72"][1], "x", LM)]
    return FigureResult(
        name="scaleup-domain", tables={"layouts": df}, figures={"scaleup_domain": plot(df)},
        checks=checks,
        parameters={"model": {"base": "deepseek-v3", "n_experts": EXPERTS,
                              "params": spec.params(), "active_params": spec.params(active=True),
                              "source": spec.source + "; experts widened to 1024 (ours, D)"},
                    "gpu": {"name": GPU, "hbm_bytes": get_gpu(GPU).hbm_bytes,
                            "usable_fraction": HBM_USABLE, "source": get_gpu(GPU).source},
                    "domains": {k: {"preset": v[0], "size": v[1], "used": v[2],
                                    "doc": PRESETS[v[0]]["doc"]} for k, v in DOMAINS.items()},
                    "memory_model": "6 B/param held + 12 B/param / dp shard + 1F1B activations "
                                    "(Korthikanti et al. 2022, 34sh/tp per layer; ours, D)"},
        config={"quick": quick, "train_gpus": TRAIN_GPUS, "cluster_gpus": CLUSTER_GPUS,
                "seq_len": SEQ, "global_batch": int(cu.global_batch)}, notes=notes)
