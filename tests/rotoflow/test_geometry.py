"""Masks to roto shapes and back: half-pixel convention, topology, accuracy on DAVIS, continuity."""

from __future__ import annotations

import gc
import time
import weakref

import cv2
import numpy as np
import pytest

from rotoflow.geometry import (
    GeometryError,
    fit_key,
    fit_shapes,
    iou,
    mask_rings,
    rasterize_shape,
    rasterize_shapes,
    shape_at,
    speck_area,
)
from rotoflow.settings import Settings
from rotoflow.types import RotoShape, ShapeKey
from tests.conftest import DAVIS, davis_masks

SEQUENCES = sorted(p.name for p in (DAVIS / "Annotations" / "480p").iterdir())
K = 0.5522847  # docs/formats.md 0.2: kappa of the canonical 4-point circle


def circle(cx: float, cy: float, r: float) -> np.ndarray:
    """The canonical 4-point circle of docs/formats.md 0.2, clockwise on screen from the top."""
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
    """A ring (disc with a hole) with an island in its hole, and a separate rectangle."""
    ys, xs = np.mgrid[0:160, 0:200]
    d = np.hypot(xs + 0.5 - 60, ys + 0.5 - 70)
    mask = ((d <= 45) & (d > 20)) | (d <= 8)
    mask[30:130, 130:180] = True
    return mask


def ring_shapes(rings) -> list[RotoShape]:
    """Each ring as a one-key straight-edged shape on frame 0."""
    return [
        RotoShape(1, "rings", [ShapeKey(0, polygon_shape(r))], contour=i, hole=bool(d % 2))
        for i, (r, d) in enumerate(rings)
    ]


def signed_area(vertices: np.ndarray) -> float:
    """Shoelace area, positive when clockwise on screen (y down)."""
    x, y = vertices.T
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))


def disc(cx: float, cy: float, r: float, size=(120, 160)) -> np.ndarray:
    ys, xs = np.mgrid[0 : size[0], 0 : size[1]]
    return np.hypot(xs + 0.5 - cx, ys + 0.5 - cy) <= r


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


def test_rings_fill_back_to_the_mask():
    rings = mask_rings(synthetic())
    # Ring and rectangle (depth 0), the hole (1), the island in the hole (2): in paint order.
    assert [d for _, d in rings] == [0, 0, 1, 2]
    for ring, depth in rings:
        assert (signed_area(ring) > 0) == (depth % 2 == 0)  # holes run counter-clockwise
    np.testing.assert_array_equal(rasterize_shapes(ring_shapes(rings), 0, 200, 160), synthetic())


@pytest.mark.parametrize("seq", ["blackswan", "cows", "bmx-trees"])
def test_rings_match_davis_masks(seq):
    for index in (0, 20, 40):
        mask = read(seq, index)
        # Traced exactly on the pixel edges when no ring is dropped...
        every = mask_rings(mask, min_area=0, drop_fraction=0, max_rings=10**6)
        np.testing.assert_array_equal(rasterize_shapes(ring_shapes(every), 0, 854, 480), mask)
        # ... and dropping specks and pinholes (bmx-trees has dozens) costs under 1%.
        kept = rasterize_shapes(ring_shapes(mask_rings(mask)), 0, 854, 480)
        assert iou(kept, mask) >= 0.99


def test_empty_mask_has_no_rings():
    assert mask_rings(np.zeros((10, 10), bool)) == []


