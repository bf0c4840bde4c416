"""``cposim astra``: run ASTRA-sim 2.x inputs with ASTRA-sim's analytical semantics.

    cposim astra --workload-configuration=PREFIX --system-configuration=SYS.json \\
        --network-configuration=NET.yml [--remote-memory-configuration=MEM.json] \\
        [--backend congestion-aware] [--json]
    cposim astra --workload-configuration PREFIX --cposim-fabric single-switch \\
        --policy copper-first --policy cpo

The options are the analytical binaries' (``--name=value`` or ``--name value``); the output is
their ``sys[i] finished, N cycles, exposed communication M cycles.`` lines, in finishing
order. ``--cposim-fabric`` (the bridge) runs the same traces through cposim's native stack on
a physical fabric, once per link policy. The engine lives in ``sim/astra``.
"""

from __future__ import annotations

import argparse
import json
import sys

from sim.errors import CposimError

_TRUE = ("1", "true", "yes", "on")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "astra", help="ASTRA-sim 2.x-compatible analytical run (and the bridge to cposim)",
        description="Run Chakra ETs with ASTRA-sim 2.x's analytical semantics (astra-sim "
        "518bd51: congestion-unaware and congestion-aware backends), printing ASTRA-sim's "
        "per-NPU finish lines; or, with --cposim-fabric, run them through cposim's native "
        "stack on a physical fabric per link policy.")
    a = p.add_argument_group("ASTRA-sim options (same names as its analytical binaries)")
    a.add_argument("--workload-configuration", metavar="PREFIX",
                   help="Chakra ET prefix: NPU i reads PREFIX.i.et")
    a.add_argument("--system-configuration", metavar="SYS.json", help="system JSON")
    a.add_argument("--network-configuration", metavar="NET.yml", help="network YAML")
    a.add_argument("--remote-memory-configuration", metavar="MEM.json",
                   help="remote-memory JSON (optional here; absent = no memory expansion)")
    a.add_argument("--comm-group-configuration", metavar="GROUPS.json", default=None,
                   help='communicator groups {"<id>": [npu, ...]} for pg_name (default: none)')
    a.add_argument("--num-queues-per-dim", type=int, default=1, metavar="N",
                   help="queues per dimension (only 1 is supported)")
    a.add_argument("--injection-scale", type=float, default=1.0, metavar="X",
                   help="multiplies endpoint-delay (the product is truncated to int ns, as "
                   "ASTRA-sim does; default 1)")
    a.add_argument("--comm-scale", type=float, default=1.0, metavar="X",
                   help="accepted; unused by ASTRA-sim (passed to Sys, never read)")
    a.add_argument("--compute-scale", type=float, default=1.0, metavar="X",
                   help="accepted; unused by ASTRA-sim's analytical binaries")
    a.add_argument("--logging-folder", default=None, metavar="DIR",
                   help="accepted and ignored (no log files)")
    a.add_argument("--logging-configuration", default=None, metavar="FILE",
                   help="accepted and ignored")
    a.add_argument("--rendezvous-protocol", nargs="?", const="true", default="false",
                   metavar="BOOL", help="not supported (only false is accepted)")
    c = p.add_argument_group("cposim options")
    c.add_argument("--backend", choices=("congestion-unaware", "congestion-aware"),
                   default="congestion-unaware",
                   help="which analytical binary to reproduce (default congestion-unaware)")
    c.add_argument("--json", action="store_true", help="print one JSON object")
    c.add_argument("--cposim-fabric", metavar="PRESET", default=None,
                   help="the bridge: run the ETs with cposim's native semantics on this "
                   "topology preset (world size from the ET files), once per --policy")
    c.add_argument("--policy", action="append", default=None,
                   help="bridge: link policy, repeatable (default copper-first and cpo)")
    c.add_argument("--fidelity", choices=("flow", "analytical"), default="flow",
                   help="bridge: cposim fabric model (default flow)")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    if not args.workload_configuration:
        raise CposimError("required: the Chakra ET prefix (NPU i reads PREFIX.i.et)",
                          field="--workload-configuration")
    if str(args.rendezvous_protocol).lower() in _TRUE:
        raise CposimError("the rendezvous protocol is not supported (only false)",
                          field="--rendezvous-protocol")
    if str(args.rendezvous_protocol).lower() not in ("0", "false", "no", "off"):
        raise CposimError(f"expected true or false, got {args.rendezvous_protocol!r}",
                          field="--rendezvous-protocol")
    from sim.api import run_astra

    groups = args.comm_group_configuration
    run = run_astra(args.workload_configuration, args.system_configuration,
                    args.network_configuration,
                    remote_memory_configuration=args.remote_memory_configuration,
                    backend=args.backend,
                    # ASTRA-sim's own default, "empty", means no groups
                    comm_group_configuration=None if groups == "empty" else groups,
                    injection_scale=args.injection_scale,
                    num_queues_per_dim=args.num_queues_per_dim,
                    cposim_fabric=args.cposim_fabric, policies=args.policy,
                    fidelity=args.fidelity)
    if args.json:
        json.dump(run.to_dict(), sys.stdout, indent=2)
        print()
        return 0
    print("\n".join(run.lines()))
    return 0
