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

from sim.errors import CposimError


@lru_cache(maxsize=1)
def _ureg():
    # pint takes ~0.4 s to import and build its registry: only a command that parses a unit
    # string pays for it (`cposim --help` does not)
    import pint

    return pint.UnitRegistry()

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


# The spellings the command line and the parameter table use ("30m", "200 Gb/s", "1GiB",
# "500ns", "5.5 pJ/bit", "Tb/s/mm", "dB/in/GHz^0.5" once dB is a number) are read without
# pint, which costs 0.4 s to import: products and quotients of prefixed symbols with optional
# exponents. Anything else goes to pint. tests/test_units.py checks this path against pint on
# every unit of sim/phy/parameters.csv and every prefix x symbol it accepts.
_SCALE = {None: 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
          "Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50,
          "Ei": 2.0**60, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15,
          "c": 1e-2}
# symbol -> (value in SI, dimension exponents over (length, time, information, energy));
# information in bits (pint: 1 byte = 8 bit)
_SYMBOL = {"m": (1.0, (1, 0, 0, 0)), "meter": (1.0, (1, 0, 0, 0)),
           "in": (0.0254, (1, 0, 0, 0)),
           "s": (1.0, (0, 1, 0, 0)), "second": (1.0, (0, 1, 0, 0)), "h": (3600.0, (0, 1, 0, 0)),
           "Hz": (1.0, (0, -1, 0, 0)), "hertz": (1.0, (0, -1, 0, 0)),
           "B": (8.0, (0, 0, 1, 0)), "byte": (8.0, (0, 0, 1, 0)), "bytes": (8.0, (0, 0, 1, 0)),
           "b": (1.0, (0, 0, 1, 0)), "bit": (1.0, (0, 0, 1, 0)), "bits": (1.0, (0, 0, 1, 0)),
           "J": (1.0, (0, 0, 0, 1)), "joule": (1.0, (0, 0, 0, 1)),
           "W": (1.0, (0, -1, 0, 1)), "watt": (1.0, (0, -1, 0, 1))}
_INFO_ONLY = {"K", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}   # how _normalise reads them
_NO_PREFIX = {"in", "h"}          # "min" is a minute to pint, not a milli-inch
_PREFIX_ORDER = sorted((k for k in _SCALE if k), key=len, reverse=True)


@lru_cache(maxsize=1024)
def _si(unit: str) -> tuple[float, tuple[float, ...]] | None:
    """(value in SI, dimensions) of a unit expression, or None to leave it to pint."""
    unit = unit.replace("ps", "/s") if re.fullmatch(r"[^/]*[bB]ps", unit) else unit
    factor, dims = 1.0, [0.0, 0.0, 0.0, 0.0]
    parts = re.split(r"(/|\*)", unit)
    for i in range(0, len(parts), 2):
        tok = parts[i]
        sign = -1.0 if i and parts[i - 1] == "/" else 1.0    # pint: a/b/c = a/(b*c)
        if tok == "1":
            continue
        b, _, e = tok.partition("^")
        p = None
        if b not in _SYMBOL:
            p = next((q for q in _PREFIX_ORDER if b.startswith(q) and b[len(q):] in _SYMBOL
                      and b[len(q):] not in _NO_PREFIX), None)
            if p is None:
                return None
            b = b[len(p):]
        if e and not re.fullmatch(r"-?\d+(?:\.\d+)?", e):
            return None
        val, dim = _SYMBOL[b]
        if (p in _INFO_ONLY and dim != (0, 0, 1, 0)) or (p == "c" and b != "m"):
            return None
        ex = sign * (float(e) if e else 1.0)
        factor *= (_SCALE[p] * val) ** ex
        for k in range(4):
            dims[k] += dim[k] * ex
    return factor, tuple(dims)


def _fast(value: float, unit: str, target: str) -> float | None:
    u, t = _si(unit), _si(target)
    if u is None or t is None or u[1] != t[1]:
        return None
    return value * u[0] / t[0]


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
    out = _fast(value, unit.strip(), target)
    if out is not None:
        return out
    try:
        q = _ureg().Quantity(value, _normalise(unit))
    except Exception:  # pint raises assorted types (even AssertionError) on junk units
        raise ValueError(f"'{unit}' is not a unit") from None
    import pint

    try:
        out = q.to(target).magnitude
    except pint.DimensionalityError:
        raise ValueError(f"'{text}' is not a {target} quantity") from None
    except pint.errors.PintError as exc:
        raise ValueError(str(exc)) from None
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
    except (ValueError, AttributeError, TypeError) as exc:
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
