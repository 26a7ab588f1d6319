"""Masks to closed outlines: every boundary of a mask (outer contours, holes, islands in holes)
becomes one closed ring on the pixel edges.

Coordinate frame and inside rule: see :mod:`rotoflow.geometry`.
"""

from __future__ import annotations

import cv2
import numpy as np

from rotoflow.errors import GeometryError

MIN_RING_AREA = 2.0
"""Rings enclosing less than this (square pixels) are dropped: specks and pinholes of 1-2 pixels."""
DROP_FRACTION = 0.005
"""The smallest rings whose areas add up to at most this fraction of the mask are dropped."""
MAX_RINGS = 48
"""At most this many rings (the largest) are kept: each costs four control points."""


def mask_rings(
    mask: np.ndarray,
    *,
    min_area: float = MIN_RING_AREA,
    drop_fraction: float = DROP_FRACTION,
    max_rings: int = MAX_RINGS,
) -> list[tuple[np.ndarray, int]]:
    """Trace a mask into its boundaries: one closed ring per outer contour and per hole.

    Boundaries come from ``cv2.findContours`` (``RETR_TREE``, ``CHAIN_APPROX_NONE``) as chains of
    boundary pixel *centres*; each is moved to image space (``+0.5``) and offset by half a pixel
    towards the background, onto the pixel edges between mask and background. Outer contours run
    clockwise on screen and holes counter-clockwise, so the non-zero winding fill of all the rings
    (see :mod:`rotoflow.geometry`) gives back the mask, except for the rings dropped as below.

    Args:
        mask: ``(H, W)`` mask, bool or any dtype where non-zero is inside.
        min_area: Rings enclosing less than this (square pixels) are dropped.
        drop_fraction: The smallest rings whose areas add up to at most this fraction of the
            mask's area are dropped.
        max_rings: Only this many rings, the largest, are kept. The largest ring is always kept.

    Returns:
        ``[(ring, depth), ...]``, each ring an ``(M, 2) float64`` closed polyline in image space
        (the last point joins the first) and ``depth`` its nesting level (0 for an outer contour,
        1 for a hole in it, 2 for an island in that hole, ...; odd depths are holes), ordered by
        depth and then by decreasing area. Empty for an empty mask.

    Raises:
        GeometryError: ``mask`` is not two-dimensional.
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise GeometryError(f"mask must be (H, W), got shape {m.shape}")
    u8 = m.view(np.uint8) if m.dtype == bool else (m != 0).astype(np.uint8)
    x, y, w, h = cv2.boundingRect(u8)
    if w == 0:
        return []
    # Traced on the bounding box with a clear border: faster, and border pixels count.
    box = cv2.copyMakeBorder(u8[y : y + h, x : x + w], 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    contours, hierarchy = cv2.findContours(
        box, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE, offset=(x - 1, y - 1)
    )
    parent = hierarchy[0][:, 3]
    depth = np.zeros(len(contours), dtype=np.int64)
    for i in range(len(contours)):
        j = parent[i]
        while j >= 0:
            depth[i] += 1
            j = parent[j]
    rings = [
        _edge_ring(c[:, 0, :].astype(np.float64) + 0.5, hole=bool(d % 2))
        for c, d in zip(contours, depth, strict=True)
    ]
    areas = np.array([abs(signed_area(r)) for r in rings])
    order = np.argsort(areas)
    small = np.cumsum(areas[order]) <= drop_fraction * np.count_nonzero(box)
    small |= areas[order] < min_area
    small[: max(len(rings) - max_rings, 0)] = True
    small[-1] = False
    keep = set(order[~small].tolist())
    # A ring inside a dropped ring goes too (a hole of a dropped speck).
    kept = [i for i in range(len(rings)) if i in keep and _ancestors_kept(i, parent, keep)]
    kept.sort(key=lambda i: (depth[i], -areas[i]))
    return [(rings[i], int(depth[i])) for i in kept]


def _ancestors_kept(i: int, parent: np.ndarray, keep: set[int]) -> bool:
    j = parent[i]
    while j >= 0:
        if j not in keep:
            return False
        j = parent[j]
    return True


def ring_box(ring: np.ndarray) -> np.ndarray:
    """``[x0, y0, x1, y1] float64`` bounding box of an ``(M, 2)`` ring (image space)."""
    return np.r_[ring.min(axis=0), ring.max(axis=0)]


def signed_area(poly: np.ndarray) -> float:
    """Shoelace area of a closed polygon; positive when clockwise on screen (y down).

    Args:
        poly: ``(M, 2)`` vertices in image space (the closing edge from the last back to the first
            is implied).

    Returns:
        The signed area in square pixels: positive clockwise on screen, negative
        counter-clockwise, 0 for fewer than three distinct vertices.
    """
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def _edge_ring(centres: np.ndarray, *, hole: bool) -> np.ndarray:
    """Offset a chain of boundary pixel centres by half a pixel towards the background.

    OpenCV traces objects counter-clockwise on screen and holes clockwise; reversed, the background
    lies on the left of the direction of travel ``t``, along ``(t_y, -t_x)``.
    """
    if len(centres) <= 2:  # one or two pixels: the hull of their (slightly shrunk) squares
        corners = centres[:, None, :] + 0.45 * np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]])
        hull = cv2.convexHull(corners.reshape(-1, 2).astype(np.float32))[:, 0, :]
        hull = hull.astype(np.float64)
        return hull if (signed_area(hull) > 0) != hole else hull[::-1]
    chain = centres[::-1]
    tangent = np.roll(chain, -1, axis=0) - np.roll(chain, 1, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    tip = np.hypot(*normal.T) < 1e-9  # end of a one-pixel-wide spur: push it forwards
    normal[tip] = chain[tip] - np.roll(chain, 1, axis=0)[tip]
    return chain + 0.5 * normal / np.maximum(np.hypot(*normal.T), 1e-9)[:, None]
