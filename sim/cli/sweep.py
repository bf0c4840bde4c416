"""``cposim sweep CONFIG.toml``: a parameter study, resumable, on a process pool or Dask."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.errors import CposimError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run a parameter study (resumable)",
                       description="Cross [sweep.grid] with [sweep].seeds over the base config; "
                       "each finished point is saved at once, so a rerun resumes.")
    p.add_argument("config", type=Path, help="TOML file with a [sweep] table")
    p.add_argument("--out", type=Path, default=None,
                   help="results folder (default: results/<sweep name>)")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: one per core; 1 = serial)")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                   help="run on this Dask scheduler instead of a local pool")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    import pydantic

    from sim import io
    from sim.config import PATH_KEYS, load_toml, resolve_paths, validation_error
    from sim.sweep import PointStore, SweepSection, expand, run_sweep, tidy

    cfg = resolve_paths(load_toml(args.config), Path(args.config).parent)
    sweep_raw = cfg.pop("sweep", None)
    if sweep_raw is None:
        raise CposimError("no [sweep] table", file=str(args.config), field="sweep")
    try:
        sweep = SweepSection.model_validate(sweep_raw)
    except pydantic.ValidationError as exc:
        raise validation_error(exc, str(args.config), "sweep") from None
    base = Path(args.config).parent
    for section, key in PATH_KEYS:        # swept file names are read like the base config's
        values = sweep.grid.get(f"{section}.{key}")
        if values is not None:
            sweep.grid[f"{section}.{key}"] = [
                resolve_paths({section: {key: v}}, base)[section][key] for v in values]
    if args.workers is not None and args.workers < 1:
        raise CposimError("must be at least 1", field="--workers")
    try:
        points = expand(sweep.grid, sweep.seeds)
    except CposimError as exc:   # name the config file
        if exc.file is not None:
            raise
        raise CposimError(exc.message, file=str(args.config), field=exc.field) from None
    out = args.out or Path("results") / sweep.name
    store = PointStore(out)
    computed = run_sweep(sweep.task, cfg, points, store, workers=args.workers,
                         scheduler=args.scheduler, progress=not args.no_progress)
    table = store.table([p.key for p in points])
    io.write_parquet(table, out / "sweep.parquet")
    if sweep.task == "sim.study:sweep_point":     # its columns are <policy>.<metric>
        io.write_parquet(tidy(table, list(sweep.grid)), out / "sweep_tidy.parquet")
    io.write_json(io.manifest(sweep.name, config={"sweep": sweep.model_dump(), **cfg},
                              points=len(points), computed_now=len(computed)),
                  out / "manifest.json")
    failed = int((table["status"] != "ok").sum()) if "status" in table else 0
    print(f"{len(points)} points ({len(computed)} computed now, "
          f"{len(points) - len(computed)} reused), {failed} failed -> {out / 'sweep.parquet'}")
    return 0
