"""Closed outlines to keys: one closed cubic Bezier with a given number of control points.

Fitting follows Schneider, "An Algorithm for Automatically Fitting Digitized Curves", Graphics Gems
(1990): chord-length parameters, least-squares inner control points between fixed vertices,
Newton-Raphson reparameterisation, shared tangent directions at smooth vertices. Unlike Schneider's
recursive splitting, the point count is fixed per contour (every key needs the same count), so
vertices are placed by arc length, optionally following the previous key's vertices; see
:func:`fit_key` and :func:`rotoflow.geometry.shape.fit_shapes`. Outlines longer than fitting needs
are resampled evenly by arc length (at least :data:`_SAMPLES` samples per segment, at most
:data:`_STEP` pixels apart), which also spares the fit the pixel stairs of a traced mask.

:func:`fit_outline`, :func:`retrack` and :func:`refit` give :class:`Fitted` keys that carry their
errors against the outline: what :func:`rotoflow.geometry.shape.fit_shapes` checks and refits.

Coordinate frame: see :mod:`rotoflow.geometry`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rotoflow.errors import GeometryError
from rotoflow.geometry.bezier import as_points
from rotoflow.geometry.outline import signed_area

TURN_WEIGHT = 6.0
"""Vertex placement counts each radian the outline turns as this many pixels of length."""
SMOOTH_ANGLE = np.deg2rad(15.0)
"""Vertices whose fitted tangents are within this angle of collinear are made smooth."""
SPACING_WEIGHT = 0.1
"""Weight of even vertex spacing against following the previous key's vertices (see
:func:`fit_key`); :func:`rotoflow.geometry.fit_shapes` raises it where a key misses its targets."""
ANCHOR_PASSES = 2
"""Times a followed key is placed: each pass re-estimates the rigid motion from the last."""

_TURN_SPAN = 2  # tangents for turning are taken across 2 * _TURN_SPAN points (ignores pixel stairs)
_RIDGE = 1e-3  # pulls segments without outline samples to straight lines
_SHIFT_WEIGHT = 0.01  # pulls tracked vertices towards even spacing
_SAMPLES = 12  # outline samples per segment that fitting keeps at least
_STEP = 4.0  # pixels between outline samples that fitting keeps at most
_BAND = 2.0  # vertex spacings a tracked vertex may move from its even position
_MOVES = 9  # positions each vertex tries per round of tracking
_FINEST = 1 / 16  # the last round of tracking moves vertices by up to this many spacings


def fit_key(
    outline: np.ndarray,
    n_points: int,
    *,
    previous: np.ndarray | None = None,
    spacing_weight: float = SPACING_WEIGHT,
) -> np.ndarray:
    """Fit a closed cubic Bezier with ``n_points`` control points to a closed outline.

    Vertex placement: vertices are spread evenly by arc length, with each radian of turning
    counted as :data:`TURN_WEIGHT` pixels so that tight curves get closer vertices; even spacing
    keeps vertex ``i`` on the same part of the outline from frame to frame, which corner detection
    would not. The inner control points are then fitted by least squares (Schneider 1990, see the
    module docstring); vertices whose tangents come out within :data:`SMOOTH_ANGLE` of collinear
    are made smooth, the others stay corners.

    Args:
        outline: ``(M, 2)`` closed outline in image space (as from :func:`mask_rings`).
        n_points: Number of control points, at least 2.
        previous: The previous key's ``(n_points, 3, 2)`` control points, or None. When given, the
            curve keeps its winding, the even spacing starts where the vertices move least in total
            (to an eighth of the spacing), and each vertex then moves along the outline towards
            the previous key's vertex carried by the contour's rigid motion (Kabsch 1976, estimated
            from the vertices, :data:`ANCHOR_PASSES` times), trading evenness for less swimming
            between keys. Without it, the curve runs clockwise on screen and point 0 is at the top
            of the outline.
        spacing_weight: Weight (dimensionless: square pixels of vertex motion per square pixel of
            uneven spacing) of even spacing against following ``previous``; larger keeps the
            spacing more even.

    Returns:
        ``(n_points, 3, 2) float64`` control points ``[vertex, in_tangent, out_tangent]``.

    Raises:
        GeometryError: ``outline`` is empty or not ``(M, 2)``, ``n_points < 2``, or ``previous``
            has another point count.
    """
    pts = np.asarray(outline, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0 or not np.isfinite(pts).all():
        raise GeometryError(f"outline must be a non-empty finite (M, 2) array, got {pts.shape}")
    if n_points < 2:
        raise GeometryError(f"n_points must be at least 2, got {n_points}")
    prev = None if previous is None else as_points(previous)
    if prev is not None and len(prev) != n_points:
        raise GeometryError(f"previous key has {len(prev)} points, expected {n_points}")
    return fit_outline(pts, int(n_points), prev, weight=spacing_weight).points


class _Path:
    """A closed polyline with its arc length ``cum`` and placement measure ``warp`` per point
    (arc length plus :data:`TURN_WEIGHT` per radian turned). Given the number of ``vertices`` to
    fit, a polyline with more points than fitting needs (:data:`_SAMPLES` per segment, and one
    every :data:`_STEP` pixels) is first resampled evenly by arc length."""

    def __init__(self, pts: np.ndarray, vertices: int | None = None) -> None:
        step = np.roll(pts, -1, axis=0) - pts
        length = np.hypot(*step.T)
        keep = length > 1e-9
        pts = pts[keep] if keep.any() else pts[:1]
        total = float(length.sum())
        samples = len(pts) if vertices is None else max(_SAMPLES * vertices, int(total / _STEP))
        if len(pts) > samples:
            closed = np.vstack([pts, pts[:1]])
            cum = np.r_[0.0, np.cumsum(np.hypot(*np.diff(closed, axis=0).T))]
            s = np.arange(samples) * (cum[-1] / samples)
            pts = np.stack([np.interp(s, cum, closed[:, 0]), np.interp(s, cum, closed[:, 1])], 1)
        self.pts = pts
        self.step = np.roll(self.pts, -1, axis=0) - self.pts
        self.length = np.hypot(*self.step.T)
        self.cum = np.r_[0.0, np.cumsum(self.length)]
        self.total = float(self.cum[-1])
        self.xs, self.ys = (np.r_[self.pts[:, k], self.pts[0, k]] for k in (0, 1))
        ahead = np.roll(self.pts, -_TURN_SPAN, axis=0) - np.roll(self.pts, _TURN_SPAN, axis=0)
        angle = np.arctan2(ahead[:, 1], ahead[:, 0])
        turn = np.abs(np.angle(np.exp(1j * (np.roll(angle, -1) - angle))))
        self.warp = np.r_[0.0, np.cumsum(self.length + TURN_WEIGHT * turn)]

    def measure_at(self, s: np.ndarray) -> np.ndarray:
        """Placement measure at arc positions ``s`` (periodic, unrolled)."""
        turns = np.floor(s / self.total)
        return np.interp(s - turns * self.total, self.cum, self.warp) + turns * self.warp[-1]

    def unwarp(self, c: np.ndarray) -> np.ndarray:
        """Arc positions at placement measure ``c`` (periodic, unrolled)."""
        turns = np.floor(c / self.warp[-1])
        return np.interp(c - turns * self.warp[-1], self.warp, self.cum) + turns * self.total

    def at(self, s: np.ndarray) -> np.ndarray:
        """Points at arc positions ``s`` (periodic): ``s.shape + (2,)``."""
        s = s - np.floor(s / self.total) * self.total
        return np.stack([np.interp(s, self.cum, self.xs), np.interp(s, self.cum, self.ys)], -1)


class Fitted(NamedTuple):
    """A fitted key with what checking and refitting it needs.

    Returned by :func:`fit_outline`, :func:`retrack` and :func:`refit`; :func:`fit_key` returns
    only ``points``.
    """

    points: np.ndarray  # (n, 3, 2) control points
    dist: np.ndarray  # distance of each outline sample to the curve (pixels)
    weight: np.ndarray  # arc length each sample stands for (pixels)
    path: _Path  # the outline, oriented as the key
    u: np.ndarray  # (n,) arc positions of the vertices on the path (unrolled, increasing)
    goal: np.ndarray | None = None  # (n,) the even placement that tracking started from

    def error(self) -> tuple[float, float]:
        """``(mean distance, area between outline and curve)`` in pixels and square pixels; the
        area is the integral of the distance along the outline, to first order the area of the
        symmetric difference of the two filled regions."""
        area = float(np.dot(self.dist, self.weight))
        return area / max(float(self.weight.sum()), 1e-12), area


def fit_outline(
    pts: np.ndarray,
    n: int,
    prev: np.ndarray | None,
    track: bool = True,
    hole: bool = False,
    weight: float = SPACING_WEIGHT,
) -> Fitted:
    """:func:`fit_key` on checked input, also returning what :class:`Fitted` holds.

    Args:
        pts: ``(M, 2) float64`` closed outline in image space, finite and non-empty (not checked:
            :func:`fit_key` checks it).
        n: Number of control points, at least 2.
        prev: The previous key's ``(n, 3, 2) float64`` control points, or None (as ``previous``
            in :func:`fit_key`).
        track: False keeps the even spacing (no :func:`_track` towards ``prev``).
        hole: Without ``prev``, the key runs counter-clockwise on screen (a hole) instead of
            clockwise; with ``prev``, it runs as ``prev`` runs.
        weight: The spacing weight (``spacing_weight`` of :func:`fit_key`).

    Returns:
        The fitted key; ``goal`` is set when it was tracked (``prev`` given and ``track``).
    """
    sign = (-1.0 if hole else 1.0) if prev is None else np.sign(signed_area(prev[:, 0])) or 1.0
    if signed_area(pts) * sign < 0:
        pts = pts[::-1]
    path = _Path(pts, n)
    if path.total == 0:
        out = np.zeros((n, 3, 2))
        out[:, 0] = path.pts[0]
        return Fitted(out, np.zeros(1), np.ones(1), path, np.zeros(n))
    total, spacing = path.total, path.warp[-1] / n
    even = np.arange(n) * spacing

    def spread(starts: np.ndarray) -> np.ndarray:  # (S,) starts -> (S, n) arc positions
        return path.unwarp(starts[:, None] + even[None, :])

    if prev is None:
        u = spread(path.warp[[np.lexsort((path.pts[:, 0], path.pts[:, 1]))[0]]])[0]
    else:

        def nearest(options: np.ndarray) -> int:
            return int(np.argmin(((path.at(options) - prev[None, :, 0]) ** 2).sum(axis=(1, 2))))

        coarse = even[nearest(spread(even))]
        fine = spread(coarse + np.arange(-4, 5) * (spacing / 8))
        u = fine[nearest(fine)]
        if track:
            goal, reach = u, _BAND
            for _ in range(ANCHOR_PASSES):  # later passes start from the last, moving less
                u = _track(path, goal, u, _rigid(prev[:, 0], path.at(u)), spacing, weight, reach)
                reach = _BAND / 4
    fitted = _fit_segments(path, u - np.floor(u[0] / total) * total)
    return fitted._replace(goal=goal) if prev is not None and track else fitted


def retrack(fitted: Fitted, prev: np.ndarray, weight: float) -> Fitted | None:
    """A tracked key placed again with another spacing weight, starting from where it is.

    Args:
        fitted: A key from :func:`fit_outline` (or from :func:`retrack`).
        prev: The previous key's ``(n, 3, 2) float64`` control points that ``fitted`` followed
            (as ``previous`` in :func:`fit_key`).
        weight: The new spacing weight (``spacing_weight`` of :func:`fit_key`).

    Returns:
        The key placed again (its ``goal`` kept), or None for an untracked key (``goal`` None).
    """
    if fitted.goal is None:
        return None
    path, n = fitted.path, len(fitted.u)
    anchor = _rigid(prev[:, 0], path.at(fitted.u))
    u = _track(path, fitted.goal, fitted.u, anchor, path.warp[-1] / n, weight, _BAND / 2)
    return _fit_segments(path, u - np.floor(u[0] / path.total) * path.total)._replace(
        goal=fitted.goal
    )


def _rigid(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a`` (``(n, 2)``) moved onto ``b`` by the best rotation and translation (Kabsch 1976)."""
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    u, _, vt = np.linalg.svd((a - ca).T @ (b - cb))
    r = u @ np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0]) @ vt
    return (a - ca) @ r + cb


