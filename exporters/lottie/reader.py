"""Reader of Lottie (Bodymovin) JSON: shape layers back as roto shapes, one object per layer.

The layout the writer uses (one shape layer per object, one path per contour under a non-zero
fill, keys in image space, ``meta.custom.rotoflow``) and what Lottie cannot carry (lifetime,
feather) are described in :mod:`exporters.lottie.writer`. :func:`read_from_string` (the
adapter's, re-exported as :func:`exporters.lottie.read_from_string`) calls :func:`read_shapes`.
The reader takes holes from the paths' orientation and lifetimes from collapsed first and last
keys, since the format has no field for either. It imports nothing of the writer.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exporters.checks import check_format, check_shapes, load_json
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShapeKey, ShotFormat

logger = logging.getLogger(__name__)

_NO_AREA = 1e-6  # square pixels: a path that covers no more is drawn nowhere


def _field(obj: Any, key: str, kind: type | tuple[type, ...], where: str, default: Any = ...):
    """``obj[key]`` checked against ``kind`` (bools are not numbers); ``default`` when absent."""
    if not isinstance(obj, dict):
        raise ExportError(f"Lottie JSON: {where} must be an object")
    if key not in obj:
        if default is ...:
            raise ExportError(f"Lottie JSON: {where} lacks {key!r}")
        return default
    value = obj[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise ExportError(f"Lottie JSON: {where}.{key} has the wrong type: {value!r}")
    return value


def _check_identity(tr: dict, where: str) -> None:
    """Refuse transforms that move the shapes (we read coordinates as image space)."""
    values = {}
    for prop in ("a", "p", "s", "r", "sk"):
        p = _field(tr, prop, dict, where, None)
        if p is None:
            continue
        if _field(p, "a", int, f"{where}.{prop}", 0) != 0 or "k" not in p:
            raise ExportError(f"Lottie JSON: {where}.{prop} is animated; only static transforms")
        try:
            values[prop] = np.atleast_1d(np.asarray(p["k"], dtype=np.float64)).ravel()
        except (TypeError, ValueError):
            raise ExportError(f"Lottie JSON: {where}.{prop}.k must be numbers") from None
    a, p = values.get("a", np.zeros(2)), values.get("p", np.zeros(2))
    moved = not np.allclose(a[:2], p[:2])
    scaled = "s" in values and not np.allclose(values["s"][:2], 100.0)
    turned = any(prop in values and not np.allclose(values[prop], 0.0) for prop in ("r", "sk"))
    if moved or scaled or turned:
        raise ExportError(
            f"Lottie JSON: {where} moves, scales or rotates its shapes; only identity transforms "
            "are read"
        )


def _read_bezier(value: Any, where: str) -> np.ndarray:
    if isinstance(value, list):
        if len(value) != 1:
            raise ExportError(f"Lottie JSON: {where} must hold one Bezier, got {len(value)}")
        value = value[0]
    if not _field(value, "c", bool, where, False):
        raise ExportError(f"Lottie JSON: {where} is an open path; only closed shapes")
    arrays = []
    for slot in ("v", "i", "o"):
        raw = _field(value, slot, list, where)
        try:
            arr = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError):
            raise ExportError(f"Lottie JSON: {where}.{slot} must be a list of [x, y]") from None
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ExportError(f"Lottie JSON: {where}.{slot} must be a list of [x, y]")
        arrays.append(arr)
    if len({len(a) for a in arrays}) != 1:
        raise ExportError(f"Lottie JSON: {where} has v, i and o of different lengths")
    return np.stack(arrays, axis=1)


def _read_path(ks: Any, where: str, offset: float, first_frame: int) -> list[ShapeKey]:
    if not _field(ks, "a", int, where, 0):
        return [
            ShapeKey(frame=first_frame, points=_read_bezier(_field(ks, "k", dict, where), where))
        ]
    keys: list[ShapeKey] = []
    previous_end: Any = None
    for n, kf in enumerate(_field(ks, "k", list, where)):
        kwhere = f"{where}.k[{n}]"
        t = _field(kf, "t", (int, float), kwhere)
        frame = t + offset
        if not float(frame).is_integer():
            raise ExportError(f"Lottie JSON: {kwhere}.t {t} is not on a whole frame")
        value = kf.get("s", previous_end)
        if value is None:  # old bodymovin: the last key has only "t", the one before an "e"
            raise ExportError(f"Lottie JSON: {kwhere} has no value 's'")
        keys.append(ShapeKey(frame=int(frame), points=_read_bezier(value, f"{kwhere}.s")))
        previous_end = kf.get("e")
    return keys


@dataclass
class _LayerPaths:
    """What one shape layer holds: its paths (name or None, keys) in order, its fill rules."""

    paths: list[tuple[str | None, list[ShapeKey]]] = field(default_factory=list)
    fill_rules: list[int] = field(default_factory=list)


def _read_items(items: Any, where: str, ctx: dict, out: _LayerPaths) -> None:
    if not isinstance(items, list):
        raise ExportError(f"Lottie JSON: {where} must be a list")
    for n, item in enumerate(items):
        iwhere = f"{where}[{n}]"
        ty = _field(item, "ty", str, iwhere)
        if ty == "gr":
            for sub in _field(item, "it", list, iwhere):
                if isinstance(sub, dict) and sub.get("ty") == "tr":
                    _check_identity(sub, f"{iwhere}.it(tr)")
            _read_items(_field(item, "it", list, iwhere), f"{iwhere}.it", ctx, out)
        elif ty == "sh":
            keys = _read_path(
                _field(item, "ks", dict, iwhere), f"{iwhere}.ks", ctx["offset"], ctx["first"]
            )
            out.paths.append((_field(item, "nm", str, iwhere, None), keys))
        elif ty in ("fl", "gf"):
            out.fill_rules.append(_field(item, "r", int, iwhere, 1))
        else:
            logger.debug("skipping Lottie shape item %r at %s", ty, iwhere)


def _signed_area(points: np.ndarray) -> float:
    """Signed area of a closed Bezier in image space (y down), its segments flattened into 8
    chords each: positive when it runs clockwise on screen, negative counter-clockwise."""
    v, tin, tout = points[:, 0], points[:, 1], points[:, 2]
    v1 = np.roll(v, -1, axis=0)
    c1, c2 = v + tout, v1 + np.roll(tin, -1, axis=0)
    t = np.linspace(0.0, 1.0, 8, endpoint=False)[None, :, None]
    u = 1.0 - t
    poly = (
        u**3 * v[:, None]
        + 3 * u * u * t * c1[:, None]
        + 3 * u * t * t * c2[:, None]
        + t**3 * v1[:, None]
    ).reshape(-1, 2)
    nxt = np.roll(poly, -1, axis=0)
    return float((poly[:, 0] * nxt[:, 1] - nxt[:, 0] * poly[:, 1]).sum() / 2.0)


def _orientation(keys: list[ShapeKey]) -> float:
    """The signed area of the key with the largest area; 0 when no key covers more than
    :data:`_NO_AREA` square pixels (every key collapsed or flat: no orientation)."""
    area = max((_signed_area(key.points) for key in keys), key=abs)
    return 0.0 if abs(area) <= _NO_AREA else area


def _collapsed(points: np.ndarray) -> bool:
    """Every vertex at one point and every tangent zero: a key that hides its contour."""
    return bool(np.ptp(points[:, 0], axis=0).max() <= 1e-6 and np.abs(points[:, 1:]).max() <= 1e-6)


def _lifetime(keys: list[ShapeKey], fmt: ShotFormat) -> tuple[int, int] | None:
    """The frames on which a renderer draws the path: the shot (keys are held before the first
    and after the last), widened to the keys, less a collapsed first or last key and what lies
    beyond it; None when that is just the span of the keys."""
    first, last = keys[0].frame, keys[-1].frame
    lo, hi = min(fmt.first_frame, first), max(fmt.last_frame, last)
    if len(keys) > 1 and _collapsed(keys[0].points):
        lo = first + 1
    if len(keys) > 1 and _collapsed(keys[-1].points):
        hi = last - 1
    return None if lo > hi or (lo, hi) == (first, last) else (lo, hi)


def _contours(
    layer: _LayerPaths, object_id: int, name: str, fmt: ShotFormat, where: str
) -> list[RotoShape]:
    """The paths of one layer as the contours of one object (see :func:`read_from_string`)."""
    if 2 in layer.fill_rules and len(layer.paths) > 1:
        raise ExportError(
            f"Lottie JSON: {where} fills {len(layer.paths)} paths with the even-odd rule (r 2); "
            "only non-zero fills (r 1) of several paths are read as one object's contours"
        )
    hole_name = re.compile(rf"{re.escape(name)}_hole\d+")
    contours: list[RotoShape] = []
    outer = 0.0  # orientation of the first path that has an area
    for index, (path_name, keys) in enumerate(layer.paths):
        area = _orientation(keys)
        if area and not outer:
            outer = area
        if area:
            hole = index > 0 and (area > 0) != (outer > 0)
        else:  # drawn nowhere: the name decides
            hole = path_name is not None and hole_name.fullmatch(path_name) is not None
        contours.append(
            RotoShape(
                object_id=object_id,
                name=name,
                keys=keys,
                contour=index,
                hole=hole,
                lifetime=_lifetime(keys, fmt),
            )
        )
    return contours


def read_shapes(text: str) -> tuple[ShotFormat, list[RotoShape]]:
    """Read a Lottie animation's shape layers back as roto shapes, one object per layer.

    Reads what :func:`exporters.lottie.write_to_string` writes and the common Bodymovin forms:
    static (``a`` 0) or animated paths, ``s`` as a Bezier or an array of one, old files whose last
    keyframe holds only ``t`` (its value is the previous keyframe's ``e``), groups nested to any
    depth, layer start times ``st``, one fill per path (older Rotoflow files). Layers other than
    shape layers, masks, strokes, a path's direction ``d`` and layer ``ip``/``op`` are not read.

    Args:
        text: The Lottie JSON document.

    Returns:
        The shot format and the contours in image space, layer by layer. Plate frame =
        ``first_frame + t + st - ip``, where ``first_frame`` and the pixel aspect come from
        ``meta.custom.rotoflow`` when present (otherwise ``ip`` rounded and 1.0); ``last_frame``
        is ``first_frame + op - ip - 1``. Each key's ``points`` is ``(N, 3, 2) float64``
        ``[vertex, in, out]``, the path's ``v``, ``i`` and ``o`` unchanged (pixels, origin
        top-left, y down, tangents relative to their vertex). Every closed path of a layer
        (groups flattened, in order) is a contour of one object: ``object_id`` is the layer's
        ``ind`` (its 1-based position when absent), ``name`` the layer's ``nm`` (else
        ``layer<n>``), ``contour`` the path's position in the layer. ``hole`` comes from the
        orientation: a path that runs against the layer's first path (the outer contour:
        clockwise on screen in Rotoflow's files; signed area of the path flattened) subtracts
        under the non-zero fill, so it is a hole; a path drawn nowhere (zero area on every key)
        is a hole when its ``nm`` is ``<layer name>_hole<k>``. ``lifetime`` is the frames a
        renderer draws the path on: the shot (widened to the keys), less a collapsed first or
        last key and what lies beyond it; None when that equals the span of the keys.
        ``feather`` is 0 (Lottie has none). A static path becomes one key at ``first_frame``.

    Raises:
        ExportError: invalid JSON (with line and column), a missing or mistyped field (with its
            JSON path), an open path, key times off whole frames, time stretch, transforms other
            than the identity, an even-odd fill of several paths, or shapes that fail
            :func:`~exporters.checks.check_shapes`.
    """
    doc = load_json(text, "Lottie JSON")
    number = (int, float)
    ip = _field(doc, "ip", number, "document")
    op = _field(doc, "op", number, "document")
    meta = _field(doc, "meta", dict, "document", {})
    custom = _field(_field(meta, "custom", dict, "meta", {}), "rotoflow", dict, "meta.custom", {})
    first = _field(custom, "first_frame", int, "meta.custom.rotoflow", round(ip))
    fmt = ShotFormat(
        width=_field(doc, "w", int, "document"),
        height=_field(doc, "h", int, "document"),
        pixel_aspect=float(_field(custom, "pixel_aspect", number, "meta.custom.rotoflow", 1.0)),
        fps=float(_field(doc, "fr", number, "document")),
        first_frame=first,
        last_frame=first + math.ceil(op - ip) - 1,
    )
    check_format(fmt)
    shapes: list[RotoShape] = []
    for n, layer in enumerate(_field(doc, "layers", list, "document")):
        where = f"layers[{n}]"
        if _field(layer, "ty", int, where) != 4:
            logger.debug("skipping Lottie layer of type %r at %s", layer["ty"], where)
            continue
        if _field(layer, "sr", number, where, 1) != 1:
            raise ExportError(f"Lottie JSON: {where} stretches time (sr {layer['sr']}); not read")
        _check_identity(_field(layer, "ks", dict, where), f"{where}.ks")
        ctx = {"offset": first - ip + _field(layer, "st", number, where, 0), "first": first}
        paths = _LayerPaths()
        _read_items(_field(layer, "shapes", list, where), f"{where}.shapes", ctx, paths)
        object_id = _field(layer, "ind", int, where, n + 1)
        layer_name = _field(layer, "nm", str, where, f"layer{n + 1}")
        shapes += _contours(paths, object_id, layer_name, fmt, where)
    check_shapes(shapes)
    return fmt, shapes


def read_from_string(text: str) -> tuple[ShotFormat, list[RotoShape]]:
    """Read a Lottie animation's shape layers back as roto shapes, one object per layer.

    Args:
        text: The Lottie JSON document.

    Returns:
        The shot format and the contours in image space, layer by layer, holes told by their
        orientation, as :func:`read_shapes` describes.

    Raises:
        ExportError: a document that cannot be read as roto shapes (the message gives the JSON
            path or line and column, and why).
    """
    return read_shapes(text)
