"""DAVIS measures: J (IoU), F (boundary F-measure) and folder evaluation."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from rotoflow.errors import PlateError, RotoflowError
from rotoflow.evaluation import (
    boundary_measure,
    evaluate_masks,
    frame_number,
    read_mask,
    region_similarity,
    seg2bmap,
)
from tests.conftest import davis_masks

H, W = 480, 854  # DAVIS 480p: the 0.008 tolerance is ceil(0.008 * 979.7) = 8 px.


def square(x0: int, y0: int, size: int = 100, shape=(H, W)) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[y0 : y0 + size, x0 : x0 + size] = True
    return m


def test_region_similarity_known_iou():
    a = square(100, 100)
    b = square(150, 100)  # half overlap: 5000 / 15000
    assert region_similarity(a, b) == pytest.approx(1 / 3)
    assert region_similarity(a, a) == 1.0
    assert region_similarity(a, square(300, 300)) == 0.0


def test_region_similarity_empty_masks():
    empty = np.zeros((H, W), bool)
    assert region_similarity(empty, empty) == 1.0
    assert region_similarity(empty, square(10, 10)) == 0.0
    assert region_similarity(square(10, 10), empty) == 0.0


def test_region_similarity_rejects_mismatched_shapes():
    with pytest.raises(PlateError, match="one shape"):
        region_similarity(np.zeros((10, 10), bool), np.zeros((10, 11), bool))


def test_seg2bmap_is_one_pixel_outline():
    b = seg2bmap(square(10, 10, size=5, shape=(30, 30)))
    # Left and top edges fall just outside the square, right and bottom just inside.
    assert b[12, 9] and b[12, 14] and b[9, 12] and b[14, 12]
    assert not b[12, 12] and not b[12, 20]
    assert b.sum() < 4 * 7


def test_boundary_measure_identical_is_one():
    a = square(100, 100)
    assert boundary_measure(a, a) == 1.0
    empty = np.zeros((H, W), bool)
    assert boundary_measure(empty, empty) == 1.0
    assert boundary_measure(empty, a) == 0.0


def test_boundary_measure_tolerance_is_eight_pixels_at_480p():
    a = square(100, 100)
    assert boundary_measure(a, square(108, 100)) == 1.0
    assert boundary_measure(a, square(109, 100)) < 1.0


def test_boundary_measure_decreases_with_shift():
    a = square(100, 100)
    scores = [boundary_measure(a, square(100 + d, 100)) for d in (0, 8, 12, 20, 40)]
    assert scores[0] == scores[1] == 1.0
    assert scores[1] > scores[2] > scores[3] > scores[4]
    assert boundary_measure(a, square(400, 300)) == 0.0


def test_boundary_measure_pixel_tolerance_and_fraction():
    a = square(100, 100)
    shifted = square(112, 100)
    assert boundary_measure(a, shifted, bound_th=12) == 1.0
    assert boundary_measure(a, shifted, bound_th=11) < 1.0
    # A smaller image has a smaller tolerance: 0.008 * hypot(240, 427) -> 4 px.
    small_a = square(50, 50, 50, shape=(240, 427))
    assert boundary_measure(small_a, square(54, 50, 50, shape=(240, 427))) == 1.0
    assert boundary_measure(small_a, square(55, 50, 50, shape=(240, 427))) < 1.0


def test_frame_number_is_last_digit_run():
    assert frame_number("dancer.00012.png") == 12
    assert frame_number("00012.png") == 12
    assert frame_number("/shots/sh010_v2.1001.png") == 1001
    with pytest.raises(PlateError, match="no frame number"):
        frame_number("mask.png")


def test_read_mask_thresholds_at_half_range(tmp_path):
    m8 = np.array([[0, 127, 128, 255]], np.uint8)
    m16 = np.array([[0, 32767, 32768, 65535]], np.uint16)
    cv2.imwrite(str(tmp_path / "a.png"), m8)
    cv2.imwrite(str(tmp_path / "b.png"), m16)
    assert read_mask(tmp_path / "a.png").tolist() == [[False, False, True, True]]
    assert read_mask(tmp_path / "b.png").tolist() == [[False, False, True, True]]
    with pytest.raises(PlateError, match="cannot read"):
        read_mask(tmp_path / "missing.png")


def _write_seq(folder, pattern, masks, bits=8):
    folder.mkdir()
    for n, m in masks.items():
        value = 65535 if bits == 16 else 255
        dtype = np.uint16 if bits == 16 else np.uint8
        cv2.imwrite(str(folder / pattern.format(n)), m.astype(dtype) * value)


def test_evaluate_masks_matches_names_and_excludes_first_frame(tmp_path):
    gt = {n: square(100 + 10 * n, 100) for n in range(5)}
    pred = dict(gt)
    pred[0] = np.zeros((H, W), bool)  # the keyframe is wrong but excluded
    pred[3] = square(200, 100)  # frame 3: IoU 0.5 / 1.5 with the GT at x=130
    _write_seq(tmp_path / "gt", "{:05d}.png", gt)
    _write_seq(tmp_path / "pred", "dancer.{:05d}.png", pred, bits=16)
    score = evaluate_masks(tmp_path / "pred", tmp_path / "gt")
    assert [r.frame for r in score.frames] == [1, 2, 3, 4]
    j3 = (100 * 30) / (100 * 170)
    assert score.frames[2].j == pytest.approx(j3)
    assert score.j == pytest.approx((3 + j3) / 4)
    assert score.frames[2].f < 1.0
    assert score.jf == pytest.approx((score.j + score.f) / 2)

    every = evaluate_masks(tmp_path / "pred", tmp_path / "gt", exclude_frames=())
    assert [r.frame for r in every.frames] == [0, 1, 2, 3, 4]
    assert every.frames[0].j == 0.0
    assert every.j < score.j


def test_evaluate_masks_missing_prediction_counts_as_empty(tmp_path):
    gt = {n: square(100, 100) for n in range(4)}
    _write_seq(tmp_path / "gt", "{:05d}.png", gt)
    _write_seq(tmp_path / "pred", "{:04d}.png", {1: gt[1], 2: gt[2]})
    score = evaluate_masks(tmp_path / "pred", tmp_path / "gt")
    rows = {r.frame: r for r in score.frames}
    assert rows[3].j == 0.0 and rows[3].f == 0.0 and not rows[3].predicted
    assert rows[1].predicted and rows[1].j == 1.0
    assert score.j == pytest.approx(2 / 3)


def test_evaluate_masks_errors(tmp_path):
    _write_seq(tmp_path / "gt", "{:05d}.png", {0: square(10, 10)})
    (tmp_path / "empty").mkdir()
    with pytest.raises(PlateError, match="does not exist"):
        evaluate_masks(tmp_path / "nope", tmp_path / "gt")
    with pytest.raises(PlateError, match="holds no mask files"):
        evaluate_masks(tmp_path / "empty", tmp_path / "gt")
    _write_seq(tmp_path / "small", "{:05d}.png", {0: np.ones((10, 10), bool)})
    with pytest.raises(RotoflowError, match="is 10x10"):
        evaluate_masks(tmp_path / "small", tmp_path / "gt", exclude_frames=())
    dup = tmp_path / "dup"
    _write_seq(dup, "a.{:05d}.png", {0: square(10, 10)})
    shutil.copy(dup / "a.00000.png", dup / "b.00000.png")
    with pytest.raises(PlateError, match="appears twice"):
        evaluate_masks(dup, tmp_path / "gt")


def test_evaluate_masks_on_real_davis_ground_truth(shared):
    gt = davis_masks("car-shadow")
    perfect = evaluate_masks(gt, gt)
    assert len(perfect.frames) == 39
    assert perfect.j == perfect.f == perfect.jf == 1.0
    # The car moves a few pixels a frame: within the 8 px tolerance F stays 1 while J drops; over
    # more frames both fall, F faster.
    a = read_mask(gt / "00010.png")
    near, far = read_mask(gt / "00011.png"), read_mask(gt / "00020.png")
    assert 0.9 < region_similarity(a, near) < 1.0
    assert boundary_measure(a, near) == 1.0
    assert 0.6 < region_similarity(a, far) < 0.8
    assert 0.3 < boundary_measure(a, far) < region_similarity(a, far)
