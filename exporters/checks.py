"""Input checks every exporter shares: shot formats, roto shapes, frame ranges, options, mattes.

Every adapter (:mod:`exporters.nuke`, :mod:`exporters.lottie`, ...) calls these before it writes
or after it reads, so that one rule gives one message whatever the format. The rules for shapes
are ``docs/formats.md`` sections 0.1, 6.1 and 7; the pipeline JSON's schema
(``exporters/schemas/roto-shapes.schema.json``) cannot express the ones that span keys or contours,
which :func:`check_shapes` enforces. :func:`load_json` is the strict parse (no ``NaN``) that the
JSON formats' readers share.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rotoflow.errors import ExportError
from rotoflow.mattes import as_unit
from rotoflow.types import RotoShape, ShapeKey, ShotFormat


def check_format(fmt: ShotFormat) -> None:
    """Check that a shot format can be exported.

    Raises:
        ExportError: width or height not a positive integer, pixel aspect or fps not a positive
            finite number, or ``first_frame > last_frame``.
    """
    for field in ("width", "height", "first_frame", "last_frame"):
        value = getattr(fmt, field)
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ExportError(f"shot format {field} must be an integer, got {value!r}")
    if fmt.width < 1 or fmt.height < 1:
        raise ExportError(f"shot format size must be positive, got {fmt.width}x{fmt.height}")
    for field in ("pixel_aspect", "fps"):
        value = getattr(fmt, field)
        if not (isinstance(value, int | float | np.number) and math.isfinite(value) and value > 0):
            raise ExportError(f"shot format {field} must be a positive number, got {value!r}")
    if fmt.first_frame > fmt.last_frame:
        raise ExportError(
            f"shot format first_frame {fmt.first_frame} is after last_frame {fmt.last_frame}"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )


def _show(value: Any) -> str:
    """An id or index for a message: ``7`` for any integer type, else its repr."""
    return str(int(value)) if _is_int(value) else repr(value)


def _check_contour_fields(shape: RotoShape, who: str) -> None:
    """The per-contour fields: object id, name, contour index, hole, feather and lifetime."""
    if not _is_int(shape.object_id):
        raise ExportError(f"{who}: object_id {shape.object_id!r} is not an integer")
    if not isinstance(shape.name, str):
        raise ExportError(f"{who}: name {shape.name!r} is not a string")
    if not _is_int(shape.contour) or shape.contour < 0:
        raise ExportError(f"{who}: contour {shape.contour!r} is not an integer >= 0")
    if not isinstance(shape.hole, bool | np.bool_):
        raise ExportError(f"{who}: hole {shape.hole!r} is not True or False")
    feather = shape.feather
    if not (_is_real(feather) and math.isfinite(feather) and feather >= 0):
        raise ExportError(
            f"{who}: feather {feather!r} must be a finite number of pixels >= 0 (0 = hard edge)"
        )
    band = shape.band
    if band is not None and shape.keys:  # (no keys: refused by _check_keys)
        b = np.asarray(band)
        n = np.asarray(shape.keys[0].points).shape[0]
        if (
            b.ndim != 2
            or b.shape[1] != 2
            or b.shape[0] != n
            or not np.issubdtype(b.dtype, np.number)
            or not np.all(np.isfinite(b))
            or np.any(b < 0)
        ):
            raise ExportError(
                f"{who}: band must be None or (N, 2) finite [inside, outside] pixels >= 0, one "
                f"row per control point ({n}); got shape {b.shape}"
            )
    life = shape.lifetime
    if life is None:
        return
    if not (isinstance(life, tuple | list) and len(life) == 2 and all(map(_is_int, life))):
        raise ExportError(f"{who}: lifetime {life!r} must be None or (first, last) frames")
    if life[0] > life[1]:
        raise ExportError(f"{who}: lifetime first frame {life[0]} is after last frame {life[1]}")


def _check_keys(shape: RotoShape, who: str) -> None:
    """Keys: integer frames in strictly increasing order, ``(N, 3, 2)`` finite points, one N."""
    if not shape.keys:
        raise ExportError(f"{who} has no keys")
    first: ShapeKey | None = None
    prev: ShapeKey | None = None
    for key in shape.keys:
        frame = key.frame
        if not _is_int(frame):
            raise ExportError(f"{who}: key frame {frame!r} is not an integer")
        pts = np.asarray(key.points)
        if pts.ndim != 3 or pts.shape[1:] != (3, 2):
            raise ExportError(
                f"{who} frame {frame}: points must be (N, 3, 2) [vertex, in, out], "
                f"got shape {pts.shape}"
            )
        if pts.shape[0] < 3:
            raise ExportError(
                f"{who} frame {frame}: {pts.shape[0]} control points; "
                "a closed shape needs at least 3"
            )
        if not np.issubdtype(pts.dtype, np.number) or not np.all(np.isfinite(pts)):
            raise ExportError(f"{who} frame {frame}: non-finite point values")
        if first is None:
            first = key
        elif pts.shape[0] != np.asarray(first.points).shape[0]:
            raise ExportError(
                f"{who} has {np.asarray(first.points).shape[0]} control points "
                f"at frame {first.frame} but {pts.shape[0]} at frame {frame}; "
                "every key needs the same count"
            )
        if prev is not None and frame <= prev.frame:
            raise ExportError(
                f"{who}: key frames must strictly increase, got {prev.frame} then {frame}"
            )
        prev = key


def check_frame_range(shapes: Sequence[RotoShape], fmt: ShotFormat) -> None:
    """Check that every key lies in the shot's ``[first_frame, last_frame]``.

    Every exporter but the pipeline JSON calls it: formats that count time from the shot's first
    frame (AE seconds, Lottie frame indices, Silhouette session frames) would otherwise get keys at
    negative times or past the end of the comp, and dropping keys would change the matte.

    Raises:
        ExportError: naming the shape, the frame and the shot range.
    """
    for shape in shapes:
        for key in shape.keys:
            if not fmt.first_frame <= key.frame <= fmt.last_frame:
                raise ExportError(
                    f"shape {shape.label!r} (object {shape.object_id}) has a key at frame "
                    f"{key.frame}, outside the shot's frames {fmt.first_frame}-{fmt.last_frame};"
                    " only keys inside the shot are written: remove the key or widen the shot"
                )


def check_shapes(shapes: Sequence[RotoShape]) -> None:
    """Check the rules every shape exporter relies on (``docs/formats.md`` sections 0.1, 6.1 and 7).

    An object may have several shapes (contours). For each shape:

    - ``object_id`` and ``contour`` are integers, ``contour >= 0``; ``name`` is a string;
      ``hole`` is a bool; ``feather`` is a finite number of pixels ``>= 0``; ``band`` is None
      or ``(N, 2)`` finite pixels ``>= 0``, one row per control point;
    - at least one key; key frames are integers in strictly increasing order; every key's
      ``points`` is ``(N, 3, 2)`` with ``N >= 3``, the same ``N`` in every key, all finite;
    - ``lifetime`` is None or ``(first, last)`` integer frames with ``first <= last``, and every
      key frame lies in ``[first - 1, last + 1]`` (the collapsed keys sit one frame outside).

    Across shapes: each ``(object_id, contour)`` pair appears once, and all shapes of an object
    have the same ``name``. Keys are not checked against the shot's frame range here.

    Raises:
        ExportError: the first rule broken, in one line naming the shape (its
            :attr:`~rotoflow.types.RotoShape.label`, object id and contour) and, for key rules,
            the frame.
    """
    names: dict[int, str] = {}
    seen: set[tuple[int, int]] = set()
    for shape in shapes:
        oid, contour = (_show(v) for v in (shape.object_id, shape.contour))
        who = f"shape {shape.label!r} (object {oid}, contour {contour})"
        _check_contour_fields(shape, who)
        _check_keys(shape, who)
        if shape.lifetime is not None:
            first, last = shape.lifetime
            for key in shape.keys:
                if not first - 1 <= key.frame <= last + 1:
                    raise ExportError(
                        f"{who}: key frame {key.frame} is outside lifetime {first}..{last}; keys "
                        "may lie at most one frame outside it (the collapsed keys)"
                    )
        oid, contour = int(shape.object_id), int(shape.contour)
        if (oid, contour) in seen:
            raise ExportError(
                f"{who}: object {oid} has two shapes with contour {contour}; "
                "each contour of an object needs its own index"
            )
        seen.add((oid, contour))
        if names.setdefault(oid, shape.name) != shape.name:
            raise ExportError(
                f"{who}: object {oid} is named {names[oid]!r} by an earlier shape; "
                "all shapes of an object need the same name"
            )


#: Key interpolation choices: ``"linear"`` blends point by point between keys (the shapes are
#: fitted per frame, so this is what the artist sees between keys); ``"hold"`` keeps each key's
#: shape until the next one.
INTERPOLATIONS = ("linear", "hold")


def check_options(interpolation: str, decimals: int) -> None:
    """Check the options shared by the After Effects and Lottie writers.

    Raises:
        ExportError: ``interpolation`` not in :data:`INTERPOLATIONS`, or ``decimals`` not an
            integer in ``[0, 15]``.
    """
    if interpolation not in INTERPOLATIONS:
        raise ExportError(
            f"interpolation must be one of {', '.join(INTERPOLATIONS)}; got {interpolation!r}"
        )
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 15:
        raise ExportError(f"decimals must be an integer from 0 to 15, got {decimals!r}")


#: One frame's mattes: object name to ``(H, W)`` array, as a mapping or as pairs.
Mattes = Mapping[str, np.ndarray] | Sequence[tuple[str, np.ndarray]]


def check_mattes(mattes: Mattes, fmt: ShotFormat) -> tuple[list[str], list[np.ndarray]]:
    """Check one frame's mattes against the shot format.

    Args:
        mattes: Object name to ``(H, W)`` bool mask or float alpha in ``[0, 1]``, as a mapping or
            as ``(name, array)`` pairs (pairs allow repeated names).
        fmt: The shot's format; every array must be ``(fmt.height, fmt.width)``.

    Returns:
        The names and the arrays as ``(H, W) float32`` in ``[0, 1]`` (float rounding just outside
        the range clipped, see :data:`rotoflow.mattes.RANGE_TOLERANCE`).

    Raises:
        ExportError: no mattes, a name that is not a string, an array of the wrong shape or dtype,
            NaN, or values outside ``[0, 1]``; the message names the object.
    """
    check_format(fmt)
    pairs = list(mattes.items() if isinstance(mattes, Mapping) else mattes)
    if not pairs:
        raise ExportError("no mattes to write; pass at least one object's (H, W) array")
    names, arrays = [], []
    for item in pairs:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
            raise ExportError(f"mattes must be name -> array; got an item {item!r:.60}")
        name, values = item
        arr = as_unit(values, f"matte of {name!r}")
        if arr.shape != (fmt.height, fmt.width):
            raise ExportError(
                f"matte of {name!r} is {arr.shape[1]}x{arr.shape[0]}, "
                f"the shot is {fmt.width}x{fmt.height}"
            )
        names.append(name)
        arrays.append(arr)
    return names, arrays


def load_json(text: str, what: str) -> Any:
    """Parse a JSON document strictly (``NaN`` and ``Infinity`` refused).

    Args:
        text: The document.
        what: The format's name, which starts every error message (``"roto-shapes JSON"``).

    Returns:
        The parsed document (dicts, lists, str, int, float, bool, None).

    Raises:
        ExportError: invalid JSON (with line and column) or a non-finite number.
    """

    def reject(name: str) -> float:
        raise ExportError(f"{what}: non-finite number {name} is not allowed")

    try:
        return json.loads(text, parse_constant=reject)
    except json.JSONDecodeError as exc:
        raise ExportError(f"{what}: {exc.msg} at line {exc.lineno}, column {exc.colno}") from exc
