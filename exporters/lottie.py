"""Lottie (Bodymovin) JSON: one shape layer per object, one animated closed path per shape.

Format: ``formats.md`` section 4.2 and the Lottie specification (lottie.github.io/lottie-spec,
schema ``composition/animation``, ``layers/shape-layer``, ``shapes/group``, ``shapes/path``,
``properties/shape-keyframe``). A preview and web deliverable, not an After Effects import path.

Layout: the animation has the shot's size (``w``, ``h``) and frame rate (``fr``); ``ip`` is 0 and
``op`` the shot's frame count, so Lottie frame ``t`` is plate frame ``first_frame + t``
(``formats.md`` section 7, item 4). Each object (shapes sharing an ``object_id``) is a shape layer
(``ty`` 4, ``ind`` = ``object_id``) with identity transforms; each shape is a group holding a path
(``sh``), a white non-zero fill and an identity group transform. The path is animated (``a`` 1)
with one keyframe per :class:`~rotoflow.types.ShapeKey`, ``s`` an array holding one closed Bezier
(``c``, ``v``, ``i``, ``o``) as real files write it: vertices in pixels, origin top-left, y down,
tangents relative to their vertex, i.e. Rotoflow's image space unchanged. Keyframes carry linear
easing (``o`` = ``{x 0, y 0}``, ``i`` = ``{x 1, y 1}``) or ``h`` 1 (hold). The last keyframe is
always a hold: nothing follows it, the schema (``properties/base-keyframe``) wants easing on every
key that is not a hold, and rlottie draws nothing after a last key that has easing. Lottie has no pixel aspect and no first frame number, so both go into
``meta.custom.rotoflow`` (the spec's free-form metadata) for :func:`read_from_string`.

Because ``.json`` is the pipeline's own shapes format (:mod:`exporters.shapes_json`), this
exporter's suffix is the double suffix ``.lottie.json``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from exporters.after_effects import check_frame_range, check_options, group_by_object
from exporters.names import sanitize_name
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


def _bezier(points: np.ndarray, decimals: int) -> dict[str, Any]:
    pts = np.round(np.asarray(points, dtype=np.float64), decimals)
    return {
        "c": True,
        "v": pts[:, 0].tolist(),
        "i": pts[:, 1].tolist(),
        "o": pts[:, 2].tolist(),
    }


def _path(shape: RotoShape, name: str, first: int, interpolation: str, decimals: int) -> dict:
    keyframes = []
    for n, key in enumerate(shape.keys):
        kf: dict[str, Any] = {"t": int(key.frame) - first}
        last = n == len(shape.keys) - 1
        kf.update({"h": 1} if interpolation == "hold" or last else _LINEAR)
        kf["s"] = [_bezier(key.points, decimals)]
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
    text = _compact(value)
    if indent + prefix + len(text) <= _LINE or not isinstance(value, dict | list) or not value:
        return text
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        rows = []
        for k, v in value.items():
            key = f"{json.dumps(k)}: "
            rows.append(pad + key + _pretty(v, indent + 2, len(key)))
        return "{\n" + ",\n".join(rows) + "\n" + " " * indent + "}"
    rows = [pad + _pretty(v, indent + 2) for v in value]
    return "[\n" + ",\n".join(rows) + "\n" + " " * indent + "]"


def write_to_string(
    shapes: Sequence[RotoShape],
    fmt: ShotFormat,
    *,
    name: str = "roto",
    interpolation: str = "linear",
    decimals: int = 6,
) -> str:
    """Write shapes as a Lottie animation.

    Args:
        shapes: Shapes in image space. Shapes with the same ``object_id`` share one layer named
            after the first of them; each shape is a group and path named after ``shape.name``.
            Names are made into unique identifiers (:func:`exporters.names.sanitize_name`), layers
            among layers and shapes among shapes.
        fmt: The shot's format: ``w``, ``h``, ``fr``, ``op`` (frame count); ``first_frame`` and
            ``pixel_aspect`` go into ``meta.custom.rotoflow``.
        name: The animation's name (``nm``).
        interpolation: ``"linear"`` or ``"hold"`` (see
            :data:`exporters.after_effects.INTERPOLATIONS`).
        decimals: Decimals kept for coordinates (6: error below 5e-7 px).

    Returns:
        The JSON text, ``\\n`` line ends, final newline.

    Raises:
        ExportError: shapes or format that fail :func:`~exporters.shapes_json.check_shapes`,
            :func:`~exporters.shapes_json.check_format` or
            :func:`~exporters.after_effects.check_frame_range`, no shapes, or a bad option.
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
    layer_names: set[str] = set()
    shape_names: set[str] = set()
    layers = []
    for group in group_by_object(shapes):
        items = []
        for shape in group:
            sname = sanitize_name(shape.name, shape_names)
            path = _path(shape, sname, int(fmt.first_frame), interpolation, decimals)
            fill = {
                "ty": "fl",
                "nm": "Fill",
                "c": _static([1, 1, 1, 1]),
                "o": _static(100),
                "r": 1,
            }
            items.append({"ty": "gr", "nm": sname, "np": 2, "it": [path, fill, _group_transform()]})
        layers.append(
            {
                "ddd": 0,
                "ind": int(group[0].object_id),
                "ty": 4,
                "nm": sanitize_name(group[0].name, layer_names),
                "sr": 1,
                "ks": _layer_transform(),
                "ao": 0,
                "shapes": items,
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


def _read_items(items: Any, where: str, ctx: dict, out: list[RotoShape], group: str) -> None:
    if not isinstance(items, list):
        raise ExportError(f"Lottie JSON: {where} must be a list")
    for n, item in enumerate(items):
        iwhere = f"{where}[{n}]"
        ty = _field(item, "ty", str, iwhere)
        if ty == "gr":
            name = _field(item, "nm", str, iwhere, group)
            for sub in _field(item, "it", list, iwhere):
                if isinstance(sub, dict) and sub.get("ty") == "tr":
                    _check_identity(sub, f"{iwhere}.it(tr)")
            _read_items(_field(item, "it", list, iwhere), f"{iwhere}.it", ctx, out, name)
        elif ty == "sh":
            keys = _read_path(
                _field(item, "ks", dict, iwhere), f"{iwhere}.ks", ctx["offset"], ctx["first"]
            )
            name = _field(item, "nm", str, iwhere, group)
            out.append(RotoShape(object_id=ctx["object_id"], name=name, keys=keys))
        else:
            logger.debug("skipping Lottie shape item %r at %s", ty, iwhere)


def read_from_string(text: str) -> tuple[ShotFormat, list[RotoShape]]:
    """Read the closed paths of a Lottie animation's shape layers.

    Reads what :func:`write_to_string` writes and the common Bodymovin forms: static (``a`` 0) or
    animated paths, ``s`` as a Bezier or an array of one, old files whose last keyframe holds only
    ``t`` (its value is the previous keyframe's ``e``), groups nested to any depth, layer start
    times ``st``. Layers other than shape layers, masks, fills and strokes are skipped.

    Args:
        text: The Lottie JSON document.

    Returns:
        The shot format and the shapes in image space. Plate frame = ``first_frame + t + st -
        ip``, where ``first_frame`` and the pixel aspect come from ``meta.custom.rotoflow`` when
        present (otherwise ``ip`` rounded and 1.0); ``last_frame`` is ``first_frame + op - ip -
        1``. ``object_id`` is the layer's ``ind`` (its 1-based position when absent); a shape's
        name is its path's ``nm``, else its group's, else its layer's. A static path becomes one
        key at ``first_frame``.

    Raises:
        ExportError: invalid JSON (with line and column), a missing or mistyped field (with its
            JSON path), an open path, key times off whole frames, time stretch, transforms other
            than the identity, or shapes that fail :func:`~exporters.shapes_json.check_shapes`.
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
        ctx = {
            "offset": first - ip + _field(layer, "st", number, where, 0),
            "first": first,
            "object_id": _field(layer, "ind", int, where, n + 1),
        }
        layer_name = _field(layer, "nm", str, where, f"layer{n + 1}")
        _read_items(
            _field(layer, "shapes", list, where), f"{where}.shapes", ctx, shapes, layer_name
        )
    check_shapes(shapes)
    return fmt, shapes
