"""One link: technology + lane rate + length -> loss, SerDes class, retimers, energy, latency.

:func:`resolve_link` is what the fabric layer calls for every cable. It is pure and cached.
An unknown technology, an unsupported lane rate or a negative length is a
:class:`~sim.errors.CposimError`; a length beyond the technology's reach is an *answer*
(``feasible=False`` with a ``reason``), not an error.

Copper is a step function of reach. For each candidate configuration (host SerDes class, and
for active copper the number of retimer stages in the cable ends) the channel is split into
segments at the retimers; a configuration is feasible when every segment fits the budget of
the SerDes that drives it. The link uses the cheapest feasible configuration. Loss grows with
length, so the feasible set only shrinks and energy per bit never decreases with length; it
jumps where a SerDes class boundary is crossed or a retimer stage is added.

Optical links: the host SerDes drives only its own electrical path (front panel to a
pluggable, package substrate to a CPO engine, die-to-chiplet for optical I/O), so energy is
flat in length up to the optical reach, and latency grows with the fibre at 4.9 ns/m.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from sim.errors import CposimError
from sim.phy import channel, registry
from sim.phy.parameters import Parameters, load_parameters
from sim.phy.tech import TechSpec, build_spec, check_tech

PJ = 1e-12


@dataclass(frozen=True)
class LinkResult:
    """A resolved link (one hop, one direction of traffic; ports are full duplex).

    ``energy_pj_per_bit`` is per transmitted bit of one hop: one lane-equivalent of host SerDes,
    the retimer stages crossed, and ``P_module / capacity`` once (the energy convention in
    :mod:`sim.phy.tech`).
    ``port_power_w`` is one end's port, TX+RX: the module / optical engine + laser / cable-plug
    retimers at that end, i.e. what the industry quotes as port power (30 W pluggable vs 9 W
    CPO at 1.6T); the host SerDes is ``host_serdes_power_w`` and both together are
    ``port_total_power_w`` (= ``capacity_bps x energy per bit``).
    ``latency_s`` is one-way: propagation + SerDes + FEC + DSP/module + retimers.
    Infeasible links carry NaN energy, power and latency.
    """

    tech: str
    lane_rate_bps: float
    lanes: int
    length_m: float
    capacity_bps: float
    loss_db: float                      # loss of the channel the host SerDes drives
    serdes_class: str | None
    retimers: int
    feasible: bool
    reason: str | None
    energy_pj_per_bit: float
    port_power_w: float
    latency_s: float
    latency_breakdown_s: dict[str, float]
    energy_breakdown_pj_per_bit: dict[str, float]
    optical: bool
    transceivers: int
    failure: dict[str, Any]
    sources: dict[str, str]
    # extras
    line_rate_bps: float = 0.0
    nyquist_hz: float = 0.0
    medium: str = ""
    max_reach_m: float = 0.0
    segment_loss_db: tuple[float, ...] = ()
    host_serdes_power_w: float = math.nan
    shoreline_tbps_per_mm: float = 0.0
    spec: TechSpec | None = field(default=None, repr=False, compare=False)

    @property
    def capacity_Bps(self) -> float:  # noqa: N802
        """Port capacity in *bytes* per second (800 Gb/s -> 100 GB/s)."""
        return self.capacity_bps / 8

    @property
    def latency_ns(self) -> float:
        return self.latency_s * 1e9

    @property
    def energy_j_per_bit(self) -> float:
        return self.energy_pj_per_bit * PJ

    @property
    def port_total_power_w(self) -> float:
        return self.port_power_w + self.host_serdes_power_w

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: NaN becomes ``None``; latencies also in ns."""
        def clean(v: Any) -> Any:
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, tuple):
                return [clean(x) for x in v]
            return v

        out = {
            "tech": self.tech, "lane_rate_bps": self.lane_rate_bps, "lanes": self.lanes,
            "capacity_bps": self.capacity_bps, "capacity_Bps": self.capacity_Bps,
            "length_m": self.length_m, "medium": self.medium,
            "line_rate_bps": self.line_rate_bps, "nyquist_hz": self.nyquist_hz,
            "loss_db": self.loss_db, "segment_loss_db": self.segment_loss_db,
            "serdes_class": self.serdes_class, "retimers": self.retimers,
            "feasible": self.feasible, "reason": self.reason, "max_reach_m": self.max_reach_m,
            "energy_pj_per_bit": self.energy_pj_per_bit,
            "energy_breakdown_pj_per_bit": self.energy_breakdown_pj_per_bit,
            "port_power_w": self.port_power_w, "host_serdes_power_w": self.host_serdes_power_w,
            "port_total_power_w": self.port_total_power_w,
            "latency_ns": self.latency_ns,
            "latency_breakdown_ns": {k: v * 1e9 for k, v in self.latency_breakdown_s.items()},
            "optical": self.optical, "transceivers": self.transceivers,
            "shoreline_tbps_per_mm": self.shoreline_tbps_per_mm,
            "failure": self.failure, "sources": self.sources,
        }
        return clean(out)


