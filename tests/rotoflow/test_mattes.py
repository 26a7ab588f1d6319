"""Mask PNG and alpha EXR writers: bit depth, channels, headers, values and atomic writes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import pytest

from rotoflow import mattes
from rotoflow.errors import ExportError
from tests.conftest import davis_masks

HALF_ROUNDING = 2.0**-11  # half the spacing of half floats in [0.5, 1]


def _davis_mask(seq: str = "dog", idx: int = 0) -> np.ndarray:
    return cv2.imread(str(davis_masks(seq) / f"{idx:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127


def _soft_alpha(mask: np.ndarray) -> np.ndarray:
    """A soft matte from a real mask: its edge blurred over ~10 px, float32 in [0, 1]."""
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 3.0)


def test_mask_png_is_16_bit_single_channel_gray(tmp_path, shared):
    mask = _davis_mask()
    path = tmp_path / "dog" / mattes.output_name("dog", 1001, 4, "png")
    mattes.write_mask_png(path, mask)
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    assert (raw[24], raw[25]) == (16, 0)  # bit depth 16, colour type 0 (grayscale)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert image.dtype == np.uint16 and image.shape == mask.shape
    assert set(np.unique(image).tolist()) == {0, 65535}
    np.testing.assert_array_equal(mattes.read_mask_png(path), mask)
    assert [p.name for p in path.parent.iterdir()] == ["dog.1001.png"]


def test_float_mask_png_keeps_16_bit_levels(tmp_path, shared):
    alpha = _soft_alpha(_davis_mask("camel"))
    path = tmp_path / "camel.1001.png"
    mattes.write_mask_png(path, alpha)
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(image, np.round(alpha * 65535).astype(np.uint16))
    assert len(np.unique(image)) > 256  # more levels than 8 bits could hold
    np.testing.assert_array_equal(mattes.read_mask_png(path), image > 32767)


def test_read_mask_png_reads_davis_annotations(shared):
    path = davis_masks("blackswan") / "00000.png"
    mask = mattes.read_mask_png(path)
    assert mask.dtype == bool and mask.shape == (480, 854)
    np.testing.assert_array_equal(mask, cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) > 127)
    assert 0.01 < mask.mean() < 0.5


def test_alpha_exr_header_and_values(tmp_path, shared):
    alpha = _soft_alpha(_davis_mask("cows", 10))
    path = tmp_path / mattes.output_name("cows", 1010, 4, ".exr")
    mattes.write_alpha_exr(path, alpha, pixel_aspect=2.0)
    h, w = alpha.shape
    exr = OpenEXR.File(str(path), separate_channels=True)
    header = exr.header()
    assert [c.name for c in header["channels"]] == ["A"]
    assert header["compression"] == OpenEXR.ZIP_COMPRESSION
    assert header["pixelAspectRatio"] == 2.0
    for window in ("dataWindow", "displayWindow"):
        np.testing.assert_array_equal(np.array(header[window]), [[0, 0], [w - 1, h - 1]])
    channel = exr.channels()["A"]
    assert channel.type() == OpenEXR.HALF
    assert channel.pixels.dtype == np.float16 and channel.pixels.shape == (h, w)
    np.testing.assert_allclose(channel.pixels.astype(np.float32), alpha, rtol=0, atol=HALF_ROUNDING)
    back = mattes.read_alpha_exr(path)
    assert back.dtype == np.float32 and back.shape == (h, w)
    np.testing.assert_array_equal(back, channel.pixels.astype(np.float32))
    assert back.min() == 0.0 and back.max() == 1.0


def test_read_alpha_exr_places_a_cropped_data_window(tmp_path):
    crop = np.linspace(0.0, 1.0, 12, dtype=np.float32).reshape(3, 4)
    header = {
        "compression": OpenEXR.ZIP_COMPRESSION,
        "type": OpenEXR.scanlineimage,
        "displayWindow": ((0, 0), (9, 7)),
        "dataWindow": ((5, 2), (8, 4)),
    }
    path = tmp_path / "crop.exr"
    OpenEXR.File(header, {"A": crop}).write(str(path))
    back = mattes.read_alpha_exr(path)
    assert back.shape == (8, 10)
    np.testing.assert_array_equal(back[2:5, 5:9], crop)
    assert back.sum() == pytest.approx(crop.sum())


def test_read_alpha_exr_names_the_channels_when_a_is_missing(tmp_path):
    path = tmp_path / "rgb.exr"
    z = np.zeros((2, 2), np.float32)
    OpenEXR.File({"type": OpenEXR.scanlineimage}, {"R": z, "G": z}).write(str(path))
    with pytest.raises(ExportError, match="no channel 'A'; channels: (R, G|G, R)"):
        mattes.read_alpha_exr(path)


def _fail_midway(path: Path, *args, **kwargs) -> None:
    """A writer that dies after writing part of the file."""
    with open(path, "wb") as fh:
        fh.write(b"partial")
    raise OSError("disk full")


@pytest.mark.parametrize("kind", ["png", "exr"])
def test_interrupted_write_leaves_no_file_under_the_final_name(tmp_path, monkeypatch, kind):
    alpha = np.full((6, 9), 0.25, np.float32)
    target = tmp_path / f"obj.1001.{kind}"
    if kind == "exr":
        monkeypatch.setattr(mattes, "_write_exr", _fail_midway)
        write = mattes.write_alpha_exr
    else:
        monkeypatch.setattr(Path, "write_bytes", _fail_midway)
        write = mattes.write_mask_png
    with pytest.raises(OSError, match="disk full"):
        write(target, alpha)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "obj.1001.exr"
    mattes.write_alpha_exr(target, np.ones((4, 4), np.float32))
    before = target.read_bytes()
    monkeypatch.setattr(mattes, "_write_exr", _fail_midway)
    with pytest.raises(OSError):
        mattes.write_alpha_exr(target, np.zeros((4, 4), np.float32))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["obj.1001.exr"]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.full((4, 4), 1.5, np.float32), r"\[0, 1\], got \[1.5, 1.5\]"),
        (np.full((4, 4), np.nan, np.float32), "NaN"),
        (np.zeros((4, 4, 1), np.float32), r"\(H, W\) array, got shape \(4, 4, 1\)"),
        (np.zeros((4, 4), np.uint8), "bool or float"),
    ],
)
def test_invalid_mattes_are_refused(tmp_path, values, message):
    for write in (mattes.write_mask_png, mattes.write_alpha_exr):
        with pytest.raises(ExportError, match=message):
            write(tmp_path / "x.exr", values)
    assert list(tmp_path.iterdir()) == []


def test_float_noise_just_outside_the_unit_range_is_clipped(tmp_path):
    alpha = np.array([[-1e-6, 0.5], [1.0 + 1e-6, 1.0]], np.float32)
    mattes.write_alpha_exr(tmp_path / "a.exr", alpha)
    np.testing.assert_array_equal(mattes.read_alpha_exr(tmp_path / "a.exr"), [[0, 0.5], [1, 1]])


def test_output_names():
    assert mattes.output_name("obj1", 1001, 4, "png") == "obj1.1001.png"
    assert mattes.output_name("obj1", 7, 4, ".exr") == "obj1.0007.exr"
    assert mattes.output_name("obj1", 1001, 6, "png") == "obj1.001001.png"
    assert mattes.output_name("obj1", 123456, 4, "png") == "obj1.123456.png"
    assert mattes.output_name("red car/2", 1001, 4, "png") == "red_car_2.1001.png"
    with pytest.raises(ExportError, match="padding must be at least 1"):
        mattes.output_name("obj1", 1001, 0, "png")
    with pytest.raises(ExportError, match="object name"):
        mattes.output_name("  ", 1001, 4, "png")


@pytest.mark.parametrize("free, error", [(0, OSError), (2**30, ExportError)])
def test_failed_exr_write_on_a_full_disk_is_enospc(tmp_path, monkeypatch, free, error):
    """OpenImageIO reports a failed write without errno: with the disk (nearly) full it is raised
    as ENOSPC naming the file (the CLI says "no space left on device", exit 1), otherwise as an
    ExportError; no file is left under the final name either way."""
    import errno
    import shutil
    from types import SimpleNamespace

    real = mattes.oiio.ImageOutput.create

    class Failing:
        def __init__(self, out):
            self.out = out

        def open(self, *args):
            return self.out.open(*args)

        def write_image(self, pixels):
            return False

        def geterror(self):
            return "File output failed."

        def close(self):
            return self.out.close()

    output = SimpleNamespace(create=lambda fmt: Failing(real(fmt)))
    monkeypatch.setattr(
        mattes, "oiio", SimpleNamespace(**{**vars(mattes.oiio), "ImageOutput": output})
    )
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(free=free))
    target = tmp_path / "a.0001.exr"
    with pytest.raises(error) as info:
        mattes.write_alpha_exr(target, np.ones((4, 6), np.float32))
    if error is OSError:
        assert info.value.errno == errno.ENOSPC and str(tmp_path) in info.value.filename
    assert list(tmp_path.iterdir()) == []
