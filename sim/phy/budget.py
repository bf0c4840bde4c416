"""What a budget buys: the per-GPU scale-out bandwidth a power, shoreline or money budget affords.

A study compares link policies on a *comparison basis*:

* ``iso-bandwidth`` (the default) — every policy gets the cluster's own port rates; the
  comparison is "same bandwidth, how much power and money".
* ``iso-power`` — every policy gets the same scale-out network power per GPU
  (``network_power_per_gpu_w``: link ports of the leaf/spine/core tiers, host SerDes included,
  as ``network_power_w`` counts them);
* ``iso-shoreline`` — the same package edge for scale-out I/O (``shoreline_mm``);
* ``iso-cost`` — the same scale-out network capex per GPU (``cost_per_gpu_usd``: NIC, optics,
  cables, switch ports; prices in ``sim/phy/costs.csv``).

For each policy the budget decides the bandwidth each GPU gets, and the fabric is built with it.
This module is the arithmetic; :mod:`sim.fabric.budget` measures a built fabric (:class:`Demand`)
and builds the afforded one.

**Bounds** (per GPU, per direction, in bit/s; the smallest one *binds*):

* ``power``: ``P / w`` — ``w`` is the scale-out network power per GPU per bit/s of per-GPU
  bandwidth, measured on the built fabric at the policy's technologies and the cables' built
  lengths (so copper's reach steps, retimers and fallbacks to optics are in it). On a
  non-blocking Clos ``w`` is the energy per bit of the longest GPU-to-GPU path: a bit crosses
  2 x tiers hops, each costing the technology's pJ/bit at that tier's lengths
  (``sim.phy.resolve_link``); e.g. one switch: ``w = 2 E``.
* ``cost``: ``C / u`` — ``u`` the scale-out capex per GPU per bit/s, measured the same way.
* ``shoreline``: ``S x d_gpu`` — the GPU (NIC) package edge given to scale-out I/O times the
  shoreline density of the technology on the GPU's links (``tech.<t>.shoreline_<rate>``, Tb/s per
  mm per direction; the lowest if the links differ). Default edge ``budget.gpu_shoreline``.
* ``switch radix``: ``planes_max x floor(switch_lanes / radix) x lane_rate`` — a switch has
  ``radix`` ports and ``switch_lanes`` SerDes lanes (default: the preset's own switch, radix x its
  port width), so one plane's port is at most ``floor(switch_lanes / radix)`` lanes wide.
* ``switch shoreline`` (when ``switch_shoreline_mm`` is given): a switch package edge ``S_sw``
  carries ``S_sw x d_switch`` per direction, so a port is at most
  ``floor(S_sw x d_switch / (radix x lane_rate))`` lanes; times ``planes_max``.

**How bandwidth is added** (the rules; what the fabric is built with):

1. *Lanes*: the afforded bandwidth is a whole number of lanes, ``floor(bound / lane_rate)``; a
   budget that affords less than one lane is an error naming the budget.
2. *Wider ports first*: a GPU's lanes go into one port per plane, as wide as one plane's switch
   port allows (a port of more than 8 lanes is a bundle of 8-lane PHY ports).
3. *Then more NICs / planes*: when the lanes exceed one plane's port, the scale-out fabric gets
   more planes (each a full copy of the leaf/spine/core network with the same radix, the GPU's
   lanes split evenly across them, as a multi-plane NIC does), up to ``max_planes``
   (``budget.max_planes``). The lane count is lowered to the largest that splits evenly; of the
   splits, the fewest planes wins.
4. *Faster lanes where the technology has them*: each lane rate in the study's ``lane_rates``
   (default: the cluster's own, i.e. its SerDes generation) is tried and the one affording the
   most bandwidth is built (ties: the first listed).
5. Everything else stays: the scale-up domain, the oversubscription, the placement, the policy
   (technologies fall back by reach exactly as at iso-bandwidth). The budget is verified on the
   built fabric; if a rebuilt fabric (new planes move switches, so cable lengths change) exceeds
   it, one lane less is tried until it fits.

More budget never lowers the afforded bandwidth: each bound grows with its budget and the set of
evenly splittable lane counts below a bound only grows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sim.errors import CposimError

BASES = ("iso-bandwidth", "iso-power", "iso-shoreline", "iso-cost")
# the budget each basis holds equal, and the config field that names it
BUDGET_OF = {"iso-power": "power", "iso-shoreline": "shoreline", "iso-cost": "cost"}
FIELD_OF = {"power": "budget.network_power_per_gpu_w", "shoreline": "budget.shoreline_mm",
            "cost": "budget.cost_per_gpu_usd", "switch radix": "budget.switch_lanes",
            "switch shoreline": "budget.switch_shoreline_mm"}
UNIT_OF = {"power": ("W", 1.0), "shoreline": ("mm", 1e3), "cost": ("USD", 1.0)}


@dataclass(frozen=True)
class Demand:
    """What per-GPU scale-out bandwidth costs on one fabric and lane rate (per bit/s, per
    direction, of per-GPU bandwidth)."""

    lane_rate_bps: float
    w_per_bps: float                  # scale-out network W per GPU per bit/s
    usd_per_bps: float                # scale-out capex USD per GPU per bit/s
    gpu_density_bps_per_m: float      # shoreline density of the GPU-side technology
    switch_density_bps_per_m: float   # lowest shoreline density on the switches
    radix: int                        # ports per switch
    switch_lanes: int                 # SerDes lanes per switch ASIC
    label: str = ""                   # the policy, for messages


@dataclass(frozen=True)
class Budget:
    """Budgets per GPU (SI: W, m, USD); ``None`` = not limited by it. ``max_planes``: ``None``
    = ``budget.max_planes`` of ``sim/phy/costs.csv``."""

    power_w: float | None = None
    shoreline_m: float | None = None
    cost_usd: float | None = None
    switch_shoreline_m: float | None = None
    max_planes: int | None = None

    @property
    def planes_max(self) -> int:
        if self.max_planes is not None:
            return int(self.max_planes)
        from sim.phy.costs import load_costs
        return int(load_costs()["budget.max_planes"])


@dataclass(frozen=True)
class Afforded:
    """The bandwidth a budget affords one GPU and how it is built."""

    lane_rate_bps: float
    lanes: int                        # lanes per GPU (all planes)
    planes: int
    binding: str                      # the bound that limits it
    bounds_bps: dict[str, float] = field(default_factory=dict)

    @property
    def bandwidth_bps(self) -> float:
        return self.lanes * self.lane_rate_bps

    @property
    def lanes_per_plane(self) -> int:
        return self.lanes // self.planes


def port_lanes_max(d: Demand, b: Budget) -> tuple[int, str]:
    """The widest port (lanes) one plane's switch takes, and what limits it."""
    m, what = d.switch_lanes // max(d.radix, 1), "switch radix"
    if b.switch_shoreline_m is not None:
        s = math.floor(b.switch_shoreline_m * d.switch_density_bps_per_m
                       / (d.radix * d.lane_rate_bps) * (1 + 1e-12))
        if s < m:
            m, what = s, "switch shoreline"
    return m, what


