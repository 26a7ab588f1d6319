"""Pipeline-native roto shapes as JSON (lossless), and the checks every shape exporter shares.

Format: ``formats.md`` section 6.1, ``"format": "roto-shapes", "version": 1``. Coordinates are in
image space (``"space": "image-px-topleft-ydown-pixelcorner"``: plate pixels, origin at the top-left
corner of pixel (0, 0), y down); tangents are relative to their vertex; frames are plate frame
numbers. The JSON Schema is ``exporters/schemas/roto-shapes.schema.json``; it cannot express the
rules that span keys (equal point counts, increasing frames), which :func:`check_shapes` enforces.

Floats are written with Python's shortest round-trip ``repr`` (integral values as integers), so a
write and read gives back the same float64 values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShapeKey, ShotFormat

NAME = "shapes_json"
SUFFIXES = (".json",)

FORMAT = "roto-shapes"
VERSION = 1
SPACE = "image-px-topleft-ydown-pixelcorner"

#: The JSON Schema (draft 2020-12) of the document this module writes.
SCHEMA_PATH = Path(__file__).with_name("schemas") / "roto-shapes.schema.json"


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


def check_shapes(shapes: Sequence[RotoShape]) -> None:
    """Check the rules every shape exporter relies on (``formats.md`` sections 0.1, 6.1 and 7).

    Each shape needs at least one key; every key ``points`` array is ``(N, 3, 2)`` with ``N >= 3``
    and the same ``N`` in every key of the shape; all values are finite; key frames are integers in
    strictly increasing order.

    Raises:
        ExportError: the first rule broken, naming the shape and the frame.
    """
    for shape in shapes:
        if not shape.keys:
            raise ExportError(f"shape {shape.name!r} has no keys")
        first: ShapeKey | None = None
        prev: ShapeKey | None = None
        for key in shape.keys:
            frame = key.frame
            if isinstance(frame, bool) or not isinstance(frame, int | np.integer):
                raise ExportError(f"shape {shape.name!r}: key frame {frame!r} is not an integer")
            pts = np.asarray(key.points)
            if pts.ndim != 3 or pts.shape[1:] != (3, 2):
                raise ExportError(
                    f"shape {shape.name!r} frame {frame}: points must be (N, 3, 2) "
                    f"[vertex, in, out], got shape {pts.shape}"
                )
            if pts.shape[0] < 3:
                raise ExportError(
                    f"shape {shape.name!r} frame {frame}: {pts.shape[0]} control points; "
                    "a closed shape needs at least 3"
                )
            if not np.issubdtype(pts.dtype, np.number) or not np.all(np.isfinite(pts)):
                raise ExportError(f"shape {shape.name!r} frame {frame}: non-finite point values")
            if first is None:
                first = key
            elif pts.shape[0] != np.asarray(first.points).shape[0]:
                raise ExportError(
                    f"shape {shape.name!r} has {np.asarray(first.points).shape[0]} control points "
                    f"at frame {first.frame} but {pts.shape[0]} at frame {frame}; "
                    "every key needs the same count"
                )
            if prev is not None and frame <= prev.frame:
                raise ExportError(
                    f"shape {shape.name!r}: key frames must strictly increase, "
                    f"got {prev.frame} then {frame}"
                )
            prev = key


def _num(value: float) -> str:
    """JSON text of a finite number: integral values as integers, others as shortest repr."""
    value = float(value)
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _pair(xy: np.ndarray) -> str:
    return f"[{_num(xy[0])}, {_num(xy[1])}]"


def write_to_string(shapes: Sequence[RotoShape], fmt: ShotFormat, **options: Any) -> str:
    """Write shapes as a ``roto-shapes`` JSON document.

    Args:
        shapes: Shapes to write, in image space (see :class:`rotoflow.types.ShapeKey`).
        fmt: The shot's format.
        **options: None are accepted; present for the exporter interface.

    Returns:
        The document, UTF-8 text with ``\\n`` line ends and a final newline.

    Raises:
        ExportError: an unknown option, or shapes or format that fail :func:`check_shapes` or
            :func:`check_format`.
    """
    if options:
        raise ExportError(f"exporter {NAME!r} takes no options; got {', '.join(sorted(options))}")
    check_format(fmt)
    check_shapes(shapes)
    out = [
        "{",
        f'  "format": "{FORMAT}",',
        f'  "version": {VERSION},',
        f'  "width": {int(fmt.width)},',
        f'  "height": {int(fmt.height)},',
        f'  "pixel_aspect": {_num(fmt.pixel_aspect)},',
        f'  "fps": {_num(fmt.fps)},',
        f'  "first_frame": {int(fmt.first_frame)},',
        f'  "last_frame": {int(fmt.last_frame)},',
        f'  "space": "{SPACE}",',
    ]
    objects = []
    for shape in shapes:
        keys = []
        for key in shape.keys:
            pts = np.asarray(key.points, dtype=np.float64)
            rows = ",\n".join(
                f'            {{"v": {_pair(p[0])}, "in": {_pair(p[1])}, "out": {_pair(p[2])}}}'
                for p in pts
            )
            keys.append(
                f'        {{\n          "frame": {int(key.frame)},\n'
                f'          "points": [\n{rows}\n          ]\n        }}'
            )
        objects.append(
            "    {\n"
            f'      "id": {int(shape.object_id)},\n'
            f'      "name": {json.dumps(shape.name, ensure_ascii=False)},\n'
            '      "closed": true,\n'
            '      "keys": [\n' + ",\n".join(keys) + "\n      ]\n    }"
        )
    if objects:
        out.append('  "objects": [\n' + ",\n".join(objects) + "\n  ]")
    else:
        out.append('  "objects": []')
    out.append("}")
    return "\n".join(out) + "\n"


def _reject_constant(name: str) -> float:
    raise ExportError(f"roto-shapes JSON: non-finite number {name} is not allowed")


def _get(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict):
        raise ExportError(f"roto-shapes JSON: {where} must be an object")
    if key not in obj:
        raise ExportError(f"roto-shapes JSON: {where} lacks {key!r}")
    value = obj[key]
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ExportError(f"roto-shapes JSON: {where}.{key} has the wrong type: {value!r}")
    if not isinstance(value, kind):
        raise ExportError(f"roto-shapes JSON: {where}.{key} has the wrong type: {value!r}")
    return value


def _points(raw: Any, where: str) -> np.ndarray:
    if not isinstance(raw, list):
        raise ExportError(f"roto-shapes JSON: {where} must be a list")
    pts = np.empty((len(raw), 3, 2), dtype=np.float64)
    for i, p in enumerate(raw):
        for j, slot in enumerate(("v", "in", "out")):
            xy = _get(p, slot, list, f"{where}[{i}]")
            if len(xy) != 2 or not all(
                isinstance(c, int | float) and not isinstance(c, bool) for c in xy
            ):
                raise ExportError(
                    f"roto-shapes JSON: {where}[{i}].{slot} must be two numbers, got {xy!r}"
                )
            pts[i, j] = xy
    return pts


def read_from_string(text: str) -> tuple[ShotFormat, list[RotoShape]]:
    """Read a ``roto-shapes`` JSON document.

    Args:
        text: The document.

    Returns:
        The shot format and the shapes (points ``(N, 3, 2) float64`` in image space).

    Raises:
        ExportError: invalid JSON (with line and column), another format, version or space, a
            missing or mistyped field (with its JSON path), an open shape, or shapes that fail
            :func:`check_shapes`.
    """
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ExportError(
            f"roto-shapes JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    if _get(doc, "format", str, "document") != FORMAT:
        raise ExportError(f"not a {FORMAT!r} document: format is {doc['format']!r}")
    if _get(doc, "version", int, "document") != VERSION:
        raise ExportError(f"{FORMAT} version {doc['version']!r} is not supported; known: {VERSION}")
    if _get(doc, "space", str, "document") != SPACE:
        raise ExportError(f"{FORMAT} space {doc['space']!r} is not supported; known: {SPACE}")
    fmt = ShotFormat(
        width=_get(doc, "width", int, "document"),
        height=_get(doc, "height", int, "document"),
        pixel_aspect=float(_get(doc, "pixel_aspect", (int, float), "document")),
        fps=float(_get(doc, "fps", (int, float), "document")),
        first_frame=_get(doc, "first_frame", int, "document"),
        last_frame=_get(doc, "last_frame", int, "document"),
    )
    check_format(fmt)
    shapes = []
    for i, obj in enumerate(_get(doc, "objects", list, "document")):
        where = f"objects[{i}]"
        if not _get(obj, "closed", bool, where):
            raise ExportError(f"roto-shapes JSON: {where} is an open shape; only closed shapes")
        keys = []
        for k, key in enumerate(_get(obj, "keys", list, where)):
            kwhere = f"{where}.keys[{k}]"
            pts = _points(_get(key, "points", list, kwhere), f"{kwhere}.points")
            keys.append(ShapeKey(frame=_get(key, "frame", int, kwhere), points=pts))
        shapes.append(
            RotoShape(
                object_id=_get(obj, "id", int, where), name=_get(obj, "name", str, where), keys=keys
            )
        )
    check_shapes(shapes)
    return fmt, shapes
