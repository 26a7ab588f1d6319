"""Lifetimes as opacity hold keys (Silhouette, After Effects): the keys, and reading them back."""

from __future__ import annotations

import numpy as np
import pytest

from exporters import nuke, silhouette
from exporters.lifetime import keys_within, lifetime_from_opacity, live_keys, opacity_keys
from rotoflow.errors import ExportError
from rotoflow.geometry import rasterize_shapes, shape_at
from rotoflow.types import RotoShape
from tests.exporters.helpers import CANONICAL_FORMAT, circle_key, collapsed_key
from tests.exporters.test_nuke import nuke_hex

FMT = CANONICAL_FORMAT  # frames 1001-1010


def _late(first: int = 1003, last: int = 1007) -> RotoShape:
    keys = [circle_key(first, 500.0, 500.0, 50.0), circle_key(last, 520.0, 500.0, 60.0)]
    if first > FMT.first_frame:
        keys.insert(0, collapsed_key(first - 1, 500.0, 500.0))
    if last < FMT.last_frame:
        keys.append(collapsed_key(last + 1, 520.0, 500.0))
    return RotoShape(1, "late", keys, lifetime=(first, last))


@pytest.mark.parametrize(
    ("life", "want"),
    [
        ((1003, 1007), [(1001, 0.0), (1003, 100.0), (1008, 0.0)]),
        ((1001, 1007), [(1001, 100.0), (1008, 0.0)]),
        ((1003, 1010), [(1001, 0.0), (1003, 100.0)]),
        ((1001, 1010), []),
        ((1005, 1005), [(1001, 0.0), (1005, 100.0), (1006, 0.0)]),
    ],
)
def test_opacity_keys_show_the_shape_on_its_lifetime_only(life, want):
    shape = _late(*life)
    keys = opacity_keys(shape, FMT)
    assert keys == want
    # held opacity per frame is 100 exactly on the lifetime, and reads back to it
    for frame in range(FMT.first_frame, FMT.last_frame + 1):
        held = [v for f, v in keys if f <= frame] or [k[1] for k in keys[:1]] or [100.0]
        assert (held[-1] > 0) == (life[0] <= frame <= life[1]), frame
    assert lifetime_from_opacity(keys, FMT) == life


def test_a_shape_without_lifetime_is_shown_on_its_keys_span():
    shape = RotoShape(1, "s", [circle_key(1002, 0, 0, 5), circle_key(1004, 0, 0, 6)])
    assert opacity_keys(shape, FMT) == [(1001, 0.0), (1002, 100.0), (1005, 0.0)]


def test_live_keys_drop_only_the_collapsed_keys():
    shape = _late()
    assert [k.frame for k in live_keys(shape).keys] == [1003, 1007]
    assert [k.frame for k in shape.keys] == [1002, 1003, 1007, 1008]  # input unchanged
    whole = RotoShape(1, "w", [circle_key(1001, 0, 0, 5)])
    assert live_keys(whole) is whole
    with pytest.raises(ExportError, match="no key inside its lifetime"):
        live_keys(RotoShape(1, "x", [circle_key(1001, 0, 0, 5)], lifetime=(1004, 1005)))


def test_two_stretches_of_opacity_are_not_a_lifetime():
    with pytest.raises(ExportError, match="separate stretches"):
        lifetime_from_opacity([(1001, 100.0), (1003, 0.0), (1005, 100.0), (1007, 0.0)], FMT)
    with pytest.raises(ExportError, match="every frame"):
        lifetime_from_opacity([(1001, 0.0)], FMT)
    assert lifetime_from_opacity([], FMT) == (1001, 1010)


def test_keys_within_keep_what_the_host_draws_on_the_lifetime():
    """Path keys outside the lifetime give way to keys on its ends with the path the host draws
    there (interpolated between the keys around)."""
    a, b = circle_key(1001, 500.0, 500.0, 40.0), circle_key(1009, 580.0, 500.0, 80.0)
    shape = RotoShape(1, "s", [a, b], lifetime=(1003, 1006))
    got = keys_within(shape)
    assert [k.frame for k in got.keys] == [1003, 1006]
    whole = RotoShape(1, "s", [a, b])
    for frame in range(1003, 1007):
        np.testing.assert_allclose(shape_at(got, frame), shape_at(whole, frame), atol=1e-9)
    assert shape_at(got, 1002) is None and shape_at(got, 1007) is None
    inside = RotoShape(1, "s", [a, b], lifetime=(1001, 1009))
    assert keys_within(inside) is inside


def test_silhouette_file_with_opacity_hold_keys_reads_as_a_lifetime():
    """A shape keyed 1001 and 1010 and hidden by its opacity outside 1004-1006, in the form
    NukeFXSExporter writes a keyed Nuke opacity: read back with that lifetime, drawn there
    only, with the interpolated path."""
    shape = RotoShape(1, "obj", [circle_key(1001, 900, 500, 100), circle_key(1010, 1000, 500, 200)])
    text = silhouette.write_to_string([shape], FMT)
    assert '<Property constant="True" id="opacity"><Value>100</Value></Property>' in text
    keyed = (
        '<Property id="opacity"><Key frame="0" interp="hold">0.0</Key>'
        '<Key frame="3" interp="hold">100.0</Key><Key frame="6" interp="hold">0.0</Key>'
        "</Property>"
    )
    text = text.replace(
        '<Property constant="True" id="opacity"><Value>100</Value></Property>', keyed
    )
    _, (got,) = silhouette.read_from_string(text)
    assert got.lifetime == (1004, 1006)
    for frame in range(FMT.first_frame, FMT.last_frame + 1):
        drawn = rasterize_shapes([got], frame, FMT.width, FMT.height)
        if 1004 <= frame <= 1006:
            want = rasterize_shapes([shape], frame, FMT.width, FMT.height)
            assert (drawn == want).mean() > 0.9999, frame
        else:
            assert not drawn.any(), frame
    bad = text.replace('<Key frame="6" interp="hold">0.0</Key>', '<Key frame="6">x</Key>')
    with pytest.raises(ExportError, match="opacity key"):
        silhouette.read_from_string(bad)


def test_nuke_file_with_keys_outside_its_lifetime_reads_as_nuke_draws_it():
    """An artist's curvegroup keyed 1001 and 1010 with lifetime 1004-1006 (``ltt 4``): read
    with that lifetime and keys on its ends holding the path Nuke interpolates there."""
    shape = RotoShape(1, "obj", [circle_key(1001, 900, 500, 100), circle_key(1010, 1000, 500, 200)])
    text = nuke.write_to_string([shape], FMT)
    assert "ltt" not in text
    life = f" ltn {nuke_hex(1004)} ltm {nuke_hex(1006)} ltt {nuke_hex(4)} tt "
    text = text.replace(" tt ", life, 1)
    _, (got,) = nuke.read_from_string(text)
    assert got.lifetime == (1004, 1006)
    assert [k.frame for k in got.keys] == [1004, 1006]
    for frame in (1004, 1005, 1006):
        np.testing.assert_allclose(shape_at(got, frame), shape_at(shape, frame), atol=1e-3)
    assert shape_at(got, 1003) is None and shape_at(got, 1007) is None
