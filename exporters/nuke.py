"""Foundry Nuke ``.nk`` scripts: one ``Roto`` node with one animated Bezier shape per contour.

Format: ``formats.md`` section 1 (Roto ``curves`` knob, serialisation version 1.2, as written by
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

Host conventions, with their evidence (tags as in ``formats.md``):

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
- **Feather.** The second ``cc`` holds per-point feather offsets from the main vertices, with the
  main curve's tangents [real]. The offset is ``feather * outward unit normal`` at the vertex:
  the normal to the vertex's tangent direction (the bisector of the incoming and outgoing
  handles, else of the neighbouring chords), pointing away from the filled side. Which side is
  filled comes from the key's orientation (the sign of its area; outer contours run clockwise on
  screen) and the hole flag: the inside of the loop for outer contours and islands, the outside
  for holes, so a hole's feather points lie inside it and its soft edge falls off into the hole.
  A collapsed key gets zero offsets. The global feather attributes (``ff``, ``fx``, ...) are left
  alone.
- **Interpolation.** Nuke's default shape-key interpolation is smooth (``formats.md`` 1.4),
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
  automatic slopes of a two-key curve are its secant. Verify both in Nuke (``formats.md`` 10.1).
- **Lifetime** is not written: the ``ltn``/``ltm``/``ltt`` attributes' encoding is unknown
  (``formats.md`` 10.1). The collapsed keys the vectorizer puts one frame outside a contour's
  lifetime hide it there, Nuke holding the first and last keys outside the keyed range
  [inferred].

The reader is a tokenizer and parser of the ``.nk`` brace grammar. It reads what the writer writes,
the static form, run-length items ``{x N {v -}}``, constant curves, decimal literals and
explicit-slope items (whose slopes it ignores: keys are interpolated linearly). It takes ``bm 12``
as a hole, the mean feather offset length as the feather, and groups a node's curvegroups into
objects by name: ``<stem>_hole<k>`` and ``<stem>_part<k>`` are contour ``k`` of object ``<stem>``,
any other name is contour 0 of its own object. It ignores layer and shape transforms.
"""

from __future__ import annotations

import logging
import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from exporters.names import by_object, sanitize_name, shape_names
from exporters.numbers import float32_hex_cells
from exporters.shapes_json import check_format, check_frame_range, check_shapes
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShapeKey, ShotFormat

logger = logging.getLogger(__name__)

NAME = "nuke"
SUFFIXES = (".nk",)

_CURVES_VERSION = "x3f99999a"  # 1.2f, the serialisation version
_LAYER_FLAGS = 2097152  # as in Nuke-written root layers
_GROUP_FLAGS = 512  # renderable
_CC_FLAGS = 8192  # relative tangents
_OPEN_FLAG = 32
#: Shape attribute ``bm`` (blend mode) of a subtracting shape (NukeFXSExporter's map).
_BM_SUBTRACT = 12
_ROOT_LAYER_ATTRS = (
    "pt1x 0 pt1y 0 pt2x 0 pt2y 0 pt3x 0 pt3y 0 pt4x 0 pt4y 0 "
    + " ".join(f"ptex{i}{j} 0" for i in range(4) for j in range(4))
    + " ptof1x 0 ptof1y 0 ptof2x 0 ptof2y 0 ptof3x 0 ptof3y 0 ptof4x 0 ptof4y 0"
    " pterr 0 ptrefset 0 ptmot x40800000 ptref 0"
)
#: Nuke's built-in format names for sizes we recognise; other sizes get an unnamed format.
_FORMAT_NAMES = {
    (1920, 1080, 1.0): "HD_1080",
    (1280, 720, 1.0): "HD_720",
    (3840, 2160, 1.0): "UHD_4K",
}
_HEX = re.compile(r"0?x([0-9a-fA-F]{8})")
_CONTOUR_NAME = re.compile(r"(.+)_(hole|part)([1-9][0-9]*)")
_SAMPLES = 16  # chords per cubic segment for a key's signed area
_EPS = 1e-9


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
    name = _FORMAT_NAMES.get((fmt.width, fmt.height, float(fmt.pixel_aspect)), "")
    w, h = fmt.width, fmt.height
    return f'"{w} {h} 0 0 {w} {h} {_dec(fmt.pixel_aspect)} {name}"'


