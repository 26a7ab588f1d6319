"""Lottie (Bodymovin) JSON: one shape layer per object, its contours as paths under one fill.

Format: ``docs/formats.md`` section 4.2 and the Lottie specification (lottie.github.io/lottie-spec,
schema ``composition/animation``, ``layers/shape-layer``, ``shapes/group``, ``shapes/path``,
``shapes/fill``, ``properties/shape-keyframe``). A preview and web deliverable, not an After Effects
import path.

Layout: the animation has the shot's size (``w``, ``h``) and frame rate (``fr``); ``ip`` is 0 and
``op`` the shot's frame count, so Lottie frame ``t`` is plate frame ``first_frame + t``
(``docs/formats.md`` section 7, item 4). Each object (contours sharing an ``object_id``, see
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
- **Feather.** The Lottie specification has no feather (``docs/formats.md`` 4.2 [doc]; Synfig's
  exporter notes "Feather: not supported"), so :attr:`~rotoflow.types.RotoShape.feather` is not
  written and reads back as 0.
- **Pixel aspect and first frame number.** Both go into ``meta.custom.rotoflow`` (the spec's
  free-form metadata) for :func:`read_from_string`.

Because ``.json`` is the pipeline's own shapes format (:mod:`exporters.shapes_json`), this
exporter's suffix is the double suffix ``.lottie.json``.

The reader (:func:`exporters.lottie.read_from_string`) is :mod:`exporters.lottie.reader`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from exporters.checks import check_format, check_frame_range, check_options, check_shapes
from exporters.names import by_object, sanitize_name, shape_names
from exporters.numbers import shortest
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShotFormat

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
            :data:`exporters.checks.INTERPOLATIONS`).
        decimals: Decimals kept for coordinates (6: error below 5e-7 px).

    Returns:
        The JSON text, ``\\n`` line ends, final newline.

    Raises:
        ExportError: shapes or format that fail :func:`~exporters.checks.check_shapes`,
            :func:`~exporters.checks.check_format` or
            :func:`~exporters.checks.check_frame_range` (a key outside the shot's
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