def _project(path: _Path, u: np.ndarray, targets: np.ndarray) -> np.ndarray | None:
    """Arc positions of the outline points nearest ``targets`` (``(n, 2)``), each searched within
    one vertex spacing of ``u``; None when they would not keep their order round the outline."""
    n = len(u)
    moved = u
    for reach in (path.total / n, path.total / n / 8):
        cand = moved[:, None] + np.linspace(-reach, reach, 17)[None, :]
        d = ((path.at(cand) - targets[:, None, :]) ** 2).sum(axis=2)
        moved = cand[np.arange(n), np.argmin(d, axis=1)]
    if (np.diff(np.r_[moved, moved[0] + path.total]) <= 1e-6).any():
        return None
    return moved - np.floor(moved[0] / path.total) * path.total


def refit(fitted: Fitted, targets: np.ndarray) -> Fitted | None:
    """Refit a key with its vertices moved along its outline towards ``targets``.

    Each vertex goes to the outline point nearest its target within one vertex spacing (see
    :func:`_project`); the segments are then fitted again with one Newton-Raphson step.

    Args:
        fitted: A key from :func:`fit_outline`, :func:`retrack` or :func:`refit`.
        targets: ``(n, 2) float64`` wanted vertex positions in image space.

    Returns:
        The refitted key (``goal`` None), or None when the moved vertices would not keep their
        order round the outline.
    """
    moved = _project(fitted.path, fitted.u, targets)
    return None if moved is None else _fit_segments(fitted.path, moved, newton=1)


