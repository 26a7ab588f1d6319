"""Alpha as the hosts draw a feathered roto shape, from their documentation, for checking edges.

- **Nuke** (Roto node): a shape's own alpha is 1 inside its main curve and falls linearly to 0 at
  its feather curve (Nuke's default falloff); shapes are combined in paint order, over for add
  shapes and subtracted for ``bm`` subtract shapes.
- **After Effects** (mask with ``maskFeatherFalloff`` linear): the feather straddles the mask path
  moved by the Mask Expansion, half inside and half outside (user guide, "Soften (feather) the
  edges of a mask"); masks combine top to bottom, Add adding and Subtract subtracting.

Distances are exact to a dense sampling of each curve (0.25 px apart), measured from pixel
centres; inside tests are the non-zero winding fill at pixel centres.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial import cKDTree

from rotoflow.geometry import rasterize_shape, shape_at
from rotoflow.geometry.bezier import as_points, flatten
from rotoflow.types import ShapeKey

_SPACING = 0.25


def _dense(pts: np.ndarray) -> np.ndarray:
    """Points on a closed Bezier at most :data:`_SPACING` pixels apart."""
    poly = flatten(as_points(pts), 32)
    nxt = np.roll(poly, -1, axis=0)
    steps = np.maximum(np.ceil(np.hypot(*(nxt - poly).T) / _SPACING).astype(int), 1)
    t = np.concatenate([np.arange(k) / k for k in steps])
    start = np.repeat(poly, steps, axis=0)
    return start + t[:, None] * (np.repeat(nxt, steps, axis=0) - start)


def curve_distance(pts: np.ndarray, width: int, height: int, reach: float) -> np.ndarray:
    """``(H, W) float64`` distance from each pixel centre to a closed Bezier, capped at
    ``reach``."""
    tree = cKDTree(_dense(pts))
    out = np.full((height, width), float(reach))
    poly = flatten(as_points(pts), 8)
    x0, y0 = np.maximum(np.floor(poly.min(axis=0) - reach).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(poly.max(axis=0) + reach).astype(int) + 1, (width, height))
    if x1 <= x0 or y1 <= y0:
        return out
    ys, xs = np.mgrid[y0:y1, x0:x1]
    d, _ = tree.query(np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], 1), distance_upper_bound=reach)
    out[y0:y1, x0:x1] = np.minimum(d, reach).reshape(ys.shape)
    return out


def ramp_between(main: np.ndarray, feather: np.ndarray, width: int, height: int) -> np.ndarray:
    """Nuke's model of one shape: 1 inside ``main``, 0 outside ``feather``, and between them
    ``d_feather / (d_main + d_feather)`` (a linear ramp from one curve to the other)."""
    inside_main = rasterize_shape(main, width, height)
    inside_feather = rasterize_shape(feather, width, height) | inside_main
    reach = float(np.abs(main[:, 0] - feather[:, 0]).max()) + 2.0
    d_main = curve_distance(main, width, height, reach)
    d_feather = curve_distance(feather, width, height, reach)
    ramp = d_feather / np.maximum(d_main + d_feather, 1e-9)
    return np.where(inside_main, 1.0, np.where(inside_feather, ramp, 0.0))


def centred_ramp(
    pts: np.ndarray, feather: float, expansion: float, width: int, height: int
) -> np.ndarray:
    """After Effects' model of one mask with linear falloff: ``clip(0.5 - (sd - e) / f)``, where
    ``sd`` is the signed distance to the path (positive outside its loop), ``e`` the expansion
    and ``f`` the feather; a hard fill for ``f = 0``."""
    inside = rasterize_shape(pts, width, height)
    if feather <= 0:
        return inside.astype(np.float64)
    d = curve_distance(pts, width, height, abs(expansion) + feather + 2.0)
    sd = np.where(inside, -d, d)
    return np.clip(0.5 - (sd - expansion) / feather, 0.0, 1.0)


def combine(layers: list[tuple[bool, np.ndarray]]) -> np.ndarray:
    """Shapes' own alphas in paint order, ``(subtract, alpha)``: over (``a + b - ab``) or
    subtracted (``max(b - a, 0)``)."""
    out = None
    for subtract, a in layers:
        if out is None:
            out = np.zeros_like(a)
        out = np.maximum(out - a, 0.0) if subtract else a + out * (1.0 - a)
    return out if out is not None else np.zeros((0, 0))


def _alive(shape, frame: int):
    """``shape`` as one key on ``frame`` (its interpolated path), or None where it has none."""
    pts = shape_at(shape, frame)
    if pts is None:
        return None
    return dataclasses.replace(shape, keys=[ShapeKey(frame, pts)])


def nuke_alpha(shapes, frame: int, width: int, height: int) -> np.ndarray:
    """``(H, W) float64`` alpha of shapes as read from a ``.nk`` file, drawn as Nuke draws them on
    ``frame``: each from its main and feather curves (:func:`exporters.nuke.feather_curves`,
    whose curves for the reader's midpoint path and symmetric band are the file's own),
    :func:`ramp_between` them, combined in paint order (:func:`combine`)."""
    from exporters.nuke import feather_curves

    layers = []
    for s in shapes:
        one = _alive(s, frame)
        if one is not None:
            main, feather = (c[0] for c in feather_curves(one))
            layers.append((s.hole, ramp_between(main, feather, width, height)))
    return combine(layers) if layers else np.zeros((height, width))


def after_effects_alpha(masks, frame: int, width: int, height: int) -> np.ndarray:
    """``(H, W) float64`` alpha of one solid's masks as the stub After Effects recorded them
    (:func:`tests.exporters.ae_stub.rebuilt_objects`: ``(mode, contour)`` with ``feather`` and the
    band that the Mask Feather and Mask Expansion give), drawn as After Effects draws them on
    ``frame``: :func:`centred_ramp` of each path with its feather and expansion, masks combined top
    to bottom (:func:`combine`); a mask whose opacity is 0 on ``frame`` (outside its rebuilt
    lifetime) adds or subtracts nothing. A path holds its first and last keys outside its keyed
    range."""
    layers = []
    for _, s in masks:
        if s.lifetime is not None and not s.lifetime[0] <= frame <= s.lifetime[1]:
            continue
        held = dataclasses.replace(s, lifetime=(-(2**31), 2**31))
        pts = shape_at(held, frame)
        inside, outside = s.soft_band()[0]
        expansion = (outside - inside) / 2.0 * (-1.0 if s.hole else 1.0)
        layers.append((s.hole, centred_ramp(pts, s.feather, expansion, width, height)))
    return combine(layers) if layers else np.zeros((height, width))
