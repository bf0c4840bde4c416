"""Unit strings at the boundary, and the bits-versus-bytes trap."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.errors import CposimError
from sim.units import (parse_bandwidth_Bps, parse_bytes, parse_energy_per_bit_j, parse_length_m,
                       parse_rate_bps, parse_time_s)


def test_bits_versus_bytes():
    # pint alone reads "Gb" as gilbert; we must read it as gigabit.
    assert parse_rate_bps("800Gb/s") == 800e9
    assert parse_rate_bps("800 Gbps") == 800e9
    assert parse_bandwidth_Bps("800Gb/s") == 100e9  # an 800 Gb/s port moves 100 GB/s
    assert parse_bandwidth_Bps("100GB/s") == 100e9
    assert parse_rate_bps("100GB/s") == 800e9
    assert parse_rate_bps("200G") == 200e9  # lane-rate shorthand


def test_binary_and_decimal_sizes():
    assert parse_bytes("1MiB") == 2**20
    assert parse_bytes("1MB") == 1e6
    assert parse_bytes("4 GiB") == 4 * 2**30
    assert parse_bytes("8 bit") == 1


def test_times_lengths_energies():
    assert math.isclose(parse_time_s("500ns"), 5e-7)
    assert math.isclose(parse_time_s("1.5 us"), 1.5e-6)
    assert parse_length_m("2 km") == 2000
    assert math.isclose(parse_energy_per_bit_j("5.5 pJ/bit"), 5.5e-12)


@pytest.mark.parametrize("bad", ["-1m", "abc", "1.5 s", "nan m", "inf m", "", "m", "1e400 m"])
def test_bad_lengths_raise_project_error_naming_field(bad):
    with pytest.raises(CposimError, match="length"):
        parse_length_m(bad, field="length")


def test_zero_rate_rejected():
    with pytest.raises(CposimError, match="greater than zero"):
        parse_rate_bps("0 Gb/s")


@given(st.text(max_size=20))
def test_random_text_is_a_length_or_an_error_naming_the_field(text):
    """Any text either reads as a finite non-negative length or raises CposimError that names
    the field, on one line; any other exception fails the test."""
    try:
        out = parse_length_m(text, field="cable_length")
    except CposimError as exc:
        assert exc.field == "cable_length"
        assert "field 'cable_length'" in str(exc) and "\n" not in str(exc)
    else:
        assert isinstance(out, float) and math.isfinite(out) and out >= 0


_LENGTH_UNITS = {"m": 1.0, "km": 1e3, "cm": 1e-2, "mm": 1e-3, "um": 1e-6, "µm": 1e-6,
                 "nm": 1e-9, "in": 0.0254, "meter": 1.0, "ft": 0.3048}   # "ft": read by pint


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
       st.sampled_from(sorted(_LENGTH_UNITS)), st.sampled_from(["", " ", "  "]),
       st.sampled_from(["", " "]))
def test_generated_number_and_unit_reads_as_its_value(x, unit, gap, pad):
    """'<number> <unit>' with the number as Python prints it (1e-05, 3.5, 0.0) reads as
    number x the unit's size in metres."""
    got = parse_length_m(f"{pad}{x!r}{gap}{unit}{pad}")
    assert got == pytest.approx(x * _LENGTH_UNITS[unit], rel=1e-12, abs=0)


def _pint_value(value: float, unit: str, target: str) -> float:
    from sim.units import _normalise, _ureg

    return float(_ureg().Quantity(value, _normalise(unit)).to(target).magnitude)


_PREFIXES = ["", "k", "K", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei",
             "m", "u", "µ", "n", "p", "f", "c"]
_SPELLINGS = [(b + per, target) for b, per, target in [
    ("m", "", "meter"), ("s", "", "second"), ("B", "", "byte"), ("b", "", "byte"),
    ("bit", "", "bit"), ("byte", "", "bit"), ("bytes", "", "byte"), ("bits", "", "bit"),
    ("B", "/s", "byte/second"), ("b", "/s", "byte/second"), ("B", "ps", "bit/second"),
    ("b", "ps", "bit/second"), ("bit", "/s", "bit/second"), ("J", "/bit", "joule/bit"),
    ("J", "/b", "joule/bit"), ("W", "", "watt")]]


@pytest.mark.parametrize("prefix", _PREFIXES)
@pytest.mark.parametrize("unit,target", _SPELLINGS)
def test_fast_unit_path_equals_pint(prefix, unit, target):
    """The spellings read without pint give pint's value; others are left to pint."""
    from sim.units import _fast

    got = _fast(3.25, prefix + unit, target)
    if got is None:
        return      # left to pint: nothing to compare
    assert got == pytest.approx(_pint_value(3.25, prefix + unit, target), rel=1e-12)


def test_fast_unit_path_covers_the_command_line_spellings():
    from sim.units import _fast

    for unit, target in [("m", "meter"), ("Gb/s", "bit/second"), ("GB/s", "byte/second"),
                         ("GiB", "byte"), ("ns", "second"), ("pJ/bit", "joule/bit"),
                         ("Gbps", "bit/second"), ("mW", "watt"), ("cm", "meter")]:
        assert _fast(1.0, unit, target) is not None, unit
    assert _fast(1.0, "s", "meter") is None          # wrong dimension: pint says why


def test_fast_unit_path_equals_pint_on_the_parameter_tables():
    """Every unit in the parameter tables converts without pint, to pint's value."""
    import csv
    from pathlib import Path

    from sim.phy.parameters import _SI_TARGET
    from sim.units import _fast

    checked = set()
    for table in sorted((Path(__file__).parents[1] / "sim").glob("*/parameters.csv")):
        for row in csv.DictReader(table.open()):
            target = _SI_TARGET.get(row["unit"])
            if target is None:
                continue
            unit = row["unit"].replace("dB", "1")    # as sim.phy.parameters reads it
            got = _fast(2.5, unit, target)
            assert got is not None, (table.name, unit)
            assert got == pytest.approx(_pint_value(2.5, unit, target), rel=1e-12), unit
            checked.add(row["unit"])
    assert checked == {k for k, v in _SI_TARGET.items() if v is not None}
