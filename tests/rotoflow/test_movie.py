"""Movies written by :mod:`rotoflow.movie`, read back by FFmpeg's own ffprobe and ffmpeg."""

from __future__ import annotations

import numpy as np
import pytest

from rotoflow.errors import PlateError
from rotoflow.movie import MovieWriter, alpha_code, frame_rate, timecode
from tests.ffprobe import decoded_alpha, decoded_rgb, probe


def test_timecode_and_rate_of_a_plate():
    assert timecode(1001, 24) == "00:00:41:17"
    assert timecode(0, 25) == "00:00:00:00"
    assert timecode(86400 * 24 + 5, 24) == "00:00:00:05"  # wraps at 24 hours
    assert timecode(1800, 30000 / 1001) == "00:01:00:00"  # 29.97 counts at 30, non-drop
    assert (
        frame_rate(24000 / 1001) == frame_rate(23.976023976)
        and str(frame_rate(23.976)) == "24000/1001"
    )
    assert frame_rate(25.0) == 25
    with pytest.raises(PlateError):
        frame_rate(0)


def test_alpha_code_rounds_to_ten_bits():
    a = np.array([[0.0, 1.0, 0.5, 0.25 / 1023, 0.75 / 1023, 2.0]])
    code = alpha_code(a)
    assert code.dtype == np.uint16
    np.testing.assert_array_equal(code >> 6, [[0, 1023, 512, 0, 1, 1023]])
    assert code[0, 1] == 1023 << 6 and code[0, 0] == 0


def test_prores_4444_carries_the_alpha_within_ten_bit_quantisation(tmp_path):
    """An odd-sized 23.976 fps plate from frame 1001: ffprobe sees ProRes 4444 with an alpha
    pixel format, the size, rate, frame count and start timecode; FFmpeg decodes every frame's
    alpha to the nearest 10-bit code of ours and the colour to the plate's."""
    h, w, n = 37, 53, 4
    rng = np.random.default_rng(3)
    ys, xs = np.mgrid[0:h, 0:w]
    alphas = [  # soft discs over a gradient: every 10-bit code between 0 and 1 is hit somewhere
        np.clip(
            (12 - np.hypot(xs - 20 - 3 * i, ys - 18)) / (6 + 3 * i) + 0.3 * xs / w + 0.01 * i,
            0.0,
            1.0,
        ).astype(np.float32)
        for i in range(n)
    ]
    alphas[0][:] = 0.0
    alphas[1][:] = 1.0
    rgbs = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]
    path = tmp_path / "shot_rgba.mov"
    with MovieWriter(path, "prores4444", w, h, 24000 / 1001, 1001) as movie:
        for rgb, a in zip(rgbs, alphas, strict=True):
            movie.write(rgb, a)
    info = probe(path)
    assert info["codec_name"] == "prores" and info["profile"] == "4444"
    assert info["pix_fmt"].startswith("yuva")
    assert (info["width"], info["height"]) == (w, h)
    assert info["r_frame_rate"] == "24000/1001" and int(info["nb_read_frames"]) == n
    assert info["tags"]["timecode"] == "00:00:41:17"
    decoded = decoded_alpha(path, w, h)
    assert decoded.shape == (n, h, w)
    for got, want in zip(decoded, alphas, strict=True):
        assert np.abs((got >> 6) / 1023.0 - want).max() <= 0.5 / 1023 + 1e-6
    rgb = decoded_rgb(path, w, h)
    for got, want in zip(rgb, rgbs, strict=True):  # 10-bit 4:4:4: a few 8-bit steps at most
        assert np.abs(got.astype(int) - want).mean() < 1.5


def test_h264_keeps_an_odd_size_and_the_pixel_aspect(tmp_path):
    h, w = 41, 63
    path = tmp_path / "review.mp4"
    with MovieWriter(path, "h264", w, h, 25, 1, pixel_aspect=2.0) as movie:
        for v in (0, 128, 255):
            movie.write(np.full((h, w, 3), v, np.uint8))
    info = probe(path)
    assert info["codec_name"] == "h264" and (info["width"], info["height"]) == (w, h)
    assert info["sample_aspect_ratio"] == "2:1" and int(info["nb_read_frames"]) == 3
    assert info["color_space"] == "bt709"
    grey = decoded_rgb(path, w, h).reshape(3, -1).mean(axis=1)
    np.testing.assert_allclose(grey, [0, 128, 255], atol=3)


def test_a_failed_render_leaves_no_movie(tmp_path):
    path = tmp_path / "shot_rgba.mov"
    path.write_bytes(b"the earlier movie")
    with pytest.raises(RuntimeError), MovieWriter(path, "prores4444", 16, 8, 24) as movie:
        movie.write(np.zeros((8, 16, 3), np.uint8), np.ones((8, 16)))
        raise RuntimeError("stopped")
    assert path.read_bytes() == b"the earlier movie"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot_rgba.mov"]
    with (
        pytest.raises(PlateError, match="16 RGB"),
        MovieWriter(tmp_path / "x.mp4", "h264", 16, 8, 24) as m,
    ):
        m.write(np.zeros((8, 15, 3), np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot_rgba.mov"]
    with pytest.raises(PlateError, match="h264, prores4444"):
        MovieWriter(tmp_path / "x.avi", "mjpeg", 16, 8, 24)


@pytest.mark.parametrize(("w", "h"), [(49, 36), (65, 37), (50, 48), (55, 48)])
def test_no_stray_samples_on_widths_where_the_fast_conversion_leaves_them(tmp_path, w, h):
    """FFmpeg's fast RGB(A)-to-Y'CbCr path left eight alpha samples at 512 on these sizes."""
    alpha = np.zeros((h, w), np.float32)
    alpha[:, -1] = np.linspace(0.0, 1.0, h)
    path = tmp_path / "a.mov"
    with MovieWriter(path, "prores4444", w, h, 24) as movie:
        movie.write(np.full((h, w, 3), 90, np.uint8), alpha)
    (got,) = decoded_alpha(path, w, h)
    np.testing.assert_array_equal(got >> 6, alpha_code(alpha) >> 6)
    (rgb,) = decoded_rgb(path, w, h)
    assert np.abs(rgb.astype(int) - 90).max() <= 2
