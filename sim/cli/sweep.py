"""``cposim sweep CONFIG.toml``: a parameter study, resumable, on a process pool or Dask."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.errors import CposimError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a parameter study (resumable)",
                       description="Cross [sweep.grid] with [sweep].seeds over the base config; "
                       "each finished point is saved at once, so a rerun resumes.")
    p.add_argument("config", type=Path, help="TOML file with a [sweep] table")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default: results/<sweep name>)")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: one per core; 1 = serial)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run on this Dask scheduler instead of a local pool")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from sim.api import execute_sweep, plan_sweep

    plan = plan_sweep(args.config)
    if args.workers is not None and args.workers < 1:
        raise CposimError("must be at least 1", field="--workers")
    out = args.out or Path("results") / plan.name
    run = execute_sweep(plan, out, workers=args.workers, scheduler=args.scheduler,
                        progress=not args.no_progress)
    n, computed = len(plan.points), len(run.computed)
    print(f"{n} points ({computed} computed now, {n - computed} reused), {run.failed} failed "
          f"-> {out / 'sweep.parquet'}")
    return 0
