"""Pipeline-native JSON shapes: golden file, JSON Schema, lossless round trip and errors."""

from __future__ import annotations

import copy
import json

import jsonschema
import numpy as np
import pytest

import exporters
from exporters import shapes_json
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShotFormat
from tests.exporters.helpers import CANONICAL_FORMAT, GOLDEN, canonical_shape, davis_shape


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(shapes_json.SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _golden() -> str:
    return (GOLDEN / "canonical.json").read_text(encoding="utf-8")


def test_canonical_shape_matches_golden_file():
    assert shapes_json.write_to_string([canonical_shape()], CANONICAL_FORMAT) == _golden()


def test_file_and_string_paths_give_the_same_bytes(tmp_path):
    shapes = [canonical_shape()]
    path = exporters.write_to_file(shapes, CANONICAL_FORMAT, tmp_path / "sh010.shapes.json")
    assert path.read_bytes() == shapes_json.write_to_string(shapes, CANONICAL_FORMAT).encode()
    assert exporters.from_path(path) is shapes_json


def test_golden_and_real_outlines_validate_against_the_schema(validator, shared):
    validator.validate(json.loads(_golden()))
    fmt = ShotFormat(854, 480, 1.0, 25.0, 1001, 1050)
    doc = shapes_json.write_to_string([davis_shape("cows", [0, 20, 40])], fmt)
    validator.validate(json.loads(doc))
    validator.validate(json.loads(shapes_json.write_to_string([], fmt)))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("space",), "image-px-bottomleft-yup"),
        (("version",), 2),
        (("width",), 0),
        (("objects", 0, "closed"), False),
        (("objects", 0, "keys", 0, "frame"), 1001.5),
        (("objects", 0, "keys", 0, "points", 0, "v"), [960]),
        (("objects", 0, "keys", 0, "points"), []),
    ],
)
def test_schema_and_reader_both_refuse_invalid_documents(validator, path, value):
    doc = json.loads(_golden())
    node = doc
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    assert list(validator.iter_errors(doc))
    with pytest.raises(ExportError):
        shapes_json.read_from_string(json.dumps(doc))


def test_reader_refuses_what_the_schema_cannot_express(validator):
    doc = json.loads(_golden())
    doc["objects"][0]["keys"][1]["points"].pop()  # 4 points at 1001, 3 at 1010
    validator.validate(doc)
    with pytest.raises(ExportError, match="4 control points at frame 1001 but 3 at frame 1010"):
        shapes_json.read_from_string(json.dumps(doc))
    doc = json.loads(_golden())
    doc["objects"][0]["keys"].reverse()
    validator.validate(doc)
    with pytest.raises(ExportError, match="strictly increase, got 1010 then 1001"):
        shapes_json.read_from_string(json.dumps(doc))


def test_round_trip_is_exact(shared):
    fmt = ShotFormat(854, 480, 2.0, 23.976, 1001, 1040)
    want = [canonical_shape(), davis_shape("breakdance", [0, 7, 30], n=61)]
    want[1].name = 'dancer \u00e9 "1"'
    got_fmt, got = shapes_json.read_from_string(shapes_json.write_to_string(want, fmt))
    assert got_fmt == fmt
    assert [(s.object_id, s.name) for s in got] == [(s.object_id, s.name) for s in want]
    for g, w in zip(got, want, strict=True):
        assert [k.frame for k in g.keys] == [k.frame for k in w.keys]
        for gk, wk in zip(g.keys, w.keys, strict=True):
            assert gk.points.dtype == np.float64
            np.testing.assert_array_equal(gk.points, wk.points)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": "roto-shapes",\n "version": 1,,}', "line 2, column 15"),
        (_golden().replace('"roto-shapes"', '"lottie"'), "not a 'roto-shapes' document"),
        (_golden().replace('"version": 1', '"version": 2'), "version 2 .*known: 1"),
        (_golden().replace("[-110.45694996615869, 0]", "[NaN, 0]", 1), "non-finite number NaN"),
        (_golden().replace('"id": 1', '"id": true'), r"objects\[0\]\.id has the wrong type"),
        (_golden().replace('"frame": 1010,\n', ""), r"objects\[0\]\.keys\[1\] lacks 'frame'"),
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
    with pytest.raises(ExportError, match="takes no options; got indent"):
        shapes_json.write_to_string([canonical_shape()], CANONICAL_FORMAT, indent=4)
    with pytest.raises(ExportError, match="first_frame 1010 is after last_frame 1001"):
        shapes_json.write_to_string([], ShotFormat(10, 10, first_frame=1010, last_frame=1001))
    with pytest.raises(ExportError, match="no keys"):
        shapes_json.write_to_string([RotoShape(1, "empty")], CANONICAL_FORMAT)
