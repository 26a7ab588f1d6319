"""Pipeline-native JSON shapes: golden files, JSON Schema, lossless round trip, version 1 documents
(the shape checks every exporter shares are tested in ``test_checks.py``)."""

from __future__ import annotations

import copy
import json

import jsonschema
import numpy as np
import pytest

import exporters
from exporters import shapes_json
from rotoflow.errors import ExportError
from rotoflow.geometry import iou, rasterize_shapes
from rotoflow.types import RotoShape, ShotFormat
from tests.exporters.helpers import (
    CANONICAL_FORMAT,
    GOLDEN,
    canonical_shape,
    davis_shape,
    donut_object,
)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(shapes_json.SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _golden(name: str = "canonical") -> str:
    return (GOLDEN / f"{name}.json").read_text(encoding="utf-8")


def _as_version_1(doc: dict) -> dict:
    """A version 2 document of single-contour objects rewritten as version 1."""
    v1 = copy.deepcopy(doc)
    v1["version"] = 1
    v1["objects"] = [
        {"id": o["id"], "name": o["name"], "closed": True, "keys": o["contours"][0]["keys"]}
        for o in doc["objects"]
    ]
    return v1


def _fields(shape: RotoShape) -> tuple:
    return (
        shape.object_id,
        shape.name,
        shape.contour,
        shape.hole,
        shape.feather,
        shape.lifetime,
        [k.frame for k in shape.keys],
    )


def assert_same_shapes(got: list[RotoShape], want: list[RotoShape]) -> None:
    """Every field equal, points bit-exact ``float64``."""
    assert [_fields(s) for s in got] == [_fields(s) for s in want]
    for g, w in zip(got, want, strict=True):
        assert type(g.hole) is bool and type(g.feather) is float
        for gk, wk in zip(g.keys, w.keys, strict=True):
            assert gk.points.dtype == np.float64
            np.testing.assert_array_equal(gk.points, wk.points)


# --- golden files and schema -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("golden", "shapes"), [("canonical", lambda: [canonical_shape()]), ("donut", donut_object)]
)
def test_shapes_match_golden_file(golden, shapes):
    assert shapes_json.write_to_string(shapes(), CANONICAL_FORMAT) == _golden(golden)


def test_donut_golden_has_one_object_of_three_contours_in_paint_order():
    doc = json.loads(_golden("donut"))
    assert doc["version"] == 2
    (obj,) = doc["objects"]
    assert (obj["id"], obj["name"]) == (2, "donut")
    got = [(c["contour"], c["hole"], c["feather"], c["lifetime"]) for c in obj["contours"]]
    assert got == [(0, False, 4, None), (1, True, 0, None), (2, False, 0, [1004, 1010])]
    assert [k["frame"] for k in obj["contours"][2]["keys"]] == [1003, 1004, 1010]


def test_file_and_string_paths_give_the_same_bytes(tmp_path):
    shapes = donut_object()
    path = exporters.write_to_file(shapes, CANONICAL_FORMAT, tmp_path / "sh010.shapes.json")
    assert path.read_bytes() == shapes_json.write_to_string(shapes, CANONICAL_FORMAT).encode()
    assert exporters.from_path(path) is shapes_json


def test_goldens_and_real_outlines_validate_against_the_schema(validator, shared):
    for name in ("canonical", "donut"):
        validator.validate(json.loads(_golden(name)))
    validator.validate(_as_version_1(json.loads(_golden("canonical"))))
    fmt = ShotFormat(854, 480, 1.0, 25.0, 1001, 1050)
    doc = shapes_json.write_to_string([davis_shape("cows", [0, 20, 40])], fmt)
    validator.validate(json.loads(doc))
    validator.validate(json.loads(shapes_json.write_to_string([], fmt)))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("space",), "image-px-bottomleft-yup"),
        (("version",), 3),
        (("width",), 0),
        (("objects", 0, "contours"), []),
        (("objects", 0, "contours", 0, "closed"), False),
        (("objects", 0, "contours", 0, "contour"), -1),
        (("objects", 0, "contours", 1, "hole"), "yes"),
        (("objects", 0, "contours", 0, "feather"), -0.5),
        (("objects", 0, "contours", 0, "band"), [[1.0]] * 4),
        (("objects", 0, "contours", 0, "band"), [[1.0, -1.0]] * 4),
        (("objects", 0, "contours", 0, "band"), "wide"),
        (("objects", 0, "contours", 2, "lifetime"), [1004]),
        (("objects", 0, "contours", 2, "lifetime"), [1004.5, 1010]),
        (("objects", 0, "contours", 0, "keys"), []),
        (("objects", 0, "contours", 0, "keys", 0, "frame"), 1001.5),
        (("objects", 0, "contours", 0, "keys", 0, "points", 0, "v"), [960]),
        (("objects", 0, "contours", 0, "keys", 0, "points"), []),
    ],
)
def test_schema_and_reader_both_refuse_invalid_documents(validator, path, value):
    doc = json.loads(_golden("donut"))
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    assert list(validator.iter_errors(doc))
    with pytest.raises(ExportError):
        shapes_json.read_from_string(json.dumps(doc))


