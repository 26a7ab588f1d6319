"""Adobe After Effects ExtendScript ``.jsx``: a comp with one solid per object and one keyed mask
per contour.

Format: ``docs/formats.md`` section 4.1. The artist runs the script with File > Scripts > Run Script
File; it creates a comp of the shot's size, pixel aspect, frame rate and length whose timeline
starts at the shot's first frame (``displayStartTime``), then one comp-sized solid per object
(contours sharing an ``object_id`` share a solid, named after the object) carrying one mask per
contour, named by :func:`exporters.names.shape_names` (``dancer``, ``dancer_hole1``,
``dancer_part2``), in list (paint) order: AE applies a layer's masks top to bottom, so holes come
in ``MaskMode.SUBTRACT`` after the contours they cut and other contours in ``MaskMode.ADD``
**[doc]** (``docs/formats.md`` 4.1; an object's first mask is expected to add: AE subtracts a first
``SUBTRACT`` mask from the whole layer **[inferred]**). Each mask path gets its keys, as given
(keys may be sparse), in one ``setValuesAtTimes`` call, then ``KeyframeInterpolationType.LINEAR``
(or ``HOLD``) on every key. Opacity is 100, or, for a contour that lives on part of the shot,
hold keys (``KeyframeInterpolationType.HOLD``) of ``"ADBE Mask Opacity"``: 0 before its first
frame, 100 from it, 0 after its last (:func:`exporters.lifetime.opacity_keys`). Mask Opacity is
how much a mask affects its layer **[doc]** (user guide, mask properties), so at 0 % it adds or
subtracts nothing.

Feather: ``"ADBE Mask Feather"`` is ``[f, f]`` pixels for a contour's ``feather`` f, with
``maskFeatherFalloff = MaskFeatherFalloff.FFO_LINEAR`` **[doc]** (AE scripting guide,
MaskPropertyGroup; the default, smooth, is not a linear ramp). After Effects centres a mask's
feather on its path, half inside and half outside, and moves it with the Mask Expansion (Adobe's
After Effects user guide, "Soften (feather) the edges of a mask" **[doc]**): the path is the
matte's 0.5 contour, so the expansion (``"ADBE Mask Offset"``) is only the mean shift of the
contour's soft band off its path, ``mean(outside - inside) / 2`` pixels out of the mask's loop
(for a hole, whose loop is the hole, ``mean(inside - outside) / 2``), at most ``f / 2`` either
way; 0 for a band centred on the path (:attr:`rotoflow.types.RotoShape.band`). After Effects has
no lifetime for a mask, so the opacity keys above stand for it; the path keeps only its keys
inside the lifetime (AE holds the first and last outside them), not the collapsed keys the
vectorizer puts one frame outside.

Coordinates are AE layer space, which for a comp-sized solid with default anchor and position is
comp space: pixels, origin at the top-left corner, y down, tangents relative to their vertex. That
is Rotoflow's image space, so points are written unchanged (``docs/formats.md`` section 0.3, also for
non-square pixels: AE masks are in layer pixels). Key times are seconds from the comp start,
``(frame - first_frame) / fps``, computed by the script from the plate frame numbers it lists.

The script is ECMAScript 3, the language ExtendScript speaks: ``var`` only, function
expressions, literal arrays, no ``JSON``, no ``Array.prototype.map``; the target directive is the
comment form ``//@target aftereffects`` so the file also parses as plain JavaScript.

Not verified in After Effects itself: the script as a whole (``docs/formats.md`` 10.4).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from exporters.checks import check_format, check_frame_range, check_options, check_shapes
from exporters.features import Feature
from exporters.lifetime import live_keys, opacity_keys
from exporters.names import by_object, sanitize_name, shape_names
from exporters.numbers import trimmed
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShotFormat

NAME = "after_effects"
SUFFIXES = (".jsx",)
FEATURES = frozenset({Feature.WRITE_ROTO})

_AE_INTERPOLATION = {"linear": "LINEAR", "hold": "HOLD"}


def format_number(value: float, decimals: int) -> str:
    """Fixed-point text of a finite number with at most ``decimals`` decimals, trailing zeros and
    a bare ``.`` removed, ``-0`` written ``0`` (valid JSON and JavaScript, deterministic)."""
    text = f"{float(value):.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _js_string(text: str) -> str:
    """A JavaScript string literal: JSON with every non-ASCII character escaped (which also
    escapes U+2028/U+2029, line terminators inside ES3 string literals)."""
    return json.dumps(text, ensure_ascii=True)


def _js_float(value: float) -> str:
    """Shortest round-trip text of a float (``24`` for 24.0): JavaScript parses it back to the
    same double, so times the script computes equal Python's ``(frame - first) / fps``."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def expansion(shape: RotoShape) -> float:
    """The Mask Expansion (pixels, out of the mask's loop) that centres After Effects' feather on
    a contour's soft band: ``mean(outside - inside) / 2`` of its band, negated for a hole, within
    ``[-feather / 2, feather / 2]``; 0 for a centred band."""
    band = shape.soft_band()
    shift = float(np.mean(band[:, 1] - band[:, 0])) / 2 if len(band) else 0.0
    shift = -shift if shape.hole else shift
    half = float(shape.feather) / 2
    return min(max(shift, -half), half) + 0.0  # no -0.0