def split(lanes: int, per_plane: int, max_planes: int) -> tuple[int, int]:
    """The largest ``n <= lanes`` that splits evenly into ``p <= max_planes`` planes of at most
    ``per_plane`` lanes, and the fewest such ``p``: ``(n, p)``; ``(0, 0)`` if none."""
    for n in range(min(lanes, per_plane * max_planes), 0, -1):
        for p in range(math.ceil(n / per_plane), max_planes + 1):
            if n % p == 0:
                return n, p
    return 0, 0


def _fmt(v: float, unit: str) -> str:
    return f"{v:.4g} {unit}"


def afford(d: Demand, b: Budget, *, max_lanes: int | None = None) -> Afforded:
    """The afforded lanes per GPU under every given budget (see the module docstring).

    ``max_lanes`` caps the lanes (used when a rebuilt fabric overshoots its budget)."""
    rate = d.lane_rate_bps
    bounds: dict[str, float] = {}
    if b.power_w is not None:
        bounds["power"] = b.power_w / d.w_per_bps if d.w_per_bps > 0 else math.inf
    if b.cost_usd is not None:
        bounds["cost"] = b.cost_usd / d.usd_per_bps if d.usd_per_bps > 0 else math.inf
    if b.shoreline_m is not None:
        bounds["shoreline"] = b.shoreline_m * d.gpu_density_bps_per_m
    per_plane, what = port_lanes_max(d, b)
    planes_max = b.planes_max
    bounds[what] = planes_max * per_plane * rate
    binding = min(bounds, key=lambda k: bounds[k])        # the switch bound is always finite
    lanes = math.floor(bounds[binding] / rate * (1 + 1e-12))
    if max_lanes is not None:
        lanes = min(lanes, max_lanes)
    n, p = split(lanes, per_plane, planes_max)
    if n < 1:
        who = f" with {d.label}" if d.label else ""
        if binding in UNIT_OF:
            unit, scale = UNIT_OF[binding]
            given = {"power": b.power_w, "shoreline": b.shoreline_m, "cost": b.cost_usd}[binding]
            need = {"power": d.w_per_bps * rate, "cost": d.usd_per_bps * rate,
                    "shoreline": rate / d.gpu_density_bps_per_m if d.gpu_density_bps_per_m
                    else math.inf}[binding]
            msg = (f"a budget of {_fmt(given * scale, unit)} per GPU affords "
                   f"{bounds[binding] / rate:.3g} lanes of {rate / 1e9:g} Gb/s{who}; one lane "
                   f"needs {_fmt(need * scale, unit)}")
        else:
            msg = (f"no lane of {rate / 1e9:g} Gb/s fits one switch port{who} ({what}: "
                   f"{d.switch_lanes} lanes over {d.radix} ports)")
        raise CposimError(msg, field=FIELD_OF[binding])
    return Afforded(rate, n, p, binding, bounds)
