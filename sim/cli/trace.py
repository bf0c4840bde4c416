"""``cposim trace info|convert|generate``: inspect, convert and generate workload traces.

``info FILE [--world-size N] [--dims ..] [--micro ..] [--wg-update ..] [--json]``: format, world size, programs, layer count, ops by kind, bytes by
collective type and by group (bytes one rank issues, averaged over ranks; the totals over all
ranks too), point-to-point bytes, declared parallelism and group sizes.
``convert IN OUT``: any readable format -> native (``*.cposim.json``), Chakra protobuf
(``*.et``: writes ``<prefix>.<rank>.et``) or Chakra JSON (``*.chakra.json``).
``generate ...``: delegates to ``workloads.generator.cli`` (options from its
``add_arguments``), writes ``--out`` and prints ``trace info``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from sim.errors import CposimError
from sim.units import format_si

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------- summary
def summarize(trace, path: str = "") -> dict:
    """Facts about a trace, JSON-ready: :func:`sim.api.trace_info`."""
    from sim.api import trace_info

    return trace_info(trace, path=path)


def _table(s: dict) -> str:
    out = [f"file          {s['file']}",
           f"format        {s['format']}",
           f"parallelism   {s['parallelism'] or '-'}"
           + (f"  {json.dumps(s['header'])}" if s["header"] else ""),
           f"world size    {s['world_size']}  (ranks {s['ranks']})",
           f"programs      {s['programs']}",
           *([f"pipeline      {s['pipeline']['reading']}: {s['pipeline']['detail']}"]
             if s.get("pipeline") else []),
           f"layers        {s['layers']}",
           "ops per rank  " + ", ".join(f"{k} {v:g}" for k, v in s["ops_by_kind"].items())
           + f"  (all ranks: {s['ops_total']})",
           f"compute       {format_si(s['compute_s_per_rank'], 's')} per rank",
           "groups        " + ", ".join(f"{n} {g['communicators']}x{g['size']}"
                                       for n, g in s["groups"].items())]
    if s["bytes_by_collective"]:
        out.append("bytes per rank by collective:")
        for k, v in s["bytes_by_collective"].items():
            out.append(f"  {k:<14} {v:>16,.0f} B  ({s['collectives_by_type'][k]:g} ops)")
    if s["bytes_by_group"]:
        out.append("bytes per rank by group:")
        for k, v in s["bytes_by_group"].items():
            out.append(f"  {k:<14} {v:>16,.0f} B")
    for k, v in s["p2p_bytes"].items():
        out.append(f"p2p {k:<10} {v:>16,.0f} B per rank")
    for a in s["assumptions"]:
        out.append(f"assumption: {a}")
    for n in s["notes"][:10]:
        out.append(f"note: {n}")
    if len(s["notes"]) > 10:
        out.append(f"note: ... {len(s['notes']) - 10} more")
    return "\n".join(out)


# ---------------------------------------------------------------------------- handlers
def _dims(text: str | None):
    if text is None:
        return None
    try:
        dims = [int(x) for x in text.replace("x", ",").split(",") if x.strip()]
    except ValueError:
        raise CposimError(f"--dims must be integers like 2,4 — got {text!r}",
                          field="--dims") from None
    if not dims or min(dims) <= 0:
        raise CposimError(f"--dims must be positive integers, got {text!r}", field="--dims")
    return dims


def _read(args):
    from sim.api import load_trace

    opts = {}
    if args.dims is not None:
        opts["dims"] = _dims(args.dims)
    if args.micro is not None:
        opts["micro"] = args.micro
    if args.wg_update is not None:
        opts["update"] = args.wg_update
    for key in ("pipeline", "schedule", "pp_overlap"):
        if getattr(args, key, None) is not None:
            opts[key] = getattr(args, key)
    return load_trace(args.file, world_size=args.world_size, **opts)


def _print_info(trace, path: str, as_json: bool) -> None:
    s = summarize(trace, path)
    print(json.dumps(s, indent=2) if as_json else _table(s))


def handle_info(args: argparse.Namespace) -> int:
    _print_info(_read(args), str(args.file), args.json)
    return 0


def handle_convert(args: argparse.Namespace) -> int:
    from sim.api import save_trace

    trace = _read(args)
    paths = save_trace(trace, args.out, format=args.to)
    s = summarize(trace, str(args.file))
    if args.json:
        print(json.dumps({"in": str(args.file), "format_in": s["format"],
                          "out": [str(p) for p in paths], "world_size": trace.world_size,
                          "ops_total": s["ops_total"]}, indent=2))
    else:
        shown = str(paths[0]) + (f" ... ({len(paths)} files)" if len(paths) > 1 else "")
        print(f"{args.file} ({s['format']}, {trace.world_size} ranks, "
              f"{s['ops_total']} ops over all ranks) -> {shown}")
    return 0


def _generator_missing(reason: str):
    def handler(args: argparse.Namespace) -> int:
        print(f"cposim trace generate: the workload generator is not available ({reason})",
              file=sys.stderr)
        return 2
    return handler


def _handle_generate(generate_from_args):
    def handler(args: argparse.Namespace) -> int:
        from sim.api import save_trace

        trace = generate_from_args(args)
        save_trace(trace, args.out)
        _print_info(trace, str(args.out), getattr(args, "json", False))
        return 0
    return handler


def _add_read_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--world-size", type=int, default=None, metavar="N",
                   help="number of NPUs for text workloads without all_gpus: (default 8)")
    p.add_argument("--dims", default=None, metavar="D0,D1,..",
                   help="logical dimension sizes, dim 0 fastest (text workloads)")
    p.add_argument("--micro", choices=("training", "collective-only"), default=None,
                   help="how MICRO workloads become ops (default training)")
    p.add_argument("--wg-update", choices=("metadata", "op"), default=None,
                   help="text workloads' wg_update: kept in metadata (default, as ASTRA-sim's "
                   "pass time) or emitted as compute ops")
    add_pipeline_options(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def add_pipeline_options(p: argparse.ArgumentParser) -> None:
    """The SimAI pp > 1 reader options (``cposim trace`` and ``cposim run``)."""
    p.add_argument("--pipeline", choices=("schedule", "simai"), default=None,
                   help="SimAI workloads with pp > 1: 'schedule' (default) runs the "
                   "micro-batches as a 1F1B/interleaved pipeline; 'simai' runs the rows once "
                   "and adds SimAI's bubble formula")
    p.add_argument("--schedule", choices=("auto", "1f1b", "interleaved", "gpipe"),
                   default=None, help="pipeline schedule for --pipeline schedule (default auto: "
                   "interleaved when the header's vpp > 1, else 1f1b)")
    p.add_argument("--pp-overlap", type=float, default=None, metavar="R",
                   help="SimAI's -pp_o for --pipeline simai (default 1: no exposed pipeline "
                   "communication)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("trace", help="inspect, convert and generate workload traces",
                       description="Inspect, convert and generate workload traces "
                       "(ASTRA-sim 1.0 / SimAI text, Chakra .et / JSON, cposim JSON).")
    tsub = p.add_subparsers(dest="trace_command", metavar="ACTION",
                            parser_class=type(p))
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    info = tsub.add_parser("info", help="summarise a trace")
    info.add_argument("file", help="trace file (Chakra: a prefix or one rank file)")
    _add_read_options(info)
    info.set_defaults(func=handle_info)

    conv = tsub.add_parser("convert", help="convert a trace to another format")
    conv.add_argument("file", metavar="IN")
    conv.add_argument("out", metavar="OUT",
                      help="*.cposim.json (native), *.et (Chakra prefix), *.chakra.json")
    conv.add_argument("--to", choices=("native", "chakra-et", "chakra-json"), default=None,
                      help="output format (default: from OUT's extension)")
    _add_read_options(conv)
    conv.set_defaults(func=handle_convert)

    gen = tsub.add_parser("generate", help="generate an LLM-training trace")
    try:
        from workloads.generator.cli import add_arguments, generate_from_args
    except Exception as exc:  # noqa: BLE001 - missing or broken: say so, keep `trace` usable
        reason = f"{type(exc).__name__}: {exc}"
        log.debug("workloads.generator.cli unavailable: %s", reason)
        parse = gen.parse_known_args

        def swallow(args=None, namespace=None):  # accept the generator's options anyway
            return parse(args, namespace)[0], []
        gen.parse_known_args = swallow
        gen.set_defaults(func=_generator_missing(reason))
        return
    add_arguments(gen)
    known = gen._option_string_actions  # noqa: SLF001 - avoid clashing with the generator
    if "--out" not in known:
        gen.add_argument("--out", default="trace.cposim.json",
                         help="output trace (default trace.cposim.json)")
    if "--json" not in known:
        gen.add_argument("--json", action="store_true", help="print trace info as JSON")
    gen.set_defaults(func=_handle_generate(generate_from_args))