def _mask_call(layer_var: str, name: str, shape: RotoShape, fmt: ShotFormat, decimals: int) -> str:
    opacity = opacity_keys(shape, fmt)
    shape = live_keys(shape)
    frames = ", ".join(str(int(k.frame)) for k in shape.keys)
    life = (
        "[" + ", ".join(f"[{f}, {format_number(v, 0)}]" for f, v in opacity) + "]"
        if opacity
        else "null"
    )
    mode = "MaskMode.SUBTRACT" if shape.hole else "MaskMode.ADD"
    feather = format_number(float(shape.feather), decimals)
    offset = format_number(expansion(shape), decimals)
    # (K, 3, N, 2): per key the vertices, then the in- and the out-tangents, as [x, y] pairs
    pts = np.stack([np.asarray(k.points, dtype=np.float64) for k in shape.keys])
    slot = "[" + ", ".join(["[%s, %s]"] * pts.shape[1]) + "]"
    key = "  shp(" + ",\n      ".join([slot] * 3) + ")"
    values = ",\n".join([key] * pts.shape[0]) % tuple(trimmed(pts.transpose(0, 2, 1, 3), decimals))
    return (
        f"addMask({layer_var}, {_js_string(name)}, {mode}, {feather}, {offset}, {life}, "
        f"[{frames}], [\n" + values + "\n]);"
    )


_PRELUDE = """\
  function shp(v, tin, tout) {
    var s = new Shape();
    s.vertices = v;
    s.inTangents = tin;
    s.outTangents = tout;
    s.closed = true;
    return s;
  }
  function keyTimes(frames) {
    var t = [];
    for (var i = 0; i < frames.length; i++) {
      t.push((frames[i] - FIRST) / FPS);
    }
    return t;
  }
  function addMask(layer, name, mode, feather, offset, opacityKeys, frames, shapes) {
    var mask = layer.property("ADBE Mask Parade").addProperty("ADBE Mask Atom");
    mask.name = name;
    mask.maskMode = mode;
    mask.inverted = false;
    mask.rotoBezier = false;
    var path = mask.property("ADBE Mask Shape");
    path.setValuesAtTimes(keyTimes(frames), shapes);
    for (var k = 1; k <= path.numKeys; k++) {
      path.setInterpolationTypeAtKey(k, INTERPOLATION);
    }
    mask.property("ADBE Mask Feather").setValue([feather, feather]);
    var opacity = mask.property("ADBE Mask Opacity");
    if (opacityKeys === null) {
      opacity.setValue(100);
    } else {
      var times = [], values = [];
      for (var i = 0; i < opacityKeys.length; i++) {
        times.push((opacityKeys[i][0] - FIRST) / FPS);
        values.push(opacityKeys[i][1]);
      }
      opacity.setValuesAtTimes(times, values);
      for (var o = 1; o <= opacity.numKeys; o++) {
        opacity.setInterpolationTypeAtKey(o, KeyframeInterpolationType.HOLD);
      }
    }
    mask.property("ADBE Mask Offset").setValue(offset);
    mask.maskFeatherFalloff = MaskFeatherFalloff.FFO_LINEAR;
    return mask;
  }
"""


