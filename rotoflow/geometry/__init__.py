"""Masks to animated closed cubic Bezier roto shapes, and back to masks.

Coordinate frame: image space (plate pixels, origin at the top-left *corner* of pixel ``(0, 0)``,
x right, y down, pixel centres at ``+0.5``). Control points follow :class:`rotoflow.types.ShapeKey`:
``(N, 3, 2) float64`` rows ``[vertex, in_tangent, out_tangent]``, tangents relative to the vertex.

Inside rule, shared by :func:`mask_rings`, :func:`rasterize_shape` and :func:`rasterize_shapes`:
a pixel is inside when its centre ``(x + 0.5, y + 0.5)`` has a **non-zero winding number** (SVG's
``nonzero``). Outlines run clockwise on screen round objects and counter-clockwise round holes, so
for them non-zero and even-odd agree.

Modules, in pipeline order:

- :mod:`rotoflow.geometry.outline`: a mask to its rings (outer contours, holes, islands).
- :mod:`rotoflow.geometry.bezier`: control points checked, flattened and interpolated between
  keys (:func:`shape_at`), shared by the modules below.
- :mod:`rotoflow.geometry.fit`: a ring to one key (Schneider's least-squares Bezier fit,
  vertices placed by arc length, following the previous key).
- :mod:`rotoflow.geometry.feather`: the alpha's soft band measured across a mask's outline
  (where its ramp starts and ends), for the shapes' feather.
- :mod:`rotoflow.geometry.shape`: an object's masks to animated shapes, one per contour (rings
  linked over frames, one point count each, smoothed in time, keyed where they change, with
  lifetimes and feather; specks too small or brief to edit left out).
- :mod:`rotoflow.geometry.raster`: shapes back to masks (exact scanline fill) and IoU.

Each module imports only those above it in this list (``shape`` and ``raster`` both sit on
``bezier``; neither imports the other; ``feather`` needs neither).
"""

from rotoflow.errors import GeometryError
from rotoflow.geometry.bezier import shape_at
from rotoflow.geometry.fit import (
    ANCHOR_PASSES,
    SMOOTH_ANGLE,
    SPACING_WEIGHT,
    TURN_WEIGHT,
    fit_key,
)
from rotoflow.geometry.outline import DROP_FRACTION, MAX_RINGS, MIN_RING_AREA, mask_rings
from rotoflow.geometry.raster import iou, rasterize_shape, rasterize_shapes
from rotoflow.geometry.shape import LADDER, MIN_IOU, SMOOTHING, fit_shapes
from rotoflow.geometry.specks import MIN_SPECK_AREA, speck_area

__all__ = [
    "ANCHOR_PASSES",
    "DROP_FRACTION",
    "LADDER",
    "MAX_RINGS",
    "MIN_IOU",
    "MIN_RING_AREA",
    "MIN_SPECK_AREA",
    "SMOOTHING",
    "SMOOTH_ANGLE",
    "SPACING_WEIGHT",
    "TURN_WEIGHT",
    "GeometryError",
    "fit_key",
    "fit_shapes",
    "iou",
    "mask_rings",
    "rasterize_shape",
    "rasterize_shapes",
    "shape_at",
    "speck_area",
]
