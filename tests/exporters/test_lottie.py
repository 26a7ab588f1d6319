"""Lottie JSON exporter: golden file, spec structure, two independent renderers, round trips, errors.

Renders go through python-lottie (its SVG export rasterised by cairosvg) and Samsung's rlottie
(``rlottie_python``); each frame's alpha is compared with our own rasterisation of the model shape
(:func:`rotoflow.geometry.raster.rasterize_shape`) at that frame.
"""

from __future__ import annotations

import copy
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
from rotoflow.errors import ExportError
from rotoflow.geometry.raster import rasterize_shape
from rotoflow.types import RotoShape, ShapeKey, ShotFormat
from tests.exporters.helpers import (
    CANONICAL_FORMAT,
    GOLDEN,
    assert_shapes_close,
    canonical_shape,
    circle_key,
    davis_shape,
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


def _golden() -> str:
    return (GOLDEN / "canonical.lottie.json").read_text(encoding="utf-8")


def _alpha_python_lottie(text: str, frame: int) -> np.ndarray:
    buf = io.BytesIO()
    export_png(Animation.load(json.loads(text)), buf, frame)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGBA"))[..., 3] >= 128


def _alpha_rlottie(text: str, frame: int) -> np.ndarray:
    with LottieAnimation.from_data(text) as anim:
        return np.asarray(anim.render_pillow_frame(frame_num=frame))[..., 3] >= 128


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def _model_points(shape: RotoShape, frame: int, hold: bool = False) -> np.ndarray:
    """The shape at a plate frame: keys blended point by point (or held) between keys."""
    frames = [k.frame for k in shape.keys]
    if frame <= frames[0]:
        return shape.keys[0].points
    for k0, k1 in zip(shape.keys, shape.keys[1:], strict=False):
        if k0.frame <= frame < k1.frame:
            w = 0.0 if hold else (frame - k0.frame) / (k1.frame - k0.frame)
            return (1 - w) * k0.points + w * k1.points
    return shape.keys[-1].points


def _model_alpha(shapes: list[RotoShape], fmt: ShotFormat, frame: int, hold=False) -> np.ndarray:
    out = np.zeros((fmt.height, fmt.width), dtype=bool)
    for s in shapes:
        out |= rasterize_shape(_model_points(s, frame, hold), fmt.width, fmt.height)
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
        assert _iou(got, want) > 0.99, frame


@pytest.mark.parametrize("render", [_alpha_python_lottie, _alpha_rlottie])
def test_renderers_draw_objects_of_several_contours(shared, camel, render):
    swan = davis_shape("blackswan", [0, 20], n=64)
    swan.object_id = camel.object_id  # a second contour of the same object: one layer
    cows = davis_shape("cows", [0, 10])
    cows.object_id = 2
    shapes = [camel, swan, cows]
    text = lottie.write_to_string(shapes, DAVIS_FORMAT)
    assert [len(layer["shapes"]) for layer in json.loads(text)["layers"]] == [2, 1]
    for frame in (1004, 1015):
        got = render(text, frame - DAVIS_FORMAT.first_frame)
        assert _iou(got, _model_alpha(shapes, DAVIS_FORMAT, frame)) > 0.99, frame


@pytest.mark.parametrize("render", [_alpha_python_lottie, _alpha_rlottie])
def test_hold_interpolation_keeps_the_previous_key(shared, camel, render):
    text = lottie.write_to_string([camel], DAVIS_FORMAT, interpolation="hold")
    for frame in (1006, 1018):  # strictly between keys
        held = _model_alpha([camel], DAVIS_FORMAT, frame, hold=True)
        blended = _model_alpha([camel], DAVIS_FORMAT, frame)
        got = render(text, frame - DAVIS_FORMAT.first_frame)
        assert _iou(got, held) > 0.99 and _iou(held, blended) < 0.99, frame


def test_round_trip_canonical_shape():
    fmt, shapes = lottie.read_from_string(_golden())
    assert fmt == CANONICAL_FORMAT
    assert [(s.object_id, s.name) for s in shapes] == [(1, "obj1")]
    assert_shapes_close(shapes, [canonical_shape()], atol=1e-3)


def test_round_trip_real_outlines_on_an_anamorphic_format(shared):
    fmt = ShotFormat(854, 480, pixel_aspect=2.0, fps=23.976, first_frame=1001, last_frame=1040)
    want = [davis_shape("camel", [0, 10, 20]), davis_shape("blackswan", [0, 39], n=64)]
    want[1].object_id = 9
    one_key = RotoShape(4, "still", [circle_key(1030, 400.0, 200.0, 50.0)])
    got_fmt, got = lottie.read_from_string(lottie.write_to_string([*want, one_key], fmt))
    assert got_fmt == fmt
    assert [(s.object_id, s.name) for s in got] == [(7, "camel"), (9, "blackswan"), (4, "still")]
    assert_shapes_close(got, [*want, one_key], atol=1e-3)


def test_reads_static_old_bodymovin_and_nested_forms():
    bez = {"c": True, "v": [[0, 0], [10, 0], [10, 10]], "i": [[0, 0]] * 3, "o": [[0, 0]] * 3}
    moved = copy.deepcopy(bez)
    moved["v"] = [[5, 0], [15, 0], [15, 10]]
    animated = {  # old Bodymovin: the value of the last key is the previous key's "e"
        "a": 1,
        "k": [
            {
                "t": 2,
                "i": {"x": [1], "y": [1]},
                "o": {"x": [0], "y": [0]},
                "s": [bez],
                "e": [moved],
            },
            {"t": 6},
        ],
    }
    doc = {
        "v": "4.8.0",
        "fr": 25,
        "ip": 0,
        "op": 8,
        "w": 20,
        "h": 20,
        "layers": [
            {"ty": 3, "ks": {}, "ip": 0, "op": 8, "st": 0},  # a null layer, skipped
            {
                "ty": 4,
                "nm": "L",
                "st": 10,
                "ip": 0,
                "op": 8,
                "ks": {"a": {"a": 0, "k": [3, 4, 0]}, "p": {"a": 0, "k": [3, 4, 0]}},
                "shapes": [
                    {"ty": "sh", "ks": {"a": 0, "k": bez}},
                    {
                        "ty": "gr",
                        "nm": "outer",
                        "it": [
                            {"ty": "gr", "it": [{"ty": "sh", "nm": "inner", "ks": animated}]},
                            {"ty": "st"},
                        ],
                    },
                ],
            },
        ],
    }
    fmt, shapes = lottie.read_from_string(json.dumps(doc))
    assert (fmt.width, fmt.height, fmt.fps, fmt.first_frame, fmt.last_frame) == (20, 20, 25, 0, 7)
    assert [(s.object_id, s.name, [k.frame for k in s.keys]) for s in shapes] == [
        (2, "L", [0]),
        (2, "inner", [12, 16]),
    ]
    np.testing.assert_allclose(shapes[1].keys[1].points[:, 0], moved["v"])


def _edit(path: tuple, value):
    def apply(doc):
        target = doc
        for p in path[:-1]:
            target = target[p]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value
        return doc

    return apply


_SH = ("layers", 0, "shapes", 0, "it", 0, "ks")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_edit((*_SH, "k", 0, "s", 0, "c"), False), r"k\[0\]\.s is an open path"),
        (_edit((*_SH, "k", 1, "t"), 4.5), r"k\[1\]\.t 4\.5 is not on a whole frame"),
        (_edit((*_SH, "k", 0, "s", 0, "v", 3), [1]), r"k\[0\]\.s\.v must be a list of \[x, y\]"),
        (_edit((*_SH, "k", 0, "s", 0, "i"), [[0, 0]]), "different lengths"),
        (_edit((*_SH, "k", 0, "s"), [{}, {}]), "must hold one Bezier, got 2"),
        (_edit((*_SH, "k", 1, "s"), KeyError), r"k\[1\] has no value 's'"),
        (_edit(("layers", 0, "ks", "p", "k"), [5, 0, 0]), r"layers\[0\]\.ks moves"),
        (_edit(("layers", 0, "shapes", 0, "it", 2, "s", "k"), [50, 50]), r"it\(tr\) moves"),
        (_edit(("layers", 0, "ks", "r"), {"a": 1, "k": []}), "animated; only static"),
        (_edit(("layers", 0, "sr"), 2), "stretches time"),
        (_edit(("w",), KeyError), "document lacks 'w'"),
        (_edit(("fr",), "24"), r"document\.fr has the wrong type"),
        (_edit(("fr",), 0), "fps must be a positive number"),
    ],
)
def test_malformed_documents_are_refused(edit, message):
    doc = edit(json.loads(_golden()))
    with pytest.raises(ExportError, match=message):
        lottie.read_from_string(json.dumps(doc))


def test_invalid_json_gives_line_and_column():
    with pytest.raises(ExportError, match="line 3, column 1"):
        lottie.read_from_string('{\n "v": 1,\n}')
    with pytest.raises(ExportError, match="non-finite number NaN"):
        lottie.read_from_string('{"w": NaN}')


def test_names_become_unique_identifiers():
    names = ["my shape", "my_shape", "1st", "", "élan"]
    shapes = [canonical_shape(name=n, object_id=i) for i, n in enumerate(names, 1)]
    shapes.append(canonical_shape(name="my shape", object_id=1))
    doc = json.loads(lottie.write_to_string(shapes, CANONICAL_FORMAT))
    assert [layer["nm"] for layer in doc["layers"]] == [
        "my_shape",
        "my_shape_2",
        "_1st",
        "Shape",
        "_lan",
    ]
    groups = [g["nm"] for layer in doc["layers"] for g in layer["shapes"]]
    assert groups == ["my_shape", "my_shape_2", "my_shape_3", "_1st", "Shape", "_lan"]
    assert [s.name for s in lottie.read_from_string(json.dumps(doc))[1]] == groups


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
