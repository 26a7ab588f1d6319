"""SAM 2 wrapper: parity with the bare SAM2VideoPredictor, bounded state, chunked resume.

Runs the real sam2 code on a tiny random-weight Hiera-tiny (``++model.image_size=256``) built in
the real checkpoint format and loaded through the same loader as released weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.sam2_video import Sam2Video, _Session, load_predictor, make_prompt
from models.tiny import sam2 as tiny_sam2
from rotoflow.errors import PromptError

SEQ = Path("../shared/data/davis2016/JPEGImages/480p/car-shadow")
N = 10
SIZE = (480, 854)
BOX = (300.0, 150.0, 600.0, 400.0)


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    torch.set_num_threads(2)
    # image_size 128 instead of the tiny builder's 256: the same code paths at a quarter of the cost.
    folder = tiny_sam2.build(
        tmp_path_factory.mktemp("sam2") / "facebook" / "sam2.1-hiera-tiny",
        overrides=["++model.image_size=128"],
    )
    return load_predictor(folder, tiny_sam2.WEIGHTS, tiny_sam2.CONFIG, "cpu")


@pytest.fixture(scope="module")
def paths():
    return sorted(SEQ.glob("*.jpg"))[:N]


def _reader(paths, calls=None):
    def read(frame: int) -> np.ndarray:
        if calls is not None:
            calls.append(frame)
        return np.array(Image.open(paths[frame]).convert("RGB"))

    return read


def _bare(predictor, paths, frames, prompts, tmp: Path, reverse=False):
    """The bare predictor on a JPEG folder of ``frames`` (its own loader), prompted the same way;
    returns ``{plate frame: {obj: mask}}``."""
    folder = tmp / f"bare-{frames[0]}-{frames[-1]}-{reverse}"
    folder.mkdir()
    for i, f in enumerate(frames):
        (folder / f"{i:05d}.jpg").symlink_to(paths[f].resolve())
    out = {}
    with torch.inference_mode():
        state = predictor.init_state(str(folder))
        for p in prompts:
            i = frames.index(p.frame)
            if p.mask is not None:
                predictor.add_new_mask(state, i, p.obj_id, torch.from_numpy(p.mask))
            else:
                predictor.add_new_points_or_box(
                    state, i, p.obj_id, points=p.points, labels=p.labels, box=p.box
                )
        for i, ids, logits in predictor.propagate_in_video(state, reverse=reverse):
            out[frames[i]] = {obj: (logits[n, 0] > 0).numpy() for n, obj in enumerate(ids)}
    return out


def _ours(model, paths, frames, prompts, reverse=False, **kw):
    return {
        f: masks
        for f, masks in model.propagate(
            _reader(paths), frames, prompts, SIZE, reverse=reverse, **kw
        )
    }


def _assert_same(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    for f in a:
        assert sorted(a[f]) == sorted(b[f])
        for obj in a[f]:
            assert np.array_equal(a[f][obj], b[f][obj]), f"frame {f} object {obj} differs"


def test_forward_two_objects_matches_bare_predictor(predictor, paths, tmp_path):
    model = Sam2Video(predictor, name="sam2.1-hiera-tiny", version="test")
    frames = list(range(N))
    prompts = [
        make_prompt(1, 0, box=BOX),
        make_prompt(2, 0, positive=[[450, 300]], negative=[[100, 100]]),
    ]
    ours = _ours(model, paths, frames, prompts)
    _assert_same(ours, _bare(predictor, paths, frames, prompts, tmp_path))
    assert all(ours[f][1].shape == SIZE and ours[f][1].dtype == bool for f in frames)
    assert any(ours[f][1].any() for f in frames)


def test_backward_and_between_keyframes_match_bare_predictor(predictor, paths, tmp_path):
    """Backward from a keyframe, and a run between two keyframes (box on one, mask on the other)."""
    model = Sam2Video(predictor, name="sam2.1-hiera-tiny", version="test")
    back = list(range(0, 5))
    p_back = [make_prompt(1, 4, box=BOX)]
    _assert_same(
        _ours(model, paths, back, p_back, reverse=True),
        _bare(predictor, paths, back, p_back, tmp_path, reverse=True),
    )
    between = list(range(4, N))
    key_mask = np.zeros(SIZE, bool)
    key_mask[200:380, 320:640] = True
    p_between = [make_prompt(1, 4, box=BOX), make_prompt(1, N - 1, mask=key_mask)]
    ours = _ours(model, paths, between, p_between)
    _assert_same(ours, _bare(predictor, paths, between, p_between, tmp_path))
    assert ours[N - 1][1].sum() > 0


def test_state_outside_the_memory_window_is_released(predictor, paths, monkeypatch):
    sizes = []
    real = _Session.release_behind

    def spy(self, i, reverse):
        real(self, i, reverse)
        sizes.append(
            max(
                len(o["non_cond_frame_outputs"]) for o in self.state["output_dict_per_obj"].values()
            )
        )

    monkeypatch.setattr(_Session, "release_behind", spy)
    model = Sam2Video(predictor, name="sam2.1-hiera-tiny", version="test")
    # A window narrower than the run, so release is exercised (real windows are ~17 frames).
    monkeypatch.setattr(_Session, "window", lambda self: 4)
    list(model.propagate(_reader(paths), list(range(8)), [make_prompt(1, 0, box=BOX)], SIZE))
    assert len(sizes) == 8
    assert max(sizes) <= 4


def test_real_window_covers_what_sam2_reads(predictor):
    s = _Session(predictor, [0], lambda f: None, SIZE)
    stride = predictor.memory_temporal_stride_for_eval
    assert s.window() > (predictor.num_maskmem - 1) * stride
    assert s.window() >= predictor.max_obj_ptrs_in_encoder


def test_resume_after_a_crash_equals_an_uninterrupted_run(predictor, paths, tmp_path):
    frames = list(range(N))
    prompts = [make_prompt(1, 0, box=BOX)]
    whole = _ours(Sam2Video(predictor, name="s", version="v", chunk=4), paths, frames, prompts)

    ckpt = tmp_path / "run.pt"
    crashed = Sam2Video(predictor, name="s", version="v", chunk=4)
    got = {}
    calls: list[int] = []
    read = _reader(paths, calls)

    def failing(frame):
        if frame == 7:
            raise OSError("disk went away")
        return read(frame)

    with pytest.raises(OSError):
        for f, m in crashed.propagate(failing, frames, prompts, SIZE, checkpoint=ckpt):
            got[f] = m
    assert sorted(got) == list(range(7)) and ckpt.is_file()

    calls.clear()
    resumed = {
        f: m
        for f, m in Sam2Video(predictor, name="s", version="v", chunk=4).propagate(
            read, frames, prompts, SIZE, checkpoint=ckpt
        )
    }
    # The checkpoint after frame 3 (4 frames done) is the last one: frames 4.. are recomputed,
    # nothing before them is read again.
    assert sorted(resumed) == list(range(4, N))
    assert min(calls) == 4
    got.update(resumed)
    _assert_same(got, whole)


def test_checkpoint_of_other_prompts_is_ignored(predictor, paths, tmp_path):
    frames = list(range(4))
    ckpt = tmp_path / "run.pt"
    model = Sam2Video(predictor, name="s", version="v", chunk=2)
    list(
        model.propagate(_reader(paths), frames, [make_prompt(1, 0, box=BOX)], SIZE, checkpoint=ckpt)
    )
    other = [make_prompt(1, 0, box=(100.0, 100.0, 400.0, 300.0))]
    got = _ours(model, paths, frames, other, checkpoint=ckpt)
    assert sorted(got) == frames


def test_segment_equals_the_propagation_keyframe(predictor, paths):
    model = Sam2Video(predictor, name="s", version="v")
    image = _reader(paths)(0)
    mask = model.segment(image, box=BOX)
    first = next(iter(model.propagate(_reader(paths), [0, 1], [make_prompt(1, 0, box=BOX)], SIZE)))
    assert mask.shape == SIZE and mask.dtype == bool
    assert np.array_equal(mask, first[1][1])


def test_bad_prompts(predictor):
    with pytest.raises(PromptError, match="box, clicks or a mask"):
        make_prompt(1, 0)
    with pytest.raises(PromptError, match="not both"):
        make_prompt(1, 0, box=BOX, mask=np.ones((4, 4), bool))
    model = Sam2Video(predictor, name="s", version="v")
    with pytest.raises(PromptError, match="outside the run"):
        list(model.propagate(lambda f: None, [0, 1], [make_prompt(1, 5, box=BOX)], SIZE))
