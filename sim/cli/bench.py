"""``cposim bench``: the performance suite (:mod:`experiments.perf`): in-process cases and
whole commands (``cmd-*``: ``cposim ...`` as a fresh process, wall time and peak RSS).

    cposim bench              # every case, median of several runs, writes results/perf/
    cposim bench --quick      # smoke test at small sizes (seconds)
    cposim bench --cases ring-ar-4096,gpt3-16384-analytical
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="performance suite: wall time, events, solves, memory",
                       description="Run the benchmark suite and print, per case, the median "
                       "wall time, SimPy events, max-min solves, peak memory and the target; "
                       "cmd-* cases time whole cposim commands as fresh processes. Writes "
                       "results/perf/perf.parquet and a manifest.")
    p.add_argument("--quick", action="store_true", help="small sizes, one run per case")
    p.add_argument("--cases", default=None, help="comma-separated case names (default all)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per case (default 5)")
    p.add_argument("--timeout", type=float, default=900.0,
                   help="per-case limit in seconds (default 900)")
    p.add_argument("--out", default="results/perf", help="output folder (default results/perf)")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from experiments import perf

    argv = ["--repeats", str(args.repeats), "--timeout", str(args.timeout), "--out", args.out]
    if args.quick:
        argv.append("--quick")
    if args.cases:
        argv += ["--cases", args.cases]
    return perf.main(argv)
