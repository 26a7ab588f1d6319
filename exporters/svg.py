"""SVG, one file per plate frame: one filled ``<path>`` per shape, its outline on that frame.

Format: ``formats.md`` section 6.2 (coordinates: section 0.3, "SVG" column). The user space is the
plate's image space: ``viewBox="0 0 W H"``, x right, y down, origin at the top-left corner of pixel
``(0, 0)``, so a vertex ``(x, y)`` is written as is. Each shape is one closed path, ``M`` to its
first vertex, one ``C`` cubic per segment (``v_i + out_i``, ``v_{i+1} + in_{i+1}``, ``v_{i+1}``,
the last segment joining point ``N-1`` to point 0) and ``Z``; numbers have at most
:data:`DECIMALS` decimals (an error of at most 5e-5 px).

Fill rule: ``fill-rule="nonzero"`` with ``fill="#fff"`` on no background, the inside rule of
:func:`rotoflow.geometry.rasterize_shape`, so a renderer's coverage above one half agrees with our
own raster. Pixel aspect: the user space stays in plate pixels and the document's ``width`` is
``W * pixel_aspect`` (``height`` = ``H``) with ``preserveAspectRatio="none"``, so a viewer shows the
plate at its display aspect while the path data keeps plate pixels.

SVG has no shape keys (SMIL morphing is ignored by rasterisers, ``formats.md`` 6.2), so each frame
gets the shapes as :func:`points_at` interpolates them: linearly between keys, held outside them.
"""

from __future__ import annotations

import math
import os
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

from exporters import atomic_write_text
from exporters.names import sanitize_name
from exporters.shapes_json import check_format, check_shapes
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShotFormat

NAME = "svg"
SUFFIXES = (".svg",)

#: Decimals of every number in the path data and the document size.
DECIMALS = 4

_PLACEHOLDER = re.compile(r"#+|%(0\d+)?d")


def points_at(shape: RotoShape, frame: float) -> np.ndarray:
    """A shape's control points on a plate frame, interpolated linearly between its keys.

    Between two keys at frames ``f0 < frame < f1`` every coordinate (vertices and relative tangents
    alike, hence also the absolute handles ``v + t``) is ``(1 - s) * p0 + s * p1`` with
    ``s = (frame - f0) / (f1 - f0)``. Before the first key and after the last the nearest key is
    held; on a key frame the key itself is returned. This is the "linear" shape-key interpolation
    of Silhouette (``interp="linear"``) and of After Effects ``LINEAR`` keys; Nuke's default is
    smooth, so between sparse keys Nuke may differ (``formats.md`` 1.4).

    Args:
        shape: A shape with at least one key, keys in strictly increasing frame order, every key
            the same point count (see :func:`exporters.shapes_json.check_shapes`).
        frame: Plate frame number (a fraction gives a sub-frame position).

    Returns:
        ``(N, 3, 2) float64`` ``[vertex, in_tangent, out_tangent]`` in image space; a new array.

    Raises:
        ExportError: the shape has no keys, or ``frame`` is not a finite number.
    """
    if not shape.keys:
        raise ExportError(f"shape {shape.name!r} has no keys")
    if isinstance(frame, bool) or not isinstance(frame, int | float | np.number):
        raise ExportError(f"frame must be a number, got {frame!r}")
    if not math.isfinite(frame):
        raise ExportError(f"frame must be finite, got {frame!r}")
    frames = [key.frame for key in shape.keys]
    i = bisect_right(frames, frame)
    if i == 0:
        return np.array(shape.keys[0].points, dtype=np.float64)
    if i == len(frames) or frames[i - 1] == frame:
        return np.array(shape.keys[i - 1].points, dtype=np.float64)
    f0, f1 = frames[i - 1], frames[i]
    p0 = np.asarray(shape.keys[i - 1].points, dtype=np.float64)
    p1 = np.asarray(shape.keys[i].points, dtype=np.float64)
    s = (frame - f0) / (f1 - f0)
    return (1.0 - s) * p0 + s * p1


def _num(value: float) -> str:
    """At most :data:`DECIMALS` decimals, trailing zeros and a negative zero dropped."""
    text = f"{float(value):.{DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def path_data(points: np.ndarray) -> str:
    """The ``d`` attribute of one closed shape: ``M x y``, one ``C`` per segment, ``Z``.

    Args:
        points: ``(N, 3, 2)`` ``[vertex, in_tangent, out_tangent]`` in image space.

    Returns:
        Path data, numbers separated by single spaces, e.g. ``M 960 340 C 1070.4569 340 ...Z``.
    """
    pts = np.asarray(points, dtype=np.float64)
    v = pts[:, 0]
    v1 = np.roll(v, -1, axis=0)
    c1 = v + pts[:, 2]
    c2 = v1 + np.roll(pts[:, 1], -1, axis=0)
    parts = [f"M {_num(v[0, 0])} {_num(v[0, 1])}"]
    for a, b, c in zip(c1, c2, v1, strict=True):
        parts.append("C " + " ".join(_num(x) for x in (*a, *b, *c)))
    return " ".join(parts) + " Z"


def _check_frame(frame: Any, fmt: ShotFormat) -> int:
    if isinstance(frame, bool) or not isinstance(frame, int | np.integer):
        raise ExportError(f"frame must be a whole plate frame number, got {frame!r}")
    if not fmt.first_frame <= frame <= fmt.last_frame:
        raise ExportError(
            f"frame {frame} is outside the shot's frames {fmt.first_frame}-{fmt.last_frame}"
        )
    return int(frame)


