"""The plate reader on real footage (DAVIS frames, SAM 2 clips) and on plates written here."""

from __future__ import annotations

import hashlib
import inspect
import re
import tracemalloc
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import OpenImageIO as oiio
import pytest

from rotoflow.colour import to_display_uint8
from rotoflow.errors import PlateError
from rotoflow.plate import open_plate
from rotoflow.sequence import find_sequence, format_ranges
from tests.conftest import SHARED, davis_frames

BEDROOM = SHARED / "data" / "sam2" / "bedroom.mp4"


def _digest(rgb: np.ndarray) -> str:
    return hashlib.md5(np.ascontiguousarray(rgb).tobytes()).hexdigest()


def _write_image(path: Path, pixels: np.ndarray, fmt: str, **attributes) -> None:
    """Write ``(H, W, C)`` pixels with OpenImageIO; ``attributes`` go into the header."""
    h, w, c = pixels.shape
    spec = oiio.ImageSpec(w, h, c, fmt)
    for name, value in attributes.items():
        if isinstance(value, Fraction):
            spec.attribute(name, "rational", (value.numerator, value.denominator))
        else:
            spec.attribute(name, value)
    out = oiio.ImageOutput.create(str(path))
    assert out is not None and out.open(str(path), spec), oiio.geterror()
    assert out.write_image(pixels), out.geterror()
    out.close()


