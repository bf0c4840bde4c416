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


def _cell(key: str, v, unit: str | None) -> str:
    if key == "binding_constraint":
        return v or "-"
    if isinstance(v, str):
        return v
    if unit == "$":
        return f"${float(v):,.0f}" if abs(float(v)) >= 100 else f"${float(v):.4g}"
    if unit:
        return format_si(float(v), unit, 4)
    if key == "speedup_vs_first":
        return f"{float(v):.3f}x"
    if key == "goodput":
        return f"{100 * float(v):.2f} %"
    if key in ("optical_transceivers", "scaleout_planes"):
        return str(int(round(float(v))))            # counts, never in e-notation
    return f"{float(v):.4g}"


def _format(df, columns) -> str:
    head = [h for _, h, _ in columns]
    rows = [[_cell(key, r.get(key), unit) for key, _, unit in columns]
            for _, r in df.iterrows()]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def format_table(df) -> str:
    """The comparison: iteration breakdown, network power and energy, speed-up."""
    return _format(df, COLUMNS)


# The second block: what each policy's bandwidth costs (the comparison's last columns, from
# sim.study.economics); the first block above stays as it was before bases and costs existed.
COST_COLUMNS = [
    ("policy", "policy", None),
    ("scaleout_bandwidth_per_gpu_bps", "scale-out/GPU", "b/s"),
    ("scaleout_planes", "planes", None),
    ("binding_constraint", "bound by", None),
    ("scaleout_power_per_gpu_w", "scale-out W/GPU", "W"),
    ("network_capex_per_gpu_usd", "net capex/GPU", "$"),
    ("network_usd_per_iteration", "net $/iter", "$"),
    ("cluster_usd_per_iteration", "cluster $/iter", "$"),
    ("cluster_kgco2e_per_iteration", "cluster kgCO2e/iter", None),
    ("network_interrupts_per_day", "net interrupts/day", None),
    ("goodput", "goodput", None),
]


def format_costs(df) -> str:
    """The cost block: bandwidth each policy got, what bound it, power, capex, $ and CO2."""
    return _format(df, COST_COLUMNS)


def basis_line(cfg) -> str:
    """One line saying what the policies were compared at."""
    b = cfg.budget
    if cfg.basis == "iso-power":
        held = f"{b.network_power_per_gpu_w:g} W of scale-out network power per GPU"
    elif cfg.basis == "iso-shoreline":
        held = f"{b.shoreline_mm:g} mm of GPU package edge for scale-out I/O"
    elif cfg.basis == "iso-cost":
        held = f"${b.cost_per_gpu_usd:,.0f} of scale-out network capex per GPU"
    else:
        held = "the configured port rates"
    return (f"basis {cfg.basis}: {held}; cost and carbon per iteration (network = scale-out "
            "capex amortised + its energy; cluster adds the GPUs and the scale-up energy); "
            f"goodput with Daly-optimal checkpoints (lasers: {cfg.laser_source})")


def handle(args: argparse.Namespace) -> int:
    from sim.api import run_study
    from sim.study import ProgressBars

    try:
        # bars on stderr, only on a terminal (tqdm's rule): piped output stays clean
        res = run_study(args.config, timeline=False if args.no_timeline else None,
                        pipeline=args.pipeline, progress=False if args.quiet else ProgressBars())
    except CposimError as exc:
        if exc.field != "pipeline":
            raise
        raise CposimError(exc.message, file=exc.file, field="--pipeline") from None
    cfg = res.config
    out = res.save(args.out or Path("results") / cfg.name)
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
    if "basis" in comp:
        print()
        print(basis_line(cfg))
        print(format_costs(comp))
    print(f"results -> {out}/")
    return 0
