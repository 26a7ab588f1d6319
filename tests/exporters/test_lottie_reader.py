"""Lottie JSON reader: round trips of the writer's output, holes from orientation, the Bodymovin
forms it reads, and the documents it refuses."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from exporters import lottie
from rotoflow.errors import ExportError
from rotoflow.geometry import iou, rasterize_shapes
from rotoflow.types import RotoShape, ShotFormat
from tests.exporters.helpers import (
    CANONICAL_FORMAT,
    GOLDEN,
    assert_shapes_close,
    canonical_shape,
    circle_key,
    davis_shape,
    donut_object,
)


def _golden(stem: str = "canonical") -> str:
    return (GOLDEN / f"{stem}.lottie.json").read_text(encoding="utf-8")


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
    # renderers hold the first and last keys, so what they draw lives over the whole shot
    assert [s.lifetime for s in got] == [(1001, 1040), None, (1001, 1040)]
    assert_shapes_close(got, [*want, one_key], atol=1e-3)


def test_round_trip_donut_keeps_contours_holes_and_lifetimes():
    fmt, got = lottie.read_from_string(_golden("donut"))
    want = donut_object()
    assert fmt == CANONICAL_FORMAT
    assert [(s.object_id, s.name, s.contour, s.hole, s.lifetime) for s in got] == [
        (2, "donut", 0, False, None),
        (2, "donut", 1, True, None),
        (2, "donut", 2, False, (1004, 1010)),
    ]
    assert [s.feather for s in got] == [0.0, 0.0, 0.0]  # Lottie has no feather: 4 px is lost
    assert [s.label for s in got] == ["donut", "donut_hole1", "donut_part2"]
    assert_shapes_close(got, want, atol=1e-3)
    w, h = CANONICAL_FORMAT.width, CANONICAL_FORMAT.height
    for frame in range(CANONICAL_FORMAT.first_frame, CANONICAL_FORMAT.last_frame + 1):
        ours = rasterize_shapes(want, frame, w, h)
        assert iou(rasterize_shapes(got, frame, w, h), ours) >= 0.99, frame


def _donut_paths(doc: dict) -> list[dict]:
    return doc["layers"][0]["shapes"][0]["it"][:3]


def test_reader_takes_holes_from_orientation_against_the_first_path():
    doc = json.loads(_golden("donut"))
    for n, path in enumerate(_donut_paths(doc)):
        path["nm"] = f"path{n}"  # names that say nothing
    assert [s.hole for s in lottie.read_from_string(json.dumps(doc))[1]] == [False, True, False]
    w = CANONICAL_FORMAT.width
    for path in _donut_paths(doc):  # mirrored, x -> W - x: every path runs the other way round
        for kf in path["ks"]["k"]:
            bez = kf["s"][0]
            bez["v"] = [[w - x, y] for x, y in bez["v"]]
            bez["i"] = [[-x, y] for x, y in bez["i"]]
            bez["o"] = [[-x, y] for x, y in bez["o"]]
    got = lottie.read_from_string(json.dumps(doc))[1]
    assert [s.hole for s in got] == [False, True, False]  # the hole still runs against the outer
    for frame in (1003, 1004, 1008):
        mirrored = rasterize_shapes(got, frame, w, CANONICAL_FORMAT.height)
        ours = rasterize_shapes(donut_object(), frame, w, CANONICAL_FORMAT.height)
        assert iou(mirrored, ours[:, ::-1]) >= 0.99, frame


@pytest.mark.parametrize(("name", "hole"), [("donut_hole1", True), ("donut_part1", False)])
def test_reader_takes_the_hole_of_a_path_drawn_nowhere_from_its_name(name, hole):
    doc = json.loads(_golden("donut"))
    path = _donut_paths(doc)[1]
    path["nm"] = name
    for kf in path["ks"]["k"]:
        kf["s"][0]["v"] = [[960, 540]] * 4  # every key collapsed: no orientation
        kf["s"][0]["i"] = kf["s"][0]["o"] = [[0, 0]] * 4
    assert [s.hole for s in lottie.read_from_string(json.dumps(doc))[1]] == [False, hole, False]


def test_even_odd_fills_of_several_paths_are_refused():
    doc = json.loads(_golden("donut"))
    doc["layers"][0]["shapes"][0]["it"][3]["r"] = 2
    with pytest.raises(ExportError, match=r"layers\[0\] fills 3 paths with the even-odd rule"):
        lottie.read_from_string(json.dumps(doc))
    one = json.loads(_golden())
    one["layers"][0]["shapes"][0]["it"][1]["r"] = 2  # one path: even-odd fills it the same
    assert len(lottie.read_from_string(json.dumps(one))[1]) == 1


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
    # one object per layer, its paths the contours in order; a renderer holds the first key
    # before it, so both live over the whole shot (the animated one to its keys past the end)
    got = [(s.object_id, s.name, s.contour, s.hole, [k.frame for k in s.keys]) for s in shapes]
    assert got == [(2, "L", 0, False, [0]), (2, "L", 1, False, [12, 16])]
    assert [s.lifetime for s in shapes] == [(0, 7), (0, 16)]
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
