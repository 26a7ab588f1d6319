"""Boris FX Silhouette ``.fxs`` shape files: one layer holding an animated Bezier shape per object.

Format: ``formats.md`` section 2, the XML structure written by magnoborgo/NukeFXSExporter (and an
independent Tokgan JSON-to-FXS writer): ``<Silhouette>`` root with the shot size and work range, one
``<Layer>`` whose ``objects`` property holds one ``<Object type="Shape" shape_type="Bezier">`` per
:class:`~rotoflow.types.RotoShape`, whose ``path`` property holds one ``<Key>`` per
:class:`~rotoflow.types.ShapeKey`.

Coordinates (``formats.md`` 0.3): origin at the image centre, y down, 1.0 = the image *height* on
both axes, x scaled by the pixel aspect, so a point ``(x, y)`` becomes
``((x - W/2) / H * pa, (y - H/2) / H)``. Each Bezier point is written ``(vertex),(vertex + in),
(vertex + out)``: handles are absolute points in the same space. Numbers are fixed-point ``%f``
text (never exponent notation, which Silhouette may reject). Key frames are session frames:
``frame - sessionStartFrame``, with ``sessionStartFrame`` the shot's first frame.

Silhouette files carry neither the pixel aspect nor the frame rate; the writer records both in the
leading ``<!-- Silhouette Shape File ... -->`` comment (XML comments are ignored by every parser),
and the reader takes them from there, defaulting to 1 and 24 fps.

Not verified in Silhouette itself (``formats.md`` 10.2): the handle order for asymmetric tangents
and the session-relative frame base. Feather is not written (its XML ids are unknown).

The reader parses the XML with the standard library (``lxml`` is a test dependency only). It reads
what the writer writes, and any nesting of layers; it ignores layer transforms and shape
attributes (opacity, mode, colour).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import numpy as np

from exporters.names import sanitize_name
from exporters.shapes_json import check_format, check_shapes
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShapeKey, ShotFormat

NAME = "silhouette"
SUFFIXES = (".fxs",)

_COMMENT = "Silhouette Shape File"
_META = re.compile(r"\b(pixelAspect|fps)=([-+0-9.eE]+)")
_PAIR = re.compile(r"\(\s*([^(),\s]+)\s*,\s*([^(),\s]+)\s*\)")
_POINT_TEXT = re.compile(rf"\s*{_PAIR.pattern}(\s*,\s*{_PAIR.pattern})*\s*")


def _dec(value: float) -> str:
    """Decimal text for attributes: ``24`` for integral values, shortest repr otherwise."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _num(value: float, decimals: int) -> str:
    """Fixed-point text with ``decimals`` places; a rounded negative zero is written ``0.000...``."""
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text


def _to_fxs(shape: RotoShape, fmt: ShotFormat) -> np.ndarray:
    """``(K, N, 3, 2) float64`` absolute ``[vertex, in-handle, out-handle]`` in Silhouette space."""
    pts = np.stack([np.asarray(k.points, dtype=np.float64) for k in shape.keys])
    absolute = pts.copy()
    absolute[..., 1:, :] += pts[..., :1, :]
    out = np.empty_like(absolute)
    out[..., 0] = (absolute[..., 0] - fmt.width / 2) / fmt.height * fmt.pixel_aspect
    out[..., 1] = (absolute[..., 1] - fmt.height / 2) / fmt.height
    return out


def _shape_xml(label: str, shape: RotoShape, fmt: ShotFormat, decimals: int) -> list[str]:
    ind = " " * 8
    lines = [
        f'{ind}<Object type="Shape" label="{label}" shape_type="Bezier" hidden="False"'
        ' locked="False">',
        f"{ind}  <Properties>",
        f'{ind}    <Property constant="True" id="opacity"><Value>100</Value></Property>',
        f'{ind}    <Property constant="True" id="motionBlur"><Value>false</Value></Property>',
        f'{ind}    <Property constant="True" id="outlineColor"><Value>(1.0,0.0,0.0)</Value>'
        "</Property>",
        f'{ind}    <Property constant="True" id="mode"><Value>Add</Value></Property>',
        f'{ind}    <Property constant="True" id="invert"><Value>false</Value></Property>',
        f'{ind}    <Property id="path">',
    ]
    for key, pts in zip(shape.keys, _to_fxs(shape, fmt), strict=True):
        lines.append(f'{ind}      <Key frame="{key.frame - fmt.first_frame}" interp="linear">')
        lines.append(f'{ind}        <Path closed="True" type="Bezier">')
        for p in pts:
            text = ",".join(f"({_num(x, decimals)},{_num(y, decimals)})" for x, y in p)
            lines.append(f"{ind}          <Point>{text}</Point>")
        lines += [f"{ind}        </Path>", f"{ind}      </Key>"]
    lines += [f"{ind}    </Property>", f"{ind}  </Properties>", f"{ind}</Object>"]
    return lines


