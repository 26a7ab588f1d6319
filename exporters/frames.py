"""Host frame numbers: where the plate's first frame sits on the host's timeline.

A plate numbered 1001..1100 is keyed at 1001..1100 in a Nuke or Fusion comp on plate numbers (the
default), but a clip in DaVinci Resolve's Fusion page starts at frame 0, and an editorial After
Effects comp may start elsewhere. ``start_frame`` is the host frame of the plate's first frame:
a key at plate frame ``f`` is written at host frame ``f - first_frame + start_frame``, and the
shot's range, lifetimes and comp start move with it (``docs/formats.md``, "Host frame numbers").

Every adapter writes the frames of the format it is given, so :func:`to_host` shifts the shapes
and format before writing, and :func:`to_plate` shifts what a reader gives back to plate frames.
Negative host frames are written only by formats that declare :attr:`Feature.NEGATIVE_FRAMES`
(Nuke and Fusion allow frames before 0; the others count time from 0 or name files by frame).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from exporters.features import Feature
from rotoflow.errors import ExportError
from rotoflow.types import RotoShape, ShapeKey, ShotFormat


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool | np.bool_)


def shift(
    shapes: Sequence[RotoShape], fmt: ShotFormat, offset: int
) -> tuple[list[RotoShape], ShotFormat]:
    """Shapes and format with every frame number moved by ``offset`` frames: keys, lifetimes and
    the shot's ``first_frame..last_frame``. Points, names and every other field are kept; the
    inputs are not changed.

    Raises:
        ExportError: ``offset`` is not an integer.
    """
    if not _is_int(offset):
        raise ExportError(f"frame offset must be an integer, got {offset!r}")
    offset = int(offset)
    if offset == 0:
        return list(shapes), fmt
    moved = []
    for s in shapes:
        keys = [ShapeKey(frame=k.frame + offset, points=k.points) for k in s.keys]
        life = None if s.lifetime is None else (s.lifetime[0] + offset, s.lifetime[1] + offset)
        moved.append(dataclasses.replace(s, keys=keys, lifetime=life))
    out_fmt = dataclasses.replace(
        fmt, first_frame=fmt.first_frame + offset, last_frame=fmt.last_frame + offset
    )
    return moved, out_fmt


def check_start_frame(start_frame: int | None) -> None:
    """Raise :class:`~rotoflow.errors.ExportError` unless ``start_frame`` is None or an
    integer."""
    if start_frame is not None and not _is_int(start_frame):
        raise ExportError(f"start frame must be an integer, got {start_frame!r}")


def to_host(
    shapes: Sequence[RotoShape],
    fmt: ShotFormat,
    start_frame: int | None,
    name: str | None = None,
    features: frozenset[Feature] = frozenset({Feature.NEGATIVE_FRAMES}),
) -> tuple[list[RotoShape], ShotFormat]:
    """Shapes and format in host frames: the plate's first frame (``fmt.first_frame``) at host
    frame ``start_frame`` (None: the plate's own numbers, nothing moves).

    Args:
        shapes: Shapes keyed at plate frames.
        fmt: The shot's format (plate frames).
        start_frame: Host frame of the plate's first frame, or None.
        name: The format's name, for the error message.
        features: The format's ``FEATURES``; without :attr:`Feature.NEGATIVE_FRAMES` a host frame
            below 0 is refused.

    Raises:
        ExportError: ``start_frame`` is not an integer, or is negative for a format that cannot
            write negative frames.
    """
    check_start_frame(start_frame)
    if start_frame is None:
        return list(shapes), fmt
    if start_frame < 0 and Feature.NEGATIVE_FRAMES not in features:
        raise ExportError(
            f"format {name or '?'!r} cannot key negative host frames (start frame {start_frame}); "
            "only nuke, fusion and shapes_json take a negative start frame"
        )
    return shift(shapes, fmt, start_frame - fmt.first_frame)


def to_plate(
    shapes: Sequence[RotoShape], fmt: ShotFormat, first_frame: int
) -> tuple[list[RotoShape], ShotFormat]:
    """What a reader gave back from a file written in host frames, moved to plate frames: the
    file's first frame (``fmt.first_frame``, the start frame it was written with) becomes the
    plate's ``first_frame``. The inverse of :func:`to_host`.

    Raises:
        ExportError: ``first_frame`` is not an integer.
    """
    if not _is_int(first_frame):
        raise ExportError(f"plate first frame must be an integer, got {first_frame!r}")
    return shift(shapes, fmt, int(first_frame) - fmt.first_frame)
