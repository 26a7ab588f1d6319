"""Masks to animated closed cubic Bezier roto shapes, and back to masks.

Coordinate frame: image space (plate pixels, origin at the top-left *corner* of pixel ``(0, 0)``,
x right, y down, pixel centres at ``+0.5``). Control points follow :class:`rotoflow.types.ShapeKey`:
``(N, 3, 2) float64`` rows ``[vertex, in_tangent, out_tangent]``, tangents relative to the vertex.

Inside rule, shared by :func:`mask_outline` and :func:`rasterize_shape`: a pixel is inside when its
centre ``(x + 0.5, y + 0.5)`` has a **non-zero winding number** (SVG's ``nonzero``). Outlines run
clockwise on screen round objects and counter-clockwise round holes, so for them non-zero and
even-odd agree.

Modules, in pipeline order:

- :mod:`rotoflow.geometry.outline`: a mask to one closed outline, its rings joined by zero-width
  bridges.
- :mod:`rotoflow.geometry.fit`: an outline to one key (Schneider's least-squares Bezier fit,
  vertices placed by arc length, following the previous key).
- :mod:`rotoflow.geometry.shape`: an object's masks to an animated shape (one point count per shot).
- :mod:`rotoflow.geometry.raster`: shapes back to masks (exact scanline fill) and IoU.
"""

from rotoflow.errors import GeometryError
from rotoflow.geometry.fit import BRIDGE_STEP, SMOOTH_ANGLE, SPACING_WEIGHT, TURN_WEIGHT, fit_key
from rotoflow.geometry.outline import DROP_FRACTION, MAX_RINGS, MIN_RING_AREA, mask_outline
from rotoflow.geometry.raster import iou, rasterize_shape
from rotoflow.geometry.shape import LADDER, MIN_IOU, fit_shape, shape_at

__all__ = [
    "BRIDGE_STEP",
    "DROP_FRACTION",
    "LADDER",
    "MAX_RINGS",
    "MIN_IOU",
    "MIN_RING_AREA",
    "SMOOTH_ANGLE",
    "SPACING_WEIGHT",
    "TURN_WEIGHT",
    "GeometryError",
    "fit_key",
    "fit_shape",
    "iou",
    "mask_outline",
    "rasterize_shape",
    "shape_at",
]
