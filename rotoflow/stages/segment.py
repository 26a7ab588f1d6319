"""Segment: a mask for every keyframe of every object, from its box and clicks."""

from __future__ import annotations

import time

import numpy as np

from exporters.mattes import read_mask_png, write_mask_png
from models.base import Segmenter
from rotoflow import progress
from rotoflow.errors import PromptError
from rotoflow.stages import detect, ingest
from rotoflow.storage import ShotWorkspace, StageOutput

STAGE = "segment"


def keyframe_mask_path(out: StageOutput, object_name: str, frame: int):
    """Path of a keyframe mask inside a finished segment folder."""
    return out.dir / object_name / f"{frame}.png"


def read_keyframe_mask(out: StageOutput, object_name: str, frame: int) -> np.ndarray:
    """``(H, W) bool`` keyframe mask."""
    return read_mask_png(keyframe_mask_path(out, object_name, frame))


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
                mask = segmenter.segment(
                    plate.read(k.frame),
                    box=tuple(k.box) if k.box else None,
                    positive=np.asarray(k.positive, float).reshape(-1, 2) if k.positive else None,
                    negative=np.asarray(k.negative, float).reshape(-1, 2) if k.negative else None,
                )
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
