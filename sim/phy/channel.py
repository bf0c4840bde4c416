"""Reach-dependent electrical channel model (PCB, package, connector and twinax loss vs frequency).

Insertion loss at the Nyquist frequency ``f`` (half the PAM4 baud rate) is a sum of parts,
each read from ``parameters.csv``::

    package     = host_trace_mm * substrate(f) + bga(f)              bump -> BGA ball
    host PCB    = host_length * (2.31 f Df sqrt(Dk) + k_cond sqrt(f))  dielectric + conductor
    connector   = connector(f)                                        cage + plug paddle card
    host path   = package + host PCB + connector                      ASIC -> front-panel cage
    module side = module_trace * PCB(f) + chip_pkg(f)                 edge fingers -> DSP/retimer
    twinax      = length * (a1 sqrt(f) + a2 f)                        IEEE 802.3ba fitted form
    CPO path    = cpo_trace_mm * substrate(f) + oe_bump(f)            ASIC -> optical engine
    D2D path    = d2d_trace_mm * substrate(f) + oe_bump(f)            ASIC -> optical I/O chiplet

Calibration (see the ``note`` column): the front-panel pluggable path (host path + module side)
is 22 dB at 53.125 GHz and the CPO path 4 dB (Nvidia's 22 dB vs 4 dB, "63x"); passive twinax
reaches ~2.6 m at 100G/lane and ~1.1 m at 200G/lane inside the LR budget.

The SerDes class (XSR < VSR < MR < LR) is the cheapest whose loss budget covers the channel.
XSR is only used on one package (CPO engine, optical I/O chiplet): OIF defines it for
die-to-die and die-to-optical-engine links, never across a BGA, a PCB and a connector.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sim.errors import CposimError
from sim.phy.parameters import Parameters

SERDES_CLASSES = ("xsr", "vsr", "mr", "lr")  # increasing loss budget and energy

Reader = Callable[[str], float]  # key -> SI value (records the key as used)


def rate_key(params: Parameters | Reader, lane_rate_bps: float) -> str:
    """``"100g"`` / ``"200g"`` for a supported nominal lane rate; else :class:`CposimError`."""
    get = params.__getitem__ if isinstance(params, Parameters) else params
    for key in supported_rate_keys():
        if math.isclose(lane_rate_bps, get(f"lane.{key}.nominal_rate"), rel_tol=1e-9):
            return key
    rates = ", ".join(f"{k.upper()}" for k in supported_rate_keys())
    raise CposimError(f"unsupported lane rate {lane_rate_bps / 1e9:g} Gb/s; supported: {rates}",
                      field="lane_rate")


def supported_rate_keys() -> tuple[str, ...]:
    return ("100g", "200g")


def line_rate_bps(get: Reader, rk: str) -> float:
    """The PAM4 line rate: nominal x 257/256 x 544/514 (transcoding + RS(544,514) FEC)."""
    return get(f"lane.{rk}.line_rate")


def baud_hz(get: Reader, rk: str) -> float:
    return line_rate_bps(get, rk) / get("lane.pam4_bits_per_symbol")


def nyquist_hz(get: Reader, rk: str) -> float:
    """Half the baud rate: 26.5625 GHz at 100G/lane, 53.125 GHz at 200G/lane."""
    return baud_hz(get, rk) / 2


# --- loss parts (dB) ----------------------------------------------------------------------------

def substrate_db_per_m(get: Reader, f: float) -> float:
    return get("channel.pkg.substrate_coeff") * f


def pcb_db_per_m(get: Reader, f: float) -> float:
    dielectric = (get("channel.pcb.dielectric_coeff") * f * get("channel.pcb.df")
                  * math.sqrt(get("channel.pcb.dk")))
    conductor = get("channel.pcb.conductor_coeff") * math.sqrt(f)
    return dielectric + conductor


def package_db(get: Reader, f: float) -> float:
    return (get("channel.pkg.host_trace_length") * substrate_db_per_m(get, f)
            + get("channel.pkg.bga_coeff") * f)


def host_pcb_db(get: Reader, f: float) -> float:
    return get("channel.pcb.host_length") * pcb_db_per_m(get, f)


def connector_db(get: Reader, f: float) -> float:
    return get("channel.connector.coeff") * f


def host_path_db(get: Reader, f: float) -> float:
    """ASIC bump -> package -> host PCB -> front-panel cage connector (one end)."""
    return package_db(get, f) + host_pcb_db(get, f) + connector_db(get, f)


def module_side_db(get: Reader, f: float) -> float:
    """Inside a pluggable module or an AEC plug: edge fingers -> PCB route -> DSP/retimer die."""
    return (get("channel.module.trace_length") * pcb_db_per_m(get, f)
            + get("channel.module.chip_pkg_coeff") * f)


def front_panel_db(get: Reader, f: float) -> float:
    """Host die to pluggable-module DSP: the path Nvidia puts at ~22 dB at 200G/lane."""
    return host_path_db(get, f) + module_side_db(get, f)


def cpo_path_db(get: Reader, f: float) -> float:
    """Host die to co-packaged optical engine over the package substrate (~4 dB at 200G)."""
    return (get("channel.pkg.cpo_trace_length") * substrate_db_per_m(get, f)
            + get("channel.pkg.oe_bump_coeff") * f)


def d2d_path_db(get: Reader, f: float) -> float:
    """Host die to an in-package optical I/O chiplet."""
    return (get("channel.pkg.d2d_trace_length") * substrate_db_per_m(get, f)
            + get("channel.pkg.oe_bump_coeff") * f)


def twinax_db_per_m(get: Reader, f: float) -> float:
    return get("channel.twinax.sqrt_coeff") * math.sqrt(f) + get("channel.twinax.lin_coeff") * f


def dac_db(get: Reader, f: float, length_m: float) -> float:
    """Die-to-die loss of a passive DAC link: two host paths plus the cable."""
    return 2 * host_path_db(get, f) + length_m * twinax_db_per_m(get, f)


# --- SerDes classes -------------------------------------------------------------------------------

def budget_db(get: Reader, cls: str, rk: str) -> float:
    return get(f"serdes.{cls}.{rk}.budget")


def choose_class(get: Reader, rk: str, loss: float, *, in_package: bool,
                 minimum: str | None = None) -> str | None:
    """The cheapest SerDes class whose budget covers ``loss`` (``None`` if even LR does not)."""
    start = 0 if in_package else 1
    if minimum is not None:
        start = max(start, SERDES_CLASSES.index(minimum))
    for cls in SERDES_CLASSES[start:]:
        if loss <= budget_db(get, cls, rk) + 1e-9:
            return cls
    return None
