"""SVG exporter: golden frames, interpolation, parsed control points, two renderers, files, errors.

Renders (cairosvg, resvg) are compared with :func:`rotoflow.geometry.rasterize_shapes` of each
object: the non-zero winding fill of its contours alive on that frame.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import cairosvg
import cv2
import numpy as np
import pytest
import resvg_py
import svgpathtools

from exporters import svg
from rotoflow.errors import ExportError
from rotoflow.geometry import iou, rasterize_shape, rasterize_shapes, shape_at
from rotoflow.types import RotoShape, ShapeKey, ShotFormat
from tests.conftest import SHARED
from tests.exporters.helpers import (
    CANONICAL_FORMAT,
    GOLDEN,
    canonical_shape,
    circle_key,
    davis_shape,
    donut_object,
)

NS = "{http://www.w3.org/2000/svg}"
#: Rendered vs our raster; stricter than the brief's 0.99 so that a half-pixel offset fails.
MIN_IOU = 0.995
DAVIS_FORMAT = ShotFormat(854, 480, pixel_aspect=1.0, fps=24.0, first_frame=1001, last_frame=1030)


@pytest.fixture(scope="module")
def davis_shapes() -> list[RotoShape]:
    """Real outlines: three DAVIS objects keyed 10 frames apart. Cows lives to the end of the shot
    (its last key, 1011, held); dog lives from its first key to its last (1006..1026)."""
    shapes = [
        davis_shape("camel", [0, 10, 20]),
        davis_shape("cows", [0, 10], n=64),
        davis_shape("dog", [5, 15, 25], n=40),
    ]
    for object_id, shape in enumerate(shapes, 7):
        shape.object_id = object_id  # three objects (the helper gives each the id 7)
    shapes[1].lifetime = (1001, 1030)
    return shapes


def _paths(text: str) -> dict[str, ET.Element]:
    root = ET.fromstring(text.encode("utf-8"))
    assert root.tag == f"{NS}svg"
    return {p.get("id"): p for p in root.iter(f"{NS}path")}


def _control_points(d: str) -> np.ndarray:
    """``(N, 4, 2)`` cubic control points parsed by svgpathtools (an independent parser)."""
    (points,) = _subpaths(d)
    return points


def _subpaths(d: str) -> list[np.ndarray]:
    """``(N, 4, 2)`` cubic control points of each closed subpath, parsed by svgpathtools."""
    out = []
    for path in svgpathtools.parse_path(d).continuous_subpaths():
        assert path.isclosed()
        cubics = [seg for seg in path if isinstance(seg, svgpathtools.CubicBezier)]
        assert all(seg.length() < 1e-9 for seg in path if seg not in cubics)  # Z's empty close
        out.append(np.array([[[p.real, p.imag] for p in seg.bpoints()] for seg in cubics]))
    return out


def _expected_control_points(points: np.ndarray) -> np.ndarray:
    """``(N, 4, 2)`` segment control points ``v_i, v_i+out_i, v_i+1 + in_i+1, v_i+1`` of a key."""
    v, v1 = points[:, 0], np.roll(points[:, 0], -1, axis=0)
    return np.stack([v, v + points[:, 2], v1 + np.roll(points[:, 1], -1, axis=0), v1], axis=1)


def _coverage(png: bytes) -> np.ndarray:
    """A renderer's PNG output as a mask: alpha above one half (a covered pixel centre)."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.ndim == 3 and image.shape[2] == 4
    return image[..., 3] > 127


def _renders(text: str) -> dict[str, np.ndarray]:
    return {
        "cairosvg": _coverage(cairosvg.svg2png(bytestring=text.encode("utf-8"))),
        "resvg": _coverage(bytes(resvg_py.svg_to_bytes(svg_string=text))),
    }


@pytest.mark.parametrize("frame", [1001, 1005, 1010])
def test_canonical_frames_match_golden_files(frame):
    text = svg.write_frame([canonical_shape()], CANONICAL_FORMAT, frame)
    assert text == (GOLDEN / f"canonical.{frame}.svg").read_text(encoding="utf-8")


