"""Physical link layer: link technologies as data, a reach-dependent channel model, and
:func:`resolve_link` (technology + lane rate + length -> loss, SerDes class, retimers, energy
per bit, port power, one-way latency, failure parameters, with the source of every default).

A technology is one entry of the registry (:mod:`sim.phy.registry`) plus its rows of
``sim/phy/parameters.csv`` (value, unit, source, grade, note), where every default lives.
"""

from sim.phy import registry
from sim.phy.link import LinkResult, max_reach_m, resolve_link
from sim.phy.parameters import Param, Parameters, load_parameters, read_overrides_toml
from sim.phy.tech import DESCRIPTION, TechSpec, technologies

__all__ = ["DESCRIPTION", "LinkResult", "Param", "Parameters", "TechSpec", "load_parameters",
           "max_reach_m", "read_overrides_toml", "registry", "resolve_link", "technologies"]
