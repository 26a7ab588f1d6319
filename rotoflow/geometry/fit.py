"""Closed outlines to keys: one closed cubic Bezier with a given number of control points.

Fitting follows Schneider, "An Algorithm for Automatically Fitting Digitized Curves", Graphics Gems
(1990): chord-length parameters, least-squares inner control points between fixed vertices,
Newton-Raphson reparameterisation, shared tangent directions at smooth vertices. Unlike Schneider's
recursive splitting, the point count is fixed per shot (every key needs the same count), so vertices
are placed by arc length, optionally following the previous key's vertices; see :func:`fit_key` and
:func:`rotoflow.geometry.shape.fit_shape`.

Coordinate frame: see :mod:`rotoflow.geometry`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rotoflow.errors import GeometryError
from rotoflow.geometry.outline import _signed_area
from rotoflow.geometry.raster import _as_points

BRIDGE_STEP = 2.5
"""Outline edges longer than this (pixels) are bridges: both ends become control points."""
TURN_WEIGHT = 6.0
"""Vertex placement counts each radian the outline turns as this many pixels of length."""
SMOOTH_ANGLE = np.deg2rad(15.0)
"""Vertices whose fitted tangents are within this angle of collinear are made smooth."""
SPACING_WEIGHT = 1.0
"""Weight of even vertex spacing against following the previous key's vertices."""

_TURN_SPAN = 2  # tangents for turning are taken across 2 * _TURN_SPAN points (ignores pixel stairs)
_RIDGE = 1e-3  # pulls segments without outline samples (bridges) to straight lines
_SHIFT_WEIGHT = 0.01  # pulls tracked vertices towards even spacing