@pytest.mark.parametrize("field", ["contour", "hole", "feather", "lifetime"])
def test_version_2_contours_need_every_field(validator, field):
    doc = json.loads(_golden("donut"))
    del doc["objects"][0]["contours"][1][field]
    assert list(validator.iter_errors(doc))
    with pytest.raises(ExportError, match=rf"objects\[0\]\.contours\[1\] lacks '{field}'"):
        shapes_json.read_from_string(json.dumps(doc))


def test_schema_keeps_the_versions_apart(validator):
    v2 = json.loads(_golden("canonical"))
    v1 = _as_version_1(v2)
    v1["version"], v2["version"] = 2, 1
    assert list(validator.iter_errors(v1)) and list(validator.iter_errors(v2))


def _edit(doc: dict, how: str) -> None:
    contours = doc["objects"][0]["contours"]
    if how == "point count":
        contours[0]["keys"][1]["points"].pop()
    elif how == "frame order":
        contours[0]["keys"].reverse()
    elif how == "lifetime order":
        contours[2]["lifetime"] = [1010, 1004]
    elif how == "outside lifetime":
        contours[2]["lifetime"] = [1005, 1010]
    elif how == "duplicate contour":
        contours[1]["contour"] = 0
    elif how == "duplicate object":
        doc["objects"].append(copy.deepcopy(doc["objects"][0]))
        doc["objects"][1]["contours"] = doc["objects"][1]["contours"][2:]
        doc["objects"][1]["contours"][0]["contour"] = 3


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("point count", "4 control points at frame 1001 but 3 at frame 1010"),
        ("frame order", "strictly increase, got 1010 then 1001"),
        ("lifetime order", "lifetime first frame 1010 is after last frame 1004"),
        ("outside lifetime", "key frame 1003 is outside lifetime 1005..1010"),
        ("duplicate contour", "object 2 has two shapes with contour 0"),
        ("duplicate object", r"objects\[1\]\.id 2 repeats objects\[0\]"),
    ],
)
def test_reader_refuses_what_the_schema_cannot_express(validator, how, message):
    doc = json.loads(_golden("donut"))
    _edit(doc, how)
    validator.validate(doc)
    with pytest.raises(ExportError, match=message):
        shapes_json.read_from_string(json.dumps(doc))


# --- round trips -------------------------------------------------------------------------------


def test_round_trip_is_exact(shared):
    fmt = ShotFormat(854, 480, 2.0, 23.976, 1001, 1040)
    dancer = davis_shape("breakdance", [0, 7, 30], n=61)
    dancer.name = 'dancer \u00e9 "1"'
    dancer.feather = 2.0 / 3.0
    dancer.lifetime = (1001, 1031)
    dancer.band = np.random.default_rng(5).uniform(0.0, 9.0, (61, 2))
    want = [*donut_object(), canonical_shape(), dancer]
    got_fmt, got = shapes_json.read_from_string(shapes_json.write_to_string(want, fmt))
    assert got_fmt == fmt
    assert_same_shapes(got, want)
    assert np.array_equal(got[-1].band, dancer.band) and got[0].band is None


def test_band_row_count_must_match_the_points():
    doc = json.loads(_golden("donut"))
    doc["objects"][0]["contours"][0]["band"] = [[1.0, 2.0]] * 3  # 4 control points
    with pytest.raises(ExportError, match="one row per control point"):
        shapes_json.read_from_string(json.dumps(doc))
    del doc["objects"][0]["contours"][0]["band"]  # optional: files from before it read
    assert shapes_json.read_from_string(json.dumps(doc))[1][0].band is None


def test_donut_reads_back_to_the_same_matte_on_every_frame():
    want = donut_object()
    fmt, got = shapes_json.read_from_string(shapes_json.write_to_string(want, CANONICAL_FORMAT))
    w, h = fmt.width, fmt.height
    for frame in range(fmt.first_frame, fmt.last_frame + 1):
        src = rasterize_shapes(want, frame, w, h)
        assert src.sum() > 100_000
        assert iou(rasterize_shapes(got, frame, w, h), src) >= 0.99, frame
    assert [(s.hole, s.feather) for s in got] == [(False, 4.0), (True, 0.0), (False, 0.0)]


