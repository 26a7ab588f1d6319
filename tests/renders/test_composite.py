"""The render kinds frame by frame: greenscreen, rgba, overlay, and the checks of user input."""

from __future__ import annotations

import numpy as np
import pytest

from renders import KINDS, RenderOptions, check_kinds, parse_colour
from renders.composite import PlateFrame, colour_of, greenscreen, overlay, rgba, union
from rotoflow.errors import RenderError


def _frame(alpha: np.ndarray, number: int = 1001) -> PlateFrame:
    h, w = alpha.shape
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., 0] = 200
    rgb[..., 2] = np.arange(w, dtype=np.uint8)[None, :]
    return PlateFrame(number, rgb, {(1, "dancer"): alpha})


def test_greenscreen_keys_the_object_over_the_colour():
    alpha = np.zeros((4, 6), np.float32)
    alpha[:, 2] = 1.0
    alpha[:, 3] = 0.5
    frame = _frame(alpha)
    out, a = greenscreen(frame, RenderOptions(key_colour=(0, 255, 0)))
    assert a is None and out.dtype == np.uint8 and out.shape == (4, 6, 3)
    np.testing.assert_array_equal(out[:, 0], [[0, 255, 0]] * 4)  # alpha 0: the key colour
    np.testing.assert_array_equal(out[:, 2], frame.rgb[:, 2])  # alpha 1: the plate
    np.testing.assert_allclose(out[0, 3], [100, 127.5, 1.5], atol=0.5)  # half way, to a step
    blue, _ = greenscreen(frame, RenderOptions(key_colour=parse_colour("#0000ff")))
    np.testing.assert_array_equal(blue[0, 0], [0, 0, 255])


def test_rgba_keeps_the_plate_and_unites_the_objects():
    a = np.array([[0.0, 0.5, 1.0]], np.float32)
    b = np.array([[0.5, 0.5, 0.0]], np.float32)
    frame = _frame(a)
    frame.alphas[(2, "hat")] = b
    rgb, alpha = rgba(frame, RenderOptions())
    assert rgb is frame.rgb
    np.testing.assert_allclose(alpha, [[0.5, 0.75, 1.0]])
    np.testing.assert_allclose(union([], (1, 2)), [[0.0, 0.0]])


def test_overlay_tints_outlines_and_burns_in():
    h, w = 240, 320
    alpha = np.zeros((h, w), np.float32)
    alpha[80:200, 120:220] = 1.0
    frame = _frame(alpha, 1017)
    out, a = overlay(frame, RenderOptions(shot="sh010"))
    assert a is None and out.shape == (h, w, 3)
    inside = out[140, 170].astype(int)
    expected = np.round(frame.rgb[140, 170] * 0.5 + np.array(colour_of(1)) * 0.5)
    np.testing.assert_allclose(inside, expected, atol=1)
    np.testing.assert_array_equal(out[140, 40], frame.rgb[140, 40])  # outside: the plate
    assert (out[80:200, 119] == colour_of(1)).all(axis=-1).sum() > 50  # the outline
    # burn-ins: shot top left, frame number top right, the object's name bottom left
    white, red = np.array([255, 255, 255]), np.array(colour_of(1))
    for y, x, ink in ((4, 4, white), (4, w - 40, white), (h - 20, 4, red)):
        patch = out[y : y + 14, x : x + 30].astype(int)
        assert (patch.max(axis=-1) < 5).any(), (y, x)  # the dark box
        assert (np.abs(patch - ink).max(axis=-1) < 40).any(), (y, x)  # the text
    other, _ = overlay(_frame(alpha, 1018), RenderOptions(shot="sh010"))
    assert (other[:30, w - 60 :] != out[:30, w - 60 :]).any()  # the number changes
    assert (other[:30, :60] == out[:30, :60]).all()


def test_kind_names_and_colours_are_checked_with_the_choices_listed():
    assert check_kinds(["rgba", " overlay", "rgba"]) == ["rgba", "overlay"]
    assert set(KINDS) == {"greenscreen", "rgba", "overlay"}
    with pytest.raises(RenderError, match="greenscreen, rgba, overlay"):
        check_kinds(["greenscren"])
    with pytest.raises(RenderError, match="no render kind"):
        check_kinds([])
    assert parse_colour("0, 177, 64") == (0, 177, 64)
    for bad in ("0,255", "0,256,0", "green", "#00ff0"):
        with pytest.raises(RenderError, match="R,G,B"):
            parse_colour(bad)
