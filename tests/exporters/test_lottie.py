"""Lottie JSON writer: golden files, spec structure, two independent renderers, names, errors
(the reader's round trips and refusals are in ``test_lottie_reader.py``).

Renders go through python-lottie (its SVG export rasterised by cairosvg) and Samsung's rlottie
(``rlottie_python``); each frame's alpha is compared with our own rasterisation of the model's
objects (:func:`rotoflow.geometry.rasterize_shapes`: non-zero winding of an object's contours,
interpolated between keys, honouring lifetimes) at that frame.
"""

from __future__ import annotations

import io
import json

import jsonschema
import numpy as np
import pytest
from lottie.exporters.cairo import export_png
from lottie.objects import Animation
from PIL import Image
from rlottie_python import LottieAnimation

import exporters
from exporters import lottie, shapes_json
from exporters.names import by_object, shape_names
from rotoflow.errors import ExportError
from rotoflow.geometry import iou, rasterize_shapes
from rotoflow.types import RotoShape, ShapeKey, ShotFormat
from tests.exporters.helpers import (
    CANONICAL_FORMAT,
    GOLDEN,
    canonical_shape,
    circle_key,
    davis_shape,
    donut_object,
)

DAVIS_FORMAT = ShotFormat(854, 480, pixel_aspect=1.0, fps=24.0, first_frame=1001, last_frame=1021)

#: The parts of the official Lottie JSON Schema (draft 2020-12, lottie.github.io/lottie-spec)
#: that cover what the exporter writes, transcribed from the spec's schema/ files:
#: composition/animation, composition/composition, layers/layer, layers/visual-layer,
#: layers/shape-layer, shapes/group, shapes/path, shapes/shape-style, shapes/fill,
#: shapes/transform, helpers/transform, properties/bezier-property, properties/bezier-keyframe,
#: properties/base-keyframe, properties/easing-handle, values/bezier, helpers/color. The full
#: schema is not available offline: python-lottie 0.7.2 ships none and lottie-specs (PyPI) or
#: @lottie-animation-community/lottie-specs (npm) is not installed.
_VEC = {"type": "array", "items": {"type": "number"}}
_STATIC = {"type": "object", "required": ["a", "k"], "properties": {"a": {"const": 0}}}
LOTTIE_SPEC_SUBSET = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$ref": "#/$defs/animation",
    "$defs": {
        "animation": {
            "type": "object",
            "required": ["w", "h", "fr", "op", "ip", "layers"],
            "properties": {
                "nm": {"type": "string"},
                "fr": {"type": "number", "exclusiveMinimum": 0},
                "ip": {"type": "number"},
                "op": {"type": "number"},
                "w": {"type": "integer", "minimum": 0},
                "h": {"type": "integer", "minimum": 0},
                "layers": {"type": "array", "items": {"$ref": "#/$defs/shape-layer"}},
                "meta": {"type": "object", "properties": {"g": {"type": "string"}}},
            },
        },
        "shape-layer": {
            "type": "object",
            "required": ["ty", "st", "ip", "op", "ks", "shapes"],
            "properties": {
                "nm": {"type": "string"},
                "ty": {"const": 4},
                "ind": {"type": "integer"},
                "ip": {"type": "number"},
                "op": {"type": "number"},
                "ks": {"$ref": "#/$defs/transform"},
                "ao": {"enum": [0, 1]},
                "bm": {"type": "integer", "minimum": 0, "maximum": 16},
                "shapes": {"type": "array", "items": {"$ref": "#/$defs/graphic-element"}},
            },
        },
        "transform": {
            "type": "object",
            "properties": {p: _STATIC for p in ("a", "p", "s", "r", "o", "sk", "sa")},
        },
        "graphic-element": {
            "type": "object",
            "required": ["ty"],
            "properties": {"nm": {"type": "string"}, "ty": {"enum": ["gr", "sh", "fl", "tr"]}},
            "allOf": [
                {"if": {"properties": {"ty": {"const": ty}}}, "then": {"$ref": f"#/$defs/{d}"}}
                for ty, d in (("gr", "group"), ("sh", "path"), ("fl", "fill"), ("tr", "transform"))
            ],
        },
        "group": {
            "properties": {
                "np": {"type": "number"},
                "it": {"type": "array", "items": {"$ref": "#/$defs/graphic-element"}},
            }
        },
        "path": {
            "required": ["ty", "ks"],
            "properties": {"ks": {"$ref": "#/$defs/bezier-property"}},
        },
        "fill": {
            "required": ["ty", "c", "o"],
            "properties": {
                "c": {
                    "type": "object",
                    "required": ["a", "k"],
                    "properties": {
                        "a": {"const": 0},
                        "k": {
                            "type": "array",
                            "items": {"type": "number", "minimum": 0, "maximum": 1},
                            "minItems": 3,
                            "maxItems": 4,
                        },
                    },
                },
                "o": _STATIC,
                "r": {"enum": [1, 2]},
            },
        },
        "bezier-property": {
            "type": "object",
            "required": ["a", "k"],
            "oneOf": [
                {"properties": {"a": {"const": 0}, "k": {"$ref": "#/$defs/bezier"}}},
                {
                    "properties": {
                        "a": {"const": 1},
                        "k": {"type": "array", "items": {"$ref": "#/$defs/bezier-keyframe"}},
                    }
                },
            ],
        },
        "bezier-keyframe": {
            "type": "object",
            "required": ["t", "s"],
            "properties": {
                "t": {"type": "number"},
                "h": {"enum": [0, 1]},
                "i": {"$ref": "#/$defs/easing-handle"},
                "o": {"$ref": "#/$defs/easing-handle"},
                "s": {
                    "type": "array",
                    "items": {"$ref": "#/$defs/bezier"},
                    "minItems": 1,
                    "maxItems": 1,
                },
            },
            "if": {"not": {"properties": {"h": {"const": 1}}, "required": ["h"]}},
            "then": {"required": ["i", "o"]},
        },
        "easing-handle": {
            "type": "object",
            "required": ["x", "y"],
            "properties": {
                "x": {"type": "number", "minimum": 0, "maximum": 1},
                "y": {"type": "number"},
            },
        },
        "bezier": {
            "type": "object",
            "required": ["i", "v", "o"],
            "properties": {
                "c": {"type": "boolean"},
                "i": {"type": "array", "items": _VEC},
                "o": {"type": "array", "items": _VEC},
                "v": {"type": "array", "items": _VEC},
            },
        },
    },
}


