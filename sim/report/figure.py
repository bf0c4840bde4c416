"""A study's picture: where each policy's iteration goes, and what its network spends on it.

Two panels, one bar per policy (study order, top to bottom):

* **iteration** — the critical rank's iteration split into compute, exposed communication of
  each group (every ``exposed_<group>_s`` column of the comparison table) and bubble. The parts
  tile [0, T] (see :mod:`sim.runtime.timeline`), so the bar is as long as ``iteration_s``.
* **network energy per iteration** — by (tier, technology), from the energy table the study
  computed (:func:`sim.report.links.energy_table`); the bar is as long as ``network_energy_j``.
  Colour is the technology (the figures' colours), hatching the tier, so print in grey works.

Each segment is one ``BarContainer`` of its axes (label = segment name, one bar per policy), so
the plotted numbers can be read back and checked. matplotlib is imported here only, when a
figure is made; the figure is drawn on an Agg canvas without pyplot (no global figure state,
no GUI backend), in the style of ``experiments/style/paper.mplstyle``.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim import io
from sim.phy import registry
from sim.units import format_si

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

# Okabe-Ito, as experiments/common.py TECH_STYLE (sim does not import the experiments' pyplot
# set-up, which would switch a notebook's backend).
# colours come from the technology registry (a technology registered later shows up too)
TECH_COLORS = registry.View(lambda: {t.name: t.color for t in registry.entries()})
TIER_HATCH = {"scaleup": "", "leaf": "///", "spine": "\\\\\\", "core": "xxx"}
TIER_ORDER = ("scaleup", "leaf", "spine", "core")

# Compute and bubble in greys, so that the colour goes to communication, the subject.
COMPUTE_COLOR = "#5A5A5A"
BUBBLE_COLOR = "#C8C8C8"
# Exposed-communication groups in the order a training step meets them; others follow, sorted.
# A group keeps its colour from study to study; unknown groups take the spare colours.
GROUP_ORDER = ("tp", "sp", "ep", "pp", "p2p", "dp", "dp_ep", "world")
GROUP_COLORS = {"tp": "#E69F00", "sp": "#F0E442", "ep": "#D55E00", "pp": "#56B4E9",
                "p2p": "#0072B2", "dp": "#CC79A7", "dp_ep": "#009E73", "world": "#000000"}
SPARE_COLORS = ("#999933", "#882255", "#44AA99", "#332288", "#AA4499", "#117733")
_EXPOSED = re.compile(r"^exposed_(.+)_s$")


def iteration_parts(comparison: pd.DataFrame) -> list[tuple[str, str]]:
    """(column, label) of the iteration's parts, in plotting order: compute, each exposed
    group the table has (not the ``exposed_comm_s`` total), bubble."""
    groups = [m.group(1) for c in comparison.columns
              if (m := _EXPOSED.match(c)) and c != "exposed_comm_s"]
    known = [g for g in GROUP_ORDER if g in groups]
    groups = known + sorted(set(groups) - set(known))
    return ([("compute_s", "compute")] + [(f"exposed_{g}_s", f"exposed {g}") for g in groups]
            + [("bubble_s", "bubble")])


def energy_by_tier_tech(result) -> pd.DataFrame:
    """Network energy per iteration, one row per policy, one column per (tier, technology)
    present in any policy (0 where a policy has none), tiers in fabric order."""
    rows = {}
    for name, run in result.runs.items():
        e = run.energy
        rows[name] = e.groupby(["tier", "tech"], sort=False)["energy_j"].sum()
    table = pd.DataFrame(rows).T.fillna(0.0)
    if table.empty:
        return table
    techs = list(TECH_COLORS)

    def key(col):
        tier, tech = col
        return (TIER_ORDER.index(tier) if tier in TIER_ORDER else len(TIER_ORDER), tier,
                techs.index(tech) if tech in techs else len(techs), tech)

    return table[sorted(table.columns, key=key)].reindex(list(result.runs))


@contextlib.contextmanager
def _style():
    import matplotlib.style

    try:
        path = importlib.resources.files("experiments") / "style" / "paper.mplstyle"
        ok = path.is_file()
    except ModuleNotFoundError:
        ok = False
    if not ok:   # an installation without the experiments package: matplotlib's defaults
        log.warning("paper.mplstyle not found; the study figure uses matplotlib's style")
        yield
        return
    with importlib.resources.as_file(path) as p, matplotlib.style.context(p):
        yield


def _stacked(ax, names: list[str], table: pd.DataFrame, segments: list[tuple[Any, str, dict]],
             unit: str) -> None:
    """Horizontal stacked bars: one bar per name, one BarContainer per segment."""
    from matplotlib.ticker import EngFormatter

    y = np.arange(len(names))
    left = np.zeros(len(names))
    for col, label, style in segments:
        width = table[col].to_numpy(dtype=float)
        ax.barh(y, width, left=left, height=0.6, label=label, edgecolor="white",
                linewidth=0.5, **style)
        left = left + width
    top = float(left.max()) if len(left) else 0.0
    for yi, total in zip(y, left, strict=True):
        ax.text(total + 0.01 * top, yi, format_si(float(total), unit, 4), va="center",
                fontsize="x-small")
    ax.set_yticks(y, names)
    ax.set_ylim(len(names) - 0.5, -0.5)       # first policy on top
    ax.set_xlim(0.0, top * 1.2 if top > 0 else 1.0)
    ax.xaxis.set_major_formatter(EngFormatter(unit=unit, sep=" "))
    ax.grid(axis="y", visible=False)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def study_figure(result) -> Figure:
    """The picture of a :class:`sim.study.StudyResult`: axes 0 (gid ``iteration``) the
    iteration by part, axes 1 (gid ``energy``) network energy per iteration by tier and
    technology; one bar per policy."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    comp = result.comparison()
    names = [str(p) for p in comp["policy"]] if len(comp) else []
    parts = iteration_parts(comp)
    it_table = comp.reindex(columns=[c for c, _ in parts]).fillna(0.0)
    shown = [c for c, _ in parts if c in ("compute_s", "bubble_s") or (it_table[c] != 0).any()]
    spare = iter(SPARE_COLORS)
    it_segments = []
    for col, label in parts:
        if col not in shown:
            continue
        if col == "compute_s":
            style = {"color": COMPUTE_COLOR}
        elif col == "bubble_s":
            style = {"color": BUBBLE_COLOR, "hatch": "..."}
        else:
            group = _EXPOSED.match(col).group(1)
            style = {"color": GROUP_COLORS.get(group) or next(spare, "#777777")}
        it_segments.append((col, label, style))

    energy = energy_by_tier_tech(result)
    e_segments = [((tier, tech), f"{tier}: {tech}",
                   {"color": TECH_COLORS.get(tech, "#777777"),
                    "hatch": TIER_HATCH.get(tier, "...")})
                  for tier, tech in energy.columns]

    n = max(len(names), 1)
    # tall enough for its bars and for its legend (one line per segment): else constrained
    # layout collapses the axes when few policies meet many groups
    legend_lines = max(len(it_segments), len(e_segments), 1)
    panel_h = max(0.45 + 0.28 * n, 0.3 + 0.19 * legend_lines)
    with _style():
        fig = Figure(figsize=(7.0, 0.5 + 2 * panel_h), layout="constrained")
        FigureCanvasAgg(fig)
        ax_it, ax_e = fig.subplots(2, 1)
        ax_it.set_gid("iteration")
        ax_e.set_gid("energy")
        _stacked(ax_it, names, it_table, it_segments, "s")
        ax_it.set_title("iteration (critical rank): compute, exposed communication, bubble",
                        loc="left")
        _stacked(ax_e, names, energy, e_segments, "J")
        ax_e.set_title("network energy per iteration, by tier and technology", loc="left")
        meta = result.trace_metadata or {}
        cfg = result.config
        gpus = int(comp["gpus"].iloc[0]) if "gpus" in comp and len(comp) else None
        what = meta.get("model") or meta.get("source") or "trace"
        fig.suptitle(f"study '{cfg.name}': {what}"
                     + (f" on {gpus:,} GPUs" if gpus else "")
                     + f", {cfg.topology.preset}, fidelity {cfg.fidelity}",
                     fontsize="medium", x=0.0, ha="left")
    return fig


def save_figure(fig: Figure, stem: str | Path) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf``, each atomically (a temporary file renamed into
    place, as every output of :mod:`sim.io`); returns the two paths."""
    stem = Path(stem)
    githash = io.git_hash() or "unknown"
    # metadata as experiments/common.py: the commit, and no creation date so that the same
    # study gives the same PDF
    formats = {"png": {"Software": f"cposim {githash}"},
               "pdf": {"Subject": f"cposim {githash}", "CreationDate": None}}
    out = []
    with _style():      # savefig.dpi and savefig.bbox come from the style
        for fmt, meta in formats.items():
            path = stem.with_name(f"{stem.name}.{fmt}")
            io._atomic(path, lambda p, fmt=fmt, meta=meta: fig.savefig(p, format=fmt,
                                                                        metadata=meta))
            out.append(path)
    return out


def save_study_figure(result, stem: str | Path) -> list[Path]:
    """:func:`study_figure` of ``result`` saved as ``stem.png`` and ``stem.pdf``."""
    return save_figure(study_figure(result), stem)