def _track(
    path: _Path,
    goal: np.ndarray,
    start: np.ndarray,
    anchor: np.ndarray,
    spacing: float,
    weight: float,
    reach: float = _BAND,
) -> np.ndarray:
    """Move vertices along the outline towards ``anchor`` points (``(n, 2)``).

    Minimises, over the vertices' arc positions and keeping their order round the outline, the
    sum over vertices of ``|p_i - anchor_i|^2 + weight * (d_i - d_{i-1})^2 + 0.01 * d_i^2``
    (cyclic in ``i``), where ``d_i`` is the shift from ``goal`` (the even placement's arc
    positions) in placement measure, pixels. Coordinate descent from ``start``: the even and the
    odd vertices by turns, each taking the best of :data:`_MOVES` positions between its
    neighbours, within ``reach`` vertex spacings, halved each round down to 1/16 of a spacing (a
    fraction of a pixel at usual spacings), so that vertices glide rather than hop between
    outline samples. Returns the arc positions, unrolled and increasing like ``start``.
    """
    n, total = len(goal), path.total
    u = np.array(start, dtype=np.float64)
    target = path.measure_at(goal)
    moves = np.linspace(-1.0, 1.0, _MOVES) * (spacing * total / path.warp[-1])
    gap = 1e-3 * total / n
    index = np.arange(n)
    groups = [index[0 : n - n % 2 : 2], index[1::2]] + ([index[-1:]] if n % 2 else [])
    sides = [((g - 1) % n, (g + 1) % n, total * (g == 0), total * (g == n - 1)) for g in groups]
    while reach >= _FINEST:
        for g, (before, after, wrap_lo, wrap_hi) in zip(groups, sides, strict=True):
            shift = path.measure_at(u) - target
            lo = (u[before] - wrap_lo + gap)[:, None]
            hi = (u[after] + wrap_hi - gap)[:, None]
            cand = np.clip(u[g][:, None] + reach * moves[None, :], lo, hi)
            d = path.measure_at(cand) - target[g][:, None]
            cost = ((path.at(cand) - anchor[g][:, None, :]) ** 2).sum(axis=2) + _SHIFT_WEIGHT * d**2
            cost += weight * ((d - shift[before][:, None]) ** 2 + (shift[after][:, None] - d) ** 2)
            u[g] = cand[np.arange(len(g)), np.argmin(cost, axis=1)]
        reach /= 2
    return u


