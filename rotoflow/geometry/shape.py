"""An object's masks to animated roto shapes: one per contour, each with its own lifetime.

Per frame the mask is traced into rings (:func:`rotoflow.geometry.outline.mask_rings`: outer
contours, holes, islands in holes). Rings are linked from frame to frame into *contours* by the
overlap of their bounding boxes; a ring that finds no contour starts one, a contour that finds no
ring ends. Each contour is then fitted on its own (:mod:`rotoflow.geometry.fit`):

1. **Point count.** One per contour, the smallest in :data:`LADDER` at which sampled frames meet
   the targets (mean distance ``tolerance``, and an area budget that keeps the object's IoU with
   its mask at ``min_iou``); raised a rung at a time if a frame misses.
2. **Correspondence.** Each key follows the previous one (start point and orientation aligned,
   vertices tracked along the outline towards the previous vertices carried by the contour's
   rigid motion; :func:`rotoflow.geometry.fit_key`). A key that misses the targets is placed
   again with more even spacing, a step at a time.
3. **Temporal smoothing without shrinkage.** The vertices, less the contour's per-frame
   translation, are smoothed over time with a Gaussian; each smoothed vertex is put back on the
   frame's outline (the nearest point within a vertex spacing) and the segments are refitted, so
   the key still fits its frame. Smoothing in time never pulls a contour inwards as smoothing
   along the curve would; a frame whose refit misses the targets keeps its unsmoothed key.
4. **Keys only where the shape changes.** A key is dropped when linear interpolation between its
   kept neighbours stays within ``key_tolerance`` pixels of it (every vertex and handle).
5. **Lifetime.** Keys span the contour's lifetime; a *collapsed* key (every vertex at one point)
   one frame before and after it, when those frames are fitted too, hides the contour in hosts
   that hold the nearest key.

Specks: before fitting, contours too small or too short-lived for an artist to edit (never
enclosing ``min_area`` square pixels on any frame, or living fewer than ``min_frames`` frames) are
left out of the shapes (:func:`drop_specks`), unless together they would hold more than
``max_loss`` of the object's area over the shot; the masks and mattes keep them.

Feather: when a frame comes with a soft alpha, the soft band (where the alpha's ramp starts and
ends, inside and outside the outline) is measured at every point of its rings
(:func:`rotoflow.geometry.feather.ring_bands`) and taken to each vertex of the frame's key from the
nearest ring point. A contour's band (:attr:`rotoflow.types.RotoShape.band`) is, per control point,
the median over the frames with alpha, then the median of each point and its two neighbours on
either side along the contour (:data:`BAND_SMOOTHING`); its ``feather`` is the median total width.
Coordinate frame: see :mod:`rotoflow.geometry`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter
from scipy.optimize import linear_sum_assignment

from rotoflow.errors import GeometryError
from rotoflow.geometry.feather import ring_bands, vertex_bands
from rotoflow.geometry.fit import SPACING_WEIGHT, Fitted, fit_outline, refit, retrack
from rotoflow.geometry.outline import mask_rings, ring_box, signed_area
from rotoflow.geometry.specks import drop_specks
from rotoflow.types import RotoShape, ShapeKey

log = logging.getLogger(__name__)

MIN_IOU = 0.95
"""IoU with its mask that :func:`fit_shapes` requires of every frame by default."""
LADDER = (8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256)
LADDER += (320, 384, 448, 512)
"""Point counts that :func:`fit_shapes` chooses from."""
SMOOTHING = 1.0
"""Default temporal smoothing: Gaussian sigma in frames."""
SAMPLE_EVERY = 8
"""The point count is chosen on every this-many-th frame of a contour (and its first and last)."""
BAND_SMOOTHING = 5
"""Control points (centred on each) whose median along the contour gives a point's band."""
_MIN_LINK = 0.1  # bounding-box IoU below which rings on consecutive frames are not linked
_MARGIN = 0.8  # sampled frames must fit this fraction of the targets: tracked keys fit worse
# Spacing weights (times SPACING_WEIGHT) a followed key is placed with, a step up each time it
# misses the targets; the next key starts a step down from the last one's.
_RETREAT = (1.0, 4.0, 16.0, 64.0)


@dataclass
class _Contour:
    """One contour being linked: its rings per frame and each frame's area budget."""

    depth: int
    frames: list[int] = field(default_factory=list)
    rings: list[np.ndarray] = field(default_factory=list)
    budgets: list[float] = field(default_factory=list)  # square pixels
    bands: list[np.ndarray | None] = field(default_factory=list)  # (M, 2) per ring, or None
    box: np.ndarray = field(default_factory=lambda: np.zeros(4))

    @property
    def hole(self) -> bool:
        return self.depth % 2 == 1