def test_canonical_path_matches_the_reference_path():
    reference = re.search(
        r"`(M 960 340 C [^`]*Z)`",
        (SHARED / "references" / "formats.md").read_text(encoding="utf-8"),
    )
    want = _control_points(reference.group(1))  # written with 6 significant digits
    (path,) = _paths(svg.write_frame([canonical_shape()], CANONICAL_FORMAT, 1001)).values()
    got = _control_points(path.get("d"))
    assert got.shape == (4, 4, 2)
    np.testing.assert_allclose(got, want, rtol=0, atol=5e-3)
    assert path.get("fill") == "#fff" and path.get("fill-rule") == "nonzero"


def test_document_size_and_view_box():
    root = ET.fromstring(svg.write_frame([canonical_shape()], CANONICAL_FORMAT, 1001))
    assert (root.get("width"), root.get("height")) == ("1920", "1080")
    assert root.get("viewBox") == "0 0 1920 1080"
    anamorphic = ShotFormat(1920, 1080, pixel_aspect=1.5, first_frame=1001, last_frame=1010)
    root = ET.fromstring(svg.write_frame([canonical_shape()], anamorphic, 1001))
    assert (root.get("width"), root.get("height")) == ("2880", "1080")
    assert root.get("viewBox") == "0 0 1920 1080"
    assert root.get("preserveAspectRatio") == "none"


def test_points_at_interpolates_linearly_between_keys_and_is_none_outside_the_lifetime():
    shape = canonical_shape()
    k0, k1 = (key.points for key in shape.keys)
    np.testing.assert_array_equal(svg.points_at(shape, 1001), k0)
    np.testing.assert_array_equal(svg.points_at(shape, 1010), k1)
    assert svg.points_at(shape, 1000) is None  # no lifetime: alive from the first key to the last
    assert svg.points_at(shape, 1010.5) is None
    s = 4 / 9  # frame 1005: the centre and radius move linearly, so it is the circle between
    want = circle_key(1005, 960 + 40 * s, 540.0, 200 + 20 * s).points
    np.testing.assert_allclose(svg.points_at(shape, 1005), want, rtol=0, atol=1e-9)
    np.testing.assert_allclose(svg.points_at(shape, 1005.5), (k0 + k1) / 2, rtol=0, atol=1e-9)
    held = svg.points_at(shape, 1001)
    held[:] = 0  # a new array: the key is untouched
    assert shape.keys[0].points[0, 0, 0] == 960.0
    shape.lifetime = (1000, 1011)  # keys may lie one frame inside it: held out to its ends
    np.testing.assert_array_equal(svg.points_at(shape, 1000), k0)
    np.testing.assert_array_equal(svg.points_at(shape, 1011), k1)
    assert svg.points_at(shape, 999) is None and svg.points_at(shape, 1012) is None
    island = donut_object()[2]  # collapsed key at 1003, lifetime from 1004
    assert svg.points_at(island, 1003) is None
    np.testing.assert_array_equal(svg.points_at(island, 1004), island.keys[1].points)
    for frame in (1001.0, 1003.5, 1004, 1008.25):
        got, want = svg.points_at(island, frame), shape_at(island, frame)
        assert (got is None and want is None) or np.array_equal(got, want), frame
    with pytest.raises(ExportError, match="frame must be finite"):
        svg.points_at(island, float("nan"))


def test_points_at_uses_the_two_keys_around_the_frame(davis_shapes):
    camel = davis_shapes[0]  # keys 1001, 1011, 1021
    k = [key.points for key in camel.keys]
    np.testing.assert_allclose(svg.points_at(camel, 1016), (k[1] + k[2]) / 2, atol=1e-9)
    np.testing.assert_allclose(svg.points_at(camel, 1003), 0.8 * k[0] + 0.2 * k[1], atol=1e-9)
    with pytest.raises(ExportError, match="no keys"):
        svg.points_at(RotoShape(1, "empty", []), 1001)


