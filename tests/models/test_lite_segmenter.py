"""GrabCut segmenter on real DAVIS-2016 first frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from models.base import Segmenter
from models.lite_segmenter import GrabCutSegmenter, fill_holes, keep_components
from rotoflow.errors import PromptError
from rotoflow.evaluation import region_similarity
from tests.conftest import davis_frames, davis_masks


def load(seq: str, frame: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rgb = cv2.cvtColor(cv2.imread(str(davis_frames(seq) / f"{frame:05d}.jpg")), cv2.COLOR_BGR2RGB)
    gt = cv2.imread(str(davis_masks(seq) / f"{frame:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127
    return rgb, gt


def gt_box(gt: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(gt)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


@pytest.fixture(scope="module")
def segmenter() -> GrabCutSegmenter:
    return GrabCutSegmenter()


def test_is_a_segmenter(segmenter):
    assert isinstance(segmenter, Segmenter)


# Measured IoU from the ground-truth box: car-roundabout 0.85, dog 0.81, car-shadow 0.78.
@pytest.mark.parametrize(
    ("seq", "floor"), [("car-roundabout", 0.8), ("dog", 0.75), ("car-shadow", 0.72)]
)
def test_box_prompt_iou_on_davis(shared, segmenter, seq, floor):
    rgb, gt = load(seq)
    mask = segmenter.segment(rgb, box=gt_box(gt))
    assert mask.shape == gt.shape and mask.dtype == bool
    assert region_similarity(mask, gt) >= floor
    # Nothing outside the box.
    x0, y0, x1, y1 = (int(v) for v in gt_box(gt))
    outside = mask.copy()
    outside[y0:y1, x0:x1] = False
    assert not outside.any()


def test_negative_clicks_remove_background_inside_the_box(shared, segmenter):
    # The black swan's box holds a stretch of the grey bank, which GrabCut takes for the swan.
    rgb, gt = load("blackswan")
    box_only = segmenter.segment(rgb, box=gt_box(gt))
    clicks = np.array([[300.0, 150.0], [250.0, 200.0]])
    with_neg = segmenter.segment(rgb, box=gt_box(gt), negative=clicks)
    assert not with_neg[150, 300] and not with_neg[200, 250]
    assert region_similarity(with_neg, gt) > region_similarity(box_only, gt) + 0.2
    assert region_similarity(with_neg, gt) >= 0.85


def test_positive_clicks_only(shared, segmenter):
    # Three clicks spread along the car, no box (measured IoU 0.73).
    rgb, gt = load("car-roundabout")
    clicks = np.array([[382.0, 254.0], [396.0, 252.0], [542.0, 276.0]])
    mask = segmenter.segment(rgb, positive=clicks)
    assert all(mask[int(y), int(x)] for x, y in clicks)
    assert region_similarity(mask, gt) >= 0.65


def test_same_input_same_mask(shared, segmenter):
    rgb, gt = load("dog")
    a = segmenter.segment(rgb, box=gt_box(gt))
    GrabCutSegmenter(iterations=2).segment(rgb, box=(10, 10, 200, 200))
    b = segmenter.segment(rgb, box=gt_box(gt))
    assert np.array_equal(a, b)


def test_box_larger_than_the_frame_is_clipped(segmenter):
    rgb = np.zeros((120, 160, 3), np.uint8)
    rgb[40:80, 60:100] = (220, 40, 40)
    mask = segmenter.segment(rgb, box=(-50.0, 20.0, 120.0, 100.0))
    assert mask.shape == (120, 160)
    assert region_similarity(mask, np.pad(np.ones((40, 40), bool), ((40, 40), (60, 60)))) > 0.9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "needs a box or at least one positive click"),
        ({"box": (50, 50, 40, 60)}, "needs x1 > x0"),
        ({"box": (500, 500, 600, 600)}, "outside the 160x120 frame"),
        ({"positive": np.array([[170.0, 10.0]])}, r"positive click \(170.0, 10.0\) is outside"),
        ({"box": (0, 0, 50, 50), "negative": np.array([[-1.0, 5.0]])}, "negative click"),
    ],
)
def test_bad_prompts_raise(segmenter, kwargs, message):
    rgb = np.zeros((120, 160, 3), np.uint8)
    with pytest.raises(PromptError, match=message):
        segmenter.segment(rgb, **kwargs)


def test_bad_image_raises(segmenter):
    with pytest.raises(PromptError, match=r"\(H, W, 3\) uint8"):
        segmenter.segment(np.zeros((120, 160), np.uint8), box=(0, 0, 50, 50))


def test_keep_components_and_fill_holes():
    fg = np.zeros((50, 50), np.uint8)
    fg[5:25, 5:25] = 1  # largest, with a hole
    fg[12:14, 12:14] = 0
    fg[40:45, 40:45] = 1  # small island holding a seed
    fg[2:4, 45:47] = 1  # small island, dropped
    kept = keep_components(fg, seeds=[(42, 42)])
    assert kept[42, 42] and kept[10, 10] and not kept[3, 46]
    filled = fill_holes(kept, min_hole=0.05)
    assert filled[12, 12] and not filled[30, 30]
