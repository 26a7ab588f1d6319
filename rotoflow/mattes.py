"""Per-frame raster outputs: binary masks as 16-bit PNG, soft alpha mattes as OpenEXR.

Formats: ``docs/formats.md`` section 5. A mask PNG is single-channel 16-bit grayscale (colour type 0,
depth 16), 0 or 65535 for a binary mask; it holds data, not colour, so artists read it as raw. An
alpha EXR holds one ``HALF`` channel named ``A``, ZIP compression, data window equal to the display
window (the full plate), and the plate's pixel aspect ratio. Arrays are ``(H, W)`` in plate pixels,
row 0 at the top. Every writer writes to a temporary name beside the target and renames it, so a
failed write never leaves a file under the final name.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import OpenImageIO as oiio

from rotoflow.errors import ExportError
from rotoflow.files import atomic_target

#: Values a float matte may stray outside ``[0, 1]`` by (float rounding) before it is refused;
#: within it they are clipped.
RANGE_TOLERANCE = 1e-4
#: A failed EXR write with less free space than this on its disk is reported as a full disk.
FULL_DISK_BYTES = 16 * 2**20


def output_name(obj_name: str, frame: int, padding: int, ext: str) -> str:
    """File name of one object's output at one frame: ``obj1.1001.png``.

    Args:
        obj_name: Object name; characters other than letters, digits, ``_`` and ``-`` become ``_``.
        frame: Plate frame number.
        padding: Digits of the frame number (the plate's padding, ``4`` for ``1001``).
        ext: Extension, with or without the leading dot (``"png"``, ``".exr"``).

    Raises:
        ExportError: ``padding < 1``, an empty name or an empty extension.
    """
    if padding < 1:
        raise ExportError(f"frame padding must be at least 1, got {padding}")
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", obj_name.strip())
    ext = ext.lstrip(".")
    if not stem or not ext:
        raise ExportError(
            f"output names need an object name and an extension: {obj_name!r}, {ext!r}"
        )
    return f"{stem}.{int(frame):0{padding}d}.{ext}"


def as_unit(values: np.ndarray, what: str) -> np.ndarray:
    """``(H, W)`` float32 in ``[0, 1]`` from a bool or real array; refuses NaN and out-of-range."""
    arr = np.asarray(values)
    if arr.ndim != 2 or arr.size == 0:
        raise ExportError(f"{what} must be a non-empty (H, W) array, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.float32)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ExportError(f"{what} must be bool or float in [0, 1], got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise ExportError(f"{what} has NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -RANGE_TOLERANCE or hi > 1 + RANGE_TOLERANCE:
        raise ExportError(f"{what} values must lie in [0, 1], got [{lo:.6g}, {hi:.6g}]")
    return np.clip(arr, 0.0, 1.0).astype(np.float32)


def _encode_png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise ExportError("PNG encoding failed")
    return buf.tobytes()


def write_mask_png(path: str | os.PathLike, mask: np.ndarray) -> None:
    """Write a mask as a single-channel 16-bit grayscale PNG.

    Args:
        path: Destination file; its folder is created if missing.
        mask: ``(H, W)`` bool (written as 0 / 65535) or float in ``[0, 1]`` (written as
            ``round(v * 65535)``).

    Raises:
        ExportError: wrong shape or dtype, NaN, values outside ``[0, 1]``, or a failed encode.
    """
    image = np.round(as_unit(mask, "mask") * 65535.0).astype(np.uint16)
    data = _encode_png(image)
    with atomic_target(path) as tmp:
        tmp.write_bytes(data)


def read_mask_png(path: str | os.PathLike) -> np.ndarray:
    """Read a mask PNG (ours, or any 8/16-bit gray, palette or colour mask such as DAVIS's).

    Args:
        path: The PNG file.

    Returns:
        ``(H, W) bool``: True where the value is above half the range (any colour channel).

    Raises:
        ExportError: the file is missing or not a readable image.
    """
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ExportError(f"cannot read mask image {str(path)!r}")
    if image.ndim == 3:
        image = image[..., :3].max(axis=2)
    return image > np.iinfo(image.dtype).max // 2


def _write_exr(path: Path, alpha: np.ndarray, pixel_aspect: float) -> None:
    h, w = alpha.shape
    spec = oiio.ImageSpec(w, h, 1, "half")
    spec.channelnames = ("A",)
    spec.alpha_channel = 0
    spec.attribute("compression", "zip")
    spec.attribute("PixelAspectRatio", float(pixel_aspect))
    spec.attribute("DateTime", "")  # no time stamp: the same alpha gives the same bytes
    out = oiio.ImageOutput.create("exr")
    if out is None or not out.open(str(path), spec):
        raise ExportError(f"cannot open {str(path)!r} for EXR writing: {oiio.geterror()}")
    try:
        written = out.write_image(alpha[:, :, np.newaxis])
        reason = "" if written else out.geterror()
    finally:
        out.close()
    del out  # no OpenImageIO object in a traceback (its bindings report it as leaked at exit)
    if not written:
        if shutil.disk_usage(path.parent).free < FULL_DISK_BYTES:  # OpenImageIO gives no errno
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        raise ExportError(f"EXR write failed for {str(path)!r}: {reason}")


def write_alpha_exr(
    path: str | os.PathLike, alpha: np.ndarray, *, pixel_aspect: float = 1.0
) -> None:
    """Write a soft alpha matte as an OpenEXR file with one ``HALF`` channel ``A``, ZIP compressed.

    Data window = display window = ``(0, 0)-(W-1, H-1)``; ``pixelAspectRatio`` = ``pixel_aspect``.

    Args:
        path: Destination file; its folder is created if missing.
        alpha: ``(H, W)`` float in ``[0, 1]`` (bool is accepted as 0/1). Half precision keeps
            steps of about 4.9e-4 near 1.0.
        pixel_aspect: The plate's pixel aspect ratio.

    Raises:
        ExportError: wrong shape or dtype, NaN, values outside ``[0, 1]``, a non-positive pixel
            aspect, or a failed write.
    """
    if not (np.isfinite(pixel_aspect) and pixel_aspect > 0):
        raise ExportError(f"pixel_aspect must be a positive number, got {pixel_aspect!r}")
    data = np.ascontiguousarray(as_unit(alpha, "alpha"))
    with atomic_target(path) as tmp:
        _write_exr(tmp, data, pixel_aspect)


def read_alpha_exr(path: str | os.PathLike) -> np.ndarray:
    """Read an alpha matte EXR (channel ``A``, or the only channel of a one-channel file).

    A data window smaller than the display window is placed inside it (zeros elsewhere).

    Args:
        path: The EXR file.

    Returns:
        ``(H, W) float32`` over the display window.

    Raises:
        ExportError: the file is missing or unreadable, or has no ``A`` channel and more than one.
    """
    inp = oiio.ImageInput.open(str(path))
    if inp is None:
        raise ExportError(f"cannot read EXR {str(path)!r}: {oiio.geterror()}")
    try:
        spec = inp.spec()
        names = list(spec.channelnames)
        if "A" in names:
            ch = names.index("A")
        elif len(names) == 1:
            ch = 0
        else:
            raise ExportError(f"{str(path)!r} has no channel 'A'; channels: {', '.join(names)}")
        pixels = inp.read_image(0, 0, ch, ch + 1, "float")
        if pixels is None:
            raise ExportError(f"cannot read pixels of {str(path)!r}: {inp.geterror()}")
    finally:
        inp.close()
    full = np.zeros((spec.full_height, spec.full_width), dtype=np.float32)
    y0, x0 = spec.y - spec.full_y, spec.x - spec.full_x
    data = np.asarray(pixels, dtype=np.float32).reshape(spec.height, spec.width)
    ys = slice(max(y0, 0), min(y0 + spec.height, spec.full_height))
    xs = slice(max(x0, 0), min(x0 + spec.width, spec.full_width))
    full[ys, xs] = data[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    return full
