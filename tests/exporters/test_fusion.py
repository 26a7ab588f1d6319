"""Fusion ``.setting`` exporter: golden file, evaluation by a real Lua runtime, round trips, errors."""

from __future__ import annotations

import numpy as np
import pytest
from lupa import LuaRuntime

from exporters import fusion
from rotoflow.errors import ExportError
from rotoflow.files import atomic_write_text
from rotoflow.geometry import iou, rasterize_shapes
from rotoflow.types import RotoShape, ShapeKey, ShotFormat
from tests.conftest import SHARED
from tests.exporters.helpers import (
    CANONICAL_FORMAT,
    GOLDEN,
    assert_shapes_close,
    canonical_shape,
    circle_key,
    davis_shape,
    donut_object,
)

FORMATS_MD = SHARED / "references" / "formats.md"

#: Fusion's constructors as Lua functions that return their table, recording its class in a side
#: table (docs/formats.md 9). A setting is evaluated in an environment holding only these, so an unknown
#: class name is an error.
_LUA_EVAL = """
local class_of = setmetatable({}, { __mode = "k" })
local classes = { "Input", "PolylineMask", "BSplineMask", "BezierSpline", "Polyline",
                  "BSplinePolyline", "Polygon", "MaskPaint", "FuID", "OperatorInfo" }
local function evaluate(text)
  local env = {}
  for _, name in ipairs(classes) do
    env[name] = function(t) class_of[t] = name; return t end
  end
  env.ordered = function() return function(t) class_of[t] = "ordered"; return t end end
  local chunk = assert(load("return " .. text, "=setting", "t", env))
  return chunk()
end
return evaluate, function(t) return class_of[t] end
"""


class _Lua:
    """A Lua 5.x runtime (lupa) that evaluates settings and tells a table's constructor."""

    def __init__(self) -> None:
        self.evaluate, self.cls = LuaRuntime(unpack_returned_tuples=True).execute(_LUA_EVAL)

    def __call__(self, text: str):
        return self.evaluate(text)


@pytest.fixture(scope="module")
def lua_eval() -> _Lua:
    return _Lua()


def _reference_lua() -> str:
    """The ``.setting`` example of formats.md section 3.1."""
    text = FORMATS_MD.read_text(encoding="utf-8")
    start = text.index("```lua\n{\n  Tools = ordered()") + len("```lua\n")
    return text[start : text.index("```", start)]


def _lua_keys(lua: _Lua, doc, tool: str) -> list[tuple[int, float, np.ndarray]]:
    """``(comp frame, leading value, (N, 3, 2) [X Y, LX LY, RX RY])`` per key of a mask's spline."""
    spline = doc.Tools[doc.Tools[tool].Inputs.Polyline.SourceOp]
    assert lua.cls(spline) == "BezierSpline"
    out = []
    for frame in sorted(spline.KeyFrames.keys()):
        key = spline.KeyFrames[frame]
        assert lua.cls(key.Value) == "Polyline" and key.Value.Closed is True
        assert dict(key.Flags.items()) == {"Linear": True, "LockedY": True}
        pts = [
            [[p[k] or 0.0 for k in pair] for pair in (("X", "Y"), ("LX", "LY"), ("RX", "RY"))]
            for p in key.Value.Points.values()
        ]
        out.append((frame, key[1], np.array(pts, dtype=np.float64)))
    return out


def _pixels(lua_pts: np.ndarray, fmt: ShotFormat) -> np.ndarray:
    """Undo ``x/W - 0.5, 0.5 - y/H`` and ``dx/W, -dy/H``: image-space ``(N, 3, 2)`` points."""
    px = np.empty_like(lua_pts)
    px[:, 0, 0] = (lua_pts[:, 0, 0] + 0.5) * fmt.width
    px[:, 0, 1] = (0.5 - lua_pts[:, 0, 1]) * fmt.height
    px[:, 1:, 0] = lua_pts[:, 1:, 0] * fmt.width
    px[:, 1:, 1] = -lua_pts[:, 1:, 1] * fmt.height
    return px


