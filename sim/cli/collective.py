"""``cposim collective``: one collective on a topology -> time, algbw, busbw, bytes, energy.

    cposim collective --op allreduce --algo ring --gpus 8 --size 1MiB --topology switch \\
        --link-bandwidth 50GB/s --link-latency 500ns --fidelity flow --json
    cposim collective --op alltoall --size 64MiB --topology dgx-h100-superpod --gpus 256 \\
        --policy cpo

``--topology switch``: ``--gpus`` GPUs on one non-blocking switch; ``--link-bandwidth`` and
``--link-latency`` describe each GPU-switch link and the switch adds nothing unless
``--switch-latency`` is given, so one step between two GPUs costs 2 x link latency
(ASTRA-sim's Switch convention). Other topologies are presets (or a .toml/.json file) whose
links come from the PHY model under ``--policy``. The collective runs on all GPUs.
busbw follows nccl-tests (``doc/PERFORMANCE.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from sim.errors import CposimError
from sim.units import format_si, parse_bandwidth_Bps, parse_bytes, parse_time_s

SWITCH = "switch"


class _Algorithms:
    """The registered algorithms' names, looked up when the help is printed: importing the
    registry (numpy and the comm layer, ~0.7 s) while building the parser would slow every
    cposim command."""

    def __str__(self) -> str:
        from sim.comm.algorithms.registry import listing
        return listing()


class _AlgoArg(argparse.Action):
    """``--algo NAME``, stored as given (``handle`` checks it against the registry); its help
    formats ``%(algorithms)s`` from the registry."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.algorithms = _Algorithms()

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("collective", help="one collective: time, algbw, busbw, energy",
                       description="Run one collective on a topology at a fidelity and report "
                       "time, algbw/busbw (nccl-tests definitions), bytes and energy per link "
                       "technology.")
    p.add_argument("--op", required=True,
                   help="allreduce, allgather, reducescatter, alltoall, broadcast, reduce")
    p.add_argument("--algo", default="auto", action=_AlgoArg,
                   help="%(algorithms)s (default auto)")
    p.add_argument("--size", required=True, help="buffer size, nccl-tests convention (e.g. 1MiB)")
    p.add_argument("--gpus", type=int, default=None,
                   help="GPUs (default: 8 for switch, the preset's size otherwise)")
    p.add_argument("--topology", default=SWITCH,
                   help="switch (idealised), a preset (dgx-h100-superpod, gb200-nvl72, "
                   "leaf-spine, ...) or a .toml/.json topology file (default switch)")
    p.add_argument("--link-bandwidth", help="switch only: GPU-switch link, e.g. 50GB/s (default)")
    p.add_argument("--link-latency", help="switch only: GPU-switch link, e.g. 500ns (default)")
    p.add_argument("--switch-latency", help="switch only: added per switch traversal (default 0)")
    p.add_argument("--policy", default=None,
                   help="presets: link policy copper-first (default), pluggable, lpo, cpo, ...")
    p.add_argument("--tier-policy", action="append", default=None, metavar="TIER=POLICY",
                   help="presets: per-tier policy, e.g. scaleout=cpo (repeatable)")
    p.add_argument("--fidelity", default="flow", help="flow (default), packet or analytical")
    p.add_argument("--chunks", type=int, default=1,
                   help="split the buffer into this many pipelined chunks (default 1)")
    p.add_argument("--root", type=int, default=0, help="root rank of broadcast / reduce")
    p.add_argument("--intra", default="ring", help="hierarchical: algorithm inside a domain")
    p.add_argument("--inter", default="ring", help="hierarchical: algorithm across domains")
    p.add_argument("--routing", default="ecmp-hash", help="routing of the fabric")
    p.add_argument("--seed", type=int, default=0, help="seed of the routing hash")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=handle)


def _topology(args: argparse.Namespace):
    from sim.fabric import build_topology, single_switch

    if args.gpus is not None and args.gpus < 1:
        raise CposimError(f"--gpus must be >= 1, got {args.gpus}", field="gpus")
    if args.topology == SWITCH:
        if args.policy is not None or args.tier_policy:
            raise CposimError("--policy / --tier-policy need a preset topology; the switch "
                              "topology has idealised links", field="policy")
        bw = parse_bandwidth_Bps(args.link_bandwidth or "50GB/s", field="link-bandwidth")
        lat = parse_time_s(args.link_latency or "500ns", field="link-latency")
        sw = parse_time_s(args.switch_latency or "0s", field="switch-latency")
        n = 8 if args.gpus is None else args.gpus
        desc = {"topology": SWITCH, "link_bandwidth_Bps": bw, "link_latency_s": lat,
                "switch_latency_s": sw}
        return single_switch(n, link_bandwidth_bps=8 * bw, link_latency_s=lat,
                             switch_latency_s=sw), desc
    for opt in ("link_bandwidth", "link_latency", "switch_latency"):
        if getattr(args, opt) is not None:
            raise CposimError(f"--{opt.replace('_', '-')} only applies to --topology switch; "
                              "preset links come from the PHY model", field=opt.replace("_", "-"))
    policy = args.policy or "copper-first"
    topo = build_topology(args.topology, gpus=args.gpus, policy=policy,
                          tier_policy=args.tier_policy)
    return topo, {"topology": args.topology, "policy": policy,
                  "tier_policy": args.tier_policy or {}}


