"""ViTMatte matter: trimap, crop, padding removal and tiling, on tiny random models and DAVIS frames.

The references below call transformers directly (processor, model, cut the padding, keep the
trimap's definite pixels), independently of the wrapper's code.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
import torch
from transformers import VitMatteForImageMatting, VitMatteImageProcessor

from models.base import Matter
from models.tiny.vitmatte import build
from models.vitmatte import VitMatteMatter, make_trimap, tile_spans, tile_weights
from rotoflow.errors import ConfigError, ModelNotAvailable
from tests.conftest import davis_frames, davis_masks

logger = logging.getLogger(__name__)


def load_davis(seq: str, index: int) -> tuple[np.ndarray, np.ndarray]:
    bgr = cv2.imread(str(davis_frames(seq) / f"{index:05d}.jpg"), cv2.IMREAD_COLOR)
    mask = cv2.imread(str(davis_masks(seq) / f"{index:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127
    return np.ascontiguousarray(bgr[..., ::-1]), mask


@pytest.fixture(scope="module")
def dog(shared) -> tuple[np.ndarray, np.ndarray]:
    """DAVIS dog frame 10 (480 x 854) and its ground-truth mask; the dog spans rows 65-361."""
    return load_davis("dog", 10)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Tiny ViTMatte of the real structure (windowed and global blocks)."""
    return build(tmp_path_factory.mktemp("vitmatte") / "tiny", seed=0)


@pytest.fixture(scope="module")
def tiny_windowed(tmp_path_factory):
    """Tiny ViTMatte whose blocks are all windowed, without position-dependent embeddings."""
    return build(tmp_path_factory.mktemp("vitmatte") / "windowed", seed=0, global_attention=False)


def load_net(path):
    """transformers' own processor and model from a snapshot folder."""
    return (
        VitMatteImageProcessor.from_pretrained(path, local_files_only=True),
        VitMatteForImageMatting.from_pretrained(path, local_files_only=True).eval(),
    )


@pytest.fixture(scope="module")
def reference_net(tiny):
    return load_net(tiny)


def reference_alpha(net, image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    """Alpha of one whole input: network on unknown pixels, trimap elsewhere."""
    processor, model = net
    pixels = processor(images=image, trimaps=trimap, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        raw = model(pixel_values=pixels).alphas[0, 0].numpy()
    h, w = trimap.shape
    return np.where(trimap == 128, raw[:h, :w], trimap == 255).astype(np.float32)


@pytest.fixture
def count_runs(monkeypatch):
    """Record the (h, w) of every network pass of every VitMatteMatter."""
    shapes: list[tuple[int, int]] = []
    real = VitMatteMatter._run

    def spy(self, image, trimap):
        shapes.append(trimap.shape)
        return real(self, image, trimap)

    monkeypatch.setattr(VitMatteMatter, "_run", spy)
    return shapes


def test_tiny_snapshot_has_the_real_structure(tiny, reference_net, dog):
    names = {p.name for p in tiny.iterdir()}
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= names
    processor, model = reference_net
    backbone = model.config.backbone_config
    blocks = range(backbone.num_hidden_layers)
    assert [i in backbone.window_block_indices for i in blocks] == [True, False]
    assert backbone.window_size > 0 and backbone.use_relative_position_embeddings
    assert backbone.use_absolute_position_embeddings and list(backbone.residual_block_indices)
    assert processor.size_divisor == 32
    # The random model answers something that depends on the image, not a constant 0.5.
    image, mask = dog
    trimap = np.full((97, 131), 128, np.uint8)
    alpha = reference_alpha(reference_net, image[150:247, 250:381], trimap)
    assert alpha.std() > 0.05 and alpha.max() - alpha.min() > 0.3


def test_build_depends_only_on_seed(tmp_path, tiny):
    again = build(tmp_path / "again", seed=0)
    other = build(tmp_path / "other", seed=1)
    weights = (tiny / "model.safetensors").read_bytes()
    assert (again / "model.safetensors").read_bytes() == weights
    assert (other / "model.safetensors").read_bytes() != weights


def test_implements_protocol(tiny):
    matter = VitMatteMatter(tiny, version="abc123")
    assert isinstance(matter, Matter)
    assert (matter.name, matter.version) == ("vitmatte-small", "abc123")
    # 3-token windows of 16-pixel patches: 48 px, aligned with the processor's 32 -> 96.
    assert matter.align == 96 and matter.tile == 960 and matter.stride == 768


def test_missing_or_empty_folder_is_not_available(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ModelNotAvailable, match="nowhere"):
        VitMatteMatter(missing)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotAvailable, match="empty"):
        VitMatteMatter(tmp_path / "empty")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"erode": -1},
        {"margin": -2},
        {"tile_overlap": -1},
        {"max_tile": 64},  # below one 96-pixel alignment step
        {"max_tile": 192, "tile_overlap": 128},  # no 96-pixel stride left
        {"precision": "fp16"},  # half precision is for CUDA
        {"precision": "int8"},
    ],
)
def test_bad_settings(tiny, kwargs):
    with pytest.raises(ConfigError):
        VitMatteMatter(tiny, **kwargs)