def _lua_chains(lua: _Lua, doc, fmt: ShotFormat) -> list[list[tuple[str, RotoShape]]]:
    """Each object as Fusion composites it, read from the Lua-evaluated setting independently of
    :func:`fusion.read_from_string`: the ``EffectMask`` chains of ``PolylineMask`` tools, first
    mask first, as ``(PaintMode FuID, contour)``. A contour's frames are comp frames minus
    ``FrameOffset``; its lifetime is the whole shot, because Fusion holds a spline's first and last
    keys outside its keyed range; ``feather`` is ``SoftEdge`` times ``MaskWidth``."""
    masks = {n: t for n, t in doc.Tools.items() if lua.cls(t) == "PolylineMask"}
    after = {}
    for name, tool in masks.items():
        link = tool.Inputs.EffectMask
        if link is not None:
            assert link.Source == "Mask" and link.SourceOp in masks
            after[link.SourceOp] = name
    chains = []
    for head in (n for n, t in masks.items() if t.Inputs.EffectMask is None):
        chain, name = [], head
        while name is not None:
            tool = masks[name]
            mode = tool.Inputs.PaintMode.Value
            assert lua.cls(mode) == "FuID"
            offset = tool.CustomData.Rotoflow.FrameOffset
            keys = [
                ShapeKey(int(f - offset), _pixels(pts, fmt))
                for f, _, pts in _lua_keys(lua, doc, name)
            ]
            feather = tool.Inputs.SoftEdge.Value * tool.Inputs.MaskWidth.Value
            shape = RotoShape(
                0, name, keys, feather=feather, lifetime=(fmt.first_frame, fmt.last_frame)
            )
            chain.append((mode[1], shape))
            name = after.get(name)
        chains.append(chain)
    assert sum(len(c) for c in chains) == len(masks)  # every mask is on a chain, no loops
    return chains


def _paint(chain: list[tuple[str, RotoShape]], frame: int, fmt: ShotFormat) -> np.ndarray:
    """A chain's matte on ``frame``: each contour's fill added or subtracted in chain order."""
    matte = np.zeros((fmt.height, fmt.width), dtype=bool)
    for mode, shape in chain:
        fill = rasterize_shapes([shape], frame, fmt.width, fmt.height)
        assert mode in ("Add", "Subtract")
        matte = matte & ~fill if mode == "Subtract" else matte | fill
    return matte


def _assert_same_matte(got: list[RotoShape], want: list[RotoShape], fmt: ShotFormat) -> None:
    """IoU >= 0.99 of the non-zero winding mattes on every frame of the shot."""
    for frame in range(fmt.first_frame, fmt.last_frame + 1):
        src = rasterize_shapes(want, frame, fmt.width, fmt.height)
        assert iou(rasterize_shapes(got, frame, fmt.width, fmt.height), src) >= 0.99, frame


def test_canonical_shape_matches_golden_file():
    text = fusion.write_to_string([canonical_shape()], CANONICAL_FORMAT)
    assert text == (GOLDEN / "canonical.setting").read_text(encoding="utf-8")


def test_golden_file_agrees_with_the_reference_example(lua_eval):
    ours = lua_eval((GOLDEN / "canonical.setting").read_text(encoding="utf-8"))
    ref = lua_eval(_reference_lua())
    assert lua_eval.cls(ours) is None and lua_eval.cls(ours.Tools) == "ordered"
    assert sorted(ours.Tools.keys()) == sorted(ref.Tools.keys()) == ["obj1", "obj1Polyline"]
    assert ours.ActiveTool == ref.ActiveTool == "obj1"
    mask, ref_mask = ours.Tools.obj1, ref.Tools.obj1
    assert lua_eval.cls(mask) == lua_eval.cls(ref_mask) == "PolylineMask"
    assert set(ref_mask.Inputs.keys()) <= set(mask.Inputs.keys())
    for name in ("MaskWidth", "MaskHeight", "SoftEdge", "Level", "Invert"):
        assert mask.Inputs[name].Value == ref_mask.Inputs[name].Value
    assert list(mask.Inputs.PixelAspect.Value.values()) == [1, 1]
    assert mask.Inputs.ClippingMode.Value[1] == "None"
    assert mask.Inputs.Polyline2.Disabled is True
    got, want = _lua_keys(lua_eval, ours, "obj1"), _lua_keys(lua_eval, ref, "obj1")
    assert [(f, v) for f, v, _ in got] == [(f, v) for f, v, _ in want] == [(1001, 0), (1010, 1)]
    for (_, _, g), (_, _, w) in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-6)  # the reference has 6 decimals