def test_objects_are_grouped_in_order_of_first_appearance():
    a0, a1, a2 = donut_object("donut", 2)
    b = canonical_shape("ball", 5)
    text = shapes_json.write_to_string([a0, b, a1, a2], CANONICAL_FORMAT)
    assert [(o["id"], len(o["contours"])) for o in json.loads(text)["objects"]] == [(2, 3), (5, 1)]
    _, got = shapes_json.read_from_string(text)
    assert_same_shapes(got, [a0, a1, a2, b])


def test_version_1_documents_still_read():
    v1 = json.dumps(_as_version_1(json.loads(_golden("canonical"))))
    fmt, got = shapes_json.read_from_string(v1)
    assert fmt == CANONICAL_FORMAT
    assert_same_shapes(got, [canonical_shape()])
    assert (got[0].contour, got[0].hole, got[0].feather, got[0].lifetime) == (0, False, 0.0, None)
    text = """{"format": "roto-shapes", "version": 1, "width": 64, "height": 48,
      "pixel_aspect": 1, "fps": 25, "first_frame": 0, "last_frame": 3,
      "space": "image-px-topleft-ydown-pixelcorner",
      "objects": [
        {"id": 4, "name": "a", "closed": true, "keys": [{"frame": 2, "points": [
          {"v": [10, 5], "in": [0, 0], "out": [0, 0]}, {"v": [20.5, 5], "in": [0, 0],
           "out": [0, 0]}, {"v": [15, 15], "in": [1.25, 0], "out": [-1.25, 0]}]}]},
        {"id": 9, "name": "b", "closed": true, "keys": [{"frame": 0, "points": [
          {"v": [1, 1], "in": [0, 0], "out": [0, 0]}, {"v": [3, 1], "in": [0, 0], "out": [0, 0]},
          {"v": [2, 2], "in": [0, 0], "out": [0, 0]}]}]}]}"""
    fmt, (a, b) = shapes_json.read_from_string(text)
    assert (fmt.width, fmt.height, fmt.first_frame, fmt.last_frame) == (64, 48, 0, 3)
    assert [(s.object_id, s.name, s.contour, s.lifetime) for s in (a, b)] == [
        (4, "a", 0, None),
        (9, "b", 0, None),
    ]
    np.testing.assert_array_equal(a.keys[0].points[2], [[15, 15], [1.25, 0], [-1.25, 0]])
    # written back, it is a version 2 document of the same shapes
    again = shapes_json.read_from_string(shapes_json.write_to_string([a, b], fmt))[1]
    assert_same_shapes(again, [a, b])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "roto-shapes",\n "version": 2,,}', "line 2, column 15"),
        (_golden().replace('"roto-shapes"', '"lottie"'), "not a 'roto-shapes' document"),
        (_golden().replace('"version": 2', '"version": 3'), "version 3 .*known: 1, 2"),
        (_golden().replace("[-110.45694996615869, 0]", "[NaN, 0]", 1), "non-finite number NaN"),
        (_golden().replace('"id": 1', '"id": true'), r"objects\[0\]\.id has the wrong type"),
        (
            _golden().replace('"frame": 1010,\n', ""),
            r"objects\[0\]\.contours\[0\]\.keys\[1\] lacks 'frame'",
        ),
        (
            _golden("donut").replace('"hole": true', '"hole": 1'),
            r"objects\[0\]\.contours\[1\]\.hole has the wrong type",
        ),
        (
            _golden("donut").replace("[1004, 1010]", "[1004, 1010, 1011]"),
            r"objects\[0\]\.contours\[2\]\.lifetime must be null or \[first, last\]",
        ),
        (
            _golden("donut").replace('"feather": 4', '"feather": -4'),
            r"shape 'donut' \(object 2, contour 0\): feather -4.0 must be .* >= 0",
        ),
        ("[]", "document must be an object"),
    ],
)
def test_reader_errors_name_the_problem(text, message):
    with pytest.raises(ExportError, match=message):
        shapes_json.read_from_string(text)


def test_writer_refuses_invalid_shapes_and_options():
    bad = copy.deepcopy(canonical_shape())
    bad.keys[0].points[2, 1, 0] = np.inf
    with pytest.raises(ExportError, match="non-finite"):
        shapes_json.write_to_string([bad], CANONICAL_FORMAT)
    with pytest.raises(ExportError, match="takes only start_frame; got indent"):
        shapes_json.write_to_string([canonical_shape()], CANONICAL_FORMAT, indent=4)
    with pytest.raises(ExportError, match="first_frame 1010 is after last_frame 1001"):
        shapes_json.write_to_string([], ShotFormat(10, 10, first_frame=1010, last_frame=1001))
    with pytest.raises(ExportError, match="no keys"):
        shapes_json.write_to_string([RotoShape(1, "empty")], CANONICAL_FORMAT)
