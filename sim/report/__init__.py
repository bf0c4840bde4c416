"""Reports: pandas tables from a run (per op, per iteration, per link, energy), timelines, and
a study's summary figure (matplotlib loads only when one is made)."""

from sim.report.figure import save_study_figure, study_figure
from sim.report.links import energy_table, link_table, network_totals
from sim.report.ops import iteration_summary, op_table
from sim.report.timeline import chrome_trace

__all__ = ["chrome_trace", "energy_table", "iteration_summary", "link_table", "network_totals",
           "op_table", "save_study_figure", "study_figure"]
