"""Foundry Nuke ``.nk`` scripts: one ``Roto`` node with an animated Bezier shape per object.

Format: ``formats.md`` section 1 (Roto ``curves`` knob, serialisation version 1.2, as written by
Nuke 7 and later). Each object becomes a closed cubic ``curvegroup`` whose main and feather ``cc``
curves carry one key per :class:`~rotoflow.types.ShapeKey`, in Nuke space: origin at the bottom-left
corner of the format, y up, so a vertex ``(x, y)`` becomes ``(x, H - y)`` and a tangent ``(dx, dy)``
becomes ``(dx, -dy)``. Numbers are IEEE-754 float32 bits written ``x%08x`` (``0`` for zero). Key
times are plate frame numbers. A shape with one key uses the static ``{px <t> {x y} ...}`` form,
a shape with several keys the animated ``{px {t1 t2 ...} {{{x1 -} ...} {{y1 -} ...}} ...}`` form;
both are the forms seen in files written by Nuke itself.

The reader is a tokenizer and parser of the ``.nk`` brace grammar. It reads what the writer writes,
the static form, run-length items ``{x N {v -}}``, constant curves and decimal literals. It
ignores layer and shape transforms and feather curves.
"""

from __future__ import annotations

import logging
import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from exporters.names import sanitize_name
from exporters.shapes_json import check_format, check_shapes
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


def _nuke_keys(shape: RotoShape, height: int) -> np.ndarray:
    """``(K, N, 3, 2) float32`` keys in Nuke space (y up; tangents with y negated)."""
    pts = np.stack([np.asarray(k.points, dtype=np.float64) for k in shape.keys])
    out = pts.copy()
    out[..., 0, 1] = height - pts[..., 0, 1]
    out[..., 1:, 1] = -pts[..., 1:, 1]
    with np.errstate(over="ignore"):
        f32 = out.astype(np.float32)
    if not np.all(np.isfinite(f32)):
        raise ExportError(f"shape {shape.name!r} has values beyond the float32 range")
    return f32


def _px(times: list[str], keys: np.ndarray, feather: bool) -> str:
    """The ``{px ...}`` list of one cc curve; ``keys`` is ``(K, N, 3, 2)`` in Nuke space."""
    ind = "        "
    slots = (1, 0, 2)  # file order per point: in-tangent, vertex, out-tangent
    if len(times) == 1:
        rows = []
        for p in keys[0]:
            entries = []
            for s in slots:
                x, y = (0.0, 0.0) if feather and s == 0 else p[s]
                entries.append(f"{{{_hex(x)} {_hex(y)}}}")
            rows.append(ind + " ".join(entries))
        return f"{{px {times[0]}\n" + "\n".join(rows) + "}"
    rows = []
    for i in range(keys.shape[1]):
        for s in slots:
            curves = []
            for axis in (0, 1):
                values = [0.0] * len(keys) if feather and s == 0 else keys[:, i, s, axis]
                curves.append("{" + " ".join(f"{{{_hex(v)} -}}" for v in values) + "}")
            rows.append(f"{ind}{{{curves[0]} {curves[1]}}}")
    return f"{{px\n{ind}{{{' '.join(times)}}}\n" + "\n".join(rows) + "}"


def _curvegroup(name: str, shape: RotoShape, fmt: ShotFormat) -> str:
    keys = _nuke_keys(shape, fmt.height)
    times = [_hex(k.frame) for k in shape.keys]
    verts = keys[0, :, 0, :]
    cx, cy = (verts.min(axis=0) + verts.max(axis=0)) / 2
    main, feather = _px(times, keys, False), _px(times, keys, True)
    centre = f"spx {_hex(fmt.width / 2)} spy {_hex(fmt.height / 2)}"
    return (
        f"    {{curvegroup {name} {_GROUP_FLAGS} bezier\n"
        f"     {{{{cc\n       {{f {_CC_FLAGS}}}\n       {main}}}\n"
        f"      {{cc\n       {{f {_CC_FLAGS}}}\n       {feather}}}}}\n"
        f"     {{tx {times[0]} {_hex(cx)} {_hex(cy)}}}\n"
        f"     {{a osw x41200000 osf 0 str 1 {centre} sb 1 tt x40800000}}}}"
    )


def write_to_string(
    shapes: Sequence[RotoShape],
    fmt: ShotFormat,
    *,
    node_name: str = "Rotoflow",
    nuke_version: str = "13.2 v8",
) -> str:
    """Write a standalone Nuke script: a ``Root`` with the shot's format and range, one ``Roto``.

    Args:
        shapes: Shapes in image space; each becomes one curvegroup, named after ``shape.name``
            made into a unique Nuke identifier (see :func:`sanitize_name`).
        fmt: The shot's format: Root and Roto ``format``; Root ``first_frame``, ``last_frame``,
            ``fps``.
        node_name: Name of the Roto node, made into a Nuke identifier.
        nuke_version: The script's ``version`` line, ``"<major>.<minor> v<release>"``.

    Returns:
        The script text, ``\\n`` line ends, final newline.

    Raises:
        ExportError: shapes or format that fail :func:`~exporters.shapes_json.check_shapes` or
            :func:`~exporters.shapes_json.check_format`, values beyond float32, or a malformed
            ``nuke_version``.
    """
    if not re.fullmatch(r"\d+\.\d+ v\d+", nuke_version):
        raise ExportError(f"nuke_version must look like '13.2 v8', got {nuke_version!r}")
    check_format(fmt)
    check_shapes(shapes)
    taken = {"Root"}
    groups = [_curvegroup(sanitize_name(s.name, taken), s, fmt) for s in shapes]
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

    def shapes(self, group: _Group, height: float, out: list[RotoShape]) -> None:
        """Append the curvegroups under a layer (recursively) as image-space shapes."""
        for child in group.items:
            if not isinstance(child, _Group):
                continue
            if child.head == "layer":
                self.shapes(child, height, out)
            elif child.head == "curvegroup":
                items = child.items
                if len(items) < 5 or not isinstance(items[4], _Group):
                    raise self.error(child.pos, "curvegroup needs a name, flags, type and curves")
                name = items[1].text if isinstance(items[1], _Word) else ""
                kind = items[3].text if isinstance(items[3], _Word) else ""
                if kind != "bezier":
                    raise self.error(child.pos, f"shape {name!r} is {kind!r}; only bezier is read")
                main = items[4].items[0] if items[4].items else None
                if not isinstance(main, _Group) or main.head != "cc":
                    raise self.error(items[4].pos, f"shape {name!r}: expected {{cc ...}}")
                frames, pts = self.cc(main, name)
                pts[..., 0, 1] = height - pts[..., 0, 1]
                pts[..., 1:, 1] = -pts[..., 1:, 1]
                keys = [ShapeKey(frame=f, points=p) for f, p in zip(frames, pts, strict=True)]
                out.append(RotoShape(object_id=len(out) + 1, name=name, keys=keys))
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
        the Roto node's format, the key frame range and 24 fps) and the shapes in image space,
        ``object_id`` numbered from 1 in file order.

    Raises:
        ExportError: unbalanced braces, an unterminated string, malformed curves, open or
            non-Bezier shapes, or no format to flip y with; the message gives line and column.
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
            for n in layers:
                reader.shapes(n, node_fmt[1], shapes)
            if not layers:
                raise reader.error(pos, "curves knob has no {n ...} item tree")
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