def _fit_segments(path: _Path, u: np.ndarray, newton: int = 2) -> Fitted:
    """Inner control points of the segments between vertices at arc positions ``u``.

    Schneider (1990): chord-length parameters and ``newton`` Newton-Raphson reparameterisations
    with free tangents; then vertices whose tangents are within :data:`SMOOTH_ANGLE` of collinear get their
    mean direction and only the tangent lengths are fitted again (Schneider's constrained fit).
    """
    n, m, total = len(u), len(path.pts), path.total
    knots = np.r_[u, u[0] + total]
    s_all = np.r_[path.cum[:-1], path.cum[:-1] + total, path.cum[:-1] + 2 * total]
    lo = np.searchsorted(s_all, knots[:-1], side="right")
    count = np.maximum(np.searchsorted(s_all, knots[1:], side="left") - lo, 0)
    seg = np.repeat(np.arange(n), count)
    sample = np.arange(len(seg)) - np.repeat(np.cumsum(count) - count, count) + lo[seg]
    t = (s_all[sample] - knots[seg]) / np.maximum(np.diff(knots)[seg], 1e-12)
    q = path.pts[sample % m]
    p0 = path.at(u)
    p3 = np.roll(p0, -1, axis=0)
    axes = np.broadcast_to(np.eye(2), (n, 2, 2))
    frame, stiff, p1, p2 = axes, np.zeros((n, 2)), p0, p3
    for iteration in range(newton + 2):
        if iteration == newton + 1:  # shared directions at nearly smooth vertices
            back, ahead = p0 - np.roll(p2, 1, axis=0), p1 - p0
            back /= np.maximum(np.hypot(*back.T), 1e-12)[:, None]
            ahead /= np.maximum(np.hypot(*ahead.T), 1e-12)[:, None]
            smooth = (back * ahead).sum(axis=1) > np.cos(SMOOTH_ANGLE)
            mean = back + ahead
            mean /= np.maximum(np.hypot(*mean.T), 1e-12)[:, None]
            basis = np.stack([mean, np.stack([-mean[:, 1], mean[:, 0]], axis=1)], axis=1)
            frame = np.where(smooth[:, None, None], basis, axes)
            stiff = np.stack([np.zeros(n), np.where(smooth, 1e9, 0.0)], axis=1)
        if iteration <= newton:
            p1, p2 = _solve_free(seg, t, q, p0, p3)
        else:
            p1, p2 = _solve(seg, t, q, p0, p3, frame, stiff)
        c0, c1, c2, c3 = p0[seg], p1[seg], p2[seg], p3[seg]
        s, tt = (1.0 - t)[:, None], t[:, None]
        point = s**3 * c0 + 3 * s * tt * (s * c1 + tt * c2) + tt**3 * c3
        if iteration < newton:
            d1 = 3 * (s * s * (c1 - c0) + 2 * s * tt * (c2 - c1) + tt * tt * (c3 - c2))
            d2 = 6 * (s * (c2 - 2 * c1 + c0) + tt * (c3 - 2 * c2 + c1))
            num = ((point - q) * d1).sum(axis=1)
            den = (d1 * d1).sum(axis=1) + ((point - q) * d2).sum(axis=1)
            ok = np.abs(den) > 1e-12
            t = np.where(ok, np.clip(t - num / np.where(ok, den, 1.0), 0.0, 1.0), t)
    out = np.stack([p0, np.roll(p2, 1, axis=0) - p0, p1 - p0], axis=1)
    return Fitted(out, np.hypot(*(point - q).T), path.length[sample % m], path, u)


