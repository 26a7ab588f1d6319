"""Propagate: a mask on every plate frame for every object, tracked from its keyframes.

An object's frame range is cut at its keyframes into **runs**: backward from the first keyframe to
the plate's first frame, from each keyframe to the next, and forward from the last keyframe to the
plate's last frame. A run depends only on the keyframes at its ends, so a correction (a prompt added
on a later frame) re-propagates only the runs it splits, and the others are reused from the shot's
earlier propagate folders.

The tracker's declared ``mode`` says which of two ways a run is tracked:

- A :class:`~models.base.VideoTracker` (mode ``"video"``, SAM 2) tracks a run in one session with
  its end keyframes as conditioning frames: forward from the earlier one, or backward for the run
  before the first keyframe. Objects with the same keyframe frames share the session (and the image
  encoder's work). Runs are checkpointed every few frames, so a crashed stage resumes where it
  stopped.
- A :class:`~models.base.FrameTracker` (mode ``"frames"``, the lite optical-flow tracker) runs
  forward from the earlier keyframe and backward from the later one; their masks are blended with
  weights falling linearly with the distance to each keyframe and thresholded at 0.5.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.base import (
    Detector,
    FrameTracker,
    KeyPrompt,
    Tracker,
    TrackHint,
    VideoTracker,
    make_prompt,
)
from rotoflow import progress
from rotoflow.mattes import output_name, read_mask_png, write_mask_png
from rotoflow.types import ObjectRef
from rotoflow.workspace import ShotWorkspace, StageOutput, fingerprint, sha256_file
from tasks.stages import detect, ingest, segment

STAGE = "propagate"
RUNS = "runs.json"


def mask_path(out: StageOutput, object_name: str, frame: int) -> Path:
    """Path of an object's mask on a frame inside a finished propagate folder."""
    return out.dir / object_name / output_name(object_name, frame, out.details["padding"], "png")


def read_mask(out: StageOutput, object_name: str, frame: int) -> np.ndarray:
    """``(H, W) bool`` mask of an object on a plate frame."""
    return read_mask_png(mask_path(out, object_name, frame))


@dataclass(frozen=True)
class Run:
    """Frames ``start..end`` (inclusive, plate numbers) tracked from the keyframes ``keys`` at their
    ends; ``reverse`` for the run before the first keyframe."""

    start: int
    end: int
    keys: tuple[int, ...]
    reverse: bool

    @property
    def frames(self) -> list[int]:
        return list(range(self.start, self.end + 1))

    @property
    def id(self) -> str:
        return f"{self.start}-{self.end}{'r' if self.reverse else 'f'}"


def runs(keyframes: Iterable[int], first: int, last: int) -> list[Run]:
    """The runs of an object with ``keyframes`` on a plate ``first..last``; every frame is in at
    least one run and each keyframe ends or starts one."""
    ks = sorted(set(keyframes))
    out: list[Run] = []
    if ks[0] > first:
        out.append(Run(first, ks[0], (ks[0],), True))
    out += [Run(a, b, (a, b), False) for a, b in zip(ks, ks[1:], strict=False)]
    if ks[-1] < last or not out:
        out.append(Run(ks[-1], last, (ks[-1],), False))
    return out


def _run_key(base: str, obj: detect.ObjectKeys, run: Run, seg: StageOutput, digest) -> str:
    """Identity of one object's run: everything its masks depend on. ``digest`` is a memoised
    file -> sha256 (a keyframe ends two runs)."""
    keys = {k.frame: k for k in obj.keyframes}
    ends = [
        (
            f,
            keys[f].box,
            keys[f].positive,
            keys[f].negative,
            digest(keys[f].mask) if keys[f].mask else None,
            digest(segment.keyframe_mask_path(seg, obj.name, f)),
        )
        for f in run.keys
    ]
    return fingerprint(base, run.start, run.end, run.reverse, ends)


def _earlier_runs(ws: ShotWorkspace, current: Path) -> dict[str, tuple[Path, str]]:
    """``run key -> (folder, object name)`` of runs finished in this shot's propagate folders,
    including the current stage folder's (a resumed stage)."""
    found: dict[str, tuple[Path, str]] = {}
    if not ws.work.is_dir():
        return found
    folders = [d for d in ws.work.glob(f"{STAGE}-*") if (d / RUNS).is_file()]
    for d in sorted(folders, key=lambda d: d != current):
        if d != current and not (d / "manifest.json").is_file():
            continue  # another stage still being written
        for name, entries in json.loads((d / RUNS).read_text()).items():
            for key in entries:
                found.setdefault(key, (d, name))
    return found


def _link(src: Path, dst: Path) -> None:
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class _Writer:
    """Writes masks into the stage folder and records finished runs in ``runs.json``."""

    def __init__(self, tmp: Path, padding: int, total: int) -> None:
        self.tmp = tmp
        self.padding = padding
        self.total = total
        self.done = 0
        path = tmp / RUNS
        self.runs: dict[str, dict[str, list[int]]] = (
            json.loads(path.read_text()) if path.is_file() else {}
        )

    def path(self, name: str, frame: int) -> Path:
        return self.tmp / name / output_name(name, frame, self.padding, "png")

    def write(self, name: str, frame: int, mask: np.ndarray) -> None:
        write_mask_png(self.path(name, frame), mask)
        self.tick(name)

    def tick(self, name: str, n: int = 1) -> None:
        self.done += n
        progress.report(f"propagate {name}", self.done, self.total)

    def finish(self, name: str, key: str, run: Run) -> None:
        self.runs.setdefault(name, {})[key] = [run.start, run.end]
        tmp = self.tmp / f".{RUNS}.tmp"
        tmp.write_text(json.dumps(self.runs, indent=1))
        os.replace(tmp, self.tmp / RUNS)


