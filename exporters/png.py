"""16-bit PNG, one file per object per frame: ``<object>.<frame>.png``.

Format: ``docs/formats.md`` section 5.1. Each file is single-channel 16-bit grayscale (colour type 0,
depth 16) holding ``round(alpha * 65535)``: 0 and 65535 for a bool mask, every 16-bit level for a
soft alpha. The values are data, not colour: artists read them as raw/linear (Nuke and After
Effects assume sRGB for PNG) and shuffle gray into alpha. Files are written by
:func:`rotoflow.mattes.write_mask_png` (temporary name beside the target, then a rename) and named
by :func:`rotoflow.mattes.output_name`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from exporters.checks import Mattes, check_mattes
from exporters.features import Feature
from rotoflow.errors import ExportError
from rotoflow.mattes import output_name, write_mask_png
from rotoflow.types import ShotFormat

NAME = "png"
SUFFIXES = (".png",)
FEATURES = frozenset({Feature.WRITE_MATTES})


def file_names(names: list[str], frame: int, padding: int = 4) -> list[str]:
    """Unique file names ``<object>.<frame>.png`` for one frame's objects, in order.

    Names are sanitised by :func:`rotoflow.mattes.output_name`; when two objects give the same
    file name, the later one is written as ``<object>_2``, ``<object>_3``, ...

    Raises:
        ExportError: an empty name or ``padding < 1``.
    """
    taken: set[str] = set()
    out = []
    for name in names:
        fname, n = output_name(name, frame, padding, "png"), 1
        while fname in taken:
            n += 1
            fname = output_name(f"{name}_{n}", frame, padding, "png")
        taken.add(fname)
        out.append(fname)
    return out


def write_to_file(
    mattes: Mattes,
    fmt: ShotFormat,
    folder: str | os.PathLike,
    frame: int,
    *,
    padding: int = 4,
) -> list[Path]:
    """Write one frame's mattes, one 16-bit grayscale PNG per object, into ``folder``.

    Everything is checked before the first file is written; each file is written atomically.

    Args:
        mattes: Object name to ``(H, W)`` float32 alpha in ``[0, 1]`` or bool mask, a mapping or
            ``(name, array)`` pairs, in plate pixels, row 0 at the top (see
            :func:`exporters.checks.check_mattes`).
        fmt: The shot's format: size and frame range.
        folder: Destination folder; created if missing.
        frame: Plate frame number, in ``fmt.first_frame..fmt.last_frame``.
        padding: Digits of the frame number in the file names (the plate's padding).

    Returns:
        The written paths, in the order of ``mattes`` (names from :func:`file_names`).

    Raises:
        ExportError: mattes that fail :func:`~exporters.checks.check_mattes`, a frame that is not a
            whole number in the shot's range, an empty name, ``padding < 1``, or a failed encode.
    """
    names, arrays = check_mattes(mattes, fmt)
    if isinstance(frame, bool) or not isinstance(frame, int | np.integer):
        raise ExportError(f"frame must be a whole plate frame number, got {frame!r}")
    if not fmt.first_frame <= frame <= fmt.last_frame:
        raise ExportError(
            f"frame {frame} is outside the shot's frames {fmt.first_frame}-{fmt.last_frame}"
        )
    paths = [Path(folder) / f for f in file_names(names, int(frame), padding)]
    for path, alpha in zip(paths, arrays, strict=True):
        write_mask_png(path, alpha)
    return paths
