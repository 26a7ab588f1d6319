"""The Nuke reader on scripts in the syntax Nuke itself writes (hand-built fixtures, not our writer's
output): Nuke 10 single-key curves, clipboard fragments without a format, several Roto nodes."""

from pathlib import Path

import numpy as np
import pytest

from exporters import nuke
from rotoflow.errors import ExportError
from rotoflow.types import ShotFormat

CLIPBOARD = Path(__file__).parent / "data" / "nuke10_clipboard.nk"
SQUARE = np.array([(100, 100), (200, 100), (200, 200), (100, 200)], float)


def _plate(height: int = 300) -> ShotFormat:
    return ShotFormat(
        width=400, height=height, pixel_aspect=1.0, fps=25.0, first_frame=1, last_frame=30
    )


def test_clipboard_fragment_takes_the_plate_format():
    fmt, shapes = nuke.read_from_string(CLIPBOARD.read_text(), _plate())
    assert (fmt.width, fmt.height, fmt.fps, fmt.first_frame, fmt.last_frame) == (
        400,
        300,
        25,
        1,
        30,
    )
    hero = shapes[0]
    assert [k.frame for k in hero.keys] == [20]  # {px x41a00000 ...: one key on frame 20
    np.testing.assert_allclose(hero.keys[0].points[:, 0], SQUARE)
    np.testing.assert_allclose(hero.keys[0].points[:, 1:], 0.0)  # {{0 -}} tangents


def test_y_is_flipped_with_the_given_plate_height():
    _, shapes = nuke.read_from_string(CLIPBOARD.read_text(), _plate(height=400))
    np.testing.assert_allclose(shapes[0].keys[0].points[:, 0], SQUARE + (0, 100))


def test_no_format_anywhere_is_a_one_line_error_asking_for_the_plate_format():
    with pytest.raises(ExportError, match="plate format") as info:
        nuke.read_from_string(CLIPBOARD.read_text())
    assert "\n" not in str(info.value)
    assert "line 6" in str(info.value)  # the first Roto node's curves knob


def test_shapes_of_every_roto_and_rotopaint_node_with_unique_names():
    _, shapes = nuke.read_from_string(CLIPBOARD.read_text(), _plate())
    assert [(s.object_id, s.name) for s in shapes] == [
        (1, "RotoHero.Bezier1"),
        (2, "RotoPaint1.Bezier1"),
    ]


def test_animated_curves_with_run_length_items_give_each_key():
    _, shapes = nuke.read_from_string(CLIPBOARD.read_text(), _plate())
    paint = shapes[1]
    assert [k.frame for k in paint.keys] == [1, 10]
    np.testing.assert_allclose(paint.keys[0].points[:, 0], SQUARE)
    np.testing.assert_allclose(paint.keys[1].points[:, 0], SQUARE + (20, 0))


def test_a_root_format_wins_over_the_plate_format():
    text = 'Root {\n inputs 0\n format "400 500 0 0 400 500 1 "\n}\n' + CLIPBOARD.read_text()
    fmt, shapes = nuke.read_from_string(text, _plate())
    assert fmt.height == 500
    np.testing.assert_allclose(shapes[0].keys[0].points[:, 0], SQUARE + (0, 200))


def test_a_single_node_keeps_its_shape_names():
    text = CLIPBOARD.read_text()
    one = text[: text.index("RotoPaint {")]
    _, shapes = nuke.read_from_string(one, _plate())
    assert [s.name for s in shapes] == ["Bezier1"]


def test_names_only_one_node_uses_are_kept():
    text = CLIPBOARD.read_text()
    i = text.index("RotoPaint {")
    text = text[:i] + text[i:].replace("curvegroup Bezier1 ", "curvegroup Matte2 ")
    _, shapes = nuke.read_from_string(text, _plate())
    assert [(s.object_id, s.name) for s in shapes] == [(1, "Bezier1"), (2, "Matte2")]
