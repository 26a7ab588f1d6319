"""Lite matter: closed-form matting on an automatic trimap, on a synthetic edge and DAVIS frames."""

from __future__ import annotations

import cv2
import numpy as np
import pymatting
import pytest

from models.base import Matter
from models.lite_matter import PymattingMatter, make_trimap
from rotoflow.errors import ConfigError
from tests.conftest import davis_frames, davis_masks


def load_davis(seq: str, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
    bgr = cv2.imread(str(davis_frames(seq) / f"{index:05d}.jpg"), cv2.IMREAD_COLOR)
    mask = cv2.imread(str(davis_masks(seq) / f"{index:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127
    return np.ascontiguousarray(bgr[..., ::-1]), mask


def distance_to_edge(mask: np.ndarray) -> np.ndarray:
    """Pixels from each pixel to the nearest pixel on the other side of the mask edge."""
    m = mask.astype(np.uint8)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 5)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 5)
    return np.maximum(inside, outside)


def soft_disc(size: int = 160, radius: float = 40.0, ramp: float = 4.0, noise: float = 2.0):
    """A disc whose alpha falls linearly over ``ramp`` pixels, over two flat colours plus noise."""
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    alpha = np.clip((radius - np.hypot(xx - size / 2, yy - size / 2)) / ramp + 0.5, 0, 1)
    fg, bg = np.array([200.0, 60.0, 40.0]), np.array([30.0, 90.0, 160.0])
    rgb = alpha[..., None] * fg + (1 - alpha[..., None]) * bg
    rgb += np.random.default_rng(7).normal(0, noise, rgb.shape)
    return np.clip(rgb, 0, 255).round().astype(np.uint8), alpha


@pytest.fixture
def record_solves(monkeypatch):
    """Record the (image, trimap) shapes handed to pymatting's closed-form solver."""
    calls: list[tuple[tuple[int, ...], np.ndarray]] = []
    real = pymatting.estimate_alpha_cf

    def spy(image, trimap, *args, **kwargs):
        assert image.dtype == np.float64 and image.min() >= 0 and image.max() <= 1
        calls.append((image.shape, trimap.copy()))
        return real(image, trimap, *args, **kwargs)

    monkeypatch.setattr(pymatting, "estimate_alpha_cf", spy)
    return calls


def test_implements_protocol():
    matter = PymattingMatter()
    assert isinstance(matter, Matter)
    assert matter.name == "pymatting"
    assert matter.version.endswith("-cf-b12")
    assert PymattingMatter(band=8, max_side=256).version != matter.version


def test_recovers_known_soft_edge():
    image, truth = soft_disc()
    mask = truth > 0.5
    alpha = PymattingMatter(band=12).matte(image, mask)
    assert alpha.dtype == np.float32 and alpha.shape == mask.shape
    band = make_trimap(mask, 12) == 0.5
    error = np.abs(alpha - truth)[band]
    assert error.mean() < 0.02 and error.max() < 0.1
    # The hard mask itself is far off in the band: the bound above measures the matting.
    assert np.abs(mask - truth)[band].mean() > 0.05


def test_exact_outside_the_band():
    image, truth = soft_disc()
    mask = truth > 0.5
    band = 12
    alpha = PymattingMatter(band=band).matte(image, mask)
    far = distance_to_edge(mask) > band / 2 + 1
    assert np.array_equal(alpha[far], mask[far].astype(np.float32))
    assert alpha.min() >= 0 and alpha.max() <= 1


def test_empty_and_full_masks():
    image, _ = soft_disc(size=64)
    matter = PymattingMatter()
    empty = matter.matte(image, np.zeros((64, 64), bool))
    full = matter.matte(image, np.ones((64, 64), bool))
    assert empty.dtype == full.dtype == np.float32
    assert empty.shape == full.shape == (64, 64)
    assert not empty.any() and np.all(full == 1)


def test_thin_structure_survives_the_band():
    # A 3-pixel-wide bright bar is thinner than the band: its centre must stay foreground.
    image = np.full((96, 128, 3), 40, np.uint8)
    image[40:43, 10:118] = 220
    mask = np.zeros((96, 128), bool)
    mask[40:43, 10:118] = True
    alpha = PymattingMatter(band=12).matte(image, mask)
    assert np.all(alpha[41, 14:114] > 0.9)
    assert np.all(alpha[:30] == 0) and np.all(alpha[55:] == 0)


def test_davis_frame_is_soft_and_faithful(record_solves):
    image, mask = load_davis("car-roundabout")
    alpha = PymattingMatter(band=12).matte(image, mask)
    assert alpha.dtype == np.float32 and alpha.shape == mask.shape
    hard = alpha > 0.5
    assert (hard & mask).sum() / (hard | mask).sum() >= 0.9
    band = make_trimap(mask, 12) == 0.5
    soft = (alpha > 0.05) & (alpha < 0.95)
    assert soft.sum() > 0.05 * band.sum(), "alpha is not genuinely soft in the band"
    assert not soft[~band].any()
    assert len(record_solves) == 1


def test_solve_is_restricted_to_the_band_bbox(record_solves):
    image, mask = load_davis("car-roundabout")
    band = 12
    PymattingMatter(band=band).matte(image, mask)
    ((shape, trimap),) = record_solves
    unknown = make_trimap(mask, band) == 0.5
    ys, xs = np.nonzero(unknown)
    bbox_h, bbox_w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    assert shape[2] == 3 and shape[:2] == trimap.shape
    # Every unknown pixel is in the crop, and the crop is the band's bbox plus a small margin.
    assert (trimap == 0.5).sum() == unknown.sum()
    assert bbox_h <= shape[0] <= bbox_h + 2 * band and bbox_w <= shape[1] <= bbox_w + 2 * band
    assert shape[0] * shape[1] < 0.5 * mask.size


def test_max_side_solves_smaller_and_keeps_quality(record_solves):
    image, mask = load_davis("dog")
    alpha = PymattingMatter(band=12, max_side=128).matte(image, mask)
    ((shape, _),) = record_solves
    assert max(shape[:2]) <= 128
    hard = alpha > 0.5
    assert (hard & mask).sum() / (hard | mask).sum() >= 0.9
    far = distance_to_edge(mask) > 12 / 2 + 1
    assert np.array_equal(alpha[far], mask[far].astype(np.float32))


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [({"method": "magic"}, "'cf', 'knn', 'lkm'"), ({"band": 1}, "band 1"), ({"max_side": 8}, "8")],
)
def test_invalid_settings(kwargs, needle):
    with pytest.raises(ConfigError, match=needle):
        PymattingMatter(**kwargs)


def test_mismatched_mask():
    image, _ = soft_disc(size=64)
    with pytest.raises(ValueError, match="does not match"):
        PymattingMatter().matte(image, np.zeros((32, 64), bool))
