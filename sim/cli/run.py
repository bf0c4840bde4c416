"""``cposim run [CONFIG.toml] [--out DIR]``: a study comparing link policies, with reports."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sim.errors import CposimError
from sim.units import format_si


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a study (default: built-in GPT-3 175B on 1,024 GPUs)",
                       description="Simulate one training iteration per link policy and compare "
                       "them. Without CONFIG, runs the built-in default study.")
    p.add_argument("config", nargs="?", type=Path, help="study TOML (see examples/)")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default: results/<study name>)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.add_argument("--no-timeline", action="store_true", help="skip the Perfetto timeline")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars (shown on stderr, when it is a terminal, for a "
                   "policy that runs longer than 2 s)")
    p.add_argument("--pipeline", choices=("schedule", "simai"), default=None,
                   help="SimAI workloads with pp > 1: run the micro-batches as a pipeline "
                   "schedule (default) or use SimAI's bubble formula (sets workload.pipeline)")
    p.set_defaults(func=handle)


COLUMNS = [
    ("policy", "policy", None),
    ("iteration_s", "iteration", "s"),
    ("compute_s", "compute", "s"),
    ("exposed_comm_s", "exposed comm", "s"),
    ("bubble_s", "bubble", "s"),
    ("network_power_w", "net power", "W"),
    ("network_energy_j", "net energy/iter", "J"),
    ("effective_pj_per_bit", "pJ/bit delivered", None),
    ("optical_transceivers", "optics", None),
    ("speedup_vs_first", "speed-up", None),
]


def format_table(df) -> str:
    head = [h for _, h, _ in COLUMNS]
    rows = []
    for _, r in df.iterrows():
        cells = []
        for key, _, unit in COLUMNS:
            v = r.get(key)
            if isinstance(v, str):
                cells.append(v)
            elif unit:
                cells.append(format_si(float(v), unit, 4))
            elif key == "speedup_vs_first":
                cells.append(f"{float(v):.3f}x")
            else:
                cells.append(f"{float(v):.4g}")
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def handle(args: argparse.Namespace) -> int:
    from sim.study import ProgressBars, load_study, run_study, save_study

    cfg = load_study(args.config)
    if args.no_timeline:
        cfg = cfg.model_copy(update={"timeline": False})
    source = str(args.config) if args.config else "<built-in default study>"
    if args.pipeline is not None:
        if cfg.workload.trace is None:
            raise CposimError("--pipeline applies to a trace workload (workload.trace)",
                              file=source, field="--pipeline")
        wl = cfg.workload.model_copy(update={"pipeline": args.pipeline})
        cfg = cfg.model_copy(update={"workload": wl})
    try:
        # bars on stderr, only on a terminal (tqdm's rule): piped output stays clean
        res = run_study(cfg, source, progress=False if args.quiet else ProgressBars())
    except CposimError as exc:   # name the study file when the error came from deeper down
        if exc.file is not None:
            raise
        raise CposimError(exc.message, file=source, field=exc.field) from None
    out = save_study(res, args.out or Path("results") / cfg.name)
    comp = res.comparison()
    if args.json:
        json.dump(comp.to_dict(orient="records"), sys.stdout, indent=2, default=float)
        print()
        return 0
    meta = res.trace_metadata
    desc = meta.get("model") or meta.get("source") or "trace"
    print(f"study '{cfg.name}': {desc} on {comp['gpus'].iloc[0]} GPUs, "
          f"{cfg.topology.preset}, fidelity {cfg.fidelity}")
    print(format_table(comp))
    print(f"results -> {out}/")
    return 0
