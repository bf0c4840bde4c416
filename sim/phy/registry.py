"""The link-technology registry: a technology is one :class:`Technology` entry plus its rows.

An entry says what kind of link it is (which electrical path the host SerDes drives, whether
it is optical), which parts sit in it, which rows of ``sim/phy/parameters.csv`` hold its
numbers, which link policies it defines, and how figures draw it. The numbers themselves
(watts, pJ/bit, ns, metres, component counts) live only in the table, each with its source
and grade: an entry holds no default number.

Everything that lists technologies reads this registry instead of its own copy:
``sim.phy.tech.build_spec`` (the :class:`~sim.phy.tech.TechSpec` of a link), the link policies
(:func:`policies`, read by ``sim.fabric.policy``), ``cposim link`` and ``cposim topology``
(choices and help), the fault model (each entry's ``reliability.<table>.*`` rows reach it
through ``sim.phy.resolve_link``) and figure styling (``experiments.common.TECH_STYLE``).

To add a technology:

1. its rows in ``parameters.csv``: ``tech.<table>.*`` (reach, ``shoreline_100g`` /
   ``shoreline_200g``, and the module / laser / latency keys the entry names) and
   ``reliability.<table>.*`` (the eight ``<component>_per_port`` counts, ``repair_time``,
   ``laser_field_replaceable``, optionally ``nonreplaceable_repair_time``);
2. one :func:`register` call at the bottom of this module (or, for an experiment, in your
   own code; :func:`registered` undoes it when the block ends).

The order of registration is the order of CLI listings, policies and figure legends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from sim.errors import CposimError


@dataclass(frozen=True)
class Kind:
    """What the channel model needs to know about a family of technologies."""

    optical: bool
    host_path: str                 # the electrical path the host SerDes drives (sim.phy.channel)
    min_serdes_class: str | None   # a linear module has no DSP: the host LR SerDes equalises


KINDS: Mapping[str, Kind] = MappingProxyType({
    # host LR SerDes drives the whole passive cable, die to die
    "copper-passive": Kind(optical=False, host_path="dac", min_serdes_class=None),
    # retimer stages in the cable ends split the channel into segments
    "copper-active": Kind(optical=False, host_path="aec", min_serdes_class=None),
    # front-panel module whose electronics (DSP or gearbox) terminate the host lanes
    "optical-pluggable": Kind(optical=True, host_path="front_panel", min_serdes_class=None),
    # front-panel module without DSP (LPO)
    "optical-linear": Kind(optical=True, host_path="front_panel", min_serdes_class="lr"),
    # optical engine on the switch / GPU package substrate
    "optical-co-packaged": Kind(optical=True, host_path="cpo", min_serdes_class=None),
    # optical I/O chiplet beside the die in the same package
    "optical-in-package": Kind(optical=True, host_path="d2d", min_serdes_class=None),
})

# The parts vocabulary. tests/test_phy_registry.py checks each entry's parts against its
# reliability counts (a technology with a laser has lasers_per_port > 0, and so on).
PARTS: Mapping[str, str] = MappingProxyType({
    "host-serdes": "the host ASIC's SerDes lane (every technology has one)",
    "retimer": "retimer stages in the cable ends",
    "dsp": "module DSP (CDR, equalisation, FEC-aware)",
    "gearbox": "mixed-signal gearbox spreading the host lanes over many slow channels",
    "driver": "modulator / laser / LED driver",
    "tia": "trans-impedance amplifier",
    "photodiode": "photodetector (array)",
    "laser": "a laser per lane inside the module",
    "external-laser": "external CW laser source feeding the engine",
    "microled": "directly modulated microLED array (no laser)",
})


@dataclass(frozen=True)
class Technology:
    """One registry entry. Key templates name rows of ``parameters.csv``: ``{t}`` is the
    entry's ``table`` prefix, ``{rk}`` the lane-rate key (``100g`` / ``200g``)."""

    name: str                     # CLI spelling, e.g. "copper-dac"
    label: str                    # for legends and tables, e.g. "passive copper (DAC)"
    description: str              # one line for `cposim link --list`
    kind: str                     # a key of KINDS
    parts: tuple[str, ...]        # keys of PARTS, host side first
    reach_key: str                # optical reach, or the copper catalogue cap (m)
    module_key: str | None = None  # module / engine / chiplet power (None: nothing in the cable)
    laser_key: str | None = None   # light-source power
    latency_key: str | None = None  # per end (module, engine or chiplet); a hop crosses two
    power_per: str = "port"       # module/laser rows are W per port ("port") or J/bit ("bit")
    fec: bool = True              # RS(544,514) terminated once per hop
    table: str = ""               # key prefix in parameters.csv; "" = name with "-" -> "_"
    # policies (see policies()): the stand-alone policy this technology defines, what it
    # falls back to where it does not reach, and its "copper where it reaches" variant
    policy: str | None = None
    fallback: tuple[str, ...] = ()
    copper_policy: str | None = None
    # figure style (Okabe-Ito colours; also told apart by line style and marker)
    color: str = "#777777"
    linestyle: str = "-"
    marker: str = "o"

    def __post_init__(self) -> None:
        if not self.table:
            object.__setattr__(self, "table", self.name.replace("-", "_"))
        if self.kind not in KINDS:
            raise CposimError(f"technology {self.name!r}: unknown kind {self.kind!r} "
                              f"(kinds: {', '.join(KINDS)})", field="kind")
        unknown = [p for p in self.parts if p not in PARTS]
        if unknown:
            raise CposimError(f"technology {self.name!r}: unknown parts {unknown} "
                              f"(parts: {', '.join(PARTS)})", field="parts")
        if self.power_per not in ("port", "bit"):
            raise CposimError(f"technology {self.name!r}: power_per must be 'port' or 'bit'",
                              field="power_per")
        if self.optical and self.module_key is None:
            raise CposimError(f"technology {self.name!r}: an optical link needs module_key",
                              field="module_key")

    @property
    def optical(self) -> bool:
        return KINDS[self.kind].optical

    @property
    def host_path(self) -> str:
        return KINDS[self.kind].host_path

    @property
    def min_serdes_class(self) -> str | None:
        return KINDS[self.kind].min_serdes_class

    @property
    def medium(self) -> str:
        """``channel.<medium>.prop_delay`` is read for the propagation delay."""
        return "fiber" if self.optical else "twinax"

    @property
    def style(self) -> dict[str, str]:
        """Matplotlib keyword arguments (a fresh dict: callers pop from it)."""
        return {"color": self.color, "linestyle": self.linestyle, "marker": self.marker}

    def key(self, template: str, rk: str = "") -> str:
        return template.format(t=self.table, rk=rk)