def write_to_string(
    shapes: Sequence[RotoShape],
    fmt: ShotFormat,
    *,
    layer_name: str = "roto",
    decimals: int = 6,
) -> str:
    """Write a Silhouette ``.fxs`` shape file: one layer, one animated Bezier shape per object.

    Args:
        shapes: Shapes in image space (see :class:`rotoflow.types.ShapeKey`); each becomes one
            ``Object``, labelled with ``shape.name`` made into a unique identifier (see
            :func:`exporters.names.sanitize_name`).
        fmt: The shot's format: root ``width``/``height``; ``workRangeStart``/``End`` and
            ``sessionStartFrame`` from its frame range (key frames are written relative to
            ``first_frame``); the pixel aspect scales x.
        layer_name: Label of the layer holding the shapes, made into an identifier.
        decimals: Places after the decimal point, 6 to 12. The reference writers use 6 (``%f``),
            which keeps vertices within ``0.5e-6 * H`` pixels (5.4e-4 px at 1080); more places
            tighten that, but only 6 has been seen to import.

    Returns:
        The file text: a ``<!-- Silhouette Shape File ... -->`` comment line (with the pixel
        aspect and fps, which the format has no other place for) and the XML, ``\\n`` line ends,
        final newline, no XML declaration.

    Raises:
        ExportError: no shapes, shapes or format that fail
            :func:`~exporters.shapes_json.check_shapes` or
            :func:`~exporters.shapes_json.check_format`, or ``decimals`` out of range.
    """
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 6 <= decimals <= 12:
        raise ExportError(f"decimals must be an integer from 6 to 12, got {decimals!r}")
    check_format(fmt)
    if not shapes:
        raise ExportError("no shapes to export; a Silhouette shape file needs at least one")
    check_shapes(shapes)
    taken: set[str] = set()
    layer = sanitize_name(layer_name, taken, "roto")
    objects = []
    for shape in shapes:
        objects += _shape_xml(sanitize_name(shape.name, taken), shape, fmt, decimals)
    lines = [
        f"<!-- {_COMMENT}: written by Rotoflow; pixelAspect={_dec(fmt.pixel_aspect)}"
        f" fps={_dec(fmt.fps)} -->",
        f'<Silhouette width="{fmt.width}" height="{fmt.height}"'
        f' workRangeStart="{fmt.first_frame}" workRangeEnd="{fmt.last_frame}"'
        f' sessionStartFrame="{fmt.first_frame}">',
        f'  <Layer type="Layer" label="{layer}" expanded="True">',
        "    <Properties>",
        '      <Property constant="True" id="color"><Value>(1.000000,1.000000,1.000000)</Value>'
        "</Property>",
        '      <Property constant="True" id="invert"><Value>false</Value></Property>',
        '      <Property constant="True" id="mode"><Value>Add</Value></Property>',
        '      <Property id="objects" constant="True" expanded="True">',
        *objects,
        "      </Property>",
        "    </Properties>",
        "  </Layer>",
        "</Silhouette>",
    ]
    return "\n".join(lines) + "\n"


# --- reader -------------------------------------------------------------------------------------


def _int_attr(elem: ET.Element, name: str, where: str, default: int | None = None) -> int:
    raw = elem.get(name)
    if raw is None:
        if default is None:
            raise ExportError(f"Silhouette file: {where} lacks the {name!r} attribute")
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not value.is_integer():
        raise ExportError(f"Silhouette file: {where} {name}={raw!r} is not a whole number")
    return int(value)


def _meta(text: str) -> dict[str, float]:
    """``pixelAspect``/``fps`` from the comments before the root element."""
    head = text[: max(text.find("<Silhouette"), 0)]
    meta = {}
    for comment in re.findall(r"<!--(.*?)-->", head, flags=re.S):
        for name, raw in _META.findall(comment):
            try:
                value = float(raw)
            except ValueError:
                continue
            if math.isfinite(value) and value > 0:
                meta[name] = value
    return meta


