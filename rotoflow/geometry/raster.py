"""Roto shapes back to masks: exact scanline fill at pixel centres, and mask IoU.

Coordinate frame and inside rule (non-zero winding at pixel centres): see :mod:`rotoflow.geometry`.
"""

from __future__ import annotations

import numpy as np

from rotoflow.errors import GeometryError
from rotoflow.geometry.bezier import as_points, flatten, shape_at

_MARGIN = 4  # pixels round an outline's bounding box when comparing rasters


def rasterize_shape(
    points: np.ndarray, width: int, height: int, *, samples_per_segment: int = 16
) -> np.ndarray:
    """Fill a closed cubic Bezier shape: a pixel is inside when its centre is inside the curve.

    Each segment is flattened into ``samples_per_segment`` chords and the polygon is scan-converted
    exactly at pixel centres with the non-zero winding rule. ``cv2.fillPoly`` is not used: even
    with a fixed-point ``shift`` it rounds span ends to the nearest pixel and keeps boundary pixels
    (the square ``[2, 5] x [2, 5]``, which holds 3 x 3 pixel centres, fills 4 x 4 pixels), and it
    paints zero-width bridges as one-pixel lines.

    Args:
        points: ``(N, 3, 2)`` control points ``[vertex, in_tangent, out_tangent]``, image space.
        width: Output width in pixels.
        height: Output height in pixels.
        samples_per_segment: Chords per cubic segment.

    Returns:
        ``(height, width) bool`` mask.

    Raises:
        GeometryError: ``points`` is not ``(N, 3, 2)``, or a size is not positive.
    """
    pts = as_points(points)
    if width <= 0 or height <= 0 or samples_per_segment < 1:
        raise GeometryError(
            f"width, height and samples_per_segment must be positive, "
            f"got {width}, {height}, {samples_per_segment}"
        )
    poly = flatten(pts, samples_per_segment)
    out = np.zeros((height, width), dtype=bool)
    x0, y0 = np.maximum(np.floor(poly.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(poly.max(axis=0)).astype(int) + 1, (width, height))
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = _fill(poly, (x1 - x0, y1 - y0, x0, y0))
    return out


def rasterize_shapes(
    shapes, frame: float, width: int, height: int, *, samples_per_segment: int = 16
) -> np.ndarray:
    """An object's matte on one frame: the non-zero winding fill of all its contours there.

    Outer contours run clockwise on screen and holes counter-clockwise (see
    :class:`rotoflow.types.RotoShape`), so holes subtract and islands inside holes add back. A
    contour outside its lifetime, or collapsed to a point, adds nothing.

    Args:
        shapes: The object's :class:`~rotoflow.types.RotoShape` contours (any order).
        frame: Plate frame number; points come from :func:`rotoflow.geometry.shape_at`.
        width: Output width in pixels.
        height: Output height in pixels.
        samples_per_segment: Chords per cubic segment.

    Returns:
        ``(height, width) bool`` mask.

    Raises:
        GeometryError: A size is not positive, or control points are not finite ``(N, 3, 2)``.
    """
    if width <= 0 or height <= 0 or samples_per_segment < 1:
        raise GeometryError(
            f"width, height and samples_per_segment must be positive, "
            f"got {width}, {height}, {samples_per_segment}"
        )
    polys = []
    for shape in shapes:
        points = shape_at(shape, frame)
        if points is not None:
            polys.append(flatten(as_points(points), samples_per_segment))
    out = np.zeros((height, width), dtype=bool)
    if not polys:
        return out
    every = np.concatenate(polys)
    x0, y0 = np.maximum(np.floor(every.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(every.max(axis=0)).astype(int) + 1, (width, height))
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = _fill(polys, (x1 - x0, y1 - y0, x0, y0))
    return out


def _fill(poly, window: tuple[int, int, int, int]) -> np.ndarray:
    """Non-zero winding fill of a closed polygon (or a list of them, filled together) at pixel
    centres, over ``window`` = ``(width, height, x0, y0)`` (the ``(height, width)`` block from
    pixel ``(x0, y0)``).

    Every edge adds its direction (+1 down, -1 up) on each pixel row whose centre line it crosses
    (half-open in y, so a shared vertex counts once), at the first pixel whose centre lies right of
    the crossing; a running sum along the row is the winding number.
    """
    width, height, x0, y0 = window
    polys = poly if isinstance(poly, list) else [poly]
    a = np.concatenate(polys) - (x0 + 0.5, y0 + 0.5)  # pixel centres on integers
    b = np.concatenate([np.roll(p, -1, axis=0) for p in polys]) - (x0 + 0.5, y0 + 0.5)
    first = np.clip(np.ceil(np.minimum(a[:, 1], b[:, 1])), 0, height).astype(np.int64)
    count = np.clip(np.ceil(np.maximum(a[:, 1], b[:, 1])), 0, height).astype(np.int64) - first
    size = height * (width + 1)
    grid = np.zeros(size, dtype=np.int64)
    if count.sum() > 0:
        edge = np.repeat(np.arange(len(a)), count)
        row = np.arange(len(edge)) - np.repeat(np.cumsum(count) - count, count) + first[edge]
        ea, eb = a[edge], b[edge]
        x = ea[:, 0] + (row - ea[:, 1]) * (eb[:, 0] - ea[:, 0]) / (eb[:, 1] - ea[:, 1])
        index = row * (width + 1) + np.clip(np.ceil(x), 0, width).astype(np.int64)
        down = eb[:, 1] > ea[:, 1]
        grid = np.bincount(index[down], minlength=size) - np.bincount(index[~down], minlength=size)
    return np.cumsum(grid.reshape(height, width + 1)[:, :width], axis=1) != 0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two masks; ``1.0`` when both are empty.

    Raises:
        GeometryError: The masks differ in shape.
    """
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise GeometryError(f"masks differ in shape: {a.shape} and {b.shape}")
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def _window(outline: np.ndarray, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """``(width, height, x0, y0)``: the bounding box plus a margin, inside a ``(H, W)`` frame."""
    x0, y0 = np.maximum(np.floor(outline.min(axis=0)).astype(int) - _MARGIN, 0)
    x1, y1 = np.minimum(np.ceil(outline.max(axis=0)).astype(int) + _MARGIN, (size[1], size[0]))
    return int(x1 - x0), int(y1 - y0), int(x0), int(y0)
