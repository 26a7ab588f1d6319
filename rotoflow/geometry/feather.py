"""The soft edge of a matte, measured across a mask's outline: where its ramp starts and ends.

A roto shape's feather should give back the matte's soft edge in the host. The soft edge is
modelled as a **linear ramp** across the outline, from alpha 1 at ``inside`` pixels towards the
filled side to alpha 0 at ``outside`` pixels away from it (the *band* of a point). It is measured
on profiles of the alpha along the outline's normals (``h = PROFILE_STEP`` pixels apart, out to
``REACH`` pixels each side) with the moment of the profile that fixes a linear ramp's width,
``w = 6 sum(alpha(s) (1 - alpha(s))) h`` (``integral u (1 - u) du = 1 / 6`` over a ramp), and the
band is centred on the outline: ``inside = outside = w / 2``. Centring keeps the alpha's 0.5,
where every host puts it for a band centred on the path, on the mask's own outline, which the
region accuracy J is measured on. The ramp's own centre, ``c = sum(alpha(s) - [s < 0]) h``, lies
within a pixel of the outline (on DAVIS ``dog`` with the lite matter, 10th to 90th percentile
-0.6 to +0.03 px); following it instead cost 0.003 of J against the ground truth and changed the
mean alpha error by less than 0.02e-3 (``benchmarks/shapes_davis.py``).

Alpha below 0.02 or above 0.98 counts as 0 or 1, so that noise in flat areas does not widen the
band. A profile stops where it passes the medial axis of the mask or of the background (the
distance to the outline stops growing), so that a thin part (a cable, a gap between two objects)
is not measured across to its other side, and neither side of the band reaches past the nearer
of the two axes (a thin part gets a narrower ramp, still centred).

Coordinate frame: image space (see :mod:`rotoflow.geometry`); ``s`` is in plate pixels along the
unit normal that points away from the filled side.
"""

from __future__ import annotations

import cv2
import numpy as np

from rotoflow.errors import GeometryError

PROFILE_STEP = 0.5
"""Spacing (pixels) of the samples along a normal."""
REACH = 32.0
"""How far (pixels) each side of the outline a profile looks for the soft edge."""
MIN_WIDTH = 1.5
"""A measured ramp narrower than this (pixels) is a hard edge: band ``(0, 0)`` (a binary alpha
measures about 1 px, its pixels' own footprint, which hosts draw with their antialiasing)."""
NORMAL_SPAN = 4
"""Ring points each side whose chord gives a ring point's normal."""
_SOFT = (0.02, 0.98)