def _unit(v: np.ndarray) -> np.ndarray:
    """Rows of ``(..., 2)`` scaled to length 1; zero rows stay zero."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, n, out=np.zeros_like(v), where=n > _EPS)


def _signed_area(points: np.ndarray) -> float:
    """Area of a closed Bezier key ``(N, 3, 2)`` (image space), positive when the contour runs
    clockwise on screen (y down), from ``_SAMPLES`` chords per segment."""
    v, nxt = points[:, 0], np.roll(points[:, 0], -1, axis=0)
    p1, p2 = v + points[:, 2], nxt + np.roll(points[:, 1], -1, axis=0)
    t = np.linspace(0.0, 1.0, _SAMPLES, endpoint=False)[:, None, None]
    curve = (1 - t) ** 3 * v + 3 * (1 - t) ** 2 * t * p1 + 3 * (1 - t) * t**2 * p2 + t**3 * nxt
    x, y = curve.transpose(1, 0, 2).reshape(-1, 2).T
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def feather_offsets(shape: RotoShape) -> np.ndarray:
    """Feather-point offsets of a contour: ``feather`` pixels along the outward vertex normals.

    Args:
        shape: The contour; its ``feather`` (pixels) and ``hole`` flag are used.

    Returns:
        ``(K, N, 2) float64`` offsets in image space (y down), one per key and control point:
        ``feather`` times the unit normal to the vertex's tangent direction, pointing away from
        the filled side (out of the loop for outer contours and islands, into it for holes, as
        told by the sign of the key's area). Zero for a zero feather and for a collapsed key.
    """
    pts = np.stack([np.asarray(k.points, dtype=np.float64) for k in shape.keys])
    out = np.zeros(pts.shape[:2] + (2,))
    if shape.feather <= 0:
        return out
    for k, key in enumerate(pts):
        area = _signed_area(key)
        if abs(area) <= _EPS:
            continue  # collapsed: nothing to feather
        v = key[:, 0]
        chord_in = v - np.roll(v, 1, axis=0)
        chord_out = np.roll(v, -1, axis=0) - v
        has_in = np.linalg.norm(key[:, 1], axis=-1, keepdims=True) > _EPS
        has_out = np.linalg.norm(key[:, 2], axis=-1, keepdims=True) > _EPS
        t_in = _unit(np.where(has_in, -key[:, 1], chord_in))
        t_out = _unit(np.where(has_out, key[:, 2], chord_out))
        tangent = t_in + t_out
        tangent = _unit(
            np.where(np.linalg.norm(tangent, axis=-1, keepdims=True) > 1e-6, tangent, t_out)
        )
        # (-ty, tx) points into the loop of a clockwise-on-screen key (positive area)
        inward = np.sign(area) * np.stack([-tangent[:, 1], tangent[:, 0]], axis=-1)
        out[k] = shape.feather * (inward if shape.hole else -inward)
    return out


def _nuke_keys(shape: RotoShape, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Main and feather ``(K, N, 3, 2) float32`` keys in Nuke space (y up; relative values with
    y negated); the feather keys hold the offsets in the vertex slot and the main tangents."""
    pts = np.stack([np.asarray(k.points, dtype=np.float64) for k in shape.keys])
    main = pts.copy()
    main[..., 0, 1] = height - pts[..., 0, 1]
    main[..., 1:, 1] = -pts[..., 1:, 1]
    feather = main.copy()
    feather[..., 0, :] = feather_offsets(shape) * (1.0, -1.0)
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
    main_keys, feather_keys = _nuke_keys(shape, fmt.height)
    frames = [k.frame for k in shape.keys]
    verts = main_keys[0, :, 0, :]
    cx, cy = (verts.min(axis=0) + verts.max(axis=0)) / 2
    main, feather = _px(frames, main_keys), _px(frames, feather_keys)
    centre = f"spx {_hex(fmt.width / 2)} spy {_hex(fmt.height / 2)}"
    blend = f" bm {_hex(_BM_SUBTRACT)}" if shape.hole else ""
    return (
        f"    {{curvegroup {name} {_GROUP_FLAGS} bezier\n"
        f"     {{{{cc\n       {{f {_CC_FLAGS}}}\n       {main}}}\n"
        f"      {{cc\n       {{f {_CC_FLAGS}}}\n       {feather}}}}}\n"
        f"     {{tx {_hex(frames[0])} {_hex(cx)} {_hex(cy)}}}\n"
        f"     {{a osw x41200000 osf 0 str 1 {centre} sb 1 tt x40800000{blend}}}}}"
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
        ExportError: shapes or format that fail :func:`~exporters.shapes_json.check_shapes` or
            :func:`~exporters.shapes_json.check_format`, a key outside the shot's frame range,
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


# --- reader -------------------------------------------------------------------------------------


@dataclass
class _Word:
    text: str
    pos: int


@dataclass
class _Group:
    pos: int
    lines: list[list[_Word | _Group]] = field(default_factory=lambda: [[]])

    @property
    def items(self) -> list[_Word | _Group]:
        return [item for line in self.lines for item in line]

    @property
    def head(self) -> str | None:
        items = self.items
        return items[0].text if items and isinstance(items[0], _Word) else None


@dataclass
class _Contour:
    """One curvegroup as read: its Nuke name, image-space keys, subtract mode and feather."""

    name: str
    keys: list[ShapeKey]
    hole: bool
    feather: float


def _objects(contours: list[_Contour], first_id: int) -> list[RotoShape]:
    """Group one node's curvegroups (in paint order) into objects by name.

    ``<stem>_hole<k>`` and ``<stem>_part<k>`` are contour ``k`` of object ``<stem>``; any other
    name (or a contour index its object already has) is contour 0 of an object of that name.
    Objects are numbered from ``first_id`` in order of first appearance; the result lists each
    object's contours together, in paint order.
    """
    ids: dict[str, int] = {}
    taken: set[tuple[str, int]] = set()
    shapes = []
    for c in contours:
        m = _CONTOUR_NAME.fullmatch(c.name)
        stem, index = (m.group(1), int(m.group(3))) if m else (c.name, 0)
        if (stem, index) in taken:
            stem, index = c.name, 0
        taken.add((stem, index))
        oid = ids.setdefault(stem, first_id + len(ids))
        shapes.append(RotoShape(oid, stem, c.keys, index, c.hole, c.feather))
    return [s for group in by_object(shapes) for s in group]


class _Reader:
    """Brace-grammar parser over one script text; errors carry line and column."""

    def __init__(self, text: str) -> None:
        self.text = text

    def error(self, pos: int, msg: str) -> ExportError:
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return ExportError(f"Nuke script, line {line}, column {col}: {msg}")

    def parse(self) -> _Group:
        """The script as nested groups of lines of words (``{...}`` groups, ``"..."`` words)."""
        text, i, n = self.text, 0, len(self.text)
        stack = [_Group(0)]
        while i < n:
            c = text[i]
            if c == "\n":
                stack[-1].lines.append([])
                i += 1
            elif c in " \t\r":
                i += 1
            elif c == "#" and not stack[-1].lines[-1]:
                while i < n and text[i] != "\n":
                    i += 1
            elif c == "{":
                group = _Group(i)
                stack[-1].lines[-1].append(group)
                stack.append(group)
                i += 1
            elif c == "}":
                if len(stack) == 1:
                    raise self.error(i, "'}' without a matching '{'")
                stack.pop()
                i += 1
            elif c == '"':
                start, i, chars = i, i + 1, []
                while i < n and text[i] != '"':
                    if text[i] == "\\" and i + 1 < n:
                        i += 1
                    chars.append(text[i])
                    i += 1
                if i >= n:
                    raise self.error(start, "unterminated '\"' string")
                stack[-1].lines[-1].append(_Word("".join(chars), start))
                i += 1
            else:
                start = i
                while i < n and text[i] not in " \t\r\n{}":
                    i += 2 if text[i] == "\\" else 1
                stack[-1].lines[-1].append(_Word(text[start:i], start))
        if len(stack) > 1:
            raise self.error(stack[-1].pos, "'{' is never closed")
        return stack[0]

    def number(self, item: _Word | _Group) -> float:
        if not isinstance(item, _Word):
            raise self.error(item.pos, "expected a number, found '{'")
        m = _HEX.fullmatch(item.text)
        try:
            value = struct.unpack(">f", bytes.fromhex(m.group(1)))[0] if m else float(item.text)
        except ValueError:
            raise self.error(item.pos, f"expected a number, found {item.text!r}") from None
        if not math.isfinite(value):
            raise self.error(item.pos, f"non-finite number {item.text!r}")
        return value

    def first(self, item: _Word | _Group) -> _Word | _Group:
        """A word itself, or the first item of a group (``{v -}`` -> ``v``)."""
        if isinstance(item, _Word):
            return item
        if not item.items:
            raise self.error(item.pos, "empty '{}' where a value was expected")
        return item.items[0]

    def curve(self, curve: _Word | _Group, k: int) -> list[float]:
        """Values of one animation curve at the ``k`` shape keys (``{v -}``, ``{x N {v -}}``)."""
        values: list[float] = []
        for item in curve.items if isinstance(curve, _Group) else [curve]:
            head = self.first(item)
            if isinstance(item, _Group) and isinstance(head, _Word) and head.text == "x":
                if len(item.items) != 3:
                    raise self.error(item.pos, "run-length item must be {x N {value ...}}")
                count = self.number(item.items[1])
                values += [self.number(self.first(item.items[2]))] * int(count)
            else:
                values.append(self.number(head))
        if len(values) not in (1, k):
            raise self.error(curve.pos, f"curve has {len(values)} values for {k} keys")
        return values * k if len(values) == 1 else values

    def cc(self, cc: _Group, name: str) -> tuple[list[int], np.ndarray]:
        """Key frames and ``(K, N, 3, 2)`` Nuke-space ``[vertex, in, out]`` of a main cc."""
        parts = {p.head: p.items for p in cc.items if isinstance(p, _Group)}
        flags = int(self.number(parts["f"][1])) if len(parts.get("f", [])) == 2 else 0
        if flags & _OPEN_FLAG:
            raise self.error(cc.pos, f"shape {name!r} is an open curve; only closed shapes")
        px = parts.get("px", [])
        if len(px) < 5 or (len(px) - 2) % 3:
            raise self.error(cc.pos, f"shape {name!r}: expected {{px <times> <in> <v> <out> ...}}")
        static = isinstance(px[1], _Word)
        times = []
        for item in [px[1]] if static else px[1].items:
            t = self.number(item)
            if not t.is_integer():
                raise self.error(item.pos, f"shape {name!r}: key time {t} is not a whole frame")
            times.append(int(t))
        k = len(times)
        if not k:
            raise self.error(px[1].pos, f"shape {name!r}: no key times")
        values = np.empty((len(px) - 2, k, 2), dtype=np.float64)
        for e, entry in enumerate(px[2:]):
            if not isinstance(entry, _Group) or len(entry.items) != 2:
                raise self.error(entry.pos, f"shape {name!r}: point entry must hold x and y")
            for axis, sub in enumerate(entry.items):
                values[e, :, axis] = self.number(sub) if static else self.curve(sub, k)
        # file order per point is [in, vertex, out]; ours is [vertex, in, out]
        pts = values.reshape(-1, 3, k, 2).transpose(2, 0, 1, 3)[:, :, (1, 0, 2), :].copy()
        if not flags & _CC_FLAGS:  # absolute tangents
            pts[:, :, 1:, :] -= pts[:, :, :1, :]
        return times, pts

    def feather(self, cc: _Group | _Word, name: str) -> float:
        """Mean length of the feather offsets of a feather cc (keys with all offsets zero, such as
        collapsed keys, left out); 0 for ``idem`` or a cc without a ``{px ...}`` list."""
        if not isinstance(cc, _Group) or cc.head != "cc":
            return 0.0
        if not any(isinstance(p, _Group) and p.head == "px" for p in cc.items):
            return 0.0
        _, pts = self.cc(cc, name)
        lengths = np.linalg.norm(pts[:, :, 0, :], axis=-1)  # (K, N)
        keyed = lengths.max(axis=1) > 1e-6
        return float(lengths[keyed].mean()) if keyed.any() else 0.0

    def blend_mode(self, items: list[_Word | _Group]) -> float:
        """The ``bm`` value of a curvegroup's ``{a name value ...}`` attributes (0 if absent or
        not a plain number, e.g. an expression)."""
        for attrs in items:
            if not isinstance(attrs, _Group) or attrs.head != "a":
                continue
            pairs = attrs.items[1:]
            for i in range(len(pairs) - 1):
                name, value = pairs[i], pairs[i + 1]
                if isinstance(name, _Word) and name.text == "bm" and isinstance(value, _Word):
                    return self.number(value)
        return 0.0

    def contours(self, group: _Group, height: float, out: list[_Contour]) -> None:
        """Append the curvegroups under a layer (recursively), in paint order: a layer lists its
        items top (rendered last) first, so they are taken in reverse."""
        for child in reversed(group.items):
            if not isinstance(child, _Group):
                continue
            if child.head == "layer":
                self.contours(child, height, out)
            elif child.head == "curvegroup":
                items = child.items
                if len(items) < 5 or not isinstance(items[4], _Group):
                    raise self.error(child.pos, "curvegroup needs a name, flags, type and curves")
                name = items[1].text if isinstance(items[1], _Word) else ""
                kind = items[3].text if isinstance(items[3], _Word) else ""
                if kind != "bezier":
                    raise self.error(child.pos, f"shape {name!r} is {kind!r}; only bezier is read")
                curves = items[4].items
                main = curves[0] if curves else None
                if not isinstance(main, _Group) or main.head != "cc":
                    raise self.error(items[4].pos, f"shape {name!r}: expected {{cc ...}}")
                frames, pts = self.cc(main, name)
                pts[..., 0, 1] = height - pts[..., 0, 1]
                pts[..., 1:, 1] = -pts[..., 1:, 1]
                keys = [ShapeKey(frame=f, points=p) for f, p in zip(frames, pts, strict=True)]
                feather = self.feather(curves[1], name) if len(curves) > 1 else 0.0
                hole = self.blend_mode(items[5:]) == _BM_SUBTRACT
                out.append(_Contour(name, keys, hole, feather))
            else:
                logger.debug("skipping roto item %r", child.head)

    def format(self, value: list[_Word | _Group], pos: int) -> tuple[int, int, float]:
        """``(width, height, pixel_aspect)`` of a format knob ``"W H [x y r t] [pa] [name]"``."""
        words = (value[0].text if value and isinstance(value[0], _Word) else "").split()
        nums = []
        for w in words:
            try:
                nums.append(float(w))
            except ValueError:
                break
        if len(nums) in (2, 3, 6, 7):
            pa = nums[6] if len(nums) == 7 else nums[2] if len(nums) == 3 else 1.0
            return int(nums[0]), int(nums[1]), pa
        for (w, h, pa), fname in _FORMAT_NAMES.items():
            if words == [fname]:
                return w, h, pa
        raise self.error(pos, f"cannot read format {' '.join(words)!r}")


def _knobs(body: _Group) -> dict[str, tuple[list[_Word | _Group], int]]:
    return {
        line[0].text: (line[1:], line[0].pos)
        for line in body.lines
        if line and isinstance(line[0], _Word)
    }


def read_from_string(text: str) -> tuple[ShotFormat, list[RotoShape]]:
    """Read the Bezier shapes of every ``Roto``/``RotoPaint`` node of a Nuke script.

    Args:
        text: A ``.nk`` script or pasted fragment.

    Returns:
        The shot format (Root ``format``, ``first_frame``, ``last_frame``, ``fps``; without a Root,
        the Roto node's format, the key frame range and 24 fps) and the contours in image space
        and paint order (each layer's curvegroups read bottom to top), grouped into objects by
        name (see :func:`_objects`; a node's objects never merge with another node's),
        ``object_id`` numbered from 1 in order of first appearance. ``hole`` is ``bm 12``
        (subtract); ``feather`` is the mean length of the feather offsets (0 for ``idem``);
        ``lifetime`` is None (the span of the keys). Keys keep the file's key times; their
        slopes are ignored.

    Raises:
        ExportError: unbalanced braces, an unterminated string, malformed curves, open or
            non-Bezier shapes, no format to flip y with (the message gives line and column), or
            contours that fail :func:`~exporters.shapes_json.check_shapes`.
    """
    reader = _Reader(text)
    root_fmt: tuple[int, int, float] | None = None
    first_node_fmt: tuple[int, int, float] | None = None
    root_knobs: dict = {}
    shapes: list[RotoShape] = []
    for line in reader.parse().lines:
        if len(line) < 2 or not isinstance(line[0], _Word) or not isinstance(line[-1], _Group):
            continue
        cls, knobs = line[0].text, _knobs(line[-1])
        if cls == "Root":
            root_knobs = knobs
            if "format" in knobs:
                root_fmt = reader.format(*knobs["format"])
        elif cls in ("Roto", "RotoPaint") and "curves" in knobs:
            node_fmt = reader.format(*knobs["format"]) if "format" in knobs else root_fmt
            value, pos = knobs["curves"]
            if node_fmt is None:
                raise reader.error(pos, "no format on the Roto node or the Root to flip y with")
            first_node_fmt = first_node_fmt or node_fmt
            tree = value[0] if value else None
            while isinstance(tree, _Group) and len(tree.items) == 1:
                tree = tree.items[0]
            head = tree.items[0] if isinstance(tree, _Group) and tree.items else None
            if not isinstance(head, _Group) or head.head != "v":
                raise reader.error(pos, "curves knob must start {{{v <version>} ...")
            layers = [g for g in tree.items if isinstance(g, _Group) and g.head == "n"]
            if not layers:
                raise reader.error(pos, "curves knob has no {n ...} item tree")
            contours: list[_Contour] = []
            for n in layers:
                reader.contours(n, node_fmt[1], contours)
            shapes += _objects(contours, first_id=len({s.object_id for s in shapes}) + 1)
    shot_fmt = root_fmt or first_node_fmt
    if shot_fmt is None:
        raise ExportError("Nuke script has no Root format and no Roto node with curves")

    def knob(name: str, default: float) -> float:
        if name not in root_knobs or not root_knobs[name][0]:
            return default
        return reader.number(root_knobs[name][0][0])

    frames = [k.frame for s in shapes for k in s.keys] or [1]
    fmt = ShotFormat(
        width=shot_fmt[0],
        height=shot_fmt[1],
        pixel_aspect=shot_fmt[2],
        fps=knob("fps", 24.0),
        first_frame=int(knob("first_frame", min(frames))),
        last_frame=int(knob("last_frame", max(frames))),
    )
    check_shapes(shapes)
    return fmt, shapes
