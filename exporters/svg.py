"""SVG, one file per plate frame: one filled ``<path>`` per object, its contours on that frame.

Format: ``docs/formats.md`` section 6.2 (coordinates: section 0.3, "SVG" column). The user space is the
plate's image space: ``viewBox="0 0 W H"``, x right, y down, origin at the top-left corner of pixel
``(0, 0)``, so a vertex ``(x, y)`` is written as is. Each object (contours sharing an ``object_id``,
:func:`exporters.names.by_object`) is one ``<path>`` whose ``d`` holds one closed subpath per
contour alive on that frame, in paint order: ``M`` to its first vertex, one ``C`` cubic per
segment (``v_i + out_i``, ``v_{i+1} + in_{i+1}``, ``v_{i+1}``, the last segment joining point
``N-1`` to point 0) and ``Z``; numbers have at most :data:`DECIMALS` decimals (an error of at most
5e-5 px).

Fill rule: ``fill-rule="nonzero"`` with ``fill="#fff"`` on no background. The subpaths of one
``d`` are filled together, so holes (counter-clockwise on screen) subtract and islands inside
them (clockwise) add back: the inside rule of :func:`rotoflow.geometry.rasterize_shapes`, so a
renderer's coverage above one half agrees with our own raster. Pixel aspect: the user space stays
in plate pixels and the document's ``width`` is ``W * pixel_aspect`` (``height`` = ``H``) with
``preserveAspectRatio="none"``, so a viewer shows the plate at its display aspect while the path
data keeps plate pixels.

SVG has no shape keys (SMIL morphing is ignored by rasterisers, ``docs/formats.md`` 6.2), so each frame
gets the contours as :func:`rotoflow.geometry.shape_at` gives them (through :func:`points_at`):
linearly interpolated between the sparse keys, left out outside their lifetime (a contour without
one lives from its first key to its last); an object with no contour alive on a frame has no
``<path>`` in that frame's file. Feather: SVG has no roto feather (a blur filter is not one, and
renderers differ on it), so :attr:`~rotoflow.types.RotoShape.feather` is not written.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

from exporters.checks import check_format, check_shapes
from exporters.features import Feature
from exporters.names import by_object, sanitize_name
from exporters.numbers import trimmed
from rotoflow.errors import ExportError
from rotoflow.files import atomic_write_text
from rotoflow.geometry import shape_at
from rotoflow.types import RotoShape, ShotFormat

NAME = "svg"
SUFFIXES = (".svg",)
FEATURES = frozenset({Feature.WRITE_ROTO, Feature.WRITE_SHOT})

#: Decimals of every number in the path data and the document size.
DECIMALS = 4

_PLACEHOLDER = re.compile(r"#+|%(0\d+)?d")


def points_at(shape: RotoShape, frame: float) -> np.ndarray | None:
    """A contour's control points on a plate frame: :func:`rotoflow.geometry.shape_at`, checked.

    Between two keys at frames ``f0 < frame < f1`` every coordinate (vertices and relative tangents
    alike, hence also the absolute handles ``v + t``) is ``(1 - s) * p0 + s * p1`` with
    ``s = (frame - f0) / (f1 - f0)``; on a key frame the key itself is returned. This is the
    "linear" shape-key interpolation the other exporters set (Silhouette ``interp="linear"``, After
    Effects ``LINEAR``, Lottie linear easing). Outside the contour's lifetime
    (:attr:`~rotoflow.types.RotoShape.frame_span`: its ``lifetime``, else its first to its last
    key) the contour is not alive and there are no points; inside the lifetime but before the
    first key or after the last one, that key is held.

    Args:
        shape: A contour with at least one key, keys in strictly increasing frame order, every key
            the same point count (see :func:`exporters.checks.check_shapes`).
        frame: Plate frame number (a fraction gives a sub-frame position).

    Returns:
        ``(N, 3, 2) float64`` ``[vertex, in_tangent, out_tangent]`` in image space (a new array),
        or None when the contour is not alive on ``frame``.

    Raises:
        ExportError: the shape has no keys, or ``frame`` is not a finite number.
    """
    if not shape.keys:
        raise ExportError(f"shape {shape.name!r} has no keys")
    if isinstance(frame, bool) or not isinstance(frame, int | float | np.number):
        raise ExportError(f"frame must be a number, got {frame!r}")
    if not math.isfinite(frame):
        raise ExportError(f"frame must be finite, got {frame!r}")
    return shape_at(shape, frame)


def _num(value: float) -> str:
    """At most :data:`DECIMALS` decimals, trailing zeros and a negative zero dropped."""
    text = f"{float(value):.{DECIMALS}f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _path_numbers(points: np.ndarray) -> np.ndarray:
    """The numbers of :func:`path_data`, in order: the first vertex, then per segment the two
    handles and the end vertex (``2 + 6 N`` values)."""
    pts = np.asarray(points, dtype=np.float64)
    v = pts[:, 0]
    v1 = np.roll(v, -1, axis=0)
    c1 = v + pts[:, 2]
    c2 = v1 + np.roll(pts[:, 1], -1, axis=0)
    return np.concatenate([v[0], np.stack([c1, c2, v1], axis=1).ravel()])


def _path_template(count: int) -> str:
    """``%``-template of the ``d`` text of a closed shape of ``count`` points."""
    return "M %s %s" + " C %s %s %s %s %s %s" * count + " Z"


def path_data(points: np.ndarray) -> str:
    """The ``d`` attribute of one closed shape: ``M x y``, one ``C`` per segment, ``Z``.

    Args:
        points: ``(N, 3, 2)`` ``[vertex, in_tangent, out_tangent]`` in image space.

    Returns:
        Path data, numbers separated by single spaces, e.g. ``M 960 340 C 1070.4569 340 ...Z``.
    """
    numbers = trimmed(_path_numbers(points), DECIMALS)
    return _path_template(len(points)) % tuple(numbers)


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


def _documents(shapes: Sequence[RotoShape], fmt: ShotFormat, frames: Sequence[int]) -> list[str]:
    """The SVG document of each frame (checked input), the path numbers of all of them formatted
    at once."""
    taken: set[str] = set()
    objects = by_object(shapes)
    idents = [sanitize_name(contours[0].name, taken) for contours in objects]  # on every frame
    alive_per_frame = [
        [
            [p for p in (points_at(shape, frame) for shape in contours) if p is not None]
            for contours in objects
        ]
        for frame in frames
    ]
    flat = [points for alive in alive_per_frame for paths in alive for points in paths]
    numbers = trimmed(np.concatenate([_path_numbers(p) for p in flat]), DECIMALS) if flat else []
    start = 0
    header = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(fmt.width * fmt.pixel_aspect)}" '
        f'height="{fmt.height}" viewBox="0 0 {fmt.width} {fmt.height}" '
        'preserveAspectRatio="none" data-frame="'
    )
    documents = []
    for frame, alive in zip(frames, alive_per_frame, strict=True):
        lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'{header}{frame}">']
        for ident, contours, paths in zip(idents, objects, alive, strict=True):
            if not paths:
                continue
            d = []
            for points in paths:
                end = start + 2 + 6 * len(points)
                d.append(_path_template(len(points)) % tuple(numbers[start:end]))
                start = end
            lines.append(
                f'  <path id="{ident}" data-name={quoteattr(contours[0].name)} '
                f'data-object-id="{int(contours[0].object_id)}" fill="#fff" fill-rule="nonzero"\n'
                f'        d="{" ".join(d)}"/>'
            )
        lines.append("</svg>")
        documents.append("\n".join(lines) + "\n")
    return documents


def write_frame(shapes: Sequence[RotoShape], fmt: ShotFormat, frame: int, **options: Any) -> str:
    """One frame as an SVG document: every object's contours on plate frame ``frame``.

    Args:
        shapes: Contours in image space, several per object allowed (holes counter-clockwise on
            screen). Each object with a contour alive on ``frame`` becomes one ``<path>`` whose
            ``id`` is the object's name made into an identifier unique among the objects (the
            same on every frame, :func:`exporters.names.sanitize_name`), with the name and object
            id in ``data-name`` and ``data-object-id``, and one subpath per alive contour in its
            ``d``, in the given (paint) order. ``feather`` is not written.
        fmt: The shot's format: ``viewBox``, ``width`` (times the pixel aspect), ``height``, and
            the frame range ``frame`` must lie in.
        frame: Plate frame number; the points come from :func:`points_at` (interpolated between
            keys; contours outside their lifetime are left out).
        **options: None are accepted; present for the exporter interface.

    Returns:
        The document, UTF-8 text with ``\\n`` line ends and a final newline.

    Raises:
        ExportError: an unknown option, no shapes, shapes or format that fail
            :func:`~exporters.checks.check_shapes` or
            :func:`~exporters.checks.check_format`, or a frame that is not a whole number in
            ``fmt.first_frame..fmt.last_frame``.
    """
    _check(shapes, fmt, options)
    return _documents(shapes, fmt, [_check_frame(frame, fmt)])[0]


def write_to_string(
    shapes: Sequence[RotoShape], fmt: ShotFormat, frame: int | None = None, **options: Any
) -> str:
    """One frame as an SVG document (see :func:`write_frame`).

    Args:
        shapes: Shapes in image space.
        fmt: The shot's format.
        frame: Plate frame number; None takes the first frame on which a contour is alive (the
            earliest start of the contours' :attr:`~rotoflow.types.RotoShape.frame_span`, not
            before the shot's first frame).
        **options: None are accepted.

    Raises:
        ExportError: as :func:`write_frame`.
    """
    if frame is None:
        _check(shapes, fmt, options)
        frame = max(fmt.first_frame, min(shape.frame_span[0] for shape in shapes))
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
    documents = _documents(shapes, fmt, [frame for frame, _ in todo])
    for document, (_, path) in zip(documents, todo, strict=True):
        atomic_write_text(path, document)
        written.append(path)
    return written


def write_shot(shapes: Sequence[RotoShape], fmt: ShotFormat, dest: Path, stem: str) -> Path:
    """Write every frame of the shot into the folder ``dest/<stem>.svg/`` as
    ``<stem>.####.svg`` (what the export stage publishes); returns the folder.

    Keys are sparse, so every frame from ``fmt.first_frame`` to ``fmt.last_frame`` gets a file,
    frames between keys with the interpolated contours (see :func:`write_frame`).

    Raises:
        ExportError: as :func:`write_to_file`.
    """
    folder = Path(dest) / f"{stem}.svg"
    write_to_file(shapes, fmt, folder / f"{stem}.####.svg")
    return folder
