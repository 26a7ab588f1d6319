"""Masks to roto shapes and back: half-pixel convention, topology, accuracy on DAVIS, continuity."""

from __future__ import annotations

import gc
import time
import weakref

import cv2
import numpy as np
import pytest

from rotoflow.geometry import (
    BRIDGE_STEP,
    GeometryError,
    fit_key,
    fit_shape,
    iou,
    mask_outline,
    rasterize_shape,
    shape_at,
)
from tests.conftest import DAVIS, davis_masks

SEQUENCES = sorted(p.name for p in (DAVIS / "Annotations" / "480p").iterdir())
K = 0.5522847  # formats.md 0.2: kappa of the canonical 4-point circle


def circle(cx: float, cy: float, r: float) -> np.ndarray:
    """The canonical 4-point circle of formats.md 0.2, clockwise on screen from the top."""
    k = K * r
    return np.array(
        [
            [[cx, cy - r], [-k, 0], [k, 0]],
            [[cx + r, cy], [0, -k], [0, k]],
            [[cx, cy + r], [k, 0], [-k, 0]],
            [[cx - r, cy], [0, k], [0, -k]],
        ]
    )


def polygon_shape(vertices: list[tuple[float, float]]) -> np.ndarray:
    """A Bezier shape whose segments are the straight edges of a polygon."""
    v = np.asarray(vertices, dtype=float)
    return np.stack([v, (np.roll(v, 1, axis=0) - v) / 3, (np.roll(v, -1, axis=0) - v) / 3], axis=1)


def centroid(mask: np.ndarray) -> np.ndarray:
    """Mean pixel centre ``(x, y)`` of a mask, in image space."""
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean() + 0.5, ys.mean() + 0.5])