def test_make_trimap_bands():
    mask = np.zeros((60, 80), bool)
    mask[20:40, 30:70] = True
    mask[0:10, 0:10] = True  # touches the frame corner
    trimap = make_trimap(mask, erode=3, dilate=5)
    assert set(np.unique(trimap)) == {0, 128, 255}
    # Along the rectangle's axes the bands are exactly erode / dilate pixels wide.
    assert (trimap[30, 33:67] == 255).all() and (trimap[30, 30:33] == 128).all()
    assert (trimap[30, 25:30] == 128).all() and trimap[30, 24] == 0
    assert (trimap[23:37, 50] == 255).all() and (trimap[15:23, 50] == 128).all()
    assert trimap[14, 50] == 0 and (trimap[40:45, 50] == 128).all() and trimap[45, 50] == 0
    # The frame border is not an edge: the corner square is not eroded from there.
    assert trimap[0, 0] == 255 and trimap[0, 6] == 255 and trimap[0, 7] == 128
    assert (make_trimap(mask, 0, 0) == np.where(mask, 255, 0)).all()


def test_tile_spans_and_weights_cover_every_pixel():
    for length, tile, stride, overlap in [
        (1000, 288, 96, 192),
        (2160, 896, 672, 128),
        (500, 96, 96, 0),
    ]:
        spans = tile_spans(length, tile, stride)
        assert spans[0][0] == 0 and spans[-1][1] == length
        assert all(b - a <= tile and a % stride == 0 for a, b in spans)
        total = np.zeros(length)
        for a, b in spans:
            total[a:b] += tile_weights(a, b, length, overlap)
        assert total.min() > 0
    assert tile_spans(288, 288, 96) == [(0, 288)]
    # Two tiles overlapping by exactly `overlap` cross-fade linearly and sum to one.
    left, right = tile_weights(0, 300, 500, 200), tile_weights(100, 500, 500, 200)
    assert np.allclose(left[100:] + right[:200], 1.0)
    assert (right[:50] == 0).all() and (right[150:] == 1).all()
    assert (left[:150] == 1).all() and (left[250:] == 0).all()


def test_empty_and_full_masks_skip_the_network(tiny, dog, count_runs):
    matter = VitMatteMatter(tiny)
    image = dog[0][:101, :131]
    empty = matter.matte(image, np.zeros((101, 131), bool))
    full = matter.matte(image, np.ones((101, 131), bool))
    assert empty.dtype == np.float32 and not empty.any()
    assert full.dtype == np.float32 and (full == 1).all()
    assert count_runs == []


def test_crop_reaching_the_frame_equals_the_full_frame_run(tiny, reference_net, dog, count_runs):
    image, mask = dog[0][200:321, 300:463], dog[1][200:321, 300:463]  # 121 x 163, dog edge inside
    matter = VitMatteMatter(tiny)
    trimap = make_trimap(mask, 12, 12)
    ys, xs = np.nonzero(trimap == 128)
    reach = (ys.min() <= 32, xs.min() <= 32, ys.max() + 33 >= 121, xs.max() + 33 >= 163)
    assert all(reach), "the unknown band plus the 32-pixel margin must reach every frame edge"
    alpha = matter.matte(image, mask)
    assert count_runs == [(121, 163)]
    expected = reference_alpha(reference_net, image, trimap)
    assert alpha.shape == (121, 163) and alpha.dtype == np.float32
    assert np.abs(alpha - expected).max() <= 1e-4
    # The check is sensitive to alignment: the padded output read from the wrong corner differs.
    processor, model = reference_net
    pixels = processor(images=image, trimaps=trimap, return_tensors="pt")["pixel_values"]
    with torch.inference_mode():
        raw = model(pixel_values=pixels).alphas[0, 0].numpy()
    unknown = trimap == 128
    assert np.abs(raw[-121:, -163:] - alpha)[unknown].max() > 1e-2
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0 and alpha[unknown].std() > 0.02


def test_crop_inside_the_frame_equals_the_run_on_that_crop(tiny, reference_net, dog, count_runs):
    image, mask = dog[0][45:380, 171:480], dog[1][45:380, 171:480]  # 335 x 309
    matter = VitMatteMatter(tiny, erode=6, dilate=9, margin=5)
    trimap = make_trimap(mask, 6, 9)
    ys, xs = np.nonzero(trimap == 128)
    y0, y1 = max(0, ys.min() - 5), min(335, ys.max() + 6)
    x0, x1 = max(0, xs.min() - 5), min(309, xs.max() + 6)
    assert min(y0, x0) > 0 and y1 < 335 and x1 < 309, "the crop must lie inside the frame"
    alpha = matter.matte(image, mask)
    assert count_runs == [(y1 - y0, x1 - x0)]

    def pasted(dy: int, dx: int) -> np.ndarray:
        box = (slice(y0 + dy, y1 + dy), slice(x0 + dx, x1 + dx))
        out = (trimap == 255).astype(np.float32)
        out[box] = reference_alpha(reference_net, image[box], trimap[box])
        return out

    assert np.abs(alpha - pasted(0, 0)).max() <= 1e-4
    # An off-by-one crop changes the answer well beyond the tolerance.
    assert np.abs(alpha - pasted(1, 0)).max() > 1e-3
    assert np.abs(alpha - pasted(0, -1)).max() > 1e-3
    # Measured, not asserted: with a global-attention block the crop's answer is not the frame's.
    whole = reference_alpha(reference_net, image, trimap)
    logger.info("crop vs whole frame, global tiny model: %.4f", np.abs(alpha - whole).max())


