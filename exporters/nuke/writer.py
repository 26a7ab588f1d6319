"""Foundry Nuke ``.nk`` scripts: one ``Roto`` node with one animated Bezier shape per contour.

Format: ``docs/formats.md`` section 1 (Roto ``curves`` knob, serialisation version 1.2, as written by
Nuke 7 and later). Each contour (:class:`~rotoflow.types.RotoShape`) becomes a closed cubic
``curvegroup`` in the root layer, named by :func:`exporters.names.shape_names` (``dancer``,
``dancer_hole1``, ``dancer_part2``), whose main and feather ``cc`` curves carry one key per
:class:`~rotoflow.types.ShapeKey`, in Nuke space: origin at the bottom-left corner of the format, y
up, so a vertex ``(x, y)`` becomes ``(x, H - y)`` and a tangent ``(dx, dy)`` becomes ``(dx, -dy)``.
Numbers are IEEE-754 float32 bits written ``x%08x`` (``0`` for zero). Key times are plate frame
numbers; only keys inside the shot's frame range are written (a key outside it is refused, never
dropped or moved). A shape with one key uses the static ``{px <t> {x y} ...}`` form, a shape with
several keys the animated ``{px {t1 t2 ...} {{{x1 -} ...} {{y1 -} ...}} ...}`` form; both are the
forms seen in files written by Nuke itself.

Host conventions, with their evidence (tags as in ``docs/formats.md``):

- **Holes** get the shape attribute ``bm`` (blend mode) 12 = subtract. [writer] NukeFXSExporter
  (magnoborgo/NukeFXSExporter, ``NukeFXSExporter.py``, ``createShapes``) maps the value of
  ``getAttributes().getValue(0, 'bm')`` with ``{0: "Add", 12: "Subtract", 13: "Difference",
  4: "Max", 5: "Inside"}`` to Silhouette's shape ``mode``. Outer contours and islands keep the
  default (no ``bm``, i.e. 0 = over/add). The value is written as float32 hex like the other
  numeric attributes Nuke writes (``tt x40800000``).
- **Paint order.** [inferred, unverified in Nuke] Nuke shows a layer's items top first in its
  curves panel, newest on top, and yields them in that order when Python iterates a layer (the
  Nuke Python guide's ``for shape in root`` example prints ``Layer1, Brush2, Bezier1``, which
  fits newest first); we take the script to list them in the same order, and the item at the
  top of the list to render last, on top. NukeFXSExporter reverses Nuke's order when it writes
  Silhouette objects (``rptsw_shapeList[::-1]``) [writer], which fits the two hosts listing
  paint order in opposite directions. So curvegroups are written in *reverse* paint order: the
  last contour of the last object first (top), the first outer contour of the first object last
  (bottom, rendered first); each hole then renders after, on top of, the outer contours it cuts.
  A subtract shape cuts everything rendered before it in the node, so where objects overlap, a
  hole of a later object also cuts the earlier objects (one Roto node, one matte).
- **Feather.** The second ``cc`` holds per-point feather offsets from the main vertices in the
  vertex slots and the feather curve's own tangents in the tangent slots (equal to the main
  curve's in the Nuke-written files we have seen [real]; the feather curve is drawn with them
  [inferred]). Nuke fills a shape with its own alpha, 1 inside the main curve
  and falling to 0 at the feather curve; a subtract shape takes its own alpha off the shapes
  below. So the two curves go on the two ends of the contour's soft band
  (:meth:`rotoflow.types.RotoShape.soft_band`; :func:`feather_curves`): for an outer contour or
  island the main vertex moves ``inside`` pixels in from the path and its feather point lies
  ``outside`` pixels out from it; for a hole the main vertex moves ``outside`` pixels into the
  hole and the feather point lies ``inside`` pixels out, in the object. Directions are the
  vertex normals (:func:`rotoflow.geometry.bezier.vertex_normals`); both curves are parallel
  curves of the path, their handles scaled by the curvature
  (:func:`rotoflow.geometry.bezier.offset_points`). A
  collapsed key gets zero moves and offsets. The global feather attributes (``ff``, ``fx``, ...)
  are left alone, so the ramp is Nuke's default falloff.
- **Interpolation.** Nuke's default shape-key interpolation is smooth (``docs/formats.md`` 1.4),
  while Rotoflow keys are sparse and meant to be interpolated linearly
  (:func:`rotoflow.geometry.shape_at`). Curves with three or more keys therefore carry explicit
  slopes, ``{v ls 1 rs 1}``, the item form seen in Nuke-written files (e.g.
  ``{x44aae3d6 0 1 x419630da 1}`` in WuLiFang/Nuke ``smoke.nk``) [real]: each key's left slope
  is the secant slope to the previous key and its right slope the secant to the next key (0 on
  the outer side of the first and last keys), in value units per frame; a cubic Hermite segment
  whose end slopes both equal its secant is the straight line between its keys. Reading the
  numbers as value, left slope, left weight, right slope, right weight is [inferred] from the
  NDK curve grammar (``l-slope``/``r-slope``, weights defaulting to 1). Curves of two keys keep
  the plain ``{v -}`` items of the reference file, on the [inferred] premise that Nuke's
  automatic slopes of a two-key curve are its secant. Verify both in Nuke (``docs/formats.md`` 10.1).
- **Lifetime** is written natively: a contour with a lifetime gets ``ltn <first> ltm <last>
  ltt 4`` (lifetime type 4 = frame range, from ``ltn`` to ``ltm``) in its ``{a ...}`` list, in
  host frames, float32 hex like Nuke's own (``ltn x41b80000 ltm x41b80000`` in WuLiFang/Nuke
  ``smoke.nk``, saved by Nuke 10 [real]; ``attrs.set('ltt', 4)``, ``set('ltn', first)``,
  ``set('ltm', last)`` in Nuke Python lifetime scripts [writer]). Where ``ltt`` sits among the
  attributes is [inferred]: Nuke leaves a default ``ltt`` (0, all frames) out, so no real file
  shows it. Outside the lifetime Nuke draws nothing whatever the keys hold, so the collapsed keys
  the vectorizer puts one frame outside are left out: the curves keep their keys inside the
  lifetime, which an artist can widen without first deleting zero-size keys.

The reader (:func:`exporters.nuke.read_from_string`) is :mod:`exporters.nuke.reader`; the names
both share are in :mod:`exporters.nuke.grammar`.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence

import numpy as np

from exporters.checks import check_format, check_frame_range, check_shapes
from exporters.lifetime import live_keys
from exporters.names import sanitize_name, shape_names
from exporters.nuke.grammar import BM_SUBTRACT, CC_FLAGS, FORMAT_NAMES, LTT_FRAME_RANGE
from exporters.numbers import float32_hex_cells
from rotoflow.errors import ExportError
from rotoflow.geometry.bezier import as_points, offset_points, vertex_normals
from rotoflow.types import RotoShape, ShotFormat

NAME = "nuke"
SUFFIXES = (".nk",)

_CURVES_VERSION = "x3f99999a"  # 1.2f, the serialisation version
_LAYER_FLAGS = 2097152  # as in Nuke-written root layers
_GROUP_FLAGS = 512  # renderable
_ROOT_LAYER_ATTRS = (
    "pt1x 0 pt1y 0 pt2x 0 pt2y 0 pt3x 0 pt3y 0 pt4x 0 pt4y 0 "
    + " ".join(f"ptex{i}{j} 0" for i in range(4) for j in range(4))
    + " ptof1x 0 ptof1y 0 ptof2x 0 ptof2y 0 ptof3x 0 ptof3y 0 ptof4x 0 ptof4y 0"
    " pterr 0 ptrefset 0 ptmot x40800000 ptref 0"
)


def _hex(value: float) -> str:
    """``x%08x`` of the big-endian float32 bits of ``value``; ``0`` for (signed) zero."""
    f32 = float(np.float32(value))
    if f32 == 0.0:
        return "0"
    return f"x{struct.unpack('>I', struct.pack('>f', f32))[0]:08x}"


def _dec(value: float) -> str:
    """Decimal text for knob values: ``24`` for integral values, shortest repr otherwise."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _format_string(fmt: ShotFormat) -> str:
    name = FORMAT_NAMES.get((fmt.width, fmt.height, float(fmt.pixel_aspect)), "")
    w, h = fmt.width, fmt.height
    return f'"{w} {h} 0 0 {w} {h} {_dec(fmt.pixel_aspect)} {name}"'


