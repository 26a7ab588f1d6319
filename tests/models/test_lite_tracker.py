"""Flow tracker on a real DAVIS-2016 clip: quality floor, both directions, streaming, errors."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from models.base import Tracker, TrackHint
from models.lite_tracker import FlowTracker
from rotoflow.errors import PlateError, PromptError
from rotoflow.evaluation import FrameScore, SequenceScore, boundary_measure, region_similarity
from tests.conftest import davis_frames, davis_masks

SEQ = "car-shadow"
N_FRAMES = 16


def rgb_frame(seq: str, n: int) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(davis_frames(seq) / f"{n:05d}.jpg")), cv2.COLOR_BGR2RGB)


def gt_mask(seq: str, n: int) -> np.ndarray:
    return cv2.imread(str(davis_masks(seq) / f"{n:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127


def frames(seq: str, numbers) -> Iterator[tuple[int, np.ndarray]]:
    for n in numbers:
        yield n, rgb_frame(seq, n)


def score(seq: str, results) -> SequenceScore:
    rows = []
    for n, mask in results:
        gt = gt_mask(seq, n)
        rows.append(FrameScore(n, region_similarity(mask, gt), boundary_measure(mask, gt)))
    return SequenceScore.from_rows(rows)


@pytest.fixture(scope="module")
def tracker() -> FlowTracker:
    return FlowTracker()


def test_is_a_tracker(tracker):
    assert isinstance(tracker, Tracker)


def test_forward_on_davis_clip(shared, tracker):
    numbers = range(N_FRAMES)
    out = list(tracker.track(frames(SEQ, numbers), gt_mask(SEQ, 0), TrackHint()))
    assert [n for n, _ in out] == list(numbers)[1:]
    assert all(m.dtype == bool and m.shape == (480, 854) for _, m in out)
    s = score(SEQ, out)
    # Measured J 0.76, F 0.62, J&F 0.69 on this clip.
    assert s.jf >= 0.6, s
    assert s.j >= 0.65, s


def test_backward_on_davis_clip(shared, tracker):
    numbers = range(N_FRAMES - 1, -1, -1)
    out = list(tracker.track(frames(SEQ, numbers), gt_mask(SEQ, N_FRAMES - 1)))
    assert [n for n, _ in out] == list(numbers)[1:]
    s = score(SEQ, out)
    # Measured J 0.81, F 0.60, J&F 0.70 on this clip (frames 14 down to 0).
    assert s.jf >= 0.6, s
    assert s.j >= 0.7, s


def test_streams_frames_lazily(shared, tracker):
    pulled = []

    def source():
        for n in range(N_FRAMES):
            pulled.append(n)
            yield n, rgb_frame(SEQ, n)

    results = tracker.track(source(), gt_mask(SEQ, 0))
    assert pulled == [0]  # only the keyframe is read before the first mask is asked for
    n, _ = next(results)
    assert n == 1
    assert len(pulled) <= 3
    n, _ = next(results)
    assert n == 2 and len(pulled) <= 4


def test_empty_init_mask_gives_empty_masks(tracker):
    rng = np.random.default_rng(0)
    clip = [(n, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)) for n in range(1001, 1005)]
    out = list(tracker.track(iter(clip), np.zeros((48, 64), bool)))
    assert [n for n, _ in out] == [1002, 1003, 1004]
    assert not any(m.any() for _, m in out)


def test_synthetic_square_is_followed(tracker):
    # A textured square moving 3 px a frame right over a textured background.
    rng = np.random.default_rng(1)
    bg = cv2.GaussianBlur(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8), (5, 5), 0)
    tex = rng.integers(0, 255, (30, 30, 3), dtype=np.uint8)
    tex[..., 0] = 230

    def frame(i):
        img = bg.copy()
        img[40:70, 30 + 3 * i : 60 + 3 * i] = tex
        m = np.zeros((120, 160), bool)
        m[40:70, 30 + 3 * i : 60 + 3 * i] = True
        return img, m

    clip = [(i, frame(i)[0]) for i in range(8)]
    out = list(tracker.track(iter(clip), frame(0)[1]))
    for i, mask in out:
        assert region_similarity(mask, frame(i)[1]) > 0.8, i


def test_no_frames_raises(tracker):
    with pytest.raises(PlateError, match="no frames"):
        tracker.track(iter([]), np.zeros((4, 4), bool))


def test_frame_size_mismatch_raises(tracker):
    clip = [(1, np.zeros((48, 64, 3), np.uint8)), (2, np.zeros((50, 64, 3), np.uint8))]
    with pytest.raises(PlateError, match="frame 2 is 64x50"):
        list(tracker.track(iter(clip), np.ones((48, 64), bool)))


def test_bad_init_mask_raises(tracker):
    with pytest.raises(PromptError, match=r"\(H, W\)"):
        tracker.track(iter([(1, np.zeros((4, 4, 3), np.uint8))]), np.zeros((4, 4, 3), bool))


def test_unknown_flow_preset_raises():
    with pytest.raises(PromptError, match="ultrafast, fast, medium"):
        FlowTracker(flow_preset="slow")