@pytest.mark.parametrize(
    ("frame", "alive"),
    [
        (1001, ["camel", "cows"]),  # dog's first key is 1006
        (1006, ["camel", "cows", "dog"]),
        (1011, ["camel", "cows", "dog"]),
        (1019, ["camel", "cows", "dog"]),
        (1030, ["cows"]),  # camel ends at 1021 and dog at 1026; cows is held to its lifetime
    ],
)
def test_parsed_control_points_match_the_model_on_real_outlines(davis_shapes, frame, alive):
    paths = _paths(svg.write_frame(davis_shapes, DAVIS_FORMAT, frame))
    assert list(paths) == alive
    for shape in davis_shapes:
        if shape.name not in alive:
            assert svg.points_at(shape, frame) is None
            continue
        path = paths[shape.name]
        assert path.get("data-object-id") == str(shape.object_id)
        assert path.get("data-name") == shape.name
        want = _expected_control_points(svg.points_at(shape, frame))
        got = _control_points(path.get("d"))
        assert got.shape == (shape.n_points, 4, 2)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-3)


@pytest.mark.parametrize("frame", [1001, 1006, 1021])
def test_two_renderers_agree_with_our_raster_on_real_outlines(davis_shapes, frame):
    w, h = DAVIS_FORMAT.width, DAVIS_FORMAT.height
    alive = [s for s in davis_shapes if svg.points_at(s, frame) is not None]
    ours = [rasterize_shape(svg.points_at(s, frame), w, h) for s in alive]
    for shape, mask in zip(alive, ours, strict=True):
        shifted = svg.points_at(shape, frame)
        shifted[:, 0] += 0.5  # the half-pixel error of docs/formats.md 7.1
        off = rasterize_shape(shifted, w, h)
        for renderer, got in _renders(svg.write_frame([shape], DAVIS_FORMAT, frame)).items():
            assert got.shape == (h, w)
            assert iou(got, mask) > MIN_IOU, (renderer, shape.name)
            assert iou(got, off) < MIN_IOU, (renderer, shape.name)  # the check would see it
    union = np.logical_or.reduce(ours)
    for renderer, got in _renders(svg.write_frame(davis_shapes, DAVIS_FORMAT, frame)).items():
        assert iou(got, union) > MIN_IOU, renderer


@pytest.mark.parametrize("frame", [1003, 1004, 1007])
def test_donut_frames_match_golden_files(frame):
    text = svg.write_frame(donut_object(), CANONICAL_FORMAT, frame)
    assert text == (GOLDEN / f"donut.{frame}.svg").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("frame", "alive"), [(1001, 2), (1003, 2), (1004, 3), (1007, 3), (1010, 3)]
)
def test_donut_is_one_path_of_the_contours_alive_on_the_frame(frame, alive):
    shapes = donut_object()
    (path,) = _paths(svg.write_frame(shapes, CANONICAL_FORMAT, frame)).values()
    assert (path.get("id"), path.get("data-name"), path.get("data-object-id")) == (
        "donut",
        "donut",
        "2",
    )
    assert path.get("fill") == "#fff" and path.get("fill-rule") == "nonzero"
    subpaths = _subpaths(path.get("d"))
    assert len(subpaths) == alive  # the island (contour 2) lives from 1004: left out before
    for got, shape in zip(subpaths, shapes[:alive], strict=True):
        want = _expected_control_points(shape_at(shape, frame))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-3)


@pytest.mark.parametrize("frame", [1003, 1004, 1007])
def test_two_renderers_fill_the_donut_by_non_zero_winding(frame):
    """1003: island hidden (its collapsed key); 1004: its first key; 1007: between keys."""
    shapes, (w, h) = donut_object(), (CANONICAL_FORMAT.width, CANONICAL_FORMAT.height)
    want = rasterize_shapes(shapes, frame, w, h)
    # separate paths (or a union) would fill the hole: the comparison must tell them apart
    alive = [p for p in (shape_at(s, frame) for s in shapes) if p is not None]
    union = np.logical_or.reduce([rasterize_shape(p, w, h) for p in alive])
    assert iou(want, union) < 0.9
    for renderer, got in _renders(svg.write_frame(shapes, CANONICAL_FORMAT, frame)).items():
        assert got.shape == (h, w), renderer
        assert iou(got, want) > MIN_IOU, renderer
        assert not got[450, 973], renderer  # inside the hole, outside the island
        assert got[540, 973] == (frame >= 1004), renderer  # the island's centre


