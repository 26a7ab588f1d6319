"""Silhouette ``.fxs`` exporter: golden file, lxml structure check, round trips and errors."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from lxml import etree

from exporters import silhouette
from exporters.lifetime import live_keys
from rotoflow.errors import ExportError
from rotoflow.files import atomic_write_text
from rotoflow.geometry import shape_at
from rotoflow.types import RotoShape, ShapeKey, ShotFormat
from tests.conftest import SHARED
from tests.exporters.helpers import (
    CANONICAL_FORMAT,
    GOLDEN,
    assert_same_mattes,
    assert_shapes_close,
    canonical_shape,
    circle_key,
    davis_shape,
    donut_object,
)

FORMATS_MD = SHARED / "references" / "formats.md"
PAIR = re.compile(r"\(([^(),]+),([^(),]+)\)")
#: Round-trip tolerance in pixels: 6 decimals of the height at 1080, a vertex and a handle
#: rounded in opposite directions.
ATOL = 0.5e-6 * 1080 * 2


def _reference_xml() -> str:
    """The ``.fxs`` example of formats.md section 2.2."""
    text = FORMATS_MD.read_text(encoding="utf-8")
    start = text.index("```xml\n<Silhouette") + len("```xml\n")
    return text[start : text.index("```", start)]


def _reference_in_object_layer(label: str) -> str:
    """The reference example with its shape moved into a nested layer ``label`` (the form
    NukeFXSExporter writes for a Nuke layer inside the root layer)."""
    lines = _reference_xml().strip().split("\n")
    first = next(i for i, line in enumerate(lines) if '<Object type="Shape"' in line)
    last = next(i for i, line in enumerate(lines) if line.strip() == "</Object>")
    ind = " " * 8
    layer = [
        f'{ind}<Object type="Layer" label="{label}" expanded="True">',
        f"{ind}  <Properties>",
        *lines[3:6],  # the layer's color, invert and mode properties, one level deeper
        f'{ind}    <Property id="objects" constant="True" expanded="True">',
        *("      " + line for line in lines[first : last + 1]),
        f"{ind}    </Property>",
        f"{ind}  </Properties>",
        f"{ind}</Object>",
    ]
    layer[2:5] = ["      " + line for line in layer[2:5]]
    return "\n".join(lines[:first] + layer + lines[last + 1 :])


def _tree(elem) -> tuple:
    """An element as nested ``(tag, attributes, stripped text, children)`` tuples."""
    children = tuple(_tree(c) for c in elem if isinstance(c.tag, str))
    return elem.tag, dict(elem.attrib), (elem.text or "").strip(), children


def _lxml_keys(text: str) -> dict[str, list[tuple[int, np.ndarray]]]:
    """Per shape label, ``(session frame, (N, 3, 2) normalised points)`` read with lxml/XPath."""
    root = etree.fromstring(text.encode("utf-8"))
    out = {}
    objects = "Properties/Property[@id='objects']/Object"
    for obj in root.xpath(f"/Silhouette/Layer/{objects}[@type='Layer']/{objects}[@type='Shape']"):
        keys = []
        for key in obj.xpath("Properties/Property[@id='path']/Key"):
            (path,) = key.xpath("Path")
            pts = [[tuple(map(float, p)) for p in PAIR.findall(pt.text)] for pt in path]
            keys.append((int(key.get("frame")), np.array(pts)))
        out[obj.get("label")] = keys
    return out


def test_canonical_shape_matches_golden_file():
    text = silhouette.write_to_string([canonical_shape()], CANONICAL_FORMAT)
    assert text == (GOLDEN / "canonical.fxs").read_text(encoding="utf-8")


def test_golden_file_is_the_reference_example_in_an_object_layer_plus_a_comment():
    golden = (GOLDEN / "canonical.fxs").read_text(encoding="utf-8")
    comment, body = golden.split("\n", 1)
    assert comment == "<!-- Silhouette Shape File: written by Rotoflow; pixelAspect=1 fps=24 -->"
    expected = _reference_in_object_layer("obj1")
    assert body.strip() == expected
    # the same elements, attributes and values as the reference, one layer deeper
    ours = etree.fromstring(golden.encode("utf-8"))
    reference = etree.fromstring(_reference_xml().encode("utf-8"))
    objects = "Properties/Property[@id='objects']"
    (layer,) = ours.xpath(f"/Silhouette/Layer/{objects}/Object")
    assert dict(layer.attrib) == {"type": "Layer", "label": "obj1", "expanded": "True"}
    settings = "Properties/Property[@id!='objects']"
    assert [_tree(p) for p in layer.xpath(settings)] == [
        _tree(p) for p in reference.xpath(f"/Silhouette/Layer/{settings}")
    ]
    assert _tree(layer.xpath(f"{objects}/Object")[0]) == _tree(
        reference.xpath(f"/Silhouette/Layer/{objects}/Object")[0]
    )


def test_lxml_reads_the_structure_and_values_formats_md_describes(shared):
    fmt = ShotFormat(854, 480, pixel_aspect=2.0, fps=25.0, first_frame=1001, last_frame=1040)
    want = [canonical_shape(), davis_shape("camel", [0, 10, 39], n=32)]
    text = silhouette.write_to_string(want, fmt)
    root = etree.fromstring(text.encode("utf-8"))  # well-formed, no declaration needed
    assert root.tag == "Silhouette"
    assert dict(root.attrib) == {
        "width": "854",
        "height": "480",
        "workRangeStart": "1001",
        "workRangeEnd": "1040",
        "sessionStartFrame": "1001",
    }
    assert root.xpath("count(/Silhouette/Layer)") == 1
    layers = root.xpath("/Silhouette/Layer/Properties/Property[@id='objects']/Object")
    assert [(o.get("type"), o.get("label")) for o in layers] == [
        ("Layer", "obj1"),
        ("Layer", "camel"),
    ]
    objects = root.xpath("//Object[@type='Shape']")
    assert [o.get("shape_type") for o in objects] == ["Bezier"] * 2
    assert [o.getparent().getparent().getparent() for o in objects] == layers
    for obj in objects:
        props = {p.get("id"): p for p in obj.xpath("Properties/Property")}
        assert set(props) == {"opacity", "motionBlur", "outlineColor", "mode", "invert", "path"}
        # the canonical shape lives on frames 1001-1010 of 1001-1040: hold keys hide it after
        keys = [(k.get("frame"), k.get("interp"), k.text) for k in props["opacity"].iter("Key")]
        assert keys == [("0", "hold", "100"), ("10", "hold", "0")] or (
            props["opacity"].get("constant") == "True"
            and props["opacity"].findtext("Value") == "100"
        )
        paths = obj.xpath(".//Key/Path")
        assert {(p.get("closed"), p.get("type")) for p in paths} == {("True", "Bezier")}
        assert len({len(p) for p in paths}) == 1  # the same point count in every key
    assert not re.search(r"[0-9]e[-+]?[0-9]|-0\.000000\b", text)  # %f text only
    # independent conversion back: x = nx * H / pa + W/2, y = ny * H + H/2, handles absolute
    for shape, (label, keys) in zip(want, _lxml_keys(text).items(), strict=True):
        assert label == shape.name
        assert [f + fmt.first_frame for f, _ in keys] == [k.frame for k in shape.keys]
        for (_, norm), key in zip(keys, shape.keys, strict=True):
            px = np.empty_like(norm)
            px[..., 0] = norm[..., 0] * fmt.height / fmt.pixel_aspect + fmt.width / 2
            px[..., 1] = norm[..., 1] * fmt.height + fmt.height / 2
            absolute = key.points.copy()
            absolute[:, 1:] += key.points[:, :1]
            np.testing.assert_allclose(px, absolute, rtol=0, atol=0.5e-6 * fmt.height + 1e-9)


def test_file_and_string_paths_give_the_same_bytes(tmp_path):
    shapes = [canonical_shape()]
    path = tmp_path / "shot" / "sh010.fxs"
    atomic_write_text(path, silhouette.write_to_string(shapes, CANONICAL_FORMAT))
    assert path.read_bytes() == (GOLDEN / "canonical.fxs").read_bytes()


def test_round_trip_canonical_shape():
    text = silhouette.write_to_string([canonical_shape()], CANONICAL_FORMAT)
    fmt, shapes = silhouette.read_from_string(text)
    assert fmt == CANONICAL_FORMAT
    assert [(s.object_id, s.name) for s in shapes] == [(1, "obj1")]
    assert_shapes_close(shapes, [canonical_shape()], atol=1e-3)


def test_round_trip_real_outlines_on_an_anamorphic_format(shared):
    fmt = ShotFormat(854, 480, pixel_aspect=2.0, fps=23.976, first_frame=1001, last_frame=1040)
    want = [davis_shape("camel", [0, 10, 20]), davis_shape("blackswan", [0, 39], n=64)]
    want[1].object_id = 8  # two objects; davis_shape always gives object 7
    text = silhouette.write_to_string(want, fmt)
    got_fmt, got = silhouette.read_from_string(text)
    assert got_fmt == fmt
    assert [(s.object_id, s.name) for s in got] == [(1, "camel"), (2, "blackswan")]
    assert_shapes_close(got, want, atol=1e-3)
    assert_same_mattes(got, want, fmt)


def test_more_decimals_tighten_the_round_trip(shared):
    fmt = ShotFormat(3840, 2160, first_frame=1001, last_frame=1050)
    shape = davis_shape("dog", [0, 49])
    for k in shape.keys:
        k.points *= 4.5  # 480p outline scaled onto a UHD frame
    loose = silhouette.read_from_string(silhouette.write_to_string([shape], fmt))[1]
    tight = silhouette.read_from_string(silhouette.write_to_string([shape], fmt, decimals=9))[1]
    err = [np.abs(g[0].keys[1].points - shape.keys[1].points).max() for g in (loose, tight)]
    assert 1e-4 < err[0] <= 2 * 0.5e-6 * 2160 + 1e-9
    assert err[1] <= 2 * 0.5e-9 * 2160 + 1e-9


def test_single_key_shape_round_trips():
    shape = RotoShape(1, "still", [circle_key(1004, 300.0, 200.0, 50.0)])
    text = silhouette.write_to_string([shape], CANONICAL_FORMAT)
    assert '<Key frame="3" interp="linear">' in text
    fmt, got = silhouette.read_from_string(text)
    assert (fmt.first_frame, fmt.last_frame) == (1001, 1010)
    assert_shapes_close(got, [shape], atol=ATOL)


def test_keys_outside_the_shot_are_refused():
    # formerly written with a negative session frame; exporters now write only keys in the shot
    shape = RotoShape(1, "early", [circle_key(995, 300.0, 200.0, 50.0)])
    with pytest.raises(ExportError, match=r"'early'.*frame 995, outside the shot's frames 1001"):
        silhouette.write_to_string([shape], CANONICAL_FORMAT)
    late = canonical_shape()
    late.keys[1] = circle_key(1011, 0, 0, 5)
    with pytest.raises(ExportError, match="frame 1011"):
        silhouette.write_to_string([late], CANONICAL_FORMAT)


def test_reads_keys_before_the_session_start():
    """A key before the work range is read at its frame; the shape is drawn on the work range
    only, so within it the path is the interpolation between that key and the next."""
    text = (GOLDEN / "canonical.fxs").read_text(encoding="utf-8")
    early = text.replace('<Key frame="0" interp="linear"', '<Key frame="-6" interp="linear"')
    _, (shape,) = silhouette.read_from_string(early)
    _, (golden,) = silhouette.read_from_string(text)
    assert shape.lifetime == (1001, 1010)
    assert [k.frame for k in shape.keys] == [1001, 1010]
    held = dataclasses.replace(shape, lifetime=None)
    moved = dataclasses.replace(golden, keys=[ShapeKey(995, golden.keys[0].points), golden.keys[1]])
    np.testing.assert_allclose(shape.keys[0].points, shape_at(moved, 1001), atol=1e-9)
    assert shape_at(held, 1010) is not None


def test_names_become_unique_labels():
    names = ["my shape", "my_shape", "1st", "a<b>&\"c'", "", "roto"]
    shapes = [canonical_shape(name=n, object_id=i) for i, n in enumerate(names, 1)]
    text = silhouette.write_to_string(shapes, CANONICAL_FORMAT, layer_name="main plate")
    root = etree.fromstring(text.encode("utf-8"))
    assert root.xpath("/Silhouette/Layer/@label") == ["main_plate"]
    got = root.xpath("//Object[@type='Shape']/@label")
    assert got == ["my_shape", "my_shape_2", "_1st", "a_b___c_", "Shape", "roto"]
    layers = root.xpath("//Object[@type='Layer']/@label")
    assert layers == got  # one layer per object, labelled like its first contour
    assert [s.name for s in silhouette.read_from_string(text)[1]] == got
    # an object named like the top-level layer gets a layer label of its own
    text = silhouette.write_to_string([canonical_shape(name="roto")], CANONICAL_FORMAT)
    root = etree.fromstring(text.encode("utf-8"))
    assert root.xpath("//Layer/@label | //Object/@label") == ["roto", "roto_2", "roto"]
    assert [s.name for s in silhouette.read_from_string(text)[1]] == ["roto_2"]


def test_reads_nested_layers_and_files_without_the_rotoflow_comment():
    reference = _reference_xml()
    nested = reference.replace(
        '<Object type="Shape"',
        '<Object type="Layer" label="sub"><Properties><Property id="objects">\n<Object type="Shape"',
    ).replace("</Object>", "</Object></Property></Properties></Object>")
    # a shape directly in the top-level layer is an object of its own; the shapes of a nested
    # layer are the contours of one object named after the layer
    for text, name in ((reference, "obj1"), ('<?xml version="1.0"?>\n' + nested, "sub")):
        fmt, shapes = silhouette.read_from_string(text)
        assert (fmt.pixel_aspect, fmt.fps) == (1.0, 24.0)
        assert (fmt.first_frame, fmt.last_frame) == (1001, 1010)
        assert [(s.object_id, s.name, s.contour, s.hole) for s in shapes] == [(1, name, 0, False)]
        assert_shapes_close(shapes, [canonical_shape()], atol=ATOL)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([circle_key(1010, 0, 0, 5), circle_key(1001, 0, 0, 5)], "strictly increase"),
        ([ShapeKey(1001, np.full((4, 3, 2), np.inf))], "non-finite"),
        ([ShapeKey(1001, np.zeros((2, 3, 2)))], "at least 3"),
        ([circle_key(1001, 0, 0, 5), ShapeKey(1010, np.zeros((5, 3, 2)))], "4 control points"),
        ([], "no keys"),
    ],
)
def test_invalid_shapes_are_refused(keys, message):
    with pytest.raises(ExportError, match=message):
        silhouette.write_to_string([RotoShape(1, "bad", keys)], CANONICAL_FORMAT)


def test_empty_shape_list_bad_options_and_bad_format_are_refused():
    with pytest.raises(ExportError, match="no shapes"):
        silhouette.write_to_string([], CANONICAL_FORMAT)
    with pytest.raises(ExportError, match="decimals must be an integer from 6 to 12, got 3"):
        silhouette.write_to_string([canonical_shape()], CANONICAL_FORMAT, decimals=3)
    with pytest.raises(ExportError, match="pixel_aspect"):
        silhouette.write_to_string([canonical_shape()], ShotFormat(64, 64, pixel_aspect=0.0))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace("</Layer>", ""),
            r"not well-formed XML \(mismatched tag\): line 48, column 3",
        ),
        (
            lambda t: t.replace("<Silhouette ", "<Mocha ").replace("</Silhouette>", "</Mocha>"),
            "<Mocha>",
        ),
        (lambda t: t.replace(' width="1920"', ""), "lacks the 'width'"),
        (lambda t: t.replace('shape_type="Bezier"', 'shape_type="Bspline"'), "only Bezier"),
        (lambda t: t.replace('closed="True"', 'closed="False"', 1), "open path"),
        (lambda t: t.replace("(0.185185,0.000000),", "(0.185185,0.0x0000),", 1), "non-numeric"),
        (lambda t: t.replace(",(0.102275,-0.185185)</Point>", "</Point>", 1), "got 2 pair"),
        (lambda t: t.replace('<Key frame="9"', '<Key frame="9.5"', 1), "frame='9.5'"),
        (lambda t: t.replace("<Point>(0.185185,0.000000)", "<Point>", 1), "cannot read point"),
    ],
)
def test_malformed_files_raise(edit, message):
    text = edit((GOLDEN / "canonical.fxs").read_text(encoding="utf-8"))
    with pytest.raises(ExportError, match=message):
        silhouette.read_from_string(text)


# --- multi-contour objects and sparse keys -------------------------------------------------------


def test_donut_matches_golden_file():
    text = silhouette.write_to_string(donut_object(), CANONICAL_FORMAT)
    assert text == (GOLDEN / "donut.fxs").read_text(encoding="utf-8")


def test_donut_is_one_layer_of_contours_in_paint_order_holes_subtract():
    root = etree.fromstring(silhouette.write_to_string(donut_object(), CANONICAL_FORMAT).encode())
    (layer,) = root.xpath("//Object[@type='Layer']")
    assert layer.get("label") == "donut"
    shapes = layer.xpath("Properties/Property[@id='objects']/Object[@type='Shape']")
    assert [s.get("label") for s in shapes] == ["donut", "donut_hole1", "donut_part2"]
    modes = [s.xpath("string(Properties/Property[@id='mode']/Value)") for s in shapes]
    assert modes == ["Add", "Subtract", "Add"]
    assert layer.xpath("string(Properties/Property[@id='mode']/Value)") == "Add"
    # sparse keys, session-relative, all linear; the island (lifetime 1004-1010) loses its
    # collapsed key at 1003: opacity hold keys hide it before 1004 instead
    keys = [
        [(k.get("frame"), k.get("interp")) for k in s.xpath("Properties/Property[@id='path']/Key")]
        for s in shapes
    ]
    assert keys == [
        [("0", "linear"), ("9", "linear")],
        [("0", "linear"), ("9", "linear")],
        [("3", "linear"), ("9", "linear")],
    ]
    opacity = [s.xpath("Properties/Property[@id='opacity']")[0] for s in shapes]
    assert [o.findtext("Value") for o in opacity[:2]] == ["100", "100"]
    keys = [(k.get("frame"), k.get("interp"), k.text) for k in opacity[2].iter("Key")]
    assert keys == [("0", "hold", "0"), ("3", "hold", "100")]
    # no feather is written: its XML ids are unknown
    ids = {p.get("id") for p in root.iter("Property")}
    assert ids == {
        "color",
        "invert",
        "mode",
        "objects",
        "opacity",
        "motionBlur",
        "outlineColor",
        "path",
    }


def test_round_trip_donut_keeps_contours_holes_and_mattes():
    want = donut_object()
    fmt, got = silhouette.read_from_string(silhouette.write_to_string(want, CANONICAL_FORMAT))
    assert fmt == CANONICAL_FORMAT
    assert [(s.object_id, s.name, s.contour, s.hole, s.label) for s in got] == [
        (1, "donut", 0, False, "donut"),
        (1, "donut", 1, True, "donut_hole1"),
        (1, "donut", 2, False, "donut_part2"),
    ]
    # no feather in the format; the lifetime comes back from the opacity keys
    assert [(s.feather, s.lifetime) for s in got] == [
        (0.0, (1001, 1010)),
        (0.0, (1001, 1010)),
        (0.0, (1004, 1010)),
    ]
    assert_shapes_close(got, [live_keys(s) for s in want], atol=ATOL)
    assert_same_mattes(got, want, CANONICAL_FORMAT)


def test_round_trip_objects_side_by_side_keeps_their_order_and_ids(shared):
    want = [canonical_shape(), *donut_object(), davis_shape("dog", [0, 4, 9])]
    _, got = silhouette.read_from_string(silhouette.write_to_string(want, CANONICAL_FORMAT))
    assert [(s.object_id, s.label) for s in got] == [
        (1, "obj1"),
        (2, "donut"),
        (2, "donut_hole1"),
        (2, "donut_part2"),
        (3, "dog"),
    ]
    assert_shapes_close(got, [live_keys(s) for s in want], atol=ATOL)
    assert_same_mattes(got, want, CANONICAL_FORMAT)


def test_reader_numbers_contours_of_foreign_layers_and_reads_modes():
    """A NukeFXSExporter-style nested layer of artist-named shapes: where a label says nothing,
    the contour gets the lowest free index; ``Subtract`` reads as a hole; a shape directly in
    the top-level layer is an object of its own."""
    text = (GOLDEN / "donut.fxs").read_text(encoding="utf-8")
    text = text.replace('type="Shape" label="donut_part2"', 'type="Shape" label="Bezier3"')
    text = text.replace('type="Shape" label="donut"', 'type="Shape" label="Bezier1"')
    lines = text.split("\n")
    shape = (GOLDEN / "canonical.fxs").read_text(encoding="utf-8").split("\n")[14:41]
    assert shape[0].strip().startswith('<Object type="Shape" label="obj1"')
    lines[8:8] = [line[6:] for line in shape]  # obj1 directly in the top-level layer
    _, got = silhouette.read_from_string("\n".join(lines))
    assert [(s.object_id, s.name, s.contour, s.hole) for s in got] == [
        (1, "obj1", 0, False),
        (2, "donut", 0, False),
        (2, "donut", 1, True),
        (2, "donut", 2, False),
    ]
    assert_shapes_close(
        got, [live_keys(s) for s in (canonical_shape(), *donut_object())], atol=ATOL
    )
