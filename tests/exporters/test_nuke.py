"""Nuke ``.nk`` exporter: golden file, reference forms, round trips and errors."""

from __future__ import annotations

import dataclasses
import re
import struct

import numpy as np
import pytest

import exporters
from exporters import nuke
from exporters.lifetime import live_keys
from rotoflow.errors import ExportError
from rotoflow.geometry import shape_at
from rotoflow.geometry.bezier import flatten, signed_area
from rotoflow.types import RotoShape, ShapeKey, ShotFormat
from tests.conftest import SHARED
from tests.exporters.helpers import (
    CANONICAL_FORMAT,
    GOLDEN,
    assert_same_mattes,
    assert_shapes_close,
    brace_depths,
    canonical_shape,
    circle_key,
    davis_shape,
    donut_object,
)

FORMATS_MD = SHARED / "references" / "formats.md"


def _f32(hexword: str) -> float:
    return struct.unpack(">f", bytes.fromhex(hexword[1:]))[0]


def _reference_block(start: str, n_lines: int) -> list[str]:
    """``n_lines`` lines of formats.md from the one containing ``start``, comments removed."""
    lines = FORMATS_MD.read_text(encoding="utf-8").splitlines()
    i = next(i for i, line in enumerate(lines) if start in line)
    return [re.sub(r"\s*<-.*$", "", line).strip() for line in lines[i : i + n_lines]]


def test_canonical_shape_matches_golden_file():
    text = nuke.write_to_string([canonical_shape()], CANONICAL_FORMAT)
    assert text == (GOLDEN / "canonical.nk").read_text(encoding="utf-8")


def test_golden_hex_words_decode_to_the_canonical_values():
    golden = (GOLDEN / "canonical.nk").read_text(encoding="utf-8")
    words = set(re.findall(r"\bx[0-9a-f]{8}\b", golden))
    decoded = {round(_f32(w), 4) for w in words}
    # vertices in Nuke space (y up), key times, tangent lengths, format centre, constants
    expected = {960, 740, 1160, 540, 340, 760, 1000, 1220, 320, 780, 1001, 1010, 1.2, 10, 4}
    expected |= {110.4569, -110.4569, 121.5026, -121.5026}
    assert decoded == expected
    assert _f32("x44700000") == 960.0
    assert _f32("x42dce9f5") == pytest.approx(110.4569, abs=1e-4)


def test_reference_animated_triplets_appear_verbatim():
    ref = _reference_block("{px {x447a4000 x447c8000}", 13)
    assert ref[0] == "{px {x447a4000 x447c8000}"
    triplets = [line.removesuffix("}") if line.endswith("}}}}") else line for line in ref[1:]]
    out = nuke.write_to_string([canonical_shape()], CANONICAL_FORMAT).splitlines()
    main = [line.strip() for line in out]
    start = main.index("{x447a4000 x447c8000}")
    assert main[start + 1 : start + 13] == [*triplets[:11], triplets[11] + "}}"]


def test_file_and_string_paths_give_the_same_bytes(tmp_path):
    shapes = [canonical_shape()]
    path = exporters.write_to_file(shapes, CANONICAL_FORMAT, tmp_path / "shot" / "sh010.nk")
    assert path.read_bytes() == nuke.write_to_string(shapes, CANONICAL_FORMAT).encode("utf-8")
    assert [p.name for p in path.parent.iterdir()] == ["sh010.nk"]


def test_braces_balance_for_one_many_and_single_key_shapes(shared):
    one_key = RotoShape(3, "still", [circle_key(1004, 300.0, 200.0, 50.0)])
    for shapes in (
        [],
        [canonical_shape()],
        [canonical_shape(), davis_shape("dog", [0, 5]), one_key],
    ):
        lowest, final = brace_depths(nuke.write_to_string(shapes, CANONICAL_FORMAT))
        assert (lowest, final) == (0, 0)


def test_round_trip_canonical_shape():
    text = nuke.write_to_string([canonical_shape()], CANONICAL_FORMAT)
    fmt, shapes = nuke.read_from_string(text)
    assert fmt == CANONICAL_FORMAT
    assert [(s.object_id, s.name) for s in shapes] == [(1, "obj1")]
    assert_shapes_close(shapes, [canonical_shape()], atol=1e-3)


