"""Fabric speed: one max-min solve at 8,192 and 32,768 flows, and ``packet`` events per second.

``python -m experiments.bench_fabric [--quick] [--repeats N] [--out results/perf]``

* Solve: a random permutation (one flow per host) on a 2-tier leaf-spine, 32 hosts per leaf,
  4:1 oversubscribed, ECMP hash; the time of ``maxmin_rates`` on the full incidence (median
  of ``repeats``), and of a whole ``flow``-model epoch (start all flows + the batched solve).
  Targets (README, "Performance"): <= 20 ms (8,192) and <= 60 ms (32,768), median, one core.
* Packet: a permutation of 1 MiB messages over 64 hosts; SimPy events handled per wall second
  (target >= 300k/s), per wall and per CPU second (a shared machine's load shows in the
  first only), next to a bare SimPy timeout loop on the same machine for scale.

Writes ``results/perf/fabric.parquet`` (+ ``fabric.manifest.json``). Prints the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import simpy

from sim import io
from sim.fabric import build_topology, make_fabric
from sim.fabric.maxmin import maxmin_rates


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "simpy": simpy.__version__,
            "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def bench_solve(n_hosts: int, repeats: int, seed: int = 0) -> dict:
    topo = build_topology("leaf-spine", gpus=n_hosts, su_gpus=32, oversubscription=4,
                          radix=max(64, n_hosts // 32), policy="copper-first")
    rng = np.random.default_rng(seed)
    dst = rng.permutation(n_hosts)
    src = np.arange(n_hosts)
    env = simpy.Environment()
    fab = make_fabric(env, topo, fidelity="flow")
    t0 = time.perf_counter()
    rids = fab.router.route_ids(src, dst)
    route_s = time.perf_counter() - t0
    ptr, links, coef, _, _ = fab.router.table()
    lens = ptr[rids + 1] - ptr[rids]
    keep = lens > 0
    rids, lens = rids[keep], lens[keep]
    idx = np.repeat(ptr[rids] - (np.cumsum(lens) - lens), lens) + np.arange(lens.sum())
    indptr = np.concatenate(([0], np.cumsum(lens)))
    times, cpu, rounds = [], [], 0
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        _, rounds = maxmin_rates(indptr, links[idx], topo.capacity_bps, coef[idx],
                                 return_rounds=True)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    epochs = []
    for _ in range(max(1, repeats // 2)):
        env = simpy.Environment()
        fab = make_fabric(env, topo, fidelity="flow")
        fab.start_flows(src, dst, np.full(n_hosts, 2.0 ** 20))   # routes computed here
        env = fab.env
        t0 = time.perf_counter()
        env.step()                                                # the batched solve
        epochs.append(time.perf_counter() - t0)
    return {"bench": "maxmin_solve", "flows": int(keep.sum()), "rounds": int(rounds),
            "median_s": statistics.median(times), "min_s": min(times),
            "cpu_median_s": statistics.median(cpu),
            "epoch_solve_median_s": statistics.median(epochs), "route_s": route_s,
            "target_s": 0.020 if n_hosts <= 8192 else 0.060}


def bench_packet(message_bytes: float, hosts: int = 64) -> dict:
    topo = build_topology("leaf-spine", gpus=hosts, su_gpus=16, radix=16, oversubscription=2)
    rng = np.random.default_rng(1)
    env = simpy.Environment()
    fab = make_fabric(env, topo, fidelity="packet")
    fab.start_flows(np.arange(hosts), rng.permutation(hosts), np.full(hosts, message_bytes))
    t0, c0 = time.perf_counter(), time.process_time()
    env.run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ev = fab.stats["sim_events"]
    return {"bench": "packet_events", "flows": hosts, "events": ev, "packets": fab.stats["packets"],
            "wall_s": wall, "cpu_s": cpu, "events_per_s": ev / wall,
            "events_per_cpu_s": ev / cpu, "target_events_per_s": 300e3}


def bench_simpy_baseline(n: int = 200_000) -> dict:
    env = simpy.Environment()

    def p():
        for _ in range(n // 100):
            yield env.timeout(1)

    for _ in range(100):
        env.process(p())
    t0, c0 = time.perf_counter(), time.process_time()
    env.run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"bench": "simpy_timeout_baseline", "events": n, "wall_s": wall, "cpu_s": cpu,
            "events_per_s": n / wall, "events_per_cpu_s": n / cpu}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, one repeat (smoke test)")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--out", type=Path, default=Path("results/perf"))
    args = ap.parse_args(argv)
    m = machine()
    print(f"machine: {m['cpu']}, {m['cores']} cores, load {m['load_avg_1m']}, "
          f"Python {m['python']}, "
          f"numpy {m['numpy']}, SimPy {m['simpy']}")
    rows = []
    sizes = (1024, 2048) if args.quick else (8192, 32768)
    reps = 1 if args.quick else args.repeats
    for n in sizes:
        r = bench_solve(n, reps)
        rows.append(r)
        print(f"max-min solve, {r['flows']:6d} flows (4:1 oversubscribed, random permutation): "
              f"median {r['median_s'] * 1e3:7.2f} ms (CPU {r['cpu_median_s'] * 1e3:.2f} ms, "
              f"min {r['min_s'] * 1e3:.2f}, {r['rounds']} rounds; "
              f"whole flow-model epoch {r['epoch_solve_median_s'] * 1e3:.2f} ms; "
              f"routing {r['route_s'] * 1e3:.0f} ms)  target <= {r['target_s'] * 1e3:.0f} ms")
    base = bench_simpy_baseline(50_000 if args.quick else 500_000)
    rows.append(base)
    pk = bench_packet(2.0 ** 16 if args.quick else 2.0 ** 20)
    rows.append(pk)
    print(f"packet model: {pk['events']} SimPy events ({pk['packets']} packet-hops) in "
          f"{pk['wall_s']:.2f} s = {pk['events_per_s'] / 1e3:.0f}k events/s wall, "
          f"{pk['events_per_cpu_s'] / 1e3:.0f}k per CPU-second (target >= 300k); bare SimPy "
          f"timeout loop here: {base['events_per_s'] / 1e3:.0f}k wall, "
          f"{base['events_per_cpu_s'] / 1e3:.0f}k per CPU-second")
    df = pd.DataFrame(rows)
    for k, v in m.items():
        df[k] = v
    df["quick"] = args.quick
    out = io.write_parquet(df, args.out / "fabric.parquet")
    io.write_json(io.manifest("bench_fabric", config=vars(args) | {"out": str(args.out)},
                              machine=m), args.out / "fabric.manifest.json")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