def _check(shapes: Sequence[RotoShape], fmt: ShotFormat, options: dict[str, Any]) -> None:
    if options:
        raise ExportError(f"exporter {NAME!r} takes no options; got {', '.join(sorted(options))}")
    check_format(fmt)
    if not shapes:
        raise ExportError("no shapes to export; an SVG frame needs at least one shape")
    check_shapes(shapes)


def _document(shapes: Sequence[RotoShape], fmt: ShotFormat, frame: int) -> str:
    taken: set[str] = set()
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(fmt.width * fmt.pixel_aspect)}" '
        f'height="{fmt.height}" viewBox="0 0 {fmt.width} {fmt.height}" '
        f'preserveAspectRatio="none" data-frame="{frame}">',
    ]
    for shape in shapes:
        ident = sanitize_name(shape.name, taken)
        lines.append(
            f'  <path id="{ident}" data-name={quoteattr(shape.name)} '
            f'data-object-id="{int(shape.object_id)}" fill="#fff" fill-rule="nonzero"\n'
            f'        d="{path_data(points_at(shape, frame))}"/>'
        )
    lines.append("</svg>")
    return "\n".join(lines) + "\n"


def write_frame(shapes: Sequence[RotoShape], fmt: ShotFormat, frame: int, **options: Any) -> str:
    """One frame as an SVG document: every shape's outline on plate frame ``frame``.

    Args:
        shapes: Shapes in image space; each becomes one ``<path>`` whose ``id`` is its name made
            into a unique identifier (:func:`exporters.names.sanitize_name`), with the name and
            object id in ``data-name`` and ``data-object-id``. Several shapes may share an object.
        fmt: The shot's format: ``viewBox``, ``width`` (times the pixel aspect), ``height``, and
            the frame range ``frame`` must lie in.
        frame: Plate frame number; the points come from :func:`points_at`.
        **options: None are accepted; present for the exporter interface.

    Returns:
        The document, UTF-8 text with ``\\n`` line ends and a final newline.

    Raises:
        ExportError: an unknown option, no shapes, shapes or format that fail
            :func:`~exporters.shapes_json.check_shapes` or
            :func:`~exporters.shapes_json.check_format`, or a frame that is not a whole number in
            ``fmt.first_frame..fmt.last_frame``.
    """
    _check(shapes, fmt, options)
    return _document(shapes, fmt, _check_frame(frame, fmt))


def write_to_string(
    shapes: Sequence[RotoShape], fmt: ShotFormat, frame: int | None = None, **options: Any
) -> str:
    """One frame as an SVG document (see :func:`write_frame`).

    Args:
        shapes: Shapes in image space.
        fmt: The shot's format.
        frame: Plate frame number; None takes the earliest first key frame of the shapes.
        **options: None are accepted.

    Raises:
        ExportError: as :func:`write_frame`.
    """
    if frame is None:
        _check(shapes, fmt, options)
        frame = min(shape.keys[0].frame for shape in shapes)
    return write_frame(shapes, fmt, frame, **options)


def frame_path(pattern: str | os.PathLike, frame: int) -> Path:
    """The file of one frame: the pattern's frame placeholder replaced by the frame number.

    Args:
        pattern: A path with exactly one placeholder: ``#`` repeated (``####`` pads to 4 digits)
            or printf style (``%04d``, ``%d``), e.g. ``roto/sh010.####.svg``.
        frame: Plate frame number (longer numbers are not cut: ``123456`` stays whole).

    Raises:
        ExportError: the pattern has no placeholder or more than one.
    """
    text = os.fspath(pattern)
    found = list(_PLACEHOLDER.finditer(text))
    if len(found) != 1:
        raise ExportError(
            f"path pattern {text!r} needs exactly one frame placeholder such as '####' or "
            f"'%04d', found {len(found)}"
        )
    m = found[0]
    token = m.group(0)
    width = len(token) if token.startswith("#") else int(m.group(1) or 0)
    return Path(f"{text[: m.start()]}{int(frame):0{width}d}{text[m.end() :]}")


def write_to_file(
    shapes: Sequence[RotoShape],
    fmt: ShotFormat,
    path_pattern: str | os.PathLike,
    *,
    frames: Iterable[int] | None = None,
    **options: Any,
) -> list[Path]:
    """Write one SVG file per frame, each through a temporary file and a rename.

    Everything is checked before the first file is written, so bad input writes nothing.

    Args:
        shapes: Shapes in image space.
        fmt: The shot's format.
        path_pattern: Destination with one frame placeholder (see :func:`frame_path`), e.g.
            ``roto/sh010.####.svg``; folders are created.
        frames: Plate frames to write; None writes ``fmt.first_frame..fmt.last_frame``.
        **options: None are accepted.

    Returns:
        The written paths, in frame order.

    Raises:
        ExportError: as :func:`write_frame`, or a pattern without exactly one placeholder.
    """
    _check(shapes, fmt, options)
    wanted = range(fmt.first_frame, fmt.last_frame + 1) if frames is None else list(frames)
    todo = [(_check_frame(f, fmt), frame_path(path_pattern, f)) for f in wanted]
    written = []
    for frame, path in todo:
        atomic_write_text(path, _document(shapes, fmt, frame))
        written.append(path)
    return written


def write_shot(shapes: Sequence[RotoShape], fmt: ShotFormat, dest: Path, stem: str) -> Path:
    """Write every frame of the shot into the folder ``dest/<stem>.svg/`` as
    ``<stem>.####.svg`` (what the export stage publishes); returns the folder."""
    folder = Path(dest) / f"{stem}.svg"
    write_to_file(shapes, fmt, folder / f"{stem}.####.svg")
    return folder