def test_round_trip_real_outlines_on_an_anamorphic_format(shared):
    fmt = ShotFormat(854, 480, pixel_aspect=2.0, fps=23.976, first_frame=1001, last_frame=1040)
    want = [davis_shape("camel", [0, 10, 20]), davis_shape("blackswan", [0, 39], n=64)]
    want[1].object_id = 8  # two objects; davis_shape always gives object 7
    text = nuke.write_to_string(want, fmt)
    assert 'format "854 480 0 0 854 480 2 "' in text
    got_fmt, got = nuke.read_from_string(text)
    assert got_fmt == fmt
    assert [(s.object_id, s.name) for s in got] == [(1, "camel"), (2, "blackswan")]
    assert_shapes_close(got, want, atol=1e-3)
    assert_same_mattes(got, want, fmt)


def test_single_key_shape_uses_the_static_form_and_reads_back():
    shape = RotoShape(1, "still", [circle_key(1001, 960.0, 540.0, 200.0)])
    text = nuke.write_to_string([shape], CANONICAL_FORMAT)
    assert "{px x447a4000\n        {xc2dce9f5 0} {x44700000 x44390000} {x42dce9f5 0}\n" in text
    assert "{px x447a4000\n        {xc2dce9f5 0} {0 0} {x42dce9f5 0}\n" in text  # feather
    _, shapes = nuke.read_from_string(text)
    assert_shapes_close(shapes, [shape], atol=1e-3)


def test_reads_the_reference_static_example(shared):
    snippet = "\n".join(_reference_block("{px x447a4000", 5))
    assert snippet.startswith("{px x447a4000") and snippet.endswith("x42dce9f5}}")
    text = (
        'Roto {\n format "1920 1080 0 0 1920 1080 1 HD_1080"\n curves {{{v x3f99999a}\n'
        "  {f 0}\n  {n\n   {layer Root\n    {f 512}\n    {t x44700000 x44070000}\n    {a}\n"
        "    {curvegroup Ellipse1 512 bezier\n     {{cc\n       {f 8192}\n"
        f"       {snippet}}}\n      idem}}\n     {{tx 1 x44700000 x44070000}}\n"
        "     {a tt x40800000}}}}}}\n name Roto1\n}\n"
    )
    fmt, shapes = nuke.read_from_string(text)
    assert (fmt.width, fmt.height, fmt.first_frame, fmt.last_frame) == (1920, 1080, 1001, 1001)
    (shape,) = shapes
    assert shape.name == "Ellipse1" and [k.frame for k in shape.keys] == [1001]
    pts = shape.keys[0].points
    np.testing.assert_allclose(
        pts[:, 0], [[960, 340], [1160, 540], [960, 740], [760, 540]], atol=1e-3
    )  # image space, y down: the reference's (960, 740) in Nuke is the top point
    k = 110.4569
    np.testing.assert_allclose(pts[0, 1:], [[-k, 0], [k, 0]], atol=1e-3)
    np.testing.assert_allclose(pts[1, 1:], [[0, -k], [0, k]], atol=1e-3)


def test_reads_run_length_constant_slope_and_decimal_items():
    text = (
        'Root {\n format "100 50 0 0 100 50 1 tiny"\n first_frame 1\n last_frame 9\n}\n'
        "RotoPaint {\n curves {{{v x3f99999a} {f 0} {n {layer Root {f 0} {a}\n"
        "  {curvegroup A 512 bezier {{cc {f 8192} {px {1 5 9}\n"
        "   {{{0 -}} {{0 -}}}\n"
        "   {{{x 2 {x41200000 -}} {30.5 -}} {{10 ls 1 rs 1} {x41a00000 x3f800000 1 0 1} {40 -}}}\n"
        "   {{{0 -}} {{0 -}}}\n"
        "   {{{1 -} {2 -} {3 -}} {{0 -}}}\n"
        "   {{{60 -}} {{x 3 {20 -}}}}\n"
        "   {{{0 -}} {{-1 -} {-2 -} {-3 -}}}\n"
        "   {{{0 -}} {{0 -}}}\n"
        "   {{{x42c80000 -}} {{x41f00000 -}}}\n"
        "   {{{0 -}} {{0 -}}}}} idem} {tx 1 0 0} {a}}}}}}\n}\n"
    )
    fmt, (shape,) = nuke.read_from_string(text)
    assert (fmt.width, fmt.height, fmt.fps, fmt.first_frame, fmt.last_frame) == (100, 50, 24, 1, 9)
    assert [k.frame for k in shape.keys] == [1, 5, 9]
    np.testing.assert_allclose(
        [k.points[0, 0] for k in shape.keys], [[10, 40], [10, 30], [30.5, 10]], atol=1e-4
    )
    np.testing.assert_allclose([k.points[1, 1] for k in shape.keys], [[1, 0], [2, 0], [3, 0]])
    np.testing.assert_allclose([k.points[1, 2] for k in shape.keys], [[0, 1], [0, 2], [0, 3]])
    np.testing.assert_allclose([k.points[1, 0] for k in shape.keys], [[60, 30]] * 3)
    np.testing.assert_allclose(shape.keys[2].points[2, 0], [100, 20])


