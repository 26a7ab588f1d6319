"""Masks to closed outlines: one object, whatever its topology, becomes one closed path.

Coordinate frame and inside rule: see :mod:`rotoflow.geometry`. Every boundary (of components and
of holes) becomes a ring, and the rings are joined by zero-width bridges, straight cuts traversed
there and back, as in the classic conversion of a polygon with holes to a simple polygon. A bridge
encloses no area, and :func:`rotoflow.geometry.fit.fit_key` makes both its ends control points and
both its passes the same straight segment, so it stays zero-width in the fitted shape.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial import Delaunay

from rotoflow.errors import GeometryError

MIN_RING_AREA = 2.0
"""Rings enclosing less than this (square pixels) are dropped: specks and pinholes of 1-2 pixels."""
DROP_FRACTION = 0.005
"""The smallest rings whose areas add up to at most this fraction of the mask are dropped."""
MAX_RINGS = 48
"""At most this many rings (the largest) are kept: each costs four control points."""


def mask_outline(
    mask: np.ndarray,
    *,
    min_area: float = MIN_RING_AREA,
    drop_fraction: float = DROP_FRACTION,
    max_rings: int = MAX_RINGS,
) -> np.ndarray:
    """Trace a mask into one closed outline, joining components and holes with zero-width bridges.

    Boundaries come from ``cv2.findContours`` (``RETR_CCOMP``, ``CHAIN_APPROX_NONE``) as chains of
    boundary pixel *centres*; each chain is moved to image space (``+0.5``) and offset by half a
    pixel towards the background, onto the pixel edges between mask and background. Filled with
    the pixel-centre rule (see :mod:`rotoflow.geometry`), the outline gives back the mask except
    for the rings (components or holes) it drops, since each costs four control points in a fitted
    key. With the defaults the filled outline keeps an IoU of at least 0.99 with every DAVIS-2016
    mask; with nothing dropped it gives back the mask exactly (or within a pixel).

    Args:
        mask: ``(H, W)`` mask, bool or any dtype where non-zero is inside.
        min_area: Rings enclosing less than this (square pixels) are dropped.
        drop_fraction: The smallest rings whose areas add up to at most this fraction of the
            mask's area are dropped.
        max_rings: Only this many rings, the largest, are kept. The largest ring is always kept.

    Returns:
        ``(M, 2) float64`` closed outline in image space (the last point joins the first);
        ``(0, 2)`` for an empty mask.

    Raises:
        GeometryError: ``mask`` is not two-dimensional.
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise GeometryError(f"mask must be (H, W), got shape {m.shape}")
    u8 = (m != 0).astype(np.uint8)
    if not u8.any():
        return np.zeros((0, 2))
    contours, hierarchy = cv2.findContours(u8, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_NONE)
    rings = [
        _edge_ring(c[:, 0, :].astype(np.float64) + 0.5, hole=bool(link[3] >= 0))
        for c, link in zip(contours, hierarchy[0], strict=True)
    ]
    areas = np.array([abs(_signed_area(r)) for r in rings])
    order = np.argsort(areas)
    small = np.cumsum(areas[order]) <= drop_fraction * np.count_nonzero(u8)
    small |= areas[order] < min_area
    small[: max(len(rings) - max_rings, 0)] = True
    small[-1] = False
    keep = np.sort(order[~small])
    return _bridge([rings[i] for i in keep], [areas[i] for i in keep])


def _signed_area(poly: np.ndarray) -> float:
    """Shoelace area of a closed polygon; positive when clockwise on screen (y down)."""
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
        return hull if (_signed_area(hull) > 0) != hole else hull[::-1]
    chain = centres[::-1]
    tangent = np.roll(chain, -1, axis=0) - np.roll(chain, 1, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    tip = np.hypot(*normal.T) < 1e-9  # end of a one-pixel-wide spur: push it forwards
    normal[tip] = chain[tip] - np.roll(chain, 1, axis=0)[tip]
    return chain + 0.5 * normal / np.maximum(np.hypot(*normal.T), 1e-9)[:, None]


def _bridge(rings: list[np.ndarray], areas: list[float]) -> np.ndarray:
    """Join rings into one closed path with there-and-back straight cuts.

    The rings are linked by a minimum spanning tree; each tree edge becomes a cut between the
    closest points of its two rings. Those come from the Delaunay triangulation of every other ring
    point, which contains the Euclidean minimum spanning tree. A cut is traversed both ways, so the
    winding number elsewhere is the sum of the rings' own (+1 inside objects, -1 inside holes).
    """
    if len(rings) == 1:
        return rings[0]
    n_rings = len(rings)
    picked = [np.arange(0, len(r), 2 if len(r) > 8 else 1) for r in rings]
    owner = np.repeat(np.arange(n_rings), [len(p) for p in picked])
    local = np.concatenate(picked)
    points = np.concatenate([r[p] for r, p in zip(rings, picked, strict=True)])
    simplices = Delaunay(points).simplices
    edges = np.concatenate([simplices[:, [0, 1]], simplices[:, [1, 2]], simplices[:, [2, 0]]])
    edges = edges[owner[edges[:, 0]] != owner[edges[:, 1]]]
    edges = edges[np.argsort(np.hypot(*(points[edges[:, 0]] - points[edges[:, 1]]).T))]
    ra, rb = owner[edges[:, 0]], owner[edges[:, 1]]
    _, first = np.unique(np.minimum(ra, rb) * n_rings + np.maximum(ra, rb), return_index=True)
    edges = edges[first]
    weight = np.hypot(*(points[edges[:, 0]] - points[edges[:, 1]]).T) + 1e-6
    graph = csr_matrix((weight, (owner[edges[:, 0]], owner[edges[:, 1]])), (n_rings, n_rings))
    tree = minimum_spanning_tree(graph).tocoo()
    closest = {}
    for a, b in edges:
        closest[owner[a], owner[b]] = (int(local[a]), int(local[b]))
        closest[owner[b], owner[a]] = (int(local[b]), int(local[a]))
    adjacent: list[list[int]] = [[] for _ in range(n_rings)]
    for a, b in zip(tree.row, tree.col, strict=True):
        adjacent[a].append(int(b))
        adjacent[b].append(int(a))
    root = int(np.argmax(areas))
    children: list[list[tuple[int, int, int]]] = [[] for _ in range(n_rings)]  # (at, ring, entry)
    seen, stack = {root}, [root]
    while stack:
        r = stack.pop()
        for c in (c for c in adjacent[r] if c not in seen):
            seen.add(c)
            stack.append(c)
            children[r].append((closest[r, c][0], c, closest[r, c][1]))

    def walk(r: int, entry: int, closed: bool) -> list[np.ndarray]:
        ring = rings[r]
        order = np.roll(np.arange(len(ring)), -entry)
        out, pos = [], 0
        for at, c, c_entry in sorted(children[r], key=lambda k: (k[0] - entry) % len(ring)):
            k = (at - entry) % len(ring)
            out += [ring[order[pos : k + 1]], *walk(c, c_entry, closed=True)]
            pos = k
        out.append(ring[order[pos:]])
        return [*out, ring[entry][None]] if closed else out

    return np.concatenate(walk(root, 0, closed=False))