def fit_shapes(
    masks: Iterable[tuple[int, np.ndarray] | tuple[int, np.ndarray, np.ndarray | None]],
    object_id: int,
    name: str,
    *,
    tolerance: float = 1.0,
    min_iou: float = MIN_IOU,
    key_tolerance: float | None = None,
    smoothing: float = SMOOTHING,
    follow: bool = True,
    n_points: int | None = None,
    min_area: float = 0.0,
    min_frames: int = 0,
    max_loss: float = 0.0,
) -> list[RotoShape]:
    """Fit an object's masks with animated closed cubic Bezier roto shapes, one per contour.

    The steps (linking rings into contours, point count, correspondence, temporal smoothing, key
    reduction, lifetimes, feather) are described in :mod:`rotoflow.geometry.shape`. Masks are
    consumed one at a time and only their outlines are kept.

    Frames with no pixels end every contour: the object's contours after such a gap are new
    contours (``<name>_part1``, ...) with lifetimes of their own, and the frames of the gap have
    no shape at all.

    Args:
        masks: ``(frame, mask)`` or ``(frame, mask, alpha)`` in increasing frame order: ``(H, W)``
            masks, non-zero inside, and optional ``(H, W)`` float alpha in ``[0, 1]`` (for the
            feather only; None for none).
        object_id: The object's id.
        name: The object's name.
        tolerance: Mean distance (pixels) from outline to curve that each key must meet.
        min_iou: IoU with its mask that each frame's contours together must keep (to first
            order: the area between outline and curve is budgeted).
        key_tolerance: Largest distance (pixels) of any vertex or handle from its key that
            linear interpolation between kept keys may leave; None for ``tolerance``, 0 for a key
            on every frame.
        smoothing: Gaussian sigma (frames) of the temporal smoothing; 0 for none.
        follow: Fit each key following the previous one (False fits every frame alone, with even
            spacing from the topmost point: the baseline that temporal coherence is measured
            against).
        n_points: Control points of every contour (at least 3), or None to choose per contour.
        min_area: Contours whose ring never encloses this many square pixels are left out
            (:func:`drop_specks`; :func:`rotoflow.geometry.speck_area` gives the pipeline's default for a plate
            size); 0 keeps them.
        min_frames: Contours living fewer frames are left out (:func:`drop_specks`), except
            those alive on the first or last frame given (cut by the frame range, not brief);
            0 keeps them.
        max_loss: Share of the object's area over the frames given (pixel-frames) that the
            left-out contours may hold (:func:`drop_specks`); 0 for no bound.

    Returns:
        The contours in paint order (outer contours, their holes, islands in holes, ...; then by
        first frame), ``contour`` numbered in that order. Empty if every mask is empty.

    Raises:
        GeometryError: Frames do not increase, a mask or alpha is not two-dimensional or they
            differ in shape, or ``n_points < 3``.
    """
    if n_points is not None and n_points < 3:
        raise GeometryError(f"n_points must be at least 3, got {n_points}")
    key_tolerance = tolerance if key_tolerance is None else key_tolerance
    frames: list[int] = []
    alive: list[_Contour] = []
    done: list[_Contour] = []
    for item in masks:
        frame, mask = int(item[0]), np.asarray(item[1])
        alpha = item[2] if len(item) > 2 else None
        if frames and frame <= frames[-1]:
            raise GeometryError(f"frames must increase: {frame} after {frames[-1]} for {name!r}")
        frames.append(frame)
        rings = mask_rings(mask)
        bands = ring_bands(alpha, mask, rings) if alpha is not None else [None] * len(rings)
        alive = _link(alive, done, rings, bands, frame, _area_budget(mask, rings, min_iou))
    done += alive
    done = drop_specks(
        done, min_area, min_frames, max_loss, (frames[0], frames[-1]) if frames else None
    )
    if not done:
        log.warning("%r has no mask on any of its %d frames: no shapes", name, len(frames))
        return []
    done.sort(key=lambda c: (c.depth, c.frames[0], -abs(signed_area(c.rings[0]))))
    shapes = []
    for index, contour in enumerate(done):
        keys = _fit_contour(contour, tolerance, n_points, smoothing, follow)
        band = _contour_band(contour, keys)
        keys = _reduce(keys, key_tolerance)
        first, last = contour.frames[0], contour.frames[-1]
        if first > frames[0]:
            keys.insert(0, _collapsed(first - 1, keys[0].points))
        if last < frames[-1]:
            keys.append(_collapsed(last + 1, keys[-1].points))
        shapes.append(
            RotoShape(
                object_id=object_id,
                name=name,
                keys=keys,
                contour=index,
                hole=contour.hole,
                feather=round(float(np.median(band.sum(axis=1))), 2) if band is not None else 0.0,
                lifetime=(first, last),
                band=band,
            )
        )
    log.info(
        "%r: %d contours, points %s, keys %s",
        name,
        len(shapes),
        [s.n_points for s in shapes],
        [len(s.keys) for s in shapes],
    )
    return shapes


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _area_budget(mask: np.ndarray, rings: list, min_iou: float) -> list[float]:
    """Area (square pixels) each ring's fit may put between outline and curve: the object's
    budget ``(1 - min_iou) * mask area`` less what the dropped rings lost, shared in proportion
    to the rings' lengths (the symmetric difference of the object is within the sum of the
    rings')."""
    if not rings:
        return []
    area = float(
        cv2.countNonZero(mask.view(np.uint8) if mask.dtype == bool else (mask != 0).view(np.uint8))
    )
    kept = sum(abs(signed_area(r)) * (1 if d % 2 == 0 else -1) for r, d in rings)
    lost = abs(area - kept)
    total = max((1.0 - min_iou) * area - lost, 0.2 * (1.0 - min_iou) * area)
    lengths = np.array([_length(r) for r, _ in rings])
    return list(total * lengths / lengths.sum())


