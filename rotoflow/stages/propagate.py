"""Propagate: a mask on every plate frame for every object, tracked from its keyframes.

From each keyframe the tracker runs forward up to the next keyframe (or the plate's last frame) and
backward down to the previous keyframe (or the first frame). Between two keyframes both directions
reach every frame; there the two masks are blended with weights falling linearly with the distance to
each keyframe and thresholded at 0.5, so each keyframe rules the frames nearer to it and a tie is the
union.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from exporters.mattes import output_name, read_mask_png, write_mask_png
from models.base import Detector, Tracker, TrackHint
from rotoflow import progress
from rotoflow.stages import detect, ingest, segment
from rotoflow.storage import ShotWorkspace, StageOutput

STAGE = "propagate"


def mask_path(out: StageOutput, object_name: str, frame: int) -> Path:
    """Path of an object's mask on a frame inside a finished propagate folder."""
    return out.dir / object_name / output_name(object_name, frame, out.details["padding"], "png")


def read_mask(out: StageOutput, object_name: str, frame: int) -> np.ndarray:
    """``(H, W) bool`` mask of an object on a plate frame."""
    return read_mask_png(mask_path(out, object_name, frame))


def _intervals(keyframes: list[int], first: int, last: int):
    """The tracking runs for sorted ``keyframes`` on a plate ``first``..``last``.

    Yields ``(direction, keyframe, frames)``: from each keyframe a forward run up to the frame
    before the next keyframe (or ``last``) and a backward run down to the frame after the previous
    keyframe (or ``first``), frames in tracking order; a run may be empty.
    """
    for i, k in enumerate(keyframes):
        nxt = keyframes[i + 1] if i + 1 < len(keyframes) else None
        prv = keyframes[i - 1] if i > 0 else None
        fwd_end = nxt - 1 if nxt is not None else last
        bwd_end = prv + 1 if prv is not None else first
        yield "forward", k, list(range(k + 1, fwd_end + 1))
        yield "backward", k, list(range(k - 1, bwd_end - 1, -1))


def run(
    ingest_out: StageOutput,
    detect_out: StageOutput,
    segment_out: StageOutput,
    ws: ShotWorkspace,
    key: str,
    tracker: Tracker,
    detector: Detector | None = None,
) -> StageOutput:
    """Track every object over the whole frame range and write 16-bit PNG masks.

    Masks are named ``<object>.<frame>.png`` with the plate's frame numbers and padding, at the
    plate's resolution. Only a few frames are held in memory at any time.
    """
    if done := ws.finished(STAGE, key):
        return done
    t0 = time.perf_counter()
    info = ingest.plate_info(ingest_out)
    objects = detect.load(detect_out)
    total = 0
    for obj in objects:
        kf = [k.frame for k in obj.keyframes]
        total += len(kf) + sum(
            len(fr) for _, _, fr in _intervals(kf, info.first_frame, info.last_frame)
        )
    done_frames = 0
    with ingest.open_proxies(ingest_out) as plate, ws.staging(STAGE, key) as tmp:
        for obj in objects:
            odir = tmp / obj.name
            scratch = tmp / f".{obj.name}.forward"
            odir.mkdir()
            scratch.mkdir()
            hint = TrackHint(detector, tuple(obj.classes)) if obj.classes and detector else None
            kf = [k.frame for k in obj.keyframes]

            def final(frame: int, name: str = obj.name, d: Path = odir) -> Path:
                return d / output_name(name, frame, info.padding, "png")

            for k in kf:
                write_mask_png(final(k), segment.read_keyframe_mask(segment_out, obj.name, k))
                done_frames += 1
            for direction, k, frames in _intervals(kf, info.first_frame, info.last_frame):
                if not frames:
                    continue
                init = segment.read_keyframe_mask(segment_out, obj.name, k)
                source = plate.iter_frames([k, *frames])
                idx = kf.index(k)
                for frame, mask in tracker.track(source, init, hint):
                    if direction == "forward":
                        between = idx + 1 < len(kf)
                        target = scratch / f"{frame}.png" if between else final(frame)
                        if between:
                            cv2.imwrite(str(target), mask.astype(np.uint8) * 255)
                        else:
                            write_mask_png(target, mask)
                    else:
                        prev_key = kf[idx - 1] if idx > 0 else None
                        if prev_key is not None:
                            fwd = (
                                cv2.imread(str(scratch / f"{frame}.png"), cv2.IMREAD_GRAYSCALE) > 0
                            )
                            w_fwd = (k - frame) / (k - prev_key)
                            blend = w_fwd * fwd + (1.0 - w_fwd) * mask
                            mask = blend >= 0.5
                        write_mask_png(final(frame), mask)
                    done_frames += 1
                    progress.report(f"propagate {obj.name}", done_frames, total)
            for f in scratch.iterdir():
                f.unlink()
            scratch.rmdir()
        return ws.commit(
            tmp,
            STAGE,
            key,
            started=t0,
            n_frames=info.n_frames,
            details={
                "tracker": f"{tracker.name}@{tracker.version}",
                "padding": info.padding,
                "objects": [o.name for o in objects],
            },
        )
