"""``cposim link``: one link -> loss, SerDes class, retimers, feasibility, energy, latency.

    cposim link --tech copper-dac --lane-rate 200G --length 1.5m --json
    cposim link --list [--json]
    cposim link --tech cpo --length 100m --param tech.cpo.200g.laser_w=3 --config phy.toml

A length beyond reach is an answer (``"feasible": false`` with a ``reason``), exit status 0.
An unknown technology, or a negative or unparsable length or rate, exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sim.errors import CposimError
from sim.units import format_si


def register(sub: argparse._SubParsersAction) -> None:
    from sim.phy import registry  # the choices come from the registry

    p = sub.add_parser("link", help="resolve one link: loss, SerDes class, energy, latency",
                       description="Resolve one link (technology, lane rate, length) into "
                       "insertion loss, SerDes class, retimer stages, feasibility, energy per "
                       "bit, port power and one-way latency, with the source of every default.")
    p.add_argument("--tech", help="technology: " + ", ".join(registry.names()))
    p.add_argument("--lane-rate", default="200G",
                   help="nominal lane rate, e.g. 100G or 200G (default 200G)")
    p.add_argument("--length", help="link length with unit, e.g. 1.5m, 30 cm, 2km")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="override one default of sim/phy/parameters.csv (repeatable); a bare "
                   "number is in the table's unit, or give a unit: 8W, '5 pJ/bit'")
    p.add_argument("--config", metavar="FILE.toml",
                   help="TOML file of overrides (its [phy] table, or the whole file)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--list", action="store_true", help="list the technologies and exit")
    p.set_defaults(func=handle)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    from sim.phy import read_overrides_toml

    out: dict[str, Any] = {}
    if args.config:
        out.update(read_overrides_toml(args.config))
    for item in args.param:
        if "=" not in item:
            raise CposimError(f"{item!r} is not KEY=VALUE", field="param")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def handle(args: argparse.Namespace) -> int:
    from sim.api import link
    from sim.phy import DESCRIPTION, load_parameters, technologies

    params = load_parameters(_overrides(args))
    if args.list:
        return _list(params, args.json)
    if not args.tech:
        raise CposimError("give --tech (or --list)", field="tech")
    if args.length is None and args.tech in technologies():
        raise CposimError("give --length, e.g. --length 1.5m", field="length")
    try:    # the API checks and resolves; the option is --lane-rate here
        result = link(args.tech, args.lane_rate, args.length, params=params)
    except CposimError as exc:
        if exc.field == "lane_rate":
            raise CposimError(exc.message, field="lane-rate") from None
        raise
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        print()
    else:
        print(_table(result, DESCRIPTION[args.tech]))
    return 0


def _list(params: Any, as_json: bool) -> int:
    from sim.phy import DESCRIPTION, resolve_link, technologies

    rows = []
    for tech in technologies():
        rates = {}
        for rk in ("100g", "200g"):
            r = resolve_link(tech, params[f"lane.{rk}.nominal_rate"], 0.0, params=params)
            rates[rk.upper()] = {"capacity_bps": r.capacity_bps, "max_reach_m": r.max_reach_m,
                                 "optical": r.optical, "medium": r.medium}
        rows.append({"tech": tech, "description": DESCRIPTION[tech], "lane_rates": rates})
    if as_json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return 0
    print(f"{'technology':<15}{'reach @100G':>13}{'reach @200G':>13}  description")
    for row in rows:
        r100, r200 = row["lane_rates"]["100G"], row["lane_rates"]["200G"]
        print(f"{row['tech']:<15}{_m(r100['max_reach_m']):>13}{_m(r200['max_reach_m']):>13}  "
              f"{row['description']}")
    return 0


def _m(x: float) -> str:
    return f"{x / 1000:g} km" if x >= 1000 else f"{x:.3g} m"


def _table(r: Any, description: str) -> str:
    lines = [f"{r.tech} — {description}",
             f"  lane rate        {r.lane_rate_bps / 1e9:g} Gb/s nominal x {r.lanes} lanes = "
             f"{format_si(r.capacity_bps, 'b/s')} ({format_si(r.capacity_Bps, 'B/s')}); "
             f"line {r.line_rate_bps / 1e9:g} Gb/s, Nyquist {r.nyquist_hz / 1e9:g} GHz",
             f"  length           {r.length_m:g} m of {r.medium} (max reach {_m(r.max_reach_m)})",
             f"  loss             {r.loss_db:.2f} dB (host SerDes channel)"
             + (f"; segments {', '.join(f'{x:.1f}' for x in r.segment_loss_db)} dB"
                if len(r.segment_loss_db) > 1 else "")]
    if not r.feasible:
        lines.append(f"  feasible         no: {r.reason}")
    else:
        eb = r.energy_breakdown_pj_per_bit
        lb = r.latency_breakdown_s
        lines += [
            "  feasible         yes",
            f"  SerDes class     {r.serdes_class.upper()}, retimer stages {r.retimers}",
            f"  energy           {r.energy_pj_per_bit:.3g} pJ/bit = "
            + " + ".join(f"{k} {v:.3g}" for k, v in eb.items() if v),
            f"  port power       {r.port_power_w:.3g} W per end (module/engine/retimers; host "
            f"SerDes {r.host_serdes_power_w:.3g} W more)",
            f"  latency          {r.latency_s * 1e9:.4g} ns one-way = "
            + " + ".join(f"{k} {v * 1e9:.3g}" for k, v in lb.items() if v),
        ]
    fail = r.failure
    lines.append(f"  reliability      {fail['fit_per_link']:.4g} FIT per link "
                 f"(MTBF {fail['mtbf_link_h']:.3g} h), {fail['lasers_per_link']:g} lasers")
    lines.append("  sources:")
    for key, src in r.sources.items():
        lines.append(f"    {key}: {src}")
    return "\n".join(lines)
