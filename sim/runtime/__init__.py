"""Runtime: ranks walking a trace's dependency graph over a fabric (``simulate``)."""

from sim.fabric.speed import SpeedOptions
from sim.runtime.engine import ComputeModel, Runtime
from sim.runtime.result import RunResult, simulate

__all__ = ["ComputeModel", "RunResult", "Runtime", "SpeedOptions", "simulate"]
