"""Collective operation names, the nccl-tests size convention and bus-bandwidth factors.

Size convention (nccl-tests ``doc/PERFORMANCE.md``): ``size_bytes`` is the whole buffer —
the all-reduce array, the all-gather *output*, the reduce-scatter *input*, everything one
rank sends in an all-to-all *including its own share*, the broadcast/reduce buffer.
"""

from __future__ import annotations

from sim.errors import CposimError

# Same strings as workloads.trace.COLLECTIVES (barrier is a zero-byte all-reduce there).
OPS = ("allreduce", "allgather", "reducescatter", "alltoall", "broadcast", "reduce")

_ALIASES = {"all-reduce": "allreduce", "all_reduce": "allreduce", "ar": "allreduce",
            "all-gather": "allgather", "all_gather": "allgather", "ag": "allgather",
            "reduce-scatter": "reducescatter", "reduce_scatter": "reducescatter",
            "rs": "reducescatter", "all-to-all": "alltoall", "all_to_all": "alltoall",
            "a2a": "alltoall", "bcast": "broadcast"}


def as_collective(collective: str, size_bytes: float) -> tuple[str, float]:
    """The operation and size a trace's collective runs as: a ``barrier`` is a zero-byte
    all-reduce (it pays the latencies of every step and carries nothing)."""
    if collective == "barrier":
        return "allreduce", 0.0
    return collective, size_bytes


def normalise_op(op: str, field: str = "op") -> str:
    name = _ALIASES.get(str(op).lower(), str(op).lower())
    if name not in OPS:
        raise CposimError(f"unknown collective {op!r}; choose from {', '.join(OPS)}", field=field)
    return name


def busbw_factor(op: str, n: int) -> float:
    """nccl-tests bus-bandwidth factor: ``busbw = algbw * factor`` (``doc/PERFORMANCE.md``)."""
    op = normalise_op(op)
    if n < 1:
        raise CposimError(f"a communicator needs at least one rank, got {n}", field="n")
    if op == "allreduce":
        return 2.0 * (n - 1) / n
    if op in ("allgather", "reducescatter", "alltoall"):
        return (n - 1) / n
    return 1.0  # broadcast, reduce