def test_real_lua_reads_the_model_back_within_1e_6_px(lua_eval, shared):
    fmt = ShotFormat(854, 480, pixel_aspect=2.0, fps=25.0, first_frame=1001, last_frame=1040)
    want = [
        canonical_shape(name="end"),  # a Lua keyword
        davis_shape("camel", [0, 10, 39], n=32),
        RotoShape(9, "still", [circle_key(1005, 100.0, 80.0, 30.0)]),
    ]
    text = fusion.write_to_string(want, fmt, frame_offset=-1001)
    doc = lua_eval(text)
    assert sorted(doc.Tools.keys()) == sorted(
        ["end_2", "end_2Polyline", "camel", "camelPolyline", "still", "stillPolyline"]
    )
    for tool, shape in zip(("end_2", "camel", "still"), want, strict=True):
        mask = doc.Tools[tool]
        assert (mask.Inputs.MaskWidth.Value, mask.Inputs.MaskHeight.Value) == (854, 480)
        assert list(mask.Inputs.PixelAspect.Value.values()) == [2, 1]
        assert mask.CustomData.Rotoflow.ObjectID == shape.object_id
        keys = _lua_keys(lua_eval, doc, tool)
        assert [f for f, _, _ in keys] == [k.frame - 1001 for k in shape.keys]
        assert [v for _, v, _ in keys] == list(range(len(shape.keys)))
        for (_, _, lua_pts), key in zip(keys, shape.keys, strict=True):
            np.testing.assert_allclose(_pixels(lua_pts, fmt), key.points, rtol=0, atol=1e-6)


def test_file_and_string_paths_give_the_same_bytes(tmp_path):
    path = tmp_path / "shot" / "sh010.setting"
    atomic_write_text(path, fusion.write_to_string([canonical_shape()], CANONICAL_FORMAT))
    assert path.read_bytes() == (GOLDEN / "canonical.setting").read_bytes()


def test_round_trip_canonical_shape():
    text = fusion.write_to_string([canonical_shape(object_id=4)], CANONICAL_FORMAT)
    fmt, shapes = fusion.read_from_string(text)
    assert fmt == CANONICAL_FORMAT
    assert [(s.object_id, s.name) for s in shapes] == [(4, "obj1")]
    assert_shapes_close(shapes, [canonical_shape()], atol=1e-9)


def test_round_trip_real_outlines_with_a_frame_offset(shared):
    fmt = ShotFormat(854, 480, pixel_aspect=2.0, fps=23.976, first_frame=1001, last_frame=1040)
    want = [davis_shape("camel", [0, 10, 20]), davis_shape("blackswan", [0, 39], n=64)]
    # a second contour of the camel object, with its own point count and sparse keys
    want[1].name, want[1].contour, want[1].feather = "camel", 1, 2.5
    text = fusion.write_to_string(want, fmt, frame_offset=-1001)
    assert "[20] = { 2, Flags" in text
    assert 'EffectMask = Input { SourceOp = "camel", Source = "Mask", },' in text
    got_fmt, got = fusion.read_from_string(text)
    assert got_fmt == fmt
    assert [(s.object_id, s.name, s.contour, s.hole) for s in got] == [
        (7, "camel", 0, False),
        (7, "camel", 1, False),
    ]
    assert [s.feather for s in got] == pytest.approx([0.0, 2.5], abs=1e-9)
    assert_shapes_close(got, want, atol=1e-3)
    assert_shapes_close(got, want, atol=1e-9)


def test_names_become_unique_lua_identifiers(lua_eval):
    names = ["my shape", "my_shape", "1st", "a", "aPolyline", "nil", "", "élan"]
    shapes = [canonical_shape(name=n, object_id=i) for i, n in enumerate(names, 1)]
    text = fusion.write_to_string(shapes, CANONICAL_FORMAT)
    got = [s.name for s in fusion.read_from_string(text)[1]]
    assert got == ["my_shape", "my_shape_2", "_1st", "a", "aPolyline_2", "nil_2", "Shape", "_lan"]
    assert sorted(lua_eval(text).Tools.keys()) == sorted(got + [g + "Polyline" for g in got])


