"""Runtime: ranks walking a trace's dependency graph over a fabric (``simulate``)."""

from sim.runtime.engine import ComputeModel, Runtime
from sim.runtime.result import RunResult, simulate

__all__ = ["ComputeModel", "RunResult", "Runtime", "simulate"]