def _link(
    alive: list[_Contour],
    done: list[_Contour],
    rings: list,
    bands: list,
    frame: int,
    budgets: list[float],
) -> list[_Contour]:
    """Link this frame's rings to the contours alive on the previous frame (same depth, best
    bounding-box overlap, one to one); end the others and start new ones. Returns the contours
    alive now."""
    boxes = [ring_box(r) for r, _ in rings]
    score = np.zeros((len(alive), len(rings)))
    for i, c in enumerate(alive):
        for j, (_, depth) in enumerate(rings):
            if depth == c.depth:
                score[i, j] = _box_iou(c.box, boxes[j])
    pairs = {}
    if score.size:
        for i, j in zip(*linear_sum_assignment(-score), strict=True):
            if score[i, j] >= _MIN_LINK:
                pairs[j] = alive[i]
    now = []
    for j, (ring, depth) in enumerate(rings):
        contour = pairs.get(j) or _Contour(depth=depth)
        contour.frames.append(frame)
        contour.rings.append(ring)
        contour.budgets.append(budgets[j])
        contour.bands.append(bands[j])
        contour.box = boxes[j]
        now.append(contour)
    done += [c for c in alive if all(c is not d for d in now)]
    return now


def _ok(fitted: Fitted, tolerance: float, budget: float) -> bool:
    mean, area = fitted.error()
    return mean <= tolerance and area <= budget


def _points_needed(contour: _Contour, tolerance: float) -> int:
    """Smallest rung of :data:`LADDER` at which the sampled frames of a contour fit."""
    k = len(contour.frames)
    sample = sorted({0, k - 1, *range(0, k, SAMPLE_EVERY)})
    rung = 0
    for i in sample:
        ring, budget = contour.rings[i], contour.budgets[i]
        while rung + 1 < len(LADDER):
            if _ok(
                fit_outline(ring, LADDER[rung], None, hole=contour.hole),
                tolerance * _MARGIN,
                budget * _MARGIN,
            ):
                break
            rung += 1
    return LADDER[rung]


def _fit_contour(
    contour: _Contour, tolerance: float, n_points: int | None, smoothing: float, follow: bool
) -> list[ShapeKey]:
    """Keys of one contour on every frame of its lifetime (steps 1-3 of the module docstring)."""
    n = n_points or _points_needed(contour, tolerance)
    for _ in range(3):
        fits, missed = [], []
        # The first key follows an even fit of its own frame, as every later key follows the one
        # before: a still outline then gives the same key on every frame.
        prev = fit_outline(contour.rings[0], n, None, hole=contour.hole).points if follow else None
        level = 0  # the spacing weight in use, an index into _RETREAT
        for ring, budget, frame in zip(contour.rings, contour.budgets, contour.frames, strict=True):
            weight = SPACING_WEIGHT * _RETREAT[level]
            fitted = fit_outline(
                ring, n, prev if follow else None, hole=contour.hole, weight=weight
            )
            if follow and _ok(fitted, tolerance, budget):
                level = max(level - 1, 0)
            elif follow:
                fitted, level = _retreat(
                    fitted, ring, n, prev, contour.hole, tolerance, budget, level
                )
            if not _ok(fitted, tolerance, budget):
                missed.append(frame)
            fits.append(fitted)
            prev = fitted.points
        if not missed or n_points or n == LADDER[-1]:
            break
        log.debug("frames %s miss the targets at %d points", missed, n)
        n = LADDER[LADDER.index(n) + 1]
    if missed:
        log.warning("frames %s miss the accuracy targets at %d points", missed, n)
    if follow and smoothing > 0 and len(fits) > 2:
        fits = _smooth(fits, contour.budgets, tolerance, smoothing)
    return [ShapeKey(f, fitted.points) for f, fitted in zip(contour.frames, fits, strict=True)]