def _golden(stem: str = "canonical") -> str:
    return (GOLDEN / f"{stem}.lottie.json").read_text(encoding="utf-8")


def _alpha_python_lottie(text: str, frame: int) -> np.ndarray:
    buf = io.BytesIO()
    export_png(Animation.load(json.loads(text)), buf, frame)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGBA"))[..., 3] >= 128


def _alpha_rlottie(text: str, frame: int) -> np.ndarray:
    with LottieAnimation.from_data(text) as anim:
        return np.asarray(anim.render_pillow_frame(frame_num=frame))[..., 3] >= 128


def _held(shape: RotoShape, frame: int) -> RotoShape:
    """The contour as a hold key shows it on ``frame``: its last key at or before ``frame``."""
    key = [k for k in shape.keys if k.frame <= frame][-1]
    return RotoShape(shape.object_id, shape.name, [ShapeKey(frame, key.points)], shape.contour)


def _model_alpha(shapes: list[RotoShape], fmt: ShotFormat, frame: int, hold=False) -> np.ndarray:
    """Each object's non-zero fill of its contours (layers are composited: a union)."""
    out = np.zeros((fmt.height, fmt.width), dtype=bool)
    for contours in by_object(shapes):
        if hold:
            contours = [_held(s, frame) for s in contours]
        out |= rasterize_shapes(contours, frame, fmt.width, fmt.height)
    return out


@pytest.fixture(scope="module")
def camel() -> RotoShape:
    return davis_shape("camel", [0, 10, 20])


def test_canonical_shape_matches_golden_file():
    assert lottie.write_to_string([canonical_shape()], CANONICAL_FORMAT) == _golden()


def test_golden_file_follows_the_reference():
    doc = json.loads(_golden())
    assert {k: doc[k] for k in ("v", "fr", "ip", "op", "w", "h")} == {
        "v": "5.7.0",
        "fr": 24,
        "ip": 0,
        "op": 10,
        "w": 1920,
        "h": 1080,
    }
    (layer,) = doc["layers"]
    assert (layer["ty"], layer["ind"], layer["nm"], layer["ip"], layer["op"]) == (
        4,
        1,
        "obj1",
        0,
        10,
    )
    group = layer["shapes"][0]
    assert group["ty"] == "gr" and [it["ty"] for it in group["it"]] == ["sh", "fl", "tr"]
    k0, k1 = group["it"][0]["ks"]["k"]
    assert group["it"][0]["ks"]["a"] == 1 and (k0["t"], k1["t"]) == (0, 9)
    assert (k0["i"], k0["o"]) == ({"x": 1, "y": 1}, {"x": 0, "y": 0})
    assert k1["h"] == 1 and "i" not in k1
    bez0, bez1 = k0["s"][0], k1["s"][0]
    assert bez0["c"] is True and bez0["v"] == [[960, 340], [1160, 540], [960, 740], [760, 540]]
    np.testing.assert_allclose(bez0["i"][0], [-110.4569, 0], atol=1e-4)
    np.testing.assert_allclose(bez0["o"][1], [0, 110.4569], atol=1e-4)
    assert bez1["v"] == [[1000, 320], [1220, 540], [1000, 760], [780, 540]]
    np.testing.assert_allclose(bez1["i"][2], [121.5026, 0], atol=1e-4)
    assert doc["meta"]["custom"]["rotoflow"] == {"first_frame": 1001, "pixel_aspect": 1}