def border_reach(net, image: np.ndarray) -> int:
    """Pixels from a window-aligned cut over which the network's alpha differs from the uncut run."""
    trimap = np.full(image.shape[:2], 128, np.uint8)
    whole = reference_alpha(net, image, trimap)[:, 96:288]
    cut = reference_alpha(net, image[:, 96:288], trimap[:, 96:288])
    changed = np.abs(cut - whole).max(axis=0) > 1e-5
    from_left = np.flatnonzero(changed[:96])
    from_right = 96 - np.flatnonzero(changed[96:])
    return int(max(from_left.max() + 1, from_right.max())) if changed.any() else 0


def test_tiles_are_exact_when_every_block_is_windowed(tiny_windowed, dog, count_runs):
    # Every output pixel of this model depends on a bounded neighbourhood: measure how far a cut
    # at a window boundary (96 px = 2 windows of 3 tokens of 16 px) disturbs the alpha.
    reach = border_reach(load_net(tiny_windowed), dog[0][100:261, 200:584])
    logger.info("border reach of the windowed tiny model: %d px", reach)
    assert 16 < reach < 96  # one residual conv on 16-px tokens plus the conv decoder

    image, mask = dog[0][21:354, 281:684], dog[1][21:354, 281:684]  # 333 x 403
    whole = VitMatteMatter(tiny_windowed, margin=1000)
    tiled = VitMatteMatter(tiny_windowed, margin=1000, max_tile=288, tile_overlap=4 * reach)
    assert (tiled.tile, tiled.stride) == (288, 96)
    expected = whole.matte(image, mask)
    assert count_runs == [(333, 403)]
    alpha = tiled.matte(image, mask)
    assert len(count_runs) > 4 and all(max(s) <= 288 for s in count_runs[1:])
    assert np.abs(alpha - expected).max() <= 1e-4
    # With tile borders trimmed by well under the reach, the borders show.
    short = VitMatteMatter(tiny_windowed, margin=1000, max_tile=288, tile_overlap=2 * reach)
    assert np.abs(short.matte(image, mask) - expected).max() > 1e-4


def test_tiles_approximate_a_global_attention_model(tiny, reference_net, dog, count_runs):
    image, mask = dog[0][21:354, 281:684], dog[1][21:354, 281:684]  # 333 x 403
    tiled = VitMatteMatter(tiny, margin=1000, max_tile=288, tile_overlap=192)
    alpha = tiled.matte(image, mask)
    trimap = make_trimap(mask, 12, 12)
    expected = reference_alpha(reference_net, image, trimap)
    unknown = trimap == 128
    # Tiles without unknown pixels are skipped.
    spans = [
        (slice(a, b), slice(c, d))
        for a, b in tile_spans(333, 288, 96)
        for c, d in tile_spans(403, 288, 96)
    ]
    with_unknown = [s for s in spans if unknown[s].any()]
    assert len(with_unknown) < len(spans)
    assert count_runs == [(s[0].stop - s[0].start, s[1].stop - s[1].start) for s in with_unknown]
    # Definite pixels are exact; unknown ones differ (global attention sees the whole input).
    assert (alpha[~unknown] == expected[~unknown]).all()
    diff = np.abs(alpha - expected)[unknown]
    logger.info("tiled vs whole, global tiny: max %.4f, mean %.5f", diff.max(), diff.mean())
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0


def test_max_tile_at_least_the_crop_is_the_untiled_path(tiny, dog, count_runs):
    image, mask = dog[0][21:354, 281:684], dog[1][21:354, 281:684]  # 333 x 403
    untiled = VitMatteMatter(tiny, margin=1000).matte(image, mask)
    exact_fit = VitMatteMatter(tiny, margin=1000, max_tile=403, tile_overlap=192).matte(image, mask)
    assert count_runs == [(333, 403), (333, 403)]
    assert np.array_equal(untiled, exact_fit)
    one_less = VitMatteMatter(tiny, margin=1000, max_tile=402, tile_overlap=192).matte(image, mask)
    assert len(count_runs) > 2 and all(w < 403 for _, w in count_runs[2:])
    assert not np.array_equal(untiled, one_less)
