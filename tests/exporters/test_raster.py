"""Raster exporters: multi-channel EXR per frame and 16-bit PNG per object, read back by
OpenImageIO, the ``OpenEXR`` package and OpenCV."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import OpenEXR
import OpenImageIO as oiio
import pytest

from exporters import exr, png
from rotoflow.errors import ExportError
from rotoflow.types import ShotFormat
from tests.conftest import davis_masks

HALF_ROUNDING = 2.0**-11  # half the spacing of half floats in [0.5, 1]
FMT = ShotFormat(854, 480, pixel_aspect=1.0, fps=24.0, first_frame=1001, last_frame=1050)


def _davis_mask(seq: str, idx: int = 0) -> np.ndarray:
    return cv2.imread(str(davis_masks(seq) / f"{idx:05d}.png"), cv2.IMREAD_GRAYSCALE) > 127


def _soft_alpha(mask: np.ndarray) -> np.ndarray:
    """A soft matte from a real mask: its edge blurred over ~10 px, float32 in [0, 1]."""
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 3.0)


@pytest.fixture(scope="module")
def mattes(shared) -> dict[str, np.ndarray]:
    """Three real objects' mattes on one 854x480 frame: two soft alphas and one bool mask."""
    dog = _soft_alpha(_davis_mask("dog", 10))
    dog[dog < 1e-3] = 0.0  # a matte's far tail is zero, so the data window is the blur's reach
    return {"dog": dog, "blackswan": _davis_mask("blackswan", 0), "car shadow": np.zeros_like(dog)}


def _bbox(arrays) -> tuple[int, int, int, int]:
    """``(x, y, width, height)`` of the union of the arrays' nonzero pixels, by OpenCV."""
    union = np.logical_or.reduce([a > 0 for a in arrays]).astype(np.uint8)
    return cv2.boundingRect(cv2.findNonZero(union))


def _read_oiio(path: Path) -> tuple[oiio.ImageSpec, np.ndarray]:
    inp = oiio.ImageInput.open(str(path))
    assert inp is not None, oiio.geterror()
    try:
        spec = inp.spec()
        pixels = inp.read_image(0, 0, 0, spec.nchannels, "float")
    finally:
        inp.close()
    return spec, np.asarray(pixels).reshape(spec.height, spec.width, spec.nchannels)


def _in_frame(crop: np.ndarray, x: int, y: int) -> np.ndarray:
    full = np.zeros((FMT.height, FMT.width), np.float32)
    full[y : y + crop.shape[0], x : x + crop.shape[1]] = crop
    return full


def test_exr_reads_back_with_openimageio(tmp_path, mattes):
    path = exr.write_to_file(mattes, FMT, tmp_path / "shot" / "sh010.1001.exr")
    assert path == tmp_path / "shot" / "sh010.1001.exr"
    assert [p.name for p in path.parent.iterdir()] == ["sh010.1001.exr"]
    spec, pixels = _read_oiio(path)
    names = list(spec.channelnames)
    assert sorted(names) == ["blackswan.A", "car_shadow.A", "dog.A"]
    assert spec.format == oiio.TypeDesc("half")
    assert all(f == oiio.TypeDesc("half") for f in spec.channelformats) or not spec.channelformats
    assert spec.getattribute("compression") == "zip"
    assert (spec.full_x, spec.full_y, spec.full_width, spec.full_height) == (0, 0, 854, 480)
    x, y, w, h = _bbox(mattes.values())
    assert (spec.x, spec.y, spec.width, spec.height) == (x, y, w, h)
    assert (w, h) != (854, 480)  # cropped: the real objects do not cover the frame
    for name, want in mattes.items():
        got = _in_frame(pixels[..., names.index(exr.layer_names([name])[0] + ".A")], x, y)
        np.testing.assert_allclose(got, want.astype(np.float32), rtol=0, atol=HALF_ROUNDING)
    assert pixels[..., names.index("blackswan.A")].max() == 1.0


