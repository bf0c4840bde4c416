"""The one fabric interface: what the collectives layer and the runtime may ask of a network
model (:class:`Fabric`), and what a model promises them (:class:`Capabilities`).

The comm layer asks a fabric to start flows, to cost a plan and to account bytes and energy;
whether that is a closed form, max-min flows or packets is the fabric's business. Three
models implement it (:mod:`sim.fabric.analytical`, :mod:`sim.fabric.flow`,
:mod:`sim.fabric.packet`, on :class:`sim.fabric.base.FabricBase`):

* ``closed_form_time(plan)`` — a closed-form model returns the plan's time
  (``plan.closed_form_s(fabric)``: its alpha-beta model on this fabric's routes, written by
  the comm layer), the others None: they simulate the plan's flows with ``start_flows``.
* ``fast_forward_waves(...)`` — a model that can time a run of identical waves exactly in
  closed form does so (and decides when it cannot); the others return None.
* :class:`Capabilities` — the promises the speed-ups of :class:`sim.fabric.speed.SpeedOptions`
  rely on; a speed-up that needs a promise the model does not make falls back to the plain
  path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    import simpy

    from sim.fabric.accounting import LinkBytes, TechTable
    from sim.fabric.speed import SpeedOptions
    from sim.fabric.topology import Topology


@dataclass(frozen=True)
class Capabilities:
    """What a network model promises.

    ``closed_form``: every transfer is timed in closed form, alone — flows never slow each
    other (no contention). The runtime then replays every collective and send/recv from a
    memo computed on the fabric itself.

    ``periodic_schedules``: the model may be given a periodic schedule's repeated waves (one
    step's flows and a count) instead of every row of the full schedule — its timing and
    bytes depend only on the flows of each wave.

    ``replay``: traffic alone on its links takes the same time whenever it runs, so the
    runtime may measure an isolated collective once on a scratch copy and replay it.

    ``fixed_capacities``: link capacities never change during the run (no failure
    injection). Speed-ups that time traffic once and reuse the answer need it.
    """

    closed_form: bool = False
    periodic_schedules: bool = True
    replay: bool = True
    fixed_capacities: bool = True


class Plan(Protocol):
    """What a fabric may ask of a planned collective or transfer (written by the comm layer)."""

    def closed_form_s(self, fabric: Fabric) -> float:
        """The plan's alpha-beta time, alpha and B taken from ``fabric``'s routes."""
        ...


@runtime_checkable
class Fabric(Protocol):
    """A network model over a topology, driven by a SimPy environment."""

    env: simpy.Environment
    topology: Topology
    fidelity: str                   # the model's name, for reports (never branched on)
    speed: SpeedOptions             # the options it was built with
    stats: dict
    bytes_offered: float
    bytes_delivered: float

    @property
    def capabilities(self) -> Capabilities: ...

    # -- traffic ---------------------------------------------------------------------------
    def start_flows(self, src_gpu, dst_gpu, size_bytes) -> simpy.Event:
        """Start flows now; the event fires when all are delivered (value: per-flow delivery
        times, input order)."""
        ...

    def fast_forward_waves(self, src_gpu, dst_gpu, size_bytes,
                           count: int) -> simpy.Event | None:
        """``count`` identical waves back to back in closed form (value: waves completed), or
        None when that would not be exact."""
        ...

    def closed_form_time(self, plan: Plan) -> float | None:
        """The plan's time without simulating it, or None when the model simulates it."""
        ...

    def scratch_copy(self, env: simpy.Environment, speed: SpeedOptions | None = None) -> Fabric:
        """A private fabric of the same model and routes on ``env`` (caches shared)."""
        ...

    # -- cost queries ------------------------------------------------------------------------
    def route_info(self, src_gpu: np.ndarray, dst_gpu: np.ndarray) -> tuple[np.ndarray,
                                                                             np.ndarray]:
        """Per pair (latency_s, bottleneck_bps) of its route."""
        ...

    def carried(self, src_gpu: np.ndarray, dst_gpu: np.ndarray,
                size_bytes: np.ndarray) -> LinkBytes:
        """Bytes per link of flows along their routes (nothing booked)."""
        ...

    def path_latency_s(self, src_gpu: int, dst_gpu: int) -> float: ...

    def path_bottleneck_bps(self, src_gpu: int, dst_gpu: int) -> float: ...

    def path_links(self, src_gpu: int, dst_gpu: int) -> np.ndarray: ...

    # -- accounting --------------------------------------------------------------------------
    def account(self, link_bytes, delivered_bytes: float) -> None:
        """Book traffic timed elsewhere (closed forms, replays) into the totals."""
        ...

    def tech_table(self) -> TechTable: ...

    def by_technology(self, link_bytes: LinkBytes) -> tuple[dict, dict]:
        """(link bytes by technology, dynamic energy by technology)."""
        ...

    @property
    def link_bytes(self) -> np.ndarray: ...

    def energy_j(self) -> float: ...

    def energy_by_tech(self) -> dict: ...
