"""``cposim topology info|list``: what a preset or topology file builds into.

``cposim topology info PRESET|FILE [--gpus N] [--policy P] [--tier-policy TIER=POLICY ...]
[--set KEY=VALUE ...] [--lane-rate R] [--json]`` prints devices by kind, links by technology
and tier, cable-length statistics, optical transceivers per GPU and total link power.
"""

from __future__ import annotations

import argparse
import json
import sys

from sim.errors import CposimError


def register(sub: argparse._SubParsersAction) -> None:
    from sim.phy import registry  # policy names come from the registry

    p = sub.add_parser("topology", help="inspect topology presets and files",
                       description="Inspect what a topology preset or file builds into.")
    tsub = p.add_subparsers(dest="action", metavar="ACTION")
    info = tsub.add_parser("info", help="devices, links by technology/tier, cable lengths, "
                           "transceivers, link power")
    info.add_argument("topology", metavar="PRESET|FILE",
                      help="a preset name (see `cposim topology list`) or a .toml/.json file")
    info.add_argument("--gpus", type=int, default=None, help="number of GPUs")
    info.add_argument("--policy", default=None,
                      help="link policy: " + ", ".join(
                          f"{p} (default)" if p == "copper-first" else p
                          for p in registry.policies()) + ", or one technology")
    info.add_argument("--tier-policy", action="append", default=None, metavar="TIER=POLICY",
                      help="per-tier override, e.g. scaleup=copper-first or scaleout=cpo "
                      "(repeatable)")
    info.add_argument("--lane-rate", default=None, help="lane rate for every tier, e.g. 200G")
    info.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                      help="builder parameter, e.g. oversubscription=4, tiers=3 (repeatable)")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=handle_info)
    lst = tsub.add_parser("list", help="list the presets")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=handle_list)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def handle_list(args) -> int:
    from sim.fabric.presets import PRESETS
    if args.json:
        print(json.dumps({k: {"gpus": v["gpus"], "doc": v["doc"]} for k, v in PRESETS.items()},
                         indent=2))
    else:
        for k, v in PRESETS.items():
            print(f"{k:20s} {v['gpus']:>6d} GPUs  {v['doc']}")
    return 0


def handle_info(args) -> int:
    from sim.api import topology
    from sim.units import parse_rate_bps

    kw = {}
    for item in args.set:
        if "=" not in item:
            raise CposimError(f"'{item}' is not KEY=VALUE", field="--set")
        k, v = item.split("=", 1)
        kw[k.strip().replace("-", "_")] = _value(v.strip())
    if args.gpus is not None and args.gpus < 1:
        raise CposimError("must be >= 1", field="--gpus")
    lane = None if args.lane_rate is None else parse_rate_bps(args.lane_rate, field="--lane-rate")
    topo = topology(args.topology, args.gpus, policy=args.policy,
                    tier_policy=args.tier_policy, lane_rate=lane, **kw)
    s = topo.summary()
    if args.json:
        json.dump(s, sys.stdout, indent=2, sort_keys=False)
        print()
        return 0
    print(f"{s['name']}: {s['gpus']} GPUs, scale-up domains of {s['scaleup_size']}, "
          f"policy {s['policy']}"
          + (f", tier policy {s['tier_policy']}" if s["tier_policy"] else ""))
    print("devices:      " + ", ".join(f"{k} {v}" for k, v in s["devices"].items())
          + "  (switches: " + ", ".join(f"{k} {v}" for k, v in s["switches_by_tier"].items()) + ")")
    print(f"placement:    {s['racks']} racks in {s['rows']} rows")
    print(f"cables:       {s['cables']}")
    for tier, techs in s["links_by_tier_tech"].items():
        print(f"  {tier:8s}    " + ", ".join(f"{t} {n}" for t, n in techs.items()))
    L = s["cable_length_m"]
    print(f"cable length: min {L['min']:.2f} m, median {L['median']:.2f} m, "
          f"mean {L['mean']:.2f} m, "
          f"max {L['max']:.2f} m, total {L['total'] / 1000:.2f} km")
    for tier, bw in s["gpu_bandwidth_bps_by_tier"].items():
        print(f"per-GPU bandwidth ({tier}): {bw / 1e9:g} Gb/s per direction")
    print(f"optical transceivers: {s['optical_transceivers']:g} "
          f"({s['transceivers_per_gpu']:.3g} per GPU)")
    print(f"link power:   {s['link_power_w'] / 1e3:.2f} kW total incl. host SerDes "
          f"({s['link_power_w_per_gpu']:.1f} W per GPU); "
          f"modules/engines {s['module_power_w'] / 1e3:.2f} kW")
    for tech, w in s["link_power_w_by_tech"].items():
        print(f"  {tech:14s} {w / 1e3:.2f} kW")
    return 0