def test_donut_matches_golden_file():
    assert lottie.write_to_string(donut_object(), CANONICAL_FORMAT) == _golden("donut")


def test_donut_is_one_layer_whose_paths_share_one_non_zero_fill():
    doc = json.loads(_golden("donut"))
    (layer,) = doc["layers"]
    assert (layer["ind"], layer["nm"], layer["ip"], layer["op"]) == (2, "donut", 0, 10)
    (group,) = layer["shapes"]
    assert [it["ty"] for it in group["it"]] == ["sh", "sh", "sh", "fl", "tr"]
    assert (group["nm"], group["np"]) == ("donut", 4)
    paths, fill = group["it"][:3], group["it"][3]
    assert [p["nm"] for p in paths] == shape_names(donut_object())
    assert [p["nm"] for p in paths] == ["donut", "donut_hole1", "donut_part2"]
    assert fill["r"] == 1  # non-zero: the counter-clockwise hole subtracts
    # the keys as given (sparse, inside the shot); the collapsed key is a normal linear key
    assert [[k["t"] for k in p["ks"]["k"]] for p in paths] == [[0, 9], [0, 9], [2, 3, 9]]
    for path in paths:
        *inner, last = path["ks"]["k"]
        assert all((k["i"], k["o"]) == ({"x": 1, "y": 1}, {"x": 0, "y": 0}) for k in inner)
        assert all("h" not in k for k in inner) and last["h"] == 1
        assert set(path) == {"ty", "nm", "ks"}  # no feather, no direction: Lottie has none
    collapsed = paths[2]["ks"]["k"][0]["s"][0]
    assert collapsed["v"] == [[973.3333, 540]] * 4
    assert collapsed["i"] == collapsed["o"] == [[0, 0]] * 4


def test_file_and_string_paths_and_the_double_suffix(tmp_path, monkeypatch):
    if "lottie" not in exporters._MODULES:  # until the facade registers this module
        monkeypatch.setattr(exporters, "_MODULES", (*exporters._MODULES, "lottie"))
    shapes = [canonical_shape()]
    path = exporters.write_to_file(shapes, CANONICAL_FORMAT, tmp_path / "sh010.lottie.json")
    assert path.read_bytes() == lottie.write_to_string(shapes, CANONICAL_FORMAT).encode()
    assert exporters.from_path("SH010.Lottie.JSON") is lottie
    assert exporters.from_path("sh010.json") is shapes_json
    assert exporters.from_name("lottie") is lottie


def test_output_validates_against_the_spec_subset(shared, camel):
    jsonschema.Draft202012Validator.check_schema(LOTTIE_SPEC_SUBSET)
    validator = jsonschema.Draft202012Validator(LOTTIE_SPEC_SUBSET)
    validator.validate(json.loads(_golden()))
    validator.validate(json.loads(_golden("donut")))
    for interpolation in ("linear", "hold"):
        text = lottie.write_to_string([camel], DAVIS_FORMAT, interpolation=interpolation)
        validator.validate(json.loads(text))
    bad = json.loads(_golden())
    del bad["layers"][0]["shapes"][0]["it"][0]["ks"]["k"][0]["i"]  # easing missing, no hold
    assert list(validator.iter_errors(bad))


@pytest.mark.parametrize("render", [_alpha_python_lottie, _alpha_rlottie])
def test_renderers_draw_the_model_at_and_between_keys(shared, camel, render):
    text = lottie.write_to_string([camel], DAVIS_FORMAT)
    for frame in (1001, 1005, 1011, 1016, 1021):
        want = _model_alpha([camel], DAVIS_FORMAT, frame)
        got = render(text, frame - DAVIS_FORMAT.first_frame)
        assert got.shape == want.shape
        assert iou(got, want) > 0.99, frame


@pytest.mark.parametrize("render", [_alpha_python_lottie, _alpha_rlottie])
def test_renderers_draw_objects_of_several_contours(shared, camel, render):
    swan = davis_shape("blackswan", [0, 20], n=64)
    swan.name, swan.contour = camel.name, 1  # a second outer contour of the same object
    cows = davis_shape("cows", [0, 10])
    cows.object_id = 2
    cows.lifetime = (1001, 1021)  # its last key (1011) held to the end, as renderers show it
    shapes = [camel, swan, cows]
    text = lottie.write_to_string(shapes, DAVIS_FORMAT)
    layers = json.loads(text)["layers"]
    assert [[it["ty"] for it in layer["shapes"][0]["it"]] for layer in layers] == [
        ["sh", "sh", "fl", "tr"],
        ["sh", "fl", "tr"],
    ]
    for frame in (1004, 1015):
        got = render(text, frame - DAVIS_FORMAT.first_frame)
        assert iou(got, _model_alpha(shapes, DAVIS_FORMAT, frame)) > 0.99, frame