def _prompts(obj: detect.ObjectKeys, run: Run, seg: StageOutput, shape) -> list[KeyPrompt]:
    keys = {k.frame: k for k in obj.keyframes}
    out = []
    for f in run.keys:
        k = keys[f]
        user_mask = segment.prompt_mask(obj.name, k, shape)
        if user_mask is not None and not (k.box or k.positive or k.negative):
            out.append(make_prompt(obj.id, f, mask=user_mask))
        elif k.box or k.positive or k.negative:
            out.append(make_prompt(obj.id, f, k.box, k.positive or None, k.negative or None))
        else:  # keyframe without a prompt SAM 2 can take: its segment mask
            out.append(make_prompt(obj.id, f, mask=segment.read_keyframe_mask(seg, obj.name, f)))
    return out


def _video_run(tracker: VideoTracker, plate, info, objs, run: Run, seg, w: _Writer, state: Path):
    """Track ``objs`` (same keyframes) over ``run`` in one session; resumable via ``state``."""
    shape = (info.height, info.width)
    prompts = [p for o in objs for p in _prompts(o, run, seg, shape)]
    names = {o.id: o.name for o in objs}
    ckpt = state / f"{run.id}-{fingerprint(sorted(names))[:12]}.pt"
    for frame, masks in tracker.propagate(
        plate.read, run.frames, prompts, shape, reverse=run.reverse, checkpoint=ckpt
    ):
        for obj_id, mask in masks.items():
            w.write(names[obj_id], frame, mask)
    ckpt.unlink(missing_ok=True)


def _lite_run(tracker: FrameTracker, plate, obj, run: Run, seg, w: _Writer, scratch: Path, hint):
    """The lite tracker over ``run``: one direction outside the keyframes, both and a blend
    between them."""
    name = obj.name
    key_masks = {f: segment.read_keyframe_mask(seg, name, f) for f in run.keys}
    for f, m in key_masks.items():
        w.write(name, f, m)
    if run.reverse or len(run.keys) == 1:
        k = run.keys[0]
        inner = [f for f in run.frames if f != k]
        order = inner[::-1] if run.reverse else inner
        if order:
            for frame, mask in tracker.track(plate.iter_frames([k, *order]), key_masks[k], hint):
                w.write(name, frame, mask)
        return
    a, b = run.keys
    inner = list(range(a + 1, b))
    if not inner:
        return
    scratch.mkdir(exist_ok=True)
    for frame, mask in tracker.track(plate.iter_frames([a, *inner]), key_masks[a], hint):
        cv2.imwrite(str(scratch / f"{frame}.png"), mask.astype(np.uint8) * 255)
    for frame, mask in tracker.track(plate.iter_frames([b, *inner[::-1]]), key_masks[b], hint):
        fwd = cv2.imread(str(scratch / f"{frame}.png"), cv2.IMREAD_GRAYSCALE) > 0
        w_fwd = (b - frame) / (b - a)
        w.write(name, frame, (w_fwd * fwd + (1.0 - w_fwd) * mask) >= 0.5)
    shutil.rmtree(scratch)


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
    plate's resolution, written as they are produced. Runs already computed for the same plate,
    keyframe prompts and tracker in an earlier propagate folder of the shot are linked, not
    recomputed. The stage folder survives a crash, and a re-run resumes it.
    """
    run = ws.begin(STAGE, key)
    if run.done:
        return run.done
    info = ingest.plate_info(ingest_out)
    objects = detect.load(detect_out)
    video = tracker.mode == "video"
    base = fingerprint(ingest_out.key, f"{tracker.name}@{tracker.version}")
    digest = functools.cache(sha256_file)
    plan = {
        o.name: [
            (r, _run_key(base, o, r, segment_out, digest))
            for r in runs([k.frame for k in o.keyframes], info.first_frame, info.last_frame)
        ]
        for o in objects
    }
    total = sum(r.end - r.start + 1 for rs in plan.values() for r, _ in rs)
    with ingest.open_proxies(ingest_out) as plate, run.staging(resumable=True) as tmp:
        earlier = _earlier_runs(ws, tmp)
        w = _Writer(tmp, info.padding, total)
        state = tmp / ".state"
        state.mkdir(exist_ok=True)
        todo: dict[tuple[Run, tuple[int, ...]], list[detect.ObjectKeys]] = {}
        for obj in objects:
            (tmp / obj.name).mkdir(exist_ok=True)
            for r, rk in plan[obj.name]:
                if rk in earlier:
                    src, src_name = earlier[rk]
                    if src != tmp:
                        for f in r.frames:
                            _link(
                                src / src_name / output_name(src_name, f, info.padding, "png"),
                                w.path(obj.name, f),
                            )
                    w.tick(obj.name, len(r.frames))
                    w.finish(obj.name, rk, r)
                    continue
                keys = tuple(k.frame for k in obj.keyframes)
                todo.setdefault((r, keys if video else (obj.id,)), []).append(obj)
        for (r, _), objs in todo.items():
            if video:
                _video_run(tracker, plate, info, objs, r, segment_out, w, state)
            else:
                (obj,) = objs
                hint = TrackHint(detector, tuple(obj.classes)) if obj.classes and detector else None
                _lite_run(
                    tracker, plate, obj, r, segment_out, w, tmp / f".{obj.name}.scratch", hint
                )
            for obj in objs:
                w.finish(obj.name, dict(plan[obj.name])[r], r)
        shutil.rmtree(state, ignore_errors=True)
        return run.commit(
            tmp,
            n_frames=info.n_frames,
            details={
                "tracker": f"{tracker.name}@{tracker.version}",
                "padding": info.padding,
                "objects": [dataclasses.asdict(ObjectRef(o.id, o.name)) for o in objects],
            },
        )
