"""Shapes prompts: an artist's roto shape file as mask prompts on the shape's key frames.

A :class:`rotoflow.prompts.ShapesPrompt` names a roto shape file (the reader is chosen by suffix
with :func:`exporters.from_path`: Nuke ``.nk``, Silhouette ``.fxs``, Fusion ``.setting``, Lottie
``.lottie.json``, roto-shapes ``.json``) and one object in it. Detect makes a keyframe of each of
the object's key frames inside the plate (:func:`shape_key_frames`); segment fills the object's
contours there (:func:`shape_mask`, the non-zero winding fill of
:func:`rotoflow.geometry.raster.rasterize_shapes`, image space, pixel centres) and uses that mask
as the keyframe's mask prompt.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

import exporters
from rotoflow.errors import ExportError, PromptError
from rotoflow.geometry.raster import rasterize_shapes
from rotoflow.types import PlateInfo, RotoShape

log = logging.getLogger(__name__)


def read_object(path: str, shape: str | None, plate: PlateInfo, obj_name: str) -> list[RotoShape]:
    """The contours of one object of a roto shape file, in image space of the plate.

    Args:
        path: The shape file; its suffix picks the reader.
        shape: The object's name in the file. A Nuke name shared by several Roto nodes reads
            as ``<node>.<name>`` (:func:`exporters.nuke.reader.read_shapes`); the bare name is
            accepted when one object ends with it. None: the file must hold exactly one object.
        plate: The plate; its format flips Nuke's y where the script has no format of its own.
        obj_name: The prompt's object, for messages.

    Returns:
        The object's contours (:class:`~rotoflow.types.RotoShape`, pixels, origin top-left, y
        down), at least one.

    Raises:
        PromptError: the file cannot be read or has no reader for its suffix, it holds no shape,
            ``shape`` names no object in it (the message lists the names), or ``shape`` is None
            and the file holds several objects.
    """
    where = f"object {obj_name!r}: shape file {path}"
    try:
        mod = exporters.from_path(path)
        reader = getattr(mod, "read_from_string", None)
        if reader is None:
            raise ExportError(f"Rotoflow does not read {mod.NAME} files")
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        if mod.NAME == "nuke":
            _, shapes = reader(text, plate.format)
        else:
            _, shapes = reader(text)
    except ExportError as exc:
        raise PromptError(f"{where}: {exc}") from None
    except OSError as exc:
        raise PromptError(f"{where}: cannot read it ({exc.strerror})") from None
    names = list(dict.fromkeys(s.name for s in shapes))
    if not names:
        raise PromptError(f"{where} holds no roto shape")
    if shape is None:
        if len(names) > 1:
            raise PromptError(
                f"{where} holds {len(names)} shapes; pick one with a shape name: {', '.join(names)}"
            )
        chosen = names[0]
    elif shape in names:
        chosen = shape
    else:
        ends = [n for n in names if n.endswith(f".{shape}")]
        if len(ends) != 1:
            raise PromptError(f"{where} has no shape {shape!r}; its shapes: {', '.join(names)}")
        chosen = ends[0]
    return [s for s in shapes if s.name == chosen]


def shape_key_frames(contours: list[RotoShape], plate: PlateInfo, obj_name: str) -> list[int]:
    """The plate frames on which an object's contours have keys, sorted.

    Keys outside the plate's frame range are left out (logged).

    Raises:
        PromptError: no key lies inside the plate's frame range (the message gives both).
    """
    frames = sorted({k.frame for c in contours for k in c.keys})
    inside = [f for f in frames if plate.first_frame <= f <= plate.last_frame]
    outside = [f for f in frames if f not in inside]
    if not inside:
        raise PromptError(
            f"object {obj_name!r}: the shape's key frames {_frames(frames)} are outside the "
            f"plate's frame range {plate.first_frame}-{plate.last_frame}"
        )
    if outside:
        log.warning("%s: shape keys on frames %s are outside the plate", obj_name, _frames(outside))
    return inside


def shape_mask(contours: list[RotoShape], frame: int, width: int, height: int) -> np.ndarray:
    """``(height, width) bool`` fill of an object's contours on ``frame`` (plate pixels, a pixel
    is inside when its centre is; holes subtract), see
    :func:`rotoflow.geometry.raster.rasterize_shapes`."""
    return rasterize_shapes(contours, frame, width, height)


def _frames(frames: list[int]) -> str:
    shown = ", ".join(map(str, frames[:8]))
    return shown + (f", ... ({len(frames)} keys)" if len(frames) > 8 else "")
