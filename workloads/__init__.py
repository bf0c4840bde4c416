"""Workload traces: the canonical model, readers for peer formats, and generators."""

from workloads.trace import COLLECTIVES, OP_KINDS, Group, Op, Program, Trace

__all__ = ["COLLECTIVES", "OP_KINDS", "Group", "Op", "Program", "Trace"]