def test_reads_a_hand_written_static_mask_with_comments_and_tabs():
    text = (
        "return {\n\tTools = ordered() {\n"
        "\t\tBg = Background { Inputs = { Width = Input { Value = 200, }, }, },\n"
        "\t\t--[[ a block\n comment ]] Polygon1 = PolylineMask {\n"
        '\t\t\tDrawMode = "InsertAndModify", -- trailing comment\n'
        "\t\t\tInputs = {\n"
        '\t\t\t\t["Gamut.SLogVersion"] = Input { Value = FuID { "SLog2" }, },\n'
        "\t\t\t\tMaskWidth = Input { Value = 200, }, MaskHeight = Input { Value = 1e2, };\n"
        '\t\t\t\tNote = Input { Value = "a \\"quoted\\" \\065 [[x]]", },\n'
        "\t\t\t\tPolyline = Input { Value = Polyline { Closed = true, Points = {\n"
        "\t\t\t\t\t{ Linear = true, X = -0.25, Y = 0.25 },\n"
        "\t\t\t\t\t{ Linear = true, X = .25, Y = 0.25, LX = -0.1, LY = 0, RX = 0.1 },\n"
        "\t\t\t\t\t{ Linear = true, X = 0, Y = -0.25, PublishID = 'Point2' },\n"
        "\t\t\t\t} }, },\n\t\t\t},\n\t\t},\n\t},\n}\n"
    )
    fmt, (shape,) = fusion.read_from_string(text)
    assert (fmt.width, fmt.height, fmt.pixel_aspect, fmt.fps) == (200, 100, 1.0, 24.0)
    assert (shape.object_id, shape.name, [k.frame for k in shape.keys]) == (1, "Polygon1", [1])
    np.testing.assert_allclose(shape.keys[0].points[:, 0], [[50, 25], [150, 25], [100, 75]])
    np.testing.assert_allclose(shape.keys[0].points[1, 1:], [[-20, 0], [20, 0]])


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([circle_key(1001, 0, 0, 5), circle_key(1001, 0, 0, 6)], "strictly increase"),
        ([ShapeKey(1001, np.full((4, 3, 2), np.nan))], "non-finite"),
        ([ShapeKey(1001, np.zeros((4, 2)))], r"\(N, 3, 2\)"),
        ([circle_key(1001, 0, 0, 5), ShapeKey(1010, np.zeros((3, 3, 2)))], "but 3 at frame 1010"),
        ([], "no keys"),
    ],
)
def test_invalid_shapes_are_refused(keys, message):
    with pytest.raises(ExportError, match=message):
        fusion.write_to_string([RotoShape(1, "bad", keys)], CANONICAL_FORMAT)


def test_empty_shape_list_and_bad_options_are_refused():
    with pytest.raises(ExportError, match="no shapes"):
        fusion.write_to_string([], CANONICAL_FORMAT)
    with pytest.raises(ExportError, match="frame_offset must be an integer, got 0.5"):
        fusion.write_to_string([canonical_shape()], CANONICAL_FORMAT, frame_offset=0.5)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace("NameSet = true,", "NameSet = true"),
            r"line 24, column 7: expected ','",
        ),
        (lambda t: t[:-3], r"line 1, column 1: '\{' is never closed"),
        (
            lambda t: t.replace("Y = 0.185185185185185", "Y = 0.18 ?", 1),
            "line 28, column 33: unexpected character '\\?'",
        ),
        (lambda t: t.replace("Closed = true", "Closed = false", 1), "open polyline"),
        (
            lambda t: t.replace("MaskHeight", "MaskH"),
            "obj1. has no MaskHeight; its size would come from the comp",
        ),
        (lambda t: t.replace("= PolylineMask", "= BSplineMask"), "only PolylineMask"),
        (lambda t: t.replace('SourceOp = "obj1Polyline"', 'SourceOp = "x"'), "'x' with KeyFrames"),
        (lambda t: t.replace("RY = 0 },", 'RY = "0" },', 1), "RY must be a finite number"),
        (lambda t: t.replace("[1010]", "[1010.5]"), "1010.5 is not a whole frame"),
        (lambda t: t.replace("Tools =", "Tool ="), "no Tools table"),
        (lambda t: t.replace("= Input", "= while"), "unexpected keyword 'while'"),
    ],
)
def test_malformed_settings_raise(edit, message):
    text = edit((GOLDEN / "canonical.setting").read_text(encoding="utf-8"))
    with pytest.raises(ExportError, match=message):
        fusion.read_from_string(text)


def test_donut_object_matches_golden_file():
    text = fusion.write_to_string(donut_object(), CANONICAL_FORMAT)
    assert text == (GOLDEN / "donut.setting").read_text(encoding="utf-8")


