"""Reader of Foundry Nuke ``.nk`` scripts: the Bezier shapes of ``Roto`` and ``RotoPaint`` nodes.

The format (the ``curves`` knob grammar, Nuke space, float32 hex numbers) and the host conventions
the reader undoes (holes in subtract mode, curvegroups listed in reverse paint order, feather
offsets in the second ``cc``) are described in :mod:`exporters.nuke.writer`; the names both
share are in :mod:`exporters.nuke.grammar`. :func:`read_from_string` (the adapter's, re-exported
as :func:`exporters.nuke.read_from_string`) calls :func:`read_shapes`.

The reader is a tokenizer and parser of the ``.nk`` brace grammar. It reads what the writer writes,
the static form, run-length items ``{x N {v -}}``, constant curves, decimal literals and
explicit-slope items (whose slopes it ignores: keys are interpolated linearly). It takes ``bm 12``
as a hole and the feather curve as a linear ramp from the main curve (alpha 1) to the feather
curve (alpha 0): the path it returns runs half way between them (where the ramp is 0.5; its
handles the mean of the two curves') and the band of each point is half its mean offset length
each side (``feather`` the mean length). It groups a node's curvegroups into
objects by name: ``<stem>_hole<k>`` and ``<stem>_part<k>`` are contour ``k`` of object ``<stem>``,
any other name is contour 0 of its own object. It ignores layer and shape transforms.
"""

from __future__ import annotations

import logging
import math
import re
import struct
from dataclasses import dataclass, field

import numpy as np

from exporters.checks import check_shapes
from exporters.lifetime import keys_within
from exporters.names import by_object
from exporters.nuke.grammar import BM_SUBTRACT, CC_FLAGS, FORMAT_NAMES, LTT_FRAME_RANGE
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShapeKey, ShotFormat

logger = logging.getLogger(__name__)

_OPEN_FLAG = 32  # cc flag of an open curve
_HEX = re.compile(r"0?x([0-9a-fA-F]{8})")
_CONTOUR_NAME = re.compile(r"(.+)_(hole|part)([1-9][0-9]*)")


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
    band: np.ndarray | None
    lifetime: tuple[int, int] | None = None


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
        shape = RotoShape(
            oid, stem, c.keys, index, c.hole, feather=c.feather, lifetime=c.lifetime, band=c.band
        )
        shapes.append(keys_within(shape))
    return [s for group in by_object(shapes) for s in group]