_ENTRIES: dict[str, Technology] = {}
_version = 0   # bumped on every change, so derived tables are recomputed


def register(tech: Technology) -> Technology:
    """Add ``tech`` to the registry (after the ones already there). A name is registered once."""
    global _version
    if tech.name in _ENTRIES:
        raise CposimError(f"technology {tech.name!r} is already registered", field="tech")
    _ENTRIES[tech.name] = tech
    _version += 1
    return tech


def unregister(name: str) -> None:
    global _version
    get(name)
    del _ENTRIES[name]
    _version += 1


@contextlib.contextmanager
def registered(tech: Technology) -> Iterator[Technology]:
    """``with registered(Technology(...)):`` — the technology exists inside the block only."""
    register(tech)
    try:
        yield tech
    finally:
        unregister(tech.name)


def get(name: str) -> Technology:
    try:
        return _ENTRIES[name]
    except (KeyError, TypeError):
        raise CposimError(f"unknown technology {name!r}; choose from {', '.join(_ENTRIES)}",
                          field="tech") from None


def names() -> tuple[str, ...]:
    """The technology names, in registration (CLI) order."""
    return tuple(_ENTRIES)


def entries() -> tuple[Technology, ...]:
    return tuple(_ENTRIES.values())


def policies() -> Mapping[str, tuple[str, ...]]:
    """The named link policies, derived from the entries (a policy is an ordered list of
    technologies; a cable gets the first that reaches):

    * ``<copper_policy>`` = every copper technology (registry order: passive, then active),
      then the entry's stand-alone policy — ``copper-first`` = copper-dac, copper-aec,
      pluggable-dsp ("copper where possible, optical where necessary");
    * ``<policy>`` = the entry itself, then its ``fallback`` — ``lpo`` = lpo, pluggable-dsp.

    Copper variants come first, then the stand-alone policies, each in registry order. A bare
    technology name is also a policy (that technology only; ``sim.fabric.policy``).
    """
    return _policies(_version)


@lru_cache(maxsize=4)
def _policies(version: int) -> Mapping[str, tuple[str, ...]]:
    copper = tuple(t.name for t in _ENTRIES.values() if not t.optical)
    alone: dict[str, tuple[str, ...]] = {}
    for t in _ENTRIES.values():
        for other in t.fallback:
            get(other)   # a fallback must be registered
        if t.policy is not None:
            alone[t.policy] = (t.name,) + t.fallback
    variants = {t.copper_policy: copper + alone[t.policy] for t in _ENTRIES.values()
                if t.copper_policy is not None and t.policy is not None}
    clash = set(variants) & set(alone)
    if clash:
        raise CposimError(f"policy names defined twice: {sorted(clash)}", field="policy")
    return MappingProxyType({**variants, **alone})


class View(Mapping):
    """A read-only mapping computed from the registry on each access (so entries registered
    later, e.g. in a test, show up in module-level tables such as ``DESCRIPTION``)."""

    def __init__(self, build) -> None:
        self._build = build

    def _data(self) -> Mapping:
        return self._build()

    def __getitem__(self, key):
        return self._data()[key]

    def __iter__(self):
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __repr__(self) -> str:
        return repr(dict(self._data()))