def test_donut_golden_chains_the_contours_in_fusion_terms(lua_eval):
    doc = lua_eval((GOLDEN / "donut.setting").read_text(encoding="utf-8"))
    tools = doc.Tools
    assert sorted(tools.keys()) == sorted(
        ["donut", "donutPolyline", "donut_hole1", "donut_hole1Polyline"]
        + ["donut_part2", "donut_part2Polyline"]
    )
    assert doc.ActiveTool == "donut_part2"  # the end of the chain: the object's matte
    assert tools.donut.Inputs.EffectMask is None
    assert (
        tools.donut_hole1.Inputs.EffectMask.SourceOp,
        tools.donut_part2.Inputs.EffectMask.SourceOp,
    ) == (
        "donut",
        "donut_hole1",
    )
    assert {tools[n].Inputs.EffectMask.Source for n in ("donut_hole1", "donut_part2")} == {"Mask"}
    modes = [tools[n].Inputs.PaintMode.Value for n in ("donut", "donut_hole1", "donut_part2")]
    assert [lua_eval.cls(m) for m in modes] == ["FuID"] * 3
    assert [m[1] for m in modes] == ["Add", "Subtract", "Add"]
    assert tools.donut.Inputs.SoftEdge.Value == pytest.approx(4 / 1920, rel=1e-12)
    assert tools.donut_hole1.Inputs.SoftEdge.Value == 0
    island = _lua_keys(lua_eval, doc, "donut_part2")
    assert [(f, v) for f, v, _ in island] == [(1003, 0), (1004, 1), (1010, 2)]  # sparse keys
    data = tools.donut_part2.CustomData.Rotoflow
    assert (data.ObjectID, data.Contour, list(data.Lifetime.values())) == (2, 2, [1004, 1010])


def test_fusion_paint_modes_composite_the_donut_matte_on_every_frame(lua_eval):
    fmt = CANONICAL_FORMAT
    want = donut_object()
    (chain,) = _lua_chains(lua_eval, lua_eval(fusion.write_to_string(want, fmt)), fmt)
    assert [(mode, len(s.keys)) for mode, s in chain] == [("Add", 2), ("Subtract", 2), ("Add", 3)]
    assert chain[0][1].feather == pytest.approx(4.0, abs=1e-9)
    for frame in range(1001, 1011):
        src = rasterize_shapes(want, frame, fmt.width, fmt.height)
        host = _paint(chain, frame, fmt)
        assert iou(host, src) >= 0.99, frame
        # the island (centre about (973, 540)) is hidden by its collapsed key before 1004
        assert host[540, 975] == (frame >= 1004) == src[540, 975], frame
        assert not host[540, 1060] and host[540, 760 + frame - 1001], frame  # hole, outer ring


@pytest.mark.parametrize(
    "make",
    [donut_object, lambda: [canonical_shape()], lambda: [davis_shape("dog", [0, 4, 9], n=40)]],
    ids=["donut", "canonical", "davis"],
)
def test_round_trip_keeps_contours_holes_feather_and_matte(make, lua_eval, shared):
    want = make()
    text = fusion.write_to_string(want, CANONICAL_FORMAT)
    fmt, got = fusion.read_from_string(text)
    assert fmt == CANONICAL_FORMAT
    assert_shapes_close(got, want, atol=1e-9)
    assert [(s.object_id, s.name, s.contour, s.hole, s.lifetime) for s in got] == [
        (s.object_id, s.name, s.contour, s.hole, s.lifetime) for s in want
    ]
    assert [s.feather for s in got] == pytest.approx([s.feather for s in want], abs=1e-9)
    _assert_same_matte(got, want, fmt)
    (chain,) = _lua_chains(lua_eval, lua_eval(text), fmt)  # one object: one chain
    for frame in range(fmt.first_frame, fmt.last_frame + 1):
        src = rasterize_shapes(want, frame, fmt.width, fmt.height)
        assert iou(_paint(chain, frame, fmt), src) >= 0.99, frame


def test_objects_keep_separate_chains_in_list_order(lua_eval):
    a0, a1, a2 = donut_object("a", 1)
    b = canonical_shape("b", 5)
    text = fusion.write_to_string([a0, b, a1, a2], CANONICAL_FORMAT)
    doc = lua_eval(text)
    assert doc.Tools.b.Inputs.EffectMask is None
    assert doc.Tools.a_hole1.Inputs.EffectMask.SourceOp == "a"
    assert doc.Tools.a_part2.Inputs.EffectMask.SourceOp == "a_hole1"
    assert list(doc.Tools.b.ViewInfo.Pos.values()) == [110, 50]
    assert list(doc.Tools.a_part2.ViewInfo.Pos.values()) == [0, 150]
    _, got = fusion.read_from_string(text)
    assert [(s.object_id, s.name, s.contour) for s in got] == [
        (1, "a", 0),
        (5, "b", 0),
        (1, "a", 1),
        (1, "a", 2),
    ]


