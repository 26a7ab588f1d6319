"""Blackmagic Fusion / DaVinci Resolve ``.setting`` files: one animated ``PolylineMask`` per contour.

Format: ``formats.md`` section 3, the Lua-table text that Fusion pastes from the clipboard (and that
Silhouette writes for Fusion): ``{ Tools = ordered() { ... }, ActiveTool = "..." }``. Each
:class:`~rotoflow.types.RotoShape` (one contour of an object) becomes a ``PolylineMask`` tool named
by :func:`exporters.names.shape_names` (``dancer``, ``dancer_hole1``, ``dancer_part2``) whose
``Polyline`` input is driven by a ``BezierSpline`` modifier (``<tool>Polyline``) holding one closed
``Polyline`` per :class:`~rotoflow.types.ShapeKey`:
``KeyFrames = { [frame] = { <key index>, Flags = { Linear = true, LockedY = true },
Value = Polyline { Closed = true, Points = { { X, Y, LX, LY, RX, RY }, ... } } } }``. Only the keys
given are written (keys may be sparse); ``Flags = { Linear = true }`` makes Fusion blend them
linearly, as :func:`rotoflow.geometry.shape_at` does.

Objects with several contours: an object's masks form a chain in list (paint) order, each mask
taking the previous one through ``EffectMask = Input { SourceOp = "<previous mask>",
Source = "Mask", }`` and combining its own shape with it by ``PaintMode``: ``FuID { "Subtract" }``
for a hole, ``FuID { "Add" }`` otherwise. The last mask of a chain outputs the object's matte.
Evidence: a Fusion setting-format reference mined from 583 shipped Resolve 21.1 templates
(``formats.md`` section 11, find_string id 70704663028) reports masks chained through
``EffectMask <- <mask>.Mask`` (n = 316) and ``PaintMode`` values ``Add, Subtract, Multiply,
Maximum, Invert`` **[doc-like]**; a public Resolve rig writes exactly
``PaintMode = Input { Value = FuID { "Subtract" }, }`` beside
``EffectMask = Input { SourceOp = "EdgeDarkOuter", Source = "Mask", }`` on a hole mask, and reports
it pasted and rendered in Resolve 21.1 (find_string id 70347969007) **[writer]**. The FuID
``"Add"`` rests on the reference's list only **[doc-like]**.

Feather: ``SoftEdge = feather / width`` (a fraction of the image width, ``formats.md`` 3.2
**[real expression]**; another public writer also divides pixels by the comp width, with an extra
factor 1.18 of its own, find_string id 70126063054 **[writer]**). Fusion's soft edge is a blur of
the mask, so it straddles the shape's edge rather than falling off outwards from it
**[inferred]**; it is not compensated with ``BorderWidth``.

Coordinates (``formats.md`` 0.3): offsets from the mask's centre in fractions of each axis, y up:
a vertex ``(x, y)`` becomes ``(x/W - 0.5, 0.5 - y/H)``, a tangent ``(dx, dy)`` becomes
``(dx/W, -dy/H)``; ``LX, LY`` is the in-handle and ``RX, RY`` the out-handle, relative to the point.
Numbers are written with 15 significant digits, as Fusion writes them. Key times are comp frames:
the plate frame plus ``frame_offset`` (Resolve's Fusion page usually starts a clip at 0, so pass
``-first_frame`` there).

Each mask also carries ``CustomData = { Rotoflow = { ObjectID, Contour, [Lifetime = { first,
last },] FrameOffset, FPS, FirstFrame, LastFrame } }`` (``CustomData`` is where Fusion keeps a
tool's user data), so that the reader can give back plate frames, the object id, the contour index,
the contour's lifetime and the shot range, which the format has no other place for. Fusion has no
lifetime on a mask: the collapsed keys the vectorizer puts just outside a lifetime hide the
contour there (Fusion holds the first and last keys' shapes outside the keyed range).

Not verified in Fusion itself (``formats.md`` 10.3): the meaning of the leading number in a key
(the key index here, as the recommended reading), the FuID ``"Add"``, and the width of the ramp
that a given ``SoftEdge`` gives.

The reader is a parser of the Lua table-constructor subset that Fusion's settings use (tables,
``Class { ... }`` and ``ordered() { ... }`` constructors, numbers, strings, booleans, comments).
It reads ``PolylineMask`` tools with an animated (``SourceOp``) or a static (``Value``) polyline,
follows ``EffectMask`` links between them back into the contours of one object, reads ``hole``
from ``PaintMode`` and ``feather`` from ``SoftEdge``; it ignores other tools (an ``EffectMask``
from a tool that is not a ``PolylineMask`` starts a new object), ``Center``/``Angle``/``Size``
transforms and the soft-edge curve.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exporters.after_effects import check_frame_range
from exporters.names import by_object, sanitize_name, shape_names
from exporters.numbers import significant
from exporters.shapes_json import check_format, check_shapes
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShapeKey, ShotFormat

NAME = "fusion"
SUFFIXES = (".setting",)

_LUA_KEYWORDS = frozenset(
    [
        "and",
        "break",
        "do",
        "else",
        "elseif",
        "end",
        "false",
        "for",
        "global",
        "function",
        "goto",
        "if",
        "in",
        "local",
        "nil",
        "not",
        "or",
        "repeat",
        "return",
        "then",
        "true",
        "until",
        "while",
    ]
)
_SPLINE_SUFFIX = "Polyline"
#: ``PaintMode`` FuIDs by ``RotoShape.hole`` (see the module docstring for the evidence).
_PAINT_MODES = {False: "Add", True: "Subtract"}


def _num(value: float) -> str:
    """Lua number text: 15 significant digits (as Fusion writes), ``0`` for (signed) zero."""
    text = f"{float(value):.15g}"
    return "0" if float(text) == 0.0 else text


def _tool_names(shapes: Sequence[RotoShape]) -> list[str]:
    """Unique Lua identifiers, none a keyword, for each mask and its ``<name>Polyline`` spline:
    :func:`exporters.names.shape_names`, with a suffix where a name is a Lua keyword or clashes
    with a spline name."""
    taken = set(_LUA_KEYWORDS)
    names = []
    for base in shape_names(shapes):
        while True:
            trial = set(taken)
            name = sanitize_name(base, trial)
            if name + _SPLINE_SUFFIX not in trial:
                break
            taken.add(name)  # its spline name is taken: try the next suffix
        taken |= {name, name + _SPLINE_SUFFIX}
        names.append(name)
    return names


def _fusion_keys(shape: RotoShape, fmt: ShotFormat) -> np.ndarray:
    """``(K, N, 3, 2) float64`` keys in Fusion space (centre origin, fraction of each axis, y up)."""
    pts = np.stack([np.asarray(k.points, dtype=np.float64) for k in shape.keys])
    out = np.empty_like(pts)
    out[..., 0, 0] = (pts[..., 0, 0] - fmt.width / 2) / fmt.width
    out[..., 0, 1] = (fmt.height / 2 - pts[..., 0, 1]) / fmt.height
    out[..., 1:, 0] = pts[..., 1:, 0] / fmt.width
    out[..., 1:, 1] = -pts[..., 1:, 1] / fmt.height
    return out


@dataclass
class _Placed:
    """Where a contour's mask sits: its tool name, the mask it chains from, its node position."""

    name: str
    previous: str | None
    pos: tuple[int, int]


