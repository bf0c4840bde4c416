"""Per-link utilisation, and network energy and power by technology and tier.

Power model: a port draws its rated power whether it carries traffic or not (today's SerDes,
DSPs and lasers have no low-power idle state in AI fabrics), so the network's energy for an
iteration is sum(port power) x iteration time. Port power here is the whole link end: the host
SerDes that drives the channel plus the module / optical engine / laser / retimers
(``module_power_w`` is the latter alone: the number vendors quote, e.g. 30 W vs 9 W at 1.6T). ``dynamic_energy_j`` (bits carried x pJ/bit) is
what a perfectly power-proportional link would spend, reported beside it; the *effective*
pJ per delivered bit divides the real energy by the bits the GPUs exchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.fabric.accounting import dynamic_energy_j


def link_table(topology, fabric, iteration_s: float) -> pd.DataFrame:
    df = topology.links_frame()
    df["bytes"] = fabric.link_bytes
    cap_Bps = df["capacity_bps"].to_numpy() / 8.0  # noqa: N806
    with np.errstate(divide="ignore", invalid="ignore"):
        df["utilisation"] = np.where(iteration_s > 0, df["bytes"] / (cap_Bps * iteration_s), 0.0)
    return df


def energy_table(topology, fabric, iteration_s: float) -> pd.DataFrame:
    """Energy and power by (tier, technology), with one row per group."""
    df = link_table(topology, fabric, iteration_s)
    df["power_w"] = df["port_total_power_w"]
    df["module_power_w"] = df["port_power_w"]
    df["energy_j"] = df["power_w"] * iteration_s
    df["dynamic_energy_j"] = dynamic_energy_j(df["bytes"], df["energy_pj_per_bit"])
    df["cables"] = 0.5  # two directed links per cable
    g = df.groupby(["tier", "tech"], sort=True).agg(
        cables=("cables", "sum"), power_w=("power_w", "sum"),
        module_power_w=("module_power_w", "sum"), energy_j=("energy_j", "sum"),
        dynamic_energy_j=("dynamic_energy_j", "sum"), bytes=("bytes", "sum"),
        transceivers=("transceivers", "sum"), optical=("optical", "max")).reset_index()
    g["cables"] = g["cables"].round().astype(int)
    return g


def network_totals(topology, fabric, iteration_s: float, bytes_delivered: float) -> dict:
    e = energy_table(topology, fabric, iteration_s)
    energy = float(e["energy_j"].sum())
    bits = 8.0 * bytes_delivered
    return {
        "network_power_w": float(e["power_w"].sum()),
        "module_power_w": float(e["module_power_w"].sum()),
        "network_energy_j": energy,
        "dynamic_energy_j": float(e["dynamic_energy_j"].sum()),
        "effective_pj_per_bit": energy / bits * 1e12 if bits > 0 else float("nan"),
        "optical_transceivers": float(e["transceivers"].sum()),
        "optical_transceivers_per_gpu": float(e["transceivers"].sum()) / max(topology.n_gpus, 1),
    }
