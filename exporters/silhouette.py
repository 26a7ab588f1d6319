"""Boris FX Silhouette ``.fxs`` shape files: a layer per object, an animated Bezier per contour.

Format: ``docs/formats.md`` section 2, the XML structure written by magnoborgo/NukeFXSExporter (and an
independent Tokgan JSON-to-FXS writer): ``<Silhouette>`` root with the shot size and work range, one
top-level ``<Layer>`` (``layer_name``) whose ``objects`` property holds one nested layer,
``<Object type="Layer" label="<object name>">``, per object, whose own ``objects`` property holds
one ``<Object type="Shape" shape_type="Bezier">`` per contour
(:class:`~rotoflow.types.RotoShape`, labelled by :func:`exporters.names.shape_names`), whose
``path`` property holds one ``<Key>`` per :class:`~rotoflow.types.ShapeKey`.

Host conventions, with their evidence (tags as in ``docs/formats.md``):

- **A layer per object** so that an artist sees and moves an object's contours together. A nested
  layer is an ``<Object type="Layer" label=.. expanded="True">`` with ``color``, ``invert``,
  ``mode`` and ``objects`` properties, the form NukeFXSExporter writes for a Nuke layer inside the
  root layer (``createLayers``) [writer]. Its label is the object's name, made an identifier
  unique among layers; it equals the label of the object's contour 0, a pairing Nuke-made
  files never have (Nuke names are unique) [inferred: Silhouette labels are display names].
- **Holes** get shape ``mode`` ``Subtract``, other contours ``Add`` (``docs/formats.md`` 2.2: one of
  ``Add | Subtract | Difference | Max | Inside``; NukeFXSExporter writes Nuke's ``bm`` 12 as
  ``Subtract``) [writer]. Contours are listed in paint order (outer contours, holes, islands):
  NukeFXSExporter lists a layer's shapes in the reverse of Nuke's order, and Nuke lists the shape
  rendered last first (see :mod:`exporters.nuke.writer`), so Silhouette's list runs in paint order
  [inferred]. A layer has its own ``mode`` (Add), so a hole is taken to cut only its own object's
  contours [inferred].
- **Keys** are ``interp="linear"`` [writer], matching Rotoflow's linear interpolation between
  sparse keys (:func:`rotoflow.geometry.shape_at`); only keys inside the shot are written.
- **Feather is not written**: neither writer exports it and its XML ids are unknown
  (``docs/formats.md`` 2.2, 10.2), so the shapes have a hard edge in Silhouette; the reader gives
  ``feather`` 0.
- **Lifetime**: Silhouette has no lifetime field; a shape is hidden outside its life by hold keys
  on its opacity, 0 before its first frame, 100 from it and 0 after its last
  (:func:`exporters.lifetime.opacity_keys`), in the form NukeFXSExporter writes a Nuke shape's
  keyed opacity (``<Property id="opacity">`` holding ``<Key frame=".." interp="hold">`` with
  the value as text) [writer]; Silhouette's own visibility keyframing is opacity 0/100 keys
  (katiemorrisfx/KMFX-scripts ``kmfx_keyframeVisibility.py``) [writer]. The path keeps only its keys inside the lifetime (no collapsed
  keys; Silhouette holds the first and last outside them).

Coordinates (``docs/formats.md`` 0.3): origin at the image centre, y down, 1.0 = the image *height* on
both axes, x scaled by the pixel aspect, so a point ``(x, y)`` becomes
``((x - W/2) / H * pa, (y - H/2) / H)``. Each Bezier point is written ``(vertex),(vertex + in),
(vertex + out)``: handles are absolute points in the same space. Numbers are fixed-point ``%f``
text (never exponent notation, which Silhouette may reject). Key frames are session frames:
``frame - sessionStartFrame``, with ``sessionStartFrame`` the shot's first frame.

Silhouette files carry neither the pixel aspect nor the frame rate; the writer records both in the
leading ``<!-- Silhouette Shape File ... -->`` comment (XML comments are ignored by every parser),
and the reader takes them from there, defaulting to 1 and 24 fps.

Not verified in Silhouette itself (``docs/formats.md`` 10.2): the handle order for asymmetric tangents,
the session-relative frame base, the paint order and layer isolation above, and whether a
collapsed (zero-size) key is accepted.

The reader parses the XML with the standard library (``lxml`` is a test dependency only). It reads
what the writer writes, and any nesting of layers: the shapes of a nested layer form one object
named after the layer; shapes directly in a top-level ``<Layer>`` are one object each. It reads a
shape's ``mode`` (``Subtract`` = hole) and ignores layer transforms and the other shape attributes
(colour, invert); a keyed opacity becomes the lifetime.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

import numpy as np

from exporters.checks import check_format, check_frame_range, check_shapes
from exporters.features import Feature
from exporters.lifetime import keys_within, lifetime_from_opacity, live_keys, opacity_keys
from exporters.names import by_object, sanitize_name, shape_names
from exporters.numbers import fixed
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShapeKey, ShotFormat

NAME = "silhouette"
SUFFIXES = (".fxs",)
FEATURES = frozenset({Feature.WRITE_ROTO, Feature.READ_ROTO})

_COMMENT = "Silhouette Shape File"
_META = re.compile(r"\b(pixelAspect|fps)=([-+0-9.eE]+)")
_PAIR = re.compile(r"\(\s*([^(),\s]+)\s*,\s*([^(),\s]+)\s*\)")
_POINT_TEXT = re.compile(rf"\s*{_PAIR.pattern}(\s*,\s*{_PAIR.pattern})*\s*")
_WHITE = "(1.000000,1.000000,1.000000)"


def _dec(value: float) -> str:
    """Decimal text for attributes: ``24`` for integral values, shortest repr otherwise."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _to_fxs(shape: RotoShape, fmt: ShotFormat) -> np.ndarray:
    """``(K, N, 3, 2) float64`` absolute ``[vertex, in-handle, out-handle]`` in Silhouette space."""
    pts = np.stack([np.asarray(k.points, dtype=np.float64) for k in shape.keys])
    absolute = pts.copy()
    absolute[..., 1:, :] += pts[..., :1, :]
    out = np.empty_like(absolute)
    out[..., 0] = (absolute[..., 0] - fmt.width / 2) / fmt.height * fmt.pixel_aspect
    out[..., 1] = (absolute[..., 1] - fmt.height / 2) / fmt.height
    return out


