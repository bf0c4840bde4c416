"""Figure ``collectives``: nccl-tests-style bus bandwidth and time versus message size.

All-reduce and all-to-all over every GPU of a 2-tier DGX H100 SuperPOD-style fabric (NVL8
scale-up domains on NVSwitch, rail-optimized 400G leaf/spine scale-out; the
``dgx-h100-superpod`` preset) at 256 GPUs, 1 KiB ... 4 GiB in steps of 2 (``nccl-tests -b 1K
-e 4G -f 2``), with the links chosen by three policies: copper-first (copper where it
reaches, DSP pluggables elsewhere), pluggable everywhere, CPO everywhere. ``algorithm=auto``:
hierarchical all-reduce (ring inside NVLink domains, ring across), direct all-to-all.

Every point runs at ``flow`` fidelity (max-min sharing of per-step flows) on a fresh fabric,
and also at ``analytical`` (the alpha-beta closed form, α and B from the fabric's paths) as
a cross-check. busbw and algbw follow nccl-tests ``doc/PERFORMANCE.md``.

Run as ``cposim figures collectives`` (``--quick``: 64 GPUs, 3 sizes). Writes
``results/collectives/``: ``collectives.parquet`` (one row per point and fidelity),
``collectives_energy.parquet`` (energy and link bytes per technology), the figure as PDF and
PNG, and a manifest.
"""

from __future__ import annotations

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import simpy

from experiments.common import POLICY_STYLE, Check, FigureResult, apply_style
from sim.comm import Communicator, run_collective
from sim.fabric import PRESETS, build_topology, make_fabric

TOPOLOGY = "dgx-h100-superpod"
POLICIES = ("copper-first", "pluggable", "cpo")
OPS = ("allreduce", "alltoall")
NIC_BPS = 4 * 100e9   # the preset's scale-out port: 4 x 100G lanes = 400 Gb/s NDR per GPU


def sizes(quick: bool) -> np.ndarray:
    if quick:
        return np.array([2.0**10, 2.0**20, 2.0**30])
    return 2.0 ** np.arange(10, 33)          # 1 KiB ... 4 GiB


def _point(topo, op: str, size: float, fidelity: str, shared: dict) -> tuple[object, float]:
    # flow: a fresh environment per point, so each size is an independent measurement (as in
    # nccl-tests) starting at t = 0. analytical: no flows, so one fabric per topology serves
    # every size and its route table is computed once.
    t0 = time.perf_counter()
    if fidelity == "analytical":
        if "fabric" not in shared:
            env = simpy.Environment()
            shared["env"], shared["fabric"] = env, make_fabric(env, topo, fidelity=fidelity)
        env, fabric = shared["env"], shared["fabric"]
    else:
        env = simpy.Environment()
        fabric = make_fabric(env, topo, fidelity=fidelity)
    n = topo.n_gpus
    ev = run_collective(env, fabric, Communicator("world", np.arange(n), np.arange(n)), op, size)
    env.run(until=ev)
    return ev.value, time.perf_counter() - t0


def table(quick: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    gpus = 64 if quick else 256
    rows, energy_rows = [], []
    for policy in POLICIES:
        topo = build_topology(TOPOLOGY, gpus=gpus, policy=policy)
        shared: dict = {}
        for op in OPS:
            for size in sizes(quick):
                for fidelity in ("flow", "analytical"):
                    r, wall = _point(topo, op, float(size), fidelity, shared)
                    rows.append({
                        "topology": TOPOLOGY, "gpus": gpus, "policy": policy, "op": op,
                        "algorithm": r.algorithm, "fidelity": fidelity, "size_bytes": size,
                        "time_s": r.time_s, "algbw_Bps": r.algbw_Bps, "busbw_Bps": r.busbw_Bps,
                        "bytes_on_wire": r.bytes_on_wire, "link_bytes": r.link_bytes,
                        "energy_j": r.energy_j,
                        "energy_pj_per_bit": r.energy_j / (8 * r.bytes_on_wire) * 1e12,
                        "steps": r.n_steps, "wall_s": wall})
                    if fidelity == "flow":
                        for tech, e in r.energy_by_tech.items():
                            energy_rows.append({"policy": policy, "op": op, "size_bytes": size,
                                                "tech": tech, "energy_j": e,
                                                "link_bytes": r.link_bytes_by_tech[tech]})
    return pd.DataFrame(rows), pd.DataFrame(energy_rows)


def plot(df: pd.DataFrame) -> plt.Figure:
    apply_style()
    fig, axes = plt.subplots(2, 2, figsize=(7.0, 4.6), sharex=True)
    flow = df[df.fidelity == "flow"]
    for row, op in enumerate(OPS):
        for policy in POLICIES:
            d = flow[(flow.op == op) & (flow.policy == policy)].sort_values("size_bytes")
            pj = d.energy_pj_per_bit.iloc[-1]
            label = f"{policy} ({pj:.3g} pJ/bit sent)"
            axes[row, 0].plot(d.size_bytes, d.busbw_Bps / 1e9, label=label, **POLICY_STYLE[policy])
            axes[row, 1].plot(d.size_bytes, d.time_s * 1e6, label=label, **POLICY_STYLE[policy])
        alg = flow[flow.op == op].algorithm.iloc[0]
        axes[row, 0].set_ylabel(f"{op} ({alg})\nbus bandwidth (GB/s)")
        axes[row, 1].set_ylabel("time (µs)")
        axes[row, 1].set_yscale("log")
        axes[row, 0].legend(loc="lower right")
    ticks = [2.0**k for k in range(10, 33, 5 if len(df.size_bytes.unique()) > 3 else 10)]
    for ax in axes.flat:
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [_size_label(t) for t in ticks])
    for ax in axes[1]:
        ax.set_xlabel("message size (bytes)")
    gpus = int(df.gpus.iloc[0])
    fig.suptitle(f"{TOPOLOGY}, {gpus} GPUs (NVL8 + 2-tier rail-optimized 400G), flow fidelity",
                 fontsize=8)
    fig.tight_layout()
    return fig