def _merge_nodes(nodes: list[tuple[str, list[RotoShape]]]) -> list[RotoShape]:
    """The objects of several nodes in one list: ids renumbered from 1 in node order; an object
    name that more than one node holds becomes ``<node>.<name>`` in each of them, so that names
    stay unique and say which node the shape came from."""
    holders: dict[str, set[str]] = {}
    for node, shapes in nodes:
        for s in shapes:
            holders.setdefault(s.name, set()).add(node)
    out: list[RotoShape] = []
    for node, shapes in nodes:
        base = len({s.object_id for s in out})
        for s in shapes:
            s.object_id += base
            if len(holders[s.name]) > 1:
                s.name = f"{node}.{s.name}"
            out.append(s)
    return out


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
        static = isinstance(px[1], _Word)  # one key time: ``{px x41a00000 ...``
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
                # a static px has plain numbers; Nuke also writes single-key curves there
                values[e, :, axis] = self.curve(sub, k)
        # file order per point is [in, vertex, out]; ours is [vertex, in, out]
        pts = values.reshape(-1, 3, k, 2).transpose(2, 0, 1, 3)[:, :, (1, 0, 2), :].copy()
        if not flags & CC_FLAGS:  # absolute tangents
            pts[:, :, 1:, :] -= pts[:, :, :1, :]
        return times, pts

    def feather(self, cc: _Group | _Word, name: str, like: np.ndarray) -> np.ndarray | None:
        """The ``(K, N, 3, 2)`` values of a feather cc in image space (y down): each feather
        point's offset from its main vertex in the vertex slot, its own tangents in the others;
        when it has the main curve's keys and points (``like``: the main ``(K, N, 3, 2)``). None
        for ``idem``, a cc without a ``{px ...}`` list, or other keys."""
        if not isinstance(cc, _Group) or cc.head != "cc":
            return None
        if not any(isinstance(p, _Group) and p.head == "px" for p in cc.items):
            return None
        _, pts = self.cc(cc, name)
        if pts.shape != like.shape:
            return None
        return pts * (1.0, -1.0)

    def attribute(self, items: list[_Word | _Group], name: str) -> float | None:
        """The value of attribute ``name`` in a curvegroup's ``{a name value ...}`` lists (None if
        absent or not a plain number, e.g. an expression)."""
        for attrs in items:
            if not isinstance(attrs, _Group) or attrs.head != "a":
                continue
            pairs = attrs.items[1:]
            for i in range(len(pairs) - 1):
                key, value = pairs[i], pairs[i + 1]
                if isinstance(key, _Word) and key.text == name and isinstance(value, _Word):
                    return self.number(value)
        return None

    def blend_mode(self, items: list[_Word | _Group]) -> float:
        """The ``bm`` value of a curvegroup's attributes (0 if absent or not a plain number)."""
        value = self.attribute(items, "bm")
        return 0.0 if value is None else value

    def lifetime(self, items: list[_Word | _Group]) -> tuple[int, int] | None:
        """``(ltn, ltm)`` when the curvegroup's lifetime type ``ltt`` is 4 (frame range), else
        None (all frames, or a type the reader does not model)."""
        if self.attribute(items, "ltt") != LTT_FRAME_RANGE:
            return None
        first, last = self.attribute(items, "ltn"), self.attribute(items, "ltm")
        if first is None or last is None or last < first:
            return None
        return round(first), round(last)

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
                far = self.feather(curves[1], name, pts) if len(curves) > 1 else None
                feather, band = 0.0, None
                if far is not None:
                    offsets = far[..., 0, :]
                    lengths = np.linalg.norm(offsets, axis=-1)  # (K, N)
                    keyed = lengths.max(axis=1) > 1e-6  # collapsed keys have none
                    if keyed.any():
                        pts[..., 0, :] += offsets / 2  # the ramp's middle, with the mean
                        pts[..., 1:, :] = (pts[..., 1:, :] + far[..., 1:, :]) / 2  # handles
                        half = lengths[keyed].mean(axis=0) / 2
                        feather, band = float(lengths[keyed].mean()), np.stack([half, half], 1)
                keys = [ShapeKey(frame=f, points=p) for f, p in zip(frames, pts, strict=True)]
                hole = self.blend_mode(items[5:]) == BM_SUBTRACT
                out.append(_Contour(name, keys, hole, feather, band, self.lifetime(items[5:])))
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
        for (w, h, pa), fname in FORMAT_NAMES.items():
            if words == [fname]:
                return w, h, pa
        raise self.error(pos, f"cannot read format {' '.join(words)!r}")


def _knobs(body: _Group) -> dict[str, tuple[list[_Word | _Group], int]]:
    return {
        line[0].text: (line[1:], line[0].pos)
        for line in body.lines
        if line and isinstance(line[0], _Word)
    }


