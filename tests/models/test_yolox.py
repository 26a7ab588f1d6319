"""YOLOX-Nano lite detector on real DAVIS-2016 frames with the real weights."""

from __future__ import annotations

import hashlib
import logging

import cv2
import numpy as np
import pytest

from models.base import Detector
from models.yolox import COCO_CLASSES, NEAR_CLASSES, SYNONYMS, YoloxDetector, resolve_text
from rotoflow.errors import ModelNotAvailable, PromptError
from tests.conftest import davis_frames, davis_masks


def load_frame(seq: str, index: int = 0) -> np.ndarray:
    bgr = cv2.imread(str(davis_frames(seq) / f"{index:05d}.jpg"), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(bgr[..., ::-1])


def gt_box(seq: str, index: int = 0) -> np.ndarray:
    """Bounding box ``(x0, y0, x1, y1)`` of the ground-truth mask, pixel corners included."""
    mask = cv2.imread(str(davis_masks(seq) / f"{index:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union)


@pytest.fixture(scope="module")
def detector(yolox_path) -> YoloxDetector:
    return YoloxDetector(yolox_path)


def test_implements_protocol_and_version_is_weights_hash(detector, yolox_path):
    assert isinstance(detector, Detector)
    assert detector.name == "yolox-nano"
    assert detector.version == hashlib.sha256(yolox_path.read_bytes()).hexdigest()[:12]


def test_car_roundabout_finds_the_car(detector):
    image = load_frame("car-roundabout")
    dets = detector.detect(image)
    cars = [i for i, label in enumerate(dets.labels) if label == "car"]
    assert cars, f"no car among {dets.labels}"
    best = cars[0]
    assert dets.scores[best] > 0.6
    assert box_iou(dets.boxes[best], gt_box("car-roundabout")) > 0.5


def test_output_contract(detector):
    image = load_frame("car-roundabout")
    h, w = image.shape[:2]
    dets = detector.detect(image)
    assert len(dets) >= 1
    assert dets.boxes.dtype == np.float32 and dets.boxes.shape == (len(dets), 4)
    assert dets.scores.dtype == np.float32 and dets.scores.shape == (len(dets),)
    assert np.all(np.diff(dets.scores) <= 0), "not sorted by descending score"
    assert np.all(dets.scores >= detector.score_threshold) and np.all(dets.scores <= 1)
    assert np.all(dets.boxes[:, :2] >= 0) and np.all(dets.boxes[:, 2] <= w)
    assert np.all(dets.boxes[:, 3] <= h)
    assert np.all(dets.boxes[:, 2:] > dets.boxes[:, :2])
    assert set(dets.labels) <= set(COCO_CLASSES)


def test_class_filter(detector):
    image = load_frame("car-roundabout")
    only_cars = detector.detect(image, ["car"])
    assert len(only_cars) >= 1 and set(only_cars.labels) == {"car"}
    with pytest.raises(PromptError, match="'camel'"):
        detector.detect(image, ["camel"])


def test_breakdance_finds_the_dancer(detector):
    dets = detector.detect(load_frame("breakdance"), ["person"])
    # The frame has onlookers too: the dancer is one of several person boxes.
    ious = [box_iou(b, gt_box("breakdance")) for b in dets.boxes]
    assert max(ious) > 0.5


def test_dog_via_detect_object(detector):
    dets = detector.detect_object(load_frame("dog"), ["dog"])
    assert len(dets) >= 1
    assert box_iou(dets.boxes[0], gt_box("dog")) > 0.5


def test_detect_object_falls_back_on_near_classes(yolox_path, caplog):
    # The network scores the DAVIS dog low as "dog" and higher as "sheep"; with a threshold above
    # its dog score, only the near-class fallback can find it.
    image = load_frame("dog")
    loose = YoloxDetector(yolox_path).detect(image, ["dog"])
    strict = YoloxDetector(yolox_path, score_threshold=float(loose.scores[0]) + 0.02)
    assert len(strict.detect(image, ["dog"])) == 0
    with caplog.at_level(logging.INFO, logger="models.yolox"):
        dets = strict.detect_object(image, ["dog"])
    assert len(dets) >= 1
    assert dets.labels[0] in NEAR_CLASSES["dog"]
    assert box_iou(dets.boxes[0], gt_box("dog")) > 0.5
    assert "near class" in caplog.text


def test_letterbox_undo_scale(detector):
    image = load_frame("car-roundabout")
    ref = detector.detect(image, ["car"]).boxes[0]
    h, w = image.shape[:2]
    big = cv2.resize(image, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    box = detector.detect(big, ["car"]).boxes[0] / 2
    np.testing.assert_allclose(box, ref, atol=3.0)


def test_letterbox_undo_offset(detector):
    # Same width (same letterbox scale), frame moved down inside a taller grey canvas by three
    # stride-32 cells of the network input, so the network sees the same pixels, shifted.
    image = load_frame("car-roundabout")
    ref = detector.detect(image, ["car"]).boxes[0]
    h, w = image.shape[:2]
    dy = round(3 * 32 * w / 416)
    canvas = np.full((h + dy + 100, w, 3), 114, np.uint8)
    canvas[dy : dy + h] = image
    box = detector.detect(canvas, ["car"]).boxes[0] - np.array([0, dy, 0, dy], np.float32)
    np.testing.assert_allclose(box, ref, atol=3.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the dancer", ["person"]),
        ("a red car", ["car"]),
        ("cars", ["car"]),
        ("People", ["person"]),
        ("traffic lights", ["traffic light"]),
        ("the cell-phone", ["cell phone"]),
        ("a teddy bear", ["teddy bear"]),
        ("hot dog", ["hot dog"]),
        ("the black swan swimming in the lake", ["bird"]),
        ("the man on the bike", ["person"]),
        ("bmx rider", ["person"]),
        ("the woman riding a horse", ["person"]),
        ("the man and the dog", ["person", "dog"]),
        ("puppies", ["dog"]),
        ("a herd of cows", ["cow"]),
    ],
)
def test_resolve_text(text, expected):
    assert resolve_text(text) == expected


def test_synonyms_name_coco_classes():
    assert set(SYNONYMS.values()) <= set(COCO_CLASSES)
    assert {c for near in NEAR_CLASSES.values() for c in near} <= set(COCO_CLASSES)
    assert len(COCO_CLASSES) == len(set(COCO_CLASSES)) == 80


@pytest.mark.parametrize("text", ["camel", "", "the thing on the left"])
def test_resolve_text_no_match(detector, text):
    with pytest.raises(PromptError) as err:
        detector.resolve_text(text)
    message = str(err.value)
    assert "\n" not in message
    assert repr(text) in message
    assert "person, bicycle, car" in message and "toothbrush" in message
    assert "--box x0,y0,x1,y1" in message


def test_missing_weights(tmp_path):
    missing = tmp_path / "nowhere" / "yolox_nano.onnx"
    with pytest.raises(ModelNotAvailable, match="ROTOFLOW_YOLOX_MODEL") as err:
        YoloxDetector(missing)
    assert str(missing) in str(err.value)


def test_unloadable_weights(tmp_path):
    broken = tmp_path / "yolox_nano.onnx"
    broken.write_bytes(b"not an onnx model")
    with pytest.raises(ModelNotAvailable, match="ROTOFLOW_YOLOX_MODEL") as err:
        YoloxDetector(broken)
    assert str(broken) in str(err.value)


def test_detect_object_takes_a_weak_detection_of_the_named_class(detector, caplog):
    # drift-chicane: the drifting car scores about 0.1, below the 0.25 threshold.
    assert len(detector.detect(load_frame("drift-chicane"), ["car"])) == 0
    with caplog.at_level(logging.WARNING, logger="models.yolox"):
        found = detector.detect_object(load_frame("drift-chicane"), ["car"])
    assert found.labels[0] == "car" and 0.05 <= found.scores[0] < 0.25
    assert box_iou(found.boxes[0], gt_box("drift-chicane")) > 0.5
    assert "taking the best one" in caplog.text


def test_text_prompt_picks_the_subject_not_the_sharpest_onlooker(detector):
    from tasks.stages.detect import pick_subject

    found = detector.detect_object(load_frame("breakdance"), ["person"])
    assert box_iou(found.boxes[0], gt_box("breakdance")) < 0.1  # best score: an onlooker
    chosen = pick_subject(found.boxes, found.scores)
    assert box_iou(found.boxes[chosen], gt_box("breakdance")) > 0.8
    for seq, cls in (("car-roundabout", "car"), ("dance-twirl", "person"), ("cows", "cow")):
        found = detector.detect_object(load_frame(seq), [cls])
        assert box_iou(found.boxes[pick_subject(found.boxes, found.scores)], gt_box(seq)) > 0.7
