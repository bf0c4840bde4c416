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
def test_random_text_never_escapes_as_other_error(text):
    try:
        parse_length_m(text)
    except CposimError:
        pass