@pytest.mark.parametrize("seq", SEQUENCES)
def test_davis_sequence_fits(seq):
    """Every frame of each sequence: accuracy between keys too, one point count per contour,
    lifetimes, no swimming, speed."""
    n = len(list(davis_masks(seq).glob("*.png")))
    masks = {1001 + i: read(seq, i) for i in range(n)}
    start = time.perf_counter()
    shapes = fit_shapes(((f, m) for f, m in masks.items()), 7, seq)
    per_frame = (time.perf_counter() - start) / len(masks)
    for frame, mask in masks.items():
        assert iou(rasterize_shapes(shapes, frame, 854, 480), mask) >= 0.95, frame
    assert [s.contour for s in shapes] == list(range(len(shapes)))
    for shape in shapes:
        first, last = shape.lifetime
        frames = [key.frame for key in shape.keys]
        assert frames == sorted(set(frames)) and first - 1 <= frames[0] and frames[-1] <= last + 1
        assert {first, last} <= set(frames)
        assert all(key.points.shape == (shape.n_points, 3, 2) for key in shape.keys)
        assert 8 <= shape.n_points <= 320 and shape.feather == 0.0
        for key in shape.keys:
            if not first <= key.frame <= last:  # collapsed: hidden in hosts that hold keys
                assert not rasterize_shape(key.points, 854, 480).any()
    # Point i of the main contour follows the same feature: its typical move is small.
    main = shapes[0]
    v = np.stack([shape_at(main, f)[:, 0] for f in range(main.lifetime[0], main.lifetime[1] + 1)])
    moves = np.median(np.hypot(*np.moveaxis(v[1:] - v[:-1], -1, 0)), axis=1)
    sizes = np.hypot(*(v.max(axis=1) - v.min(axis=1)).T)
    assert np.median(moves) <= 0.1 * np.median(sizes)
    assert per_frame < 0.25


def test_fit_shapes_streams_masks():
    """Masks are consumed one by one and not kept: earlier masks are freed while the next loads."""
    alive: list[weakref.ref] = []

    def masks():
        for i in range(6):
            gc.collect()
            assert sum(ref() is not None for ref in alive) <= 1  # only the one being fitted
            mask = disc(60 + 4 * i, 60, 30 + i)
            alive.append(weakref.ref(mask))
            yield 1001 + i, mask

    (shape,) = fit_shapes(masks(), 3, "disc")
    assert shape.lifetime == (1001, 1006) and shape.keys[0].frame == 1001
    assert len({key.points.shape for key in shape.keys}) == 1


def test_absent_frames_end_contours_with_collapsed_keys():
    """An object with no pixels on some frames: its contours have lifetimes, with a collapsed key
    one frame outside, and nothing is drawn on the empty frames."""
    empty = np.zeros((120, 160), bool)
    frames = [(1, empty), (2, disc(40, 50, 15)), (3, empty), (4, disc(90, 60, 15)), (5, empty)]
    shapes = fit_shapes(iter(frames), 1, "blinker")
    assert [(s.contour, s.lifetime) for s in shapes] == [(0, (2, 2)), (1, (4, 4))]
    assert [s.label for s in shapes] == ["blinker", "blinker_part1"]
    for frame, mask in frames:
        assert iou(rasterize_shapes(shapes, frame, 160, 120), mask) >= 0.95
    for shape, (before, after) in zip(shapes, ((1, 3), (3, 5)), strict=True):
        assert [k.frame for k in shape.keys] == [before, shape.lifetime[0], after]
        for key in (shape.keys[0], shape.keys[-1]):
            np.testing.assert_allclose(key.points[:, 0] - shape.keys[1].points[:, 0].mean(0), 0)
            np.testing.assert_array_equal(key.points[:, 1:], 0)
    assert fit_shapes(iter([(1, empty), (2, empty)]), 1, "never") == []


def test_holes_and_islands_get_their_own_contours_and_lifetimes():
    """A disc whose hole opens on frame 3, with an island appearing in the hole on frame 5."""
    frames = []
    for f in range(1, 9):
        mask = disc(80, 60, 45)
        if f >= 3:
            mask &= ~disc(80, 60, 20)
        if f >= 5:
            mask |= disc(80, 60, 7)
        frames.append((f, mask))
    shapes = fit_shapes(iter(frames), 4, "donut")
    assert [(s.label, s.hole, s.lifetime) for s in shapes] == [
        ("donut", False, (1, 8)),
        ("donut_hole1", True, (3, 8)),
        ("donut_part2", False, (5, 8)),
    ]
    assert signed_area(shape_at(shapes[1], 4)[:, 0]) < 0 < signed_area(shape_at(shapes[2], 6)[:, 0])
    for frame, mask in frames:
        assert iou(rasterize_shapes(shapes, frame, 160, 120), mask) >= 0.97, frame
    # A still outline is keyed only at its ends (and the collapsed key before its lifetime).
    assert [k.frame for k in shapes[0].keys] == [1, 8]
    assert [k.frame for k in shapes[1].keys] == [2, 3, 8]
    every = fit_shapes(iter(frames), 4, "donut", key_tolerance=0)
    assert [k.frame for k in every[0].keys] == list(range(1, 9))


