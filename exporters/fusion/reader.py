"""Reader of Blackmagic Fusion / DaVinci Resolve ``.setting`` files: ``PolylineMask`` contours.

The format (the Lua-table text, Fusion's centre-origin coordinates, the ``EffectMask`` chains of an
object's masks, ``PaintMode``, ``SoftEdge`` and the ``CustomData.Rotoflow`` fields the writer adds)
is described in :mod:`exporters.fusion.writer`; the names both share are in
:mod:`exporters.fusion.grammar`. :func:`read_from_string` (the adapter's, re-exported as
:func:`exporters.fusion.read_from_string`) calls :func:`read_shapes`.

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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exporters.checks import check_format, check_shapes
from exporters.fusion.grammar import LUA_KEYWORDS
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShapeKey, ShotFormat


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
            if text in LUA_KEYWORDS:
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


def read_shapes(text: str) -> tuple[ShotFormat, list[RotoShape]]:
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
        ids numbered from 1 per chain, the position in the chain and no lifetime. Each key's
        ``points`` is ``(N, 3, 2) float64`` ``[vertex, in, out]`` in pixels, origin top-left,
        y down, tangents relative to their vertex (Fusion's fractions of each axis scaled by
        the mask's size); its frame is the comp frame less the frame offset. A static
        polyline (``Value = Polyline {...}``) gives one key at the first frame.

    Raises:
        ExportError: Lua syntax outside the supported subset (with line and column), no ``Tools``
            table, a mask without ``MaskWidth``/``MaskHeight``, a missing spline, open polylines,
            ``BSplineMask`` tools, non-numeric values, a ``PaintMode`` other than ``Add``,
            ``Merge`` or ``Subtract``, an ``EffectMask`` loop or branch (one mask feeding two),
            or shapes that fail
            :func:`~exporters.checks.check_shapes`.
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


def read_from_string(text: str) -> tuple[ShotFormat, list[RotoShape]]:
    """Read the ``PolylineMask`` contours of a Fusion ``.setting`` (or ``.comp``) text.

    Args:
        text: The Lua table text, optionally preceded by ``return``.

    Returns:
        The shot format and the contours in image space, each object's contours in chain (paint)
        order, as :func:`read_shapes` describes.

    Raises:
        ExportError: a setting that cannot be read as roto shapes (the message says where and
            why).
    """
    return read_shapes(text)