def _mask_tool(place: _Placed, shape: RotoShape, fmt: ShotFormat, offset: int) -> str:
    lifetime = ""
    if shape.lifetime is not None:
        lifetime = f"Lifetime = {{ {int(shape.lifetime[0])}, {int(shape.lifetime[1])} }}, "
    custom = (
        f"ObjectID = {int(shape.object_id)}, Contour = {int(shape.contour)}, {lifetime}"
        f"FrameOffset = {offset}, FPS = {_num(fmt.fps)}, "
        f"FirstFrame = {fmt.first_frame}, LastFrame = {fmt.last_frame}"
    )
    chain = []
    if place.previous is not None:
        chain = [
            f'        EffectMask = Input {{ SourceOp = "{place.previous}", Source = "Mask", }},'
        ]
    name = place.name
    return "\n".join(
        [
            f"    {name} = PolylineMask {{",
            '      DrawMode = "ModifyOnly", DrawMode2 = "InsertAndModify",',
            "      Inputs = {",
            '        OutputSize = Input { Value = FuID { "Custom" }, },',
            f"        MaskWidth = Input {{ Value = {fmt.width}, }},",
            f"        MaskHeight = Input {{ Value = {fmt.height}, }},",
            f"        PixelAspect = Input {{ Value = {{ {_num(fmt.pixel_aspect)}, 1 }}, }},",
            '        ClippingMode = Input { Value = FuID { "None" }, },',
            f"        SoftEdge = Input {{ Value = {_num(float(shape.feather) / fmt.width)}, }},",
            f'        PaintMode = Input {{ Value = FuID {{ "{_PAINT_MODES[bool(shape.hole)]}" }}, }},',
            "        Level = Input { Value = 1, },",
            "        Invert = Input { Value = 0, },",
            f'        Polyline = Input {{ SourceOp = "{name}{_SPLINE_SUFFIX}", Source = "Value", }},',
            "        Polyline2 = Input { Value = Polyline { }, Disabled = true, },",
            *chain,
            "      },",
            f"      ViewInfo = OperatorInfo {{ Pos = {{ {place.pos[0]}, {place.pos[1]} }} }},",
            f"      CustomData = {{ Rotoflow = {{ {custom} }} }},",
            "    },",
        ]
    )