def square(mask: np.ndarray, x: int, y: int, side: int, value: bool) -> np.ndarray:
    mask[y : y + side, x : x + side] = value
    return mask


def test_a_tiny_island_and_a_tiny_hole_get_no_shape_and_the_mask_is_untouched():
    """A disc with a 6 x 6 hole and a 6 x 6 island beside it (36 px² each, more than the
    tracing itself drops): one shape under a 50 px² limit, all three without one."""
    mask = square(square(disc(60, 60, 40), 60, 40, 6, False), 130, 20, 6, True)
    before = mask.copy()
    frames = [(f, mask) for f in range(1, 7)]
    every = fit_shapes(iter(frames), 1, "blob")
    assert [(s.hole, s.contour) for s in every] == [(False, 0), (False, 1), (True, 2)]
    (shape,) = fit_shapes(iter(frames), 1, "blob", min_area=50)
    assert not shape.hole and shape.lifetime == (1, 6)
    np.testing.assert_array_equal(mask, before)
    drawn = rasterize_shapes([shape], 3, 160, 120)
    assert drawn[43, 63] and not drawn[23, 133]  # hole filled in, island not drawn
    assert iou(drawn, disc(60, 60, 40)) >= 0.97
    # Under the specks' area (36 px², a little less on the ring's cut corners): kept.
    assert len(fit_shapes(iter(frames), 1, "blob", min_area=30)) == 3


def test_an_island_living_two_frames_is_dropped_by_the_lifetime_limit():
    frames = []
    for f in range(1, 11):
        mask = disc(50, 60, 30)
        if f in (5, 6):
            mask = square(mask, 110, 50, 20, True)  # 400 px², two frames
        frames.append((f, mask))
    before = [m.copy() for _, m in frames]
    kept = fit_shapes(iter(frames), 1, "flash", min_frames=0)
    assert [s.lifetime for s in kept] == [(1, 10), (5, 6)]
    (shape,) = fit_shapes(iter(frames), 1, "flash", min_frames=4, min_area=100)
    assert shape.lifetime == (1, 10)
    assert not rasterize_shapes([shape], 5, 160, 120)[55, 115]
    assert len(fit_shapes(iter(frames), 1, "flash", min_frames=2)) == 2
    for (_, mask), copy in zip(frames, before, strict=True):
        np.testing.assert_array_equal(mask, copy)


def test_every_frame_keeps_its_largest_outline_and_holes_go_with_their_island():
    """A brief, small object keeps its outline; a hole inside a dropped island goes too."""
    short = [(f, disc(50, 60, 3)) for f in (1, 2)]  # 28 px², two frames
    assert [s.lifetime for s in fit_shapes(iter(short), 1, "dot", min_area=50, min_frames=4)] == [
        (1, 2)
    ]
    frames = []
    for f in range(1, 9):
        mask = disc(50, 60, 30)
        if f in (4, 5):  # a 24 x 24 island with an 8 x 8 hole, both over 60 px², two frames
            mask = square(square(mask, 110, 40, 24, True), 118, 48, 8, False)
        frames.append((f, mask))
    assert [s.hole for s in fit_shapes(iter(frames), 1, "ring")] == [False, False, True]
    (shape,) = fit_shapes(iter(frames), 1, "ring", min_area=60, min_frames=4)
    assert shape.lifetime == (1, 8) and not shape.hole
    # the island is brief but 5 % of the object's pixel-frames: under a 1 % bound it keeps its
    # shape, and its hole (0.6 %) does not
    brief = fit_shapes(iter(frames), 1, "ring", min_area=50, min_frames=4, max_loss=0.01)
    assert [(s.hole, s.lifetime) for s in brief] == [(False, (1, 8)), (False, (4, 5))]