def test_reads_a_hand_written_chain_without_custom_data():
    square = "{ {X=-0.25,Y=0.25}, {X=0.25,Y=0.25}, {X=0.25,Y=-0.25}, {X=-0.25,Y=-0.25} }"
    small = "{ {X=-0.1,Y=0.1}, {X=0.1,Y=0.1}, {X=0.1,Y=-0.1}, {X=-0.1,Y=-0.1} }"

    def mask(name: str, points: str, extra: str = "") -> str:
        return (
            f"{name} = PolylineMask {{ Inputs = {{ MaskWidth = Input {{ Value = 200, }},"
            f" MaskHeight = Input {{ Value = 100, }}, {extra}"
            f" Polyline = Input {{ Value = Polyline {{ Closed = true, Points = {points} }}, }}, }} }},"
        )

    text = (
        "{ Tools = ordered() { "
        + mask(
            "Hole",
            small,
            'PaintMode = Input { Value = FuID { "Subtract" }, },'
            ' EffectMask = Input { SourceOp = "Outer", Source = "Mask", },',
        )
        + mask("Outer", square, "SoftEdge = Input { Value = 0.01, },")
        + mask("Other", small, 'PaintMode = Input { Value = FuID { "Merge" }, },')
        + " } }"
    )
    fmt, got = fusion.read_from_string(text)
    assert (fmt.width, fmt.height, fmt.first_frame) == (200, 100, 1)
    assert [(s.object_id, s.name, s.contour, s.hole) for s in got] == [
        (1, "Outer", 0, False),  # paint (chain) order, named by the chain's first tool
        (1, "Outer", 1, True),
        (2, "Other", 0, False),
    ]
    assert [s.feather for s in got] == pytest.approx([2.0, 0.0, 0.0])
    np.testing.assert_allclose(
        got[0].keys[0].points[:, 0], [[50, 25], [150, 25], [150, 75], [50, 75]]
    )


def test_keys_outside_the_shot_are_refused():
    shape = canonical_shape()
    with pytest.raises(ExportError, match="frame 1010, outside the shot's frames 1001-1009"):
        fusion.write_to_string([shape], ShotFormat(1920, 1080, 1.0, 24.0, 1001, 1009))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace('FuID { "Subtract" }', 'FuID { "Multiply" }'),
            "donut_hole1.: PaintMode 'Multiply' cannot be read .*one of Add, Merge, Subtract",
        ),
        (
            lambda t: t.replace(
                "Polyline2 = Input { Value = Polyline { }, Disabled = true, },\n      },\n"
                "      ViewInfo = OperatorInfo { Pos = { 0, 50 } },",
                "Polyline2 = Input { Value = Polyline { }, Disabled = true, },\n"
                '        EffectMask = Input { SourceOp = "donut_part2", Source = "Mask", },\n'
                "      },\n      ViewInfo = OperatorInfo { Pos = { 0, 50 } },",
            ),
            "EffectMask chain loops",
        ),
        (
            lambda t: t.replace(
                "SoftEdge = Input { Value = 0.0", "SoftEdge = Input { Value = -0.0"
            ),
            "negative",
        ),
        (
            lambda t: t.replace("Lifetime = { 1004, 1010 }", "Lifetime = { 1010, 1004 }"),
            "not a range",
        ),
    ],
)
def test_malformed_chains_raise(edit, message):
    text = (GOLDEN / "donut.setting").read_text(encoding="utf-8")
    edited = edit(text)
    assert edited != text
    with pytest.raises(ExportError, match=message):
        fusion.read_from_string(edited)


def test_a_branching_effect_mask_chain_is_refused():
    text = (GOLDEN / "donut.setting").read_text(encoding="utf-8")
    text = text.replace(
        'SourceOp = "donut_hole1", Source = "Mask"', 'SourceOp = "donut", Source = "Mask"'
    )
    with pytest.raises(ExportError, match="'donut' feeds the EffectMask of both 'donut_hole1' and"):
        fusion.read_from_string(text)