def _prop(ind: str, pid: str, value: str) -> str:
    return f'{ind}<Property constant="True" id="{pid}"><Value>{value}</Value></Property>'


def _opacity_xml(shape: RotoShape, fmt: ShotFormat, ind: str) -> list[str]:
    """The ``opacity`` property: 100, or hold keys that show the shape on its lifetime only
    (:func:`exporters.lifetime.opacity_keys`, at session frames) in the form NukeFXSExporter
    writes Nuke's keyed opacity, ``<Key frame=".." interp="hold">value</Key>``."""
    keys = opacity_keys(shape, fmt)
    if not keys:
        return [_prop(ind, "opacity", "100")]
    return [
        f'{ind}<Property id="opacity">',
        *(
            f'{ind}  <Key frame="{frame - fmt.first_frame}" interp="hold">{_dec(value)}</Key>'
            for frame, value in keys
        ),
        f"{ind}</Property>",
    ]


def _shape_xml(label: str, shape: RotoShape, fmt: ShotFormat, decimals: int, ind: str) -> list[str]:
    lines = [
        f'{ind}<Object type="Shape" label="{label}" shape_type="Bezier" hidden="False"'
        ' locked="False">',
        f"{ind}  <Properties>",
        *_opacity_xml(shape, fmt, ind + "    "),
        _prop(ind + "    ", "motionBlur", "false"),
        _prop(ind + "    ", "outlineColor", "(1.0,0.0,0.0)"),
        _prop(ind + "    ", "mode", "Subtract" if shape.hole else "Add"),
        _prop(ind + "    ", "invert", "false"),
        f'{ind}    <Property id="path">',
    ]
    pts = _to_fxs(shape, fmt)
    numbers = fixed(pts, decimals)
    point = f"{ind}          <Point>(%s,%s),(%s,%s),(%s,%s)</Point>"
    key_text = (
        f'{ind}      <Key frame="%s" interp="linear">\n'
        f'{ind}        <Path closed="True" type="Bezier">\n'
        + "\n".join([point] * pts.shape[1])
        + f"\n{ind}        </Path>\n{ind}      </Key>"
    )
    per_key = pts[0].size
    for k, key in enumerate(shape.keys):
        values = numbers[k * per_key : (k + 1) * per_key]
        lines.append(key_text % (key.frame - fmt.first_frame, *values))
    lines += [f"{ind}    </Property>", f"{ind}  </Properties>", f"{ind}</Object>"]
    return lines


