"""An object's masks to one animated roto shape, with a key on every frame.

Chooses one point count per shot from :data:`LADDER` against IoU and distance targets, fits the
keys in frame order with :func:`rotoflow.geometry.fit.fit_key`'s machinery (each following the
previous key), and collapses the keys of frames with empty masks. Coordinate frame: see
:mod:`rotoflow.geometry`.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Iterable

import cv2
import numpy as np

from rotoflow.errors import GeometryError
from rotoflow.geometry.fit import _fit, _Path
from rotoflow.geometry.outline import mask_outline
from rotoflow.geometry.raster import _fill, _flatten, _window, iou
from rotoflow.types import RotoShape, ShapeKey

log = logging.getLogger(__name__)

MIN_IOU = 0.95
"""IoU with its mask that :func:`fit_shape` requires of every key by default."""
LADDER = (8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256)
LADDER += (320, 384, 448, 512)
"""Point counts that :func:`fit_shape` chooses from."""


def fit_shape(
    masks: Iterable[tuple[int, np.ndarray]],
    object_id: int,
    name: str,
    *,
    n_points: int | None = None,
    tolerance: float = 0.5,
    min_iou: float = MIN_IOU,
) -> RotoShape:
    """Fit one animated roto shape to an object's masks, with a key on every frame.

    Masks are consumed one at a time and only their outlines are kept. Every key has the same
    point count: ``n_points``, or else the smallest count in :data:`LADDER` at which every frame
    meets two targets: IoU with its mask of at least ``min_iou`` (bounded through the rasterised
    outline with the triangle inequality of the Jaccard distance, so the mask need not be kept)
    and a mean distance from the outline to the curve of at most ``tolerance``. The keys are then
    fitted in frame order, each following the previous one (:func:`fit_key`); a key that misses
    the targets is refitted with even spacing, and if that misses too the count goes one rung up.

    A frame with an empty mask gets a collapsed key: every vertex at the centroid of the previous
    non-empty key's vertices (the next one's for leading empty frames), tangents zero. It
    rasterises to an empty mask and makes the shape vanish in applications that would otherwise
    hold the nearest key's outline.

    Args:
        masks: ``(frame, mask)`` pairs in increasing frame order; ``(H, W)`` masks, non-zero inside.
        object_id: The object's id.
        name: The object's name.
        n_points: Control points per key (at least 2), or None to choose as above.
        tolerance: Mean distance (pixels) from outline to curve required when choosing the count.
        min_iou: IoU with the mask required when choosing the count.

    Returns:
        The shape; it has no keys if every mask is empty.

    Raises:
        GeometryError: Frames do not increase, a mask is not two-dimensional, or ``n_points < 2``.
    """
    if n_points is not None and n_points < 2:
        raise GeometryError(f"n_points must be at least 2, got {n_points}")
    frames: list[int] = []
    outlines: list[np.ndarray] = []
    budgets: list[float] = []  # Jaccard distance allowed between rasterised key and outline
    sizes: list[tuple[int, int]] = []
    n = LADDER[0]
    for frame, mask in masks:
        if frames and frame <= frames[-1]:
            raise GeometryError(f"frames must increase: {frame} after {frames[-1]} for {name!r}")
        outline = mask_outline(mask)
        frames.append(int(frame))
        outlines.append(outline)
        sizes.append(np.shape(mask))
        if len(outline) == 0:
            budgets.append(1.0)
            continue
        inside = np.asarray(mask) != 0
        x, y, w, h = cv2.boundingRect(inside.astype(np.uint8))  # holds the outline, and all lost
        w, h, x0, y0 = window = _window(np.array([[x, y], [x + w, y + h]]), sizes[-1])
        lost = 1.0 - iou(_fill(outline, window), inside[y0 : y0 + h, x0 : x0 + w])
        budgets.append(max(1.0 - min_iou - lost, 0.2 * (1.0 - min_iou)))
        if n_points is None:
            n = _points_needed(outline, sizes[-1], budgets[-1], tolerance, n)
    shape = RotoShape(object_id=object_id, name=name)
    if all(len(o) == 0 for o in outlines):
        log.warning("%r has no mask on any of its %d frames: no keys", name, len(frames))
        return shape
    n = n_points or n
    for _ in range(3):
        keys, failed = _fit_keys(frames, outlines, sizes, budgets, n, tolerance, n_points is None)
        if not failed or n == LADDER[-1]:
            break
        log.debug("%r: frames %s miss the targets at %d points", name, failed, n)
        n = LADDER[LADDER.index(n) + 1]
    if failed:
        log.warning("%r: frames %s miss the accuracy targets at %d points", name, failed, n)
    shape.keys = keys
    log.info("%r: %d keys of %d points", name, len(keys), n)
    return shape


def _accurate(
    fitted: tuple[np.ndarray, np.ndarray, np.ndarray],
    outline: np.ndarray,
    size: tuple[int, int],
    budget: float,
    tolerance: float,
) -> bool:
    """Whether a fit (from :func:`_fit`) is within the tolerance and the Jaccard budget."""
    points, dist, weight = fitted
    if np.dot(dist, weight) > tolerance * weight.sum():
        return False
    poly = _flatten(points, 16)
    window = _window(np.concatenate([outline, poly]), size)
    return 1.0 - iou(_fill(poly, window), _fill(outline, window)) <= budget


def _points_needed(
    outline: np.ndarray, size: tuple[int, int], budget: float, tolerance: float, at_least: int
) -> int:
    """Smallest rung of :data:`LADDER`, from ``at_least`` up, at which this outline fits."""
    floor = max(at_least, len(_Path(outline).ends()) + 4)
    rung = next((i for i, v in enumerate(LADDER) if v >= floor), len(LADDER) - 1)
    while rung + 1 < len(LADDER):
        if _accurate(_fit(outline, LADDER[rung], None), outline, size, budget, tolerance):
            break
        rung += 1
    return LADDER[rung]


def _fit_keys(
    frames: list[int],
    outlines: list[np.ndarray],
    sizes: list[tuple[int, int]],
    budgets: list[float],
    n: int,
    tolerance: float,
    check: bool,
) -> tuple[list[ShapeKey], list[int]]:
    """Fit the keys in frame order, each following the last non-empty one, and collapse the empty
    ones (see :func:`fit_shape`). Returns the keys and, if ``check``, the frames that miss."""
    keys: list[ShapeKey] = []
    failed: list[int] = []
    prev = None
    for frame, outline, size, budget in zip(frames, outlines, sizes, budgets, strict=True):
        if len(outline) == 0:
            keys.append(ShapeKey(frame, np.zeros((0, 3, 2))))
            continue
        fitted = _fit(outline, n, prev)
        if check and not _accurate(fitted, outline, size, budget, tolerance):
            fitted = _fit(outline, n, prev, track=False)
            if not _accurate(fitted, outline, size, budget, tolerance):
                failed.append(frame)
        keys.append(ShapeKey(frame, fitted[0]))
        prev = fitted[0]
    solid = [i for i, key in enumerate(keys) if len(key.points)]
    for i, key in enumerate(keys):
        if len(key.points) == 0:
            source = keys[max((j for j in solid if j < i), default=solid[0])].points
            key.points = np.zeros((n, 3, 2))
            key.points[:, 0] = source[:, 0].mean(axis=0)
    return keys, failed


def shape_at(shape: RotoShape, frame: int) -> np.ndarray | None:
    """The ``(N, 3, 2)`` control points of the shape's key at ``frame``, or None if it has none."""
    frames = [key.frame for key in shape.keys]
    i = bisect.bisect_left(frames, frame)
    return shape.keys[i].points if i < len(frames) and frames[i] == frame else None
