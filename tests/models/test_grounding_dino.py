"""Grounding DINO detector on a real DAVIS-2016 frame with the tiny random-weight model.

The tiny model runs the real transformers code, so the wrapper is checked against transformers' own
pipeline (processor, model, ``post_process_grounded_object_detection``) on the same frame.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import torch

from models.base import Detector
from models.grounding_dino import GroundingDinoDetector
from models.tiny import grounding_dino as tiny
from rotoflow.errors import ModelNotAvailable, PromptError
from tests.conftest import davis_frames

# Random weights put most queries' scores near 1; these thresholds keep some boxes, drop others.
BOX_THRESHOLD = 0.9
TEXT_THRESHOLD = 0.5
CLASSES = ["car", "person"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny.build(tmp_path_factory.mktemp("grounding-dino-tiny"), seed=0)


@pytest.fixture(scope="module")
def detector(model_dir) -> GroundingDinoDetector:
    return GroundingDinoDetector(
        model_dir, box_threshold=BOX_THRESHOLD, text_threshold=TEXT_THRESHOLD
    )


@pytest.fixture(scope="module")
def frame(shared) -> np.ndarray:
    bgr = cv2.imread(str(davis_frames("car-shadow") / "00000.jpg"), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(bgr[..., ::-1])


def reference(model_dir, image: np.ndarray, caption: str) -> dict:
    """transformers' documented zero-shot detection recipe, run directly."""
    from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

    processor = AutoProcessor.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForZeroShotObjectDetection.from_pretrained(model_dir, local_files_only=True)
    inputs = processor(images=image, text=caption, return_tensors="pt")
    with torch.inference_mode():
        outputs = model(**inputs)
    h, w = image.shape[:2]
    return processor.post_process_grounded_object_detection(
        outputs,
        inputs.input_ids,
        threshold=BOX_THRESHOLD,
        text_threshold=TEXT_THRESHOLD,
        target_sizes=[(h, w)],
    )[0]


def test_builder_writes_a_snapshot_that_loads_offline(model_dir, detector):
    names = {p.name for p in model_dir.iterdir()}
    assert {"config.json", "model.safetensors", "processor_config.json"} <= names
    assert {"tokenizer.json", "tokenizer_config.json", "vocab.txt"} <= names
    assert isinstance(detector, Detector)
    assert (detector.name, detector.version) == ("grounding-dino-tiny", "local")
    # Every prompt word of the tiny vocabulary is a known token, not [UNK].
    tok = detector._processor.tokenizer
    ids = tok(" ".join(tiny.VOCAB_WORDS)).input_ids
    assert tok.unk_token_id not in ids


def test_builder_is_reproducible(model_dir, tmp_path):
    again = tiny.build(tmp_path / "again", seed=0)
    assert (again / "model.safetensors").read_bytes() == (
        model_dir / "model.safetensors"
    ).read_bytes()
    other = tiny.build(tmp_path / "other", seed=1)
    assert (other / "model.safetensors").read_bytes() != (
        model_dir / "model.safetensors"
    ).read_bytes()


def test_parity_with_transformers_pipeline(model_dir, detector, frame):
    h, w = frame.shape[:2]
    assert (h, w) == (480, 854)
    ref = reference(model_dir, frame, "car. person.")
    ours = detector.detect(frame, CLASSES)

    ref_scores = ref["scores"].numpy()
    order = np.argsort(-ref_scores, kind="stable")
    ref_boxes = np.clip(ref["boxes"].numpy()[order], 0, [w, h, w, h])
    ref_labels = [ref["text_labels"][i] for i in order]
    assert 0 < len(ours) < detector._model.config.num_queries, "thresholds keep all or nothing"
    assert len(ours) == len(ref_scores)
    np.testing.assert_allclose(ours.boxes, ref_boxes, rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours.scores, ref_scores[order], rtol=0, atol=1e-6)
    for label, raw in zip(ours.labels, ref_labels, strict=True):
        words = raw.replace("[SEP]", " ").replace("[CLS]", " ").replace(".", " ").split()
        if not words:  # no token above text_threshold: the most probable phrase
            assert label in CLASSES, raw
        else:  # the phrase the tokens fall in, or their text when they span several phrases
            assert label == " ".join(words), raw


