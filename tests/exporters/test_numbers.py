"""The bulk number formatters against per-value formatting, value by value.

Each reference below is the per-value formatting an exporter used before the bulk formatters (and
:func:`exporters.after_effects.format_number`, which still is one): the bulk text must be the same,
byte for byte, including the values that the bulk code hands back to the reference (ties, values
near a rounding boundary, magnitudes outside its range, non-finite values).
"""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from exporters import numbers
from exporters.after_effects import format_number

EDGE = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    24.0,
    960.0,
    -1080.0,
    0.5,
    -0.5,
    1.5,
    2.5,
    -2.5,
    0.125,
    -0.375,
    0.0625,
    2.675,
    1.005,
    0.1,
    0.2,
    0.3,
    0.30000000000000004,
    1 / 3,
    -2 / 3,
    1e-7,
    -1e-7,
    -1e-9,
    4e-7,
    -4e-7,
    5e-7,
    -5e-7,
    6e-7,
    -6e-7,
    -2.4999999999999996e-07,
    4.9999e-5,
    5e-5,
    -5e-5,
    1.25e-5,
    9.9999e-5,
    1e-4,
    -1e-4,
    0.00049999999999999999,
    0.0005,
    9.999999999999999,
    0.09999999999999999,
    99999999999999.99,
    999999999999999.9,
    1919.99999995,
    123456.7890125,
    1e15,
    -1e15,
    1e15 + 0.5,
    2.0**53 - 1,
    2.0**53,
    -(2.0**53),
    2.0**53 + 2,
    9.1e15,
    1e16,
    -1e16,
    1e17,
    2.0**63,
    1e22,
    1e23,
    1e300,
    -1e300,
    1.7976931348623157e308,
    2.2250738585072014e-308,
    5e-324,
    -5e-324,
]
NON_FINITE = [math.inf, -math.inf, math.nan]


