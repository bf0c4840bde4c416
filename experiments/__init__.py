"""Experiment scripts: one module per figure or study, each a thin composition of ``sim``.

:data:`FIGURES` is the registry ``cposim figures`` reads; :func:`run_figure` and
:func:`run_bench` are what ``cposim figures`` and ``cposim bench`` do, for scripts (also as
``sim.run_figure`` / ``sim.run_bench``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# CLI name -> module in experiments/. Each module defines run(quick: bool) -> FigureResult.
FIGURES = {
    "collectives": "experiments.collectives",
    "link-reach": "experiments.link_reach",
    "reliability": "experiments.reliability",
    "nvidia-power": "experiments.nvidia_power",
    "signal-integrity": "experiments.signal_integrity",
    "broadcom-meta": "experiments.broadcom_meta",
    "ibm-claim": "experiments.ibm_claim",
    "scaleup-domain": "experiments.scaleup_domain",
    "what-cpo-buys": "experiments.what_cpo_buys",
    "validation": "experiments.validation",
}


def run_figure(name: str, *, quick: bool = False, out: str | Path | None = None) -> Any:
    """Reproduce one figure (a name of :data:`FIGURES`): its :class:`FigureResult` — the
    tables (``.tables``: name -> DataFrame), the checks against the published values (``.checks``) and
    notes. With ``out`` (a parent folder, like ``cposim figures --out``), also write
    ``out/<name>/`` (Parquet, PDF, PNG, manifest) as the command does; the folder is then
    ``result.out``.

    >>> import experiments
    >>> r = experiments.run_figure("signal-integrity", quick=True)
    >>> len(r.checks) > 0
    True
    """
    from importlib import import_module

    from sim.errors import CposimError

    if name not in FIGURES:
        raise CposimError(f"unknown figure {name!r}; choose from {', '.join(FIGURES)}",
                          field="NAME")
    result = import_module(FIGURES[name]).run(quick=quick)
    if out is not None:
        from experiments.common import save

        result.out = save(result, Path(out) / name.replace("-", "_"))
    return result


def run_bench(cases: list[str] | None = None, *, quick: bool = False, repeats: int = 5,
              timeout_s: float = 900.0, out: str | Path = "results/perf") -> Any:
    """Run the performance suite (``cposim bench``): prints each case and returns the table
    it writes to ``out/perf.parquet`` (one row per case: wall time, events, solves, peak
    RSS, target, verdict) as a DataFrame."""
    import pandas as pd

    from experiments import perf

    argv = ["--repeats", str(repeats), "--timeout", str(timeout_s), "--out", str(out)]
    if quick:
        argv.append("--quick")
    if cases:
        argv += ["--cases", ",".join(cases)]
    perf.main(argv)
    return pd.read_parquet(Path(out) / "perf.parquet")
