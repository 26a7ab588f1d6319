"""After Effects ``.jsx`` exporter: golden file, syntax and ES3 checks, a stub AE run, errors.

The stub run executes the script under node with a stand-in After Effects DOM
(:mod:`tests.exporters.ae_stub`) that refuses unknown properties and malformed calls and records
every comp, solid, mask and key.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess

import numpy as np
import pytest

import exporters
from exporters import after_effects
from exporters.lifetime import live_keys
from rotoflow.errors import ExportError
from rotoflow.geometry import iou, rasterize_shapes
from rotoflow.types import RotoShape, ShapeKey, ShotFormat
from tests.exporters.ae_stub import NODE, ae_matte, rebuilt_objects, run_node, run_stub
from tests.exporters.helpers import (
    CANONICAL_FORMAT,
    GOLDEN,
    canonical_shape,
    circle_key,
    davis_shape,
    donut_object,
)


def _golden() -> str:
    return (GOLDEN / "canonical.jsx").read_text(encoding="utf-8")


def _es3_violations(script: str) -> list[str]:
    """Tokens ExtendScript (ECMAScript 3) does not know, outside strings and comments."""
    code = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', script)
    code = re.sub(r"//[^\n]*|/\*.*?\*/", "", code, flags=re.S)
    patterns = {
        "let": r"\blet\b",
        "const": r"\bconst\b",
        "arrow function": r"=>",
        "template string": r"`",
        "class": r"\bclass\b",
        "spread": r"\.\.\.",
        "ES5 array method": r"\.(?:forEach|map|filter|reduce|some|every|indexOf)\s*\(",
        "JSON": r"\bJSON\b",
        "trailing comma": r",\s*[\]}]",
        "single-quoted string": r"'",
    }
    return [name for name, pat in patterns.items() if re.search(pat, code)]


def _expected_masks(shapes: list[RotoShape], fmt: ShotFormat) -> list[tuple[list, list]]:
    """Key times and points of each shape's path: its keys inside its lifetime."""
    return [
        ([(k.frame - fmt.first_frame) / fmt.fps for k in s.keys], [k.points for k in s.keys])
        for s in map(live_keys, shapes)
    ]


def _recorded_masks(run: dict) -> list[tuple[list, list]]:
    out = []
    for layer in run["comps"][0]["layers"]:
        for mask in layer["masks"]:
            pts = [
                np.stack(
                    [
                        np.array(s["vertices"]),
                        np.array(s["inTangents"]),
                        np.array(s["outTangents"]),
                    ],
                    axis=1,
                )
                for s in mask["shapes"]
            ]
            out.append((mask["times"], pts))
    return out


def _assert_masks_match(run: dict, shapes: list[RotoShape], fmt: ShotFormat) -> None:
    got, want = _recorded_masks(run), _expected_masks(shapes, fmt)
    assert len(got) == len(want)
    for (g_times, g_pts), (w_times, w_pts) in zip(got, want, strict=True):
        assert g_times == w_times  # exact: the script computes the same doubles
        for g, w in zip(g_pts, w_pts, strict=True):
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-3)


def test_canonical_shape_matches_golden_file():
    assert after_effects.write_to_string([canonical_shape()], CANONICAL_FORMAT) == _golden()


def test_golden_file_follows_the_reference_script():
    golden = _golden()
    assert golden.startswith("//@target aftereffects\n")
    assert "#target" not in golden
    assert "path.setValuesAtTimes(keyTimes(frames), shapes);" in golden
    assert "KeyframeInterpolationType.LINEAR" in golden
    assert golden.count("new Shape()") == 1 and golden.count("  shp([[") == 2
    assert "[[960, 340], [1160, 540], [960, 740], [760, 540]]" in golden
    assert "[[1000, 320], [1220, 540], [1000, 760], [780, 540]]" in golden
    assert "[[-110.45695, 0], [0, -110.45695], [110.45695, 0], [0, 110.45695]]" in golden


def test_file_and_string_paths_give_the_same_bytes(tmp_path, monkeypatch):
    if "after_effects" not in exporters._MODULES:  # until the facade registers this module
        monkeypatch.setattr(exporters, "_MODULES", (*exporters._MODULES, "after_effects"))
    shapes = [canonical_shape()]
    path = exporters.write_to_file(shapes, CANONICAL_FORMAT, tmp_path / "sh010.JSX")
    assert path.read_bytes() == after_effects.write_to_string(shapes, CANONICAL_FORMAT).encode()
    assert exporters.from_name("after_effects") is after_effects


