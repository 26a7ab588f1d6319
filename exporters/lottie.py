"""Lottie (Bodymovin) JSON: one shape layer per object, its contours as paths under one fill.

Format: ``formats.md`` section 4.2 and the Lottie specification (lottie.github.io/lottie-spec,
schema ``composition/animation``, ``layers/shape-layer``, ``shapes/group``, ``shapes/path``,
``shapes/fill``, ``properties/shape-keyframe``). A preview and web deliverable, not an After Effects
import path.

Layout: the animation has the shot's size (``w``, ``h``) and frame rate (``fr``); ``ip`` is 0 and
``op`` the shot's frame count, so Lottie frame ``t`` is plate frame ``first_frame + t``
(``formats.md`` section 7, item 4). Each object (contours sharing an ``object_id``, see
:func:`exporters.names.by_object`) is a shape layer (``ty`` 4, ``ind`` = ``object_id``, ``nm`` the
object's name) with identity transforms, holding one group (``gr``, named like the layer) of: one
path (``sh``) per contour in paint order, each named by :func:`exporters.names.shape_names`
(``donut``, ``donut_hole1``, ``donut_part2``); then one white fill (``fl``) with fill rule
non-zero (``"r": 1``); then an identity group transform. A fill applies to every path before it in
its group, and renderers fill them together as one compound path (spec, "Shape Rendering Model"),
so the layer's alpha is the non-zero winding fill of all the object's contours: holes run
counter-clockwise on screen and subtract, islands inside them run clockwise and add back, exactly
like :func:`rotoflow.geometry.rasterize_shapes`.

Each path is animated (``a`` 1) with one keyframe per :class:`~rotoflow.types.ShapeKey` as given
(keys are sparse; none is added, none dropped), ``s`` an array holding one closed Bezier (``c``,
``v``, ``i``, ``o``) as real files write it: vertices in pixels, origin top-left, y down, tangents
relative to their vertex, i.e. Rotoflow's image space unchanged. Keyframes carry linear easing
(``o`` = ``{x 0, y 0}``, ``i`` = ``{x 1, y 1}``), the interpolation of
:func:`rotoflow.geometry.shape_at`, or ``h`` 1 (hold). The last keyframe is always a hold: nothing
follows it, the schema (``properties/base-keyframe``) wants easing on every key that is not a hold,
and rlottie draws nothing after a last key that has easing.

What Lottie cannot carry:

- **Lifetime.** A path has no in and out frames of its own (only layers do, and a layer holds the
  whole object), and a renderer holds the first key before it and the last key after it. A
  contour's lifetime is carried by its *collapsed* keys (every vertex at one point, tangents zero:
  nothing is drawn), which the vectorizer puts one frame before and after the lifetime inside the
  shot; they are written as normal keys. A contour whose keys do not reach a shot end and that has
  no collapsed key there shows its nearest key on those frames.
- **Feather.** The Lottie specification has no feather (``formats.md`` 4.2 [doc]; Synfig's
  exporter notes "Feather: not supported"), so :attr:`~rotoflow.types.RotoShape.feather` is not
  written and reads back as 0.
- **Pixel aspect and first frame number.** Both go into ``meta.custom.rotoflow`` (the spec's
  free-form metadata) for :func:`read_from_string`.

Because ``.json`` is the pipeline's own shapes format (:mod:`exporters.shapes_json`), this
exporter's suffix is the double suffix ``.lottie.json``.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exporters.after_effects import check_frame_range, check_options
from exporters.names import by_object, sanitize_name, shape_names
from exporters.numbers import shortest
from exporters.shapes_json import check_format, check_shapes
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShapeKey, ShotFormat

logger = logging.getLogger(__name__)

NAME = "lottie"
SUFFIXES = (".lottie.json",)

#: Bodymovin version written in ``v``.
BODYMOVIN_VERSION = "5.7.0"
_LINE = 100  # the pretty printer keeps a value on one line when it fits in this many columns
_LINEAR = {"i": {"x": 1, "y": 1}, "o": {"x": 0, "y": 0}}
_NO_AREA = 1e-6  # square pixels: a path that covers no more is drawn nowhere


def _static(value: Any) -> dict[str, Any]:
    return {"a": 0, "k": value}


def _layer_transform() -> dict[str, Any]:
    return {
        "a": _static([0, 0, 0]),
        "p": _static([0, 0, 0]),
        "s": _static([100, 100, 100]),
        "r": _static(0),
        "o": _static(100),
    }


def _group_transform() -> dict[str, Any]:
    return {
        "ty": "tr",
        "nm": "Transform",
        "a": _static([0, 0]),
        "p": _static([0, 0]),
        "s": _static([100, 100]),
        "r": _static(0),
        "o": _static(100),
        "sk": _static(0),
        "sa": _static(0),
    }


class _Points:
    """A list of ``[x, y]`` points whose numbers are already written: one text per point, laid out
    by :func:`_emit` as the list of lists of two floats would be."""

    __slots__ = ("texts",)

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts


def _path(shape: RotoShape, name: str, first: int, interpolation: str, decimals: int) -> dict:
    pts = np.round(np.stack([np.asarray(k.points, dtype=np.float64) for k in shape.keys]), decimals)
    slots = pts.transpose(0, 2, 1, 3)  # per key the vertices, in-tangents and out-tangents
    finite = np.isfinite(slots)
    if not finite.all():
        value = float(slots[~finite][0])
        raise ExportError(f"Lottie JSON cannot hold the non-finite number {value!r}")
    numbers = shortest(slots)
    texts = (("[%s, %s]\n" * (len(numbers) // 2)) % tuple(numbers)).split("\n")  # one per point
    n = pts.shape[1]
    keyframes = []
    for i, key in enumerate(shape.keys):
        kf: dict[str, Any] = {"t": int(key.frame) - first}
        last = i == len(shape.keys) - 1
        kf.update({"h": 1} if interpolation == "hold" or last else _LINEAR)
        v, tin, tout = (_Points(texts[(3 * i + j) * n : (3 * i + j + 1) * n]) for j in range(3))
        kf["s"] = [{"c": True, "v": v, "i": tin, "o": tout}]
        keyframes.append(kf)
    return {"ty": "sh", "nm": name, "ks": {"a": 1, "k": keyframes}}


def _number(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        raise ExportError(f"Lottie JSON cannot hold the non-finite number {value!r}")
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _compact(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {_compact(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return _number(value)
    return json.dumps(value, ensure_ascii=True)


def _pretty(value: Any, indent: int = 0, prefix: int = 0) -> str:
    """Deterministic JSON: a value stays on one line when that line (``indent`` spaces and a
    ``prefix`` of ``"key": `` characters included) fits in :data:`_LINE` columns."""
    out: list[str] = []
    _emit(value, indent, prefix, out)
    return "".join(out)


def _one_line(value: Any) -> str | None:
    """The one-line text of a value; None for a container whose one-line text is longer than
    :data:`_LINE` (it fits no line, nor does any container holding it)."""
    if isinstance(value, _Points):
        texts = value.texts
        if sum(map(len, texts)) + 2 * len(texts) > _LINE:
            return None
        return "[" + ", ".join(texts) + "]"
    if not isinstance(value, dict | list) or not value:
        return _compact(value)
    if isinstance(value, dict):
        items = [(f"{json.dumps(k)}: ", v) for k, v in value.items()]
        open_, close = "{", "}"
    else:
        items = [("", v) for v in value]
        open_, close = "[", "]"
    parts = []
    length = 0  # of the text so far, counting the brackets and a ", " after each part but one
    for key, v in items:
        text = _one_line(v)
        if text is None:
            return None
        parts.append(key + text)
        length += len(parts[-1]) + 2
        if length > _LINE:
            return None
    return open_ + ", ".join(parts) + close


def _emit(value: Any, indent: int, prefix: int, out: list[str]) -> None:
    """Append the laid-out text of a value to ``out``: on one line when it fits (see
    :func:`_pretty`), else one child a line, each laid out the same way."""
    if not isinstance(value, dict | list | _Points) or not value:
        out.append(_compact(value))  # a number, string or empty container: itself, fits or not
        return
    text = _one_line(value)
    if text is not None and indent + prefix + len(text) <= _LINE:
        out.append(text)
        return
    if isinstance(value, _Points):
        out.append(_points_laid_out(value.texts, indent))
        return
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        out.append("{\n")
        for n, (k, v) in enumerate(value.items()):
            key = f"{json.dumps(k)}: "
            out.append((",\n" if n else "") + pad + key)
            _emit(v, indent + 2, len(key), out)
        out.append("\n" + " " * indent + "}")
    else:
        out.append("[\n")
        for n, v in enumerate(value):
            out.append((",\n" if n else "") + pad)
            _emit(v, indent + 2, 0, out)
        out.append("\n" + " " * indent + "]")


def _points_laid_out(texts: list[str], indent: int) -> str:
    """A list of ``[x, y]`` points (given as their one-line texts) one point a line, a point that
    fits no line one number a line, as :func:`_emit` lays out the list of lists of two floats."""
    pad = " " * (indent + 2)
    if indent + 2 + max(map(len, texts)) > _LINE:
        inner = " " * (indent + 4)
        texts = [
            t
            if indent + 2 + len(t) <= _LINE
            else "[\n" + inner + t[1:-1].replace(", ", ",\n" + inner) + "\n" + pad + "]"
            for t in texts
        ]
    return "[\n" + pad + (",\n" + pad).join(texts) + "\n" + " " * indent + "]"


def _fill() -> dict[str, Any]:
    """White, opaque, non-zero winding (``r`` 1: spec ``constants/fill-rule``)."""
    return {"ty": "fl", "nm": "Fill", "c": _static([1, 1, 1, 1]), "o": _static(100), "r": 1}


def write_to_string(
    shapes: Sequence[RotoShape],
    fmt: ShotFormat,
    *,
    name: str = "roto",
    interpolation: str = "linear",
    decimals: int = 6,
) -> str:
    """Write roto shapes as a Lottie animation: one shape layer per object.

    Args:
        shapes: Contours in image space, several per object allowed (holes counter-clockwise on
            screen), keys sparse. Contours with the same ``object_id`` share one layer, named
            after their object's name made into an identifier unique among layers; each contour
            is a path named by :func:`exporters.names.shape_names`, in the given (paint) order.
            ``feather`` and ``lifetime`` are not written (see the module notes); the collapsed
            keys that stand for the lifetime are written like any key.
        fmt: The shot's format: ``w``, ``h``, ``fr``, ``op`` (frame count); ``first_frame`` and
            ``pixel_aspect`` go into ``meta.custom.rotoflow``.
        name: The animation's name (``nm``).
        interpolation: ``"linear"`` (default: linear easing, what
            :func:`rotoflow.geometry.shape_at` does between keys) or ``"hold"`` (see
            :data:`exporters.after_effects.INTERPOLATIONS`).
        decimals: Decimals kept for coordinates (6: error below 5e-7 px).

    Returns:
        The JSON text, ``\\n`` line ends, final newline.

    Raises:
        ExportError: shapes or format that fail :func:`~exporters.shapes_json.check_shapes`,
            :func:`~exporters.shapes_json.check_format` or
            :func:`~exporters.after_effects.check_frame_range` (a key outside the shot's
            frames), no shapes, or a bad option.
    """
    check_options(interpolation, decimals)
    if not isinstance(name, str):
        raise ExportError(f"name must be a string, got {name!r}")
    check_format(fmt)
    check_shapes(shapes)
    if not shapes:
        raise ExportError("no shapes to export; a Lottie animation needs at least one")
    check_frame_range(shapes, fmt)
    n_frames = int(fmt.last_frame) - int(fmt.first_frame) + 1
    path_names = {id(shape): n for shape, n in zip(shapes, shape_names(shapes), strict=True)}
    layer_names: set[str] = set()
    layers = []
    for contours in by_object(shapes):
        layer_name = sanitize_name(contours[0].name, layer_names)
        paths = [
            _path(shape, path_names[id(shape)], int(fmt.first_frame), interpolation, decimals)
            for shape in contours
        ]
        group = {
            "ty": "gr",
            "nm": layer_name,
            "np": len(paths) + 1,
            "it": [*paths, _fill(), _group_transform()],
        }
        layers.append(
            {
                "ddd": 0,
                "ind": int(contours[0].object_id),
                "ty": 4,
                "nm": layer_name,
                "sr": 1,
                "ks": _layer_transform(),
                "ao": 0,
                "shapes": [group],
                "ip": 0,
                "op": n_frames,
                "st": 0,
                "bm": 0,
            }
        )
    doc = {
        "v": BODYMOVIN_VERSION,
        "nm": name,
        "fr": float(fmt.fps),
        "ip": 0,
        "op": n_frames,
        "w": int(fmt.width),
        "h": int(fmt.height),
        "ddd": 0,
        "assets": [],
        "layers": layers,
        "meta": {
            "g": "Rotoflow",
            "custom": {
                "rotoflow": {
                    "first_frame": int(fmt.first_frame),
                    "pixel_aspect": float(fmt.pixel_aspect),
                }
            },
        },
    }
    return _pretty(doc) + "\n"


# --- reader -------------------------------------------------------------------------------------


def _reject_constant(name: str) -> float:
    raise ExportError(f"Lottie JSON: non-finite number {name} is not allowed")


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


def read_from_string(text: str) -> tuple[ShotFormat, list[RotoShape]]:
    """Read a Lottie animation's shape layers back as roto shapes, one object per layer.

    Reads what :func:`write_to_string` writes and the common Bodymovin forms: static (``a`` 0) or
    animated paths, ``s`` as a Bezier or an array of one, old files whose last keyframe holds only
    ``t`` (its value is the previous keyframe's ``e``), groups nested to any depth, layer start
    times ``st``, one fill per path (older Rotoflow files). Layers other than shape layers, masks,
    strokes, a path's direction ``d`` and layer ``ip``/``op`` are not read.

    Args:
        text: The Lottie JSON document.

    Returns:
        The shot format and the contours in image space, layer by layer. Plate frame =
        ``first_frame + t + st - ip``, where ``first_frame`` and the pixel aspect come from
        ``meta.custom.rotoflow`` when present (otherwise ``ip`` rounded and 1.0); ``last_frame``
        is ``first_frame + op - ip - 1``. Every closed path of a layer (groups flattened, in
        order) is a contour of one object: ``object_id`` is the layer's ``ind`` (its 1-based
        position when absent), ``name`` the layer's ``nm`` (else ``layer<n>``), ``contour`` the
        path's position in the layer. ``hole`` comes from the orientation: a path that runs
        against the layer's first path (the outer contour: clockwise on screen in Rotoflow's
        files; signed area of the path flattened) subtracts under the non-zero fill, so it is a
        hole; a path drawn nowhere (zero area on every key) is a hole when its ``nm`` is
        ``<layer name>_hole<k>``. ``lifetime`` is the frames a renderer draws the path on: the
        shot (widened to the keys), less a collapsed first or last key and what lies beyond it;
        None when that equals the span of the keys. ``feather`` is 0 (Lottie has none). A static
        path becomes one key at ``first_frame``.

    Raises:
        ExportError: invalid JSON (with line and column), a missing or mistyped field (with its
            JSON path), an open path, key times off whole frames, time stretch, transforms other
            than the identity, an even-odd fill of several paths, or shapes that fail
            :func:`~exporters.shapes_json.check_shapes`.
    """
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ExportError(
            f"Lottie JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
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