def test_exr_reads_back_with_the_openexr_package(tmp_path, mattes):
    fmt = ShotFormat(854, 480, pixel_aspect=2.0, first_frame=1001, last_frame=1001)
    path = exr.write_to_file(mattes, fmt, tmp_path / "ana.exr")
    exr_file = OpenEXR.File(str(path), separate_channels=True)
    header = exr_file.header()
    assert sorted(c.name for c in header["channels"]) == ["blackswan.A", "car_shadow.A", "dog.A"]
    assert header["compression"] == OpenEXR.ZIP_COMPRESSION
    assert header["pixelAspectRatio"] == 2.0
    assert header["lineOrder"] == OpenEXR.INCREASING_Y
    assert "capDate" not in header  # no time stamp: the same mattes give the same bytes
    x, y, w, h = _bbox(mattes.values())
    np.testing.assert_array_equal(np.array(header["dataWindow"]), [[x, y], [x + w - 1, y + h - 1]])
    np.testing.assert_array_equal(np.array(header["displayWindow"]), [[0, 0], [853, 479]])
    channels = exr_file.channels()
    for name, layer in (("dog", "dog"), ("blackswan", "blackswan"), ("car shadow", "car_shadow")):
        channel = channels[f"{layer}.A"]
        assert channel.type() == OpenEXR.HALF and channel.pixels.dtype == np.float16
        assert channel.pixels.shape == (h, w)
        got = _in_frame(channel.pixels.astype(np.float32), x, y)
        np.testing.assert_allclose(got, mattes[name], rtol=0, atol=HALF_ROUNDING)
    again = exr.write_to_file(mattes, fmt, tmp_path / "again.exr")
    assert again.read_bytes() == path.read_bytes()


def test_exr_data_window_is_the_union_bounding_box(tmp_path):
    fmt = ShotFormat(10, 8, first_frame=1, last_frame=1)
    a = np.zeros((8, 10), np.float32)
    a[2:4, 3:6] = 0.25
    b = np.zeros((8, 10), bool)
    b[5, 7] = True
    assert exr.data_window([a, b]) == (3, 2, 7, 5)
    assert exr.data_window([a]) == (3, 2, 5, 3)
    header = OpenEXR.File(str(exr.write_to_file([("a", a), ("b", b)], fmt, tmp_path / "w.exr")))
    np.testing.assert_array_equal(np.array(header.header()["dataWindow"]), [[3, 2], [7, 5]])
    empty = np.zeros((8, 10), np.float32)
    assert exr.data_window([empty]) == (0, 0, 0, 0)
    spec, pixels = _read_oiio(exr.write_to_file({"gone": empty}, fmt, tmp_path / "e.exr"))
    assert (spec.x, spec.y, spec.width, spec.height, spec.full_width) == (0, 0, 1, 1, 10)
    assert pixels.shape == (1, 1, 1) and pixels[0, 0, 0] == 0.0


def test_exr_layer_names_are_unique_identifiers(tmp_path):
    names = ["red car", "red_car", "1st", "a.b", " ", "élan", "red car"]
    assert exr.layer_names(names) == [
        "red_car",
        "red_car_2",
        "obj_1st",
        "a_b",
        "obj_",
        "obj__lan",
        "red_car_3",
    ]
    fmt = ShotFormat(6, 4, first_frame=1, last_frame=1)
    pairs = [(n, np.full((4, 6), i / 10, np.float32)) for i, n in enumerate(names)]
    spec, pixels = _read_oiio(exr.write_to_file(pairs, fmt, tmp_path / "n.exr"))
    got = dict(zip(spec.channelnames, pixels[0, 0], strict=True))
    for i, layer in enumerate(exr.layer_names(names)):
        assert got[f"{layer}.A"] == pytest.approx(i / 10, abs=HALF_ROUNDING)


def test_png_per_object_is_16_bit_single_channel(tmp_path, mattes):
    paths = png.write_to_file(mattes, FMT, tmp_path / "png", 1007)
    assert [p.name for p in paths] == ["dog.1007.png", "blackswan.1007.png", "car_shadow.1007.png"]
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == sorted(p.name for p in paths)
    for path, (name, want) in zip(paths, mattes.items(), strict=True):
        raw = path.read_bytes()
        assert raw[12:16] == b"IHDR" and (raw[24], raw[25]) == (16, 0)  # depth 16, gray
        spec, pixels = _read_oiio(path)
        assert (spec.nchannels, spec.format, spec.width, spec.height) == (
            1,
            oiio.TypeDesc("uint16"),
            854,
            480,
        )
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert image.dtype == np.uint16 and image.shape == (480, 854), name
        np.testing.assert_array_equal(image, np.round(want.astype(np.float32) * 65535))
        np.testing.assert_allclose(pixels[..., 0], image / 65535.0, rtol=0, atol=1e-6)
    swan = cv2.imread(str(paths[1]), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(swan).tolist()) == {0, 65535}
    assert len(np.unique(cv2.imread(str(paths[0]), cv2.IMREAD_UNCHANGED))) > 256


