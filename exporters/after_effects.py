"""Adobe After Effects ExtendScript ``.jsx``: a comp with one solid per object and one keyed mask
per shape.

Format: ``formats.md`` section 4.1. The artist runs the script with File > Scripts > Run Script
File; it creates a comp of the shot's size, pixel aspect, frame rate and length whose timeline
starts at the shot's first frame (``displayStartTime``), then one comp-sized solid per object
(shapes sharing an ``object_id`` share a solid) carrying one mask per shape in ``ADD`` mode. Each
mask path gets all its keys in one ``setValuesAtTimes`` call, then linear (or hold)
interpolation, no feather, opacity 100 and no expansion.

Coordinates are AE layer space, which for a comp-sized solid with default anchor and position is
comp space: pixels, origin at the top-left corner, y down, tangents relative to their vertex. That
is Rotoflow's image space, so points are written unchanged (``formats.md`` section 0.3, also for
non-square pixels: AE masks are in layer pixels). Key times are seconds from the comp start,
``(frame - first_frame) / fps``, computed by the script from the plate frame numbers it lists.

The script is ECMAScript 3, the language ExtendScript speaks: ``var`` only, function
expressions, literal arrays, no ``JSON``, no ``Array.prototype.map``; the target directive is the
comment form ``//@target aftereffects`` so the file also parses as plain JavaScript.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from exporters.names import sanitize_name
from exporters.shapes_json import check_format, check_shapes
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShotFormat

NAME = "after_effects"
SUFFIXES = (".jsx",)

#: Key interpolation choices: ``"linear"`` blends point by point between keys (the shapes are
#: fitted per frame, so this is what the artist sees between keys); ``"hold"`` keeps each key's
#: shape until the next one.
INTERPOLATIONS = ("linear", "hold")
_AE_INTERPOLATION = {"linear": "LINEAR", "hold": "HOLD"}


def format_number(value: float, decimals: int) -> str:
    """Fixed-point text of a finite number with at most ``decimals`` decimals, trailing zeros and
    a bare ``.`` removed, ``-0`` written ``0`` (valid JSON and JavaScript, deterministic)."""
    text = f"{float(value):.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def check_options(interpolation: str, decimals: int) -> None:
    """Check the options shared by the After Effects and Lottie writers.

    Raises:
        ExportError: ``interpolation`` not in :data:`INTERPOLATIONS`, or ``decimals`` not an
            integer in ``[0, 15]``.
    """
    if interpolation not in INTERPOLATIONS:
        raise ExportError(
            f"interpolation must be one of {', '.join(INTERPOLATIONS)}; got {interpolation!r}"
        )
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 15:
        raise ExportError(f"decimals must be an integer from 0 to 15, got {decimals!r}")


def check_frame_range(shapes: Sequence[RotoShape], fmt: ShotFormat) -> None:
    """Check that every key lies in the shot's ``[first_frame, last_frame]``.

    Formats that count time from the shot's first frame (AE seconds, Lottie frame indices) would
    otherwise get keys at negative times or past the end of the comp.

    Raises:
        ExportError: naming the shape, the frame and the shot range.
    """
    for shape in shapes:
        for key in shape.keys:
            if not fmt.first_frame <= key.frame <= fmt.last_frame:
                raise ExportError(
                    f"shape {shape.name!r} has a key at frame {key.frame}, outside the shot's "
                    f"frames {fmt.first_frame}-{fmt.last_frame}; widen the shot format's range"
                )


def group_by_object(shapes: Sequence[RotoShape]) -> list[list[RotoShape]]:
    """Shapes grouped by ``object_id``, objects in order of first appearance, shapes in order."""
    groups: dict[int, list[RotoShape]] = {}
    for shape in shapes:
        groups.setdefault(int(shape.object_id), []).append(shape)
    return list(groups.values())


def _js_string(text: str) -> str:
    """A JavaScript string literal: JSON with every non-ASCII character escaped (which also
    escapes U+2028/U+2029, line terminators inside ES3 string literals)."""
    return json.dumps(text, ensure_ascii=True)


def _js_float(value: float) -> str:
    """Shortest round-trip text of a float (``24`` for 24.0): JavaScript parses it back to the
    same double, so times the script computes equal Python's ``(frame - first) / fps``."""
    value = float(value)
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def _pairs(xy: np.ndarray, decimals: int) -> str:
    return (
        "["
        + ", ".join(f"[{format_number(x, decimals)}, {format_number(y, decimals)}]" for x, y in xy)
        + "]"
    )


