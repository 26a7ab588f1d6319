"""Specks: the contours of an object's masks that get no roto shape.

An artist edits shapes, not specks: islands and holes too small or too brief to draw by hand are
left out of the roto shapes (the masks and mattes keep them), within a bound on the matte area
that leaving them out may cost (:func:`drop_specks`). :func:`speck_area` turns the pipeline's
area setting, a fraction of the plate, into square pixels.

The contours are the linked rings of :func:`rotoflow.geometry.fit_shapes` (any object with
``rings``, ``frames`` and ``depth``, :class:`Linked`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from rotoflow.errors import GeometryError
from rotoflow.geometry.outline import ring_box, signed_area

log = logging.getLogger(__name__)


class Linked(Protocol):
    """One contour linked over frames: its ``(M, 2)`` image-space rings on ``frames`` (one
    each, increasing) and its nesting ``depth`` (0 outer, 1 hole, 2 island in a hole, ...)."""

    rings: Sequence[np.ndarray]
    frames: Sequence[int]
    depth: int


MIN_SPECK_AREA = 16.0
"""Floor (square pixels, a 4 x 4 pixel patch) of :func:`speck_area` on small plates."""


def speck_area(width: int, height: int, fraction: float) -> float:
    """The ``min_area`` of :func:`rotoflow.geometry.fit_shapes` for a plate: ``fraction`` of the
    plate's area in square pixels, at least :data:`MIN_SPECK_AREA`; 0 when ``fraction`` is 0
    (no area limit).

    With the pipeline's default fraction (``1e-4``, ``Settings.shape_min_area``) that is 41 px² on
    an 854 x 480 plate (a 6 x 6 pixel patch), 207 px² at 1920 x 1080 (14 x 14 pixels) and 829 px²
    at 3840 x 2160 (29 x 29 pixels): the same size on screen whatever the resolution.

    Raises:
        GeometryError: ``fraction`` is negative or not below 1, or the size is not positive.
    """
    if not 0 <= fraction < 1:
        raise GeometryError(f"speck area fraction must be in [0, 1), got {fraction}")
    if width <= 0 or height <= 0:
        raise GeometryError(f"plate size must be positive, got {width} x {height}")
    return 0.0 if fraction == 0 else max(fraction * width * height, MIN_SPECK_AREA)


def drop_specks(
    contours: list[Linked],
    min_area: float,
    min_frames: int,
    max_loss: float = 0.0,
    span: tuple[int, int] | None = None,
) -> list[Linked]:
    """Leave out of the roto shapes the contours an artist would not edit: those whose ring never
    encloses ``min_area`` square pixels (its peak over the lifetime; the ring runs on the pixel
    edges, so this is the mask's pixel count of the island or hole and whatever is inside it, less
    a fraction of a pixel at each corner the ring cuts) and
    those living fewer than ``min_frames`` frames (a gap between legs that opens for a frame, a
    branch crossing the object). The largest outer contour of every frame is always kept, so no
    frame with mask pixels loses all its shapes (a small or brief object keeps its outline), and a
    hole or island goes with the contour around it: on every frame of its life its bounding box
    must lie within that of a kept contour one level up.

    A contour alive on the first or last frame of ``span`` (the frame range fitted) is cut by the
    range, not brief: its life goes on beyond what is seen (a gap under the arm opening on the
    shot's last two frames), so only the area limit applies to it.

    With ``max_loss`` the contours left out may together hold at most that share of the object's
    area over the shot (the sum over frames of the outlines' areas, in pixel-frames; an island's
    or a hole's own area counts either way): while they hold more, the largest of them (by
    pixel-frames) is given back, with the contour around it. A hole that opens between arm and
    body for two frames is a sliver of the shot's matte and goes; an object seen in pieces
    through branches on every frame (DAVIS ``bmx-trees``) keeps the pieces that make up its
    matte.

    Args:
        contours: Linked contours (any order); only their rings, frames and depths are read.
        min_area: Square pixels (image space); 0 for no area limit.
        min_frames: Frames; 0 or 1 for no lifetime limit.
        max_loss: Fraction of the object's area over the shot, 0 to 1, that the left-out
            contours may hold; 0 for no such bound.
        span: First and last frame of the range fitted, or None (every contour's lifetime is
            then judged as it is).

    Returns:
        The contours kept, in the order given.
    """
    if min_area <= 0 and min_frames <= 1:
        return contours
    areas = [np.array([abs(signed_area(r)) for r in c.rings]) for c in contours]
    largest: dict[int, tuple[float, int]] = {}  # frame -> (area, index) of its largest outline
    for i, c in enumerate(contours):
        if c.depth == 0:
            for frame, area in zip(c.frames, areas[i], strict=True):
                if frame not in largest or area > largest[frame][0]:
                    largest[frame] = (float(area), i)
    main = {i for _, i in largest.values()}
    boxes: dict[tuple[int, int], list[np.ndarray]] = {}  # (frame, depth) -> kept rings' boxes
    kept = set()
    for i in sorted(range(len(contours)), key=lambda i: contours[i].depth):
        c = contours[i]
        peak = areas[i].max()
        cut = span is not None and (c.frames[0] <= span[0] or c.frames[-1] >= span[1])
        big = peak >= min_area and (cut or len(c.frames) >= min_frames)
        if i not in main and not (
            big
            and (c.depth == 0 or all(_within(r, boxes, f, c.depth - 1) for f, r in _by_frame(c)))
        ):
            continue
        kept.add(i)
        for frame, ring in _by_frame(c):
            boxes.setdefault((frame, c.depth), []).append(ring_box(ring))
    if max_loss > 0 and len(kept) < len(contours):
        _give_back(contours, areas, kept, max_loss)
    if len(kept) < len(contours):
        log.info(
            "%d of %d contours left out of the shapes (under %.0f px² or %d frames)",
            len(contours) - len(kept),
            len(contours),
            min_area,
            min_frames,
        )
    return [c for i, c in enumerate(contours) if i in kept]


def _give_back(
    contours: list[Linked], areas: list[np.ndarray], kept: set[int], max_loss: float
) -> None:
    """Add to ``kept`` (indices) left-out contours, largest pixel-frames first, until those still
    out hold at most ``max_loss`` of the outer outlines' pixel-frames; a hole or island given
    back brings the contour around it (the first one level up, by bounding box, on a frame of
    its life) when that one is out, so that it has an outline to cut or to sit in."""
    total = sum(float(a.sum()) for c, a in zip(contours, areas, strict=True) if c.depth == 0)
    out = sorted((i for i in range(len(contours)) if i not in kept), key=lambda i: -areas[i].sum())
    lost = sum(float(areas[i].sum()) for i in out)
    by_frame: dict[int, list[int]] = {}
    for i, c in enumerate(contours):
        for frame in c.frames:
            by_frame.setdefault(frame, []).append(i)

    def keep(i: int) -> float:
        """Keep contour ``i`` and what it needs around it; the pixel-frames given back."""
        if i in kept:
            return 0.0
        kept.add(i)
        back = float(areas[i].sum())
        c = contours[i]
        if c.depth > 0:
            frame, ring = c.frames[0], c.rings[0]
            up = [
                j
                for j in by_frame[frame]
                if contours[j].depth == c.depth - 1
                and _box_within(
                    ring_box(ring), ring_box(contours[j].rings[contours[j].frames.index(frame)])
                )
            ]
            if up and not any(j in kept for j in up):
                back += keep(up[0])
        return back

    for i in out:
        if lost <= max_loss * total:
            return
        lost -= keep(i)


def _box_within(inner: np.ndarray, outer: np.ndarray) -> bool:
    """Whether box ``inner`` (``[x0, y0, x1, y1]``) lies within box ``outer``."""
    return bool(
        outer[0] <= inner[0]
        and outer[1] <= inner[1]
        and inner[2] <= outer[2]
        and inner[3] <= outer[3]
    )


def _by_frame(contour: Linked) -> Iterable[tuple[int, np.ndarray]]:
    return zip(contour.frames, contour.rings, strict=True)


def _within(ring: np.ndarray, boxes: dict, frame: int, depth: int) -> bool:
    """Whether the ring's bounding box lies within one of ``boxes[(frame, depth)]``."""
    b = ring_box(ring)
    return any(_box_within(b, o) for o in boxes.get((frame, depth), []))
