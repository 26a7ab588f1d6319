"""The checks every exporter shares (:mod:`exporters.checks`): the shape rules, each broken once."""

from __future__ import annotations

import numpy as np
import pytest

from exporters import checks
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShapeKey
from tests.exporters.helpers import canonical_shape, collapsed_key, donut_object

# --- check_shapes ------------------------------------------------------------------------------


def test_check_shapes_accepts_objects_of_several_contours():
    island = donut_object()[2]
    island.keys.append(collapsed_key(1011, 1000.0, 540.0))  # one frame after the lifetime
    island.lifetime = (1004, 1010)
    ball = canonical_shape("ball", 5)
    ball.feather, ball.lifetime = 0.5, (1001, 1010)
    checks.check_shapes([*donut_object()[:2], island, ball, canonical_shape("other", 6)])
    checks.check_shapes([])


def _broken(rule: str) -> list[RotoShape]:
    """``donut_object()`` with one rule of :func:`check_shapes` broken (on the hole, contour 1,
    unless the rule is about another shape)."""
    shapes = donut_object()
    hole = shapes[1]
    key = hole.keys[1]
    if rule == "no keys":
        hole.keys = []
    elif rule == "frame order":
        key.frame = 1001
    elif rule == "frame type":
        key.frame = 1010.0
    elif rule == "point count":
        key.points = key.points[:3]
    elif rule == "too few points":
        hole.keys = [ShapeKey(1001, key.points[:2])]
    elif rule == "point shape":
        key.points = key.points[:, :2]
    elif rule == "non-finite":
        key.points[0, 2, 1] = np.nan
    elif rule == "object id type":
        hole.object_id = "2"
    elif rule == "name type":
        hole.name = None
    elif rule == "contour":
        hole.contour = -1
    elif rule == "hole type":
        hole.hole = 1
    elif rule == "feather negative":
        hole.feather = -1.0
    elif rule == "feather non-finite":
        hole.feather = float("inf")
    elif rule == "feather type":
        hole.feather = "2"
    elif rule == "lifetime arity":
        hole.lifetime = (1001,)
    elif rule == "lifetime type":
        hole.lifetime = (1001.0, 1010)
    elif rule == "lifetime order":
        hole.lifetime = (1010, 1001)
    elif rule == "key before lifetime":
        hole.lifetime = (1003, 1010)  # key at 1001 is two frames early
    elif rule == "key after lifetime":
        hole.lifetime = (1001, 1008)
    elif rule == "duplicate contour":
        shapes[2].contour = 1
    elif rule == "name":
        shapes[2].name = "bagel"
    return shapes


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("no keys", "has no keys"),
        ("frame order", "key frames must strictly increase, got 1001 then 1001"),
        ("frame type", "key frame 1010.0 is not an integer"),
        ("point count", "has 4 control points at frame 1001 but 3 at frame 1010"),
        ("too few points", "frame 1001: 2 control points; a closed shape needs at least 3"),
        ("point shape", r"points must be \(N, 3, 2\) \[vertex, in, out\], got shape \(4, 2, 2\)"),
        ("non-finite", "frame 1010: non-finite point values"),
        ("object id type", "object_id '2' is not an integer"),
        ("name type", "name None is not a string"),
        ("contour", "contour -1 is not an integer >= 0"),
        ("hole type", "hole 1 is not True or False"),
        ("feather negative", "feather -1.0 must be a finite number of pixels >= 0"),
        ("feather non-finite", "feather inf must be a finite number"),
        ("feather type", "feather '2' must be a finite number"),
        ("lifetime arity", r"lifetime \(1001,\) must be None or \(first, last\) frames"),
        ("lifetime type", r"lifetime \(1001.0, 1010\) must be None or \(first, last\)"),
        ("lifetime order", "lifetime first frame 1010 is after last frame 1001"),
        ("key before lifetime", "key frame 1001 is outside lifetime 1003..1010"),
        ("key after lifetime", "key frame 1010 is outside lifetime 1001..1008"),
        ("duplicate contour", "object 2 has two shapes with contour 1"),
        ("name", "object 2 is named 'donut' by an earlier shape"),
    ],
)
def test_check_shapes_names_the_shape_and_the_broken_rule(rule, message):
    with pytest.raises(ExportError, match=message) as caught:
        checks.check_shapes(_broken(rule))
    text = str(caught.value)
    assert "\n" not in text
    who = {
        "duplicate contour": "shape 'donut_part1' (object 2, contour 1)",
        "name": "shape 'bagel_part2' (object 2, contour 2)",
        "object id type": "shape 'donut_hole1' (object '2', contour 1)",
        "name type": "shape 'None_hole1' (object 2, contour 1)",
        "contour": "shape 'donut_hole-1' (object 2, contour -1)",
    }.get(rule, "shape 'donut_hole1' (object 2, contour 1)")
    assert text.startswith(who), text


def test_check_shapes_takes_numpy_scalars_and_names_them_plainly():
    shapes = donut_object()
    for s in shapes:
        s.object_id, s.contour = np.int64(s.object_id), np.int32(s.contour)
    shapes[1].hole, shapes[0].feather = np.bool_(True), np.float32(4.0)
    checks.check_shapes(shapes)
    shapes[2].contour = np.int64(1)
    with pytest.raises(ExportError, match=r"^shape 'donut_part1' \(object 2, contour 1\): "):
        checks.check_shapes(shapes)
