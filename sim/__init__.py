"""cposim: discrete-event simulation of AI-training traffic over CPO, pluggable optics and copper links.

The Python API (module :mod:`sim.api`; each name loads on first use, so ``import sim`` stays
light). Quantities take unit strings ("800G", "1GiB", "30 m") or SI numbers; bad input raises
:class:`CposimError` naming the field. README, "From Python", has a worked example.

    link(tech, lane_rate, length)          one link: loss, SerDes class, energy, latency
    topology(preset, gpus, policy=, ...)   a cluster: .summary(), .links_frame(), .nodes_frame()
    collective(op, algo, gpus, size, ...)  one collective: time, algbw/busbw, energy
    load_trace(path, **reader_options)     read a trace (ASTRA-sim/SimAI text, Chakra, cposim JSON)
    generate_trace(model, gpus, tp=, pp=)  one LLM training iteration as a trace
    trace_info(trace)                      what `cposim trace info --json` prints
    save_trace(trace, path)                write a trace (cposim JSON, Chakra .et / JSON)
    run_study(config)                      a study: .comparison(), .ops, .links, .energy, .plot()
    run_sweep(config, grid, workers=)      a parameter study as one tidy DataFrame
    run_astra(prefix, sys, net)            ASTRA-sim 2.x inputs (ASTRA-sim's semantics, or the bridge)
    run_figure(name, quick=)               one paper figure: tables, checks against the paper
    run_bench(cases, quick=)               the performance suite as a DataFrame
    Link, CollectiveRun, StudyResult,
    AstraRun                               the result types
    CposimError                            bad input, naming the field

    >>> import sim
    >>> sim.link("cpo", "200G", "30 m").energy_pj_per_bit
    6.625
"""

from typing import Any

from sim.errors import CposimError

__version__ = "0.1.0"

# name -> module it lives in, imported on first use (PEP 562; by name, so that modules which
# import sim for __version__ do not depend on the API). Type checkers read __init__.pyi.
_LAZY = {name: "sim.api" for name in (
    "link", "topology", "collective", "load_trace", "generate_trace", "trace_info",
    "save_trace", "run_study", "run_sweep", "run_astra", "Link", "CollectiveRun",
    "StudyResult", "AstraRun")}
# the figures and the benchmark suite live with the experiments (above the simulator)
_LAZY |= {"run_figure": "experiments", "run_bench": "experiments"}

__all__ = ["CposimError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    """An API name, imported from its module on first use (PEP 562)."""
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The package's names, the lazily loaded API ones included."""
    return sorted(set(globals()) | set(__all__))