def test_scripts_pass_node_syntax_check_and_es3_token_scan(tmp_path, shared):
    shapes = [canonical_shape(), davis_shape("dog", [0, 5]), *donut_object()]
    fmt = ShotFormat(854, 480, 1.0, 25.0, 1001, 1010)
    donut = (GOLDEN / "donut.jsx").read_text(encoding="utf-8")
    for n, script in enumerate(
        [_golden(), donut, after_effects.write_to_string(shapes, fmt, interpolation="hold")]
    ):
        path = tmp_path / f"roto{n}.js"  # node only checks .js/.mjs/.cjs names
        path.write_text(script, encoding="utf-8")
        result = subprocess.run([NODE, "--check", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert _es3_violations(script) == []


def test_es3_scan_catches_modern_syntax():
    script = 'var a = 1; // const in a comment is fine\nvar s = "let => `";\n'
    assert _es3_violations(script) == []
    bad = "const a = [1, 2,];\nlet f = (x) => x;\n[1].forEach(f);\n"
    assert _es3_violations(bad) == [
        "let",
        "const",
        "arrow function",
        "ES5 array method",
        "trailing comma",
    ]


def test_stub_run_of_the_canonical_script(tmp_path):
    run = run_stub(tmp_path, _golden())
    assert run["undo"] == {"open": 0, "begun": 1, "ended": 1}
    (comp,) = run["comps"]
    assert (comp["name"], comp["width"], comp["height"], comp["pixelAspect"]) == (
        "roto",
        1920,
        1080,
        1,
    )
    assert comp["frameRate"] == 24 and comp["duration"] == 10 / 24
    assert comp["displayStartTime"] == 1001 / 24 and comp["opened"]
    (layer,) = comp["layers"]
    assert (layer["name"], layer["width"], layer["height"]) == ("obj1", 1920, 1080)
    (mask,) = layer["masks"]
    assert mask["name"] == "obj1" and mask["mode"] == "MaskMode.ADD"
    assert (mask["inverted"], mask["rotoBezier"]) == (False, False)
    assert mask["times"] == [0, 9 / 24]
    assert mask["interpolation"] == ["KeyframeInterpolationType.LINEAR"] * 2
    assert (mask["feather"], mask["opacity"], mask["offset"]) == ([0, 0], 100, 0)
    assert all(s["closed"] is True for s in mask["shapes"])
    _assert_masks_match(run, [canonical_shape()], CANONICAL_FORMAT)


def test_stub_run_of_real_outlines_groups_objects_and_keeps_points(tmp_path, shared):
    fmt = ShotFormat(854, 480, pixel_aspect=2.0, fps=23.976, first_frame=1001, last_frame=1040)
    camel = davis_shape("camel", [0, 10, 20])
    swan = davis_shape("blackswan", [0, 39], n=64)
    swan.object_id = 3
    second = davis_shape("camel", [5, 30], n=32)  # a second contour of the camel object
    second.contour = 1
    shapes = [camel, swan, second]
    script = after_effects.write_to_string(shapes, fmt, interpolation="hold", comp_name='sh "010"')
    run = run_stub(tmp_path, script)
    (comp,) = run["comps"]
    assert comp["name"] == 'sh "010"' and comp["pixelAspect"] == 2 and comp["frameRate"] == 23.976
    assert comp["duration"] == 40 / 23.976
    assert [(la["name"], [m["name"] for m in la["masks"]]) for la in comp["layers"]] == [
        ("camel", ["camel", "camel_part1"]),
        ("blackswan", ["blackswan"]),
    ]
    assert all(la["pixelAspect"] == 2 for la in comp["layers"])
    masks = [m for la in comp["layers"] for m in la["masks"]]
    assert [m["interpolation"] for m in masks] == [
        ["KeyframeInterpolationType.HOLD"] * len(s.keys) for s in (camel, second, swan)
    ]
    _assert_masks_match(run, [camel, second, swan], fmt)


def test_stub_refuses_a_script_with_a_typo(tmp_path):
    script = _golden().replace("mask.rotoBezier = false", "mask.rotobezier = false")
    result = run_node(tmp_path, script)
    assert result.returncode != 0
    assert "write of unknown MaskPropertyGroup.rotobezier" in result.stderr


def test_decimals_option_rounds_coordinates():
    text = after_effects.write_to_string([canonical_shape()], CANONICAL_FORMAT, decimals=2)
    assert "[[-110.46, 0], [0, -110.46]," in text
    text = after_effects.write_to_string([canonical_shape()], CANONICAL_FORMAT, decimals=0)
    assert "[[-110, 0], [0, -110]," in text


def test_names_become_unique_identifiers(tmp_path):
    names = ["my shape", "my_shape", "1st", "", "élan", 'x"); app.quit(); ("']
    shapes = [canonical_shape(name=n, object_id=i) for i, n in enumerate(names, 1)]
    run = run_stub(tmp_path, after_effects.write_to_string(shapes, CANONICAL_FORMAT))
    layers = run["comps"][0]["layers"]
    got = ["my_shape", "my_shape_2", "_1st", "Shape", "_lan", "x____app_quit______"]
    assert [la["name"] for la in layers] == got
    assert [la["masks"][0]["name"] for la in layers] == got


def test_mismatched_point_counts_are_refused():
    shape = canonical_shape()
    shape.keys[1] = ShapeKey(1010, shape.keys[1].points[:3])
    with pytest.raises(ExportError, match="4 control points at frame 1001 but 3 at frame 1010"):
        after_effects.write_to_string([shape], CANONICAL_FORMAT)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([circle_key(1010, 0, 0, 5), circle_key(1001, 0, 0, 5)], "strictly increase"),
        ([ShapeKey(1001, np.full((4, 3, 2), np.inf))], "non-finite"),
        ([ShapeKey(1001, np.zeros((2, 3, 2)))], "at least 3"),
        ([circle_key(1000, 0, 0, 5)], "frame 1000, outside the shot's frames 1001-1010"),
        ([circle_key(1001, 0, 0, 5), circle_key(1011, 0, 0, 5)], "frame 1011, outside"),
        ([], "no keys"),
    ],
)
def test_invalid_shapes_are_refused(keys, message):
    with pytest.raises(ExportError, match=message):
        after_effects.write_to_string([RotoShape(1, "bad", keys)], CANONICAL_FORMAT)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"interpolation": "bezier"}, "one of linear, hold; got 'bezier'"),
        ({"decimals": 16}, "decimals must be an integer from 0 to 15, got 16"),
        ({"decimals": 2.5}, "got 2.5"),
        ({"comp_name": 3}, "comp_name must be a string"),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    with pytest.raises(ExportError, match=message):
        after_effects.write_to_string([canonical_shape()], CANONICAL_FORMAT, **kwargs)