def _solve_free(
    seg: np.ndarray, t: np.ndarray, q: np.ndarray, p0: np.ndarray, p3: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_solve` with free tangents (identity bases, no penalties): the two coordinates
    decouple and each segment's normal equations are one 2x2 system, solved in closed form."""
    n = len(p0)
    s = 1.0 - t
    b1, b2 = 3 * s * s * t, 3 * s * t * t
    rest = q - (s**3 + b1)[:, None] * p0[seg] - (t**3 + b2)[:, None] * p3[seg]
    a11, a12, a22 = (np.bincount(seg, w, n) for w in (b1 * b1, b1 * b2, b2 * b2))
    a11, a22 = a11 + _RIDGE, a22 + _RIDGE
    straight = (p3 - p0) / 3
    r1 = np.stack([np.bincount(seg, b1 * rest[:, k], n) for k in (0, 1)], 1) + _RIDGE * straight
    r2 = np.stack([np.bincount(seg, b2 * rest[:, k], n) for k in (0, 1)], 1) - _RIDGE * straight
    det = (a11 * a22 - a12 * a12)[:, None]
    x1 = (a22[:, None] * r1 - a12[:, None] * r2) / det
    x2 = (a11[:, None] * r2 - a12[:, None] * r1) / det
    return p0 + x1, p3 + x2


def _solve(
    seg: np.ndarray,
    t: np.ndarray,
    q: np.ndarray,
    p0: np.ndarray,
    p3: np.ndarray,
    frame: np.ndarray,
    stiff: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Batched least squares for every segment's inner control points.

    ``p1 = p0 + frame[i].T @ x1`` and ``p2 = p3 + frame[i + 1].T @ x2``, with an orthonormal basis
    per vertex in ``frame`` and a penalty per basis coordinate in ``stiff`` (a huge one pins it to
    zero across a shared direction); the ridge pulls towards a straight segment.
    """
    n = len(p0)
    frame2, stiff2 = np.roll(frame, -1, axis=0), np.roll(stiff, -1, axis=0)
    s = 1.0 - t
    b1, b2 = 3 * s * s * t, 3 * s * t * t
    rest = q - (s**3 + b1)[:, None] * p0[seg] - (t**3 + b2)[:, None] * p3[seg]
    s11, s12, s22 = (np.bincount(seg, w, n) for w in (b1 * b1, b1 * b2, b2 * b2))
    r1 = np.stack([np.bincount(seg, b1 * rest[:, k], n) for k in (0, 1)], axis=1)
    r2 = np.stack([np.bincount(seg, b2 * rest[:, k], n) for k in (0, 1)], axis=1)
    cross = s12[:, None, None] * np.einsum("nka,nla->nkl", frame, frame2)
    a = np.zeros((n, 4, 4))
    a[:, :2, :2] = s11[:, None, None] * np.eye(2)
    a[:, 2:, 2:] = s22[:, None, None] * np.eye(2)
    a[:, :2, 2:], a[:, 2:, :2] = cross, np.transpose(cross, (0, 2, 1))
    a[:, np.arange(4), np.arange(4)] += np.concatenate([stiff, stiff2], axis=1) + _RIDGE
    straight1 = np.einsum("nka,na->nk", frame, (p3 - p0) / 3) * (stiff == 0)
    straight2 = np.einsum("nka,na->nk", frame2, (p0 - p3) / 3) * (stiff2 == 0)
    rhs = np.concatenate(
        [
            np.einsum("nka,na->nk", frame, r1) + _RIDGE * straight1,
            np.einsum("nka,na->nk", frame2, r2) + _RIDGE * straight2,
        ],
        axis=1,
    )
    x = np.linalg.solve(a, rhs[..., None])[..., 0]
    return (
        p0 + np.einsum("nka,nk->na", frame, x[:, :2]),
        p3 + np.einsum("nka,nk->na", frame2, x[:, 2:]),
    )
