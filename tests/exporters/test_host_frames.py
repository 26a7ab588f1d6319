"""Host frame numbers (``--start-frame``): a 1001-based plate keyed from host frame 0 (a clip in
Resolve's Fusion page) in every roto format, read back with our readers and, for After Effects,
with the stub DOM that runs the written script; the default keeps the plate's numbers."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from lxml import etree

import exporters
from exporters import frames, shapes_json
from exporters.lifetime import live_keys
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape
from tasks.stages.export import check_start_frame, write_formats
from tests.exporters.ae_stub import run_stub
from tests.exporters.helpers import (
    CANONICAL_FORMAT,
    assert_shapes_close,
    canonical_shape,
    circle_key,
    collapsed_key,
)
from tests.exporters.test_fusion import _Lua, _lua_keys
from tests.exporters.test_silhouette import _lxml_keys

READ_BACK = ("lottie", "nuke", "silhouette")


def _shapes() -> list[RotoShape]:
    """A contour keyed 1001 and 1010, and one living 1003..1007 (collapsed keys 1002, 1008)."""
    late = RotoShape(
        2,
        "late",
        keys=[
            collapsed_key(1002, 500.0, 500.0),
            circle_key(1003, 500.0, 500.0, 50.0),
            circle_key(1007, 520.0, 500.0, 60.0),
            collapsed_key(1008, 520.0, 500.0),
        ],
        lifetime=(1003, 1007),
    )
    return [canonical_shape(), late]


def _ae_host_frames(tmp_path, script: str) -> tuple[int, list[int]]:
    """The comp's first host frame and the first mask's key frames, as After Effects shows them:
    ``displayStartTime * fps`` plus each key's time in frames."""
    (comp,) = run_stub(tmp_path, script)["comps"]
    start = round(comp["displayStartTime"] * comp["frameRate"])
    times = comp["layers"][0]["masks"][0]["times"]
    return start, [start + round(t * comp["frameRate"]) for t in times]


@pytest.mark.parametrize(("start_frame", "first_key"), [(0, 0), (None, 1001), (1, 1)])
def test_every_roto_format_keys_from_the_start_frame(tmp_path, start_frame, first_key):
    shapes = _shapes()
    dest = tmp_path / "roto"
    dest.mkdir()
    written = write_formats(
        shapes, CANONICAL_FORMAT, "sh010", dest, exporters.ROTO_FORMAT_NAMES, start_frame
    )
    offset = first_key - 1001
    for name in READ_BACK:
        fmt, got = exporters.from_name(name).read_from_string(written[name].read_text())
        assert (fmt.first_frame, fmt.last_frame) == (first_key, first_key + 9), name
        assert got[0].keys[0].frame == first_key, name
        assert [k.frame for k in got[0].keys] == [1001 + offset, 1010 + offset], name
        # told the start frame, the file reads back at plate frames
        plate, plate_fmt = frames.to_plate(got, fmt, 1001)
        assert plate_fmt == CANONICAL_FORMAT, name
        # Nuke's lifetime and Silhouette's opacity keys hide a contour outside its lifetime:
        # no collapsed keys
        want = [live_keys(c) for c in shapes] if name in ("nuke", "silhouette") else shapes
        assert [[k.frame for k in c.keys] for c in plate] == [
            [k.frame for k in c.keys] for c in want
        ], name
        if name in ("nuke", "silhouette"):
            assert plate[1].lifetime == (1003, 1007), name
    # Fusion: keys at comp frames, the offset recorded so that the reader gives plate frames
    setting = written["fusion"].read_text()
    spline_keys = [int(k) for k in re.findall(r"^\s*\[(-?\d+)\] = \{", setting, re.M)]
    assert spline_keys[:2] == [first_key, first_key + 9]
    assert f"FrameOffset = {offset}," in setting
    fmt, got = exporters.from_name("fusion").read_from_string(setting)
    assert fmt == CANONICAL_FORMAT and [k.frame for k in got[0].keys] == [1001, 1010]
    _, nuke = exporters.from_name("nuke").read_from_string(written["nuke"].read_text())
    assert [k.frame for k in nuke[1].keys] == [f + offset for f in (1003, 1007)]
    assert nuke[1].lifetime == (1003 + offset, 1007 + offset)
    start, keys = _ae_host_frames(tmp_path, written["after_effects"].read_text())
    assert (start, keys) == (first_key, [first_key, first_key + 9])
    svg_names = sorted(p.name for p in written["svg"].iterdir())
    assert svg_names[0] == f"sh010.{first_key:04d}.svg" and len(svg_names) == 10
    # the pipeline JSON keeps plate frames and records the start frame it was exported with
    text = written["shapes_json"].read_text()
    fmt, got = shapes_json.read_from_string(text)
    assert fmt == CANONICAL_FORMAT and got[0].keys[0].frame == 1001
    assert shapes_json.read_start_frame(text) == start_frame
    assert ("start_frame" in json.loads(text)) == (start_frame is not None)


