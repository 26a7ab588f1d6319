"""Blackmagic Fusion / DaVinci Resolve ``.setting`` files: one animated ``PolylineMask`` per contour.

Format: ``docs/formats.md`` section 3, the Lua-table text that Fusion pastes from the clipboard (and that
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
(``docs/formats.md`` section 11, find_string id 70704663028) reports masks chained through
``EffectMask <- <mask>.Mask`` (n = 316) and ``PaintMode`` values ``Add, Subtract, Multiply,
Maximum, Invert`` **[doc-like]**; a public Resolve rig writes exactly
``PaintMode = Input { Value = FuID { "Subtract" }, }`` beside
``EffectMask = Input { SourceOp = "EdgeDarkOuter", Source = "Mask", }`` on a hole mask, and reports
it pasted and rendered in Resolve 21.1 (find_string id 70347969007) **[writer]**. The FuID
``"Add"`` rests on the reference's list only **[doc-like]**.

Feather: ``SoftEdge = feather / width`` (a fraction of the image width, ``docs/formats.md`` 3.2
**[real expression]**; another public writer also divides pixels by the comp width, with an extra
factor 1.18 of its own, find_string id 70126063054 **[writer]**). Fusion's soft edge is a blur of
the mask, so it straddles the shape's edge rather than falling off outwards from it
**[inferred]**; it is not compensated with ``BorderWidth``.

Coordinates (``docs/formats.md`` 0.3): offsets from the mask's centre in fractions of each axis, y up:
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

Not verified in Fusion itself (``docs/formats.md`` 10.3): the meaning of the leading number in a key
(the key index here, as the recommended reading), the FuID ``"Add"``, and the width of the ramp
that a given ``SoftEdge`` gives.

The reader (:func:`exporters.fusion.read_from_string`) is :mod:`exporters.fusion.reader`; the
names both share are in :mod:`exporters.fusion.grammar`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from exporters.checks import check_format, check_frame_range, check_shapes
from exporters.fusion.grammar import LUA_KEYWORDS
from exporters.names import by_object, sanitize_name, shape_names
from exporters.numbers import significant
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShotFormat

NAME = "fusion"
SUFFIXES = (".setting",)

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
    taken = set(LUA_KEYWORDS)
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
            :func:`~exporters.checks.check_shapes`,
            :func:`~exporters.checks.check_format` or
            :func:`~exporters.checks.check_frame_range` (a key outside the shot), or a
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