class _Recorder:
    """Reads SI values from a :class:`Parameters` and remembers which keys were used."""

    def __init__(self, params: Parameters) -> None:
        self.params = params
        self.used: dict[str, None] = {}

    def __call__(self, key: str) -> float:
        value = self.params[key]
        self.used[key] = None
        return value

    def sources(self) -> dict[str, str]:
        return {k: self.params.source(k) for k in self.used}


@dataclass(frozen=True)
class _Config:
    serdes_class: str
    retimers: int
    segments: tuple[float, ...]
    host_loss: float
    energy: float


def _params(params: Parameters | Mapping[str, Any] | None) -> Parameters:
    if params is None:
        return load_parameters()
    if isinstance(params, Parameters):
        return params
    return load_parameters(params)


def _check_length(length_m: float) -> float:
    if isinstance(length_m, bool) or not isinstance(length_m, numbers.Real):
        raise CposimError(f"length {length_m!r} is not a number of metres", field="length")
    if not math.isfinite(length_m) or length_m < 0:
        raise CposimError(f"length {length_m!r} m must be a finite number >= 0", field="length")
    return float(length_m)


def resolve_link(tech: str, lane_rate_bps: float, length_m: float, *,
                 params: Parameters | Mapping[str, Any] | None = None) -> LinkResult:
    """Resolve one link. ``params``: a :class:`Parameters`, an overrides dict, or ``None``."""
    check_tech(tech)
    length = _check_length(length_m)
    if isinstance(lane_rate_bps, bool) or not isinstance(lane_rate_bps, numbers.Real):
        raise CposimError(f"lane rate {lane_rate_bps!r} is not a number of bit/s",
                          field="lane_rate")
    return _resolve(tech, float(lane_rate_bps), length, _params(params))