def test_negative_start_frames_only_where_the_host_has_negative_frames(tmp_path):
    shapes = [canonical_shape()]
    written = write_formats(
        shapes, CANONICAL_FORMAT, "sh010", tmp_path, ["nuke", "fusion", "shapes_json"], -10
    )
    fmt, got = exporters.from_name("nuke").read_from_string(written["nuke"].read_text())
    assert [k.frame for k in got[0].keys] == [-10, -1] and fmt.first_frame == -10
    setting = written["fusion"].read_text()
    assert re.findall(r"^\s*\[(-?\d+)\] = \{", setting, re.M)[:2] == ["-10", "-1"]
    fmt, got = exporters.from_name("fusion").read_from_string(setting)
    assert [k.frame for k in got[0].keys] == [1001, 1010]
    assert shapes_json.read_start_frame(written["shapes_json"].read_text()) == -10
    for name in ("after_effects", "silhouette", "lottie", "svg"):
        with pytest.raises(ExportError, match=f"format '{name}' cannot key negative host frames"):
            write_formats(shapes, CANONICAL_FORMAT, "sh", tmp_path / name, ["nuke", name], -1)
        with pytest.raises(ExportError, match="cannot key negative host frames"):
            check_start_frame(["nuke", name], -1)
        assert not (tmp_path / name).exists()  # refused before any file is written
    check_start_frame(["nuke", "fusion", "shapes_json"], -1)
    check_start_frame(exporters.ROTO_FORMAT_NAMES, 0)


@pytest.mark.parametrize("bad", [1.5, "0", True])
def test_a_start_frame_that_is_not_an_integer_is_refused(tmp_path, bad):
    with pytest.raises(ExportError, match="start frame must be an integer"):
        write_formats([canonical_shape()], CANONICAL_FORMAT, "sh", tmp_path, ["nuke"], bad)
    with pytest.raises(ExportError, match="start frame must be an integer"):
        shapes_json.write_to_string([canonical_shape()], CANONICAL_FORMAT, start_frame=bad)


def test_shift_moves_keys_lifetimes_and_range_and_leaves_the_input_alone():
    shapes = _shapes()
    moved, fmt = frames.to_host(shapes, CANONICAL_FORMAT, 86400)
    assert (fmt.first_frame, fmt.last_frame) == (86400, 86409)
    assert [k.frame for k in moved[1].keys] == [86401, 86402, 86406, 86407]
    assert moved[1].lifetime == (86402, 86406)
    assert shapes[1].lifetime == (1003, 1007) and shapes[0].keys[0].frame == 1001
    back_shapes, back_fmt = frames.to_plate(moved, fmt, 1001)
    assert back_fmt == CANONICAL_FORMAT
    assert_shapes_close(back_shapes, shapes, atol=0.0)
    assert frames.to_host(shapes, CANONICAL_FORMAT, None)[1] is CANONICAL_FORMAT


def test_shapes_json_schema_allows_the_recorded_start_frame():
    schema = json.loads(shapes_json.SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    doc = json.loads(
        shapes_json.write_to_string([canonical_shape()], CANONICAL_FORMAT, start_frame=0)
    )
    validator.validate(doc)
    doc["start_frame"] = "0"
    assert not validator.is_valid(doc)
    with pytest.raises(ExportError, match="start_frame has the wrong type"):
        shapes_json.read_start_frame(json.dumps(doc))


def _fusion_comp_frames(lua, text: str) -> list[int]:
    """The comp frames (``KeyFrames`` indices) of the first ``PolylineMask``, read by Lua."""
    doc = lua(text)
    (mask,) = [n for n, t in doc.Tools.items() if lua.cls(t) == "PolylineMask"]
    return [int(f) for f, _, _ in _lua_keys(lua, doc, mask)]


@pytest.mark.parametrize(("start_frame", "first"), [(0, 0), (None, 1001)])
def test_host_frames_read_by_the_independent_checkers(tmp_path, start_frame, first):
    """A 1001-based plate with ``--start-frame 0`` (and the default), checked without our readers:
    Fusion's setting evaluated by Lua (key indices are comp frames), Silhouette's XML by lxml
    (``sessionStartFrame`` plus each key's session frame), Nuke's ``Root`` range as text and
    After Effects by the stub DOM that runs the script."""
    written = write_formats(
        [canonical_shape()],
        CANONICAL_FORMAT,
        "sh010",
        tmp_path,
        ["nuke", "fusion", "silhouette", "after_effects"],
        start_frame,
    )
    assert _fusion_comp_frames(_Lua(), written["fusion"].read_text()) == [first, first + 9]
    text = written["silhouette"].read_text()
    session = int(etree.fromstring(text.encode()).get("sessionStartFrame"))
    ((_, keys),) = _lxml_keys(text).items()
    assert [session + f for f, _ in keys] == [first, first + 9]
    nuke = written["nuke"].read_text()
    assert f" first_frame {first}\n" in nuke and f" last_frame {first + 9}\n" in nuke
    start, ae_keys = _ae_host_frames(tmp_path, written["after_effects"].read_text())
    assert (start, ae_keys) == (first, [first, first + 9])
