"""Pipeline-native roto shapes as JSON (lossless), and the checks every shape exporter shares.

Format: ``formats.md`` section 6.1, extended for objects of several contours:
``"format": "roto-shapes", "version": 2``. Coordinates are in image space
(``"space": "image-px-topleft-ydown-pixelcorner"``: plate pixels, origin at the top-left corner of
pixel (0, 0), y down); tangents are relative to their vertex; frames are plate frame numbers.
Version 2 layout (every field is required)::

    {"format": "roto-shapes", "version": 2, "width": 1920, "height": 1080, "pixel_aspect": 1,
     "fps": 24, "first_frame": 1001, "last_frame": 1010, "space": "image-px-topleft-ydown-...",
     "objects": [{"id": 2, "name": "donut", "contours": [
         {"contour": 0, "hole": false, "feather": 4, "lifetime": null, "closed": true,
          "keys": [{"frame": 1001, "points": [{"v": [960, 240], "in": [-165.7, 0],
                                              "out": [165.7, 0]}, ...]}, ...]},
         {"contour": 2, "hole": false, "feather": 0, "lifetime": [1004, 1010], ...}]}]}

One entry per object (``id``, ``name``), in order of first appearance; its ``contours`` in paint
order, each a :class:`rotoflow.types.RotoShape`: ``contour`` index, ``hole`` (subtracts; it also
runs counter-clockwise on screen), ``feather`` (soft-edge width in plate pixels, outwards),
``lifetime`` (``[first, last]`` plate frames, inclusive, or null for the span of the keys) and
sparse ``keys`` (linear interpolation between them). Version 1 (one closed shape per object:
``{"id", "name", "closed", "keys"}``) is still read, as contour 0 with no hole, no feather and no
lifetime.

The JSON Schema (draft 2020-12, both versions) is ``exporters/schemas/roto-shapes.schema.json``; it
cannot express the rules that span keys or contours (equal point counts, increasing frames, keys
within one frame of the lifetime, unique contour indices), which :func:`check_shapes` enforces.

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

from exporters.names import by_object
from exporters.numbers import shortest
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShapeKey, ShotFormat

NAME = "shapes_json"
SUFFIXES = (".json",)

FORMAT = "roto-shapes"
VERSION = 2
#: Versions :func:`read_from_string` reads (version 1: one contour per object).
READ_VERSIONS = (1, 2)
SPACE = "image-px-topleft-ydown-pixelcorner"

#: The JSON Schema (draft 2020-12) of the documents this module writes (version 2) and reads.
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
    """Check the rules every shape exporter relies on (``formats.md`` sections 0.1, 6.1 and 7).

    An object may have several shapes (contours). For each shape:

    - ``object_id`` and ``contour`` are integers, ``contour >= 0``; ``name`` is a string;
      ``hole`` is a bool; ``feather`` is a finite number of pixels ``>= 0``;
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


def _num(value: float) -> str:
    """JSON text of a finite number: integral values as integers, others as shortest repr."""
    value = float(value)
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


_POINT = '                {"v": [%s, %s], "in": [%s, %s], "out": [%s, %s]}'


def _contour_pieces(shape: RotoShape) -> list[str]:
    """One ``contours`` entry, indented for its place in the document, in pieces (the document
    is joined once)."""
    pts = np.stack([np.asarray(k.points, dtype=np.float64) for k in shape.keys])
    numbers = shortest(pts)
    key_text = (
        '            {\n              "frame": %d,\n              "points": [\n'
        + ",\n".join([_POINT] * pts.shape[1])
        + "\n              ]\n            }"
    )
    per_key = pts[0].size
    values: list[int | str] = []
    for k, key in enumerate(shape.keys):
        values.append(int(key.frame))
        values += numbers[k * per_key : (k + 1) * per_key]
    life = shape.lifetime
    lifetime = "null" if life is None else f"[{int(life[0])}, {int(life[1])}]"
    head = (
        "        {\n"
        f'          "contour": {int(shape.contour)},\n'
        f'          "hole": {"true" if shape.hole else "false"},\n'
        f'          "feather": {_num(shape.feather)},\n'
        f'          "lifetime": {lifetime},\n'
        '          "closed": true,\n'
        '          "keys": [\n'
    )
    keys = ",\n".join([key_text] * len(shape.keys)) % tuple(values)
    return [head, keys, "\n          ]\n        }"]


