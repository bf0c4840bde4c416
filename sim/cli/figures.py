"""``cposim figures NAME... [--quick] [--out DIR]``: reproduce the paper figures."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

from sim.errors import CposimError

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
}


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
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from experiments.common import save

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
    for n in names:
        t0 = time.perf_counter()
        module = importlib.import_module(FIGURES[n])
        result = module.run(quick=args.quick)
        out = save(result, args.out / n.replace("-", "_"))
        wall = time.perf_counter() - t0
        entry = {"figure": n, "out": str(out), "wall_s": round(wall, 3),
                 "checks": [dict(claim=c.claim, published=c.published, ours=c.ours,
                                 ratio=c.ratio, unit=c.unit) for c in result.checks]}
        report.append(entry)
        if not args.json:
            print(f"[{n}] -> {out}/ ({wall:.1f} s)")
            for c in result.checks:
                print("  " + c.line())
            for note in result.notes:
                print("  note: " + note)
    if args.json:
        json.dump(report if len(report) > 1 else report[0], sys.stdout, indent=2)
        print()
    return 0