def test_write_shot_writes_every_frame_interpolating_between_sparse_keys(tmp_path):
    shapes = donut_object()
    folder = svg.write_shot(shapes, CANONICAL_FORMAT, tmp_path, "sh010")
    assert folder == tmp_path / "sh010.svg"
    files = sorted(folder.iterdir())
    assert [p.name for p in files] == [f"sh010.{f}.svg" for f in range(1001, 1011)]
    for frame, path in zip(range(1001, 1011), files, strict=True):
        assert path.read_text(encoding="utf-8") == svg.write_frame(shapes, CANONICAL_FORMAT, frame)
    # 1007 lies between the keys of every contour (1001/1004 and 1010)
    assert (folder / "sh010.1007.svg").read_bytes() == (GOLDEN / "donut.1007.svg").read_bytes()


def test_ids_stay_the_same_on_frames_where_an_object_is_absent():
    brief = RotoShape(
        1, "a", [circle_key(1004, 300.0, 200.0, 50.0), circle_key(1006, 300, 200, 60)]
    )
    shapes = [brief, canonical_shape(name="a", object_id=2)]
    ids = {
        f: list(_paths(svg.write_frame(shapes, CANONICAL_FORMAT, f))) for f in (1001, 1005, 1008)
    }
    assert ids == {1001: ["a_2"], 1005: ["a", "a_2"], 1008: ["a_2"]}
    empty = ET.fromstring(svg.write_frame([brief], CANONICAL_FORMAT, 1001))
    assert empty.get("data-frame") == "1001" and list(empty) == []  # no object alive: no path
    for renderer, got in _renders(svg.write_frame([brief], CANONICAL_FORMAT, 1001)).items():
        assert not got.any(), renderer


def test_renderers_stretch_an_anamorphic_frame_to_its_display_aspect(davis_shapes):
    fmt = ShotFormat(854, 480, pixel_aspect=2.0, first_frame=1001, last_frame=1030)
    shape = davis_shapes[1]
    points = svg.points_at(shape, 1004)
    points[..., 0] *= 2.0  # display pixels: x scaled by the pixel aspect
    ours = rasterize_shape(points, 1708, 480)
    for renderer, got in _renders(svg.write_frame([shape], fmt, 1004)).items():
        assert got.shape == (480, 1708), renderer
        assert iou(got, ours) > MIN_IOU, renderer


def test_write_to_string_defaults_to_the_earliest_key_frame():
    late = RotoShape(2, "late", [circle_key(1004, 300.0, 200.0, 50.0)])
    shapes = [late, canonical_shape()]
    text = svg.write_to_string(shapes, CANONICAL_FORMAT)
    assert 'data-frame="1001"' in text
    assert text == svg.write_frame(shapes, CANONICAL_FORMAT, 1001)
    assert svg.write_to_string(shapes, CANONICAL_FORMAT, 1007) == svg.write_frame(
        shapes, CANONICAL_FORMAT, 1007
    )
    island = donut_object()[2]  # first key (collapsed) at 1003, alive from 1004
    assert 'data-frame="1004"' in svg.write_to_string([island], CANONICAL_FORMAT)


@pytest.mark.parametrize("pattern", ["roto/canonical.####.svg", "roto/canonical.%04d.svg"])
def test_write_to_file_writes_one_file_per_frame(tmp_path, pattern):
    shapes = [canonical_shape()]
    paths = svg.write_to_file(shapes, CANONICAL_FORMAT, tmp_path / pattern)
    names = [f"canonical.{f}.svg" for f in range(1001, 1011)]
    assert [p.name for p in paths] == names
    assert sorted(p.name for p in (tmp_path / "roto").iterdir()) == names  # no temporary files
    for frame, path in zip(range(1001, 1011), paths, strict=True):
        assert path.read_text(encoding="utf-8") == svg.write_frame(shapes, CANONICAL_FORMAT, frame)
    assert paths[0].read_bytes() == (GOLDEN / "canonical.1001.svg").read_bytes()
    some = svg.write_to_file(shapes, CANONICAL_FORMAT, tmp_path / "b.%d.svg", frames=[1010, 1002])
    assert [p.name for p in some] == ["b.1010.svg", "b.1002.svg"]