def fit_key(
    outline: np.ndarray, n_points: int, *, previous: np.ndarray | None = None
) -> np.ndarray:
    """Fit a closed cubic Bezier with ``n_points`` control points to a closed outline.

    Vertex placement: both ends of every bridge (outline edge longer than :data:`BRIDGE_STEP`) are
    vertices, joined by a straight segment. The other vertices are spread evenly by arc length, with
    each radian of turning counted as :data:`TURN_WEIGHT` pixels so that tight curves get closer
    vertices; even spacing keeps vertex ``i`` on the same part of the outline from frame to frame,
    which corner detection would not. The inner control points are then fitted by least squares
    (Schneider 1990, see the module docstring); vertices whose tangents come out within
    :data:`SMOOTH_ANGLE` of collinear are made smooth, the others stay corners.

    Args:
        outline: ``(M, 2)`` closed outline in image space (as from :func:`mask_outline`).
        n_points: Number of control points, at least 2 (and more than twice the number of
            bridges, or the bridges are fitted as curve and stop being zero-width).
        previous: The previous key's ``(n_points, 3, 2)`` control points, or None. When given, the
            curve keeps its winding, the even spacing starts where the vertices move least in total
            (to an eighth of the spacing), and each vertex may then move along the outline towards
            its previous position (after removing the mean motion), trading some evenness for less
            swimming between keys. Without it, the curve runs clockwise on screen and point 0 is at
            the top of the outline.

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
    prev = None if previous is None else _as_points(previous)
    if prev is not None and len(prev) != n_points:
        raise GeometryError(f"previous key has {len(prev)} points, expected {n_points}")
    return _fit(pts, int(n_points), prev).points


class _Path:
    """A closed polyline with its arc length ``cum`` and placement measure ``warp`` per point
    (arc length plus :data:`TURN_WEIGHT` per radian turned; bridges weigh nothing)."""

    def __init__(self, pts: np.ndarray) -> None:
        step = np.roll(pts, -1, axis=0) - pts
        keep = np.hypot(*step.T) > 1e-9
        self.pts = pts[keep] if keep.any() else pts[:1]
        self.step = np.roll(self.pts, -1, axis=0) - self.pts
        self.length = np.hypot(*self.step.T)
        self.cum = np.r_[0.0, np.cumsum(self.length)]
        self.total = float(self.cum[-1])
        self.bridge = self.length > BRIDGE_STEP
        ahead = np.roll(self.pts, -_TURN_SPAN, axis=0) - np.roll(self.pts, _TURN_SPAN, axis=0)
        angle = np.arctan2(ahead[:, 1], ahead[:, 0])
        turn = np.abs(np.angle(np.exp(1j * (np.roll(angle, -1) - angle))))
        self.warp = np.r_[
            0.0, np.cumsum(np.where(self.bridge, 0, self.length + TURN_WEIGHT * turn))
        ]

    def ends(self) -> np.ndarray:
        """Indices of the points at either end of a bridge."""
        edge = np.nonzero(self.bridge)[0]
        return np.unique(np.r_[edge, (edge + 1) % len(self.pts)])

    def measure_at(self, s: np.ndarray) -> np.ndarray:
        """Placement measure at arc positions ``s`` (periodic, unrolled)."""
        turns = np.floor(s / self.total)
        return np.interp(s - turns * self.total, self.cum, self.warp) + turns * self.warp[-1]

    def unwarp(self, c: np.ndarray) -> np.ndarray:
        """Arc positions at placement measure ``c`` (periodic, unrolled)."""
        turns = np.floor(c / self.warp[-1])
        return np.interp(c - turns * self.warp[-1], self.warp, self.cum) + turns * self.total

    def at(self, s: np.ndarray) -> np.ndarray:
        """Points at arc positions ``s`` (periodic)."""
        s = np.mod(s, self.total)
        k = np.clip(np.searchsorted(self.cum, s, side="right") - 1, 0, len(self.pts) - 1)
        frac = (s - self.cum[k]) / np.maximum(self.length[k], 1e-12)
        return self.pts[k] + frac[..., None] * self.step[k]


class _Fitted(NamedTuple):
    """A fitted key with what checking and refitting it needs."""

    points: np.ndarray  # (n, 3, 2) control points
    dist: np.ndarray  # distance of each outline sample to the curve (pixels)
    weight: np.ndarray  # arc length each sample stands for (pixels)
    path: _Path  # the outline, oriented as the key
    u: np.ndarray  # (n,) arc positions of the vertices on the path (unrolled, increasing)

    def error(self) -> tuple[float, float]:
        """``(mean distance, area between outline and curve)`` in pixels and square pixels; the
        area is the integral of the distance along the outline, to first order the area of the
        symmetric difference of the two filled regions."""
        area = float(np.dot(self.dist, self.weight))
        return area / max(float(self.weight.sum()), 1e-12), area


def _fit(
    pts: np.ndarray, n: int, prev: np.ndarray | None, track: bool = True, hole: bool = False
) -> _Fitted:
    """:func:`fit_key`, also returning what :class:`_Fitted` holds. ``track=False`` keeps the
    even spacing (no :func:`_track`). Without ``prev`` the key runs clockwise on screen, or
    counter-clockwise for a ``hole``; with it, as ``prev`` runs."""
    sign = (-1.0 if hole else 1.0) if prev is None else np.sign(_signed_area(prev[:, 0])) or 1.0
    if _signed_area(pts) * sign < 0:
        pts = pts[::-1]
    path = _Path(pts)
    if path.total == 0:
        out = np.zeros((n, 3, 2))
        out[:, 0] = path.pts[0]
        return _Fitted(out, np.zeros(1), np.ones(1), path, np.zeros(n))
    measure, total = path.warp[-1], path.total
    ends = path.ends()
    ends = ends if len(ends) < n else ends[:0]
    spacing = measure / (n - len(ends))
    even = np.arange(n - len(ends)) * spacing

    def spread(starts: np.ndarray) -> np.ndarray:  # (S,) starts -> (S, n) arc positions
        free = path.unwarp(starts[:, None] + even[None, :])
        fixed = free[:, :1] + np.mod(path.cum[ends][None, :] - free[:, :1], total)
        return np.sort(np.concatenate([free, fixed], axis=1), axis=1)

    if prev is None:
        u = spread(path.warp[[np.lexsort((path.pts[:, 0], path.pts[:, 1]))[0]]])[0]
    else:

        def nearest(options: np.ndarray) -> int:
            return int(np.argmin(((path.at(options) - prev[None, :, 0]) ** 2).sum(axis=(1, 2))))

        coarse = even[nearest(spread(even))]
        fine = spread(coarse + np.arange(-4, 5) * (spacing / 8))
        u = fine[nearest(fine)]
        if track:
            anchor = _rigid(prev[:, 0], path.at(u))
            tracked = _track(path, u, anchor, spacing)
            u = u if tracked is None else tracked
    return _fit_segments(path, u - np.floor(u[0] / total) * total)


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
    spacing = path.total / n
    cand = u[:, None] + np.linspace(-spacing, spacing, 17)[None, :]
    d = ((path.at(cand) - targets[:, None, :]) ** 2).sum(axis=2)
    moved = cand[np.arange(n), np.argmin(d, axis=1)]
    if (np.diff(np.r_[moved, moved[0] + path.total]) <= 1e-6).any():
        return None
    return moved - np.floor(moved[0] / path.total) * path.total


def _refit(fitted: _Fitted, targets: np.ndarray) -> _Fitted | None:
    """Refit a key with its vertices moved along the outline towards ``targets`` (see
    :func:`_project`); None when they would not keep their order."""
    moved = _project(fitted.path, fitted.u, targets)
    return None if moved is None else _fit_segments(fitted.path, moved, newton=1)


def _track(
    path: _Path, target: np.ndarray, anchor: np.ndarray, spacing: float
) -> np.ndarray | None:
    """Move vertices from their ``target`` arc positions towards ``anchor`` points.

    Chooses one outline point per vertex, in order round the path, minimising the sum over vertices
    of ``|p_i - anchor_i|^2 + SPACING_WEIGHT * (d_i - d_{i-1})^2 + 0.01 * d_i^2``, where ``d_i`` is
    the shift from the target in placement measure, subject to no bridge end falling strictly
    between consecutive vertices. Dynamic programming over a band of two spacings round each
    target, on every bridge end and about 12 outline points per spacing. None if nothing fits.
    """
    n, m, measure, total = len(target), len(path.pts), path.warp[-1], path.total
    start = np.searchsorted(path.cum[:-1], np.mod(target[0] - 0.5 * total / n, total), "right")
    order = (start - 1 + np.arange(m)) % m
    wrapped = start - 1 + np.arange(m) >= m
    bridge = np.zeros(m, dtype=bool)
    bridge[np.nonzero(path.bridge[order])[0]] = True
    bridge[(np.nonzero(path.bridge[order])[0] + 1) % m] = True
    pick = np.nonzero(bridge | (np.arange(m) % int(np.clip(m / n / 12, 1, 3)) == 0))[0]
    ends = np.nonzero(bridge[pick])[0]
    if len(pick) < n:
        return None
    c = path.warp[order[pick]] + wrapped[pick] * measure
    s0 = path.cum[order[pick[0]]] + wrapped[pick[0]] * total
    goal = path.measure_at(s0 + np.mod(target - s0, total))
    lo = np.searchsorted(c, goal - 2 * spacing)
    width = int(min(len(pick), (np.searchsorted(c, goal + 2 * spacing) - lo).max() + 1))
    cand = np.clip(lo, 0, len(pick) - width)[:, None] + np.arange(width)[None, :]
    shift = c[cand] - goal[:, None]
    cost = _SHIFT_WEIGHT * shift**2 + ((path.pts[order[pick[cand]]] - anchor[:, None, :]) ** 2).sum(
        axis=2
    )
    segment = np.cumsum(bridge)
    seg_at, seg_before = segment[pick][cand], segment[np.maximum(pick - 1, 0)][cand]
    best = np.where(cand[0] <= (ends[0] if len(ends) else len(pick)), cost[0], np.inf)
    back = np.zeros((n, width), dtype=np.int64)
    lag, columns = np.subtract.outer(np.arange(width), np.arange(width)), np.arange(width)
    for i in range(1, n):
        # Strictly after the previous vertex, with no bridge end in between.
        allowed = (lag < cand[i, 0] - cand[i - 1, 0]) & (seg_at[i - 1][:, None] == seg_before[i])
        step = SPACING_WEIGHT * np.subtract.outer(shift[i - 1], shift[i]) ** 2
        options = np.where(allowed, step + best[:, None], np.inf)
        back[i] = np.argmin(options, axis=0)
        best = options[back[i], columns] + cost[i]
    if len(ends):
        best[cand[-1] < ends[-1]] = np.inf
    if not np.isfinite(best).any():
        return None
    chosen, col = np.empty(n, dtype=np.int64), int(np.argmin(best))
    for i in range(n - 1, -1, -1):
        chosen[i], col = pick[cand[i, col]], back[i, col]
    return path.cum[order[chosen]] + wrapped[chosen] * total


def _fit_segments(path: _Path, u: np.ndarray, newton: int = 2) -> _Fitted:
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
    return _Fitted(out, np.hypot(*(point - q).T), path.length[sample % m], path, u)


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