@pytest.mark.parametrize("render", [_alpha_python_lottie, _alpha_rlottie])
def test_renderers_draw_the_donut_hole_and_island(render):
    """1003: the island's collapsed key (hidden); 1004: its first key (shown); between keys."""
    shapes = donut_object()
    text = lottie.write_to_string(shapes, CANONICAL_FORMAT)
    for frame in (1001, 1003, 1004, 1007, 1010):
        got = render(text, frame - CANONICAL_FORMAT.first_frame)
        want = rasterize_shapes(shapes, frame, CANONICAL_FORMAT.width, CANONICAL_FORMAT.height)
        assert got.shape == want.shape
        assert iou(got, want) > 0.99, frame
        assert got[540, 730], frame  # the ring between the outer contour and the hole
        assert not got[450, 973], frame  # inside the hole, outside the island: subtracted
        assert got[540, 973] == (frame >= 1004), frame  # the island's centre


@pytest.mark.parametrize("render", [_alpha_python_lottie, _alpha_rlottie])
def test_hold_interpolation_keeps_the_previous_key(shared, camel, render):
    text = lottie.write_to_string([camel], DAVIS_FORMAT, interpolation="hold")
    for frame in (1006, 1018):  # strictly between keys
        held = _model_alpha([camel], DAVIS_FORMAT, frame, hold=True)
        blended = _model_alpha([camel], DAVIS_FORMAT, frame)
        got = render(text, frame - DAVIS_FORMAT.first_frame)
        assert iou(got, held) > 0.99 and iou(held, blended) < 0.99, frame


def test_names_become_unique_identifiers():
    names = ["my shape", "my_shape", "1st", "", "élan"]
    shapes = [canonical_shape(name=n, object_id=i) for i, n in enumerate(names, 1)]
    second = canonical_shape(name="my shape", object_id=1)
    second.contour = 1  # a second outer contour of object 1: label "my shape_part1"
    shapes.append(second)
    doc = json.loads(lottie.write_to_string(shapes, CANONICAL_FORMAT))
    layers = ["my_shape", "my_shape_2", "_1st", "Shape", "_lan"]
    assert [layer["nm"] for layer in doc["layers"]] == layers
    assert [g["nm"] for layer in doc["layers"] for g in layer["shapes"]] == layers
    paths = [[p["nm"] for p in layer["shapes"][0]["it"][:-2]] for layer in doc["layers"]]
    assert paths == [["my_shape", "my_shape_part1"], ["my_shape_2"], ["_1st"], ["Shape"], ["_lan"]]
    back = lottie.read_from_string(json.dumps(doc))[1]
    assert [(s.object_id, s.name, s.contour) for s in back] == [
        (1, "my_shape", 0),
        (1, "my_shape", 1),
        (2, "my_shape_2", 0),
        (3, "_1st", 0),
        (4, "Shape", 0),
        (5, "_lan", 0),
    ]


def test_mismatched_point_counts_are_refused():
    shape = canonical_shape()
    shape.keys[1] = ShapeKey(1010, shape.keys[1].points[:3])
    with pytest.raises(ExportError, match="4 control points at frame 1001 but 3 at frame 1010"):
        lottie.write_to_string([shape], CANONICAL_FORMAT)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([circle_key(1010, 0, 0, 5), circle_key(1001, 0, 0, 5)], "strictly increase"),
        ([ShapeKey(1001, np.full((4, 3, 2), np.nan))], "non-finite"),
        ([ShapeKey(1001, np.zeros((4, 2)))], r"\(N, 3, 2\)"),
        ([circle_key(1011, 0, 0, 5)], "frame 1011, outside the shot's frames 1001-1010"),
        ([], "no keys"),
    ],
)
def test_invalid_shapes_are_refused(keys, message):
    with pytest.raises(ExportError, match=message):
        lottie.write_to_string([RotoShape(1, "bad", keys)], CANONICAL_FORMAT)


@pytest.mark.parametrize(
    ("shapes", "kwargs", "message"),
    [
        ([], {}, "no shapes to export"),
        ([canonical_shape()], {"interpolation": "ease"}, "one of linear, hold; got 'ease'"),
        ([canonical_shape()], {"decimals": -1}, "decimals must be an integer from 0 to 15"),
        ([canonical_shape()], {"name": None}, "name must be a string"),
    ],
)
def test_bad_input_and_options_are_refused(shapes, kwargs, message):
    with pytest.raises(ExportError, match=message):
        lottie.write_to_string(shapes, CANONICAL_FORMAT, **kwargs)