@lru_cache(maxsize=65536)
def _resolve(tech: str, lane_rate_bps: float, length: float, params: Parameters) -> LinkResult:
    get = _Recorder(params)
    rk = channel.rate_key(get, lane_rate_bps)
    spec = build_spec(tech, rk, get)
    f = spec.nyquist_hz
    cap = spec.capacity_bps

    if spec.optical:
        host_loss = {"front_panel": channel.front_panel_db, "cpo": channel.cpo_path_db,
                     "d2d": channel.d2d_path_db}[spec.host_path](get, f)
        in_pkg = spec.host_path in ("cpo", "d2d")
        cls = channel.choose_class(get, rk, host_loss, in_package=in_pkg,
                                   minimum=spec.min_serdes_class)
        segments: tuple[float, ...] = (host_loss,)
        retimers = 0
        reason = None
        if cls is None:
            reason = (f"host electrical path loss {host_loss:.1f} dB exceeds the LR budget "
                      f"{channel.budget_db(get, 'lr', rk):g} dB")
        elif length > spec.max_reach_m:
            reason = (f"{length:g} m exceeds the {tech} reach of {spec.max_reach_m:g} m "
                      f"at {spec.lane_rate_bps / 1e9:g}G/lane")
        max_reach = spec.max_reach_m if cls is not None else 0.0
    else:
        config, reason = _copper_config(tech, rk, length, spec, get)
        max_reach = _copper_max_reach(tech, rk, params)
        if config is None:
            cls, retimers = None, 0
            host_loss = (channel.dac_db(get, f, length) if spec.host_path == "dac"
                         else channel.host_path_db(get, f) + channel.module_side_db(get, f))
            segments = (host_loss,)
        else:
            cls, retimers = config.serdes_class, config.retimers
            host_loss, segments = config.host_loss, config.segments

    feasible = reason is None
    nan = math.nan
    if feasible:
        assert cls is not None
        e_host = get(f"serdes.{cls}.{rk}.energy")
        t = registry.get(tech).table
        e_ret = retimers * _retimer(get, t, "energy") if retimers else 0.0
        energy = {"host_serdes": e_host / PJ, "retimer": e_ret / PJ,
                  "module": spec.module_j_per_bit / PJ, "laser": spec.laser_j_per_bit / PJ}
        latency = {
            "propagation": length * spec.prop_delay_s_per_m,
            "host_trace": (2 * get("channel.pcb.host_length") * get("channel.pcb.prop_delay")
                           if spec.host_path in ("front_panel", "dac", "aec") else 0.0),
            "serdes": 2 * get(f"serdes.{cls}.latency"),
            "fec": get(f"fec.rs544.{rk}.latency") if spec.fec else 0.0,
            "module": 2 * spec.module_latency_s,
            "retimer": retimers * _retimer(get, t, "latency") if retimers else 0.0,
        }
        e_total = sum(energy.values())
        port_w = cap * (e_total - energy["host_serdes"]) * PJ
        host_w = cap * energy["host_serdes"] * PJ
        lat_total = sum(latency.values())
    else:
        energy, latency = {}, {}
        e_total = port_w = host_w = lat_total = nan

    return LinkResult(
        tech=tech, lane_rate_bps=spec.lane_rate_bps, lanes=spec.lanes, length_m=length,
        capacity_bps=cap, loss_db=host_loss, serdes_class=cls if feasible else None,
        retimers=retimers if feasible else 0, feasible=feasible, reason=reason,
        energy_pj_per_bit=e_total, port_power_w=port_w, latency_s=lat_total,
        latency_breakdown_s=latency, energy_breakdown_pj_per_bit=energy,
        optical=spec.optical, transceivers=spec.transceivers, failure=_failure(spec, retimers if feasible else 0).as_dict(),
        sources=get.sources(), line_rate_bps=spec.line_rate_bps, nyquist_hz=f,
        medium=spec.medium, max_reach_m=max_reach, segment_loss_db=tuple(segments),
        host_serdes_power_w=host_w, shoreline_tbps_per_mm=spec.shoreline_bps_per_m / 1e15,
        spec=spec)


def _failure(spec: TechSpec, stages: int):
    """The technology's failure record, with an AEC's retimer count scaled by its stages.

    The table counts retimer ICs per plug *per stage*: one stage per direction puts one retimer
    in each plug (each retimes its receive direction); two stages put two in each plug.
    """
    counts = spec.failure.counts_per_end
    if stages <= 0 or not counts.get("retimers"):
        return spec.failure
    return replace(spec.failure, counts_per_end={**counts,
                                                 "retimers": counts["retimers"] * stages})


def _retimer(get: channel.Reader, table: str, what: str) -> float:
    """Per retimer stage: the active cable's ``dsp_retimers`` row picks DSP or mixed-signal."""
    kind = "dsp" if get(f"tech.{table}.dsp_retimers") else "mixed_signal"
    return get(f"retimer.{kind}.{what}")