def _fixed(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text


def _significant(value: float, digits: int) -> str:
    text = f"{value:.{digits}g}"
    return "0" if float(text) == 0.0 else text


def _shortest(value: float) -> str:
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _float32_hex(value: float) -> str:
    f32 = float(np.float32(value))
    if f32 == 0.0:
        return "0"
    return f"x{struct.unpack('>I', struct.pack('>f', f32))[0]:08x}"


def _values(seed: int, size: int = 10000) -> np.ndarray:
    """Edge values, their float neighbours, and random values of many magnitudes, some rounded
    to a few decimals (trailing zeros) or to halves (ties)."""
    rng = np.random.default_rng(seed)
    edge = np.array(EDGE)
    finite_edge = edge[np.abs(edge) < 1e308]
    parts = [
        edge,
        np.nextafter(finite_edge, np.inf),
        np.nextafter(finite_edge, -np.inf),
        rng.uniform(-2000, 2000, size),
        rng.uniform(-1, 1, size) * 10.0 ** rng.uniform(-9, 17, size),
        np.round(rng.uniform(-2000, 2000, size), rng.integers(0, 9)),
        np.round(rng.uniform(-100, 100, size) * 8) / 8,
        (rng.integers(-(10**6), 10**6, size) + 0.5) / 10.0 ** rng.integers(0, 8, size),
        rng.integers(-(2**60), 2**60, size).view(np.float64),  # any bit pattern
    ]
    values = np.concatenate(parts)
    return values[np.isfinite(values)]


@pytest.mark.parametrize("decimals", [0, 1, 2, 4, 6, 9, 12, 15, 20])
def test_fixed_equals_per_value_formatting(decimals):
    values = _values(decimals)
    got = numbers.fixed(values, decimals)
    assert got == [_fixed(v, decimals) for v in values.tolist()]


@pytest.mark.parametrize("decimals", [0, 1, 4, 6, 9, 15])
def test_trimmed_equals_format_number(decimals):
    values = _values(100 + decimals)
    got = numbers.trimmed(values, decimals)
    assert got == [format_number(v, decimals) for v in values.tolist()]


@pytest.mark.parametrize("digits", [1, 6, 15, 17])
def test_significant_equals_per_value_formatting(digits):
    values = np.concatenate([_values(200 + digits), _values(300 + digits) / 1920.0])
    got = numbers.significant(values, digits)
    assert got == [_significant(v, digits) for v in values.tolist()]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shortest_equals_integer_or_repr(seed):
    values = _values(400 + seed, size=20000)
    rounded = np.round(values[np.abs(values) < 1e280], 6)  # what the Lottie writer formats
    for v in (values, rounded):
        assert numbers.shortest(v) == [_shortest(x) for x in v.tolist()]


def test_edge_values_read_as_expected():
    # -5e-7 is a little above -0.0000005 in binary, so it rounds to a negative zero
    assert numbers.fixed([-0.0, -1e-9, -5e-7, -6e-7, 0.5, 2.5], 6) == [
        "0.000000",
        "0.000000",
        "0.000000",
        "-0.000001",
        "0.500000",
        "2.500000",
    ]
    assert numbers.fixed([0.5, 1.5, 2.5, -0.4], 0) == ["0", "2", "2", "0"]  # half to even
    assert numbers.trimmed([960.0, -0.0, -1e-9, 1070.45685, 1e-7, 0.10], 4) == [
        "960",
        "0",
        "0",
        "1070.4569",
        "0",
        "0.1",
    ]
    assert numbers.significant([-0.0, 0.0, 1 / 48, -0.5, 2.6e-5, 1e15], 15) == [
        "0",
        "0",
        "0.0208333333333333",
        "-0.5",
        "2.6e-05",
        "1e+15",
    ]
    assert numbers.shortest([-0.0, 24.0, 0.1, 1e-7, 1e16, 2.0**53, 1.5]) == [
        "0",
        "24",
        "0.1",
        "1e-07",
        "1e+16",
        "9007199254740992.0",
        "1.5",
    ]


def test_non_finite_values_are_written_as_python_writes_them():
    values = np.array(NON_FINITE + [1.5])
    assert numbers.fixed(values, 6) == ["inf", "-inf", "nan", "1.500000"]
    assert numbers.trimmed(values, 4) == ["inf", "-inf", "nan", "1.5"]
    assert numbers.significant(values) == ["inf", "-inf", "nan", "1.5"]
    assert numbers.shortest(values) == ["inf", "-inf", "nan", "1.5"]


def _cells_text(cells: np.ndarray) -> list[str]:
    return [bytes(cell).replace(b"\0", b"").decode("ascii") for cell in cells.reshape(-1, 9)]


def test_float32_hex_cells_equal_struct_packing():
    values = np.concatenate([np.array(EDGE)[np.abs(EDGE) < 3e38], _values(500)[:3000] % 1e6])
    values = np.concatenate([values, [1e-45, -1e-45, 1e-50, 3.4028234e38]])
    cells = numbers.float32_hex_cells(values)
    assert cells.shape == (values.size, 9)
    assert _cells_text(cells) == [_float32_hex(v) for v in values.tolist()]
    assert _cells_text(numbers.float32_hex_cells([0.0, -0.0, 1.0, 0.5])) == [
        "0",
        "0",
        "x3f800000",
        "x3f000000",
    ]
    assert bytes(numbers.float32_hex_cells(0.0)) == b"0" + b"\0" * 8  # NUL pads a zero


def test_empty_arrays_give_empty_lists():
    for empty in ([], np.zeros(0), np.zeros((0, 3, 2))):
        assert numbers.fixed(empty, 6) == []
        assert numbers.trimmed(empty, 4) == []
        assert numbers.significant(empty) == []
        assert numbers.shortest(empty) == []
        assert numbers.float32_hex_cells(empty).shape == np.shape(empty) + (9,)


def test_values_are_read_in_c_order_of_any_shape():
    rng = np.random.default_rng(7)
    keys = rng.uniform(-500, 500, (5, 7, 3, 2))
    view = keys.transpose(0, 2, 1, 3)  # not contiguous
    flat = np.ascontiguousarray(view).ravel().tolist()
    assert numbers.trimmed(view, 6) == [format_number(v, 6) for v in flat]
    assert numbers.shortest(view) == [_shortest(v) for v in flat]
    assert numbers.fixed(view, 6) == [_fixed(v, 6) for v in flat]
    assert numbers.significant(view) == [_significant(v, 15) for v in flat]
    assert _cells_text(numbers.float32_hex_cells(view)) == [_float32_hex(v) for v in flat]