def _mask_call(layer_var: str, name: str, shape: RotoShape, decimals: int) -> str:
    frames = ", ".join(str(int(k.frame)) for k in shape.keys)
    values = []
    for key in shape.keys:
        pts = np.asarray(key.points, dtype=np.float64)
        slots = ",\n      ".join(_pairs(pts[:, slot], decimals) for slot in range(3))
        values.append(f"  shp({slots})")
    return (
        f"addMask({layer_var}, {_js_string(name)}, [{frames}], [\n" + ",\n".join(values) + "\n]);"
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
  function addMask(layer, name, frames, shapes) {
    var mask = layer.property("ADBE Mask Parade").addProperty("ADBE Mask Atom");
    mask.name = name;
    mask.maskMode = MaskMode.ADD;
    mask.inverted = false;
    mask.rotoBezier = false;
    var path = mask.property("ADBE Mask Shape");
    path.setValuesAtTimes(keyTimes(frames), shapes);
    for (var k = 1; k <= path.numKeys; k++) {
      path.setInterpolationTypeAtKey(k, INTERPOLATION);
    }
    mask.property("ADBE Mask Feather").setValue([0, 0]);
    mask.property("ADBE Mask Opacity").setValue(100);
    mask.property("ADBE Mask Offset").setValue(0);
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
    """Write an ExtendScript that builds the shapes as animated masks in a new comp.

    Args:
        shapes: Shapes in image space. Shapes with the same ``object_id`` share one solid, named
            after the first of them; every shape becomes one mask named after ``shape.name``.
            Names are made into unique identifiers (:func:`exporters.names.sanitize_name`), solids
            among solids and masks among masks.
        fmt: The shot's format: comp size, pixel aspect, frame rate, duration
            (``last_frame - first_frame + 1`` frames) and display start (``first_frame``).
        comp_name: Name of the new comp (any text; written as an escaped string literal).
        interpolation: ``"linear"`` or ``"hold"`` (see :data:`INTERPOLATIONS`).
        decimals: Decimals written for coordinates (6: error below 5e-7 px).

    Returns:
        The script text, ``\\n`` line ends, final newline.

    Raises:
        ExportError: shapes or format that fail :func:`~exporters.shapes_json.check_shapes`,
            :func:`~exporters.shapes_json.check_format` or :func:`check_frame_range`, no shapes,
            or a bad option (see :func:`check_options`).
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
    objects = group_by_object(shapes)
    body = [
        f"var comp = app.project.items.addComp({_js_string(comp_name)}, W, H, PA, "
        "(LAST - FIRST + 1) / FPS, FPS);",
        "comp.displayStartTime = FIRST / FPS;",
        "var layer;",
    ]
    layer_names: set[str] = set()
    mask_names: set[str] = set()
    for group in objects:
        layer_name = _js_string(sanitize_name(group[0].name, layer_names))
        body.append(f"layer = comp.layers.addSolid([1, 1, 1], {layer_name}, W, H, PA);")
        for shape in group:
            body.append(_mask_call("layer", sanitize_name(shape.name, mask_names), shape, decimals))
    body.append("comp.openInViewer();")
    lines = [
        "//@target aftereffects",
        "// Rotoflow roto shapes for Adobe After Effects (ExtendScript, ES3).",
        "// Run with File > Scripts > Run Script File. Creates a comp with one solid per object",
        "// and one keyed mask per shape; coordinates are layer pixels, y down.",
        f"// Shot {fmt.width}x{fmt.height}, pixel aspect {pa}, {fps} fps, frames "
        f"{fmt.first_frame}-{fmt.last_frame}; {len(objects)} object(s), {len(shapes)} shape(s).",
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