def read_shapes(
    text: str, plate_format: ShotFormat | None = None
) -> tuple[ShotFormat, list[RotoShape]]:
    """Read the Bezier shapes of every ``Roto``/``RotoPaint`` node of a Nuke script.

    Args:
        text: A ``.nk`` script or a fragment copied from Nuke's node graph (no Root; Roto nodes
            without a ``format`` knob, which take their input's format).
        plate_format: The plate's format, used where neither the Roto node nor the Root has a
            ``format`` (Nuke's y-up space is flipped with its height) and as the shot format of
            a script without a Root.

    Returns:
        The shot format (Root ``format``, ``first_frame``, ``last_frame``, ``fps``; without a Root,
        the Roto node's format, the key frame range and 24 fps) and the contours in image space
        and paint order (each layer's curvegroups read bottom to top), grouped into objects by
        name (see :func:`_objects`; a node's objects never merge with another node's: a name
        that several nodes use becomes ``<node>.<name>`` in each, ``<node>`` the node's ``name``
        knob, else ``Roto<i>`` by position),
        ``object_id`` numbered from 1 in order of first appearance. Each key's ``points`` is
        ``(N, 3, 2) float64`` ``[vertex, in, out]`` in pixels, origin top-left, y down, tangents
        relative to their vertex (Nuke's y up flipped with the height of the node's format, else
        the Root's). ``hole`` is ``bm 12`` (subtract); ``feather`` is the mean length of the
        feather offsets (0 for ``idem``); ``lifetime`` is ``(ltn, ltm)`` for ``ltt 4`` (frame
        range), else None (the span of the keys). Keys keep the file's key times, less those
        outside a lifetime (where Nuke draws nothing; the path on its end frames is kept,
        :func:`exporters.lifetime.keys_within`); their slopes are ignored.

    Raises:
        ExportError: unbalanced braces, an unterminated string, malformed curves, open or
            non-Bezier shapes, no format to flip y with and no ``plate_format`` (the message
            gives line and column and says the plate format is needed), or
            contours that fail :func:`~exporters.checks.check_shapes`.
    """
    reader = _Reader(text)
    root_fmt: tuple[int, int, float] | None = None
    first_node_fmt: tuple[int, int, float] | None = None
    root_knobs: dict = {}
    nodes: list[tuple[str, list[RotoShape]]] = []
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
            if node_fmt is None and plate_format is not None:
                node_fmt = (plate_format.width, plate_format.height, plate_format.pixel_aspect)
            if node_fmt is None:
                raise reader.error(
                    pos,
                    "no format on the Roto node or the Root to flip y with; give the plate format",
                )
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
            name_knob = knobs.get("name", ([], 0))[0]
            node = name_knob[0].text if name_knob and isinstance(name_knob[0], _Word) else ""
            nodes.append((node or f"Roto{len(nodes) + 1}", _objects(contours, first_id=1)))
    shapes = _merge_nodes([(n, s) for n, s in nodes if s])
    if shot_fmt := root_fmt:
        pass
    elif plate_format is not None:
        shot_fmt = (plate_format.width, plate_format.height, plate_format.pixel_aspect)
    else:
        shot_fmt = first_node_fmt
    if shot_fmt is None:
        raise ExportError("Nuke script has no Root format and no Roto node with curves")

    def knob(name: str, default: float) -> float:
        if name not in root_knobs or not root_knobs[name][0]:
            return default
        return reader.number(root_knobs[name][0][0])

    frames = [k.frame for s in shapes for k in s.keys] or [1]
    if not root_knobs and plate_format is not None:
        frames = [plate_format.first_frame, plate_format.last_frame]
    fmt = ShotFormat(
        width=shot_fmt[0],
        height=shot_fmt[1],
        pixel_aspect=shot_fmt[2],
        fps=knob("fps", plate_format.fps if plate_format is not None else 24.0),
        first_frame=int(knob("first_frame", min(frames))),
        last_frame=int(knob("last_frame", max(frames))),
    )
    check_shapes(shapes)
    return fmt, shapes


def read_from_string(
    text: str, plate_format: ShotFormat | None = None
) -> tuple[ShotFormat, list[RotoShape]]:
    """Read the Bezier shapes of every ``Roto``/``RotoPaint`` node of a Nuke script.

    Args:
        text: A ``.nk`` script or pasted fragment.
        plate_format: Fallback format for nodes without one (see :func:`read_shapes`).

    Returns:
        The shot format and the contours in image space and paint order, grouped into objects by
        name, as :func:`read_shapes` describes.

    Raises:
        ExportError: a script that cannot be read as roto shapes (the message says where and why).
    """
    return read_shapes(text, plate_format)