def test_specks_left_out_never_take_more_than_max_loss_of_the_object_over_the_shot():
    """On frames 4-5 a 30 x 30 piece (900 px², a quarter of the object there) and a 6 x 6 speck
    lie beside the disc, both brief: the limits alone drop both; with a 2 % bound the piece
    stays (leaving it out would lose 6 % of the object's pixel-frames) and the speck (0.2 %)
    still goes."""
    frames = []
    for f in range(1, 11):
        mask = disc(50, 60, 30)
        if f in (4, 5):
            mask = square(mask, 100, 20, 30, True)
            mask = square(mask, 140, 100, 6, True)
        frames.append((f, mask))
    before = [m.copy() for _, m in frames]
    every = fit_shapes(iter(frames), 1, "torn")
    assert sorted(s.lifetime for s in every) == [(1, 10), (4, 5), (4, 5)]
    (alone,) = fit_shapes(iter(frames), 1, "torn", min_area=100, min_frames=4)
    assert alone.lifetime == (1, 10)
    bounded = fit_shapes(iter(frames), 1, "torn", min_area=100, min_frames=4, max_loss=0.02)
    assert [s.lifetime for s in bounded] == [(1, 10), (4, 5)]
    drawn = rasterize_shapes(bounded, 4, 160, 120)
    assert drawn[35, 115] and not drawn[103, 143]  # the piece drawn, the speck not
    mask4 = frames[3][1]
    assert iou(drawn, mask4) >= 0.98
    # the shapes miss at most 3 % on any frame (the fit's own error and the speck)
    for f, mask in frames:
        missed = (mask.astype(bool) & ~rasterize_shapes(bounded, f, 160, 120)).sum()
        assert missed <= 0.03 * mask.sum(), f
        if f in (4, 5):
            assert missed >= 30, f  # the speck is missed
    for (_, mask), copy in zip(frames, before, strict=True):
        np.testing.assert_array_equal(mask, copy)


def test_a_gap_opening_for_two_frames_goes_under_the_default_bound():
    """A 12 x 12 hole (5 % of the disc on its two frames, 0.25 % of the shot's pixel-frames
    over 40 frames, the default shape_max_loss 0.002 exceeded) comes back; over 80 frames (0.13 %) it goes."""

    def shot(n):
        out = []
        for f in range(1, n + 1):
            mask = disc(50, 60, 30)
            out.append((f, square(mask, 44, 54, 12, False) if f in (10, 11) else mask))
        return out

    default = Settings.model_fields["shape_max_loss"].default
    short = fit_shapes(iter(shot(40)), 1, "gap", min_area=50, min_frames=4, max_loss=default)
    assert [(s.hole, s.lifetime) for s in short] == [(False, (1, 40)), (True, (10, 11))]
    long = fit_shapes(iter(shot(80)), 1, "gap", min_area=50, min_frames=4, max_loss=default)
    assert [(s.hole, s.lifetime) for s in long] == [(False, (1, 80))]


def test_a_hole_cut_by_the_frame_range_is_not_brief():
    """A 12 x 12 hole open on the shot's last two frames (or its first two) goes on beyond the
    range: the lifetime limit spares it, the area limit still applies; the same hole in the
    middle of the shot is a flash and goes."""

    def shot(gap):
        out = []
        for f in range(1, 41):
            mask = disc(50, 60, 30)
            out.append((f, square(mask, 44, 54, 12, False) if f in gap else mask))
        return out

    for gap, life in (((39, 40), (39, 40)), ((1, 2), (1, 2))):
        got = fit_shapes(iter(shot(gap)), 1, "gap", min_area=50, min_frames=4)
        assert [(s.hole, s.lifetime) for s in got] == [(False, (1, 40)), (True, life)]
        assert not rasterize_shapes(got, gap[0], 160, 120)[60, 50]  # the hole is cut
        (alone,) = fit_shapes(iter(shot(gap)), 1, "gap", min_area=200, min_frames=4)
        assert alone.lifetime == (1, 40)  # 144 px² is under the area limit
    (middle,) = fit_shapes(iter(shot((20, 21))), 1, "gap", min_area=50, min_frames=4)
    assert middle.lifetime == (1, 40)