def feather_curves(shape: RotoShape) -> tuple[np.ndarray, np.ndarray]:
    """A contour's main curve and feather curve, per key.

    Nuke fills each shape with its own alpha: 1 inside its main curve, falling to 0 at its
    feather curve; a hole (subtract mode) takes its own alpha off the shapes below. So the main
    curve goes on the side of the soft band where the shape's own alpha is 1 and the feather curve
    on the other: for an outer contour or island the main vertex moves ``inside`` pixels in from
    the path (towards the filled side) and the feather point lies ``outside`` pixels out from it;
    for a hole, whose own alpha is 1 in the hole, the main vertex moves ``outside`` pixels into
    the hole and the feather point ``inside`` pixels into the object. Directions are the vertex
    normals of :func:`rotoflow.geometry.bezier.vertex_normals`; the band is
    :meth:`rotoflow.types.RotoShape.soft_band`. Both curves are parallel curves of the path
    (:func:`rotoflow.geometry.bezier.offset_points`: handles scaled by the curvature), so that a
    round part keeps its band's width between vertices.

    Args:
        shape: The contour.

    Returns:
        ``(main, feather)``, each ``(K, N, 3, 2) float64`` control points ``[vertex, in, out]``
        in image space (y down), tangents relative to their vertex. Both equal the key's path on
        a collapsed key and for a hard edge.
    """
    band = shape.soft_band()
    inside, outside = band[:, 0], band[:, 1]
    if shape.hole:
        to_main, to_feather = outside, -inside
    else:
        to_main, to_feather = -inside, outside
    main = np.zeros((len(shape.keys), shape.n_points, 3, 2))
    feather = np.zeros_like(main)
    for k, key in enumerate(shape.keys):
        pts = as_points(key.points)
        n = vertex_normals(pts, shape.hole)  # away from the filled side
        main[k] = offset_points(pts, to_main, n)
        feather[k] = offset_points(pts, to_feather, n)
    return main, feather


