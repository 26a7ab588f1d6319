"""Closed cubic Bezier shapes as control points: checked, flattened, and interpolated between keys.

The primitives that fitting (:mod:`rotoflow.geometry.fit`), shape building
(:mod:`rotoflow.geometry.shape`) and filling (:mod:`rotoflow.geometry.raster`) share. Control points
follow :class:`rotoflow.types.ShapeKey`: ``(N, 3, 2) float64`` rows ``[vertex, in_tangent,
out_tangent]``, tangents relative to the vertex; segment ``i`` runs from vertex ``i`` (handle
``vertex + out_tangent``) to vertex ``i + 1`` (handle ``vertex + in_tangent``), the last back to the
first. Coordinate frame: see :mod:`rotoflow.geometry`.
"""

from __future__ import annotations

import bisect

import numpy as np

from rotoflow.errors import GeometryError
from rotoflow.types import RotoShape


def as_points(points: np.ndarray) -> np.ndarray:
    """Control points as a checked ``float64`` array.

    Args:
        points: ``(N, 3, 2)`` control points ``[vertex, in_tangent, out_tangent]``, image space.

    Returns:
        ``(N, 3, 2) float64`` (the input itself when it already is one).

    Raises:
        GeometryError: ``points`` is not ``(N, 3, 2)`` with ``N >= 1``, or not finite.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[1:] != (3, 2) or len(pts) == 0 or not np.isfinite(pts).all():
        raise GeometryError(f"control points must be finite (N, 3, 2), N >= 1; got {pts.shape}")
    return pts


def flatten(pts: np.ndarray, samples: int) -> np.ndarray:
    """Points on a closed cubic Bezier, ``samples`` per segment at even curve parameters.

    Args:
        pts: ``(N, 3, 2) float64`` control points (as from :func:`as_points`), image space.
        samples: Points per segment, at ``t = k / samples`` for ``k = 0 .. samples - 1``.

    Returns:
        ``(N * samples, 2) float64`` closed polygon on the curve, segment by segment, starting at
        vertex 0.
    """
    p0, p3 = pts[:, 0], np.roll(pts[:, 0], -1, axis=0)
    p1, p2 = p0 + pts[:, 2], p3 + np.roll(pts[:, 1], -1, axis=0)
    t = (np.arange(samples) / samples)[None, :, None]
    s = 1.0 - t
    curve = (
        s**3 * p0[:, None] + 3 * s * t * (s * p1[:, None] + t * p2[:, None]) + t**3 * p3[:, None]
    )
    return curve.reshape(-1, 2)


def shape_at(shape: RotoShape, frame: float) -> np.ndarray | None:
    """A contour's control points on a plate frame, interpolated linearly between its keys.

    Between keys at frames ``f0 < frame < f1`` every coordinate (vertices and relative tangents
    alike, hence the absolute handles too) is ``(1 - s) * p0 + s * p1`` with
    ``s = (frame - f0) / (f1 - f0)``: the "linear" shape-key interpolation of Silhouette, Fusion,
    After Effects and Lottie as our exporters set it. On a key frame the key itself is returned.

    Args:
        shape: The contour; keys in strictly increasing frame order, one point count.
        frame: Plate frame number (a fraction gives a sub-frame position).

    Returns:
        ``(N, 3, 2) float64`` control points in image space (a new array), or None when the
        contour has no keys or ``frame`` is outside its lifetime
        (:attr:`rotoflow.types.RotoShape.frame_span`).
    """
    span = shape.frame_span
    if span is None or not span[0] <= frame <= span[1]:
        return None
    frames = [key.frame for key in shape.keys]
    i = bisect.bisect_right(frames, frame)
    if i == 0:
        return np.array(shape.keys[0].points, dtype=np.float64)
    if i == len(frames) or frames[i - 1] == frame:
        return np.array(shape.keys[i - 1].points, dtype=np.float64)
    f0, f1 = frames[i - 1], frames[i]
    s = (frame - f0) / (f1 - f0)
    p0 = np.asarray(shape.keys[i - 1].points, dtype=np.float64)
    return (1.0 - s) * p0 + s * np.asarray(shape.keys[i].points, dtype=np.float64)


def signed_area(pts: np.ndarray, samples: int = 16) -> float:
    """Area of a closed Bezier key (square pixels), positive when it runs clockwise on screen.

    Args:
        pts: ``(N, 3, 2) float64`` control points, image space (y down).
        samples: Chords per segment of the polygon whose shoelace area is taken.

    Returns:
        The signed area: positive clockwise on screen (outer contours), negative
        counter-clockwise (holes), 0 for a collapsed key.
    """
    x, y = flatten(pts, samples).T
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def vertex_normals(pts: np.ndarray, hole: bool) -> np.ndarray:
    """Unit normals at a key's vertices pointing away from the filled side.

    The tangent direction at a vertex is the bisector of its incoming and outgoing handles (of
    the neighbouring chords where a handle is zero); the normal is perpendicular to it, out of
    the loop for an outer contour or island and into the loop for a hole (which side is the loop's
    inside comes from the sign of :func:`signed_area`, so either orientation works).

    Args:
        pts: ``(N, 3, 2) float64`` control points, image space.
        hole: The contour is a hole (its filled side is outside its loop).

    Returns:
        ``(N, 2) float64`` unit normals; zero rows for a collapsed key (no area).
    """
    area = signed_area(pts)
    if abs(area) <= 1e-9:
        return np.zeros((len(pts), 2))
    v = pts[:, 0]
    chord_in = v - np.roll(v, 1, axis=0)
    chord_out = np.roll(v, -1, axis=0) - v
    has_in = np.linalg.norm(pts[:, 1], axis=-1, keepdims=True) > 1e-9
    has_out = np.linalg.norm(pts[:, 2], axis=-1, keepdims=True) > 1e-9
    t_in = _unit(np.where(has_in, -pts[:, 1], chord_in))
    t_out = _unit(np.where(has_out, pts[:, 2], chord_out))
    tangent = t_in + t_out
    tangent = _unit(
        np.where(np.linalg.norm(tangent, axis=-1, keepdims=True) > 1e-6, tangent, t_out)
    )
    # (ty, -tx) points out of the loop of a clockwise-on-screen key (positive area)
    outward = np.sign(area) * np.stack([tangent[:, 1], -tangent[:, 0]], axis=-1)
    return -outward if hole else outward


def offset_points(pts: np.ndarray, delta: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """A closed Bezier moved ``delta`` pixels along ``normals`` at each vertex, with its handles
    scaled as those of the parallel (offset) curve are.

    The curve at distance ``d`` from a curve of curvature ``k`` (positive where the curve bends
    away from the normal) moves ``1 + d k`` times as fast, so each handle keeps its direction and
    is scaled by ``1 + delta k``, ``k`` being the curvature at that end of its segment
    (``k = -B'' . n / |B'|^2``, from the cubic's first and second derivatives at the end; see
    Farouki and Neff, "Analytic properties of plane offset curves", CAGD 7, 1990). ``delta k`` is
    kept within ``[-0.75, 0.75]`` where the offset would reach a centre of curvature, symmetric so
    that two offsets by ``+d`` and ``-d`` keep the path's handles as their mean; a vertex whose
    handle is zero keeps it zero. Without the scaling an outward offset of a round part keeps the
    inner curve's handles and comes out flattened between vertices (Tiller and Hanson, "Offsets
    of two-dimensional profiles", IEEE CG&A 4, 1984: offsetting the control polygon).

    Args:
        pts: ``(N, 3, 2) float64`` control points ``[vertex, in, out]``, image space, tangents
            relative to their vertex.
        delta: ``(N,)`` signed move per vertex in pixels, along ``normals``.
        normals: ``(N, 2)`` unit normals (:func:`vertex_normals`); zero rows do not move.

    Returns:
        ``(N, 3, 2) float64`` control points of the moved curve.
    """
    pts = np.asarray(pts, dtype=np.float64)
    delta = np.asarray(delta, dtype=np.float64).reshape(-1)
    v, t_in, t_out = pts[:, 0], pts[:, 1], pts[:, 2]
    nxt = np.roll(v, -1, axis=0)
    prv = np.roll(v, 1, axis=0)
    # segment i at t = 0: P0 = v_i, P1 = v_i + out_i, P2 = v_i+1 + in_i+1
    d1 = 3.0 * t_out
    d2 = 6.0 * (v - 2.0 * (v + t_out) + nxt + np.roll(t_in, -1, axis=0))
    k_out = _end_curvature(d1, d2, normals)
    # segment i-1 at t = 1: P1 = v_i-1 + out_i-1, P2 = v_i + in_i, P3 = v_i
    d1 = -3.0 * t_in
    d2 = 6.0 * (prv + np.roll(t_out, 1, axis=0) - 2.0 * (v + t_in) + v)
    k_in = _end_curvature(d1, d2, normals)
    out = pts.copy()
    out[:, 0] = v + delta[:, None] * normals
    out[:, 1] = t_in * (1.0 + np.clip(delta * k_in, -0.75, 0.75))[:, None]
    out[:, 2] = t_out * (1.0 + np.clip(delta * k_out, -0.75, 0.75))[:, None]
    return out


def _end_curvature(d1: np.ndarray, d2: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """``(N,)`` curvature ``-B'' . n / |B'|^2`` at segment ends from their first (``d1``) and
    second (``d2``) derivatives, ``(N, 2)`` each; 0 where the first derivative vanishes."""
    speed2 = np.einsum("ij,ij->i", d1, d1)
    dot = np.einsum("ij,ij->i", d2, normals)
    return np.divide(-dot, speed2, out=np.zeros_like(dot), where=speed2 > 1e-12)


def _unit(v: np.ndarray) -> np.ndarray:
    """Rows of ``(..., 2)`` scaled to length 1; zero rows stay zero."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > 1e-9)
