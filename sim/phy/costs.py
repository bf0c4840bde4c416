"""Money, energy prices and carbon: the sourced table ``costs.csv`` and what a fabric costs.

``costs.csv`` has the columns of ``parameters.csv`` (``key, value, unit, source, grade, note``;
grades A primary, B trade press quoting one, C secondary, D derived with the arithmetic in
``note``, U unverified). Its rows:

* ``price.<table>.*`` — what a link technology costs, per 800G-equivalent (8 x 100G lanes):
  ``end_800g`` per link end (module, optical engine), ``laser_800g`` per end for an external
  laser source, ``cable_800g`` per cable for copper (both plugs and the twinax);
  ``price.fiber.cable`` per physical optical cable; ``price.switch.port_800g`` a switch port
  (optics separate); ``price.nic.port_400g`` a NIC port; ``price.gpu.unit`` a GPU.
  A 200G-lane part costs ``price.rate_200g_factor`` times as much per Gb/s as a 100G-lane part.
* ``energy.*``, ``carbon.*``, ``facility.pue``, ``capex.lifetime`` — electricity price, grid
  carbon intensity, power usage effectiveness, and the straight-line amortisation life.
* ``budget.*`` — defaults of the comparison bases (:mod:`sim.phy.budget`).

``costs[key]`` is the SI value: USD stay USD, ``USD/kWh`` becomes USD per joule, ``kg/kWh``
kg per joule, ``year`` seconds, ``mm`` metres. Overrides (``{key: number}``, in the table's unit)
make a copy; an unknown key is a :class:`~sim.errors.CposimError` naming it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sim.errors import CposimError
from sim.phy import registry
from sim.phy.parameters import Param, SourcedTable, flatten, read_sourced_csv

TABLE = Path(__file__).with_name("costs.csv")
# table unit -> factor to SI (money stays in USD)
UNITS: Mapping[str, float] = {
    "USD": 1.0, "W": 1.0, "1": 1.0, "count": 1.0, "mm": 1e-3,
    "year": 365.25 * 86400.0,                  # Julian year, s
    "USD/kWh": 1.0 / 3.6e6,                    # -> USD per J
    "kg/kWh": 1.0 / 3.6e6,                     # -> kg per J
}
PORT_BPS = 800e9          # the price rows are per 800G-equivalent (8 x 100G lanes)
NIC_PORT_BPS = 400e9


def _number(value: Any, unit: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise CposimError(f"cannot read {value!r} as a number of {unit}", field=key)
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and unit not in ("1", "count") and text.endswith(unit):
        text = text[: -len(unit)].strip()
    try:
        out = float(text)
    except ValueError:
        raise CposimError(f"cannot read {value!r} as a number of {unit}", field=key) from None
    if not math.isfinite(out) or out < 0:
        raise CposimError(f"{value!r} must be a finite number >= 0", field=key)
    return out


@dataclass(frozen=True, eq=False)
class Costs(SourcedTable):
    """The resolved cost table: ``costs[key]`` is the SI value, ``costs.param(key)`` the row."""

    UNKNOWN = "unknown cost parameter {key!r} (see sim/phy/costs.csv)"

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> Costs:
        """A copy with ``overrides`` (numbers in the table's unit, possibly nested) applied."""
        if not overrides:
            return self
        entries = dict(self.entries)
        applied = dict(self.overrides)
        for key, raw in flatten(overrides).items():
            old = self.param(key)
            value = _number(raw, old.unit, f"costs.{key}")
            si = value * UNITS[old.unit]
            entries[key] = Param(key, value, old.unit, si, old.source, old.grade, old.note,
                                 overridden=True)
            applied[key] = si
        return Costs(entries, tuple(sorted(applied.items())))


def _convert(text: str, unit: str, key: str) -> tuple[float, float]:
    value = _number(text, unit, key)
    return value, value * UNITS[unit]


def _read(path: Path) -> dict[str, Param]:
    return read_sourced_csv(path, UNITS, _convert)


@lru_cache(maxsize=1)
def _defaults() -> Costs:
    return Costs(_read(TABLE))


def load_costs(overrides: Mapping[str, Any] | None = None) -> Costs:
    """The default cost table with ``overrides`` (``{key: value}`` in the table's unit)."""
    return _defaults().with_overrides(overrides)


def _rate_factor(lane_rate_bps: float, costs: Costs) -> float:
    return 1.0 if lane_rate_bps <= 100e9 * (1 + 1e-9) else costs["price.rate_200g_factor"]


@dataclass(frozen=True)
class TechPrice:
    """What one bit/s of a technology's port capacity costs (USD per bit/s), and its cables."""

    tech: str
    end_usd_per_bps: float       # per link end: module / optical engine + laser source
    laser_usd_per_bps: float     # the laser-source part of end_usd_per_bps
    cable_usd_per_bps: float     # copper cable (both plugs), per cable
    fiber_usd_per_cable: float   # per physical optical cable


def tech_price(tech: str, lane_rate_bps: float, costs: Costs | None = None) -> TechPrice:
    """The price rows of ``tech`` (a registered technology) at ``lane_rate_bps``."""
    c = costs if costs is not None else load_costs()
    entry = registry.get(tech)
    t = entry.table
    keys = {k: f"price.{t}.{k}_800g" for k in ("end", "laser", "cable")}
    if not any(k in c.entries for k in keys.values()):
        raise CposimError(f"no price for technology {tech!r}: add price.{t}.end_800g (optics, per "
                          f"end) or price.{t}.cable_800g (copper, per cable) to sim/phy/costs.csv",
                          field="tech")
    f = _rate_factor(lane_rate_bps, c) / PORT_BPS
    got = {k: (c[key] * f if key in c.entries else 0.0) for k, key in keys.items()}
    return TechPrice(tech, got["end"] + got["laser"], got["laser"], got["cable"],
                     c["price.fiber.cable"] if entry.optical else 0.0)


def switch_usd_per_bps(lane_rate_bps: float, costs: Costs | None = None) -> float:
    c = costs if costs is not None else load_costs()
    return c["price.switch.port_800g"] * _rate_factor(lane_rate_bps, c) / PORT_BPS


def nic_usd_per_bps(lane_rate_bps: float, costs: Costs | None = None) -> float:
    c = costs if costs is not None else load_costs()
    return c["price.nic.port_400g"] * _rate_factor(lane_rate_bps, c) / NIC_PORT_BPS


def iteration_economics(*, iteration_s: float, gpus: int, scaleout_energy_j: float,
                        network_energy_j: float, scaleout_capex_usd: float,
                        costs: Costs | None = None) -> dict[str, float]:
    """Dollars and CO2 of one iteration.

    *Network* (the scale-out network the comparison bases change): its capex amortised
    straight-line over ``capex.lifetime`` for the iteration's duration, plus its energy
    (``scaleout_energy_j``) x PUE x electricity price; CO2 = energy x PUE x grid intensity.
    *Cluster*: the same with the GPUs (``price.gpu.unit`` each, drawing ``energy.gpu_power``)
    and the whole network's energy (``network_energy_j``, scale-up included; the scale-up
    domain's own capex is not priced). Embodied carbon is not counted.
    """
    c = costs if costs is not None else load_costs()
    life, price, co2, pue = (c["capex.lifetime"], c["energy.electricity_price"],
                             c["carbon.grid_intensity"], c["facility.pue"])
    gpu_energy = gpus * c["energy.gpu_power"] * iteration_s
    cluster_energy = network_energy_j + gpu_energy
    cluster_capex = scaleout_capex_usd + gpus * c["price.gpu.unit"]
    net_capex_iter = scaleout_capex_usd * iteration_s / life
    net_energy_usd = scaleout_energy_j * pue * price
    return {
        "network_capex_usd_per_iteration": net_capex_iter,
        "network_energy_usd_per_iteration": net_energy_usd,
        "network_usd_per_iteration": net_capex_iter + net_energy_usd,
        "network_kgco2e_per_iteration": scaleout_energy_j * pue * co2,
        "cluster_usd_per_iteration": cluster_capex * iteration_s / life
        + cluster_energy * pue * price,
        "cluster_kgco2e_per_iteration": cluster_energy * pue * co2,
    }
