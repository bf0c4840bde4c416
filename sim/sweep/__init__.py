"""Parameter sweeps: grids x seeds, run locally or on Dask, resumable point by point."""

from sim.sweep.grid import Point, SweepSection, apply_overrides, expand
from sim.sweep.runner import run_point, run_sweep
from sim.sweep.store import PointStore, tidy

__all__ = ["Point", "PointStore", "SweepSection", "apply_overrides", "expand", "run_point",
           "run_sweep", "tidy"]