def ring_normals(ring: np.ndarray) -> np.ndarray:
    """Unit normals of a mask ring pointing away from the filled side.

    Args:
        ring: ``(M, 2) float64`` closed polyline as from :func:`rotoflow.geometry.mask_rings`
            (outer contours clockwise on screen, holes counter-clockwise), image space.

    Returns:
        ``(M, 2) float64``: for a travel direction ``t``, ``(t_y, -t_x)`` normalised: out of the
        loop round an object, into the loop round a hole. ``t`` is the chord from the point
        :data:`NORMAL_SPAN` points back to the point as far ahead (fewer on a short ring), which
        sees past the pixel staircase of a traced outline.
    """
    k = max(1, min(NORMAL_SPAN, (len(ring) - 1) // 2))
    t = np.roll(ring, -k, axis=0) - np.roll(ring, k, axis=0)
    n = np.stack([t[:, 1], -t[:, 0]], axis=1)
    length = np.hypot(*n.T)[:, None]
    return np.divide(n, length, out=np.zeros_like(n), where=length > 1e-9)


def _sample(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image`` at image-space points ``(M, S, 2)`` (pixel centres at
    +0.5), edge pixels repeated beyond the frame."""
    maps = xy.astype(np.float32) - 0.5
    rows = []
    for start in range(0, len(maps), 16384):  # OpenCV maps stay below 32767 rows
        part = maps[start : start + 16384]
        rows.append(
            cv2.remap(
                image,
                np.ascontiguousarray(part[..., 0]),
                np.ascontiguousarray(part[..., 1]),
                cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
        )
    return np.concatenate(rows, axis=0)


def _until_medial(dist: np.ndarray) -> np.ndarray:
    """Per profile ``(M, S)`` of distances to the outline, sampled outwards from it: a mask of
    the samples up to where the distance stops growing (the medial axis)."""
    falls = np.diff(dist, axis=1) < 0.05
    first = np.where(falls.any(axis=1), falls.argmax(axis=1) + 1, dist.shape[1])
    return np.arange(dist.shape[1])[None, :] < first[:, None]


def ring_bands(
    alpha: np.ndarray,
    mask: np.ndarray,
    rings: list[tuple[np.ndarray, int]],
    *,
    reach: float = REACH,
) -> list[np.ndarray]:
    """The soft band at every point of every ring (the model in the module docstring).

    Args:
        alpha: ``(H, W)`` float alpha in ``[0, 1]`` (the object's matte).
        mask: ``(H, W)`` mask the rings were traced from (non-zero inside).
        rings: ``[(ring, depth), ...]`` as from :func:`rotoflow.geometry.mask_rings`.
        reach: How far (pixels) each side a profile looks.

    Returns:
        One ``(M, 2) float64`` array per ring: ``[inside, outside]`` pixels at each ring point,
        towards and away from the filled side; ``(0, 0)`` for a hard edge.

    Raises:
        GeometryError: ``alpha`` and ``mask`` differ in shape or are not two-dimensional.
    """
    a = np.asarray(alpha, dtype=np.float32)
    m = np.asarray(mask)
    if a.ndim != 2 or a.shape != m.shape:
        raise GeometryError(f"alpha {a.shape} and mask {m.shape} must be one (H, W) shape")
    if not rings:
        return []
    a = np.where(a < _SOFT[0], 0.0, np.where(a > _SOFT[1], 1.0, a)).astype(np.float32)
    u8 = (m != 0).astype(np.uint8)
    inside = cv2.distanceTransform(u8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    outside = cv2.distanceTransform(1 - u8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    h = PROFILE_STEP
    steps = np.arange(h / 2, reach, h)  # sample positions on one side, away from the outline
    out = []
    for ring, _ in rings:
        n = ring_normals(ring)
        towards = ring[:, None, :] - steps[None, :, None] * n[:, None, :]
        away = ring[:, None, :] + steps[None, :, None] * n[:, None, :]
        keep_in = _until_medial(_sample(inside, towards))
        keep_out = _until_medial(_sample(outside, away))
        a_in = np.where(keep_in, _sample(a, towards), 1.0)
        a_out = np.where(keep_out, _sample(a, away), 0.0)
        width = 6.0 * h * ((a_in * (1 - a_in)).sum(axis=1) + (a_out * (1 - a_out)).sum(axis=1))
        band = np.repeat(width[:, None] / 2.0, 2, axis=1)
        # never past a medial axis (the ramp of a thin part ends at its middle), and centred:
        # both sides within the nearer axis
        limit = np.minimum(keep_in.sum(axis=1), keep_out.sum(axis=1)) * h
        band = np.minimum(band, limit[:, None])
        band[width < MIN_WIDTH] = 0.0
        out.append(band)
    return out


def vertex_bands(vertices: np.ndarray, ring: np.ndarray, band: np.ndarray) -> np.ndarray:
    """The band at each vertex of a key: that of the nearest point of the ring it was fitted to,
    centred on the vertex (so that the alpha's 0.5 is on the shape's path in every host).

    Args:
        vertices: ``(N, 2)`` key vertices, image space.
        ring: ``(M, 2)`` ring of the same frame.
        band: ``(M, 2)`` its band (:func:`ring_bands`).

    Returns:
        ``(N, 2) float64`` ``[inside, outside]`` pixels.
    """
    d = ((vertices[:, None, :] - ring[None, :, :]) ** 2).sum(axis=-1)
    return band[d.argmin(axis=1)].astype(np.float64)