def test_empty_shape_list_and_bad_format_are_refused():
    with pytest.raises(ExportError, match="no shapes to export"):
        after_effects.write_to_string([], CANONICAL_FORMAT)
    with pytest.raises(ExportError, match="fps must be a positive number"):
        after_effects.write_to_string([canonical_shape()], ShotFormat(1920, 1080, 1.0, 0.0, 1, 2))


def test_donut_object_matches_golden_file():
    text = after_effects.write_to_string(donut_object(), CANONICAL_FORMAT)
    assert text == (GOLDEN / "donut.jsx").read_text(encoding="utf-8")


def test_stub_run_of_the_donut_script_gives_modes_feather_and_sparse_linear_keys(tmp_path):
    run = run_stub(tmp_path, (GOLDEN / "donut.jsx").read_text(encoding="utf-8"))
    (layer,) = run["comps"][0]["layers"]
    assert layer["name"] == "donut"
    masks = layer["masks"]
    assert [m["name"] for m in masks] == ["donut", "donut_hole1", "donut_part2"]
    assert [m["mode"] for m in masks] == ["MaskMode.ADD", "MaskMode.SUBTRACT", "MaskMode.ADD"]
    # the feather is centred on the path (the matte's 0.5 contour): no expansion, linear falloff
    assert [(m["feather"], m["offset"]) for m in masks] == [([4, 4], 0), ([0, 0], 0), ([0, 0], 0)]
    assert {m["falloff"] for m in masks} == {"MaskFeatherFalloff.FFO_LINEAR"}
    assert masks[2]["times"] == [3 / 24, 9 / 24]  # sparse: 1004, 1010 (no collapsed key)
    assert [m["interpolation"] for m in masks] == [
        ["KeyframeInterpolationType.LINEAR"] * len(m["times"]) for m in masks
    ]
    # the island lives 1004-1010: its opacity holds 0 from the shot's start, 100 from 1004
    assert [(m["opacity"], m["opacityKeys"]) for m in masks[:2]] == [(100, [])] * 2
    assert masks[2]["opacity"] is None
    assert masks[2]["opacityKeys"] == [
        [0, 0, "KeyframeInterpolationType.HOLD"],
        [3 / 24, 100, "KeyframeInterpolationType.HOLD"],
    ]
    _assert_masks_match(run, donut_object(), CANONICAL_FORMAT)