def _spline_tool(name: str, shape: RotoShape, fmt: ShotFormat, offset: int) -> str:
    lines = [
        f"    {name}{_SPLINE_SUFFIX} = BezierSpline {{",
        "      SplineColor = { Red = 173, Green = 255, Blue = 47 },",
        "      NameSet = true,",
        "      KeyFrames = {",
    ]
    pts = _fusion_keys(shape, fmt)
    numbers = significant(pts, 15)
    point = "              { X = %s, Y = %s, LX = %s, LY = %s, RX = %s, RY = %s },"
    key_text = (
        "        [%s] = { %s, Flags = { Linear = true, LockedY = true }, Value = Polyline {\n"
        "            Closed = true,\n"
        "            Points = {\n" + "\n".join([point] * pts.shape[1]) + "\n            } } },"
    )
    per_key = pts[0].size
    for i, key in enumerate(shape.keys):
        values = numbers[i * per_key : (i + 1) * per_key]
        lines.append(key_text % (key.frame + offset, i, *values))
    lines += ["      }", "    },"]
    return "\n".join(lines)


def _place(shapes: Sequence[RotoShape]) -> list[_Placed]:
    """Tool names, ``EffectMask`` links and node positions, in shape order: objects side by side
    (110 units apart), each object's chain going down (50 units a mask)."""
    column = {group[0].object_id: col for col, group in enumerate(by_object(shapes))}
    last: dict[int, str] = {}  # per column: the mask that the next contour chains from
    rows: dict[int, int] = {}
    places = []
    for name, shape in zip(_tool_names(shapes), shapes, strict=True):
        col = column[shape.object_id]
        rows[col] = rows.get(col, 0) + 1
        places.append(_Placed(name, last.get(col), (110 * col, 50 * rows[col])))
        last[col] = name
    return places


def write_to_string(shapes: Sequence[RotoShape], fmt: ShotFormat, *, frame_offset: int = 0) -> str:
    """Write a Fusion ``.setting``: per contour a ``PolylineMask`` and its animated polyline spline,
    each object's masks chained through ``EffectMask`` (holes in ``Subtract`` paint mode).

    Args:
        shapes: Contours in image space (see :class:`rotoflow.types.RotoShape`), objects' contours
            in paint order. Each becomes a mask tool named by
            :func:`exporters.names.shape_names` made into a unique Lua identifier (Lua keywords and
            clashes with a spline name get a suffix), plus its spline ``<name>Polyline``; a
            contour's ``feather`` (pixels) becomes ``SoftEdge = feather / width``.
        fmt: The shot's format: ``MaskWidth``/``MaskHeight``, ``PixelAspect`` and the divisors of
            the coordinate conversion; fps and range are kept in the tools' ``CustomData``.
        frame_offset: Added to plate frames to give comp frames (keys ``[frame + frame_offset]``);
            ``-fmt.first_frame`` for a Resolve Fusion page whose clip starts at 0.

    Returns:
        The ``.setting`` text (paste into the Fusion node view), ``\\n`` line ends, final newline.
        ``ActiveTool`` is the last mask of the first object's chain (the one with its matte).

    Raises:
        ExportError: no shapes, shapes or format that fail
            :func:`~exporters.shapes_json.check_shapes`,
            :func:`~exporters.shapes_json.check_format` or
            :func:`~exporters.after_effects.check_frame_range` (a key outside the shot), or a
            non-integer ``frame_offset``.
    """
    if isinstance(frame_offset, bool) or not isinstance(frame_offset, int | np.integer):
        raise ExportError(f"frame_offset must be an integer, got {frame_offset!r}")
    check_format(fmt)
    if not shapes:
        raise ExportError("no shapes to export; a Fusion setting needs at least one mask")
    check_shapes(shapes)
    check_frame_range(shapes, fmt)
    offset = int(frame_offset)
    places = _place(shapes)
    tools = []
    for place, shape in zip(places, shapes, strict=True):
        tools.append(_mask_tool(place, shape, fmt, offset))
        tools.append(_spline_tool(place.name, shape, fmt, offset))
    active = [p.name for p in places if p.pos[0] == 0][-1]
    lines = ["{", "  Tools = ordered() {", *tools, "  },", f'  ActiveTool = "{active}",', "}"]
    return "\n".join(lines) + "\n"