def test_output_contract(detector, frame):
    h, w = frame.shape[:2]
    dets = detector.detect(frame, CLASSES)
    assert len(dets) > 0
    assert dets.boxes.dtype == np.float32 and dets.boxes.shape == (len(dets), 4)
    assert dets.scores.dtype == np.float32 and dets.scores.shape == (len(dets),)
    assert np.all(np.diff(dets.scores) <= 0), "not sorted by descending score"
    assert np.all(dets.scores > BOX_THRESHOLD) and np.all(dets.scores <= 1)
    assert np.all(dets.boxes >= 0)
    assert np.all(dets.boxes[:, [0, 2]] <= w) and np.all(dets.boxes[:, [1, 3]] <= h)
    assert np.all(dets.boxes[:, 2:] >= dets.boxes[:, :2])
    assert len(dets.labels) == len(dets) and all(isinstance(s, str) and s for s in dets.labels)


def test_detect_uses_the_last_resolved_text(model_dir, detector, frame):
    det = GroundingDinoDetector(
        model_dir, box_threshold=BOX_THRESHOLD, text_threshold=TEXT_THRESHOLD
    )
    with pytest.raises(PromptError, match="resolve_text"):
        det.detect(frame)
    assert det.resolve_text("The car, a person.") == CLASSES
    implicit, explicit = det.detect(frame), detector.detect_object(frame, CLASSES)
    assert len(implicit) > 0
    np.testing.assert_allclose(implicit.boxes, explicit.boxes, rtol=0, atol=1e-4)
    assert implicit.labels == explicit.labels


def test_detect_normalises_phrases_and_checks_the_image(detector, frame):
    normalised = detector.detect(frame, ["The Car!", "person", "a person"])
    plain = detector.detect(frame, CLASSES)
    np.testing.assert_allclose(normalised.boxes, plain.boxes, rtol=0, atol=1e-4)
    assert normalised.labels == plain.labels
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(frame.astype(np.float32))
    with pytest.raises(PromptError, match="phrase or a box"):
        detector.detect(frame, ["the", "!"])


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        ("the dancer", ["dancer"]),
        ("car, person", ["car", "person"]),
        ("car . person", ["car", "person"]),
        ("Car. PERSON.", ["car", "person"]),
        ("a red car; the man on the bike!", ["red car", "man on bike"]),
        ("swan, swan, an old camel", ["swan", "old camel"]),
        ("Café racer\nbmx-rider", ["café racer", "bmx-rider"]),
    ],
)
def test_resolve_text(detector, text, phrases):
    assert detector.resolve_text(text) == phrases


@pytest.mark.parametrize("text", ["", "the", " . , ", "a, an; the!"])
def test_resolve_text_empty_asks_for_a_phrase_or_box(detector, text):
    with pytest.raises(PromptError, match="phrase.*box"):
        detector.resolve_text(text)


def test_label_mapping():
    classes = ["red car", "person"]
    probs = torch.zeros(256)
    spans = [(1, 3), (4, 5)]  # [CLS] red car . person . [SEP]
    probs[4] = 0.2
    label = GroundingDinoDetector._label
    assert label("red car. [SEP]", classes, probs, spans) == "red car"
    assert label("red", classes, probs, spans) == "red car"  # a sub-span of a phrase
    assert label("car person", classes, probs, spans) == "car person"  # spans two phrases
    assert label("[SEP]", classes, probs, spans) == "person"  # no token: most probable phrase
    assert label(". .", classes, probs, spans) == "person"
    assert label("bmx - rider", ["bmx-rider", "bmx"], probs, spans) == "bmx-rider"
    assert label("car", ["scar", "car"], probs, spans) == "car"  # the exact phrase first


def test_missing_or_wrong_folder_raises_model_not_available(tmp_path):
    missing = tmp_path / "no-such-model"
    t0 = time.perf_counter()
    with pytest.raises(ModelNotAvailable, match="no-such-model"):
        GroundingDinoDetector(missing)
    assert time.perf_counter() - t0 < 1.0
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotAvailable, match="empty"):
        GroundingDinoDetector(empty)
