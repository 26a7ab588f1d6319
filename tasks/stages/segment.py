"""Segment: a mask for every keyframe of every object, from its box, clicks, mask or shape."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from models.base import Segmenter
from rotoflow import progress
from rotoflow.errors import PlateError, PromptError
from rotoflow.mattes import read_mask_png, write_mask_png
from rotoflow.sequence import read_channels
from rotoflow.types import PlateInfo
from rotoflow.workspace import ShotWorkspace, StageOutput
from tasks import shape_prompts
from tasks.stages import detect, ingest

STAGE = "segment"


def keyframe_mask_path(out: StageOutput, object_name: str, frame: int):
    """Path of a keyframe mask inside a finished segment folder."""
    return out.dir / object_name / f"{frame}.png"


def read_keyframe_mask(out: StageOutput, object_name: str, frame: int) -> np.ndarray:
    """``(H, W) bool`` keyframe mask."""
    return read_mask_png(keyframe_mask_path(out, object_name, frame))


def read_prompt_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a mask given as a prompt: any image OpenImageIO reads, nonzero = object.

    8- and 16-bit PNG or TIFF (whatever the object's value: 1, 100, 255 or 65535), grey, RGB or
    RGBA, and float EXR. A pixel is the object where its value is above 0 (NaN is not): in the
    alpha channel when the file has one that varies (a matte in alpha, as compositing packages
    write it; an alpha that is the same everywhere, as in an opaque RGBA PNG, carries no mask),
    otherwise in any channel. The full (display) window is returned, 0 outside the data window.

    Args:
        path: The image file.

    Returns:
        ``(H, W) bool`` over the full window.

    Raises:
        PlateError: the file is missing or not a readable image (names the file).
    """
    pixels, header = read_channels(Path(path))
    alpha = header.alpha
    if alpha < 0 and "A" in header.channels:
        alpha = header.channels.index("A")
    if alpha >= 0 and len(header.channels) > 1:
        matte = pixels[..., alpha]
        if matte.min() != matte.max():
            return matte > 0
        pixels = np.delete(pixels, alpha, axis=2)
    return (pixels > 0).any(axis=2)


def prompt_mask(
    obj_name: str, key: detect.Keyframe, shape: tuple[int, int], plate: PlateInfo | None = None
) -> np.ndarray | None:
    """The user's mask prompt on a keyframe as ``(H, W) bool`` (see :func:`read_prompt_mask`), or
    the fill of its shapes prompt's shape there (:mod:`tasks.shape_prompts`; needs ``plate``), or
    None.

    Raises:
        PromptError: the file is unreadable, empty (no pixel above 0) or not at the plate's
            resolution; the shape is unreadable or fills no pixel on the key frame.
    """
    if not key.mask and key.shape_file and plate is not None:
        contours = shape_prompts.read_object(key.shape_file, key.shape_name, plate, obj_name)
        mask = shape_prompts.shape_mask(contours, key.frame, shape[1], shape[0])
        if not mask.any():
            raise PromptError(
                f"object {obj_name!r}: shape {key.shape_name!r} of {key.shape_file} fills no "
                f"pixel of the plate on frame {key.frame}"
            )
        return mask
    if not key.mask:
        return None
    try:
        mask = read_prompt_mask(key.mask)
    except PlateError as exc:
        raise PromptError(f"object {obj_name!r}: mask {exc}") from None
    if mask.shape != tuple(shape):
        raise PromptError(
            f"object {obj_name!r}: mask {key.mask} is {mask.shape[1]}x{mask.shape[0]}, the plate "
            f"is {shape[1]}x{shape[0]}"
        )
    if not mask.any():
        raise PromptError(
            f"object {obj_name!r}: mask {key.mask} is empty (no pixel above 0 on frame {key.frame})"
        )
    return mask


def _segment(segmenter: Segmenter, image: np.ndarray, key: detect.Keyframe, given) -> np.ndarray:
    """Keyframe mask from the segmenter; a mask prompt goes to segmenters that take one (SAM 2)
    and is used as it is by the others."""
    if given is not None and not (key.box or key.positive or key.negative):
        if segmenter.takes_mask:
            return segmenter.segment(image, mask=given)
        return given
    return segmenter.segment(
        image,
        box=tuple(key.box) if key.box else None,
        positive=np.asarray(key.positive, float).reshape(-1, 2) if key.positive else None,
        negative=np.asarray(key.negative, float).reshape(-1, 2) if key.negative else None,
    )


def run(
    ingest_out: StageOutput,
    detect_out: StageOutput,
    ws: ShotWorkspace,
    key: str,
    segmenter: Segmenter,
) -> StageOutput:
    """Segment every keyframe.

    Raises:
        PromptError: a prompt gives an empty mask (the box or clicks hold no object).
    """
    run = ws.begin(STAGE, key)
    if run.done:
        return run.done
    objects = detect.load(detect_out)
    info = ingest.plate_info(ingest_out)
    total = sum(len(o.keyframes) for o in objects)
    n = 0
    with ingest.open_proxies(ingest_out) as plate, run.staging() as tmp:
        for obj in objects:
            (tmp / obj.name).mkdir()
            for k in obj.keyframes:
                image = plate.read(k.frame)
                given = prompt_mask(obj.name, k, image.shape[:2], info)
                mask = _segment(segmenter, image, k, given)
                if not mask.any():
                    raise PromptError(
                        f"object {obj.name!r}: the prompt on frame {k.frame} gives an empty mask; "
                        "give a tighter box or more clicks"
                    )
                write_mask_png(tmp / obj.name / f"{k.frame}.png", mask)
                n += 1
                progress.report("segment", n, total)
        return run.commit(
            tmp,
            n_frames=n,
            details={"segmenter": f"{segmenter.name}@{segmenter.version}"},
        )
