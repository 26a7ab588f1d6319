"""Segment: a mask for every keyframe of every object, from its box and clicks."""

from __future__ import annotations

import inspect
import time

import numpy as np

from exporters.mattes import read_mask_png, write_mask_png
from models.base import Segmenter
from rotoflow import progress
from rotoflow.errors import ExportError, PromptError
from rotoflow.stages import detect, ingest
from rotoflow.storage import ShotWorkspace, StageOutput

STAGE = "segment"


def keyframe_mask_path(out: StageOutput, object_name: str, frame: int):
    """Path of a keyframe mask inside a finished segment folder."""
    return out.dir / object_name / f"{frame}.png"


def read_keyframe_mask(out: StageOutput, object_name: str, frame: int) -> np.ndarray:
    """``(H, W) bool`` keyframe mask."""
    return read_mask_png(keyframe_mask_path(out, object_name, frame))


def prompt_mask(obj_name: str, key: detect.Keyframe, shape: tuple[int, int]) -> np.ndarray | None:
    """The user's mask prompt on a keyframe as ``(H, W) bool``, or None.

    Raises:
        PromptError: the file is unreadable or not at the plate's resolution.
    """
    if not key.mask:
        return None
    try:
        mask = read_mask_png(key.mask)
    except ExportError as exc:
        raise PromptError(f"object {obj_name!r}: {exc}") from exc
    if mask.shape != tuple(shape):
        raise PromptError(
            f"object {obj_name!r}: mask {key.mask} is {mask.shape[1]}x{mask.shape[0]}, the plate "
            f"is {shape[1]}x{shape[0]}"
        )
    return mask


def _segment(segmenter: Segmenter, image: np.ndarray, key: detect.Keyframe, given) -> np.ndarray:
    """Keyframe mask from the segmenter; a mask prompt goes to segmenters that take one (SAM 2)
    and is used as it is by the others."""
    if given is not None and not (key.box or key.positive or key.negative):
        if "mask" in inspect.signature(segmenter.segment).parameters:
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
    if done := ws.finished(STAGE, key):
        return done
    t0 = time.perf_counter()
    objects = detect.load(detect_out)
    total = sum(len(o.keyframes) for o in objects)
    n = 0
    with ingest.open_proxies(ingest_out) as plate, ws.staging(STAGE, key) as tmp:
        for obj in objects:
            (tmp / obj.name).mkdir()
            for k in obj.keyframes:
                image = plate.read(k.frame)
                given = prompt_mask(obj.name, k, image.shape[:2])
                mask = _segment(segmenter, image, k, given)
                if not mask.any():
                    raise PromptError(
                        f"object {obj.name!r}: the prompt on frame {k.frame} gives an empty mask; "
                        "give a tighter box or more clicks"
                    )
                write_mask_png(tmp / obj.name / f"{k.frame}.png", mask)
                n += 1
                progress.report("segment", n, total)
        return ws.commit(
            tmp,
            STAGE,
            key,
            started=t0,
            n_frames=n,
            details={"segmenter": f"{segmenter.name}@{segmenter.version}"},
        )
