"""``cposim collective``: one collective on a topology -> time, algbw, busbw, bytes, energy.

    cposim collective --op allreduce --algo ring --gpus 8 --size 1MiB --topology switch \\
        --link-bandwidth 50GB/s --link-latency 500ns --fidelity flow --json
    cposim collective --op alltoall --size 64MiB --topology dgx-h100-superpod --gpus 256 \\
        --policy cpo
    cposim collective --op allreduce --size 1GiB --topology dgx-h100-superpod --gpus 16 \\
        --nccl --gpu h100

``--topology switch``: ``--gpus`` GPUs on one non-blocking switch; ``--link-bandwidth`` and
``--link-latency`` describe each GPU-switch link and the switch adds nothing unless
``--switch-latency`` is given, so one step between two GPUs costs 2 x link latency
(ASTRA-sim's Switch convention). Other topologies are presets (or a .toml/.json file) whose
links come from the PHY model under ``--policy``. The collective runs on all GPUs.
busbw follows nccl-tests (``doc/PERFORMANCE.md``).

The time is the engine's (the wire, no collective library). ``--nccl`` adds NCCL's own cost
model on the same fabric's bandwidths (:mod:`sim.comm.nccl`, the layer ``cposim figures
validation`` checks against published nccl-tests tables): the algorithm and protocol NCCL
picks and its time, algbw and busbw, for ``--gpu`` a100, h100 (default), h200 or b200;
``--nccl-algo`` forces an algorithm as ``NCCL_ALGO`` does. JSON gains an ``"nccl"`` object.
"""

from __future__ import annotations

import argparse
import json
import sys

from sim.errors import CposimError
from sim.units import format_si

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
    p.add_argument("--routing", default="pxn",
                   help="routing of the fabric: pxn (default, as NCCL: hashed ECMP plus "
                   "rail-local relays for cross-rail pairs), ecmp-hash or ecmp-even")
    p.add_argument("--seed", type=int, default=0, help="seed of the routing hash")
    p.add_argument("--nccl", action="store_true",
                   help="also NCCL's algorithm, protocol and predicted time/algbw/busbw (its "
                   "tuner's cost model on this fabric; allreduce, allgather, reducescatter, "
                   "alltoall)")
    p.add_argument("--gpu", default=None,
                   help="with --nccl: a100, h100 (default), h200 or b200")
    p.add_argument("--nccl-algo", default=None,
                   help="with --nccl: default (NCCL's choice), ring, nvls or nvlstree")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=handle)


# the API's parameter names that are hyphenated options here
_OPTION = {"link_bandwidth": "link-bandwidth", "link_latency": "link-latency",
           "switch_latency": "switch-latency", "nccl_algo": "nccl-algo"}


def handle(args: argparse.Namespace) -> int:
    from sim.api import collective

    try:
        run = collective(args.op, args.algo, args.gpus, args.size, topology=args.topology,
                         fidelity=args.fidelity, link_bandwidth=args.link_bandwidth,
                         link_latency=args.link_latency, switch_latency=args.switch_latency,
                         policy=args.policy, tier_policy=args.tier_policy, chunks=args.chunks,
                         root=args.root, intra=args.intra, inter=args.inter,
                         routing=args.routing, seed=args.seed, nccl=args.nccl, gpu=args.gpu,
                         nccl_algo=args.nccl_algo)
    except CposimError as exc:
        if exc.field not in _OPTION:
            raise
        raise CposimError(exc.message, file=exc.file, line=exc.line,
                          field=_OPTION[exc.field]) from None
    out = run.to_dict()
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
        *([_nccl_line(o["nccl"])] if "nccl" in o else []),
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


def _nccl_line(c: dict) -> str:
    return (f"  NCCL ({c['gpu']})      {c['algorithm']}/{c['protocol']}: time "
            f"{format_si(c['time_s'], 's')}, algbw {format_si(c['algbw_Bps'], 'B/s')}, "
            f"busbw {format_si(c['busbw_Bps'], 'B/s')}")
