"""Unit strings at the boundary ("800 Gb/s", "1.5 us", "2 m", "5.5 pJ/bit") -> SI floats.

Everything inside the simulator is SI with a unit suffix on the name (``_s``, ``_m``,
``_bps`` for *bits* per second, ``_Bps`` for bytes per second, ``_bytes``, ``_j``, ``_w``).
pint does the dimensional work; we only normalise the bit/byte spellings first, because pint
reads ``Gb`` as *gilbert* and ``B`` ambiguously — the classic bits-versus-bytes trap.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

import pint

from sim.errors import CposimError

_UREG = pint.UnitRegistry()

# "Gb", "Gbit", "Gbps" -> gigabit; "GB", "GiB", "GBps" -> gigabyte. Applied before pint sees it.
_PREFIX = r"(?P<p>[kKMGTPE]i?|m|u|µ|n|p|f)?"
_BIT = re.compile(_PREFIX + r"(?:bits?|b)(?P<ps>ps)?(?![a-zA-Z])")
_BYTE = re.compile(_PREFIX + r"(?:bytes?|B)(?P<ps>ps)?(?![a-zA-Z])")
_UNIT_CHARS = re.compile(r"^[A-Za-zµ/ *^.0-9()_-]+$")
_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")

_PINT_PREFIX = {"k": "kilo", "K": "kilo", "M": "mega", "G": "giga", "T": "tera", "P": "peta",
                "E": "exa", "Ki": "kibi", "Mi": "mebi", "Gi": "gibi", "Ti": "tebi", "Pi": "pebi",
                "Ei": "exbi", "m": "milli", "u": "micro", "µ": "micro", "n": "nano", "p": "pico",
                "f": "femto", None: ""}


def _normalise(unit: str) -> str:
    def bit(m: re.Match) -> str:
        return _PINT_PREFIX[m.group("p")] + "bit" + ("/second" if m.group("ps") else "")

    def byte(m: re.Match) -> str:
        return _PINT_PREFIX[m.group("p")] + "byte" + ("/second" if m.group("ps") else "")

    unit = _BIT.sub(bit, unit)
    return _BYTE.sub(byte, unit)


@lru_cache(maxsize=4096)
def _parse(text: str, target: str) -> float:
    m = _NUMBER.match(text)
    if not m:
        raise ValueError(f"'{text}' is not a number with a unit")
    value, unit = float(m.group(1)), m.group(2)
    if not unit:
        raise ValueError(f"'{text}' has no unit (expected something like {target!r})")
    if not _UNIT_CHARS.match(unit):
        raise ValueError(f"'{unit}' is not a unit")
    try:
        q = _UREG.Quantity(value, _normalise(unit))
    except Exception:  # pint raises assorted types (even AssertionError) on junk units
        raise ValueError(f"'{unit}' is not a unit") from None
    try:
        out = q.to(target).magnitude
    except pint.DimensionalityError:
        raise ValueError(f"'{text}' is not a {target} quantity") from None
    return float(out)


def parse_quantity(value: object, target: str, *, field: str, allow_zero: bool = True,
                   allow_negative: bool = False) -> float:
    """Parse ``value`` (a number already in ``target`` units, or a unit string) into ``target``.

    Raises :class:`CposimError` naming ``field`` for anything unparsable, negative, NaN or infinite.
    """
    try:
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a quantity")
        if isinstance(value, (int, float)):
            out = float(value)
        elif isinstance(value, str):
            out = _parse(value.strip(), target)
        else:
            raise ValueError(f"{value!r} is not a quantity")
    except (ValueError, pint.errors.PintError, AttributeError, TypeError) as exc:
        raise CposimError(f"cannot read {value!r}: {exc}", field=field) from None
    if not math.isfinite(out):
        raise CposimError(f"{value!r} is not finite", field=field)
    if out < 0 and not allow_negative:
        raise CposimError(f"{value!r} is negative", field=field)
    if out == 0 and not allow_zero:
        raise CposimError(f"{value!r} must be greater than zero", field=field)
    return out


def parse_length_m(value: object, field: str = "length") -> float:
    return parse_quantity(value, "meter", field=field)


def parse_time_s(value: object, field: str = "time") -> float:
    return parse_quantity(value, "second", field=field)


def parse_bytes(value: object, field: str = "size") -> float:
    return parse_quantity(value, "byte", field=field)


def parse_bandwidth_Bps(value: object, field: str = "bandwidth") -> float:  # noqa: N802
    """A data rate in *bytes* per second ("50GB/s" -> 5e10; "400Gb/s" -> 5e10)."""
    return parse_quantity(value, "byte/second", field=field, allow_zero=False)


def parse_rate_bps(value: object, field: str = "rate") -> float:
    """A data rate in *bits* per second. A bare "200G" means 200 Gb/s (how lane rates are named)."""
    if isinstance(value, str) and re.fullmatch(r"\s*[\d.]+\s*[kMGT]\s*", value):
        value = value.strip() + "b/s"
    return parse_quantity(value, "bit/second", field=field, allow_zero=False)


def parse_energy_per_bit_j(value: object, field: str = "energy_per_bit") -> float:
    return parse_quantity(value, "joule/bit", field=field)


def parse_power_w(value: object, field: str = "power") -> float:
    return parse_quantity(value, "watt", field=field)


def format_si(value: float, unit: str, digits: int = 4) -> str:
    """Human-readable SI string for tables (``format_si(1.5e-6, 's')`` -> ``'1.5 us'``)."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g} {unit}"
    prefixes = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1, ""), (1e-3, "m"),
                (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f")]
    for scale, p in prefixes:
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g} {p}{unit}"
    return f"{value:.{digits}g} {unit}"