def handle(args: argparse.Namespace) -> int:
    import numpy as np
    import simpy

    from sim.comm import (Communicator, analytical_time, normalise_algorithm, normalise_op,
                          plan_collective, run_collective)
    from sim.fabric import FIDELITIES, make_fabric

    op = normalise_op(args.op, field="op")
    algo = normalise_algorithm(args.algo, field="algo")
    size = parse_bytes(args.size, field="size")
    if args.fidelity not in FIDELITIES:
        raise CposimError(f"unknown fidelity {args.fidelity!r}; choose from "
                          f"{', '.join(FIDELITIES)}", field="fidelity")
    if args.chunks < 1:
        raise CposimError(f"--chunks must be >= 1, got {args.chunks}", field="chunks")
    topo, desc = _topology(args)
    n = topo.n_gpus
    if not 0 <= args.root < n:
        raise CposimError(f"--root {args.root} is not a rank of {n} GPUs", field="root")
    t0 = time.perf_counter()
    env = simpy.Environment()
    fabric = make_fabric(env, topo, fidelity=args.fidelity, routing=args.routing, seed=args.seed)
    comm = Communicator("world", np.arange(n), np.arange(n))
    ev = run_collective(env, fabric, comm, op, size, algorithm=algo, chunks=args.chunks,
                        root=args.root, intra=args.intra, inter=args.inter)
    env.run()
    r = ev.value
    wall = time.perf_counter() - t0
    # the closed form from the periodic (one-step) schedule where the algorithm has one: the
    # full ring schedule is O(n^2) rows (gigabytes at 16k GPUs)
    plan = plan_collective(fabric, comm, op, size, algorithm=algo, chunks=args.chunks,
                           root=args.root, intra=args.intra, inter=args.inter, periodic=True)
    t_cf = analytical_time(fabric, plan)
    techs = sorted(r.link_bytes_by_tech)
    out = {
        "op": op, "algorithm": r.algorithm, "gpus": n, "size_bytes": size, "chunks": args.chunks,
        "fidelity": r.fidelity, **desc,
        "time_s": r.time_s, "algbw_Bps": r.algbw_Bps, "busbw_Bps": r.busbw_Bps,
        "busbw_factor": r.busbw_Bps / r.algbw_Bps if r.algbw_Bps else None,
        "energy_j": r.energy_j, "energy_pj_per_bit": (r.energy_j / (8 * r.bytes_on_wire) * 1e12
                                                      if r.bytes_on_wire else 0.0),
        "bytes_on_wire": r.bytes_on_wire, "link_bytes": r.link_bytes,
        "per_technology": [{"tech": t, "link_bytes": r.link_bytes_by_tech[t],
                            "energy_j": r.energy_by_tech.get(t, 0.0)} for t in techs],
        "closed_form_time_s": t_cf, "steps": r.n_steps, "waves": r.n_waves,
        "phases": list(r.phases), "wall_s": wall,
    }
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    print(_table(out))
    return 0


def _table(o: dict) -> str:
    where = o["topology"] + (f", policy {o['policy']}" if "policy" in o else
                             f", link {format_si(o['link_bandwidth_Bps'], 'B/s')} / "
                             f"{format_si(o['link_latency_s'], 's')}")
    lines = [
        f"{o['op']} of {format_si(o['size_bytes'], 'B')} on {o['gpus']} GPUs ({where})",
        f"  algorithm        {o['algorithm']}" + (f"  [{' -> '.join(o['phases'])}]"
                                                  if o["phases"] else "")
        + f", {o['chunks']} chunk(s), {o['steps']} steps",
        f"  fidelity         {o['fidelity']}",
        f"  time             {format_si(o['time_s'], 's')}   (closed form "
        f"{format_si(o['closed_form_time_s'], 's')})",
        f"  algbw            {format_si(o['algbw_Bps'], 'B/s')}",
        f"  busbw            {format_si(o['busbw_Bps'], 'B/s')}",
        f"  bytes on wire    {format_si(o['bytes_on_wire'], 'B')} sent by GPUs, "
        f"{format_si(o['link_bytes'], 'B')} over links",
        f"  energy           {format_si(o['energy_j'], 'J')} "
        f"({o['energy_pj_per_bit']:.3g} pJ per bit sent)",
    ]
    if o["per_technology"]:
        lines.append(f"  {'technology':<16}{'link bytes':>14}{'energy':>14}")
        for row in o["per_technology"]:
            lines.append(f"  {row['tech']:<16}{format_si(row['link_bytes'], 'B'):>14}"
                         f"{format_si(row['energy_j'], 'J'):>14}")
    lines.append(f"  (simulated in {o['wall_s']:.2f} s)")
    return "\n".join(lines)
