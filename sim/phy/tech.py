"""Link technologies as data: one frozen :class:`TechSpec` per technology and lane rate.

Which technologies exist, what kind each is and which rows of ``parameters.csv`` hold its
numbers is the registry's business (:mod:`sim.phy.registry`); this module turns an entry
and the table into the :class:`TechSpec` a link is resolved from.

Rates. ``lane_rate_bps`` is the *nominal* lane rate (100 or 200 Gb/s), the MAC payload rate, and
``capacity_bps = lanes x lane_rate_bps`` (8 lanes: 800G or 1.6T per port). The PAM4 line rate
(106.25 / 212.5 Gb/s at 53.125 / 106.25 GBd) already carries the RS(544,514) FEC and 256b/257b
transcoding overhead, so it is never used for capacity; the channel model uses its Nyquist
frequency, half the baud rate (26.5625 / 53.125 GHz).

Energy convention: a SerDes pJ/bit is the whole TX+RX lane divided by the lane
rate, and a module's watts count its TX and RX paths, so one hop costs one lane-equivalent of
SerDes plus ``P_module / capacity`` once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.errors import CposimError
from sim.phy import channel, registry

# Technology names in CLI order and their one-line descriptions: views of the registry, so a
# technology registered later (an experiment, a test) is listed too.
TECHNOLOGIES = registry.NamesView()
DESCRIPTION = registry.View(lambda: {t.name: t.description for t in registry.entries()})
FAILURE_COMPONENTS = ("lasers", "dsps", "retimers", "drivers", "tias", "photodiodes",
                      "optical_connectors", "electrical_connectors")
_FIT_KEY = {"lasers": "laser", "dsps": "dsp", "retimers": "retimer", "drivers": "driver",
            "tias": "tia", "photodiodes": "photodiode", "optical_connectors": "optical_connector",
            "electrical_connectors": "electrical_connector"}


def technologies() -> list[str]:
    """The technology names, in CLI spelling."""
    return list(registry.names())


def table_name(tech: str) -> str:
    """``"copper-dac"`` -> ``"copper_dac"`` (the entry's key prefix in ``parameters.csv``)."""
    return registry.get(tech).table


def check_tech(tech: str) -> str:
    registry.get(tech)
    return tech


@dataclass(frozen=True, slots=True)
class FailureSpec:
    """Per-port-end component counts and FITs (failures per 1e9 h); repair times in seconds."""

    counts_per_end: dict[str, float]
    fit_per_component: dict[str, float]
    cable_fit: float
    repair_time_s: float                 # for field-replaceable failures (module, cable, laser)
    nonreplaceable_repair_time_s: float  # e.g. a CPO engine on a GPU/NIC board: board swapped
    laser_field_replaceable: bool
    # False where the engine sits on its host's package (CPO, optical I/O): a non-laser
    # failure swaps the host -- a switch (sim/faults/parameters.csv switch.repair_time) or a
    # board (nonreplaceable_repair_time); True for modules and cables (the part is swapped)
    engine_field_replaceable: bool = True

    @property
    def fit_per_end(self) -> float:
        return sum(n * self.fit_per_component[c] for c, n in self.counts_per_end.items())

    @property
    def laser_fit_per_end(self) -> float:
        return self.counts_per_end["lasers"] * self.fit_per_component["lasers"]

    @property
    def fit_per_link(self) -> float:
        return 2 * self.fit_per_end + self.cable_fit

    def as_dict(self) -> dict[str, float | bool | dict[str, float]]:
        fit_link = self.fit_per_link
        return {
            "counts_per_end": dict(self.counts_per_end),
            "fit_per_component": dict(self.fit_per_component),
            "lasers_per_link": 2 * self.counts_per_end["lasers"],
            "laser_fit_per_end": self.laser_fit_per_end,
            "fit_per_end": self.fit_per_end,
            "cable_fit": self.cable_fit,
            "fit_per_link": fit_link,
            "mtbf_link_h": 1e9 / fit_link if fit_link > 0 else float("inf"),
            "repair_time_s": self.repair_time_s,
            "nonreplaceable_repair_time_s": self.nonreplaceable_repair_time_s,
            "laser_field_replaceable": self.laser_field_replaceable,
            "engine_field_replaceable": self.engine_field_replaceable,
        }


@dataclass(frozen=True, slots=True)
class TechSpec:
    """One technology at one lane rate: everything but the length-dependent channel."""

    tech: str
    lane_rate_bps: float          # nominal (MAC payload) rate of a lane
    line_rate_bps: float          # PAM4 line rate incl. FEC + transcoding overhead
    nyquist_hz: float
    lanes: int
    optical: bool
    medium: str                   # "twinax" or "fiber"
    prop_delay_s_per_m: float
    host_path: str                # see sim.phy.registry.KINDS
    min_serdes_class: str | None  # LPO needs a host LR SerDes (it replaces the module DSP)
    module_j_per_bit: float       # module DSP/electronics or optical engine, per hop
    laser_j_per_bit: float
    module_latency_s: float       # per end (module, engine or chiplet); a hop crosses two
    fec: bool                     # RS(544,514) terminated once per hop
    max_reach_m: float            # optical reach, or the copper product/catalogue cap
    shoreline_bps_per_m: float    # per direction, per metre of package edge
    transceivers: int             # optical modules/engines per link end
    failure: FailureSpec

    @property
    def capacity_bps(self) -> float:
        """Port capacity: lanes x nominal lane rate (800G or 1.6T), in *bits* per second."""
        return self.lanes * self.lane_rate_bps

    @property
    def capacity_Bps(self) -> float:  # noqa: N802
        """The same in *bytes* per second (an 800 Gb/s port moves 100 GB/s)."""
        return self.capacity_bps / 8


def build_spec(tech: str, rk: str, get: channel.Reader) -> TechSpec:
    """Assemble a :class:`TechSpec` from the registry entry and the table (``get`` records
    every key it reads, in this order: the sources listed for a link follow it)."""
    entry = registry.get(tech)
    t = entry.table
    lanes = int(get("lane.lanes_per_port"))
    rate = get(f"lane.{rk}.nominal_rate")
    capacity = lanes * rate
    optical = entry.optical

    def per_bit(template: str | None) -> float:
        """A module / laser row in J per bit (rows in W per port are divided by capacity)."""
        if template is None:
            return 0.0
        value = get(entry.key(template, rk))
        return value / capacity if entry.power_per == "port" else value

    module = per_bit(entry.module_key)
    laser = per_bit(entry.laser_key)
    latency = get(entry.key(entry.latency_key, rk)) if entry.latency_key else 0.0
    reach = get(entry.key(entry.reach_key, rk))
    medium = entry.medium
    r = f"reliability.{t}"
    counts = {c: get(f"{r}.{c}_per_port") for c in FAILURE_COMPONENTS}
    fits = {c: get(f"reliability.fit.{_FIT_KEY[c]}") for c in FAILURE_COMPONENTS}
    repair = get(f"{r}.repair_time")
    nonrep_key = f"{r}.nonreplaceable_repair_time"
    try:
        nonrep, engine_swappable = get(nonrep_key), False
    except CposimError:
        nonrep, engine_swappable = repair, True
    failure = FailureSpec(counts, fits, get("reliability.fit.cable"), repair, nonrep,
                          bool(get(f"{r}.laser_field_replaceable")), engine_swappable)
    return TechSpec(
        tech=tech, lane_rate_bps=rate, line_rate_bps=channel.line_rate_bps(get, rk),
        nyquist_hz=channel.nyquist_hz(get, rk), lanes=lanes, optical=optical, medium=medium,
        prop_delay_s_per_m=get(f"channel.{medium}.prop_delay"), host_path=entry.host_path,
        min_serdes_class=entry.min_serdes_class,
        module_j_per_bit=module, laser_j_per_bit=laser, module_latency_s=latency,
        fec=entry.fec, max_reach_m=reach,
        shoreline_bps_per_m=get(f"tech.{t}.shoreline_{rk}"),
        transceivers=1 if optical else 0, failure=failure)
