"""The exported feather, drawn as Nuke and After Effects draw it (:mod:`tests.exporters.host_alpha`),
gives back the alpha it was measured from."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from exporters import after_effects, nuke
from rotoflow.geometry import fit_shapes, shape_at
from rotoflow.types import ShotFormat
from tests.exporters.ae_stub import rebuilt_objects, run_stub
from tests.exporters.host_alpha import centred_ramp, combine, ramp_between

W, H = 200, 160


def _ring_alpha() -> tuple[np.ndarray, np.ndarray]:
    """A ring (outer radius 50, hole radius 22) with linear soft edges of different widths and
    centres, and its binary mask."""
    ys, xs = np.mgrid[0:H, 0:W]
    d = np.hypot(xs + 0.5 - 100, ys + 0.5 - 80)
    outer = np.clip((51.0 - d) / 8.0 + 0.5, 0, 1)  # middle 1 px outside the mask's edge
    hole = np.clip((d - 22.0) / 4.0 + 0.5, 0, 1)
    return (np.minimum(outer, hole)).astype(np.float32), (d < 50) & (d >= 22)


def _nuke_layers(shapes, frame):
    layers = []
    for s in shapes:
        p = shape_at(s, frame)
        one = dataclasses.replace(s, keys=[dataclasses.replace(s.keys[0], frame=frame, points=p)])
        shift, offsets = nuke.feather_curves(one)
        main = p.copy()
        main[:, 0] += shift[0]
        feather = main.copy()
        feather[:, 0] += offsets[0]
        layers.append((s.hole, ramp_between(main, feather, W, H)))
    return layers


def test_nuke_and_after_effects_feathers_give_back_the_alpha(tmp_path):
    alpha, mask = _ring_alpha()
    shapes = fit_shapes(iter([(1, mask, alpha)]), 1, "ring")
    assert [s.hole for s in shapes] == [False, True]
    hard = np.abs(mask - alpha).mean()
    nuke_alpha = combine(_nuke_layers(shapes, 1))
    fmt = ShotFormat(W, H, 1.0, 24.0, 1, 1)
    run = run_stub(tmp_path, after_effects.write_to_string(shapes, fmt))
    (masks,) = rebuilt_objects(run, fmt)  # what the script set: feather, expansion, falloff
    ae_alpha = combine(
        [
            (
                got.hole,
                centred_ramp(got.keys[0].points, got.feather, after_effects.expansion(got), W, H),
            )
            for _, got in masks
        ]
    )
    for drawn in (nuke_alpha, ae_alpha):
        err = np.abs(drawn - alpha).mean()
        assert err < 0.25 * hard, (err, hard)  # a hard edge is four times as far off
        assert drawn.sum() / alpha.sum() == pytest.approx(1.0, abs=0.01)
