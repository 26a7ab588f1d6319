"""Bulk number formatting for the text exporters: a whole array of floats to text at once.

The exporters write tens of thousands of coordinates per shot. Formatting them one at a time
(``f"{v:.6f}"``, ``repr(v)``) costs about a microsecond per value in Python. Each function here
gives, for a whole array, byte for byte the text of a per-value formatter, with Python's own
conversion applied to the whole array in one C-level call (``"%.6f\\n" * n % values``, or the
``repr`` of a list), so the digits are always Python's: :func:`fixed` (``%.Nf``, Silhouette),
:func:`trimmed` (``%.Nf`` less trailing zeros, After Effects and SVG), :func:`significant`
(``%.15g``, Fusion), :func:`shortest` (integer or ``repr``, the pipeline JSON and Lottie) and
:func:`float32_hex_cells` (Nuke's float32 bits). The few values where the exporters' text differs
from the bulk conversion (negative zeros, integral values of ``2**53`` and above) are formatted
again one by one by the references, the ``_*_one`` functions below;
``tests/exporters/test_numbers.py`` checks the bulk text against them value by value.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

_TWO53 = 2.0**53
_TRAILING = re.compile(r"(\.[0-9]*?)0+\n")  # zeros after the point, before the end of a value
_POINT_ZERO = re.compile(r"\.0(?=, |$)")  # the ".0" that repr gives an integral float


# --- per-value references -----------------------------------------------------------------------


def _fixed_one(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text


def _trimmed_one(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _significant_one(value: float, digits: int) -> str:
    text = f"{value:.{digits}g}"
    return "0" if float(text) == 0.0 else text


def _shortest_one(value: float) -> str:
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


# --- bulk conversion ----------------------------------------------------------------------------


def _floats(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).ravel()


def _printf(spec: str, x: np.ndarray) -> str:
    """``spec % v`` of every value, each followed by a newline, in one call."""
    return (spec + "\n") * x.size % tuple(x.tolist())


def _redo(
    out: list[str], which: np.ndarray, x: np.ndarray, reference: Callable[..., str], *args: int
) -> list[str]:
    """``out`` with the values ``which`` formatted again by ``reference``."""
    for i in np.flatnonzero(which).tolist():
        out[i] = reference(float(x[i]), *args)
    return out


def _near_negative_zero(x: np.ndarray, decimals: int) -> np.ndarray:
    """Values whose fixed-point text may be a negative zero (``-0.000``)."""
    return np.signbit(x) & (x > -(10.0**-decimals))


# --- public formatters --------------------------------------------------------------------------


def fixed(values: np.ndarray, decimals: int) -> list[str]:
    """``f"{v:.{decimals}f}"`` of every value, a rounded negative zero without its minus sign.

    Args:
        values: Array of numbers (any shape; read as float64 in C order).
        decimals: Places after the point.

    Returns:
        One string per value, e.g. ``0.500000``, ``-12.000000``, and ``0.000000`` for ``-1e-9``
        (the reference is ``_fixed_one``).
    """
    x = _floats(values)
    out = _printf(f"%.{decimals}f", x).split("\n")[:-1]
    return _redo(out, _near_negative_zero(x, decimals), x, _fixed_one, decimals)


def trimmed(values: np.ndarray, decimals: int) -> list[str]:
    """Fixed-point text with at most ``decimals`` decimals, trailing zeros and a bare point
    removed, ``-0`` written ``0``.

    Args:
        values: Array of numbers (any shape; read as float64 in C order).
        decimals: At most this many places after the point.

    Returns:
        One string per value, e.g. ``1070.4569``, ``960``, ``0`` (the reference is
        ``_trimmed_one``, :func:`exporters.after_effects.format_number`).
    """
    x = _floats(values)
    text = _printf(f"%.{decimals}f", x)
    if decimals > 0:
        text = _TRAILING.sub(r"\1\n", text).replace(".\n", "\n")
    out = text.split("\n")[:-1]
    return _redo(out, _near_negative_zero(x, decimals), x, _trimmed_one, decimals)


def significant(values: np.ndarray, digits: int = 15) -> list[str]:
    """``f"{v:.{digits}g}"`` of every value, with ``0`` for zero of either sign.

    Args:
        values: Array of numbers (any shape; read as float64 in C order).
        digits: Significant digits, at least 1.

    Returns:
        One string per value, e.g. ``0.0208333333333333``, ``-0.5``, ``1e-05`` (the reference is
        ``_significant_one``).
    """
    x = _floats(values)
    out = _printf(f"%.{digits}g", x).split("\n")[:-1]
    return _redo(out, x == 0, x, _significant_one, digits)


def shortest(values: np.ndarray) -> list[str]:
    """JSON number text: integral values below ``2**53`` in magnitude as integers, others as
    Python's shortest round-trip ``repr``.

    Args:
        values: Array of numbers (any shape; read as float64 in C order).

    Returns:
        One string per value, e.g. ``960``, ``-165.68542494923802``, ``0`` for ``-0.0`` (the
        reference is ``_shortest_one``, :func:`exporters.shapes_json._num`).
    """
    x = _floats(values)
    if not x.size:
        return []
    out = _POINT_ZERO.sub("", repr(x.tolist())[1:-1]).split(", ")
    # repr writes 2**53 <= |v| < 1e16 as "9007199254740992.0", which stays; -0.0 is written 0
    return _redo(out, (x == 0) | (np.abs(x) >= _TWO53), x, _shortest_one)


_HEX_PAIRS = np.frombuffer(bytes(range(256)).hex().encode("ascii"), dtype=np.uint16)


def float32_hex_cells(values: np.ndarray) -> np.ndarray:
    """``x%08x`` of the big-endian float32 bits of every value, ``0`` for zero of either sign, as
    fixed-width ASCII cells for a writer that lays out bytes itself (Nuke's ``x42dce9f5``).

    Args:
        values: Array of numbers (read as float64, then cast to float32: values beyond the float32
            range become infinities).

    Returns:
        ``values.shape + (9,) uint8``: ``x`` and the 8 hex digits of the big-endian float32 bits,
        or ``0`` and 8 NUL bytes for zero of either sign (NUL marks bytes that are no text).
    """
    f32 = np.asarray(values, dtype=np.float64).astype(">f4")
    cells = np.empty(f32.shape + (9,), dtype=np.uint8)
    cells[..., 0] = ord("x")
    pairs = np.take(_HEX_PAIRS, np.ascontiguousarray(f32).view(np.uint8))
    cells[..., 1:] = pairs.view(np.uint8).reshape(f32.shape + (8,))
    zero = f32 == 0
    cells[zero, 0] = ord("0")
    cells[zero, 1:] = 0
    return cells