# --- reader -------------------------------------------------------------------------------------


@dataclass
class _Table:
    """A Lua table constructor: ``cls`` is the constructor name (``PolylineMask``) or None."""

    pos: int
    cls: str | None = None
    items: list[Any] = field(default_factory=list)
    fields: dict[Any, Any] = field(default_factory=dict)


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<comment>--(?:\[(?P<ceq>=*)\[.*?\](?P=ceq)\]|[^\n]*))
    | (?P<long>\[(?P<leq>=*)\[.*?\](?P=leq)\])
    | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    | (?P<punct>[{}\[\]()=,;.\-])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


class _Parser:
    """Recursive-descent parser of Lua table constructors; errors carry line and column."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        i = 0
        while i < len(text):
            m = _TOKEN.match(text, i)
            if not m:
                raise self.error(i, f"unexpected character {text[i]!r}")
            kind = m.lastgroup
            if kind not in ("space", "comment"):
                self.tokens.append((kind, m.group(0), i))
            i = m.end()
        self.tokens.append(("eof", "", len(text)))
        self.i = 0

    def error(self, pos: int, msg: str) -> ExportError:
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1) + 1
        return ExportError(f"Fusion setting, line {line}, column {col}: {msg}")

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.i]

    def take(self, text: str | None = None) -> tuple[str, str, int]:
        tok = self.tokens[self.i]
        if text is not None and tok[1] != text:
            found = tok[1] or "end of text"
            raise self.error(tok[2], f"expected {text!r}, found {found!r}")
        self.i += 1
        return tok

    def string(self, raw: str, pos: int) -> str:
        if raw.startswith("["):
            body = raw[raw.index("[", 1) + 1 : raw.rindex("]", 0, -1)]
            return body[1:] if body.startswith("\n") else body
        out, i, body = [], 0, raw[1:-1]
        while i < len(body):
            c = body[i]
            if c != "\\":
                out.append(c)
                i += 1
                continue
            e = body[i + 1]
            if e in _ESCAPES:
                out.append(_ESCAPES[e])
                i += 2
            elif e.isdigit():
                digits = re.match(r"\d{1,3}", body[i + 1 :]).group(0)
                out.append(chr(int(digits)))
                i += 1 + len(digits)
            elif e == "x" and re.match(r"[0-9a-fA-F]{2}", body[i + 2 : i + 4]):
                out.append(chr(int(body[i + 2 : i + 4], 16)))
                i += 4
            elif e in "\\\"'\n":
                out.append(e)
                i += 2
            else:
                raise self.error(pos, f"unknown escape '\\{e}' in string")
        return "".join(out)

    def value(self) -> Any:
        kind, text, pos = self.take()
        if kind == "number":
            return float(int(text, 16)) if text[:2] in ("0x", "0X") else float(text)
        if text == "-":
            value = self.value()
            if isinstance(value, bool) or not isinstance(value, float):
                raise self.error(pos, "'-' must precede a number")
            return -value
        if kind in ("string", "long"):
            return self.string(text, pos)
        if text == "{":
            return self.table(pos, None)
        if kind == "name":
            if text in ("true", "false"):
                return text == "true"
            if text == "nil":
                return None
            if text in _LUA_KEYWORDS:
                raise self.error(pos, f"unexpected keyword {text!r}")
            cls = text
            while self.peek()[1] == ".":
                self.take()
                cls += "." + self.take()[1]
            while self.peek()[1] == "(":  # ordered() { ... }
                self.take()
                self.take(")")
            brace = self.take("{")
            return self.table(brace[2], cls)
        raise self.error(pos, f"expected a value, found {text or 'end of text'!r}")

    def table(self, pos: int, cls: str | None) -> _Table:
        table = _Table(pos, cls)
        while self.peek()[1] != "}":
            kind, text, _ = self.peek()
            if kind == "eof":
                raise self.error(pos, "'{' is never closed")
            if text == "[":
                self.take()
                key = self.value()
                self.take("]")
                self.take("=")
                table.fields[key] = self.value()
            elif kind == "name" and self.tokens[self.i + 1][1] == "=":
                self.i += 2
                table.fields[text] = self.value()
            else:
                table.items.append(self.value())
            if self.peek()[1] in (",", ";"):
                self.take()
            elif self.peek()[1] != "}":
                _, found, fpos = self.peek()
                raise self.error(fpos, f"expected ',' or '}}', found {found or 'end of text'!r}")
        self.take("}")
        return table

    def document(self) -> _Table:
        if self.peek()[1] == "return":
            self.take()
        root = self.value()
        if not isinstance(root, _Table):
            raise self.error(0, "a setting must be one table { Tools = ... }")
        if self.peek()[0] != "eof":
            raise self.error(self.peek()[2], f"unexpected {self.peek()[1]!r} after the table")
        return root


def _input(tool: _Table, name: str) -> _Table | None:
    inputs = tool.fields.get("Inputs")
    value = inputs.fields.get(name) if isinstance(inputs, _Table) else None
    return value if isinstance(value, _Table) else None


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, float) or not math.isfinite(value):
        raise ExportError(f"Fusion setting: {where} must be a finite number, got {value!r}")
    return value


def _polyline(poly: Any, fmt: ShotFormat, where: str) -> np.ndarray:
    """``(N, 3, 2)`` image-space points of a ``Polyline { Closed = true, Points = {...} }``."""
    if not isinstance(poly, _Table) or poly.cls != "Polyline":
        raise ExportError(f"Fusion setting: {where} is not a Polyline")
    if poly.fields.get("Closed") is not True:
        raise ExportError(f"Fusion setting: {where} is an open polyline; only closed shapes")
    points = poly.fields.get("Points")
    if not isinstance(points, _Table):
        raise ExportError(f"Fusion setting: {where} has no Points")
    out = np.zeros((len(points.items), 3, 2), dtype=np.float64)
    for i, p in enumerate(points.items):
        if not isinstance(p, _Table):
            raise ExportError(f"Fusion setting: {where} point {i + 1} is not a table")
        for slot, (kx, ky) in enumerate((("X", "Y"), ("LX", "LY"), ("RX", "RY"))):
            for axis, k in enumerate((kx, ky)):
                out[i, slot, axis] = _number(p.fields.get(k, 0.0), f"{where} point {i + 1} {k}")
    pts = np.empty_like(out)
    pts[:, 0, 0] = out[:, 0, 0] * fmt.width + fmt.width / 2
    pts[:, 0, 1] = fmt.height / 2 - out[:, 0, 1] * fmt.height
    pts[:, 1:, 0] = out[:, 1:, 0] * fmt.width
    pts[:, 1:, 1] = -out[:, 1:, 1] * fmt.height
    return pts


def _frame(value: Any, offset: int, where: str) -> int:
    t = _number(value, f"{where} key time")
    if not t.is_integer():
        raise ExportError(f"Fusion setting: {where} key time {t} is not a whole frame")
    return int(t) - offset


def _mask_format(name: str, tool: _Table) -> tuple[ShotFormat, dict[Any, Any]]:
    """A mask's size, pixel aspect and fps, and its ``CustomData.Rotoflow`` fields."""
    size = []
    for k in ("MaskWidth", "MaskHeight"):
        value = _input(tool, k)
        if value is None:
            raise ExportError(
                f"Fusion mask {name!r} has no {k}; its size would come from the comp, "
                "which a setting does not record"
            )
        size.append(int(_number(value.fields.get("Value"), f"{name} {k}")))
    aspect = _input(tool, "PixelAspect")
    pa_xy = aspect.fields.get("Value") if aspect else None
    pa = 1.0
    if isinstance(pa_xy, _Table) and len(pa_xy.items) == 2:
        x, y = (_number(v, f"{name} PixelAspect") for v in pa_xy.items)
        pa = x / y
    data = tool.fields.get("CustomData")
    data = data.fields.get("Rotoflow") if isinstance(data, _Table) else None
    data = data.fields if isinstance(data, _Table) else {}
    fmt = ShotFormat(size[0], size[1], pa, _number(data.get("FPS", 24.0), f"{name} FPS"))
    check_format(fmt)
    return fmt, data