def _write_sequence(folder: Path, name: str, frames, fmt: str, h=12, w=16, c=3, **attributes):
    """Write frames whose pixels encode the frame number; returns {frame: pixels}."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    written = {}
    for frame in frames:
        pixels = rng.random((h, w, c), dtype=np.float32)
        pixels[0, 0, 0] = (frame % 100) / 100.0
        _write_image(folder / (name % frame), pixels, fmt, **attributes)
        written[frame] = pixels
    return written


def _write_movie(path: Path, codec: str, n: int, *, w=64, h=48, rate=24, pix="yuv420p", **opts):
    """A movie whose frame ``i`` (0-based) is a flat grey of level ``10 * i``."""
    container = av.open(str(path), "w", options=opts.pop("container_options", {}))
    stream = container.add_stream(codec, rate=rate, options=opts.pop("codec_options", {}))
    stream.width, stream.height, stream.pix_fmt = w, h, pix
    if "sar" in opts:
        stream.codec_context.sample_aspect_ratio = opts.pop("sar")
    for i in range(n):
        grey = np.full((h, w, 3), 10 * i % 256, np.uint8)
        frame = av.VideoFrame.from_ndarray(grey, format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


# --- real footage -------------------------------------------------------------------------------


def test_davis_folder_is_a_plate():
    folder = davis_frames("blackswan")
    with open_plate(folder) as plate:
        info = plate.info
        assert (info.width, info.height, info.first_frame, info.last_frame) == (854, 480, 0, 49)
        assert info.padding == 5 and info.kind == "sequence" and info.colourspace == "sRGB"
        assert info.path == str(folder / "%05d.jpg")
        expected = cv2.cvtColor(cv2.imread(str(folder / "00000.jpg")), cv2.COLOR_BGR2RGB)
        rgb = plate.read(0)
        assert rgb.dtype == np.uint8 and rgb.shape == (480, 854, 3)
        np.testing.assert_array_equal(rgb, expected)
        last = cv2.cvtColor(cv2.imread(str(folder / "00049.jpg")), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(plate.read(49), last)


@pytest.mark.parametrize("form", ["%05d.jpg", "#####.jpg", "@@@@@.jpg", "00017.jpg"])
def test_davis_pattern_and_member_forms(form):
    folder = davis_frames("blackswan")
    with open_plate(folder / form) as plate:
        assert plate.info.path == str(folder / "%05d.jpg")
        assert (plate.info.first_frame, plate.info.last_frame, plate.info.padding) == (0, 49, 5)


@pytest.fixture(scope="module")
def bedroom_truth() -> list[str]:
    """Digests of every frame of bedroom.mp4 decoded independently, in order, with OpenCV."""
    capture = cv2.VideoCapture(str(BEDROOM))
    digests = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        digests.append(_digest(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    capture.release()
    return digests


def test_movie_info(bedroom_truth):
    capture = cv2.VideoCapture(str(BEDROOM))
    width, height = capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    with open_plate(BEDROOM) as plate:
        info = plate.info
    assert (info.width, info.height) == (width, height)
    assert info.fps == pytest.approx(fps)
    assert (info.first_frame, info.n_frames) == (1, len(bedroom_truth))
    assert (info.kind, info.colourspace, info.pixel_aspect) == ("movie", "Rec.709", 1.0)
    with open_plate(BEDROOM, movie_first_frame=1001) as plate:
        assert plate.info.frame_range == range(1001, 1001 + len(bedroom_truth))
        assert _digest(plate.read(1001)) == bedroom_truth[0]


def test_movie_forward_backward_and_random_access_agree(bedroom_truth):
    with open_plate(BEDROOM) as plate:
        forward = [(f, _digest(rgb)) for f, rgb in plate.iter_frames()]
    assert forward == [(i + 1, d) for i, d in enumerate(bedroom_truth)]
    with open_plate(BEDROOM) as plate:
        frames = range(plate.info.last_frame, plate.info.first_frame - 1, -1)
        backward = [(f, _digest(rgb)) for f, rgb in plate.iter_frames(frames)]
    assert backward == forward[::-1]
    with open_plate(BEDROOM) as plate:
        for frame in (120, 5, 200, 1, 77, 78, 60, 61, 199):
            assert _digest(plate.read(frame)) == bedroom_truth[frame - 1], frame
        linear = plate.read_linear(60)
        assert linear.dtype == np.float32 and linear.shape == (540, 960, 3)
        # 16-bit and 8-bit conversions of the same decoded YUV differ by swscale's rounding only.
        assert np.abs(linear * 255.0 - plate.read(60)).max() <= 2.0


@pytest.mark.parametrize(
    ("name", "codec", "options"),
    [
        ("prores.mov", "prores_ks", {"pix": "yuv422p10le", "sar": Fraction(2, 1)}),
        ("bframes.mkv", "libx264", {"codec_options": {"bf": "2", "g": "8"}}),
        ("xvid.avi", "mpeg4", {}),
        ("mpeg2.mxf", "mpeg2video", {"w": 720, "h": 576, "rate": 25, "pix": "yuv422p"}),
        ("faststart.mp4", "libx264", {"container_options": {"movflags": "faststart"}}),
    ],
)
def test_movie_containers(tmp_path, name, codec, options):
    path = tmp_path / name
    _write_movie(path, codec, 24, **options)
    with open_plate(path, movie_first_frame=1001) as plate:
        info = plate.info
        assert (info.first_frame, info.last_frame) == (1001, 1024)
        assert info.fps == options.get("rate", 24)
        assert info.pixel_aspect == float(options.get("sar", 1))
        # Frame i (0-based) is a flat grey of 10 * i, so a frame's mean names its position.
        for frame in (1024, 1003, 1017, 1016, 1001, 1012):
            assert plate.read(frame).mean() == pytest.approx(10 * (frame - 1001), abs=2.5)
        backward = [round(rgb.mean() / 10) for _, rgb in plate.iter_frames(range(1024, 1000, -1))]
        assert backward == list(range(23, -1, -1))


def test_untagged_hd_movie_is_decoded_as_rec709(tmp_path):
    # Encoded with the BT.709 matrix and no colour tag, as many HD files are.
    path = tmp_path / "untagged_hd.avi"
    container = av.open(str(path), "w")
    stream = container.add_stream("mpeg4", rate=24)
    stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
    colour = np.array([200, 60, 40], np.uint8)
    rgb = np.broadcast_to(colour, (720, 1280, 3)).copy()
    yuv = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv420p", dst_colorspace=av.video.reformatter.Colorspace.ITU709
    )
    for packet in [*stream.encode(yuv), *stream.encode()]:
        container.mux(packet)
    container.close()
    with open_plate(path) as plate:
        decoded = plate.read(1)[360, 640].astype(int)
    assert np.abs(decoded - colour).max() <= 3


def test_truncated_mp4_is_refused(tmp_path):
    data = BEDROOM.read_bytes()
    half = tmp_path / "bedroom_half.mp4"
    half.write_bytes(data[: len(data) // 2])
    with pytest.raises(PlateError, match=r"bedroom_half\.mp4: .*(truncated|moov)") as error:
        open_plate(half)
    assert "\n" not in str(error.value)
    # A file with its index in front (faststart) opens but holds fewer frames than it declares.
    whole = tmp_path / "faststart.mp4"
    _write_movie(whole, "libx264", 48, container_options={"movflags": "faststart"})
    cut = tmp_path / "faststart_cut.mp4"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.7)])
    with pytest.raises(PlateError, match=r"faststart_cut\.mp4: truncated movie: .* 48 frames"):
        open_plate(cut)


@pytest.mark.parametrize("name", ["notes.mp4", "notes.txt"])
def test_not_a_video_is_refused(tmp_path, name):
    path = tmp_path / name
    path.write_text("not a movie\n")
    with pytest.raises(PlateError, match=re.escape(str(path))):
        open_plate(path)


# --- sequences written here ----------------------------------------------------------------------


@pytest.mark.parametrize("form", ["sh010.%04d.exr", "sh010.####.exr", "sh010.1005.exr", ""])
def test_exr_sequence_forms(tmp_path, form):
    written = _write_sequence(tmp_path / "plate", "sh010.%04d.exr", range(1001, 1011), "half")
    with open_plate(tmp_path / "plate" / form) as plate:
        info = plate.info
        assert info.path == str(tmp_path / "plate" / "sh010.%04d.exr")
        assert (info.first_frame, info.last_frame, info.padding) == (1001, 1010, 4)
        assert (info.width, info.height, info.colourspace, info.fps) == (16, 12, "scene_linear", 24)
        stored = written[1004].astype(np.float16).astype(np.float32)
        np.testing.assert_array_equal(plate.read_linear(1004), stored)


def test_exr_linear_to_display(tmp_path):
    ramp = np.linspace(-0.5, 2.0, 12 * 16 * 3, dtype=np.float32).reshape(12, 16, 3)
    _write_image(tmp_path / "lin.0001.exr", ramp, "float", FramesPerSecond=Fraction(25, 1))
    with open_plate(tmp_path / "lin.0001.exr") as plate:
        assert plate.info.fps == 25.0
        rgb = plate.read(1)
    # IEC 61966-2-1 encoding, written out here in float64 from the spec.
    x = np.clip(ramp.astype(np.float64), 0.0, 1.0)
    encoded = np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)
    expected = np.rint(encoded * 255.0)
    assert np.abs(rgb - expected).max() <= 1 and (rgb == expected).mean() > 0.99
    assert rgb[ramp <= 0].max() == 0 and rgb[ramp >= 1].min() == 255


def test_exr_plate_uses_the_ocio_config(tmp_path):
    _write_sequence(tmp_path, "cg.%04d.exr", [1], "half")
    with open_plate(tmp_path) as plain, open_plate(tmp_path, ocio_config="ocio://default") as aces:
        linear = aces.read_linear(1)
        np.testing.assert_array_equal(
            aces.read(1), to_display_uint8(linear, ocio_config="ocio://default")
        )
        np.testing.assert_array_equal(plain.read(1), to_display_uint8(linear))
        assert not np.array_equal(aces.read(1), plain.read(1))


@pytest.mark.parametrize(
    ("transfer", "colourspace"), [("Logarithmic", "Cineon"), ("Linear", "scene_linear")]
)
def test_dpx_transfer_from_the_header(tmp_path, transfer, colourspace):
    _write_sequence(tmp_path, "scan.%04d.dpx", [1, 2], "uint16", **{"dpx:Transfer": transfer})
    with open_plate(tmp_path) as plate:
        assert plate.info.colourspace == colourspace
        rgb, stored = plate.read(2), plate.read_linear(2)
    if colourspace == "scene_linear":
        np.testing.assert_array_equal(rgb, to_display_uint8(stored))
    else:  # used as stored
        np.testing.assert_array_equal(rgb, np.rint(stored * 255).astype(np.uint8))


def test_exr_data_window_inside_display_window(tmp_path):
    spec = oiio.ImageSpec(4, 3, 3, "half")
    spec.x, spec.y = 5, 2
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, 16, 12
    path = tmp_path / "cg.0001.exr"
    out = oiio.ImageOutput.create(str(path))
    out.open(str(path), spec)
    out.write_image(np.ones((3, 4, 3), np.float32))
    out.close()
    with open_plate(path) as plate:
        assert (plate.info.width, plate.info.height) == (16, 12)
        rgb = plate.read(1)
    assert rgb.shape == (12, 16, 3)
    assert (rgb[2:5, 5:9] == 255).all() and rgb.sum() == 255 * 3 * 4 * 3


@pytest.mark.parametrize(
    ("name", "fmt", "extra", "scale"),
    [
        ("scan.%07d.dpx", "uint16", {"oiio:BitsPerSample": 10}, 1023),
        ("scan.%04d.tif", "uint16", {}, 65535),
        ("scan.%d.png", "uint8", {}, 255),
    ],
)
def test_integer_sequences(tmp_path, name, fmt, extra, scale):
    frames = range(0, 12)
    written = _write_sequence(tmp_path, name, frames, fmt, PixelAspectRatio=2.0, **extra)
    with open_plate(tmp_path / (name % 3)) as plate:
        info = plate.info
        assert (info.first_frame, info.last_frame, info.pixel_aspect) == (0, 11, 2.0)
        assert info.colourspace == "sRGB" and info.path == str(tmp_path / name)
        # Compare with the values written, quantised to the file's code values (the DPX writer
        # truncates rather than rounds to 10 bits: allow one and a half codes there).
        codes = np.rint(written[7] * scale) / scale
        step = 1.5 / scale if scale == 1023 else 1e-6
        np.testing.assert_allclose(plate.read_linear(7), codes, atol=step)
        rgb = plate.read(7).astype(int)
        expected = np.rint(plate.read_linear(7) * 255)
        np.testing.assert_array_equal(rgb, expected)
        assert np.abs(rgb - written[7] * 255).max() <= 0.5 + 255 * step


def test_grey_and_rgba_become_rgb(tmp_path):
    grey = _write_sequence(tmp_path / "grey", "g.%04d.png", [1, 2], "uint8", c=1)
    rgba = _write_sequence(tmp_path / "rgba", "a.%04d.tif", [1, 2], "uint8", c=4)
    with open_plate(tmp_path / "grey") as plate:
        expected = np.rint(grey[2][..., 0] * 255).astype(np.uint8)
        rgb = plate.read(2)
        assert rgb.shape == (12, 16, 3)
        for c in range(3):
            np.testing.assert_array_equal(rgb[..., c], expected)
    with open_plate(tmp_path / "rgba") as plate:
        np.testing.assert_array_equal(
            plate.read(1), np.rint(rgba[1][..., :3] * 255).astype(np.uint8)
        )


def test_find_sequence_unpadded_and_wide_numbers(tmp_path):
    for frame in (8, 9, 10, 11):
        (tmp_path / f"a.{frame}.png").touch()
    for frame in (9998, 9999, 10000):
        (tmp_path / "b" / f"b_{frame:04d}.png").parent.mkdir(exist_ok=True)
        (tmp_path / "b" / f"b_{frame:04d}.png").touch()
    unpadded = find_sequence(tmp_path / "a.9.png")
    assert (unpadded.name, unpadded.first, unpadded.last) == ("a.%d.png", 8, 11)
    wide = find_sequence(tmp_path / "b")
    assert (wide.name, wide.first, wide.last, wide.padding) == ("b_%04d.png", 9998, 10000, 4)


def test_gaps_are_written_as_ranges():
    assert format_ranges([10, 1, 2, 3, 7, 9]) == "1-3, 7, 9-10"
    assert format_ranges(range(0, 60, 2), limit=3) == "0, 2, 4, and 27 more ranges"


# --- errors -------------------------------------------------------------------------------------


def test_missing_frames_are_named(tmp_path):
    frames = [*range(1001, 1005), *range(1008, 1011)]
    _write_sequence(tmp_path, "sh010.%04d.exr", frames, "half", h=2, w=2)
    expected = "sh010.%04d.exr: frames 1005-1007 missing (found 1001-1004, 1008-1010)"
    for form in ("sh010.%04d.exr", "sh010.1001.exr", ""):
        with pytest.raises(PlateError, match=re.escape(expected)):
            open_plate(tmp_path / form)


def test_folder_errors(tmp_path):
    with pytest.raises(PlateError, match="folder is empty"):
        open_plate(tmp_path)
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(PlateError, match="no numbered images"):
        open_plate(tmp_path)
    _write_sequence(tmp_path, "fg.%04d.png", [1, 2], "uint8", h=2, w=2)
    _write_sequence(tmp_path, "bg.%02d.png", [5, 6, 7], "uint8", h=2, w=2)
    with pytest.raises(
        PlateError, match=r"2 sequences: bg\.%02d\.png \(5-7\), fg\.%04d\.png \(1-2\)"
    ):
        open_plate(tmp_path)
    with open_plate(tmp_path / "bg.%02d.png") as plate:
        assert plate.info.frame_range == range(5, 8)


def test_nonexistent_paths(tmp_path):
    for path in (
        tmp_path / "nope.mov",
        tmp_path / "nope" / "sh.%04d.exr",
        tmp_path / "sh.####.exr",
    ):
        with pytest.raises(PlateError, match=re.escape(str(path))):
            open_plate(path)


def test_frame_outside_the_plate(tmp_path):
    _write_sequence(tmp_path, "sh.%04d.png", range(1001, 1004), "uint8", h=2, w=2)
    with open_plate(tmp_path) as plate, pytest.raises(PlateError, match=r"frame 1000 .*1001-1003"):
        plate.read(1000)
    with open_plate(BEDROOM) as plate, pytest.raises(PlateError, match=r"frame 201 .*\(1-200\)"):
        plate.read(201)


def test_corrupt_and_mismatched_frames(tmp_path):
    _write_sequence(tmp_path, "sh.%04d.exr", range(1, 5), "half")
    (tmp_path / "sh.0003.exr").write_bytes(b"\x76\x2f\x31\x01garbage")
    _write_sequence(tmp_path, "sh.%04d.exr", [4], "half", h=6)
    with open_plate(tmp_path) as plate:
        plate.read(2)
        with pytest.raises(PlateError, match=r"sh\.0003\.exr: frame 3 cannot be read"):
            plate.read(3)
        with pytest.raises(PlateError, match=r"sh\.0004\.exr: frame 4 is 16x6, the plate is 16x12"):
            plate.read(4)


def _damage_exr_header(path: Path) -> None:
    """Overwrite the type name of the ``channels`` attribute with bytes that are not UTF-8: the
    file is refused, and OpenImageIO's message quotes those bytes."""
    data = path.read_bytes()
    assert b"chlist" in data
    path.write_bytes(data.replace(b"chlist", b"\xff\xfelist", 1))