def test_a_brief_island_and_its_hole_come_back_together():
    """A brief 40 x 40 island (frames 3-4) holding a brief 20 x 20 hole: the limits drop both;
    bounded at 1 % (the island is 8 % of the pixel-frames, the hole 2 %), both are kept, the
    hole cutting the island."""
    frames = []
    for f in range(1, 9):
        mask = disc(50, 60, 30)
        if f in (3, 4):
            mask = square(square(mask, 100, 20, 40, True), 110, 30, 20, False)
        frames.append((f, mask))
    assert len(fit_shapes(iter(frames), 1, "ring", min_area=200, min_frames=4)) == 1
    got = fit_shapes(iter(frames), 1, "ring", min_area=200, min_frames=4, max_loss=0.01)
    assert sorted((s.hole, s.lifetime) for s in got) == [
        (False, (1, 8)),
        (False, (3, 4)),
        (True, (3, 4)),
    ]
    drawn = rasterize_shapes(got, 3, 160, 120)
    assert drawn[25, 105] and not drawn[40, 120]  # island drawn, its hole cut


def test_speck_area_scales_with_the_plate():
    assert speck_area(1920, 1080, 1e-4) == pytest.approx(207.36)
    assert speck_area(3840, 2160, 1e-4) == pytest.approx(4 * 207.36)
    assert speck_area(64, 64, 1e-4) == 16.0 and speck_area(1920, 1080, 0) == 0.0
    with pytest.raises(GeometryError, match="fraction"):
        speck_area(1920, 1080, -0.1)
    with pytest.raises(GeometryError, match="size"):
        speck_area(0, 1080, 1e-4)


