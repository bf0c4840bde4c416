"""``cposim figures NAME... [--quick] [--out DIR]``: reproduce the paper figures."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sim.errors import CposimError

from experiments import FIGURES, run_figure


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("figures", help="reproduce the paper figures",
                       description="Reproduce figures; each writes results/<name>/ "
                       "(Parquet, PDF, PNG, manifest.json).")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help=f"figures to make (default: all): {', '.join(FIGURES)}")
    p.add_argument("--quick", action="store_true", help="coarse grid, for tests and a first look")
    p.add_argument("--out", type=Path, default=Path("results"),
                   help="parent folder of the results (default: results)")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.add_argument("--list", action="store_true", help="list the figures and exit")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar (shown on stderr, when it is a terminal, once the "
                   "figures have taken 2 s)")
    p.set_defaults(func=handle)


def figures_bar(total: int, *, quiet: bool):
    """A tqdm bar over the figures, on stderr; only on a terminal (tqdm's ``disable=None``), not
    with ``--quiet``, and only after :data:`sim.study.PROGRESS_DELAY_S` (the default: 2 s)."""
    from tqdm import tqdm

    from sim.study import PROGRESS_DELAY_S

    return tqdm(total=total, unit="figure", file=sys.stderr, disable=True if quiet else None,
                delay=PROGRESS_DELAY_S, dynamic_ncols=True)


def handle(args: argparse.Namespace) -> int:
    if args.list:
        for name, mod in FIGURES.items():
            print(f"{name}\t{mod}")
        return 0
    names = args.names or list(FIGURES)
    for n in names:
        if n not in FIGURES:
            raise CposimError(f"unknown figure {n!r}; choose from {', '.join(FIGURES)}",
                              field="NAME")
    report = []
    # The figure scripts drive simulate() themselves (many small runs, no policies to name), so
    # the bar counts figures; it says which figure is running. Lines go through tqdm.write so
    # a bar on the same terminal is cleared first and redrawn below them.
    bar = figures_bar(len(names), quiet=args.quiet)
    try:
        for n in names:
            bar.set_description_str(n, refresh=False)   # no refresh: it would beat the delay
            t0 = time.perf_counter()
            result = run_figure(n, quick=args.quick, out=args.out)
            out = result.out
            wall = time.perf_counter() - t0
            entry = {"figure": n, "out": str(out), "wall_s": round(wall, 3),
                     "checks": [dict(claim=c.claim, published=c.published, ours=c.ours,
                                     ratio=c.ratio, unit=c.unit) for c in result.checks]}
            report.append(entry)
            if not args.json:
                lines = [f"[{n}] -> {out}/ ({wall:.1f} s)"]
                lines += ["  " + c.line() for c in result.checks]
                lines += ["  note: " + note for note in result.notes]
                bar.write("\n".join(lines), file=sys.stdout)
            bar.update(1)
    finally:
        bar.close()
    if args.json:
        json.dump(report if len(report) > 1 else report[0], sys.stdout, indent=2)
        print()
    return 0