def _size_label(b: float) -> str:
    for unit, k in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if b >= 2**k:
            return f"{b / 2**k:g} {unit}"
    return f"{b:g} B"


def checks(df: pd.DataFrame) -> list[Check]:
    out = []
    big = df.size_bytes.max()
    at = lambda op, pol, fid: df[(df.op == op) & (df.policy == pol) & (df.fidelity == fid)  # noqa
                                 & (df.size_bytes == big)].iloc[0]
    for op in OPS:
        out.append(Check(f"{op} {big / 2**30:g} GiB copper-first: flow time vs alpha-beta "
                         "closed form", at(op, "copper-first", "analytical").time_s * 1e3,
                         at(op, "copper-first", "flow").time_s * 1e3, " ms",
                         "sim.comm.closed_form (α, B from the fabric's paths)"))
    out.append(Check(f"all-to-all busbw at {big / 2**30:g} GiB vs the 400G NIC data rate",
                     NIC_BPS / 8 / 1e9, at("alltoall", "cpo", "flow").busbw_Bps / 1e9, " GB/s",
                     "DGX H100: one ConnectX-7 400 Gb/s NDR port per GPU (preset "
                     "dgx-h100-superpod); nccl-tests busbw = algbw x (n-1)/n"))
    return out


def run(quick: bool = False) -> FigureResult:
    df, energy = table(quick)
    flow = df[df.fidelity == "flow"].set_index(["policy", "op", "size_bytes"])
    ana = df[df.fidelity == "analytical"].set_index(["policy", "op", "size_bytes"])
    dev = float((flow.time_s / ana.time_s - 1).abs().max())
    slowest = df[df.fidelity == "flow"].wall_s.max()
    notes = [
        f"flow vs analytical (closed form): largest relative time difference {dev:.2e} over "
        f"{len(flow)} points",
        f"every point ran at flow fidelity (slowest point {slowest:.2f} s of wall time); "
        "none fell back to analytical",
        "energy is dynamic link energy (bits carried x pJ/bit per link, both ends), from the "
        "PHY model of each policy; idle port power is not included",
    ]
    gpus = int(df.gpus.iloc[0])
    params = {
        "topology": {"preset": TOPOLOGY, "gpus": gpus, "doc": PRESETS[TOPOLOGY]["doc"],
                     "source": "sim/fabric/presets.py (DGX H100 SuperPOD reference "
                               "architecture; NVLink4 and NDR per Nvidia specs)"},
        "policies": list(POLICIES), "ops": list(OPS), "algorithm": "auto", "chunks": 1,
        "sizes_bytes": [float(s) for s in sizes(quick)],
        "busbw": {"source": "NVIDIA/nccl-tests doc/PERFORMANCE.md",
                  "factor": {"allreduce": "2(n-1)/n", "alltoall": "(n-1)/n"}},
        "fidelities": {"flow": "plotted", "analytical": "cross-check, in the table"},
    }
    result = FigureResult(name="collectives", tables={"collectives": df,
                                                      "collectives_energy": energy},
                          figures={"collectives": plot(df)}, checks=checks(df),
                          parameters=params, config={"quick": quick, "points": int(len(df))},
                          notes=notes)
    assert all(math.isfinite(c.ours) for c in result.checks)
    return result