def test_frame_path_patterns():
    assert svg.frame_path("a/sh010.####.svg", 1001).as_posix() == "a/sh010.1001.svg"
    assert svg.frame_path("sh010.######.svg", 1001).name == "sh010.001001.svg"
    assert svg.frame_path("sh010.%04d.svg", 7).name == "sh010.0007.svg"
    assert svg.frame_path("sh010.%d.svg", 7).name == "sh010.7.svg"
    assert svg.frame_path("sh010_#.svg", 123456).name == "sh010_123456.svg"
    for bad, found in (("sh010.svg", 0), ("sh###.####.svg", 2), ("a.%04d.%d.svg", 2)):
        with pytest.raises(ExportError, match=f"exactly one frame placeholder.*found {found}"):
            svg.frame_path(bad, 1001)


def test_names_become_unique_ids_and_keep_the_original_name():
    names = ["my shape", "my_shape", "1st", 'a<b & "c"', ""]
    shapes = [canonical_shape(name=n, object_id=i) for i, n in enumerate(names, 1)]
    paths = _paths(svg.write_frame(shapes, CANONICAL_FORMAT, 1003))
    assert list(paths) == ["my_shape", "my_shape_2", "_1st", "a_b____c_", "Shape"]
    assert [p.get("data-name") for p in paths.values()] == names
    assert [p.get("data-object-id") for p in paths.values()] == ["1", "2", "3", "4", "5"]


@pytest.mark.parametrize(
    ("shapes", "message"),
    [
        ([], "no shapes"),
        ([RotoShape(1, "bad", [])], "no keys"),
        (
            [RotoShape(1, "bad", [circle_key(1010, 0, 0, 5), circle_key(1001, 0, 0, 5)])],
            "strictly increase",
        ),
        ([RotoShape(1, "bad", [ShapeKey(1001, np.full((4, 3, 2), np.inf))])], "non-finite"),
        (
            [RotoShape(1, "bad", [circle_key(1001, 0, 0, 5), ShapeKey(1005, np.zeros((3, 3, 2)))])],
            "4 control points at frame 1001 but 3 at frame 1005",
        ),
    ],
)
def test_invalid_shapes_are_refused_and_write_nothing(tmp_path, shapes, message):
    with pytest.raises(ExportError, match=message):
        svg.write_frame(shapes, CANONICAL_FORMAT, 1001)
    with pytest.raises(ExportError, match=message):
        svg.write_to_string(shapes, CANONICAL_FORMAT)
    with pytest.raises(ExportError, match=message):
        svg.write_to_file(shapes, CANONICAL_FORMAT, tmp_path / "x.####.svg")
    assert list(tmp_path.iterdir()) == []


def test_invalid_frames_options_and_patterns_are_refused(tmp_path):
    shapes = [canonical_shape()]
    for frame, message in ((1000, "outside the shot's frames 1001-1010"), (1001.5, "whole")):
        with pytest.raises(ExportError, match=message):
            svg.write_frame(shapes, CANONICAL_FORMAT, frame)
    with pytest.raises(ExportError, match="whole"):
        svg.write_frame(shapes, CANONICAL_FORMAT, True)
    with pytest.raises(ExportError, match="takes no options; got colour"):
        svg.write_frame(shapes, CANONICAL_FORMAT, 1001, colour="red")
    with pytest.raises(ExportError, match="outside the shot's frames"):
        svg.write_to_file(shapes, CANONICAL_FORMAT, tmp_path / "x.####.svg", frames=[1001, 1011])
    with pytest.raises(ExportError, match="frame placeholder"):
        svg.write_to_file(shapes, CANONICAL_FORMAT, tmp_path / "x.svg")
    with pytest.raises(ExportError, match="fps must be a positive number"):
        svg.write_frame(shapes, ShotFormat(1920, 1080, fps=0.0, first_frame=1001), 1001)
    assert list(tmp_path.iterdir()) == []
