"""OpenEXR, one multi-channel file per frame: one ``HALF`` alpha channel per object.

Format: ``docs/formats.md`` section 5.2 (multi-object variant: one single-part file with a layer per
object, channels ``<object>.A``, the safest form for Nuke and After Effects). Compression is ZIP
(16 scanlines, lossless). The display window is the full plate ``(0, 0)-(W-1, H-1)``; the data
window is cropped to the union bounding box of every object's nonzero pixels (Nuke takes it as the
bbox), a single pixel at ``(0, 0)`` when every matte is empty (EXR has no empty data window).
``pixelAspectRatio`` is the plate's; no time stamp is written, so the same mattes give the same
bytes. Windows are y-down from the top-left, like the arrays.

Single-object files with one ``A`` channel are :func:`rotoflow.mattes.write_alpha_exr`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from exporters.checks import Mattes, check_mattes
from exporters.features import Feature
from exporters.names import unique_name
from rotoflow.errors import ExportError
from rotoflow.mattes import atomic_target
from rotoflow.types import ShotFormat

NAME = "exr"
SUFFIXES = (".exr",)
FEATURES = frozenset({Feature.WRITE_MATTES})

#: Channel of each object's layer: ``<layer>.A``.
CHANNEL = "A"


def layer_names(names: Sequence[str]) -> list[str]:
    """EXR layer names for object names: unique, ``[A-Za-z][A-Za-z0-9_]*``.

    Characters other than letters, digits and ``_`` (dots and spaces included, ``docs/formats.md``
    5.2) become ``_``; a name that does not start with a letter gets the prefix ``obj_``; a clash
    gets ``_2``, ``_3``, ...

    Args:
        names: Object names, in order.

    Returns:
        One layer name per object, in the same order.
    """
    taken: set[str] = set()
    out = []
    for name in names:
        base = re.sub(r"[^A-Za-z0-9_]", "_", name.strip())
        if not re.match(r"[A-Za-z]", base):
            base = "obj_" + base
        out.append(unique_name(base, taken))
    return out


def data_window(arrays: Sequence[np.ndarray]) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)``, inclusive: the union bounding box of the arrays' nonzero pixels.

    Returns ``(0, 0, 0, 0)`` (one pixel) when every array is zero.
    """
    covered = np.logical_or.reduce([np.asarray(a) != 0 for a in arrays])
    rows, cols = np.flatnonzero(covered.any(axis=1)), np.flatnonzero(covered.any(axis=0))
    if rows.size == 0:
        return 0, 0, 0, 0
    return int(cols[0]), int(rows[0]), int(cols[-1]), int(rows[-1])


def _write(path: Path, channels: list[str], pixels: np.ndarray, window, fmt: ShotFormat) -> None:
    x0, y0, x1, y1 = window
    spec = oiio.ImageSpec(x1 - x0 + 1, y1 - y0 + 1, len(channels), "half")
    spec.x, spec.y = x0, y0
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = 0, 0, fmt.width, fmt.height
    spec.channelnames = tuple(channels)
    spec.attribute("compression", "zip")
    spec.attribute("PixelAspectRatio", float(fmt.pixel_aspect))
    spec.attribute("DateTime", "")  # OIIO would stamp the time (capDate): keep bytes reproducible
    out = oiio.ImageOutput.create("exr")
    if out is None or not out.open(str(path), spec):
        raise ExportError(f"cannot open {str(path)!r} for EXR writing: {oiio.geterror()}")
    try:
        if not out.write_image(pixels):
            raise ExportError(f"EXR write failed for {str(path)!r}: {out.geterror()}")
    finally:
        out.close()


def write_to_file(mattes: Mattes, fmt: ShotFormat, path: str | os.PathLike) -> Path:
    """Write one frame's mattes, one ``HALF`` channel ``<layer>.A`` per object, ZIP compressed.

    Channels are named from the objects (:func:`layer_names`); the data window is
    :func:`data_window` of the mattes, the display window the full plate. Half precision keeps
    steps of about 4.9e-4 near 1.0. The file is written to a temporary name beside ``path`` and
    renamed, so a failure leaves no file under the final name.

    Args:
        mattes: Object name to ``(H, W)`` float32 alpha in ``[0, 1]`` or bool mask (1 inside), a
            mapping or ``(name, array)`` pairs, in plate pixels, row 0 at the top.
        fmt: The shot's format: size and pixel aspect.
        path: Destination file (e.g. ``mattes/sh010.1001.exr``, see
            :func:`rotoflow.mattes.output_name`); its folder is created if missing.

    Returns:
        The written path.

    Raises:
        ExportError: mattes that fail :func:`check_mattes`, a bad format, or a failed write.
    """
    names, arrays = check_mattes(mattes, fmt)
    channels = [f"{layer}.{CHANNEL}" for layer in layer_names(names)]
    window = data_window(arrays)
    x0, y0, x1, y1 = window
    pixels = np.ascontiguousarray(np.stack([a[y0 : y1 + 1, x0 : x1 + 1] for a in arrays], axis=2))
    with atomic_target(path) as tmp:
        _write(tmp, channels, pixels, window, fmt)
    return Path(path)
