"""Shared fixtures and assertions for the exporter tests.

The canonical shape is ``docs/formats.md`` section 0.2: a 1920x1080, 24 fps shot with keys at frames
1001 and 1010 of a 4-point circle (centre (960, 540), r 200, then centre (1000, 540), r 220). The
tangent length is ``kappa * r`` with ``kappa = 4 (sqrt 2 - 1) / 3 = 0.55228475``; the reference's
float32 hex values (``x42dce9f5``, ``x42f3015b``) are those of this exact kappa.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from rotoflow.geometry import iou, rasterize_shapes
from rotoflow.types import RotoShape, ShapeKey, ShotFormat
from tests.conftest import davis_masks

GOLDEN = Path(__file__).parent / "golden"
KAPPA = 4.0 / 3.0 * (math.sqrt(2.0) - 1.0)
CANONICAL_FORMAT = ShotFormat(
    width=1920, height=1080, pixel_aspect=1.0, fps=24.0, first_frame=1001, last_frame=1010
)


def circle_key(frame: int, cx: float, cy: float, r: float) -> ShapeKey:
    """A 4-point Bezier circle in image space, clockwise on screen, point 0 at the top."""
    k = KAPPA * r
    pts = [
        [[cx, cy - r], [-k, 0.0], [k, 0.0]],
        [[cx + r, cy], [0.0, -k], [0.0, k]],
        [[cx, cy + r], [k, 0.0], [-k, 0.0]],
        [[cx - r, cy], [0.0, k], [0.0, -k]],
    ]
    return ShapeKey(frame=frame, points=np.array(pts, dtype=np.float64))


def canonical_shape(name: str = "obj1", object_id: int = 1) -> RotoShape:
    return RotoShape(
        object_id=object_id,
        name=name,
        keys=[circle_key(1001, 960.0, 540.0, 200.0), circle_key(1010, 1000.0, 540.0, 220.0)],
    )


def _reversed(key: ShapeKey) -> ShapeKey:
    """The same outline run the other way (counter-clockwise on screen): a hole."""
    pts = key.points[::-1]
    return ShapeKey(frame=key.frame, points=np.stack([pts[:, 0], pts[:, 2], pts[:, 1]], axis=1))


def collapsed_key(frame: int, x: float, y: float, n: int = 4) -> ShapeKey:
    """Every vertex at ``(x, y)``, tangents zero: the key that hides a contour."""
    pts = np.zeros((n, 3, 2))
    pts[:, 0] = (x, y)
    return ShapeKey(frame=frame, points=pts)


def donut_object(name: str = "donut", object_id: int = 2) -> list[RotoShape]:
    """One object of three contours on the canonical shot, in paint order:

    - ``contour 0``: outer circle, centre (960, 540) r 300 at 1001 -> (1000, 540) r 320 at 1010,
      feather 4 px;
    - ``contour 1``: a hole, counter-clockwise, r 120 -> r 140 about the same centre;
    - ``contour 2``: an island inside the hole, lifetime 1004..1010: collapsed at 1003, r 40 at
      1004 and r 50 at 1010.
    """
    outer = RotoShape(
        object_id=object_id,
        name=name,
        keys=[circle_key(1001, 960.0, 540.0, 300.0), circle_key(1010, 1000.0, 540.0, 320.0)],
        feather=4.0,
    )
    hole = RotoShape(
        object_id=object_id,
        name=name,
        keys=[
            _reversed(circle_key(1001, 960.0, 540.0, 120.0)),
            _reversed(circle_key(1010, 1000.0, 540.0, 140.0)),
        ],
        contour=1,
        hole=True,
    )
    island = RotoShape(
        object_id=object_id,
        name=name,
        keys=[
            collapsed_key(1003, 973.3333, 540.0),
            circle_key(1004, 973.3333, 540.0, 40.0),
            circle_key(1010, 1000.0, 540.0, 50.0),
        ],
        contour=2,
        lifetime=(1004, 1010),
    )
    return [outer, hole, island]


def assert_shapes_close(got: list[RotoShape], want: list[RotoShape], atol: float) -> None:
    """Same number of shapes, same key frames, same points within ``atol`` pixels."""
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert [k.frame for k in g.keys] == [k.frame for k in w.keys]
        for gk, wk in zip(g.keys, w.keys, strict=True):
            assert gk.points.shape == wk.points.shape
            np.testing.assert_allclose(gk.points, wk.points, rtol=0, atol=atol)


def brace_depths(text: str) -> tuple[int, int]:
    """``(lowest depth reached, final depth)`` of ``{``/``}`` outside quoted strings."""
    depth = lowest = 0
    quoted = False
    for i, c in enumerate(text):
        if c == '"' and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and c == "{":
            depth += 1
        elif not quoted and c == "}":
            depth -= 1
            lowest = min(lowest, depth)
    return lowest, depth


def _resampled_contour(mask: np.ndarray, n: int) -> np.ndarray:
    """``(n, 2)`` points evenly spaced along the largest outer contour, in image space."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    c = max(contours, key=cv2.contourArea)[:, 0, :].astype(np.float64) + 0.5  # pixel centres
    c = np.roll(c, -int(np.argmin(c[:, 1])), axis=0)  # start at the topmost point
    closed = np.vstack([c, c[:1]])
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    t = np.linspace(0.0, s[-1], n, endpoint=False)
    return np.stack([np.interp(t, s, closed[:, 0]), np.interp(t, s, closed[:, 1])], axis=1)


def davis_shape(seq: str, indices: list[int], n: int = 48, first_frame: int = 1001) -> RotoShape:
    """A real object outline: the DAVIS ground-truth mask contours of ``seq`` at ``indices``,
    ``n`` points each with Catmull-Rom tangents, keyed at ``first_frame + index``."""
    keys = []
    for idx in indices:
        mask = cv2.imread(str(davis_masks(seq) / f"{idx:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127
        v = _resampled_contour(mask, n)
        d = (np.roll(v, -1, axis=0) - np.roll(v, 1, axis=0)) / 6.0
        keys.append(ShapeKey(frame=first_frame + idx, points=np.stack([v, -d, d], axis=1)))
    return RotoShape(object_id=7, name=seq, keys=keys)


def assert_same_mattes(got, want, fmt: ShotFormat, min_iou: float = 0.99) -> None:
    """Every object's matte (all its contours) has IoU >= ``min_iou`` on every shot frame; the
    reader numbers objects from 1 in order, so ``want``'s n-th object is ``got``'s object n."""
    want_ids = list(dict.fromkeys(s.object_id for s in want))
    assert list(dict.fromkeys(s.object_id for s in got)) == list(range(1, len(want_ids) + 1))
    for new_id, old_id in enumerate(want_ids, 1):
        g = [s for s in got if s.object_id == new_id]
        w = [s for s in want if s.object_id == old_id]
        for frame in range(fmt.first_frame, fmt.last_frame + 1):
            a = rasterize_shapes(g, frame, fmt.width, fmt.height)
            b = rasterize_shapes(w, frame, fmt.width, fmt.height)
            if not b.any():  # outside the object's keys: nothing in either
                assert not a.any(), (old_id, frame)
                continue
            assert iou(a, b) >= min_iou, (old_id, frame)