def _mask_keys(
    name: str, tool: _Table, tools: _Table, fmt: ShotFormat, data: dict[Any, Any]
) -> list[ShapeKey]:
    """The image-space keys of a mask's animated (``SourceOp``) or static (``Value``) polyline."""
    line = _input(tool, "Polyline")
    if line is None:
        raise ExportError(f"Fusion mask {name!r} has no Polyline input")
    if "SourceOp" not in line.fields:
        first = int(_number(data.get("FirstFrame", 1.0), f"{name} FirstFrame"))
        return [ShapeKey(first, _polyline(line.fields.get("Value"), fmt, name))]
    source = line.fields["SourceOp"]
    spline = tools.fields.get(source)
    if not isinstance(spline, _Table) or not isinstance(spline.fields.get("KeyFrames"), _Table):
        raise ExportError(f"Fusion mask {name!r}: spline {source!r} with KeyFrames missing")
    offset = int(_number(data.get("FrameOffset", 0.0), f"{name} FrameOffset"))
    timed = []
    for t, key in spline.fields["KeyFrames"].fields.items():
        value = key.fields.get("Value") if isinstance(key, _Table) else None
        timed.append((_frame(t, offset, f"spline {source!r}"), value))
    return [
        ShapeKey(frame, _polyline(value, fmt, f"spline {source!r} key {frame + offset}"))
        for frame, value in sorted(timed, key=lambda fv: fv[0])
    ]