@pytest.mark.parametrize("which", [1, 3])
def test_damaged_exr_header_is_a_plate_error_naming_the_file(tmp_path, which):
    """The first frame (read at open time) or a later one: a PlateError naming the file, not a
    UnicodeDecodeError from OpenImageIO's error message."""
    _write_sequence(tmp_path, "sh.%04d.exr", range(1, 5), "half")
    _damage_exr_header(tmp_path / f"sh.{which:04d}.exr")
    with pytest.raises(PlateError) as info, open_plate(tmp_path) as plate:
        plate.read(which)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / f'sh.{which:04d}.exr'}: frame {which} cannot be read")
    assert "channels" in message and "\n" not in message


def test_no_openimageio_object_outlives_a_failed_read(tmp_path):
    """A traceback kept after a failure (Prefect keeps a failed task's exception) must hold no
    OpenImageIO object: its bindings print "nanobind: leaked" lines for each one at exit."""
    _write_sequence(tmp_path, "sh.%04d.exr", range(1, 4), "half")
    _write_sequence(tmp_path, "sh.%04d.exr", [2], "half", h=6)
    _damage_exr_header(tmp_path / "sh.0003.exr")
    with open_plate(tmp_path) as plate:
        for frame in (2, 3):
            with pytest.raises(PlateError) as info:
                plate.read(frame)
            tb, held = info.value.__traceback__, []
            while tb is not None:
                held += [
                    f"{tb.tb_frame.f_code.co_name}: {name}"
                    for name, value in tb.tb_frame.f_locals.items()
                    if type(value).__module__.startswith("OpenImageIO")
                ]
                tb = tb.tb_next
            assert held == [], held


# --- memory --------------------------------------------------------------------------------------


def test_frames_are_streamed():
    with open_plate(davis_frames("blackswan")) as plate:
        frames = plate.iter_frames()
        assert inspect.isgenerator(frames)
        frame_bytes = 480 * 854 * 3
        tracemalloc.start()
        try:
            count = sum(1 for _ in frames)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert count == 50
    assert peak < 3 * frame_bytes, f"peak {peak / frame_bytes:.1f} frames held"