def test_expansion_centres_the_feather_on_an_off_centre_band(tmp_path):
    outer, hole, _ = donut_object()
    band = np.tile([1.0, 3.0], (4, 1))  # the ramp's middle 1 px out of the object
    shapes = [
        dataclasses.replace(outer, band=band, feather=4.0),
        dataclasses.replace(hole, band=band, feather=4.0),
    ]
    assert [after_effects.expansion(s) for s in shapes] == [1.0, -1.0]  # a hole's loop shrinks
    run = run_stub(tmp_path, after_effects.write_to_string(shapes, CANONICAL_FORMAT))
    (masks,) = rebuilt_objects(run, CANONICAL_FORMAT)
    for (_, got), want in zip(masks, shapes, strict=True):
        np.testing.assert_allclose(got.band, band)
        assert got.feather == want.feather
    # the expansion never moves the ramp past the path
    lopsided = dataclasses.replace(outer, band=np.tile([0.0, 6.0], (4, 1)), feather=2.0)
    assert after_effects.expansion(lopsided) == 1.0


@pytest.mark.parametrize(
    "make",
    [donut_object, lambda: [canonical_shape()], lambda: [davis_shape("dog", [0, 4, 9], n=40)]],
    ids=["donut", "canonical", "davis"],
)
def test_rebuilt_masks_give_the_source_matte_on_every_frame(make, tmp_path, shared):
    want = make()
    fmt = CANONICAL_FORMAT
    run = run_stub(tmp_path, after_effects.write_to_string(want, fmt))
    (masks,) = rebuilt_objects(run, fmt)  # one object: one solid
    got = [shape for _, shape in masks]
    assert [(s.contour, s.hole) for s in got] == [(s.contour, s.hole) for s in want]
    assert [s.feather for s in got] == [s.feather for s in want]
    # a lifetime comes back from the opacity hold keys, the path without its collapsed keys
    assert [s.lifetime for s in got] == [s.frame_span for s in want]
    for g, w in zip(got, map(live_keys, want), strict=True):
        assert [k.frame for k in g.keys] == [k.frame for k in w.keys]
        for gk, wk in zip(g.keys, w.keys, strict=True):
            np.testing.assert_allclose(gk.points, wk.points, rtol=0, atol=1e-3)
    for frame in range(fmt.first_frame, fmt.last_frame + 1):
        src = rasterize_shapes(want, frame, fmt.width, fmt.height)
        assert iou(rasterize_shapes(got, frame, fmt.width, fmt.height), src) >= 0.99, frame
        assert iou(ae_matte(masks, frame, fmt), src) >= 0.99, frame


def test_after_effects_mask_modes_composite_the_donut_on_every_frame(tmp_path):
    fmt = CANONICAL_FORMAT
    run = run_stub(tmp_path, (GOLDEN / "donut.jsx").read_text(encoding="utf-8"))
    (masks,) = rebuilt_objects(run, fmt)
    want = donut_object()
    for frame in range(1001, 1011):
        host = ae_matte(masks, frame, fmt)
        src = rasterize_shapes(want, frame, fmt.width, fmt.height)
        # the island (centre about (973, 540)) is hidden by its held collapsed key before 1004
        assert host[540, 975] == (frame >= 1004) == src[540, 975], frame
        assert not host[540, 1060] and host[540, 760 + frame - 1001], frame  # hole, outer ring


def test_objects_get_their_own_solid_with_masks_in_paint_order(tmp_path):
    a0, a1, a2 = donut_object("a", 1)
    b = canonical_shape("b", 5)
    run = run_stub(tmp_path, after_effects.write_to_string([a0, b, a1, a2], CANONICAL_FORMAT))
    layers = run["comps"][0]["layers"]
    assert [(la["name"], [m["name"] for m in la["masks"]]) for la in layers] == [
        ("a", ["a", "a_hole1", "a_part2"]),
        ("b", ["b"]),
    ]