def _copper_configs(tech: str, rk: str, length: float, get: channel.Reader) -> list[_Config]:
    """Every feasible (SerDes class, retimer stages) configuration of a copper link."""
    entry = registry.get(tech)
    f = channel.nyquist_hz(get, rk)
    lr_budget = channel.budget_db(get, "lr", rk)  # retimers are LR-class
    out = []
    if entry.host_path == "dac":   # passive: one channel, die to die
        loss = channel.dac_db(get, f, length)
        stage_options = {0: ((loss,), loss)}
    else:
        host = channel.host_path_db(get, f)
        plug = channel.module_side_db(get, f)
        cable = length * channel.twinax_db_per_m(get, f)
        stage_options = {}
        max_stages = int(get(f"tech.{entry.table}.max_retimer_stages"))
        if max_stages >= 1:  # retimer in the far-end plug (per direction)
            seg = (host + cable + plug, plug + host)
            stage_options[1] = (seg, seg[0])
        if max_stages >= 2:  # retimers in both plugs
            seg = (host + plug, plug + cable + plug, plug + host)
            stage_options[2] = (seg, seg[0])
    for n, (segments, host_loss) in stage_options.items():
        if n and max(segments[1:]) > lr_budget + 1e-9:
            continue
        # every class that covers the host-driven segment is a valid (costlier) choice
        first = channel.choose_class(get, rk, host_loss, in_package=False)
        if first is None:
            continue
        for cls in channel.SERDES_CLASSES[channel.SERDES_CLASSES.index(first):]:
            energy = (get(f"serdes.{cls}.{rk}.energy")
                      + (n * _retimer(get, entry.table, "energy") if n else 0))
            out.append(_Config(cls, n, segments, host_loss, energy))
    return out


def _copper_config(tech: str, rk: str, length: float, spec: TechSpec,
                   get: channel.Reader) -> tuple[_Config | None, str | None]:
    passive = spec.host_path == "dac"
    if length > spec.max_reach_m:
        kind = "catalogue" if passive else "AEC"
        return None, (f"{length:g} m exceeds the {kind} reach limit of {spec.max_reach_m:g} m "
                      f"for {tech} at {spec.lane_rate_bps / 1e9:g}G/lane")
    configs = _copper_configs(tech, rk, length, get)
    if not configs:
        f = channel.nyquist_hz(get, rk)
        budget = channel.budget_db(get, "lr", rk)
        if passive:
            loss = channel.dac_db(get, f, length)
            active = ", ".join(t.name for t in registry.entries() if t.kind == "copper-active")
            return None, (f"passive channel loss {loss:.1f} dB at {f / 1e9:g} GHz exceeds the "
                          f"LR budget {budget:g} dB: needs retimers ({active}) or optics")
        return None, (f"a retimer-to-retimer cable segment of {length:g} m exceeds the "
                      f"{budget:g} dB budget at {f / 1e9:g} GHz: needs optics")
    best = min(configs, key=lambda c: (c.energy, c.retimers))
    return best, None


@lru_cache(maxsize=1024)
def _copper_max_reach(tech: str, rk: str, params: Parameters) -> float:
    """Longest feasible length (bisection to 1 um; feasibility is monotone in length).

    Reads the same keys as :func:`_copper_configs`, which the caller has already recorded.
    """
    get = params.__getitem__
    spec = build_spec(tech, rk, get)

    def ok(length: float) -> bool:
        return bool(_copper_configs(tech, rk, length, get))

    hi = spec.max_reach_m
    if ok(hi):
        return hi
    lo = 0.0
    if not ok(lo):
        return 0.0
    while hi - lo > 1e-6:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo


def max_reach_m(tech: str, lane_rate_bps: float, *,
                params: Parameters | Mapping[str, Any] | None = None) -> float:
    """The longest feasible length of ``tech`` at ``lane_rate_bps`` (0 if never feasible)."""
    return resolve_link(tech, lane_rate_bps, 0.0, params=params).max_reach_m