def _paint_hole(name: str, tool: _Table) -> bool:
    """Whether a mask subtracts: its ``PaintMode`` FuID (``Subtract``; ``Add``, ``Merge`` or none
    add)."""
    mode = _input(tool, "PaintMode")
    if mode is None:
        return False
    value = mode.fields.get("Value")
    fuid = value.items[0] if isinstance(value, _Table) and value.cls == "FuID" else None
    if fuid == "Subtract":
        return True
    if fuid in ("Add", "Merge"):
        return False
    raise ExportError(
        f"Fusion mask {name!r}: PaintMode {fuid if fuid is not None else value!r} cannot be read "
        "as a roto contour; use one of Add, Merge, Subtract"
    )


def _feather(name: str, tool: _Table, fmt: ShotFormat) -> float:
    """A mask's feather in pixels: ``SoftEdge`` (a fraction of the width) times the width."""
    soft = _input(tool, "SoftEdge")
    if soft is None:
        return 0.0
    value = _number(soft.fields.get("Value"), f"{name} SoftEdge")
    if value < 0:
        raise ExportError(f"Fusion mask {name!r}: SoftEdge {value} is negative")
    return value * fmt.width


def _chains(masks: dict[str, _Table]) -> dict[str, list[str]]:
    """Each object's ``EffectMask`` chain of ``PolylineMask`` tools, first mask first, keyed by
    that first mask. A mask whose ``EffectMask`` is not another ``PolylineMask`` of the setting
    starts a chain."""
    previous, following = {}, {}
    for name, tool in masks.items():
        link = _input(tool, "EffectMask")
        source = link.fields.get("SourceOp") if link is not None else None
        if source not in masks:
            continue
        if source in following:
            raise ExportError(
                f"Fusion mask {source!r} feeds the EffectMask of both {following[source]!r} and "
                f"{name!r}; an object's contours must form one chain"
            )
        previous[name], following[source] = source, name
    chains = {}
    for name in masks:
        head, seen = name, {name}
        while head in previous:
            head = previous[head]
            if head in seen:
                raise ExportError(f"Fusion mask {name!r}: its EffectMask chain loops at {head!r}")
            seen.add(head)
        if head == name:
            chain = [name]
            while chain[-1] in following:
                chain.append(following[chain[-1]])
            chains[name] = chain
    return chains