def _retreat(
    fitted: Fitted,
    ring: np.ndarray,
    n: int,
    prev: np.ndarray,
    hole: bool,
    tolerance: float,
    budget: float,
    level: int,
) -> tuple[Fitted, int]:
    """A followed key that misses its targets, placed again with ever more even spacing (the
    spacing weights of :data:`_RETREAT` above ``level``, then evenly spaced): the first that meets
    the targets, or else the one with the least area error; and the level it took. Stepping back
    a little at a time moves the vertices no further than the fit needs."""
    best = again = fitted
    for up in range(level + 1, len(_RETREAT)):
        again = retrack(again, prev, SPACING_WEIGHT * _RETREAT[up])
        if again is None:
            break
        if _ok(again, tolerance, budget):
            return again, up
        best = again if again.error()[1] < best.error()[1] else best
    even = fit_outline(ring, n, prev, track=False)
    return (even if even.error()[1] < best.error()[1] else best), len(_RETREAT) - 1


def _smooth(
    fits: list[Fitted], budgets: list[float], tolerance: float, sigma: float
) -> list[Fitted]:
    """Temporal smoothing without shrinkage (step 3 of the module docstring)."""
    vertices = np.stack([f.points[:, 0] for f in fits])  # (K, n, 2)
    shift = vertices.mean(axis=1, keepdims=True)
    target = gaussian_filter1d(vertices - shift, sigma, axis=0, mode="nearest") + shift
    out = []
    for fitted, goal, budget in zip(fits, target, budgets, strict=True):
        moved = refit(fitted, goal)
        keep = moved is not None and _ok(moved, tolerance, budget)
        out.append(moved if keep else fitted)
    return out


def _reduce(keys: list[ShapeKey], tolerance: float) -> list[ShapeKey]:
    """Drop the keys that linear interpolation between the kept ones reproduces within
    ``tolerance`` pixels (vertices and absolute handles); the first and last stay."""
    if tolerance <= 0 or len(keys) <= 2:
        return keys
    frames = np.array([k.frame for k in keys], dtype=np.float64)
    pts = np.stack([k.points for k in keys])
    absolute = pts.copy()
    absolute[:, :, 1:] += pts[:, :, :1]  # handles as absolute positions
    kept = [0]
    a = 0
    while a < len(keys) - 1:
        b = a + 1
        while b + 1 < len(keys):
            c = b + 1
            s = (frames[a + 1 : c] - frames[a]) / (frames[c] - frames[a])
            guess = (1 - s)[:, None, None, None] * absolute[a] + s[:, None, None, None] * absolute[
                c
            ]
            if np.hypot(*np.moveaxis(guess - absolute[a + 1 : c], -1, 0)).max() > tolerance:
                break
            b = c
        kept.append(b)
        a = b
    return [keys[i] for i in kept]


def _collapsed(frame: int, like: np.ndarray) -> ShapeKey:
    """A key with every vertex at the centroid of ``like``'s vertices and zero tangents."""
    points = np.zeros_like(like)
    points[:, 0] = like[:, 0].mean(axis=0)
    return ShapeKey(frame, points)


def _length(ring: np.ndarray) -> float:
    """Length (pixels) of a closed polyline."""
    return float(np.hypot(*np.diff(np.vstack([ring, ring[:1]]), axis=0).T).sum())


def _contour_band(contour: _Contour, keys: list[ShapeKey]) -> np.ndarray | None:
    """A contour's ``(N, 2)`` band from the frames measured (module docstring), or None when no
    frame of it came with alpha. ``keys`` are its keys on every frame of its lifetime."""
    per_frame = [
        vertex_bands(key.points[:, 0], ring, band)
        for key, ring, band in zip(keys, contour.rings, contour.bands, strict=True)
        if band is not None
    ]
    if not per_frame:
        return None
    band = np.median(np.stack(per_frame), axis=0)
    size = min(BAND_SMOOTHING, len(band))
    return np.round(median_filter(band, size=(size, 1), mode="wrap"), 2)