def _nuke_keys(shape: RotoShape, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Main and feather ``(K, N, 3, 2) float32`` keys in Nuke space (y up; relative values with
    y negated); the feather keys hold the feather point's offset from the main vertex in the
    vertex slot and the feather curve's own tangents."""
    pts, far = feather_curves(shape)
    main = pts.copy()
    main[..., 0, 1] = height - pts[..., 0, 1]
    main[..., 1:, 1] = -pts[..., 1:, 1]
    feather = far * (1.0, -1.0)
    feather[..., 0, :] = (far[..., 0, :] - pts[..., 0, :]) * (1.0, -1.0)
    with np.errstate(over="ignore"):
        f32 = np.stack([main, feather]).astype(np.float32)
    if not np.all(np.isfinite(f32)):
        raise ExportError(f"shape {shape.label!r} has values beyond the float32 range")
    return f32[0], f32[1]


def _columns(parts: list[bytes | np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """Byte columns side by side (last axis): each part a literal, the same in every position, or
    a ``shape + (width,) uint8`` array."""
    return np.concatenate(
        [
            np.broadcast_to(np.frombuffer(p, dtype=np.uint8), shape + (len(p),))
            if isinstance(p, bytes)
            else p
            for p in parts
        ],
        axis=-1,
    )


def _text(chars: np.ndarray) -> str:
    """The text of an ASCII byte array in C order, NUL bytes left out."""
    flat = chars.ravel()
    return np.compress(flat != 0, flat).tobytes().decode("ascii")


def _curve_items(keys: np.ndarray, frames: list[int]) -> np.ndarray:
    """Every key item of every animation curve of a cc, as ASCII bytes.

    ``keys`` is ``(K, N, 3, 2)``; the curves come in file order (point, slot, axis), each over
    the K keys: ``{v -}`` per key, or with 3+ keys ``{v ls 1 rs 1}`` whose slopes are the secants
    to the neighbouring keys (linear interpolation), 0 on the outer side of the end keys. Each
    item is followed by a space, but the last of a curve.

    Returns:
        ``(N, 3, 2, K, width) uint8``, NUL where no text.
    """
    values = keys[:, :, (1, 0, 2), :].transpose(1, 2, 3, 0)  # file slot order: in, vertex, out
    shape = values.shape
    if len(frames) < 3:
        items = _columns([b"{", float32_hex_cells(values), b" -} "], shape)
    else:
        vals = values.astype(np.float64)
        secant = np.diff(vals, axis=-1) / np.diff(np.asarray(frames, dtype=np.float64))
        flat = np.zeros(secant.shape[:-1] + (1,))
        left = np.concatenate([flat, secant], axis=-1)
        right = np.concatenate([secant, flat], axis=-1)
        cells = float32_hex_cells(np.stack([vals, left, right]))
        items = _columns([b"{", cells[0], b" ", cells[1], b" 1 ", cells[2], b" 1} "], shape)
    items[..., -1, -1] = 0  # no space after a curve's last item
    return items


def _px(frames: list[int], keys: np.ndarray) -> str:
    """The ``{px ...}`` list of one cc curve; ``keys`` is ``(K, N, 3, 2)`` in Nuke space."""
    ind = b"        "
    times = [_hex(f) for f in frames]
    n = keys.shape[1]
    if len(times) == 1:
        # a line per point: {in} {vertex} {out}, each {x y}
        cells = float32_hex_cells(keys[0][:, (1, 0, 2), :])
        parts: list[bytes | np.ndarray] = [ind]
        for slot, end in enumerate((b"} ", b"} ", b"}\n")):
            parts += [b"{", cells[:, slot, 0], b" ", cells[:, slot, 1], end]
        lines = _columns(parts, (n,))
        lines[-1, -1] = 0  # no newline after the last line
        return f"{{px {times[0]}\n" + _text(lines) + "}"
    # a line per point and slot: {{x items} {y items}}
    items = _curve_items(keys, frames).reshape(3 * n, 2, -1)
    lines = _columns([ind + b"{{", items[:, 0], b"} {", items[:, 1], b"}}\n"], (3 * n,))
    lines[-1, -1] = 0
    return f"{{px\n{ind.decode()}{{{' '.join(times)}}}\n" + _text(lines) + "}"


def _curvegroup(name: str, shape: RotoShape, fmt: ShotFormat) -> str:
    shape = live_keys(shape)  # the lifetime hides it outside: no collapsed keys
    main_keys, feather_keys = _nuke_keys(shape, fmt.height)
    frames = [k.frame for k in shape.keys]
    verts = main_keys[0, :, 0, :]
    cx, cy = (verts.min(axis=0) + verts.max(axis=0)) / 2
    main, feather = _px(frames, main_keys), _px(frames, feather_keys)
    centre = f"spx {_hex(fmt.width / 2)} spy {_hex(fmt.height / 2)}"
    blend = f" bm {_hex(BM_SUBTRACT)}" if shape.hole else ""
    life = ""
    if shape.lifetime is not None:
        first, last = shape.lifetime
        life = f" ltn {_hex(first)} ltm {_hex(last)} ltt {_hex(LTT_FRAME_RANGE)}"
    return (
        f"    {{curvegroup {name} {_GROUP_FLAGS} bezier\n"
        f"     {{{{cc\n       {{f {CC_FLAGS}}}\n       {main}}}\n"
        f"      {{cc\n       {{f {CC_FLAGS}}}\n       {feather}}}}}\n"
        f"     {{tx {_hex(frames[0])} {_hex(cx)} {_hex(cy)}}}\n"
        f"     {{a osw x41200000 osf 0 str 1 {centre} sb 1{life} tt x40800000{blend}}}}}"
    )


def _curvegroup_names(shapes: Sequence[RotoShape]) -> list[str]:
    """:func:`shape_names`, with a shape named ``Root`` (the root layer's name) renamed."""
    names = shape_names(shapes)
    taken = {"Root", *names}
    return [sanitize_name(n, taken) if n == "Root" else n for n in names]


def write_to_string(
    shapes: Sequence[RotoShape],
    fmt: ShotFormat,
    *,
    node_name: str = "Rotoflow",
    nuke_version: str = "13.2 v8",
) -> str:
    """Write a standalone Nuke script: a ``Root`` with the shot's format and range, one ``Roto``.

    Args:
        shapes: Contours in image space, in paint order (an object's outer contours, then its
            holes, then islands; objects one after the other); each becomes one curvegroup named
            by :func:`exporters.names.shape_names` (``Root`` becomes ``Root_2``), holes in
            subtract mode, written in reverse paint order (see the module notes).
        fmt: The shot's format: Root and Roto ``format``; Root ``first_frame``, ``last_frame``,
            ``fps``. Every key must lie in ``first_frame..last_frame``.
        node_name: Name of the Roto node, made into a Nuke identifier.
        nuke_version: The script's ``version`` line, ``"<major>.<minor> v<release>"``.

    Returns:
        The script text, ``\\n`` line ends, final newline.

    Raises:
        ExportError: shapes or format that fail :func:`~exporters.checks.check_shapes` or
            :func:`~exporters.checks.check_format`, a key outside the shot's frame range,
            values beyond float32, or a malformed ``nuke_version``.
    """
    if not re.fullmatch(r"\d+\.\d+ v\d+", nuke_version):
        raise ExportError(f"nuke_version must look like '13.2 v8', got {nuke_version!r}")
    check_format(fmt)
    check_shapes(shapes)
    check_frame_range(shapes, fmt)
    names = _curvegroup_names(shapes)
    groups = [_curvegroup(n, s, fmt) for n, s in zip(names, shapes, strict=True)][::-1]
    fmt_str = _format_string(fmt)
    layer = (
        f"   {{layer Root\n    {{f {_LAYER_FLAGS}}}\n"
        f"    {{t {_hex(fmt.width / 2)} {_hex(fmt.height / 2)}}}\n"
        f"    {{a {_ROOT_LAYER_ATTRS}}}"
    )
    curves = "\n".join([layer, *groups]) + "}}}}"
    lines = [
        f"version {nuke_version}",
        "Root {",
        " inputs 0",
        f" first_frame {fmt.first_frame}",
        f" last_frame {fmt.last_frame}",
        f" fps {_dec(fmt.fps)}",
        f" format {fmt_str}",
        "}",
        "Roto {",
        " inputs 0",
        " output alpha",
        " cliptype none",
        f" format {fmt_str}",
        f" curves {{{{{{v {_CURVES_VERSION}}}\n  {{f 0}}\n  {{n\n{curves}",
        f" name {sanitize_name(node_name, set(), 'Roto')}",
        "}",
    ]
    return "\n".join(lines) + "\n"