def read(seq: str, index: int) -> np.ndarray:
    return cv2.imread(str(davis_masks(seq) / f"{index:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127


def synthetic() -> np.ndarray:
    """A ring (disc with a hole) and a separate rectangle."""
    ys, xs = np.mgrid[0:160, 0:200]
    d = np.hypot(xs + 0.5 - 60, ys + 0.5 - 70)
    mask = (d <= 45) & (d > 16)
    mask[30:130, 130:180] = True
    return mask


@pytest.mark.parametrize(("cx", "cy", "r"), [(960, 540, 200), (1000, 540, 220)])
def test_rasterize_canonical_circle(cx, cy, r):
    mask = rasterize_shape(circle(cx, cy, r), 1920, 1080)
    assert mask.dtype == bool and mask.shape == (1080, 1920)
    assert mask.sum() == pytest.approx(np.pi * r * r, rel=0.01)
    # Half a pixel off in x or y would move the centroid by 0.5.
    np.testing.assert_allclose(centroid(mask), (cx, cy), atol=0.1)


def test_rasterize_samples_pixel_centres_exactly():
    # Pixel centres 2.5, 3.5, 4.5 lie inside [2, 5]; 1.5 and 5.5 do not.
    mask = rasterize_shape(polygon_shape([(2, 2), (5, 2), (5, 5), (2, 5)]), 8, 8)
    expected = np.zeros((8, 8), bool)
    expected[2:5, 2:5] = True
    np.testing.assert_array_equal(mask, expected)
    # A zero-width bridge out to (18, 7.3) and back adds nothing.
    spike = [(2, 2), (12, 2), (12, 7.3), (18, 7.3), (12, 7.3), (12, 12), (2, 12)]
    expected = np.zeros((20, 20), bool)
    expected[2:12, 2:12] = True
    np.testing.assert_array_equal(rasterize_shape(polygon_shape(spike), 20, 20), expected)


def test_rasterize_collapsed_key_is_empty():
    points = np.zeros((12, 3, 2))
    points[:, 0] = (40.5, 30.5)
    assert not rasterize_shape(points, 64, 64).any()


def test_outline_is_one_curve_that_fills_back_to_the_mask():
    mask = synthetic()
    outline = mask_outline(mask)
    assert outline.ndim == 2 and outline.shape[1] == 2
    # Three rings (disc, hole, rectangle) joined by two bridges, each traversed there and back.
    steps = np.hypot(*(np.roll(outline, -1, axis=0) - outline).T)
    assert np.count_nonzero(steps > BRIDGE_STEP) == 4
    np.testing.assert_array_equal(rasterize_shape(polygon_shape(outline), 200, 160), mask)
    shape = fit_shape(iter([(1001, mask)]), 1, "ring_and_box", min_iou=0.99)
    assert shape.n_points <= 64
    assert iou(rasterize_shape(shape_at(shape, 1001), 200, 160), mask) >= 0.99


@pytest.mark.parametrize("seq", ["blackswan", "cows", "bmx-trees"])
def test_outline_matches_davis_masks(seq):
    for index in (0, 20, 40):
        mask = read(seq, index)
        # Traced exactly on the pixel edges when no ring is dropped...
        every_ring = mask_outline(mask, min_area=0, drop_fraction=0, max_rings=10**6)
        np.testing.assert_array_equal(rasterize_shape(polygon_shape(every_ring), 854, 480), mask)
        # ... and dropping specks and pinholes (bmx-trees has dozens) costs under 1%.
        filled = rasterize_shape(polygon_shape(mask_outline(mask)), 854, 480)
        assert iou(filled, mask) >= 0.99


def test_empty_mask_has_empty_outline():
    assert mask_outline(np.zeros((10, 10), bool)).shape == (0, 2)


@pytest.mark.parametrize("seq", SEQUENCES)
def test_davis_sequence_fits(seq):
    """Every frame of each sequence: accuracy, constant point count, no swimming, speed."""
    masks = {1001 + i: read(seq, i) for i in range(len(list(davis_masks(seq).glob("*.png"))))}
    start = time.perf_counter()
    shape = fit_shape(((f, m) for f, m in masks.items()), 7, seq)
    per_frame = (time.perf_counter() - start) / len(masks)
    assert [key.frame for key in shape.keys] == list(masks)
    assert 8 <= shape.n_points <= 320
    assert all(key.points.shape == (shape.n_points, 3, 2) for key in shape.keys)
    for key in shape.keys:
        assert iou(rasterize_shape(key.points, 854, 480), masks[key.frame]) >= 0.95, key.frame
    # Point i follows the same feature: its typical move between keys is small against the shape.
    v = np.stack([key.points[:, 0] for key in shape.keys])
    moves = np.median(np.hypot(*np.moveaxis(v[1:] - v[:-1], -1, 0)), axis=1)
    sizes = np.hypot(*(v.max(axis=1) - v.min(axis=1)).T)
    assert np.median(moves) <= 0.1 * np.median(sizes)
    assert per_frame < 0.25


def test_fit_shape_streams_masks():
    """Masks are consumed one by one and not kept: earlier masks are freed while the next loads."""
    alive: list[weakref.ref] = []

    def masks():
        ys, xs = np.mgrid[0:120, 0:160]
        for i in range(6):
            gc.collect()
            assert sum(ref() is not None for ref in alive) <= 1  # only the one being fitted
            mask = np.hypot(xs - 60 - 4 * i, ys - 60) < 30 + i
            alive.append(weakref.ref(mask))
            yield 1001 + i, mask

    shape = fit_shape(masks(), 3, "disc")
    assert [key.frame for key in shape.keys] == list(range(1001, 1007))
    assert len({key.points.shape for key in shape.keys}) == 1


def test_empty_frames_get_collapsed_keys():
    ys, xs = np.mgrid[0:100, 0:100]
    disc = np.hypot(xs - 30, ys - 40) < 15
    moved = np.hypot(xs - 60, ys - 50) < 15
    empty = np.zeros_like(disc)
    frames = [(1, empty), (2, disc), (3, empty), (4, moved), (5, empty)]
    shape = fit_shape(iter(frames), 1, "blinker")
    assert [key.frame for key in shape.keys] == [1, 2, 3, 4, 5]
    n = shape.n_points
    for key, (_, mask) in zip(shape.keys, frames, strict=True):
        assert key.points.shape == (n, 3, 2)
        assert iou(rasterize_shape(key.points, 100, 100), mask) >= (1.0 if not mask.any() else 0.95)
    # Collapsed at the previous key's centroid, or the next one's before the first key.
    for empty_key, source in ((0, 1), (2, 1), (4, 3)):
        points = shape.keys[empty_key].points
        np.testing.assert_allclose(points[:, 0] - shape.keys[source].points[:, 0].mean(0), 0)
        np.testing.assert_array_equal(points[:, 1:], 0)
    assert fit_shape(iter([(1, empty), (2, empty)]), 1, "never").keys == []


def test_fit_key_follows_previous_key():
    outline = mask_outline(read("blackswan", 0))
    first = fit_key(outline, 40)
    vertices = first[:, 0]
    # Clockwise on screen (positive shoelace area with y down), point 0 at the top.
    area = np.dot(vertices[:, 0], np.roll(vertices[:, 1], -1)) - np.dot(
        np.roll(vertices[:, 0], -1), vertices[:, 1]
    )
    assert area > 0
    assert vertices[0, 1] <= outline[:, 1].min() + 1
    # The same outline, reversed, started elsewhere and moved: the points stay on their features,
    # including when the previous key starts five points further on.
    other = np.roll(outline[::-1], 337, axis=0) + (6.0, -4.0)
    for previous in (first, np.roll(first, -5, axis=0)):
        key = fit_key(other, 40, previous=previous)
        moves = np.hypot(*(key[:, 0] - previous[:, 0] - (6.0, -4.0)).T)
        assert np.median(moves) < 1.5 and moves.max() < 6


def test_shape_at_and_explicit_point_count():
    mask = synthetic()
    shape = fit_shape(iter([(10, mask), (12, mask)]), 2, "still", n_points=30)
    assert shape.n_points == 30
    np.testing.assert_array_equal(shape_at(shape, 12), shape.keys[1].points)
    assert shape_at(shape, 11) is None and shape_at(shape, 13) is None


def test_iou():
    a = np.zeros((4, 4), bool)
    assert iou(a, a) == 1.0
    b = a.copy()
    b[0, :2] = True
    c = a.copy()
    c[0, 1:3] = True
    assert iou(b, c) == pytest.approx(1 / 3)
    with pytest.raises(GeometryError):
        iou(a, np.zeros((4, 5), bool))


def test_invalid_input_raises_named_errors():
    outline = mask_outline(synthetic())
    with pytest.raises(GeometryError, match="n_points"):
        fit_key(outline, 1)
    with pytest.raises(GeometryError, match="previous"):
        fit_key(outline, 20, previous=circle(0, 0, 5))
    with pytest.raises(GeometryError, match="outline"):
        fit_key(np.zeros((0, 2)), 8)
    with pytest.raises(GeometryError, match="mask"):
        mask_outline(np.zeros((4, 4, 3)))
    with pytest.raises(GeometryError, match="control points"):
        rasterize_shape(np.zeros((4, 2)), 10, 10)
    with pytest.raises(GeometryError, match="frames must increase"):
        fit_shape(iter([(2, synthetic()), (2, synthetic())]), 1, "twice")