def _point(text: str | None, where: str) -> list[tuple[float, float]]:
    """The three ``(x,y)`` pairs of a Bezier ``<Point>`` text."""
    text = text or ""
    if not _POINT_TEXT.fullmatch(text):
        raise ExportError(f"Silhouette file: {where}: cannot read point {text.strip()!r}")
    pairs = []
    for raw_x, raw_y in _PAIR.findall(text):
        try:
            x, y = float(raw_x), float(raw_y)
        except ValueError:
            raise ExportError(
                f"Silhouette file: {where}: non-numeric point ({raw_x},{raw_y})"
            ) from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ExportError(f"Silhouette file: {where}: non-finite point ({raw_x},{raw_y})")
        pairs.append((x, y))
    if len(pairs) != 3:
        raise ExportError(
            f"Silhouette file: {where}: a Bezier point needs (vertex),(handle),(handle); "
            f"got {len(pairs)} pair(s)"
        )
    return pairs


def _shape(obj: ET.Element, fmt: ShotFormat, session_start: int, object_id: int) -> RotoShape:
    label = obj.get("label", "")
    kind = obj.get("shape_type", "Bezier")
    if kind != "Bezier":
        raise ExportError(f"Silhouette shape {label!r} is {kind!r}; only Bezier shapes are read")
    path = next(
        (p for p in obj.findall("Properties/Property") if p.get("id") == "path"),
        None,
    )
    if path is None:
        raise ExportError(f"Silhouette shape {label!r} has no path property")
    keys = []
    for key in path.findall("Key"):
        where = f"shape {label!r} key frame={key.get('frame')!r}"
        frame = _int_attr(key, "frame", f"shape {label!r} key") + session_start
        paths = key.findall("Path")
        if len(paths) != 1:
            raise ExportError(f"Silhouette file: {where} needs one <Path>, has {len(paths)}")
        if paths[0].get("type", kind) != "Bezier":
            raise ExportError(f"Silhouette file: {where} path is {paths[0].get('type')!r}")
        if paths[0].get("closed", "True") != "True":
            raise ExportError(f"Silhouette shape {label!r} is an open path; only closed shapes")
        raw = np.array(
            [_point(p.text, where) for p in paths[0].findall("Point")], dtype=np.float64
        ).reshape(-1, 3, 2)
        pts = np.empty_like(raw)
        pts[..., 0] = raw[..., 0] / fmt.pixel_aspect * fmt.height + fmt.width / 2
        pts[..., 1] = raw[..., 1] * fmt.height + fmt.height / 2
        pts[:, 1:, :] -= pts[:, :1, :]
        keys.append(ShapeKey(frame=frame, points=pts))
    if not keys:
        raise ExportError(f"Silhouette shape {label!r} has no path keys")
    return RotoShape(object_id=object_id, name=label, keys=keys)


def read_from_string(text: str) -> tuple[ShotFormat, list[RotoShape]]:
    """Read the Bezier shapes of a Silhouette ``.fxs`` shape file.

    Args:
        text: The file text.

    Returns:
        The shot format (root ``width``, ``height``, ``workRangeStart``/``End``; pixel aspect and
        fps from the Rotoflow comment, else 1 and 24) and the shapes in image space, in file order,
        named by their labels, ``object_id`` numbered from 1. Key frames are
        ``sessionStartFrame + frame`` (``sessionStartFrame`` defaults to ``workRangeStart``, then
        0).

    Raises:
        ExportError: malformed XML (with line and column), another root element, missing size
            attributes, B-spline or open paths, unreadable points, or shapes that fail
            :func:`~exporters.shapes_json.check_shapes`.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line, col = exc.position
        reason = str(exc).split(":", 1)[0]
        raise ExportError(
            f"Silhouette file is not well-formed XML ({reason}): line {line}, column {col + 1}"
        ) from exc
    if root.tag != "Silhouette":
        raise ExportError(f"not a Silhouette shape file: root element is <{root.tag}>")
    meta = _meta(text)
    width = _int_attr(root, "width", "<Silhouette>")
    height = _int_attr(root, "height", "<Silhouette>")
    work_start = _int_attr(root, "workRangeStart", "<Silhouette>", 0)
    session_start = _int_attr(root, "sessionStartFrame", "<Silhouette>", work_start)
    probe = ShotFormat(width, height, meta.get("pixelAspect", 1.0), meta.get("fps", 24.0))
    check_format(probe)
    shapes = [
        _shape(obj, probe, session_start, i)
        for i, obj in enumerate((o for o in root.iter("Object") if o.get("type") == "Shape"), 1)
    ]
    check_shapes(shapes)
    frames = [k.frame for s in shapes for k in s.keys] or [session_start]
    first = work_start if "workRangeStart" in root.attrib else min(frames)
    last = _int_attr(root, "workRangeEnd", "<Silhouette>", max(frames))
    fmt = ShotFormat(width, height, probe.pixel_aspect, probe.fps, first, last)
    check_format(fmt)
    return fmt, shapes