def _layer_xml(label: str, body: list[str], ind: str, top: bool) -> list[str]:
    """A layer (top-level ``<Layer>`` or nested ``<Object type="Layer">``) holding ``body``."""
    tag = "Layer" if top else "Object"
    return [
        f'{ind}<{tag} type="Layer" label="{label}" expanded="True">',
        f"{ind}  <Properties>",
        _prop(ind + "    ", "color", _WHITE),
        _prop(ind + "    ", "invert", "false"),
        _prop(ind + "    ", "mode", "Add"),
        f'{ind}    <Property id="objects" constant="True" expanded="True">',
        *body,
        f"{ind}    </Property>",
        f"{ind}  </Properties>",
        f"{ind}</{tag}>",
    ]


def write_to_string(
    shapes: Sequence[RotoShape],
    fmt: ShotFormat,
    *,
    layer_name: str = "roto",
    decimals: int = 6,
) -> str:
    """Write a Silhouette ``.fxs`` shape file: a layer per object, a Bezier shape per contour.

    Args:
        shapes: Contours in image space (see :class:`rotoflow.types.ShapeKey`), in paint order;
            each object (by ``object_id``, in order of first appearance) becomes a nested layer
            labelled with its name made into an identifier unique among the layers, holding one
            ``Object`` per contour in the given order, labelled by
            :func:`exporters.names.shape_names`, holes in ``Subtract`` mode.
        fmt: The shot's format: root ``width``/``height``; ``workRangeStart``/``End`` and
            ``sessionStartFrame`` from its frame range (key frames are written relative to
            ``first_frame``); the pixel aspect scales x. Every key must lie in
            ``first_frame..last_frame``.
        layer_name: Label of the top-level layer holding the object layers, made into an
            identifier.
        decimals: Places after the decimal point, 6 to 12. The reference writers use 6 (``%f``),
            which keeps vertices within ``0.5e-6 * H`` pixels (5.4e-4 px at 1080); more places
            tighten that, but only 6 has been seen to import.

    Returns:
        The file text: a ``<!-- Silhouette Shape File ... -->`` comment line (with the pixel
        aspect and fps, which the format has no other place for) and the XML, ``\\n`` line ends,
        final newline, no XML declaration.

    Raises:
        ExportError: no shapes, shapes or format that fail
            :func:`~exporters.checks.check_shapes` or
            :func:`~exporters.checks.check_format`, a key outside the shot's frame range, or
            ``decimals`` out of range.
    """
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 6 <= decimals <= 12:
        raise ExportError(f"decimals must be an integer from 6 to 12, got {decimals!r}")
    check_format(fmt)
    if not shapes:
        raise ExportError("no shapes to export; a Silhouette shape file needs at least one")
    check_shapes(shapes)
    check_frame_range(shapes, fmt)
    labels = dict(zip(map(id, shapes), shape_names(shapes), strict=True))
    live = {id(s): live_keys(s) for s in shapes}
    layers: set[str] = set()
    root = sanitize_name(layer_name, layers, "roto")
    body = []
    for group in by_object(shapes):
        contours = []
        for shape in group:
            contours += _shape_xml(labels[id(shape)], live[id(shape)], fmt, decimals, " " * 14)
        label = sanitize_name(group[0].name, layers)
        body += _layer_xml(label, contours, " " * 8, top=False)
    lines = [
        f"<!-- {_COMMENT}: written by Rotoflow; pixelAspect={_dec(fmt.pixel_aspect)}"
        f" fps={_dec(fmt.fps)} -->",
        f'<Silhouette width="{fmt.width}" height="{fmt.height}"'
        f' workRangeStart="{fmt.first_frame}" workRangeEnd="{fmt.last_frame}"'
        f' sessionStartFrame="{fmt.first_frame}">',
        *_layer_xml(root, body, "  ", top=True),
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


def _keys(obj: ET.Element, fmt: ShotFormat, session_start: int) -> list[ShapeKey]:
    """The image-space keys of a Bezier shape ``<Object>``."""
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
    return keys


def _opacity(obj: ET.Element, session_start: int) -> list[tuple[int, float]]:
    """A shape's keyed ``opacity`` as ``(frame, value)`` in frame order; empty for a constant
    one. Keys of any interpolation are taken as holds (the form written for lifetimes)."""
    for prop in obj.findall("Properties/Property"):
        if prop.get("id") != "opacity":
            continue
        keys = []
        for key in prop.findall("Key"):
            where = f"shape {obj.get('label', '')!r} opacity key"
            frame = _int_attr(key, "frame", where) + session_start
            try:
                value = float((key.text or "").strip())
            except ValueError:
                raise ExportError(f"Silhouette file: {where} value {key.text!r}") from None
            keys.append((frame, value))
        return sorted(keys)
    return []


def _is_hole(obj: ET.Element) -> bool:
    """Whether a shape's ``mode`` property is ``Subtract``."""
    for prop in obj.findall("Properties/Property"):
        if prop.get("id") == "mode":
            return (prop.findtext("Value") or "").strip() == "Subtract"
    return False


def _objects(
    root: ET.Element, fmt: ShotFormat, session_start: int
) -> list[tuple[RotoShape, list[tuple[int, float]]]]:
    """The shapes of the file grouped into objects: one per nested layer (``<Object
    type="Layer">``), named by its label, and one per shape lying directly in a top-level layer.

    In a nested layer, a shape labelled like the layer is contour 0 and one labelled
    ``<layer>_hole<k>`` or ``<layer>_part<k>`` contour ``k``; any other shape (or a repeated
    index) gets the lowest free index. Objects are numbered from 1 in document order; each
    object's contours keep their document (paint) order. Each shape comes with its opacity keys
    (:func:`_opacity`).
    """
    parents = {child: parent for parent in root.iter() for child in parent}
    groups: dict[int, tuple[str, list[ET.Element]]] = {}
    for obj in root.iter("Object"):
        if obj.get("type") != "Shape":
            continue
        layer = parents.get(obj)
        while layer is not None and not (layer.tag == "Object" and layer.get("type") == "Layer"):
            layer = parents.get(layer)
        owner = obj if layer is None else layer
        groups.setdefault(id(owner), (owner.get("label", ""), []))[1].append(obj)
    shapes = []
    for object_id, (name, objs) in enumerate(groups.values(), 1):
        suffix = re.compile(rf"{re.escape(name)}_(?:hole|part)([1-9][0-9]*)")
        indices: list[int | None] = []
        for obj in objs:
            label = obj.get("label", "")
            m = suffix.fullmatch(label)
            index = 0 if label == name else int(m.group(1)) if m else None
            indices.append(None if index in indices else index)
        used = {i for i in indices if i is not None}
        free = (i for i in itertools.count() if i not in used)
        for obj, index in zip(objs, indices, strict=True):
            keys = _keys(obj, fmt, session_start)
            contour = next(free) if index is None else index
            shape = RotoShape(object_id, name, keys, contour, _is_hole(obj))
            shapes.append((shape, _opacity(obj, session_start)))
    return shapes


def read_from_string(text: str) -> tuple[ShotFormat, list[RotoShape]]:
    """Read the Bezier shapes of a Silhouette ``.fxs`` shape file.

    Args:
        text: The file text.

    Returns:
        The shot format (root ``width``, ``height``, ``workRangeStart``/``End``; pixel aspect and
        fps from the Rotoflow comment, else 1 and 24) and the contours in image space, in file
        (paint) order, grouped into objects as :func:`_objects` says, ``object_id`` numbered
        from 1. ``hole`` is ``mode`` ``Subtract``; ``feather`` is 0. ``lifetime`` is the frames
        on which the opacity held by its keys is above 0 (the whole shot for a constant
        opacity: Silhouette holds a path's first and last keys outside its keyed range), and
        the keys are those inside it (:func:`exporters.lifetime.keys_within`). Key frames are ``sessionStartFrame + frame`` (``sessionStartFrame``
        defaults to ``workRangeStart``, then 0).

    Raises:
        ExportError: malformed XML (with line and column), another root element, missing size
            attributes, B-spline or open paths, unreadable points, or shapes that fail
            :func:`~exporters.checks.check_shapes`.
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
    found = _objects(root, probe, session_start)
    check_shapes([s for s, _ in found])
    frames = [k.frame for s, _ in found for k in s.keys] or [session_start]
    first = work_start if "workRangeStart" in root.attrib else min(frames)
    last = _int_attr(root, "workRangeEnd", "<Silhouette>", max(frames))
    fmt = ShotFormat(width, height, probe.pixel_aspect, probe.fps, first, last)
    check_format(fmt)
    shapes = []
    for shape, opacity in found:
        try:
            life = lifetime_from_opacity(opacity, fmt)
        except ExportError as exc:
            raise ExportError(f"Silhouette shape {shape.label!r}: {exc}") from None
        shapes.append(keys_within(dataclasses.replace(shape, lifetime=life)))
    check_shapes(shapes)
    return fmt, shapes
