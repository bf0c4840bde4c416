"""Schedules whose every step moves the same flows, kept as one step and a count.

An algorithm declares which of its ops are periodic and their one step (registry fields
``periodic_ops`` / ``periodic_step``). A ring all-reduce / all-gather / reduce-scatter sends
``S/n`` from every rank to the next at every one of its ``2(n-1)`` (or ``n-1``) steps; only
*which block* travels changes, and that matters for the data semantics
(:mod:`sim.comm.semantics`), not for timing or bytes. Building the full schedule costs
``O(n^2)`` rows — 33 M rows and gigabytes at 4,096 GPUs — so the collectives layer times
these from one step: the same flows, the same pair bytes x the number of steps, and waves
that repeat (with chunking, a ramp of partly filled waves at each end).
:meth:`PeriodicSchedule.full` builds the real schedule when something needs its rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from sim.comm.algorithms.registry import find
from sim.comm.schedule import PairBytesMixin


@dataclass(frozen=True, eq=False)
class PeriodicSchedule(PairBytesMixin):
    op: str
    algorithm: str
    n: int
    size_bytes: float
    n_steps: int
    src: np.ndarray          # the flows of one step (communicator rank indices)
    dst: np.ndarray
    flow_bytes: np.ndarray
    root: int = 0
    phases: tuple[str, ...] = ()

    @property
    def n_rows(self) -> int:
        return self.n_steps * int(self.src.size)

    def pair_bytes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """As :meth:`Schedule.pair_bytes`, with ``inv`` over the rows of one step."""
        return self._pairs

    @cached_property
    def _pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        key = self.src * self.n + self.dst
        uniq, inv = np.unique(key, return_inverse=True)
        nb = np.bincount(inv, weights=self.flow_bytes, minlength=uniq.size) * self.n_steps
        return uniq, nb, inv

    def full(self):
        """The real schedule (every step, every block), built on first use."""
        return self._full

    @cached_property
    def _full(self):
        from sim.comm.algorithms import build_schedule
        return build_schedule(self.op, self.algorithm, self.n, self.size_bytes, root=self.root)

    def segments(self, chunks: int) -> list[tuple[float, int]]:
        """Runs of identical waves with ``chunks`` pipelined chunks: ``(fraction, count)``,
        where a wave moves ``fraction`` x one step's bytes (the chunks in flight / chunks)."""
        C, K = max(int(chunks), 1), self.n_steps
        if K == 0:
            return []
        top = min(C, K)           # waves ramp up 1..top-1 chunks, plateau, ramp down
        runs = [(m, 1) for m in range(1, top)] + [(top, abs(K - C) + 1)]
        runs += [(m, 1) for m in range(top - 1, 0, -1)]
        return [(m / C, c) for m, c in runs]


def periodic_schedule(op: str, algorithm: str, n: int, size_bytes: float,
                      root: int = 0) -> PeriodicSchedule | None:
    """The one-step form of ``op`` with ``algorithm`` (a registered name), or None if the
    algorithm declares none for ``op``."""
    alg = find(algorithm)
    if alg is None or op not in alg.periodic_ops or n < 2:
        return None
    k, src, dst, flow_bytes = alg.periodic_step(op, n, float(size_bytes))
    return PeriodicSchedule(op, algorithm, n, float(size_bytes), k, src, dst, flow_bytes, root)
