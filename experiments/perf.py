"""Benchmark suite: how fast cposim is on the cases real studies need.

``python -m experiments.perf [--quick] [--cases a,b] [--repeats N] [--out results/perf]``
(also ``cposim bench``). For every case: wall time (median of the runs), SimPy events,
max-min solves and peak memory, next to its target (README, "Performance") and pass/fail.

Cases (full run; ``--quick`` shrinks every one to a smoke test of a few seconds):

* ``ring-ar-N``: ring all-reduce of 1 GiB on N = 1,024 / 4,096 / 16,384 GPUs of a 3-tier
  fat-tree (400G hosts, radix 64), ``flow`` fidelity, one communicator of all GPUs.
* ``gpt3-N-FID``: one GPT-3 175B iteration (TP8, PP16, DP = N/128, 16 micro-batches per
  pipeline, i.e. global batch 16 x DP) on N = 1,024 / 16,384 / 131,072 GPUs of the
  DGX H100 SuperPOD preset (NVL8 + rail-optimized fat-tree), ``flow`` and ``analytical``.
  Wall time includes building the trace and the topology.
* ``solve-N``: one max-min solve of a random permutation of N = 8,192 / 32,768 flows on a
  4:1 oversubscribed leaf-spine (:mod:`experiments.bench_fabric`).
* ``packet``: SimPy events per wall second of the ``packet`` model (bench_fabric).
* ``straggler-gpt3-131072-analytical``: the 131k GPT-3 iteration with one straggler (rank 5
  computes 1.25x as long), where the symmetry falls back to finer rank classes.
* ``even-gpt3-131072-analytical``: the 131k GPT-3 iteration with ``routing="ecmp-even"``.
* ``deepseek-v3-N-flow``: one DeepSeek-V3 iteration (TP1, PP8, EP32, global batch 8,192) on
  N = 2,048 / 16,384 GPUs of the DGX H100 SuperPOD preset, ``flow``; ``mixtral-4096-flow``:
  Mixtral 8x7B (TP1, PP1, EP8, global batch 4,096) on 4,096 GPUs. All-to-all heavy. Default
  routing (``pxn``, NCCL's); ``deepseek-v3-2048-flow-ecmp-hash``: the 2,048 case without
  PXN relays, every cross-rail pair through the spines (no target: a different network).
* ``cmd-*``: whole commands as a user types them (``cposim --help``, ``cposim link ...``,
  ``cposim collective`` ring all-reduce on 16,384 / 65,536 GPUs, ``cposim run`` of the small
  example and of the built-in default), each a fresh process in a scratch folder after one
  warm-up run: wall time and that process's peak RSS. ``cmd-python-startup`` is the bare
  interpreter; the collective targets count beyond it.
* ``equal-*``: the case with every speed-up (``SpeedOptions()``) and on the plain path
  (:func:`_plain`: full schedules wave by wave; in iterations also no runtime replay, no
  incremental re-solve, no solo replay); the largest relative difference over the reported
  numbers (iteration / collective time, its breakdown, bytes delivered, bytes carried by the
  links, dynamic link energy) must be <= 1e-9 (``equal-deepseek-v3-256-flow``: DeepSeek-V3 TP1
  PP8 EP32 on 256 GPUs, global batch 64). ``equal-straggler-gpt3-1024-analytical``
  compares the straggler case against one control loop per rank (no rank classes) as well.
  The wall time is that of both runs; ``plain_wall_s`` the plain one.

Each case runs in a fresh child process (peak memory = the child's peak RSS, which includes
the ~0.1 GB of Python + numpy + pandas). The first run counts SimPy events (every
``Environment.schedule``) and max-min solves (every ``maxmin_rates`` call, including the
runtime's scratch fabric); the timed runs are not instrumented. A case whose first run takes
longer than ``--single-run-s`` is not repeated. A case that exceeds ``--timeout`` is reported
as such. Writes ``results/perf/perf.parquet`` and ``perf.manifest.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

GIB = float(2 ** 30)

# name -> (kind, size, fidelity, target seconds or None, target text)
CASES: dict[str, tuple] = {
    "ring-ar-1024": ("ring", 1024, "flow", None, "-"),
    "ring-ar-4096": ("ring", 4096, "flow", 0.1, "<= 0.1 s"),
    "ring-ar-16384": ("ring", 16384, "flow", 0.5, "<= 0.5 s"),
    "gpt3-1024-analytical": ("gpt3", 1024, "analytical", 1.0, "<= 1 s"),
    "gpt3-16384-analytical": ("gpt3", 16384, "analytical", 1.0, "<= 1 s"),
    "gpt3-131072-analytical": ("gpt3", 131072, "analytical", 1.0, "<= 1 s"),
    "gpt3-1024-flow": ("gpt3", 1024, "flow", None, "-"),
    "gpt3-16384-flow": ("gpt3", 16384, "flow", 30.0, "<= 30 s, <= 4 GB"),
    "gpt3-131072-flow": ("gpt3", 131072, "flow", 300.0, "<= 300 s"),
    "solve-8192": ("solve", 8192, "flow", 0.020, "<= 20 ms"),
    "solve-32768": ("solve", 32768, "flow", 0.060, "<= 60 ms"),
    "packet": ("packet", 64, "packet", None, ">= 300k events/s"),
    # the speed-ups against the plain path (_plain) on cases small enough for both
    "equal-ring-ar-1024": ("equal-ring", 1024, "flow", None, "rel. diff <= 1e-9"),
    "equal-gpt3-1024-analytical": ("equal-gpt3", 1024, "analytical", None, "rel. diff <= 1e-9"),
    "equal-gpt3-1024-flow": ("equal-gpt3", 1024, "flow", None, "rel. diff <= 1e-9"),
    # one straggler (rank 5 computes 1.25x as long): the symmetry falls back to finer classes
    "straggler-gpt3-131072-analytical": ("straggler-gpt3", 131072, "analytical", None, "-"),
    # routing="ecmp-even": every flow over all its equal-cost paths (factored routes)
    "even-gpt3-131072-analytical": ("even-gpt3", 131072, "analytical", None, "-"),
    "equal-straggler-gpt3-1024-analytical": ("equal-straggler-gpt3", 1024, "analytical", None,
                                             "rel. diff <= 1e-9"),
    # the MoE speed-ups (solo replay, incremental re-solve, replay, periodic schedules)
    "equal-deepseek-v3-256-flow": ("equal-deepseek", 256, "flow", None, "rel. diff <= 1e-9"),
    # MoE iterations in flow fidelity (all-to-all heavy)
    "deepseek-v3-2048-flow": ("deepseek", 2048, "flow", 60.0, "<= 60 s"),
    "deepseek-v3-16384-flow": ("deepseek", 16384, "flow", 600.0, "<= 600 s, <= 4 GB"),
    # the same without NCCL's PXN relays (routing="ecmp-hash"): cross-rail pairs of the
    # all-to-alls climb to the spines and couple every EP group (a different network model)
    "deepseek-v3-2048-flow-ecmp-hash": ("deepseek-ecmp", 2048, "flow", None,
                                        "- (routing ecmp-hash)"),
    "mixtral-4096-flow": ("mixtral", 4096, "flow", 60.0, "<= 60 s"),
    # whole commands as a user types them, each in a fresh process (wall time and peak RSS of
    # that process); "startup" is the bare interpreter, for the "beyond start-up" figures
    "cmd-python-startup": ("cmd", 0, "-", None, "-"),
    "cmd-help": ("cmd", 0, "-", 0.3, "<= 0.3 s"),
    "cmd-link": ("cmd", 0, "-", 0.3, "<= 0.3 s"),
    "cmd-collective-16384": ("cmd", 16384, "flow", 0.5, "<= 0.5 s + start-up, <= 0.5 GB"),
    "cmd-collective-65536": ("cmd", 65536, "flow", 2.0, "<= 2 s + start-up"),
    "cmd-run-small": ("cmd", 0, "flow", None, "-"),
    "cmd-run-default": ("cmd", 0, "flow", None, "-"),
}
# the command lines of the cmd-* cases ({gpus} filled in; quick: 1,024 GPUs)
COMMANDS: dict[str, list[str]] = {
    "cmd-python-startup": ["<python>", "-c", "pass"],
    "cmd-help": ["--help"],
    "cmd-link": ["link", "--tech", "cpo", "--lane-rate", "200G", "--length", "30m"],
    "cmd-collective-16384": ["collective", "--op", "allreduce", "--algo", "ring", "--gpus",
                             "{gpus}", "--size", "1GiB", "--topology", "switch",
                             "--link-bandwidth", "50GB/s", "--link-latency", "500ns",
                             "--fidelity", "flow", "--json"],
    "cmd-run-small": ["run", "<examples>/small-study.toml", "--quiet", "--out", "small"],
    "cmd-run-default": ["run", "--quiet", "--out", "default"],
}
COMMANDS["cmd-collective-65536"] = COMMANDS["cmd-collective-16384"]
QUICK_SIZE = {"ring": 256, "gpt3": 128, "solve": 2048, "packet": 64, "equal-ring": 64,
              "equal-gpt3": 128, "straggler-gpt3": 128, "equal-straggler-gpt3": 128,
              "even-gpt3": 128, "equal-deepseek": 256, "deepseek": 256, "deepseek-ecmp": 256, "mixtral": 64,
              "cmd": 1024}
STRAGGLERS = {5: 1.25}
MEMORY_TARGET_BYTES = {"gpt3-16384-flow": 4e9, "deepseek-v3-16384-flow": 4e9,
                       "cmd-collective-16384": 0.5e9}


def _plain():
    """The plain path of the ``equal-*`` cases, as this suite has always measured it: one
    collective planned in full and run wave by wave (the fabric's own speed-ups on), and an
    iteration without replay, periodic schedules, incremental re-solve or solo replay (rank
    classes and the solve memo — bit for bit — kept; the straggler case drops rank classes)."""
    from sim.fabric import SpeedOptions

    return {"ring": SpeedOptions(periodic=False, fast_forward_waves=False),
            "iteration": SpeedOptions.plain(rank_classes=True, memoise=True),
            "per-rank": SpeedOptions.plain(memoise=True)}


# ---- the cases ---------------------------------------------------------------------------
def ring_case(n: int, fidelity: str, fast: bool = True) -> dict:
    import simpy

    from sim.comm import Communicator, run_collective
    from sim.fabric import SpeedOptions, build_topology, make_fabric

    topo = build_topology("fat-tree", gpus=n, policy="copper-first")
    env = simpy.Environment()
    fab = make_fabric(env, topo, fidelity=fidelity,
                      speed=SpeedOptions() if fast else _plain()["ring"])
    ranks = np.arange(n)
    ev = run_collective(env, fab, Communicator("world", ranks, ranks), "allreduce", GIB,
                        algorithm="ring")
    env.run()
    r = ev.value
    return {"sim_time_s": r.time_s, "busbw_Bps": r.busbw_Bps, "energy_j": r.energy_j,
            "link_bytes": r.link_bytes}


def gpt3_trace(n: int):
    from workloads.generator import generate

    dp = max(n // 128, 1)
    return generate("gpt3-175b", gpus=n, tp=8, pp=16, global_batch=16 * dp, micro_batch=1)


def gpt3_case(n: int, fidelity: str, fast: bool = True, stragglers: dict | None = None,
              plain: str = "iteration", routing: str = "pxn") -> dict:
    """``fast``: every speed-up; else the plain path ``_plain()[plain]``."""
    from sim.fabric import SpeedOptions, build_topology
    from sim.runtime.result import simulate
    from workloads.stragglers import with_stragglers

    trace = with_stragglers(gpt3_trace(n), stragglers or {})
    topo = build_topology("dgx-h100-superpod", gpus=n, policy="copper-first")
    speed = SpeedOptions() if fast else _plain()[plain]
    res = simulate(trace, topo, fidelity=fidelity, speed=speed, routing=routing)
    s = res.summary
    fab = res.fabric
    return {"sim_time_s": res.iteration_s, "compute_s": s["compute_s"],
            "exposed_comm_s": s["exposed_comm_s"], "bubble_s": s["bubble_s"],
            "bytes_delivered": fab.bytes_delivered, "link_bytes": float(fab.link_bytes.sum()),
            "energy_j": fab.energy_j(),
            "collectives": s["collectives_launched"], "replayed": s["collectives_replayed"]}


def moe_case(model: str, n: int, fidelity: str, routing: str = "pxn", fast: bool = True) -> dict:
    """DeepSeek-V3 TP1 PP8 EP32, global batch 8,192 (4 x n/2,048 for the quick size);
    Mixtral 8x7B TP1 PP1 EP8, global batch = n. ``routing``: pxn (the default, NCCL's relays) or
    ecmp-hash (no relays: a different network model, not a speed-up; its iteration differs).
    ``fast``: every speed-up; else the plain iteration path ``_plain()["iteration"]``."""
    from sim.fabric import SpeedOptions, build_topology
    from sim.runtime.result import simulate
    from workloads.generator import generate

    if model == "deepseek":
        gb = 8192 if n >= 2048 else max(n // 8 * 2, 8)
        trace = generate("deepseek-v3", gpus=n, tp=1, pp=8, ep=32, global_batch=gb)
    else:
        trace = generate("mixtral-8x7b", gpus=n, tp=1, pp=1, ep=8, global_batch=n)
    topo = build_topology("dgx-h100-superpod", gpus=n, policy="copper-first")
    speed = SpeedOptions() if fast else _plain()["iteration"]
    res = simulate(trace, topo, fidelity=fidelity, routing=routing, speed=speed)
    st, fab = res.fabric_stats, res.fabric
    return {"sim_time_s": res.iteration_s, "exposed_comm_s": res.summary["exposed_comm_s"],
            "bubble_s": res.summary["bubble_s"], "bytes_delivered": fab.bytes_delivered,
            "link_bytes": float(fab.link_bytes.sum()), "energy_j": fab.energy_j(),
            "solo_replays": st.get("solo_replays", 0), "epochs": st.get("epochs", 0)}


def run_case(name: str, quick: bool, fast: bool = True) -> dict:
    """Run a case once; returns its simulated results (timing is the caller's)."""
    kind, n, fid, _, _ = CASES[name]
    n = QUICK_SIZE[kind] if quick else n
    if kind == "ring":
        return ring_case(n, fid, fast)
    if kind == "gpt3":
        return gpt3_case(n, fid, fast)
    if kind == "straggler-gpt3":
        return gpt3_case(n, fid, fast, STRAGGLERS)
    if kind == "even-gpt3":
        return gpt3_case(n, fid, fast, routing="ecmp-even")
    if kind in ("deepseek", "mixtral"):
        return moe_case(kind, n, fid)
    if kind == "deepseek-ecmp":
        return moe_case("deepseek", n, fid, routing="ecmp-hash")
    if kind.startswith("equal-"):
        if kind == "equal-straggler-gpt3":   # plain = one control loop per rank, no replay
            def fn(n, fid, fast):
                return gpt3_case(n, fid, fast, STRAGGLERS, "per-rank")
        else:
            fn = ring_case if kind == "equal-ring" else gpt3_case
        if kind == "equal-deepseek":
            def fn(n, fid, fast):
                return moe_case("deepseek", n, fid, fast=fast)
        a = fn(n, fid, True)
        t0 = time.perf_counter()
        b = fn(n, fid, False)
        plain_s = time.perf_counter() - t0
        counters = ("collectives", "replayed", "solo_replays", "epochs")   # not results
        keys = [k for k in b if k not in counters]
        rel = max(abs(a[k] - b[k]) / abs(b[k]) if b[k] else abs(a[k]) for k in keys)
        return {"sim_time_s": a["sim_time_s"], "max_rel_diff": rel, "plain_wall_s": plain_s}
    from experiments import bench_fabric
    if kind == "solve":
        r = bench_fabric.bench_solve(n, 1 if quick else 15)
        return {"solve_median_s": r["median_s"], "flows": r["flows"], "rounds": r["rounds"]}
    r = bench_fabric.bench_packet(2.0 ** 16 if quick else 2.0 ** 20, hosts=n)
    return {"events_per_s": r["events_per_s"], "events_per_cpu_s": r["events_per_cpu_s"],
            "packet_events": r["events"]}


class _Counters:
    """Counts SimPy events and max-min solves while active (first run only)."""

    def __enter__(self):
        import simpy.core

        import sim.fabric.flow as flow
        self.events = 0
        self.solves = 0
        self._sched = simpy.core.Environment.schedule
        self._solve = flow.maxmin_rates
        outer = self

        def schedule(env, event, priority=1, delay=0):
            outer.events += 1
            return outer._sched(env, event, priority, delay)

        def solve(*a, **k):
            outer.solves += 1
            return outer._solve(*a, **k)

        simpy.core.Environment.schedule = schedule
        flow.maxmin_rates = solve
        return self

    def __exit__(self, *exc):
        import simpy.core

        import sim.fabric.flow as flow
        simpy.core.Environment.schedule = self._sched
        flow.maxmin_rates = self._solve
        return False


def measure(name: str, quick: bool, repeats: int, single_run_s: float) -> dict:
    """Counted first run, then timed runs; in this process."""
    with _Counters() as c:
        t0 = time.perf_counter()
        out = run_case(name, quick)
        first = time.perf_counter() - t0
    walls = []
    if first <= single_run_s and repeats > 1:
        for _ in range(repeats):
            t0 = time.perf_counter()
            out = run_case(name, quick)
            walls.append(time.perf_counter() - t0)
    else:
        walls = [first]
    kind, size = CASES[name][0], CASES[name][1]
    size = QUICK_SIZE[kind] if quick else size
    if kind == "solve":     # the solve itself, not the set-up around it
        walls = [out["solve_median_s"]]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0   # Linux: KiB
    return {"case": name, "size": size, "quick": quick,
            "wall_median_s": statistics.median(walls), "wall_min_s": min(walls),
            "first_run_s": first,       # cold process and instrumented: an upper bound
            "runs": len(walls), "sim_events": c.events, "maxmin_solves": c.solves,
            "peak_rss_bytes": peak, **{k: v for k, v in out.items()}}


def _command(name: str, quick: bool) -> list[str]:
    exe = Path(sys.executable)
    cposim = exe.with_name("cposim")
    head = [str(cposim)] if cposim.exists() else [str(exe), "-m", "sim"]
    examples = Path(__file__).resolve().parents[1] / "examples"
    size = QUICK_SIZE["cmd"] if quick else CASES[name][1]
    argv = [a.replace("{gpus}", str(size)).replace("<examples>", str(examples))
            for a in COMMANDS[name]]
    return [str(exe)] + argv[1:] if argv[0] == "<python>" else head + argv


def measure_command(name: str, quick: bool, repeats: int, timeout_s: float) -> dict:
    """Run the case's command line ``repeats`` times (plus one warm-up that fills the OS file
    cache), each as a fresh process in a scratch folder: wall time and that process's own
    peak RSS (``wait4``)."""
    import os
    import tempfile

    cmd = _command(name, quick)
    walls, peaks = [], []
    with tempfile.TemporaryDirectory(prefix="cposim-bench-") as tmp:
        for i in range(repeats + 1):
            t0 = time.perf_counter()
            p = subprocess.Popen(cmd, cwd=tmp, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
            deadline = time.monotonic() + timeout_s
            while True:
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    p.kill()
                    return {"case": name, "status": f"timeout > {timeout_s:g} s"}
                time.sleep(0.002)
            wall = time.perf_counter() - t0
            p.returncode = os.waitstatus_to_exitcode(status)
            err = p.stderr.read().decode(errors="replace").strip() if p.stderr else ""
            if p.returncode != 0:
                return {"case": name, "status": f"error: exit {p.returncode}: "
                                                f"{(err.splitlines() or ['?'])[-1]}"}
            if i:                                   # the first run only warms the caches
                walls.append(wall)
                peaks.append(ru.ru_maxrss * 1024.0)  # Linux: KiB
    return {"case": name, "size": QUICK_SIZE["cmd"] if quick else CASES[name][1],
            "quick": quick, "command": " ".join(cmd), "wall_median_s": statistics.median(walls),
            "wall_min_s": min(walls), "first_run_s": walls[0], "runs": len(walls),
            "sim_events": 0, "maxmin_solves": 0, "peak_rss_bytes": max(peaks), "status": "ok"}


def _child(name: str, quick: bool, repeats: int, single_run_s: float, timeout_s: float) -> dict:
    cmd = [sys.executable, "-m", "experiments.perf", "--child", name, "--repeats", str(repeats),
           "--single-run-s", str(single_run_s)] + (["--quick"] if quick else [])
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"case": name, "status": f"timeout > {timeout_s:g} s"}
    if p.returncode != 0:
        err = (p.stderr.strip().splitlines() or ["?"])[-1]
        return {"case": name, "status": f"error: {err}"}
    return json.loads(p.stdout.strip().splitlines()[-1]) | {"status": "ok"}


def _verdict(row: dict) -> str:
    name = row["case"]
    _, _, _, target, _ = CASES[name]
    if row.get("status") != "ok":
        return "FAIL"
    if name == "packet":
        return "pass" if row.get("events_per_s", 0) >= 300e3 else "FAIL"
    if "max_rel_diff" in row:
        return "pass" if row["max_rel_diff"] <= 1e-9 else "FAIL"
    if target is None:
        return "-"
    wall = row["wall_median_s"]
    if name.startswith("cmd-collective"):           # targets beyond interpreter start-up
        wall -= row.get("startup_s", 0.0)
    ok = wall <= target
    mem = MEMORY_TARGET_BYTES.get(name)
    if mem is not None:
        ok = ok and row["peak_rss_bytes"] <= mem
    return "pass" if ok else "FAIL"


def _fmt_time(s: float) -> str:
    if s != s:
        return "-"
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.perf",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: small sizes, one run per case, in this process")
    ap.add_argument("--cases", default=None, help="comma-separated case names (default all)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per case (default 5)")
    ap.add_argument("--single-run-s", type=float, default=30.0,
                    help="a case whose first run takes longer is not repeated (default 30)")
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="per-case time limit in seconds (default 900)")
    ap.add_argument("--out", type=Path, default=Path("results/perf"))
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    from sim import hugepages
    hugepages.default_off()     # as the cposim command does (an entry point owns its process)

    if args.child:
        print(json.dumps(measure(args.child, args.quick, args.repeats, args.single_run_s),
                         default=float))
        return 0

    from experiments.bench_fabric import machine
    from sim import io
    from sim.errors import CposimError

    names = list(CASES) if args.cases is None else [c.strip() for c in args.cases.split(",")]
    for c in names:
        if c not in CASES:
            raise CposimError(f"unknown case {c!r} (cases: {', '.join(CASES)})", field="cases")
    m = machine()
    print(f"machine: {m['cpu']}, {m['cores']} cores, load {m['load_avg_1m']:.2f}, "
          f"Python {m['python']}, numpy {m['numpy']}, SimPy {m['simpy']}")
    print("targets (README, 'Performance'): median wall time on one core of a 2-core machine; "
          "first run: "
          "the first, counted run in a fresh process"
          + (" -- QUICK: reduced sizes, targets do not apply" if args.quick else ""))
    w = max(len(n) for n in names)
    hdr = (f"{'case':{w}s} {'wall median':>12s} {'first run':>10s} {'runs':>4s} "
           f"{'SimPy events':>12s} {'solves':>7s} {'peak RSS':>9s}  {'target':18s} result")
    print(hdr)
    rows = []
    startup_s = 0.0
    if any(n.startswith("cmd-collective") for n in names) and "cmd-python-startup" not in names:
        got = measure_command("cmd-python-startup", args.quick, 3, args.timeout)
        startup_s = got.get("wall_median_s", 0.0)
    for name in names:
        if CASES[name][0] == "cmd":
            row = measure_command(name, args.quick, 1 if args.quick else args.repeats,
                                  args.timeout)
            if name == "cmd-python-startup" and row.get("status") == "ok":
                startup_s = row["wall_median_s"]
            row["startup_s"] = startup_s
        elif args.quick:
            row = measure(name, True, 1, args.single_run_s) | {"status": "ok"}
        else:
            row = _child(name, False, args.repeats, args.single_run_s, args.timeout)
        row["target"] = CASES[name][4]
        row["result"] = "-" if args.quick else _verdict(row)
        rows.append(row)
        if row.get("status") != "ok":
            print(f"{name:{w}s} {row['status']}")
            continue
        extra = ""
        if name == "packet":
            extra = f"  ({row['events_per_s'] / 1e3:.0f}k events/s)"
        elif "max_rel_diff" in row:
            extra = (f"  (max rel. diff {row['max_rel_diff']:.1e}; plain path "
                     f"{_fmt_time(row['plain_wall_s'])})")
        elif name.startswith("cmd-collective"):
            extra = (f"  ({_fmt_time(row['wall_median_s'] - row['startup_s'])} beyond "
                     f"start-up)")
        elif "sim_time_s" in row:
            extra = f"  (simulated {row['sim_time_s']:.6g} s)"
            if "solo_replays" in row:
                extra += f"  [{row['epochs']} epochs, {row['solo_replays']} replays]"
        print(f"{name:{w}s} {_fmt_time(row['wall_median_s']):>12s} "
              f"{_fmt_time(row['first_run_s']):>10s} {row['runs']:>4d} "
              f"{row['sim_events']:>12d} {row['maxmin_solves']:>7d} "
              f"{row['peak_rss_bytes'] / 2**30:>7.2f} GB  {row['target']:18s} "
              f"{row['result']}{extra}")
    df = pd.DataFrame(rows)
    for k, v in m.items():
        df[k] = v
    out = io.write_parquet(df, args.out / "perf.parquet")
    io.write_json(io.manifest("perf", config={k: (str(v) if isinstance(v, Path) else v)
                                              for k, v in vars(args).items()}, machine=m),
                  args.out / "perf.manifest.json")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
