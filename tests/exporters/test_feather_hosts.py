"""The exported feather, read back from each file and drawn as Nuke and After Effects draw it
(:mod:`tests.exporters.host_alpha`), gives back the alpha it was measured from."""

from __future__ import annotations

import numpy as np
import pytest

from exporters import after_effects, nuke
from rotoflow.geometry import fit_shapes
from rotoflow.types import ShotFormat
from tests.exporters.ae_stub import rebuilt_objects, run_stub
from tests.exporters.host_alpha import after_effects_alpha, nuke_alpha

W, H = 200, 160
FMT = ShotFormat(W, H, 1.0, 24.0, 1, 1)


def _ring_alpha() -> tuple[np.ndarray, np.ndarray]:
    """A ring (outer radius 50, hole radius 22) with linear soft edges of different widths, and
    its binary mask."""
    ys, xs = np.mgrid[0:H, 0:W]
    d = np.hypot(xs + 0.5 - 100, ys + 0.5 - 80)
    outer = np.clip((50.0 - d) / 8.0 + 0.5, 0, 1)
    hole = np.clip((d - 22.0) / 4.0 + 0.5, 0, 1)
    return (np.minimum(outer, hole)).astype(np.float32), (d < 50) & (d >= 22)


def test_nuke_and_after_effects_feathers_give_back_the_alpha(tmp_path):
    alpha, mask = _ring_alpha()
    shapes = fit_shapes(iter([(1, mask, alpha)]), 1, "ring")
    assert [s.hole for s in shapes] == [False, True]
    hard = np.abs(mask - alpha).mean()
    drawn_nuke = nuke_alpha(nuke.read_from_string(nuke.write_to_string(shapes, FMT))[1], 1, W, H)
    run = run_stub(tmp_path, after_effects.write_to_string(shapes, FMT))
    (masks,) = rebuilt_objects(run, FMT)  # what the script set: feather, expansion, falloff
    drawn_ae = after_effects_alpha(masks, 1, W, H)
    for drawn in (drawn_nuke, drawn_ae):
        err = np.abs(drawn - alpha).mean()
        assert err < 0.25 * hard, (err, hard)  # a hard edge is four times as far off
        assert drawn.sum() / alpha.sum() == pytest.approx(1.0, abs=0.02)
