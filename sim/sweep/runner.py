"""Run a sweep's points on a local process pool (default), serially, or on a Dask cluster.

The task is a pure function ``task(config: dict, seed: int) -> dict`` named by import path
(``"package.module:function"``), so workers build their own simulation (nothing heavy is
pickled). Results are stored per point as they finish; a failed point is recorded with its
error and does not stop the others. Points are seeded from the sweep config, never from the
worker, so results are identical whatever the backend or the number of workers.
"""

from __future__ import annotations

import concurrent.futures as cf
import importlib
import logging
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from sim.errors import CposimError
from sim.sweep.grid import Point, apply_overrides
from sim.sweep.store import PointStore

log = logging.getLogger(__name__)


def resolve_task(path: str) -> Callable[[dict, int], dict]:
    mod, _, fn = path.partition(":")
    try:
        return getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as exc:
        raise CposimError(f"cannot load sweep task {path!r}: {exc}", field="sweep.task") from None


def run_point(task_path: str, base: dict, point: Point) -> dict[str, Any]:
    """Run one point; never raises — a failure becomes a row with its error."""
    t0 = time.perf_counter()
    row: dict[str, Any] = {"point_key": point.key, **point.as_dict()}
    try:
        task = resolve_task(task_path)
        cfg = apply_overrides(base, dict(point.overrides))
        out = task(cfg, point.seed)
        row.update(out)
        row["status"] = "ok"
        row["error"] = ""
    except CposimError as exc:
        row["status"] = "failed"
        row["error"] = exc.one_line()
    except Exception as exc:  # a bug in one point must not kill the sweep
        row["status"] = "failed"
        row["error"] = f"{type(exc).__name__}: {exc}"
        log.debug("point %s failed:\n%s", point.key, traceback.format_exc())
    row["wall_s"] = time.perf_counter() - t0
    return row


def run_sweep(task_path: str, base: dict, points: list[Point], store: PointStore, *,
              workers: int | None = None, scheduler: str | None = None,
              progress: bool = True) -> list[str]:
    """Run the points not yet in ``store``; return the keys computed in this call."""
    done = store.done_keys()
    todo = [p for p in points if p.key not in done]
    if len(todo) < len(points):
        log.info("resuming: %d of %d points already done", len(points) - len(todo), len(points))
    bar = tqdm(total=len(points), initial=len(points) - len(todo), disable=not progress,
               unit="point", desc="sweep")
    computed = []

    def record(row: dict) -> None:
        store.save(row["point_key"], row)
        computed.append(row["point_key"])
        bar.update(1)

    try:
        if scheduler:
            _run_dask(task_path, base, todo, scheduler, record)
        elif workers == 1 or len(todo) <= 1:
            for p in todo:
                record(run_point(task_path, base, p))
        else:
            n = workers or min(len(todo), os.cpu_count() or 1)
            with cf.ProcessPoolExecutor(max_workers=n) as pool:
                futures = [pool.submit(run_point, task_path, base, p) for p in todo]
                for fut in cf.as_completed(futures):
                    record(fut.result())
    finally:
        bar.close()
    return computed


def _run_dask(task_path: str, base: dict, todo: list[Point], scheduler: str,
              record: Callable[[dict], None]) -> None:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise CposimError("--scheduler needs Dask: pip install 'cposim[dask]'",
                          field="--scheduler") from None
    try:
        client = Client(scheduler, timeout="10s")
    except OSError as exc:
        raise CposimError(f"cannot reach the Dask scheduler at {scheduler}: {exc}",
                          field="--scheduler") from None
    try:
        futures = [client.submit(run_point, task_path, base, p, key=f"cposim-{p.key}", pure=False)
                   for p in todo]
        for fut in as_completed(futures):
            record(fut.result())
    finally:
        client.close()
