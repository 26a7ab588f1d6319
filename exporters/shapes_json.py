"""Pipeline-native roto shapes as JSON (lossless).

Format: ``docs/formats.md`` section 6.1, extended for objects of several contours:
``"format": "roto-shapes", "version": 2``. Coordinates are in image space
(``"space": "image-px-topleft-ydown-pixelcorner"``: plate pixels, origin at the top-left corner of
pixel (0, 0), y down); tangents are relative to their vertex; frames are plate frame numbers.
An optional ``"start_frame"`` records the host frame at which the plate's first frame sits in the
roto formats written with the file (:mod:`exporters.frames`; :func:`read_start_frame`).
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
runs counter-clockwise on screen), ``feather`` (soft-edge width in plate pixels,
centred on the path), ``band`` (optional; per control point ``[inside, outside]`` pixels where the
alpha's ramp starts and ends, or null: :attr:`rotoflow.types.RotoShape.band`),
``lifetime`` (``[first, last]`` plate frames, inclusive, or null for the span of the keys) and
sparse ``keys`` (linear interpolation between them). Version 1 (one closed shape per object:
``{"id", "name", "closed", "keys"}``) is still read, as contour 0 with no hole, no feather and no
lifetime.

The JSON Schema (draft 2020-12, both versions) is ``exporters/schemas/roto-shapes.schema.json``; it
cannot express the rules that span keys or contours (equal point counts, increasing frames, keys
within one frame of the lifetime, unique contour indices), which
:func:`exporters.checks.check_shapes` enforces.

Floats are written with Python's shortest round-trip ``repr`` (integral values as integers), so a
write and read gives back the same float64 values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from exporters.checks import check_format, check_shapes, load_json
from exporters.features import Feature
from exporters.frames import check_start_frame
from exporters.names import by_object
from exporters.numbers import shortest
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShapeKey, ShotFormat

NAME = "shapes_json"
SUFFIXES = (".json",)
FEATURES = frozenset({Feature.WRITE_ROTO, Feature.READ_ROTO, Feature.NEGATIVE_FRAMES})

FORMAT = "roto-shapes"
VERSION = 2
#: Versions :func:`read_from_string` reads (version 1: one contour per object).
READ_VERSIONS = (1, 2)
SPACE = "image-px-topleft-ydown-pixelcorner"

#: The JSON Schema (draft 2020-12) of the documents this module writes (version 2) and reads.
SCHEMA_PATH = Path(__file__).with_name("schemas") / "roto-shapes.schema.json"


def _num(value: float) -> str:
    """JSON text of a finite number: integral values as integers, others as shortest repr."""
    value = float(value)
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _band_text(band: Any) -> str:
    """JSON text of a contour's band: ``null`` or ``[[inside, outside], ...]``."""
    if band is None:
        return "null"
    rows = np.asarray(band, dtype=np.float64).reshape(-1, 2)
    return "[" + ", ".join(f"[{_num(a)}, {_num(b)}]" for a, b in rows) + "]"


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
        f'          "band": {_band_text(shape.band)},\n'
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
        **options: ``start_frame`` (int or None, default None): the host frame at which the
            plate's first frame was written in the other formats of the same export
            (:mod:`exporters.frames`), recorded as ``"start_frame"``; keys here stay at plate
            frames. No other option is accepted.

    Returns:
        The document, UTF-8 text with ``\\n`` line ends and a final newline.

    Raises:
        ExportError: an unknown option, or shapes or format that fail
            :func:`~exporters.checks.check_shapes` or :func:`~exporters.checks.check_format`.
    """
    start_frame = options.pop("start_frame", None)
    if options:
        raise ExportError(
            f"exporter {NAME!r} takes only start_frame; got {', '.join(sorted(options))}"
        )
    check_start_frame(start_frame)
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
    if start_frame is not None:
        header.insert(-1, f'  "start_frame": {int(start_frame)},')
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
        band=_band(entry.get("band"), where),
    )


def _band(value: Any, where: str) -> np.ndarray | None:
    """A contour's ``band`` (absent or null: None) as ``(N, 2) float64``."""
    if value is None:
        return None
    ok = isinstance(value, list) and all(
        isinstance(row, list)
        and len(row) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)
        for row in value
    )
    if not ok:
        raise ExportError(
            f"roto-shapes JSON: {where}.band must be null or [[inside, outside], ...] pixels"
        )
    return np.array(value, dtype=np.float64).reshape(-1, 2)


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
            :func:`~exporters.checks.check_shapes`.
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


def read_start_frame(text: str) -> int | None:
    """The ``"start_frame"`` a document records (the host frame of the plate's first frame in the
    formats exported with it), or None when it records none (plate frame numbers).

    Raises:
        ExportError: invalid JSON, or a ``start_frame`` that is not an integer.
    """
    doc = load_json(text, "roto-shapes JSON")
    if not isinstance(doc, dict) or doc.get("start_frame") is None:
        return None
    return _get(doc, "start_frame", int, "document")