def _ramp(d: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Alpha falling linearly from 1 to 0 across ``width`` pixels about distance ``centre``."""
    return np.clip((centre - d) / width + 0.5, 0.0, 1.0).astype(np.float32)


def test_band_is_where_the_alpha_ramp_starts_and_ends_at_every_point():
    ys, xs = np.mgrid[0:120, 0:160]
    d = np.hypot(xs + 0.5 - 80, ys + 0.5 - 60)
    centred = [(f, d < 40, _ramp(d, 40, 6.0)) for f in range(1, 4)]
    (shape,) = fit_shapes(iter(centred), 1, "soft")
    assert shape.band.shape == (shape.n_points, 2)

    def radius(s):
        return np.hypot(*(s.keys[0].points[:, 0] - [80, 60]).T)

    # 6 px wide, centred on the path (where every host puts the alpha's 0.5)
    np.testing.assert_allclose(shape.band.sum(axis=1), 6.0, atol=0.35)
    np.testing.assert_array_equal(shape.band[:, 0], shape.band[:, 1])
    np.testing.assert_allclose(radius(shape), 40.0, atol=0.35)
    assert shape.feather == pytest.approx(6.0, abs=0.35)
    # a ramp 8 px wide whose middle is 1 px outside the mask's edge: its width is measured, and
    # the band stays centred on the outline (where J is measured)
    (off,) = fit_shapes(iter([(1, d < 40, _ramp(d, 41, 8.0))]), 1, "off")
    np.testing.assert_allclose(off.band.sum(axis=1), 8.0, atol=0.4)
    np.testing.assert_array_equal(off.band[:, 0], off.band[:, 1])
    # a hole: its band is measured towards and away from the object (the ring round it)
    ring = (d < 40) & (d >= 20)
    alpha = np.minimum(_ramp(d, 40, 6.0), 1 - _ramp(d, 20, 4.0))
    outer, hole = fit_shapes(iter([(1, ring, alpha)]), 1, "ring")
    assert hole.hole and not outer.hole
    np.testing.assert_allclose(hole.band.sum(axis=1), 4.0, atol=0.35)
    np.testing.assert_allclose(outer.band.sum(axis=1), 6.0, atol=0.35)
    np.testing.assert_array_equal(hole.band[:, 0], hole.band[:, 1])
    # a hard mask has no band; no alpha gives none at all
    (hard,) = fit_shapes(iter([(1, d < 40, (d < 40).astype(np.float32))]), 1, "hard")
    assert hard.feather == 0.0 and not hard.band.any()
    (bare,) = fit_shapes(iter([(1, d < 40)]), 1, "bare")
    assert bare.band is None and bare.feather == 0.0
    with pytest.raises(GeometryError, match="must be one"):
        fit_shapes(iter([(1, centred[0][1], np.zeros((4, 4)))]), 1, "bad")


def test_band_stops_at_the_other_side_of_a_thin_part():
    # a bar 4 px wide with a soft edge 6 px wide: the profiles must not run across the bar
    ys, xs = np.mgrid[0:80, 0:200]
    d = np.abs(ys + 0.5 - 40.0)  # distance from the bar's middle line
    mask = (d < 2) & (xs >= 20) & (xs < 180)
    alpha = np.where((xs >= 20) & (xs < 180), _ramp(d, 2.0, 6.0), 0.0).astype(np.float32)
    (bar,) = fit_shapes(iter([(1, mask, alpha)]), 1, "bar")
    v = bar.keys[0].points[:, 0]
    sides = (v[:, 0] > 40) & (v[:, 0] < 160)  # along the bar, away from its ends
    assert sides.sum() >= 4
    assert bar.band[sides].max() <= 2.25  # never past the bar's middle line, either side
    np.testing.assert_array_equal(bar.band[:, 0], bar.band[:, 1])  # still centred
    assert np.median(bar.band[sides, 1]) >= 1.5  # a soft edge all the same


def test_smoothing_does_not_shrink_and_reduces_jitter():
    """A still disc traced from masks with noisy edges: smoothing in time keeps the area and
    steadies the control points."""
    rng = np.random.default_rng(3)
    base = disc(80, 60, 40)
    frames = []
    for f in range(1, 21):
        noise = rng.random(base.shape) < 0.25
        edge = base ^ cv2.erode(base.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        frames.append((f, base & ~(edge & noise)))
    smooth = fit_shapes(iter(frames), 1, "disc", key_tolerance=0)
    raw = fit_shapes(iter(frames), 1, "disc", key_tolerance=0, smoothing=0)
    area = [rasterize_shapes(smooth, f, 160, 120).sum() for f, _ in frames]
    mask_area = [m.sum() for _, m in frames]
    assert abs(np.mean(area) / np.mean(mask_area) - 1) < 0.01

    def jitter(shapes):
        v = np.stack([k.points[:, 0] for k in shapes[0].keys])
        return np.hypot(*np.moveaxis(np.diff(v, axis=0), -1, 0)).mean()

    assert jitter(smooth) < 0.8 * jitter(raw)


def test_fit_key_follows_previous_key():
    outline = mask_rings(read("blackswan", 0))[0][0]
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


def test_shape_at_interpolates_within_the_lifetime():
    a, b = circle(50, 50, 10), circle(70, 50, 20)
    shape = RotoShape(1, "c", [ShapeKey(10, a), ShapeKey(14, b)], lifetime=(10, 13))
    np.testing.assert_allclose(shape_at(shape, 11), 0.75 * a + 0.25 * b)
    np.testing.assert_array_equal(shape_at(shape, 10), a)
    assert shape_at(shape, 9) is None and shape_at(shape, 14) is None
    assert shape_at(RotoShape(1, "c"), 10) is None
    shapes = fit_shapes(iter([(10, synthetic()), (12, synthetic())]), 2, "still", n_points=30)
    assert {s.n_points for s in shapes} == {30}


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
    outline = mask_rings(synthetic())[0][0]
    with pytest.raises(GeometryError, match="n_points"):
        fit_key(outline, 1)
    with pytest.raises(GeometryError, match="previous"):
        fit_key(outline, 20, previous=circle(0, 0, 5))
    with pytest.raises(GeometryError, match="outline"):
        fit_key(np.zeros((0, 2)), 8)
    with pytest.raises(GeometryError, match="mask"):
        mask_rings(np.zeros((4, 4, 3)))
    with pytest.raises(GeometryError, match="control points"):
        rasterize_shape(np.zeros((4, 2)), 10, 10)
    with pytest.raises(GeometryError, match="frames must increase"):
        fit_shapes(iter([(2, synthetic()), (2, synthetic())]), 1, "twice")
    with pytest.raises(GeometryError, match="n_points"):
        fit_shapes(iter([(2, synthetic())]), 1, "few", n_points=2)