def test_names_become_unique_identifiers():
    names = ["my shape", "my_shape", "1st", "Root", "", "élan"]
    shapes = [canonical_shape(name=n, object_id=i) for i, n in enumerate(names, 1)]
    text = nuke.write_to_string(shapes, CANONICAL_FORMAT, node_name="Roto sh-010")
    got = re.findall(r"\{curvegroup (\S+) 512 bezier", text)
    # written in reverse paint order: the last shape at the top of Nuke's list
    assert got == ["_lan", "Shape", "Root_2", "_1st", "my_shape_2", "my_shape"]
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", g) for g in got)
    assert "\n name Roto_sh_010\n" in text
    read = nuke.read_from_string(text)[1]
    assert [(s.object_id, s.name, s.contour) for s in read] == [
        (i, n, 0) for i, n in enumerate(got[::-1], 1)
    ]


def test_mismatched_point_counts_are_refused():
    shape = canonical_shape()
    shape.keys[1] = ShapeKey(1010, shape.keys[1].points[:3])
    with pytest.raises(ExportError, match="4 control points at frame 1001 but 3 at frame 1010"):
        nuke.write_to_string([shape], CANONICAL_FORMAT)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([circle_key(1010, 0, 0, 5), circle_key(1001, 0, 0, 5)], "strictly increase"),
        ([circle_key(1001, 0, 0, 5), circle_key(1001, 0, 0, 6)], "strictly increase"),
        ([ShapeKey(1001, np.full((4, 3, 2), np.nan))], "non-finite"),
        ([ShapeKey(1001, np.full((4, 3, 2), 1e39))], "float32"),
        ([ShapeKey(1001, np.zeros((2, 3, 2)))], "at least 3"),
        ([ShapeKey(1001, np.zeros((4, 2)))], r"\(N, 3, 2\)"),
        ([], "no keys"),
    ],
)
def test_invalid_shapes_are_refused(keys, message):
    with pytest.raises(ExportError, match=message):
        nuke.write_to_string([RotoShape(1, "bad", keys)], CANONICAL_FORMAT)


def test_bad_version_option_is_refused():
    with pytest.raises(ExportError, match="13.2 v8"):
        nuke.write_to_string([canonical_shape()], CANONICAL_FORMAT, nuke_version="13")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("tt x40800000}}}}}}", "tt x40800000}}}}}"), r"line 9, .*never closed"),
        (lambda t: t + "}\n", r"line 58, column 1: '\}' without a matching"),
        (lambda t: t.replace("{x447a4000 x447c8000}", "{x447a4000 xZZ}"), "line 25.*'xZZ'"),
        (lambda t: t.replace("{0 -}}}\n", "{0 -} {0 -}}}\n", 1), "line 26.*3 values for 2 keys"),
        (lambda t: t.replace(" bezier", " bspline", 1), "only bezier"),
        (lambda t: t.replace("{f 8192}", "{f 8224}", 1), "open curve"),
        (lambda t: t.replace('format "1920', 'format "19x20'), "cannot read format"),
    ],
)
def test_malformed_scripts_raise_with_position(edit, message):
    text = edit((GOLDEN / "canonical.nk").read_text(encoding="utf-8"))
    with pytest.raises(ExportError, match=message):
        nuke.read_from_string(text)


def test_facade_finds_nuke_and_lists_choices_for_unknown_ones():
    assert exporters.from_name("nuke") is nuke
    assert exporters.from_path("/shots/sh010/roto.NK") is nuke
    with pytest.raises(ExportError, match=r"'\.xyz'.*\.nk.*\.json"):
        exporters.from_path("roto.xyz")
    with pytest.raises(ExportError, match=r"'maya'; available: .*nuke, .*shapes_json"):
        exporters.from_name("maya")