def write_to_string(
    shapes: Sequence[RotoShape],
    fmt: ShotFormat,
    *,
    comp_name: str = "roto",
    interpolation: str = "linear",
    decimals: int = 6,
) -> str:
    """Write an ExtendScript that builds the contours as animated masks in a new comp.

    Args:
        shapes: Contours in image space (see :class:`rotoflow.types.RotoShape`), each object's in
            paint order. Contours with the same ``object_id`` share one solid, named after the
            object (its first contour's ``name``, made a unique identifier among solids by
            :func:`exporters.names.sanitize_name`); every contour becomes one mask named by
            :func:`exporters.names.shape_names`, ``SUBTRACT`` for a hole and ``ADD`` otherwise,
            with feather ``[f, f]`` pixels for its ``feather`` f, linear falloff and the
            expansion of :func:`expansion`.
        fmt: The shot's format: comp size, pixel aspect, frame rate, duration
            (``last_frame - first_frame + 1`` frames) and display start (``first_frame``).
        comp_name: Name of the new comp (any text; written as an escaped string literal).
        interpolation: ``"linear"`` or ``"hold"`` (see :data:`exporters.checks.INTERPOLATIONS`).
        decimals: Decimals written for coordinates (6: error below 5e-7 px).

    Returns:
        The script text, ``\\n`` line ends, final newline.

    Raises:
        ExportError: shapes or format that fail :func:`~exporters.checks.check_shapes`,
            :func:`~exporters.checks.check_format` or
            :func:`~exporters.checks.check_frame_range`, no shapes, or a bad option (see
            :func:`~exporters.checks.check_options`).
    """
    check_options(interpolation, decimals)
    if not isinstance(comp_name, str):
        raise ExportError(f"comp_name must be a string, got {comp_name!r}")
    check_format(fmt)
    check_shapes(shapes)
    if not shapes:
        raise ExportError("no shapes to export; an After Effects script needs at least one")
    check_frame_range(shapes, fmt)
    fps, pa = _js_float(fmt.fps), _js_float(fmt.pixel_aspect)
    objects = by_object(shapes)
    body = [
        f"var comp = app.project.items.addComp({_js_string(comp_name)}, W, H, PA, "
        "(LAST - FIRST + 1) / FPS, FPS);",
        "comp.displayStartTime = FIRST / FPS;",
        "var layer;",
    ]
    # check_shapes refuses a shape listed twice (its (object_id, contour) would repeat)
    mask_names = {id(shape): name for shape, name in zip(shapes, shape_names(shapes), strict=True)}
    layer_names: set[str] = set()
    for group in objects:
        layer_name = _js_string(sanitize_name(group[0].name, layer_names))
        body.append(f"layer = comp.layers.addSolid([1, 1, 1], {layer_name}, W, H, PA);")
        for shape in group:
            body.append(_mask_call("layer", mask_names[id(shape)], shape, fmt, decimals))
    body.append("comp.openInViewer();")
    lines = [
        "//@target aftereffects",
        "// Rotoflow roto shapes for Adobe After Effects (ExtendScript, ES3).",
        "// Run with File > Scripts > Run Script File. Creates a comp with one solid per object",
        "// and one keyed mask per contour (holes subtract); coordinates are layer pixels, y down.",
        f"// Shot {fmt.width}x{fmt.height}, pixel aspect {pa}, {fps} fps, frames "
        f"{fmt.first_frame}-{fmt.last_frame}; {len(objects)} object(s), {len(shapes)} contour(s).",
        "(function () {",
        f"  var W = {int(fmt.width)}, H = {int(fmt.height)}, PA = {pa}, FPS = {fps};",
        f"  var FIRST = {int(fmt.first_frame)}, LAST = {int(fmt.last_frame)};",
        f"  var INTERPOLATION = KeyframeInterpolationType.{_AE_INTERPOLATION[interpolation]};",
        _PRELUDE.rstrip("\n"),
        '  app.beginUndoGroup("Rotoflow roto import");',
        "  try {",
        *("    " + line.replace("\n", "\n    ") for line in body),
        "  } finally {",
        "    app.endUndoGroup();",
        "  }",
        "})();",
    ]
    return "\n".join(lines) + "\n"