def _lifetime(name: str, data: dict[Any, Any]) -> tuple[int, int] | None:
    value = data.get("Lifetime")
    if value is None:
        return None
    if not isinstance(value, _Table) or len(value.items) != 2:
        raise ExportError(f"Fusion mask {name!r}: Lifetime must be {{ first, last }}")
    first, last = (_number(v, f"{name} Lifetime") for v in value.items)
    if not (first.is_integer() and last.is_integer() and first <= last):
        raise ExportError(f"Fusion mask {name!r}: Lifetime {{ {first}, {last} }} is not a range")
    return int(first), int(last)


def read_from_string(text: str) -> tuple[ShotFormat, list[RotoShape]]:
    """Read the ``PolylineMask`` contours of a Fusion ``.setting`` (or ``.comp``) text.

    Args:
        text: The Lua table text, optionally preceded by ``return``.

    Returns:
        The shot format and the contours in image space, in tool order, except that each
        object's contours come in chain (paint) order. Masks linked through ``EffectMask`` are
        contours of one object: each takes the name of the chain's first tool,
        ``hole`` from ``PaintMode`` (``Subtract``) and ``feather`` from ``SoftEdge`` times the
        width. Size from the first mask's ``MaskWidth``/``MaskHeight``, pixel aspect from
        ``PixelAspect``; fps, frame range, frame offset, object ids, contour indices and lifetimes
        from ``CustomData.Rotoflow`` where present, else 24 fps, the key frame range, offset 0,
        ids numbered from 1 per chain, the position in the chain and no lifetime. A static
        polyline (``Value = Polyline {...}``) gives one key at the first frame.

    Raises:
        ExportError: Lua syntax outside the supported subset (with line and column), no ``Tools``
            table, a mask without ``MaskWidth``/``MaskHeight``, a missing spline, open polylines,
            ``BSplineMask`` tools, non-numeric values, a ``PaintMode`` other than ``Add``,
            ``Merge`` or ``Subtract``, an ``EffectMask`` loop or branch (one mask feeding two),
            or shapes that fail
            :func:`~exporters.shapes_json.check_shapes`.
    """
    root = _Parser(text).document()
    tools = root.fields.get("Tools")
    if not isinstance(tools, _Table):
        raise ExportError("Fusion setting has no Tools table")
    masks: dict[str, _Table] = {}
    for name, tool in tools.fields.items():
        if isinstance(tool, _Table) and tool.cls == "BSplineMask":
            raise ExportError(f"Fusion tool {name!r} is a BSplineMask; only PolylineMask is read")
        if isinstance(tool, _Table) and tool.cls == "PolylineMask":
            masks[str(name)] = tool
    if not masks:
        raise ExportError("Fusion setting has no PolylineMask tools")
    chains = _chains(masks)
    head_of = {name: head for head, chain in chains.items() for name in chain}
    ids = {head: i for i, head in enumerate(chains, 1)}
    # the k-th tool of an object in file order reads the k-th mask of its chain: tool order is
    # kept across objects, paint (chain) order within each
    order, read = [], dict.fromkeys(chains, 0)
    for name in masks:
        head = head_of[name]
        order.append(chains[head][read[head]])
        read[head] += 1
    shapes: list[RotoShape] = []
    formats: list[tuple[ShotFormat, dict[Any, Any]]] = []
    for name in order:
        tool, head = masks[name], head_of[name]
        fmt, data = _mask_format(name, tool)
        shapes.append(
            RotoShape(
                object_id=int(_number(data.get("ObjectID", float(ids[head])), f"{name} ObjectID")),
                name=head,
                keys=_mask_keys(name, tool, tools, fmt, data),
                contour=int(
                    _number(data.get("Contour", float(chains[head].index(name))), f"{name} Contour")
                ),
                hole=_paint_hole(name, tool),
                feather=_feather(name, tool, fmt),
                lifetime=_lifetime(name, data),
            )
        )
        formats.append((fmt, data))
    check_shapes(shapes)
    fmt, data = formats[0]
    frames = [k.frame for s in shapes for k in s.keys]
    first = int(_number(data.get("FirstFrame", float(min(frames))), "FirstFrame"))
    last = int(_number(data.get("LastFrame", float(max(frames))), "LastFrame"))
    fmt = ShotFormat(fmt.width, fmt.height, fmt.pixel_aspect, fmt.fps, first, last)
    check_format(fmt)
    return fmt, shapes