class NamesView(Sequence):
    """The technology names as a read-only sequence that follows the registry."""

    def __getitem__(self, i):
        return names()[i]

    def __len__(self) -> int:
        return len(_ENTRIES)

    def __contains__(self, name) -> bool:
        return name in _ENTRIES

    def __repr__(self) -> str:
        return repr(names())


# --- the built-in technologies ------------------------------------------------------------------
# Numbers, sources and grades: the tech.<table>.* and reliability.<table>.* rows of
# parameters.csv. Colours: Okabe-Ito.

register(Technology(
    name="copper-dac", label="passive copper (DAC)", kind="copper-passive",
    description="passive twinax DAC; host long-reach SerDes drives the whole channel",
    parts=("host-serdes",), reach_key="tech.{t}.{rk}.reach_cap",
    color="#D55E00", linestyle="-", marker="o"))

register(Technology(
    name="copper-aec", label="active copper (AEC)", kind="copper-active",
    description="active electrical cable: retimer stages in the cable ends",
    parts=("host-serdes", "retimer"), reach_key="tech.{t}.reach_cap",
    color="#E69F00", linestyle="--", marker="s"))

register(Technology(
    name="pluggable-dsp", label="DSP pluggable", kind="optical-pluggable",
    description="pluggable optics with DSP (800G at 100G/lane, 1.6T at 200G/lane)",
    parts=("host-serdes", "dsp", "driver", "laser", "photodiode", "tia"),
    module_key="tech.{t}.{rk}.module_w", laser_key="tech.{t}.{rk}.laser_w",
    latency_key="tech.{t}.module_latency", reach_key="tech.{t}.reach",
    policy="pluggable", copper_policy="copper-first",
    color="#0072B2", linestyle="-.", marker="^"))

register(Technology(
    name="lpo", label="linear pluggable (LPO)", kind="optical-linear",
    description="linear pluggable optics: no module DSP; the host LR SerDes equalises",
    parts=("host-serdes", "driver", "laser", "photodiode", "tia"),
    module_key="tech.{t}.{rk}.module_w", laser_key="tech.{t}.{rk}.laser_w",
    latency_key="tech.{t}.module_latency", reach_key="tech.{t}.reach",
    # LPO's host-driven reach is ~500 m; DSP pluggables beyond
    policy="lpo", fallback=("pluggable-dsp",), copper_policy="copper-lpo",
    color="#56B4E9", linestyle=":", marker="v"))

register(Technology(
    name="cpo", label="co-packaged optics (CPO)", kind="optical-co-packaged",
    description="co-packaged optics (Broadcom Bailly-class at 100G/lane, Nvidia-class at "
                "200G/lane)",
    parts=("host-serdes", "driver", "external-laser", "photodiode", "tia"),
    module_key="tech.{t}.{rk}.engine_w", laser_key="tech.{t}.{rk}.laser_w",
    latency_key="tech.{t}.engine_latency", reach_key="tech.{t}.reach",
    policy="cpo", copper_policy="copper-cpo",
    color="#009E73", linestyle="-", marker="D"))

register(Technology(
    name="optical-io", label="in-package optical I/O", kind="optical-in-package",
    description="in-package optical I/O chiplet (Ayar TeraPHY / Lightmatter class), no FEC",
    parts=("host-serdes", "driver", "external-laser", "photodiode", "tia"),
    module_key="tech.{t}.engine_energy", laser_key="tech.{t}.laser_energy",
    latency_key="tech.{t}.chiplet_latency", reach_key="tech.{t}.reach", power_per="bit",
    fec=False,   # Ayar: 5 ns per chiplet + time of flight, no FEC
    policy="optical-io", fallback=("cpo",),
    color="#CC79A7", linestyle="--", marker="P"))

# Microsoft MOSAIC (ACM SIGCOMM 2025): hundreds of ~2 Gb/s microLED channels over multicore
# imaging fibre instead of 8 fast laser lanes, in a front-panel active cable. The module's
# gearbox terminates the host lanes like a DSP pluggable's, so the host SerDes class is chosen
# for the same front-panel path; the module draws tech.microled.<rk>.module_w (3.1-5.3 W per
# 800G end in the paper) and has no laser row. Beyond its 50 m the "microled" policy falls
# back to DSP pluggables, as "lpo" does beyond 500 m. Its component FITs give ~5x fewer
# failures per end than a DSP pluggable: well short of the paper's "100x", which rests on
# microLED lifetime data not in the table.
register(Technology(
    name="microled", label="microLED wide-and-slow (MOSAIC)", kind="optical-pluggable",
    description="wide-and-slow microLED cable (Microsoft MOSAIC): hundreds of ~2 Gb/s "
                "channels over imaging fibre, no DSP, no laser",
    parts=("host-serdes", "gearbox", "driver", "microled", "photodiode", "tia"),
    module_key="tech.{t}.{rk}.module_w", latency_key="tech.{t}.module_latency",
    reach_key="tech.{t}.reach",
    policy="microled", fallback=("pluggable-dsp",), copper_policy="copper-microled",
    color="#000000", linestyle="-", marker="X"))