def write_to_string(shapes: Sequence[RotoShape], fmt: ShotFormat, **options: Any) -> str:
    """Write shapes as a ``roto-shapes`` version 2 JSON document.

    Shapes are grouped into objects by ``object_id`` (:func:`exporters.names.by_object`): objects
    in order of first appearance, each object's contours in their given (paint) order. A list
    whose objects are already contiguous (as the vectorize stage writes it) reads back in the
    same order; an interleaved one reads back grouped.

    Args:
        shapes: Shapes to write, in image space (see :class:`rotoflow.types.RotoShape`).
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
    header = [
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
    out = ["\n".join(header) + "\n"]
    objects = by_object(shapes)
    if not objects:
        out.append('  "objects": []')
    for g, group in enumerate(objects):
        out.append('  "objects": [\n' if g == 0 else ",\n")
        out.append(
            "    {\n"
            f'      "id": {int(group[0].object_id)},\n'
            f'      "name": {json.dumps(group[0].name, ensure_ascii=False)},\n'
            '      "contours": [\n'
        )
        for c, shape in enumerate(group):
            if c:
                out.append(",\n")
            out += _contour_pieces(shape)
        out.append("\n      ]\n    }")
    if objects:
        out.append("\n  ]")
    out.append("\n}\n")
    return "".join(out)


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


def _keys(entry: dict, where: str) -> list[ShapeKey]:
    """The keys of a version 1 object or a version 2 contour (which must be closed)."""
    if not _get(entry, "closed", bool, where):
        raise ExportError(f"roto-shapes JSON: {where} is an open shape; only closed shapes")
    keys = []
    for k, key in enumerate(_get(entry, "keys", list, where)):
        kwhere = f"{where}.keys[{k}]"
        pts = _points(_get(key, "points", list, kwhere), f"{kwhere}.points")
        keys.append(ShapeKey(frame=_get(key, "frame", int, kwhere), points=pts))
    return keys


def _contour(entry: dict, object_id: int, name: str, where: str) -> RotoShape:
    """A version 2 ``contours`` entry as a shape."""
    life = _get(entry, "lifetime", (list, type(None)), where)
    if life is not None and (
        len(life) != 2 or not all(isinstance(f, int) and not isinstance(f, bool) for f in life)
    ):
        raise ExportError(
            f"roto-shapes JSON: {where}.lifetime must be null or [first, last] frames, got {life!r}"
        )
    return RotoShape(
        object_id=object_id,
        name=name,
        keys=_keys(entry, where),
        contour=_get(entry, "contour", int, where),
        hole=_get(entry, "hole", bool, where),
        feather=float(_get(entry, "feather", (int, float), where)),
        lifetime=None if life is None else (life[0], life[1]),
    )


def read_from_string(text: str) -> tuple[ShotFormat, list[RotoShape]]:
    """Read a ``roto-shapes`` JSON document, version 2 or 1.

    Args:
        text: The document.

    Returns:
        The shot format and the flat list of shapes (points ``(N, 3, 2) float64`` in image space),
        objects in document order and each object's contours in document (paint) order. A version
        1 object becomes one shape with ``contour`` 0, ``hole`` False, ``feather`` 0.0 and
        ``lifetime`` None.

    Raises:
        ExportError: invalid JSON (with line and column), another format, version or space, a
            missing or mistyped field (with its JSON path), an open shape, an object without
            contours or with the id of an earlier object, or shapes that fail
            :func:`check_shapes`.
    """
    doc = load_json(text, "roto-shapes JSON")
    if _get(doc, "format", str, "document") != FORMAT:
        raise ExportError(f"not a {FORMAT!r} document: format is {doc['format']!r}")
    version = _get(doc, "version", int, "document")
    if version not in READ_VERSIONS:
        known = ", ".join(map(str, READ_VERSIONS))
        raise ExportError(f"{FORMAT} version {version!r} is not supported; known: {known}")
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
    shapes: list[RotoShape] = []
    ids: dict[int, int] = {}
    for i, obj in enumerate(_get(doc, "objects", list, "document")):
        where = f"objects[{i}]"
        object_id, name = _get(obj, "id", int, where), _get(obj, "name", str, where)
        if object_id in ids:
            raise ExportError(
                f"roto-shapes JSON: {where}.id {object_id} repeats objects[{ids[object_id]}]; "
                "an object's contours belong in one entry"
            )
        ids[object_id] = i
        if version == 1:
            shapes.append(RotoShape(object_id, name, keys=_keys(obj, where)))
            continue
        contours = _get(obj, "contours", list, where)
        if not contours:
            raise ExportError(f"roto-shapes JSON: {where}.contours is empty")
        for c, entry in enumerate(contours):
            shapes.append(_contour(entry, object_id, name, f"{where}.contours[{c}]"))
    check_shapes(shapes)
    return fmt, shapes