def test_reads_a_pasted_fragment_with_comments_strings_and_other_nodes():
    body = nuke.write_to_string([canonical_shape()], CANONICAL_FORMAT).split("Roto {", 1)[1]
    text = (
        "#! /usr/local/Nuke13.2v8/nuke -nx\n"
        "set cut_paste_input [stack 0]\nversion 13.2 v8\npush $cut_paste_input\n"
        'StickyNote {\n inputs 0\n label "roto for \\"sh010\\" \\{v2\\}"\n name Note1\n}\n'
        'Group {\n name G1\n addUserKnob {26 info l "" +STARTLINE T "a \\[b\\]"}\n}\nend_group\n'
        "Roto {" + body
    )
    fmt, shapes = nuke.read_from_string(text)
    assert (fmt.width, fmt.height, fmt.first_frame, fmt.last_frame) == (1920, 1080, 1001, 1010)
    assert_shapes_close(shapes, [canonical_shape()], atol=1e-3)


# --- multi-contour objects, feather, sparse keys --------------------------------------------------


def _curvegroup_block(text: str, name: str) -> str:
    start = text.index(f"{{curvegroup {name} ")
    end = text.find("{curvegroup ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def test_donut_matches_golden_file_and_braces_balance():
    text = nuke.write_to_string(donut_object(), CANONICAL_FORMAT)
    assert text == (GOLDEN / "donut.nk").read_text(encoding="utf-8")
    assert brace_depths(text) == (0, 0)


def test_donut_contours_are_curvegroups_in_reverse_paint_order_holes_subtract():
    text = nuke.write_to_string(donut_object(), CANONICAL_FORMAT)
    names = re.findall(r"\{curvegroup (\S+) 512 bezier", text)
    assert names == ["donut_part2", "donut_hole1", "donut"]  # the outer contour renders first
    attrs = {n: re.findall(r"\{a osw [^}]*\}", _curvegroup_block(text, n)) for n in names}
    assert [a[0].endswith("tt x40800000 bm x41400000}") for a in attrs.values()] == [
        False,
        True,
        False,
    ]
    assert _f32("x41400000") == 12.0  # bm 12 = subtract in NukeFXSExporter's map
    # Only the keys inside the lifetime: the island (ltn 1004) drops its collapsed key at 1003.
    island = _curvegroup_block(text, "donut_part2")
    assert re.search(r"\{px\n\s+\{x447b0000 x447c8000\}", island)
    assert island.count("{px\n") == 2


def test_round_trip_donut_keeps_contours_holes_feather_and_mattes():
    want = donut_object()
    fmt, got = nuke.read_from_string(nuke.write_to_string(want, CANONICAL_FORMAT))
    assert fmt == CANONICAL_FORMAT
    assert [(s.object_id, s.name, s.contour, s.hole, s.label) for s in got] == [
        (1, "donut", 0, False, "donut"),
        (1, "donut", 1, True, "donut_hole1"),
        (1, "donut", 2, False, "donut_part2"),
    ]
    assert [s.feather for s in got] == pytest.approx([4.0, 0.0, 0.0], abs=1e-5)
    # lifetimes come back from ltt 4 (frame range) with ltn/ltm; shapes without one have none
    assert [s.lifetime for s in got] == [s.lifetime for s in want] == [None, None, (1004, 1010)]
    island = _curvegroup_block(nuke.write_to_string(want, CANONICAL_FORMAT), "donut_part2")
    assert f"ltn {nuke_hex(1004)} ltm {nuke_hex(1010)} ltt {nuke_hex(4)} tt " in island
    assert "ltt" not in _curvegroup_block(nuke.write_to_string(want, CANONICAL_FORMAT), "donut")
    assert_shapes_close(got, [live_keys(s) for s in want], atol=1e-3)
    assert_same_mattes(got, want, CANONICAL_FORMAT)


def test_round_trip_objects_side_by_side_keeps_their_order_and_ids(shared):
    dog = davis_shape("dog", [0, 4, 9])
    want = [canonical_shape(), *donut_object(), dog]
    text = nuke.write_to_string(want, CANONICAL_FORMAT)
    _, got = nuke.read_from_string(text)
    assert [(s.object_id, s.label) for s in got] == [
        (1, "obj1"),
        (2, "donut"),
        (2, "donut_hole1"),
        (2, "donut_part2"),
        (3, "dog"),
    ]
    assert_shapes_close(got, [live_keys(s) for s in want], atol=1e-3)
    assert_same_mattes(got, want, CANONICAL_FORMAT)


def _moves(shape):
    """The main vertices' moves from the path and the feather points' offsets from the main
    vertices, ``(K, N, 2)`` each."""
    main, feather = nuke.feather_curves(shape)
    path = np.stack([k.points[:, 0] for k in shape.keys])
    return main[..., 0, :] - path, feather[..., 0, :] - main[..., 0, :]


def test_feather_curves_put_main_and_feather_on_the_two_ends_of_the_soft_band():
    outer, hole, island = donut_object()
    k = outer.feather
    out = np.array([[0, -1], [1, 0], [0, 1], [-1, 0]], dtype=float)  # top, right, bottom, left
    # an outer contour (clockwise on screen): the main curve k/2 in, the feather k beyond it
    shift, offsets = _moves(outer)
    np.testing.assert_allclose(shift[0], -out * k / 2, atol=1e-12)
    np.testing.assert_allclose(offsets[0], out * k, atol=1e-12)
    # a hole (counter-clockwise: left, bottom, right, top): its own alpha is 1 in the hole, so
    # its main curve moves into the hole and its feather points back out, into the object
    towards_centre = np.array([[1, 0], [0, -1], [-1, 0], [0, 1]], dtype=float)
    shift, offsets = _moves(dataclasses.replace(hole, feather=2.0))
    np.testing.assert_allclose(shift[1], towards_centre * 1.0, atol=1e-12)
    np.testing.assert_allclose(offsets[1], -towards_centre * 2.0, atol=1e-12)
    # an outer contour drawn counter-clockwise still feathers outwards (orientation from area)
    ccw = dataclasses.replace(hole, hole=False, feather=2.0)
    np.testing.assert_allclose(_moves(ccw)[1][1], -towards_centre * 2, atol=1e-12)
    # a band per point: inside and outside differ from point to point
    band = np.array([[1.0, 3.0], [0.0, 2.0], [2.0, 2.0], [0.5, 0.0]])
    shift, offsets = _moves(dataclasses.replace(outer, band=band))
    np.testing.assert_allclose(shift[1], -out * band[:, :1], atol=1e-12)
    np.testing.assert_allclose(offsets[1], out * band.sum(axis=1, keepdims=True), atol=1e-12)
    # collapsed keys and zero feathers get nothing
    shift, offsets = _moves(dataclasses.replace(island, feather=3.0))
    assert not offsets[0].any() and not shift[0].any()
    assert np.linalg.norm(offsets[1], axis=1) == pytest.approx([3.0] * 4)
    main, feather = nuke.feather_curves(canonical_shape())
    path = np.stack([key.points for key in canonical_shape().keys])
    np.testing.assert_array_equal(main, path)
    np.testing.assert_array_equal(feather, path)


def test_feather_curves_are_parallel_curves_of_a_round_path():
    # a circle of radius 20 as four Bezier arcs: its feather curve 6 px out must be the circle of
    # radius 26, and its main curve 4 px in that of radius 16, between the vertices too
    r, c = 20.0, np.array([50.0, 50.0])
    kappa = 4.0 * (np.sqrt(2.0) - 1.0) / 3.0
    dirs = np.array([[0, -1], [1, 0], [0, 1], [-1, 0]], dtype=float)  # clockwise on screen
    tang = np.stack([-dirs[:, 1], dirs[:, 0]], axis=1)  # clockwise direction of travel
    pts = np.stack([c + r * dirs, -kappa * r * tang, kappa * r * tang], axis=1)
    assert signed_area(pts) > 0
    band = np.tile([4.0, 6.0], (4, 1))
    shape = RotoShape(1, "disc", [ShapeKey(1, pts)], feather=10.0, band=band)
    main, feather = nuke.feather_curves(shape)
    for curve, radius in ((main[0], 16.0), (feather[0], 26.0)):
        dist = np.hypot(*(flatten(curve, 64) - c).T)
        assert np.abs(dist - radius).max() < 0.02 * radius
    # the handles alone, unscaled, would miss the circle of radius 26 by more
    unscaled = feather[0].copy()
    unscaled[:, 1:] = pts[:, 1:]
    dist = np.hypot(*(flatten(unscaled, 64) - c).T)
    assert np.abs(dist - 26.0).max() > 0.04 * 26.0


def test_reader_takes_the_path_half_way_between_main_and_feather_curves():
    outer = donut_object()[0]
    band = np.array([[1.0, 3.0], [0.0, 2.0], [2.0, 2.0], [0.5, 0.0]])
    shape = dataclasses.replace(outer, band=band, feather=2.0)
    _, (got,) = nuke.read_from_string(nuke.write_to_string([shape], CANONICAL_FORMAT))
    out = np.array([[0, -1], [1, 0], [0, 1], [-1, 0]], dtype=float)
    centre = (band[:, 1:] - band[:, :1]) / 2  # the ramp's middle, off the path
    for key, want in zip(got.keys, shape.keys, strict=True):
        np.testing.assert_allclose(key.points[:, 0], want.points[:, 0] + out * centre, atol=1e-3)
    half = band.sum(axis=1) / 2
    np.testing.assert_allclose(got.band, np.stack([half, half], axis=1), atol=1e-4)
    assert got.feather == pytest.approx(band.sum(axis=1).mean(), abs=1e-4)


def nuke_hex(value: float) -> str:
    """A float as Nuke writes it in a ``.nk``: its float32 bits, ``x%08x``."""
    return f"x{struct.unpack('>I', struct.pack('>f', value))[0]:08x}"


def _unhex(cell: str) -> float:
    return 0.0 if cell == "0" else struct.unpack(">f", bytes.fromhex(cell[1:]))[0]


def test_feather_curve_holds_the_offsets_in_nuke_space_and_reads_back():
    shape = dataclasses.replace(canonical_shape(), feather=2.5)
    text = nuke.write_to_string([shape], CANONICAL_FORMAT)
    feather_cc = text.split("{cc", 2)[2]
    rows = re.findall(r"^\s+(\{\{.*\}\})$", feather_cc, flags=re.M)
    # point 0 (top of the circle, y up in Nuke): in-tangent, centre offset (0, +2.5), out-tangent
    assert rows[1] == "{{{0 -} {0 -}} {{x40200000 -} {x40200000 -}}}"
    # its in-tangent is the feather curve's own: the path's, lengthened as the parallel curve
    # 1.25 px out of this round shape is; the main curve's, 1.25 px in, is shortened as much
    main_cc = text.split("{cc", 2)[1]
    main_rows = re.findall(r"^\s+(\{\{.*\}\})$", main_cc, flags=re.M)

    def first_key(row: str) -> np.ndarray:
        x, y = re.findall(r"\{(x[0-9a-f]{8}|0) -\}", row)[::2]
        return np.array([_unhex(x), _unhex(y)])

    path_in = canonical_shape().keys[0].points[0, 1] * (1.0, -1.0)
    feather_in, main_in = first_key(rows[0]), first_key(main_rows[0])
    assert np.linalg.norm(feather_in) > np.linalg.norm(path_in) + 0.01
    assert np.linalg.norm(main_in) < np.linalg.norm(path_in) - 0.01
    np.testing.assert_allclose((feather_in + main_in) / 2, path_in, rtol=1e-5)
    _, (got,) = nuke.read_from_string(text)
    assert got.feather == pytest.approx(2.5, abs=1e-6)


def _hermite(items: list[tuple[float, float, float]], frames: list[int], t: float) -> float:
    """Evaluate ``(value, left slope, right slope)`` keys at ``t`` as cubic Hermite segments."""
    i = max(j for j in range(len(frames) - 1) if frames[j] <= t)
    (v0, _, r0), (v1, l1, _) = items[i], items[i + 1]
    h = frames[i + 1] - frames[i]
    s = (t - frames[i]) / h
    h00, h10, h01, h11 = (
        2 * s**3 - 3 * s**2 + 1,
        s**3 - 2 * s**2 + s,
        -2 * s**3 + 3 * s**2,
        s**3 - s**2,
    )
    return h00 * v0 + h10 * h * r0 + h01 * v1 + h11 * h * l1


def test_three_or_more_keys_carry_secant_slopes_that_interpolate_linearly(shared):
    shape = davis_shape("dog", [0, 2, 9])  # sparse keys at 1001, 1003, 1010
    text = nuke.write_to_string([shape], CANONICAL_FORMAT)
    item = r"\{(x[0-9a-f]{8}|0) (x[0-9a-f]{8}|0) 1 (x[0-9a-f]{8}|0) 1\}"
    main = text.split("{cc", 2)[1]
    rows = re.findall(r"^\s+(\{\{\{.*\}\})$", main, flags=re.M)
    assert len(rows) == 3 * shape.n_points

    def num(word: str) -> float:
        return 0.0 if word == "0" else _f32(word)

    frames = [k.frame for k in shape.keys]
    vertex_rows = rows[1::3]  # [in, vertex, out] per point
    for i, row in enumerate(vertex_rows):
        found = [tuple(num(w) for w in m) for m in re.findall(item, row)]
        x_items, y_items = found[:3], found[3:]
        assert len(x_items) == len(y_items) == 3
        assert x_items[0][1] == 0 and x_items[-1][2] == 0  # flat outside the keys
        for t in (1001.5, 1002, 1004, 1006.25, 1009):
            want = shape_at(shape, t)[i, 0]
            x, y = _hermite(x_items, frames, t), _hermite(y_items, frames, t)
            assert (x, CANONICAL_FORMAT.height - y) == pytest.approx(tuple(want), abs=2e-3)
    # two-key curves keep the reference's plain items
    assert "{px\n        {x447a4000 x447c8000}\n        {{{xc2dce9f5 -}" in nuke.write_to_string(
        [canonical_shape()], CANONICAL_FORMAT
    )


def test_keys_outside_the_shot_are_refused():
    shape = RotoShape(1, "early", [circle_key(995, 300.0, 200.0, 50.0)])
    with pytest.raises(ExportError, match=r"'early'.*frame 995, outside the shot's frames 1001"):
        nuke.write_to_string([shape], CANONICAL_FORMAT)
    late = canonical_shape()
    late.keys[1] = circle_key(1011, 0, 0, 5)
    with pytest.raises(ExportError, match="frame 1011"):
        nuke.write_to_string([late], CANONICAL_FORMAT)


def test_reader_groups_by_name_per_node_and_reads_blend_modes():
    one = nuke.write_to_string([canonical_shape()], CANONICAL_FORMAT)
    node = one[one.index("Roto {") :]
    donut = nuke.write_to_string(donut_object(), CANONICAL_FORMAT)
    # a second node with the same shape name, and a hand-made subtract shape in a sub-layer
    # whose attributes include an expression
    extra = node.replace(
        " {a osw x41200000 osf 0 str 1 spx x44700000 spy x44070000 sb 1 tt x40800000}",
        " {a r {=parent.r 1} bm 12 tt x40800000}",
    ).replace("    {curvegroup obj1 ", "    {layer Sub {f 0} {a}\n    {curvegroup Bezier7 ")
    extra = extra.replace("tt x40800000}}}}}}", "tt x40800000}}}}}}}")
    fmt, shapes = nuke.read_from_string(donut + node + extra)
    assert fmt == CANONICAL_FORMAT
    assert [(s.object_id, s.name, s.contour, s.hole) for s in shapes] == [
        (1, "donut", 0, False),
        (1, "donut", 1, True),
        (1, "donut", 2, False),
        (2, "obj1", 0, False),  # the second node's objects never merge with the first's
        (3, "Bezier7", 0, True),
    ]


def test_reader_keeps_clashing_contour_names_apart():
    shapes = [canonical_shape(name="arm_part1", object_id=1), canonical_shape(name="arm")]
    shapes[1].object_id = 2
    shapes.append(dataclasses.replace(canonical_shape(name="arm", object_id=2), contour=1))
    text = nuke.write_to_string(shapes, CANONICAL_FORMAT)
    assert re.findall(r"\{curvegroup (\S+) 512", text) == ["arm_part1_2", "arm", "arm_part1"]
    _, got = nuke.read_from_string(text)
    # "arm_part1" (an object's own name) reads as contour 1 of "arm"; the real contour 1 of
    # "arm", renamed arm_part1_2, is no contour name and becomes an object of its own
    assert [(s.object_id, s.name, s.contour) for s in got] == [
        (1, "arm", 1),
        (1, "arm", 0),
        (2, "arm_part1_2", 0),
    ]
