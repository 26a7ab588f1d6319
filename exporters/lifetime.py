"""Lifetimes written as opacity hold keys, for hosts whose shapes have no lifetime field.

Silhouette and After Effects hide a shape outside its life by keying its opacity with hold
(stepped) keys: 0 before the first frame, 100 from it, 0 again after the last
(``docs/formats.md`` 0.1, 2.2 and 4.1). Those hosts then need no collapsed keys: the path keeps
only its keys inside the lifetime, and holds the first and last of them outside, where the
opacity is 0.

Frames here are the frames the adapter writes (host frames, :mod:`exporters.frames`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from rotoflow.errors import ExportError
from rotoflow.geometry import shape_at
from rotoflow.types import RotoShape, ShapeKey, ShotFormat

#: Opacity of a live shape, in the 0-100 units of both hosts.
OPAQUE = 100.0


def live_keys(shape: RotoShape) -> RotoShape:
    """``shape`` without its keys outside its lifetime (the collapsed keys the vectorizer puts one
    frame outside, :class:`rotoflow.types.RotoShape`); unchanged when it has no lifetime or no
    key outside it. The input is not changed.

    Raises:
        ExportError: no key lies inside the lifetime (nothing would be left to draw).
    """
    if shape.lifetime is None:
        return shape
    first, last = shape.lifetime
    keys = [k for k in shape.keys if first <= k.frame <= last]
    if not keys:
        raise ExportError(
            f"shape {shape.label!r} (object {shape.object_id}) has no key inside its lifetime "
            f"{first}-{last}"
        )
    return shape if len(keys) == len(shape.keys) else dataclasses.replace(shape, keys=keys)


def opacity_keys(shape: RotoShape, fmt: ShotFormat) -> list[tuple[int, float]]:
    """Hold keys ``(frame, opacity 0-100)`` that show ``shape`` only on its frames within the
    shot (:attr:`~rotoflow.types.RotoShape.frame_span`: its lifetime, else the span of its keys,
    where :func:`rotoflow.geometry.shape_at` draws it): ``(fmt.first_frame, 0)`` when it starts
    later, ``(first, 100)``, and ``(last + 1, 0)`` when it ends before ``fmt.last_frame``. Empty
    when it lives on the whole shot (a constant opacity of 100 says it) or has no keys.

    A hold key keeps its value until the next key, and the first key's value holds before it, so
    the opacity is 100 on exactly ``max(first, shot first)..min(last, shot last)``.
    """
    span = shape.frame_span
    if span is None:
        return []
    first = max(int(span[0]), fmt.first_frame)
    last = min(int(span[1]), fmt.last_frame)
    if first <= fmt.first_frame and last >= fmt.last_frame:
        return []
    keys = [(fmt.first_frame, 0.0)] if first > fmt.first_frame else []
    keys.append((first, OPAQUE))
    if last < fmt.last_frame:
        keys.append((last + 1, 0.0))
    return keys


def lifetime_from_opacity(keys: Sequence[tuple[int, float]], fmt: ShotFormat) -> tuple[int, int]:
    """The lifetime that hold keys ``(frame, opacity)`` in increasing frame order show within the
    shot: the first and last frames of ``fmt.first_frame..fmt.last_frame`` whose held opacity is
    above 0; the whole shot when there are no keys (a constant opacity above 0: the host holds
    the path's first and last keys outside its keyed range).

    Raises:
        ExportError: the opacity is 0 on every frame of the shot, or shows the shape on two
            separate stretches (a lifetime is one frame range).
    """
    if not keys:
        return fmt.first_frame, fmt.last_frame
    frames = []
    for frame in range(fmt.first_frame, fmt.last_frame + 1):
        held = keys[0][1]
        for key_frame, value in keys:
            if key_frame <= frame:
                held = value
        if held > 0:
            frames.append(frame)
    if not frames:
        raise ExportError("opacity keys hide the shape on every frame of the shot")
    first, last = frames[0], frames[-1]
    if len(frames) != last - first + 1:
        raise ExportError(
            f"opacity keys show the shape on separate stretches of frames {first}-{last}; "
            "a lifetime is one frame range"
        )
    return first, last


def keys_within(shape: RotoShape) -> RotoShape:
    """A shape read from a host, with ``lifetime`` set, keyed only inside its lifetime and drawn
    as the host draws it there: keys outside ``first..last`` are dropped, and where one was
    dropped on a side with no key on the lifetime's end frame, a key on that frame takes the
    path the host interpolates (or holds) there (:func:`rotoflow.geometry.shape_at`). Unchanged
    when every key is inside. The input is not changed."""
    if shape.lifetime is None:
        return shape
    first, last = shape.lifetime
    frames = [k.frame for k in shape.keys]
    if all(first <= f <= last for f in frames):
        return shape
    held = dataclasses.replace(shape, lifetime=(min(frames[0], first), max(frames[-1], last)))
    keys = [k for k in shape.keys if first <= k.frame <= last]
    if frames[0] < first and first not in frames:
        keys.insert(0, ShapeKey(first, shape_at(held, first)))
    if frames[-1] > last and last not in frames and (last != first or not keys):
        keys.append(ShapeKey(last, shape_at(held, last)))
    return dataclasses.replace(shape, keys=keys)