def test_png_and_exr_of_the_same_frame_agree(tmp_path, mattes):
    exr_path = exr.write_to_file(mattes, FMT, tmp_path / "f.1001.exr")
    png_paths = png.write_to_file(mattes, FMT, tmp_path, 1001)
    spec, pixels = _read_oiio(exr_path)
    for path, name in zip(png_paths, mattes, strict=True):
        channel = list(spec.channelnames).index(exr.layer_names([name])[0] + ".A")
        from_exr = _in_frame(pixels[..., channel], spec.x, spec.y)
        from_png = cv2.imread(str(path), cv2.IMREAD_UNCHANGED) / 65535.0
        np.testing.assert_allclose(from_exr, from_png, rtol=0, atol=HALF_ROUNDING + 2**-17)


def test_png_names_padding_and_repeated_objects(tmp_path):
    fmt = ShotFormat(6, 4, first_frame=1, last_frame=20)
    pairs = [("person", np.ones((4, 6), bool)), ("person", np.zeros((4, 6), bool))]
    pairs.append(("person/2", np.full((4, 6), 0.5, np.float32)))
    paths = png.write_to_file(pairs, fmt, tmp_path, 7, padding=6)
    assert [p.name for p in paths] == [
        "person.000007.png",
        "person_2.000007.png",
        "person_2_2.000007.png",
    ]
    assert cv2.imread(str(paths[0]), cv2.IMREAD_UNCHANGED).min() == 65535
    assert cv2.imread(str(paths[1]), cv2.IMREAD_UNCHANGED).max() == 0
    assert cv2.imread(str(paths[2]), cv2.IMREAD_UNCHANGED)[0, 0] == 32768  # round(0.5 * 65535)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (np.full((480, 854), 1.5, np.float32), r"'b'.*\[0, 1\], got \[1.5, 1.5\]"),
        (np.full((480, 854), np.nan, np.float32), "'b' has NaN"),
        (np.zeros((480, 854), np.uint8), "'b' must be bool or float"),
        (np.zeros((480, 854, 1), np.float32), r"'b' must be a non-empty \(H, W\) array"),
        (np.zeros((240, 427), np.float32), "'b' is 427x240, the shot is 854x480"),
    ],
)
def test_invalid_mattes_are_refused_and_nothing_is_written(tmp_path, values, message):
    frame = {"a": np.zeros((480, 854), np.float32), "b": values}
    with pytest.raises(ExportError, match=message):
        exr.write_to_file(frame, FMT, tmp_path / "x.exr")
    with pytest.raises(ExportError, match=message):
        png.write_to_file(frame, FMT, tmp_path, 1001)
    assert list(tmp_path.iterdir()) == []


def test_invalid_calls_are_refused(tmp_path):
    ok = {"a": np.zeros((480, 854), bool)}
    for empty in ({}, []):
        with pytest.raises(ExportError, match="no mattes"):
            exr.write_to_file(empty, FMT, tmp_path / "x.exr")
        with pytest.raises(ExportError, match="no mattes"):
            png.write_to_file(empty, FMT, tmp_path, 1001)
    with pytest.raises(ExportError, match="name -> array"):
        exr.write_to_file([np.zeros((480, 854), bool)], FMT, tmp_path / "x.exr")
    with pytest.raises(ExportError, match="outside the shot's frames 1001-1050"):
        png.write_to_file(ok, FMT, tmp_path, 1000)
    with pytest.raises(ExportError, match="whole plate frame"):
        png.write_to_file(ok, FMT, tmp_path, 1001.0)
    with pytest.raises(ExportError, match="padding must be at least 1"):
        png.write_to_file(ok, FMT, tmp_path, 1001, padding=0)
    with pytest.raises(ExportError, match="pixel_aspect must be a positive number"):
        exr.write_to_file(ok, ShotFormat(854, 480, pixel_aspect=-1.0), tmp_path / "x.exr")
    assert list(tmp_path.iterdir()) == []


def _fail_midway(path: Path, *args, **kwargs) -> None:
    """A writer that dies after writing part of the file."""
    with open(path, "wb") as fh:
        fh.write(b"partial")
    raise OSError("disk full")


def test_interrupted_exr_write_keeps_the_previous_file_and_leaves_no_other(tmp_path, monkeypatch):
    target = tmp_path / "sh010.1001.exr"
    exr.write_to_file({"a": np.ones((480, 854), np.float32)}, FMT, target)
    before = target.read_bytes()
    monkeypatch.setattr(exr, "_write", _fail_midway)
    with pytest.raises(OSError, match="disk full"):
        exr.write_to_file({"a": np.zeros((480, 854), np.float32)}, FMT, target)
    with pytest.raises(OSError, match="disk full"):
        exr.write_to_file({"a": np.zeros((480, 854), np.float32)}, FMT, tmp_path / "new.exr")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["sh010.1001.exr"]
